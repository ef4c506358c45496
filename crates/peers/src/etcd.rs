//! etcd v3 through its JSON gateway (gRPC-gateway over HTTP/1.1): `put` (a
//! `PutRequest` without `prev_kv`, like the protocols' `Set`) and `status` (the
//! member's id and the leader's, from `Maintenance.Status`).

use crate::http::{base64, HttpConnection};
use crate::PeerError;
use std::net::SocketAddr;
use std::time::Duration;

/// One etcd client connection.
pub struct EtcdClient {
    conn: HttpConnection,
}

impl EtcdClient {
    /// Connects to the member serving clients at `addr`.
    pub async fn connect(addr: SocketAddr) -> Result<EtcdClient, PeerError> {
        Ok(EtcdClient {
            conn: HttpConnection::connect(addr).await?,
        })
    }

    /// Puts `value` at `key`; returns once the member acknowledged it (committed).
    pub async fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), PeerError> {
        let body = put_body(key, value);
        let answer = self.conn.post("/v3/kv/put", body.as_bytes()).await?;
        if answer.status != 200 {
            return Err(PeerError::Refused {
                system: "etcd",
                detail: format!(
                    "HTTP {}: {}",
                    answer.status,
                    String::from_utf8_lossy(&answer.body[..answer.body.len().min(200)])
                ),
            });
        }
        Ok(())
    }
}

/// The JSON body of a put.
pub fn put_body(key: &[u8], value: &[u8]) -> String {
    format!(
        "{{\"key\":\"{}\",\"value\":\"{}\"}}",
        base64(key),
        base64(value)
    )
}

/// What `Maintenance.Status` says about a member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberStatus {
    /// The member's id.
    pub member_id: String,
    /// The leader's id as the member knows it ("0": none).
    pub leader: String,
    /// The server version.
    pub version: String,
}

impl MemberStatus {
    /// Whether this member is the leader.
    pub fn is_leader(&self) -> bool {
        self.leader != "0" && self.leader == self.member_id
    }
}

/// Parses a `Maintenance.Status` answer (ids are 64-bit numbers JSON-encoded as
/// strings).
pub fn parse_status(body: &[u8]) -> Result<MemberStatus, PeerError> {
    let v: serde_json::Value = serde_json::from_slice(body).map_err(|e| PeerError::Malformed {
        system: "etcd",
        detail: format!("status: {e}"),
    })?;
    let text = |v: Option<&serde_json::Value>| match v {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(serde_json::Value::Number(n)) => n.to_string(),
        _ => "0".to_string(),
    };
    Ok(MemberStatus {
        member_id: text(v.get("header").and_then(|h| h.get("member_id"))),
        leader: text(v.get("leader")),
        version: text(v.get("version")),
    })
}

/// Asks the member at `addr` for its status.
pub async fn status(addr: SocketAddr, timeout: Duration) -> Result<MemberStatus, PeerError> {
    let ask = async {
        let mut conn = HttpConnection::connect(addr).await?;
        let answer = conn.post("/v3/maintenance/status", b"{}").await?;
        if answer.status != 200 {
            return Err(PeerError::Refused {
                system: "etcd",
                detail: format!("status: HTTP {}", answer.status),
            });
        }
        parse_status(&answer.body)
    };
    tokio::time::timeout(timeout, ask)
        .await
        .map_err(|_| PeerError::Timeout(timeout, format!("etcd status from {addr}")))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_bodies_carry_base64_key_and_value() {
        assert_eq!(put_body(b"foo", b"bar"), r#"{"key":"Zm9v","value":"YmFy"}"#);
    }

    #[test]
    fn status_names_the_leader() {
        let body = br#"{"header":{"cluster_id":"1","member_id":"135","revision":"1","raft_term":"2"},"version":"3.4.23","leader":"135","raftIndex":"8"}"#;
        let s = parse_status(body).expect("parses");
        assert!(s.is_leader());
        assert_eq!(s.version, "3.4.23");
        let follower = br#"{"header":{"member_id":"7"},"leader":"135"}"#;
        assert!(!parse_status(follower).unwrap().is_leader());
        let leaderless = br#"{"header":{"member_id":"0"},"leader":"0"}"#;
        assert!(!parse_status(leaderless).unwrap().is_leader());
        assert!(parse_status(b"not json").is_err());
    }
}
