//! Handshake: who is on the other end of a freshly opened peer connection.
//!
//! Concern: connection establishment between two nodes. One TCP connection serves each
//! pair of nodes; the node with the lower id dials. Like ZooKeeper's
//! `QuorumCnxManager` (where the higher sid keeps the connection and the first thing on
//! the wire is the sender's sid plus a protocol version), the dialer opens with a
//! `Hello` frame and the acceptor answers with a `Welcome` frame once it has checked the
//! magic marker, the dialer's id and that the dialer meant to reach *this* node (so a
//! port reused by another node after a restart is never mistaken for the old one).
//!
//! Both are ordinary frames (see [`super::frame`]) with a fixed 25-byte payload:
//! `magic: [u8; 8]`, `kind: u8` (1 = hello, 2 = welcome), `from: u64 LE`, `to: u64 LE`.

use bytes::{Buf, BufMut, BytesMut};
use protocols::NodeId;
use thiserror::Error;

/// Marks a connection as belonging to this workbench's node-to-node transport, version 1.
pub const MAGIC: [u8; 8] = *b"CWB-PEER";

/// The payload length of a handshake frame.
pub const HANDSHAKE_LEN: usize = 8 + 1 + 8 + 8;

/// Which side of the handshake a frame is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HandshakeKind {
    /// Dialer to acceptor: "I am `from`, I want to talk to `to`".
    Hello,
    /// Acceptor to dialer: "accepted; I am `from`".
    Welcome,
}

/// One handshake message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Handshake {
    /// Hello or welcome.
    pub kind: HandshakeKind,
    /// The sender's node id.
    pub from: NodeId,
    /// The node the sender believes it is talking to.
    pub to: NodeId,
}

/// Why a handshake payload was refused.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum HandshakeError {
    /// The payload is not [`HANDSHAKE_LEN`] bytes long.
    #[error("handshake of {0} bytes (expected {HANDSHAKE_LEN})")]
    BadLength(usize),
    /// The magic marker is wrong: not one of our peers.
    #[error("bad magic marker")]
    BadMagic,
    /// The kind byte is unknown or not the one expected here.
    #[error("unexpected handshake kind {0}")]
    BadKind(u8),
}

impl Handshake {
    /// Appends this handshake's payload (not a frame) to `out`.
    pub fn encode(&self, out: &mut BytesMut) {
        out.put_slice(&MAGIC);
        out.put_u8(match self.kind {
            HandshakeKind::Hello => 1,
            HandshakeKind::Welcome => 2,
        });
        out.put_u64_le(self.from);
        out.put_u64_le(self.to);
    }

    /// Parses a handshake payload.
    pub fn decode(payload: &[u8]) -> Result<Handshake, HandshakeError> {
        if payload.len() != HANDSHAKE_LEN {
            return Err(HandshakeError::BadLength(payload.len()));
        }
        let mut rest = payload;
        let mut magic = [0u8; 8];
        rest.copy_to_slice(&mut magic);
        if magic != MAGIC {
            return Err(HandshakeError::BadMagic);
        }
        let kind = match rest.get_u8() {
            1 => HandshakeKind::Hello,
            2 => HandshakeKind::Welcome,
            other => return Err(HandshakeError::BadKind(other)),
        };
        let from = rest.get_u64_le();
        let to = rest.get_u64_le();
        Ok(Handshake { kind, from, to })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_refusals() {
        let hello = Handshake {
            kind: HandshakeKind::Hello,
            from: 1,
            to: 3,
        };
        let mut out = BytesMut::new();
        hello.encode(&mut out);
        assert_eq!(out.len(), HANDSHAKE_LEN);
        assert_eq!(Handshake::decode(&out), Ok(hello));

        assert_eq!(
            Handshake::decode(&out[..10]),
            Err(HandshakeError::BadLength(10))
        );
        let mut bad = out.clone();
        bad[0] ^= 1;
        assert_eq!(Handshake::decode(&bad), Err(HandshakeError::BadMagic));
        let mut bad = out.clone();
        bad[8] = 9;
        assert_eq!(Handshake::decode(&bad), Err(HandshakeError::BadKind(9)));
    }
}
