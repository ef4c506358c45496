//! The one way a protocol writes its effects: [`Output`], implemented for the effects
//! buffer every handler receives, so that a handler reads as what it asks for
//! (`out.persist(record); out.send(to, reply)`) rather than as `Effect` constructors.
//!
//! Nothing here reorders or filters: each method appends exactly one effect (none for
//! [`Output::narrate`] when narration is off), and the ordering contract of
//! [`crate::effect`] applies to the buffer as written.

use crate::effect::{ClientError, Effect, Event};
use crate::types::{Command, NodeId, RequestId};
use std::time::Duration;

/// Appends effects to a protocol's output (see the module docs). `M`, `R` and `T` are
/// the protocol's message, record and timer types.
pub trait Output<M, R, T> {
    /// [`Effect::Send`]: `msg` to `to`, once every record persisted before it is durable.
    fn send(&mut self, to: NodeId, msg: M);
    /// [`Effect::SendAhead`]: `msg` to `to` without waiting for this node's log (a
    /// leader's replication only; see [`crate::effect`]).
    fn send_ahead(&mut self, to: NodeId, msg: M);
    /// [`Effect::Persist`]: append `record` to this node's durable log.
    fn persist(&mut self, record: R);
    /// [`Effect::SignalWhenDurable`]: step [`crate::Input::Durable`]`(token)` once every
    /// record persisted so far is durable.
    fn signal_when_durable(&mut self, token: u64);
    /// [`Effect::SetTimer`]: fire `timer` after `after`, replacing any deadline it had.
    fn set_timer(&mut self, timer: T, after: Duration);
    /// [`Effect::CancelTimer`]: disarm `timer`.
    fn cancel_timer(&mut self, timer: T);
    /// [`Effect::Apply`]: `command` (`None` for a protocol's own entry) is committed at
    /// `index`.
    fn apply(&mut self, index: u64, command: Option<Command>);
    /// [`Effect::Reject`]: the client request `id` cannot be served here.
    fn reject(&mut self, id: RequestId, error: ClientError);
    /// [`Effect::ServeRead`]: the read `id` may be answered from the state machine now.
    fn serve_read(&mut self, id: RequestId);
    /// [`Effect::Event`]: report `event`.
    fn event(&mut self, event: Event);
    /// [`Event::Narrate`] with `text()` when `on` (the node's `Setup::narrate`); `text`
    /// is not evaluated otherwise. The text carries no node prefix: the host adds one
    /// with [`crate::effect::narration_line`].
    fn narrate(&mut self, on: bool, text: impl FnOnce() -> String);
}

impl<M, R, T> Output<M, R, T> for Vec<Effect<M, R, T>> {
    fn send(&mut self, to: NodeId, msg: M) {
        self.push(Effect::Send { to, msg });
    }

    fn send_ahead(&mut self, to: NodeId, msg: M) {
        self.push(Effect::SendAhead { to, msg });
    }

    fn persist(&mut self, record: R) {
        self.push(Effect::Persist(record));
    }

    fn signal_when_durable(&mut self, token: u64) {
        self.push(Effect::SignalWhenDurable(token));
    }

    fn set_timer(&mut self, timer: T, after: Duration) {
        self.push(Effect::SetTimer { timer, after });
    }

    fn cancel_timer(&mut self, timer: T) {
        self.push(Effect::CancelTimer(timer));
    }

    fn apply(&mut self, index: u64, command: Option<Command>) {
        self.push(Effect::Apply { index, command });
    }

    fn reject(&mut self, id: RequestId, error: ClientError) {
        self.push(Effect::Reject { id, error });
    }

    fn event(&mut self, event: Event) {
        self.push(Effect::Event(event));
    }

    fn serve_read(&mut self, id: RequestId) {
        self.push(Effect::ServeRead { id });
    }

    fn narrate(&mut self, on: bool, text: impl FnOnce() -> String) {
        if on {
            self.push(Effect::Event(Event::Narrate(text())));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type E = Effect<&'static str, u8, char>;

    #[test]
    fn each_call_appends_its_effect_in_order_and_narration_only_when_on() {
        let mut out: Vec<E> = Vec::new();
        out.persist(1);
        out.send(2, "vote");
        out.send_ahead(3, "append");
        out.signal_when_durable(4);
        out.set_timer('e', Duration::from_millis(5));
        out.cancel_timer('h');
        out.apply(6, None);
        out.reject(RequestId { origin: 1, seq: 7 }, ClientError::LeadershipLost);
        out.event(Event::Committed { index: 6 });
        out.narrate(false, || unreachable!("narration is off"));
        out.narrate(true, || "why".into());
        assert_eq!(
            out,
            vec![
                Effect::Persist(1),
                Effect::Send { to: 2, msg: "vote" },
                Effect::SendAhead {
                    to: 3,
                    msg: "append"
                },
                Effect::SignalWhenDurable(4),
                Effect::SetTimer {
                    timer: 'e',
                    after: Duration::from_millis(5)
                },
                Effect::CancelTimer('h'),
                Effect::Apply {
                    index: 6,
                    command: None
                },
                Effect::Reject {
                    id: RequestId { origin: 1, seq: 7 },
                    error: ClientError::LeadershipLost
                },
                Effect::Event(Event::Committed { index: 6 }),
                Effect::Event(Event::Narrate("why".into())),
            ]
        );
    }
}
