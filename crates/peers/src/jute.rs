//! ZooKeeper's wire encoding: jute records (big-endian integers, length-prefixed
//! strings and buffers, -1 for a null buffer) inside frames that each start with their
//! 4-byte big-endian length. Only what the bench's client sends and reads is here: the
//! session handshake (`ConnectRequest`/`ConnectResponse`), `create`, `setData`, `ping`
//! and `closeSession` requests, and the reply header (`xid`, `zxid`, `err`). The
//! record layouts are those of ZooKeeper's `zookeeper.jute` (`proto` module).

use crate::PeerError;

/// Operation codes (`ZooDefs.OpCode`).
pub mod op {
    /// `create`.
    pub const CREATE: i32 = 1;
    /// `setData`.
    pub const SET_DATA: i32 = 5;
    /// `ping`.
    pub const PING: i32 = 11;
    /// `closeSession`.
    pub const CLOSE_SESSION: i32 = -11;
}

/// Error codes in a reply header (`KeeperException.Code`) the client acts on.
pub mod err {
    /// The node does not exist (a `setData` before its `create`).
    pub const NO_NODE: i32 = -101;
    /// The node exists (a `create` that lost a race).
    pub const NODE_EXISTS: i32 = -110;
}

/// The `xid` ZooKeeper reserves for pings.
pub const PING_XID: i32 = -2;
/// The `xid` of watch notifications (the bench sets no watch; they are skipped).
pub const NOTIFICATION_XID: i32 = -1;
/// Frames larger than this are refused (ZooKeeper's default `jute.maxbuffer` is ~1 MiB).
pub const MAX_FRAME: usize = 4 << 20;

/// Appends jute fields to a frame.
#[derive(Default)]
pub struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    /// An empty record.
    pub fn new() -> Writer {
        Writer::default()
    }
    /// A 32-bit integer.
    pub fn int(&mut self, v: i32) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }
    /// A 64-bit integer.
    pub fn long(&mut self, v: i64) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }
    /// A boolean (one byte).
    pub fn boolean(&mut self, v: bool) -> &mut Self {
        self.buf.push(u8::from(v));
        self
    }
    /// A buffer: its length, then its bytes. Longer than `i32::MAX` is cut off at the
    /// length written, which no caller here comes near (values are bounded by
    /// [`MAX_FRAME`] before encoding).
    pub fn buffer(&mut self, b: &[u8]) -> &mut Self {
        let len = i32::try_from(b.len()).unwrap_or(i32::MAX);
        self.int(len);
        let take = usize::try_from(len).unwrap_or(0);
        self.buf.extend_from_slice(&b[..take.min(b.len())]);
        self
    }
    /// A string (as a buffer of its UTF-8 bytes).
    pub fn string(&mut self, s: &str) -> &mut Self {
        self.buffer(s.as_bytes())
    }
    /// The record in a frame: its length first.
    pub fn frame(&self) -> Vec<u8> {
        let len = u32::try_from(self.buf.len()).unwrap_or(u32::MAX);
        let mut out = Vec::with_capacity(self.buf.len() + 4);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&self.buf);
        out
    }
}

/// Reads jute fields from a frame's payload; every read is bounds-checked.
pub struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    /// Reads `payload` (a frame without its length).
    pub fn new(payload: &'a [u8]) -> Reader<'a> {
        Reader { rest: payload }
    }
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], PeerError> {
        if self.rest.len() < n {
            return Err(malformed(format!(
                "{what}: {n} bytes wanted, {} left",
                self.rest.len()
            )));
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }
    /// A 32-bit integer.
    pub fn int(&mut self, what: &str) -> Result<i32, PeerError> {
        let b = self.take(4, what)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    /// A 64-bit integer.
    pub fn long(&mut self, what: &str) -> Result<i64, PeerError> {
        let b = self.take(8, what)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(i64::from_be_bytes(a))
    }
    /// A buffer (`None` for jute's null, length -1).
    pub fn buffer(&mut self, what: &str) -> Result<Option<&'a [u8]>, PeerError> {
        let len = self.int(what)?;
        if len == -1 {
            return Ok(None);
        }
        let n = usize::try_from(len).map_err(|_| malformed(format!("{what}: length {len}")))?;
        self.take(n, what).map(Some)
    }
    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.rest.len()
    }
}

fn malformed(detail: String) -> PeerError {
    PeerError::Malformed {
        system: "zookeeper",
        detail,
    }
}

/// The session handshake a client sends first: protocol version 0, no zxid seen, the
/// session timeout asked for, a new session (id 0, empty 16-byte password), not
/// read-only.
pub fn connect_request(session_timeout_ms: i32) -> Vec<u8> {
    let mut w = Writer::new();
    w.int(0)
        .long(0)
        .int(session_timeout_ms)
        .long(0)
        .buffer(&[0u8; 16])
        .boolean(false);
    w.frame()
}

/// The server's answer to the handshake.
#[derive(Debug, PartialEq, Eq)]
pub struct ConnectResponse {
    /// The session timeout the server granted (ms).
    pub timeout_ms: i32,
    /// The new session's id (0: the server refused the session).
    pub session_id: i64,
}

/// Decodes a handshake answer's payload.
pub fn connect_response(payload: &[u8]) -> Result<ConnectResponse, PeerError> {
    let mut r = Reader::new(payload);
    let _protocol = r.int("protocol version")?;
    let timeout_ms = r.int("session timeout")?;
    let session_id = r.long("session id")?;
    let _password = r.buffer("session password")?;
    Ok(ConnectResponse {
        timeout_ms,
        session_id,
    })
}

/// `create(path, data)` with the open ACL (`world:anyone`, all permissions) as a
/// persistent node.
pub fn create(xid: i32, path: &str, data: &[u8]) -> Vec<u8> {
    let mut w = Writer::new();
    w.int(xid).int(op::CREATE).string(path).buffer(data);
    // One ACL: perms ALL (31), id world:anyone.
    w.int(1).int(31).string("world").string("anyone");
    w.int(0); // flags: persistent
    w.frame()
}

/// `setData(path, data)` whatever the node's version (-1).
pub fn set_data(xid: i32, path: &str, data: &[u8]) -> Vec<u8> {
    let mut w = Writer::new();
    w.int(xid)
        .int(op::SET_DATA)
        .string(path)
        .buffer(data)
        .int(-1);
    w.frame()
}

/// A ping (keeps an idle session alive).
pub fn ping() -> Vec<u8> {
    let mut w = Writer::new();
    w.int(PING_XID).int(op::PING);
    w.frame()
}

/// Ends the session.
pub fn close_session(xid: i32) -> Vec<u8> {
    let mut w = Writer::new();
    w.int(xid).int(op::CLOSE_SESSION);
    w.frame()
}

/// A reply's header; the body that follows is not needed by the bench.
#[derive(Debug, PartialEq, Eq)]
pub struct ReplyHeader {
    /// The request it answers (or [`PING_XID`], [`NOTIFICATION_XID`]).
    pub xid: i32,
    /// The zxid the server had reached.
    pub zxid: i64,
    /// 0, or an error code ([`err`]).
    pub err: i32,
}

/// Decodes a reply's header from its frame's payload.
pub fn reply_header(payload: &[u8]) -> Result<ReplyHeader, PeerError> {
    let mut r = Reader::new(payload);
    Ok(ReplyHeader {
        xid: r.int("reply xid")?,
        zxid: r.long("reply zxid")?,
        err: r.int("reply err")?,
    })
}

/// The length of the frame whose 4-byte prefix is `prefix`, refused above
/// [`MAX_FRAME`] or negative.
pub fn frame_len(prefix: [u8; 4]) -> Result<usize, PeerError> {
    let len = i32::from_be_bytes(prefix);
    usize::try_from(len)
        .ok()
        .filter(|&n| n <= MAX_FRAME)
        .ok_or_else(|| malformed(format!("frame length {len}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_handshake_has_the_jute_layout() {
        let f = connect_request(10_000);
        // length, version, zxid, timeout, session, password (len + 16), read-only
        assert_eq!(f.len(), 4 + 4 + 8 + 4 + 8 + 4 + 16 + 1);
        assert_eq!(&f[..4], &((f.len() - 4) as u32).to_be_bytes());
        assert_eq!(&f[16..20], &10_000i32.to_be_bytes());
        assert_eq!(&f[28..32], &16i32.to_be_bytes());
        assert_eq!(f[f.len() - 1], 0);
    }

    #[test]
    fn a_handshake_answer_decodes_and_a_short_one_is_refused() {
        let mut w = Writer::new();
        w.int(0)
            .int(4000)
            .long(0x1234)
            .buffer(&[7u8; 16])
            .boolean(false);
        let f = w.frame();
        let r = connect_response(&f[4..]).expect("decodes");
        assert_eq!(
            r,
            ConnectResponse {
                timeout_ms: 4000,
                session_id: 0x1234
            }
        );
        for cut in 0..f.len() - 5 {
            assert!(connect_response(&f[4..4 + cut]).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn set_data_and_create_encode_path_data_and_version_or_acl() {
        let f = set_data(7, "/k0001", b"vv");
        let mut r = Reader::new(&f[4..]);
        assert_eq!(r.int("xid").unwrap(), 7);
        assert_eq!(r.int("type").unwrap(), op::SET_DATA);
        assert_eq!(r.buffer("path").unwrap(), Some(&b"/k0001"[..]));
        assert_eq!(r.buffer("data").unwrap(), Some(&b"vv"[..]));
        assert_eq!(r.int("version").unwrap(), -1);
        assert_eq!(r.remaining(), 0);

        let f = create(8, "/a", b"");
        let mut r = Reader::new(&f[4..]);
        assert_eq!(r.int("xid").unwrap(), 8);
        assert_eq!(r.int("type").unwrap(), op::CREATE);
        assert_eq!(r.buffer("path").unwrap(), Some(&b"/a"[..]));
        assert_eq!(r.buffer("data").unwrap(), Some(&b""[..]));
        assert_eq!(r.int("acls").unwrap(), 1);
        assert_eq!(r.int("perms").unwrap(), 31);
        assert_eq!(r.buffer("scheme").unwrap(), Some(&b"world"[..]));
        assert_eq!(r.buffer("id").unwrap(), Some(&b"anyone"[..]));
        assert_eq!(r.int("flags").unwrap(), 0);
        assert_eq!(r.remaining(), 0);
    }

    #[test]
    fn ping_and_reply_headers() {
        assert_eq!(
            ping(),
            vec![0, 0, 0, 8, 0xff, 0xff, 0xff, 0xfe, 0, 0, 0, 11]
        );
        let mut w = Writer::new();
        w.int(9).long(0x1_0000_0002).int(err::NO_NODE);
        let h = reply_header(&w.frame()[4..]).expect("decodes");
        assert_eq!(
            h,
            ReplyHeader {
                xid: 9,
                zxid: 0x1_0000_0002,
                err: err::NO_NODE
            }
        );
        assert!(reply_header(&[0, 0, 0]).is_err());
    }

    #[test]
    fn null_buffers_and_bad_lengths() {
        let mut w = Writer::new();
        w.int(-1);
        assert_eq!(Reader::new(&w.frame()[4..]).buffer("b").unwrap(), None);
        let mut w = Writer::new();
        w.int(-5);
        assert!(Reader::new(&w.frame()[4..]).buffer("b").is_err());
        let mut w = Writer::new();
        w.int(100).int(1);
        assert!(Reader::new(&w.frame()[4..]).buffer("b").is_err());
        assert_eq!(frame_len([0, 0, 1, 0]).unwrap(), 256);
        assert!(frame_len([0xff, 0xff, 0xff, 0xff]).is_err());
        assert!(frame_len([0x7f, 0xff, 0xff, 0xff]).is_err());
    }
}
