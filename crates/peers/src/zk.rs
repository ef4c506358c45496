//! A minimal ZooKeeper client over [`crate::jute`]: one session per TCP connection,
//! one request in flight (a closed-loop client), writes as "upserts" (`setData`, and
//! `create` the first time a key's node is missing), and the `srvr` four-letter word
//! that tells a server's role and version.

use crate::jute;
use crate::PeerError;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One ZooKeeper session on its own connection.
pub struct ZkClient {
    stream: TcpStream,
    next_xid: i32,
    /// The session's id, as the server granted it.
    pub session_id: i64,
}

impl ZkClient {
    /// Connects to `addr` and opens a new session (timeout `session_timeout`).
    pub async fn connect(
        addr: SocketAddr,
        session_timeout: Duration,
    ) -> Result<ZkClient, PeerError> {
        let stream = TcpStream::connect(addr)
            .await
            .map_err(PeerError::io(format!("connecting to zookeeper at {addr}")))?;
        stream
            .set_nodelay(true)
            .map_err(PeerError::io("setting TCP_NODELAY"))?;
        let mut c = ZkClient {
            stream,
            next_xid: 1,
            session_id: 0,
        };
        let ms = i32::try_from(session_timeout.as_millis()).unwrap_or(i32::MAX);
        c.send(&jute::connect_request(ms)).await?;
        let payload = c.read_frame().await?;
        let answer = jute::connect_response(&payload)?;
        if answer.session_id == 0 {
            return Err(PeerError::Refused {
                system: "zookeeper",
                detail: format!("no session granted by {addr}"),
            });
        }
        c.session_id = answer.session_id;
        Ok(c)
    }

    async fn send(&mut self, frame: &[u8]) -> Result<(), PeerError> {
        self.stream
            .write_all(frame)
            .await
            .map_err(PeerError::io("sending to zookeeper"))
    }

    async fn read_frame(&mut self) -> Result<Vec<u8>, PeerError> {
        let mut prefix = [0u8; 4];
        self.stream
            .read_exact(&mut prefix)
            .await
            .map_err(PeerError::io("reading from zookeeper"))?;
        let mut payload = vec![0u8; jute::frame_len(prefix)?];
        self.stream
            .read_exact(&mut payload)
            .await
            .map_err(PeerError::io("reading from zookeeper"))?;
        Ok(payload)
    }

    /// Sends one request frame built for the next xid and returns its reply's error
    /// code (0 for success); pings and notifications in between are skipped.
    async fn call(&mut self, build: impl FnOnce(i32) -> Vec<u8>) -> Result<i32, PeerError> {
        let xid = self.next_xid;
        self.next_xid = self.next_xid.checked_add(1).unwrap_or(1);
        self.send(&build(xid)).await?;
        loop {
            let payload = self.read_frame().await?;
            let header = jute::reply_header(&payload)?;
            if header.xid == xid {
                return Ok(header.err);
            }
            if header.xid != jute::PING_XID && header.xid != jute::NOTIFICATION_XID {
                return Err(PeerError::Malformed {
                    system: "zookeeper",
                    detail: format!("reply to xid {} while waiting for {xid}", header.xid),
                });
            }
        }
    }

    /// Writes `data` to the node at `path`, creating it if missing; returns once the
    /// server acknowledged the write (committed by the ensemble).
    pub async fn put(&mut self, path: &str, data: &[u8]) -> Result<(), PeerError> {
        for _ in 0..3 {
            match self.call(|xid| jute::set_data(xid, path, data)).await? {
                0 => return Ok(()),
                jute::err::NO_NODE => {}
                code => return Err(refused(code)),
            }
            match self.call(|xid| jute::create(xid, path, data)).await? {
                0 => return Ok(()),
                // Another client created it first: set it.
                jute::err::NODE_EXISTS => {}
                code => return Err(refused(code)),
            }
        }
        Err(PeerError::Refused {
            system: "zookeeper",
            detail: format!("{path} kept appearing and disappearing"),
        })
    }

    /// Writes `data` to the node at `path` that this client has not written yet:
    /// `create` first (one round trip for a new key), `setData` if another client
    /// created it already.
    pub async fn put_new(&mut self, path: &str, data: &[u8]) -> Result<(), PeerError> {
        match self.call(|xid| jute::create(xid, path, data)).await? {
            0 => Ok(()),
            jute::err::NODE_EXISTS => self.put(path, data).await,
            code => Err(refused(code)),
        }
    }

    /// Pings the server (an idle session's keep-alive).
    pub async fn ping(&mut self) -> Result<(), PeerError> {
        self.send(&jute::ping()).await?;
        loop {
            let payload = self.read_frame().await?;
            if jute::reply_header(&payload)?.xid == jute::PING_XID {
                return Ok(());
            }
        }
    }

    /// Closes the session (best effort; the connection closes either way).
    pub async fn close(mut self) {
        let xid = self.next_xid;
        let _ = self.send(&jute::close_session(xid)).await;
        let _ = tokio::time::timeout(Duration::from_millis(200), self.read_frame()).await;
    }
}

fn refused(code: i32) -> PeerError {
    PeerError::Refused {
        system: "zookeeper",
        detail: format!("error code {code}"),
    }
}

/// What `srvr` says about a server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerState {
    /// "leader", "follower", "standalone" (absent while the server is not serving).
    pub mode: Option<String>,
    /// The version line ("3.8.0-...").
    pub version: Option<String>,
}

/// Parses the `srvr` four-letter word's answer.
pub fn parse_srvr(text: &str) -> ServerState {
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_string())
    };
    ServerState {
        mode: field("Mode:"),
        version: field("Zookeeper version:").map(|v| {
            v.split([',', '-'])
                .next()
                .unwrap_or_default()
                .trim()
                .to_string()
        }),
    }
}

/// Asks the server at `addr` for `srvr` (needs `4lw.commands.whitelist` to allow it).
pub async fn srvr(addr: SocketAddr, timeout: Duration) -> Result<ServerState, PeerError> {
    let ask = async {
        let mut s = TcpStream::connect(addr)
            .await
            .map_err(PeerError::io(format!("connecting to zookeeper at {addr}")))?;
        s.write_all(b"srvr")
            .await
            .map_err(PeerError::io("sending srvr"))?;
        let mut text = Vec::new();
        s.take(64 * 1024)
            .read_to_end(&mut text)
            .await
            .map_err(PeerError::io("reading srvr"))?;
        Ok(parse_srvr(&String::from_utf8_lossy(&text)))
    };
    tokio::time::timeout(timeout, ask)
        .await
        .map_err(|_| PeerError::Timeout(timeout, format!("srvr from {addr}")))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn srvr_gives_mode_and_version() {
        let text = "Zookeeper version: 3.8.0-${mvngit.commit.id}, built on 2024-12-29 17:54 UTC\n\
                    Latency min/avg/max: 0/0.0/0\nZxid: 0x100000000\nMode: leader\nNode count: 5\n";
        assert_eq!(
            parse_srvr(text),
            ServerState {
                mode: Some("leader".into()),
                version: Some("3.8.0".into())
            }
        );
        let not_serving = "This ZooKeeper instance is not currently serving requests\n";
        assert_eq!(parse_srvr(not_serving).mode, None);
    }
}
