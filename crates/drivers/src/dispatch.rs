//! From a protocol's name to its type: the one place that names the four protocol
//! types. Everything below it is generic over `protocols::Protocol`.

/// Runs `$body` with `$P` bound to the protocol type for `$kind`
/// (a `protocols::ProtocolKind`).
#[macro_export]
macro_rules! with_protocol {
    ($kind:expr, $P:ident => $body:expr) => {
        match $kind {
            protocols::ProtocolKind::Raft => {
                type $P = protocols::raft::Raft;
                $body
            }
            protocols::ProtocolKind::Zab => {
                type $P = protocols::zab::Zab;
                $body
            }
            protocols::ProtocolKind::Paxos => {
                type $P = protocols::paxos::Paxos;
                $body
            }
            protocols::ProtocolKind::Redis => {
                type $P = protocols::redis::Redis;
                $body
            }
        }
    };
}
