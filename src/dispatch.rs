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
                anyhow::bail!("protocol zab is not available yet in this build")
            }
            harness::config::ProtocolKind::Paxos => {
                anyhow::bail!("protocol paxos is not available yet in this build")
            }
        }
    };
}

pub(crate) use with_protocol;
