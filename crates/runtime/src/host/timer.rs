//! Sleeps precise to the kernel's high-resolution timers rather than to tokio's
//! millisecond wheel: the node loop's wake-up for its next protocol timer, and the
//! failover client's pause between tries.
//!
//! tokio rounds every sleep up to its next millisecond tick and parks in `epoll_wait`,
//! whose timeout is whole milliseconds, so a sleep ends 1-2 ms after its deadline
//! (measured here: p50 0.9 ms, max 2.0 ms late). For a 50 ms heartbeat that is noise;
//! for what the workbench measures it is not: ZAB's election after a leader crash is
//! FastLeaderElection's 200 ms finalize wait plus a millisecond or two of messages, so
//! a late timer is a large part of what remains. On Linux the loop therefore waits on a
//! `timerfd` (nanosecond deadlines, woken through tokio's own epoll), which ends within
//! the machine's wake-up latency (measured here: p50 0.15 ms). Elsewhere, or if the
//! kernel refuses a timerfd, it falls back to tokio's sleep.

use tokio::time::Instant;

/// Sleeps `duration`, precisely (see [`PreciseTimer`]).
pub(crate) async fn sleep_precisely(duration: std::time::Duration) {
    PreciseTimer::new()
        .sleep_until(Some(Instant::now() + duration))
        .await
}

/// Wakes its owner at a deadline.
pub(crate) struct PreciseTimer {
    #[cfg(target_os = "linux")]
    fd: Option<tokio::io::unix::AsyncFd<linux::TimerFd>>,
    /// The deadline the timerfd is armed for and not yet seen to expire. A busy node
    /// loop waits again on every iteration, mostly for the same deadline or a later one
    /// (a follower's election timer moves on with every append); arming the timerfd
    /// each time cost one `timerfd_settime` per iteration, so a wait keeps an earlier
    /// armed deadline and lets it wake the loop early once.
    #[cfg(target_os = "linux")]
    armed: Option<Instant>,
}

impl PreciseTimer {
    /// A timer for the current tokio runtime (must be called inside it).
    pub(crate) fn new() -> PreciseTimer {
        PreciseTimer {
            #[cfg(target_os = "linux")]
            fd: linux::TimerFd::new()
                .and_then(linux::TimerFd::register)
                .map_err(|e| tracing::warn!("no timerfd ({e}): timers use tokio's sleep"))
                .ok(),
            #[cfg(target_os = "linux")]
            armed: None,
        }
    }

    /// Resolves at `deadline`, never if there is none; or earlier, at an earlier
    /// deadline still to come that a dropped wait of this timer armed, which the caller
    /// must take as a spurious wake-up (the node loop checks which timers are due on
    /// every wake).
    /// Cancel-safe: dropping the future leaves at most that early wake-up behind.
    pub(crate) async fn sleep_until(&mut self, deadline: Option<Instant>) {
        let Some(deadline) = deadline else {
            return std::future::pending().await;
        };
        #[cfg(target_os = "linux")]
        if let Some(fd) = &self.fd {
            let now = Instant::now();
            let wait = deadline.saturating_duration_since(now);
            if wait.is_zero() {
                return;
            }
            // Still armed by an earlier wait that was dropped (the loop woke for
            // another input) for this deadline or an earlier one still to come: that
            // expiry wakes this wait, at most early. One already past is re-armed
            // over (which clears its expiry).
            let armed = self.armed.is_some_and(|at| now < at && at <= deadline) || {
                self.armed = fd.get_ref().arm(wait).is_ok().then_some(deadline);
                self.armed.is_some()
            };
            if armed {
                loop {
                    let Ok(mut ready) = fd.readable().await else {
                        break;
                    };
                    // A readiness left from an earlier arming reads nothing (the
                    // re-arming cleared its expiry): wait again.
                    match ready.try_io(|fd| fd.get_ref().take_expiry()) {
                        Ok(Ok(())) => {
                            self.armed = None;
                            return;
                        }
                        Ok(Err(_)) => break,
                        Err(_would_block) => continue,
                    }
                }
                self.armed = None;
            }
            // The timerfd failed after all: tokio's sleep still wakes the loop.
        }
        tokio::time::sleep_until(deadline).await
    }
}

#[cfg(target_os = "linux")]
mod linux {
    use nix::sys::time::TimeSpec;
    use nix::sys::timerfd::{ClockId, Expiration, TimerFlags, TimerSetTimeFlags};
    use std::io;
    use std::os::fd::{AsFd, AsRawFd, RawFd};
    use std::time::Duration;
    use tokio::io::unix::AsyncFd;
    use tokio::io::Interest;

    /// A non-blocking one-shot `timerfd` on the monotonic clock.
    pub(super) struct TimerFd(nix::sys::timerfd::TimerFd);

    impl TimerFd {
        pub(super) fn new() -> io::Result<TimerFd> {
            nix::sys::timerfd::TimerFd::new(
                ClockId::CLOCK_MONOTONIC,
                TimerFlags::TFD_NONBLOCK | TimerFlags::TFD_CLOEXEC,
            )
            .map(TimerFd)
            .map_err(io::Error::from)
        }

        /// Expires once, `after` from now (replacing any earlier arming and its
        /// unread expiry).
        pub(super) fn arm(&self, after: Duration) -> io::Result<()> {
            self.0
                .set(
                    Expiration::OneShot(TimeSpec::from_duration(after)),
                    TimerSetTimeFlags::empty(),
                )
                .map_err(io::Error::from)
        }

        /// Reads the expiry: `WouldBlock` if the timer has not expired yet.
        pub(super) fn take_expiry(&self) -> io::Result<()> {
            let mut count = [0u8; 8];
            nix::unistd::read(self.0.as_fd(), &mut count)
                .map(|_| ())
                .map_err(io::Error::from)
        }
    }

    impl TimerFd {
        /// Registers the timer with the current tokio reactor, for readability.
        pub(super) fn register(self) -> io::Result<AsyncFd<TimerFd>> {
            // SAFETY: the `TimerFd` owns its descriptor (nix keeps it in an `OwnedFd`)
            // and `as_raw_fd` always returns that same one, open until the `AsyncFd`
            // drops the `TimerFd` with itself.
            unsafe { AsyncFd::register_with_interest(self, Interest::READABLE) }
                .map_err(io::Error::from)
        }
    }

    impl AsRawFd for TimerFd {
        fn as_raw_fd(&self) -> RawFd {
            self.0.as_fd().as_raw_fd()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn wakes_at_the_deadline_not_before() {
        let mut timer = PreciseTimer::new();
        for after_us in [300, 2_500, 10_000] {
            let start = Instant::now();
            let deadline = start + Duration::from_micros(after_us);
            timer.sleep_until(Some(deadline)).await;
            assert!(Instant::now() >= deadline, "woke early for {after_us} us");
        }
    }

    #[tokio::test]
    async fn a_dropped_wait_does_not_wake_the_next_one_early() {
        let mut timer = PreciseTimer::new();
        // Arm for 1 ms, give up once it is armed, let that deadline pass unread.
        let first = Instant::now() + Duration::from_millis(1);
        tokio::select! {
            biased;
            _ = timer.sleep_until(Some(first)) => panic!("a 1 ms timer expired at once"),
            _ = std::future::ready(()) => {}
        }
        tokio::time::sleep(Duration::from_millis(3)).await;
        let second = Instant::now() + Duration::from_millis(5);
        timer.sleep_until(Some(second)).await;
        assert!(
            Instant::now() >= second,
            "a stale expiry woke the loop early"
        );
    }

    #[tokio::test]
    async fn waiting_again_for_the_same_deadline_wakes_at_it() {
        // The node loop's case: a wait dropped because another input came first, then
        // the same deadline again (the timerfd is not armed a second time), or a later
        // one (the earlier expiry wakes it early once).
        let mut timer = PreciseTimer::new();
        let deadline = Instant::now() + Duration::from_millis(3);
        for _ in 0..3 {
            tokio::select! {
                biased;
                _ = timer.sleep_until(Some(deadline)) => panic!("a 3 ms timer expired at once"),
                _ = std::future::ready(()) => {}
            }
        }
        let later = deadline + Duration::from_secs(60);
        tokio::time::timeout(Duration::from_secs(5), timer.sleep_until(Some(later)))
            .await
            .expect("the armed earlier deadline wakes the wait");
        assert!(Instant::now() >= deadline, "woke before the armed deadline");
        // And the next deadline is armed afresh.
        let next = Instant::now() + Duration::from_millis(2);
        tokio::time::timeout(Duration::from_secs(5), timer.sleep_until(Some(next)))
            .await
            .expect("a new deadline wakes the wait");
        assert!(Instant::now() >= next, "woke early");
    }

    #[tokio::test]
    async fn a_past_deadline_returns_at_once_and_none_never_does() {
        let mut timer = PreciseTimer::new();
        timer.sleep_until(Some(Instant::now())).await;
        let never = tokio::time::timeout(Duration::from_millis(5), timer.sleep_until(None)).await;
        assert!(never.is_err());
    }
}
