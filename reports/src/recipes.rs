//! The recipes' part of the report, beside the protocol-level failover: what an
//! application using ZooKeeper's recipes sees. Read from `recipes.json`, which
//! `cwb bench --measure recipes` writes beside the results file: per protocol, the
//! time from the lock holder's crash to the next holder (session-expiry path), from
//! the consensus leader's crash to the next holder (sessions survive), and the watch
//! notifications per hand-over with the naive recipe (everyone watches the parent)
//! against the predecessor watch (the herd effect in numbers).

use crate::bars::{stacked_bars, BarFrame, SegmentKind, StackedBar};
use crate::document::{number, Block, Document};
use crate::error::ReportError;
use crate::palette::category_color;
use crate::sections::file_prefix;
use serde::Deserialize;
use std::path::Path;

/// The file `cwb bench --measure recipes` writes.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct RecipeResults {
    /// Session timeout of the measured clients.
    pub session_timeout_ms: f64,
    /// Clients queued in the notification measure.
    pub queued_clients: u64,
    /// Seeds per protocol.
    pub seeds: u64,
    /// One row per protocol.
    pub protocols: Vec<RecipeRow>,
}

/// One protocol's recipe figures.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct RecipeRow {
    /// The protocol.
    pub protocol: String,
    /// Holder's crash to the next holder: min, median, max (ms).
    pub expiry_ms: Vec<f64>,
    /// Consensus leader's crash to the next holder: min, median, max (ms).
    pub leader_crash_ms: Vec<f64>,
    /// Notifications per hand-over, naive recipe.
    pub herd_notifications_per_handover: f64,
    /// Notifications per hand-over, predecessor watch.
    pub predecessor_notifications_per_handover: f64,
}

/// The recipe figures beside the results file at `results_path`, if there are any.
pub fn load_beside(results_path: &Path) -> Result<Option<RecipeResults>, ReportError> {
    let path = results_path.with_file_name("recipes.json");
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(ReportError::io(&path, e)),
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| ReportError::io(&path, std::io::Error::other(e)))
}

fn spread(xs: &[f64]) -> String {
    match xs {
        [min, median, max] => format!("{} ({}..{})", number(*median), number(*min), number(*max)),
        _ => "-".into(),
    }
}

fn median(xs: &[f64]) -> f64 {
    xs.get(1).copied().unwrap_or(0.0)
}

/// The recipes' section: the failover table, the failover plot and the herd plot.
pub(crate) fn section(
    doc: &mut Document,
    recipes: &RecipeResults,
    prefix: &str,
) -> Result<(), ReportError> {
    doc.heading(3, format!("{prefix}Recipes: what an application sees"));
    doc.paragraph(format!(
        "ZooKeeper's lock recipe on the znode tree, run by simulated clients on a simulated \
         3-node cluster (virtual time: the protocols' and the recipes' own delays), {} seeds \
         per protocol, session timeout {} ms. Session-expiry path: the lock holder crashes; \
         the next holder acts after the session times out, the leader commits its expiry \
         (which deletes the holder's node), the waiter's watch fires and its check commits. \
         Leader-crash path: the consensus leader crashes while the holder releases; the \
         sessions survive and the next holder acts after the protocol's failover.",
        recipes.seeds,
        number(recipes.session_timeout_ms)
    ));
    let rows = recipes
        .protocols
        .iter()
        .map(|r| {
            vec![
                r.protocol.clone(),
                spread(&r.expiry_ms),
                spread(&r.leader_crash_ms),
                number(r.herd_notifications_per_handover),
                number(r.predecessor_notifications_per_handover),
            ]
        })
        .collect();
    doc.table(
        &[
            "protocol",
            "holder crash to next holder, ms: median (min..max)",
            "leader crash to next holder, ms: median (min..max)",
            "notifications per hand-over, herd",
            "notifications per hand-over, predecessor watch",
        ],
        rows,
        1,
    );
    let file = format!("{}recipe-failover.svg", file_prefix(prefix));
    let kinds = [
        SegmentKind {
            name: "session expiry".into(),
            color: category_color(0),
        },
        SegmentKind {
            name: "leader crash".into(),
            color: category_color(1),
        },
    ];
    let mut bars = Vec::new();
    for r in &recipes.protocols {
        bars.push(StackedBar {
            label: format!("{} holder crash", r.protocol),
            segments: Some(vec![median(&r.expiry_ms), 0.0]),
        });
        bars.push(StackedBar {
            label: format!("{} leader crash", r.protocol),
            segments: Some(vec![0.0, median(&r.leader_crash_ms)]),
        });
    }
    let frame = BarFrame::full(
        &file,
        "Recipe failover: crash to the next lock holder (medians)",
        "ms after the crash",
        "protocol and path",
    );
    doc.blocks
        .push(Block::Plot(stacked_bars(frame, &kinds, &bars)?));
    let file = format!("{}recipe-herd.svg", file_prefix(prefix));
    let kinds = [
        SegmentKind {
            name: "herd (watch parent)".into(),
            color: category_color(3),
        },
        SegmentKind {
            name: "predecessor watch".into(),
            color: category_color(2),
        },
    ];
    let mut bars = Vec::new();
    for r in &recipes.protocols {
        bars.push(StackedBar {
            label: format!("{} herd", r.protocol),
            segments: Some(vec![r.herd_notifications_per_handover, 0.0]),
        });
        bars.push(StackedBar {
            label: format!("{} predecessor", r.protocol),
            segments: Some(vec![0.0, r.predecessor_notifications_per_handover]),
        });
    }
    let title = format!(
        "Herd effect: watch notifications per lock hand-over, {} clients queued",
        recipes.queued_clients
    );
    let frame = BarFrame::full(
        &file,
        &title,
        "notifications per hand-over",
        "protocol and recipe",
    );
    doc.blocks
        .push(Block::Plot(stacked_bars(frame, &kinds, &bars)?));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"{
      "session_timeout_ms": 1000, "queued_clients": 5, "seeds": 3,
      "protocols": [
        {"protocol": "raft", "expiry_ms": [1100, 1150, 1200], "leader_crash_ms": [300, 350, 400],
         "herd_notifications_per_handover": 3.5, "predecessor_notifications_per_handover": 1.0}
      ]
    }"#;

    #[test]
    fn the_recipe_section_has_its_table_and_both_plots() {
        let recipes: RecipeResults = serde_json::from_str(SAMPLE).expect("parses");
        let mut doc = Document::new("t");
        section(&mut doc, &recipes, "").expect("renders");
        let tables = doc.tables();
        assert_eq!(tables.len(), 1);
        assert_eq!(
            tables[0].rows[0][1],
            format!(
                "{} ({}..{})",
                number(1150.0),
                number(1100.0),
                number(1200.0)
            )
        );
        let plots: Vec<&str> = doc.plots().iter().map(|p| p.file_name.as_str()).collect();
        assert_eq!(plots, ["recipe-failover.svg", "recipe-herd.svg"]);
    }

    #[test]
    fn no_file_beside_the_results_means_no_section() {
        let dir = tempfile::tempdir().expect("temp dir");
        let results = dir.path().join("results.json");
        assert_eq!(load_beside(&results).expect("no error"), None);
        std::fs::write(dir.path().join("recipes.json"), SAMPLE).expect("writes");
        let loaded = load_beside(&results).expect("reads").expect("found");
        assert_eq!(loaded.protocols[0].protocol, "raft");
    }
}
