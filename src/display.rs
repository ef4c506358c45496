//! How protocol events are printed for people watching a cluster.

use protocols::Event;
use runtime::events::Stamped;
use std::time::Instant;

/// One line for an event, with the time since `origin`; `None` for events not worth a
/// line (commit-index advances).
pub fn event_line(origin: Instant, s: &Stamped, protocol: &str) -> Option<String> {
    let t = s.at.saturating_duration_since(origin).as_secs_f64() * 1000.0;
    let gen = match protocol {
        "zab" => "epoch",
        "paxos" => "ballot",
        _ => "term",
    };
    let what = match &s.event {
        Event::RoleChanged { role, term } => {
            format!("is {role} ({gen} {})", show_term(protocol, *term))
        }
        Event::LeaderElected { term } => {
            format!("ELECTED leader of {gen} {}", show_term(protocol, *term))
        }
        Event::LeaderReady { term } => format!(
            "READY: leads {gen} {} and can commit",
            show_term(protocol, *term)
        ),
        Event::Narrate(text) => text.clone(),
        Event::Committed { .. } => return None,
    };
    Some(format!(
        "[{t:>9.1} ms] {}",
        protocols::narration_line(s.node, &what)
    ))
}

/// Paxos encodes its ballot (round, node) as round << 16 | node.
fn show_term(protocol: &str, term: u64) -> String {
    if protocol == "paxos" {
        format!("{}.{}", term >> 16, term & 0xffff)
    } else {
        term.to_string()
    }
}
