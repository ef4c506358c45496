//! Handshake: who is on the other end of a freshly opened peer connection, and proof
//! that it belongs to this cluster.
//!
//! Concern: connection establishment between two nodes. One TCP connection serves each
//! pair of nodes; the node with the lower id dials. Like ZooKeeper's
//! `QuorumCnxManager` (where the higher sid keeps the connection and the first thing on
//! the wire is the sender's sid plus a protocol version), the dialer opens with a
//! `Hello`. Three messages then prove, in both directions, that each end holds the
//! cluster's secret, as a challenge-response over fresh nonces (HMAC-SHA256, RFC 2104):
//!
//! 1. dialer -> acceptor `Hello`: its id, the id it wants, the cluster id, nonce `Nd`;
//! 2. acceptor -> dialer `Welcome`: checks the magic marker, that the hello is meant for
//!    *this* node (a port reused after a restart is never mistaken for the old node),
//!    that the dialer is a known lower id of the same cluster; answers with its nonce
//!    `Na` and `HMAC(secret, "welcome" | cluster | acceptor | dialer | Nd | Na)`;
//! 3. dialer -> acceptor `Proof`: checks that proof, then sends
//!    `HMAC(secret, "hello" | cluster | dialer | acceptor | Na | Nd)`.
//!
//! The acceptor admits the connection (and only then may it replace an older one from
//! the same peer) once step 3 verifies. A node of another cluster is refused at step 2,
//! a process without the secret at step 3 (or, posing as an acceptor, by the dialer at
//! step 3); a recorded exchange cannot be replayed, since each side's nonce is fresh.
//!
//! All three are ordinary frames (see [`super::frame`]) with a fixed payload of
//! [`HANDSHAKE_LEN`] bytes: `magic: [u8; 8]`, `kind: u8` (1 hello, 2 welcome, 3 proof),
//! `from: u64 LE`, `to: u64 LE`, `cluster: [u8; 16]`, `nonce: [u8; 32]`,
//! `proof: [u8; 32]` (zeros where a kind has none).

use bytes::{Buf, BufMut, BytesMut};
use hmac::{Hmac, Mac};
use protocols::NodeId;
use sha2::Sha256;
use std::sync::Arc;
use thiserror::Error;

/// Marks a connection as belonging to this workbench's node-to-node transport, version 2
/// (authenticated).
pub const MAGIC: [u8; 8] = *b"CWB-PR02";

/// The payload length of a handshake frame.
pub const HANDSHAKE_LEN: usize = 8 + 1 + 8 + 8 + 16 + 32 + 32;

/// A cluster's identity and shared secret: what a peer must prove it holds.
#[derive(Clone, PartialEq, Eq)]
pub struct ClusterKey {
    /// Names the cluster; nodes of another cluster are refused at once.
    pub id: [u8; 16],
    /// The secret every node of the cluster holds (at least 16 bytes for real use;
    /// empty is accepted for tests and gives no protection).
    pub secret: Arc<[u8]>,
}

impl std::fmt::Debug for ClusterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the secret.
        write!(
            f,
            "ClusterKey {{ id: {}, secret: <{} bytes> }}",
            hex(&self.id),
            self.secret.len()
        )
    }
}

impl Default for ClusterKey {
    /// An unnamed cluster with an empty secret: no protection (tests only).
    fn default() -> ClusterKey {
        ClusterKey {
            id: [0; 16],
            secret: Arc::from(&[][..]),
        }
    }
}

impl ClusterKey {
    /// A fresh cluster: a random id and a random 32-byte secret.
    pub fn generate() -> Result<ClusterKey, getrandom::Error> {
        let mut id = [0u8; 16];
        let mut secret = [0u8; 32];
        getrandom::fill(&mut id)?;
        getrandom::fill(&mut secret)?;
        Ok(ClusterKey {
            id,
            secret: Arc::from(&secret[..]),
        })
    }

    /// `HMAC-SHA256(secret, label | cluster | a | b | n1 | n2)`.
    fn mac(
        &self,
        label: &[u8],
        a: NodeId,
        b: NodeId,
        n1: &[u8; 32],
        n2: &[u8; 32],
    ) -> Hmac<Sha256> {
        // HMAC takes a key of any length.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.secret)
            .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
        mac.update(label);
        mac.update(&self.id);
        mac.update(&a.to_le_bytes());
        mac.update(&b.to_le_bytes());
        mac.update(n1);
        mac.update(n2);
        mac
    }

    /// The acceptor's proof (step 2).
    pub fn welcome_proof(
        &self,
        acceptor: NodeId,
        dialer: NodeId,
        nd: &[u8; 32],
        na: &[u8; 32],
    ) -> [u8; 32] {
        self.mac(b"welcome", acceptor, dialer, nd, na)
            .finalize()
            .into_bytes()
            .into()
    }

    /// The dialer's proof (step 3).
    pub fn hello_proof(
        &self,
        dialer: NodeId,
        acceptor: NodeId,
        na: &[u8; 32],
        nd: &[u8; 32],
    ) -> [u8; 32] {
        self.mac(b"hello", dialer, acceptor, na, nd)
            .finalize()
            .into_bytes()
            .into()
    }

    /// Checks the acceptor's proof in constant time.
    pub fn verify_welcome(
        &self,
        acceptor: NodeId,
        dialer: NodeId,
        nd: &[u8; 32],
        na: &[u8; 32],
        proof: &[u8; 32],
    ) -> bool {
        self.mac(b"welcome", acceptor, dialer, nd, na)
            .verify_slice(proof)
            .is_ok()
    }

    /// Checks the dialer's proof in constant time.
    pub fn verify_hello(
        &self,
        dialer: NodeId,
        acceptor: NodeId,
        na: &[u8; 32],
        nd: &[u8; 32],
        proof: &[u8; 32],
    ) -> bool {
        self.mac(b"hello", dialer, acceptor, na, nd)
            .verify_slice(proof)
            .is_ok()
    }
}

impl ClusterKey {
    /// The proof a fault command carries: `HMAC(secret, "fault" | cluster | node |
    /// nonce | command)`, `nonce` being the one the node handed out on this connection
    /// (so a recorded command cannot be replayed) and `node` the node it is sent to.
    pub fn fault_proof(&self, node: NodeId, nonce: &[u8; 32], command: &[u8]) -> [u8; 32] {
        self.fault_mac(node, nonce, command)
            .finalize()
            .into_bytes()
            .into()
    }

    /// Checks a fault command's proof in constant time.
    pub fn verify_fault(
        &self,
        node: NodeId,
        nonce: &[u8; 32],
        command: &[u8],
        proof: &[u8; 32],
    ) -> bool {
        self.fault_mac(node, nonce, command)
            .verify_slice(proof)
            .is_ok()
    }

    fn fault_mac(&self, node: NodeId, nonce: &[u8; 32], command: &[u8]) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.secret)
            .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
        mac.update(b"fault");
        mac.update(&self.id);
        mac.update(&node.to_le_bytes());
        mac.update(nonce);
        mac.update(command);
        mac
    }
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Bytes from hex digits (either case); `None` for anything else.
pub fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| {
            text.get(i..i + 2)
                .and_then(|d| u8::from_str_radix(d, 16).ok())
        })
        .collect()
}

/// A fresh random nonce.
pub fn nonce() -> Result<[u8; 32], getrandom::Error> {
    let mut n = [0u8; 32];
    getrandom::fill(&mut n)?;
    Ok(n)
}

/// Which step of the handshake a frame is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HandshakeKind {
    /// Dialer to acceptor: "I am `from` of `cluster`, I want `to`; my nonce".
    Hello,
    /// Acceptor to dialer: "I am `from`; my nonce, and my proof".
    Welcome,
    /// Dialer to acceptor: "my proof".
    Proof,
}

/// One handshake message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Handshake {
    /// Which step.
    pub kind: HandshakeKind,
    /// The sender's node id.
    pub from: NodeId,
    /// The node the sender believes it is talking to.
    pub to: NodeId,
    /// The sender's cluster id.
    pub cluster: [u8; 16],
    /// The sender's fresh nonce (hello, welcome).
    pub nonce: [u8; 32],
    /// The sender's proof (welcome, proof).
    pub proof: [u8; 32],
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
            HandshakeKind::Proof => 3,
        });
        out.put_u64_le(self.from);
        out.put_u64_le(self.to);
        out.put_slice(&self.cluster);
        out.put_slice(&self.nonce);
        out.put_slice(&self.proof);
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
            3 => HandshakeKind::Proof,
            other => return Err(HandshakeError::BadKind(other)),
        };
        let from = rest.get_u64_le();
        let to = rest.get_u64_le();
        let mut cluster = [0u8; 16];
        rest.copy_to_slice(&mut cluster);
        let mut nonce = [0u8; 32];
        rest.copy_to_slice(&mut nonce);
        let mut proof = [0u8; 32];
        rest.copy_to_slice(&mut proof);
        Ok(Handshake {
            kind,
            from,
            to,
            cluster,
            nonce,
            proof,
        })
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
            cluster: [7; 16],
            nonce: [9; 32],
            proof: [0; 32],
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

    #[test]
    fn proofs_bind_the_secret_the_cluster_the_ends_and_both_nonces() {
        let key = ClusterKey::generate().expect("randomness");
        let (nd, na) = ([1; 32], [2; 32]);
        let w = key.welcome_proof(3, 1, &nd, &na);
        assert!(key.verify_welcome(3, 1, &nd, &na, &w));
        let h = key.hello_proof(1, 3, &na, &nd);
        assert!(key.verify_hello(1, 3, &na, &nd, &h));
        // A welcome proof is not a hello proof (labels differ), ...
        assert!(!key.verify_hello(3, 1, &nd, &na, &w));
        // ... another secret, cluster, end or nonce proves nothing.
        let other = ClusterKey::generate().expect("randomness");
        assert!(!other.verify_hello(1, 3, &na, &nd, &h));
        let renamed = ClusterKey {
            id: [5; 16],
            ..key.clone()
        };
        assert!(!renamed.verify_hello(1, 3, &na, &nd, &h));
        assert!(!key.verify_hello(2, 3, &na, &nd, &h));
        assert!(!key.verify_hello(1, 3, &[3; 32], &nd, &h));
        assert!(!format!("{key:?}").contains(&hex(&key.secret)));
    }
}
