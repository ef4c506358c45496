//! How protocol events are printed for people watching a cluster.

use protocols::{Event, Vocabulary};
use runtime::events::Stamped;
use std::time::Instant;

/// One line for an event, with the time since `origin`, in the protocol's own words
/// (`v`); `None` for events not worth a line (commit-index advances).
pub fn event_line(origin: Instant, s: &Stamped, v: &Vocabulary) -> Option<String> {
    let t = s.at.saturating_duration_since(origin).as_secs_f64() * 1000.0;
    if matches!(s.event, Event::Committed { .. }) {
        return None;
    }
    let what = protocols::event_text(v.generation, v.show_term, &s.event);
    Some(format!(
        "[{t:>9.1} ms] {}",
        protocols::narration_line(s.node, &what)
    ))
}
