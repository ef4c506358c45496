//! From a protocol's name to its type: the one place the command line names the
//! protocols. Everything below it is generic over `protocols::Protocol`.

/// Runs `$body` with `$P` bound to the protocol type for `$kind`
/// (a `harness::config::ProtocolKind`).
macro_rules! with_protocol {
    ($kind:expr, $P:ident => $body:expr) => {
        match $kind {
            harness::config::ProtocolKind::Raft => {
                type $P = protocols::raft::Raft;
                $body
            }
            harness::config::ProtocolKind::Zab => {
                type $P = protocols::zab::Zab;
                $body
            }
            harness::config::ProtocolKind::Paxos => {
                type $P = protocols::paxos::Paxos;
                $body
            }
        }
    };
}

pub(crate) use with_protocol;
