//! How protocol events are printed for people watching a cluster.

use protocols::{Event, Vocabulary};
use runtime::events::Stamped;
use std::time::Instant;

/// One line for an event, with the time since `origin`, in the protocol's own words
/// (`v`); `None` for events not worth a line (commit-index advances).
pub fn event_line(origin: Instant, s: &Stamped, v: &Vocabulary) -> Option<String> {
    let t = s.at.saturating_duration_since(origin).as_secs_f64() * 1000.0;
    let (gen, show) = (v.generation, v.show_term);
    let what = match &s.event {
        Event::RoleChanged { role, term } => format!("is {role} ({gen} {})", show(*term)),
        Event::LeaderElected { term } => format!("ELECTED leader of {gen} {}", show(*term)),
        Event::LeaderReady { term } => {
            format!("READY: leads {gen} {} and can commit", show(*term))
        }
        Event::Narrate(text) => text.clone(),
        Event::Committed { .. } => return None,
    };
    Some(format!(
        "[{t:>9.1} ms] {}",
        protocols::narration_line(s.node, &what)
    ))
}
