//! The link steps: `drop` and `stop_drop` (which directed links lose which message
//! kind), `delay` and `stop_delay` (which arrive later), `hold` and `release` (which are
//! kept off the network until a later step lets them through), and from when to when
//! (the format is in [`crate::scenario`]).

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

/// `drop`, `delay`, `hold` and their ends: one step per directed link from a `from`
/// node to a `to` node; a rule with `until_ms` also ends at that instant (a `hold`
/// then releases what it held).
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
        None if matches!(s.action.as_str(), "drop" | "delay" | "hold") => {
            return Err(invalid(format!(
                "{} needs `kind`: the protocol's name for the messages it acts on",
                s.action
            )))
        }
        None => None,
    };
    let extra = match (s.action.as_str(), s.extra_ms) {
        ("delay", Some(ms)) if ms.is_finite() && ms > 0.0 && ms <= 60_000.0 => {
            Some(std::time::Duration::from_secs_f64(ms / 1000.0))
        }
        ("delay", _) => return Err(invalid(
            "delay needs `extra_ms`: how much later the messages arrive, above 0 and at most 60000"
                .into(),
        )),
        _ => None,
    };
    if s.count == Some(0) {
        return Err(invalid("count = 0: hold at least one message".into()));
    }
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
            let (from, to) = (f, t);
            let action = match (s.action.as_str(), kind.clone()) {
                ("drop", Some(kind)) => StepAction::Drop { from, to, kind },
                ("delay", Some(kind)) => StepAction::Delay {
                    from,
                    to,
                    kind,
                    extra: extra.unwrap_or_default(),
                },
                ("hold", Some(kind)) => StepAction::Hold {
                    from,
                    to,
                    kind,
                    count: s.count,
                },
                ("stop_delay", kind) => StepAction::StopDelay { from, to, kind },
                ("release", kind) => StepAction::Release { from, to, kind },
                (_, kind) => StepAction::StopDrop { from, to, kind },
            };
            out.push(Step {
                at,
                action,
                protocols: Vec::new(),
            });
            if let (Some(until), Some(kind)) = (until, &kind) {
                let kind = Some(kind.clone());
                let end = match s.action.as_str() {
                    "delay" => StepAction::StopDelay { from, to, kind },
                    "hold" => StepAction::Release { from, to, kind },
                    _ => StepAction::StopDrop { from, to, kind },
                };
                out.push(Step {
                    at: until,
                    action: end,
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
