//! The seam between the harness and the replicated state machine it runs.
//!
//! Every host (the tokio runtime, the simulator) applies committed command bytes to a
//! [`StateMachine`] and hands the answer bytes to the client that sent the command. The
//! key-value store ([`crate::KvStore`]) is one; the znode tree of the `znode` crate
//! (ZooKeeper's data model) is the other. The protocols never see which one runs:
//! they replicate opaque bytes.
//!
//! Besides applying, a state machine may need two things from its host, both with
//! defaults that do nothing (the key-value store needs neither):
//! - notifications for clients connected to this node (ZooKeeper's watches), taken
//!   after each apply so that they reach the client in order with its answers;
//! - commands this node proposes on its own while it leads (ZooKeeper's session
//!   expiry: the leader judges a session dead from its own clock and proposes an
//!   expiry, which every replica then applies from the log at the same index).

use bytes::Bytes;
use std::fmt;
use std::str::FromStr;

/// What a host tells the state machine about one committed command besides its bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ApplyContext {
    /// This node's clock in milliseconds (local, not replicated: it may only feed
    /// local judgements such as when a session was last heard from here).
    pub now_ms: u64,
    /// The command came from a client connected to this node (watches register only
    /// on that node).
    pub local: bool,
}

/// A replicated state machine: applies committed commands, in log order, the same on
/// every replica.
pub trait StateMachine: Send + fmt::Debug {
    /// Applies one committed command and returns the answer for its client, if any.
    /// Bytes that do not decode change nothing.
    fn apply_command(&mut self, data: &Bytes, ctx: ApplyContext) -> Option<Bytes>;

    /// Counts a protocol no-op so that [`StateMachine::applied`] tracks the log index.
    fn skip(&mut self);

    /// Entries applied (commands and no-ops).
    fn applied(&self) -> u64;

    /// Commands that committed again (client retries) and were not applied twice.
    fn duplicates(&self) -> u64;

    /// Reads a value without the log (the known-buggy local read of the simulator, and
    /// displays); `None` where the machine has no such read.
    fn peek_value(&self, _key: &[u8]) -> Option<Bytes> {
        None
    }

    /// The client session a command belongs to, so that a host knows where to send
    /// that session's notifications; `None` where there are none.
    fn client_of(&self, _data: &[u8]) -> Option<u64> {
        None
    }

    /// Notifications for this node's clients produced by the applies since the last
    /// call, in order: (client id, notification bytes).
    fn take_notifications(&mut self) -> Vec<(u64, Bytes)> {
        Vec::new()
    }

    /// Commands this node wants to propose at `now_ms`, given whether it leads now.
    fn proposals(&mut self, _now_ms: u64, _leading: bool) -> Vec<Bytes> {
        Vec::new()
    }

    /// For a snapshot (log compaction): copies the state now and returns the work of
    /// serializing the copy, which a host may run on another thread so that commits do
    /// not wait for it; `None` where the machine takes no snapshots (the default).
    fn image_writer(&self) -> Option<Box<dyn FnOnce() -> Vec<u8> + Send>> {
        None
    }

    /// Replaces the whole state with a snapshot image made by
    /// [`StateMachine::image_writer`]; refused (`Err` with the reason) where the
    /// machine takes no snapshots, or the image does not decode.
    fn restore_image(&mut self, _image: &[u8]) -> Result<(), String> {
        Err("this state machine takes no snapshots".into())
    }
}

impl StateMachine for crate::KvStore {
    fn apply_command(&mut self, data: &Bytes, _ctx: ApplyContext) -> Option<Bytes> {
        self.apply(data)
    }

    fn skip(&mut self) {
        crate::KvStore::skip(self)
    }

    fn applied(&self) -> u64 {
        crate::KvStore::applied(self)
    }

    fn duplicates(&self) -> u64 {
        crate::KvStore::duplicates(self)
    }

    fn peek_value(&self, key: &[u8]) -> Option<Bytes> {
        self.peek(key).cloned()
    }

    fn image_writer(&self) -> Option<Box<dyn FnOnce() -> Vec<u8> + Send>> {
        Some(crate::KvStore::image_writer(self))
    }

    fn restore_image(&mut self, image: &[u8]) -> Result<(), String> {
        self.restore(image).map_err(|e| e.to_string())
    }
}

/// Which state machine a cluster runs (`state_machine = "kv" | "znode"`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum StateMachineKind {
    /// The key-value store.
    #[default]
    Kv,
    /// ZooKeeper's znode tree with sessions and watches.
    Znode,
}

impl StateMachineKind {
    /// Its name in configuration and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            StateMachineKind::Kv => "kv",
            StateMachineKind::Znode => "znode",
        }
    }
}

impl fmt::Display for StateMachineKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for StateMachineKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "kv" => Ok(StateMachineKind::Kv),
            "znode" => Ok(StateMachineKind::Znode),
            other => Err(format!(
                "unknown state machine {other:?} (expected \"kv\" or \"znode\")"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kv_store_behind_the_trait_answers_as_it_does_directly() {
        let mut direct = crate::KvStore::new();
        let mut boxed: Box<dyn StateMachine> = Box::new(crate::KvStore::new());
        let put = crate::KvCommand {
            session: crate::Session { client: 5, seq: 1 },
            op: crate::KvOp::Put {
                key: Bytes::from_static(b"k"),
                value: Bytes::from_static(b"v"),
            },
        }
        .encode();
        for _ in 0..2 {
            assert_eq!(
                boxed.apply_command(&put, ApplyContext::default()),
                direct.apply(&put)
            );
        }
        boxed.skip();
        assert_eq!(boxed.applied(), 3);
        assert_eq!(boxed.duplicates(), 1);
        assert_eq!(boxed.peek_value(b"k"), Some(Bytes::from_static(b"v")));
        assert!(boxed.take_notifications().is_empty());
        assert!(boxed.proposals(1_000, true).is_empty());
    }

    #[test]
    fn kinds_parse_and_print_their_names() {
        for kind in [StateMachineKind::Kv, StateMachineKind::Znode] {
            assert_eq!(kind.name().parse::<StateMachineKind>(), Ok(kind));
        }
        assert!("zk".parse::<StateMachineKind>().is_err());
    }
}
