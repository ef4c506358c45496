//! Rate-limited warnings: hostile or broken connections must not flood the log. At most
//! one warning a second per limiter is logged; the ones in between are counted and the
//! count is reported with the next one logged.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// One warning channel (e.g. a node's peer port, or its client port).
#[derive(Debug, Default)]
pub struct WarnLimiter {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    last: Option<Instant>,
    suppressed: u64,
}

impl WarnLimiter {
    /// A limiter that has logged nothing yet.
    pub fn new() -> WarnLimiter {
        WarnLimiter::default()
    }

    /// `Some(n)` when a warning may be logged now, `n` being how many were suppressed
    /// since the last one; `None` when this one is to be suppressed (and counted).
    pub fn allow(&self) -> Option<u64> {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        if s.last
            .is_some_and(|t| now.duration_since(t) < Duration::from_secs(1))
        {
            s.suppressed += 1;
            return None;
        }
        s.last = Some(now);
        Some(std::mem::take(&mut s.suppressed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_warning_a_second_and_the_rest_counted() {
        let limiter = WarnLimiter::new();
        assert_eq!(limiter.allow(), Some(0));
        for _ in 0..1000 {
            assert_eq!(limiter.allow(), None);
        }
        if let Ok(mut s) = limiter.state.lock() {
            s.last = Instant::now().checked_sub(Duration::from_secs(2));
        }
        assert_eq!(limiter.allow(), Some(1000));
    }
}
