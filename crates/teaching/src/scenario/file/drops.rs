//! The `drop` and `stop_drop` steps: which directed links lose which message kind, and
//! from when to when (the format is in [`crate::scenario`]).

use super::{ms, FileStep};
use crate::scenario::spec::{ScenarioError, Step, StepAction, MAX_END_MS};
use protocols::NodeId;
use serde::Deserialize;

/// One node id or several (`from`/`to` of `drop` and `stop_drop`).
#[derive(Deserialize)]
#[serde(untagged)]
pub(super) enum FileIds {
    One(NodeId),
    Many(Vec<NodeId>),
}

/// `drop` and `stop_drop`: one step per directed link from a `from` node to a `to`
/// node; a drop with `until_ms` also stops at that instant.
pub(super) fn steps(
    s: &FileStep,
    place: &str,
    check_id: &impl Fn(NodeId, &str) -> Result<NodeId, ScenarioError>,
) -> Result<Vec<Step>, ScenarioError> {
    let invalid = |what: String| ScenarioError::Invalid(format!("{place}: {what}"));
    let ids = |v: &Option<FileIds>, field: &str| -> Result<Vec<NodeId>, ScenarioError> {
        let ids = match v {
            Some(FileIds::One(id)) => vec![*id],
            Some(FileIds::Many(ids)) if !ids.is_empty() => ids.clone(),
            _ => {
                return Err(invalid(format!(
                    "{} needs `{field}`: a node id or a list of them",
                    s.action
                )))
            }
        };
        ids.into_iter().map(|id| check_id(id, place)).collect()
    };
    let (from, to) = (ids(&s.from, "from")?, ids(&s.to, "to")?);
    let kind = match &s.kind {
        Some(k) if !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') => {
            Some(k.clone())
        }
        Some(k) => {
            return Err(invalid(format!(
                "kind = {k:?} is not a message kind (a name such as \"AppendEntries\")"
            )))
        }
        None if s.action == "drop" => {
            return Err(invalid(
                "drop needs `kind`: the protocol's name for the messages to lose".into(),
            ))
        }
        None => None,
    };
    let at = ms(s.at_ms);
    let until = match s.until_ms {
        Some(u) if u <= s.at_ms => {
            return Err(invalid(format!(
                "until_ms = {u} is not after at_ms = {}",
                s.at_ms
            )))
        }
        Some(u) if u > MAX_END_MS => {
            return Err(invalid(format!(
                "until_ms = {u}: scenarios stop within {MAX_END_MS} ms"
            )))
        }
        u => u.map(ms),
    };
    let mut out = Vec::new();
    for &f in &from {
        for &t in to.iter().filter(|&&t| t != f) {
            let action = match &kind {
                Some(kind) if s.action == "drop" => StepAction::Drop {
                    from: f,
                    to: t,
                    kind: kind.clone(),
                },
                kind => StepAction::StopDrop {
                    from: f,
                    to: t,
                    kind: kind.clone(),
                },
            };
            out.push(Step {
                at,
                action,
                protocols: Vec::new(),
            });
            if let (Some(until), Some(kind)) = (until, &kind) {
                out.push(Step {
                    at: until,
                    action: StepAction::StopDrop {
                        from: f,
                        to: t,
                        kind: Some(kind.clone()),
                    },
                    protocols: Vec::new(),
                });
            }
        }
    }
    if out.is_empty() {
        return Err(invalid(
            "no link: `from` and `to` name the same node".into(),
        ));
    }
    Ok(out)
}
