//! A minimal HTTP/1.1 client for etcd's JSON gateway: `POST` with a JSON body on a
//! kept-alive connection, answers framed by `Content-Length` (what the gateway sends
//! for unary calls); anything else is refused as malformed, never a panic. And
//! standard base64, which the gateway uses for keys and values.

use crate::PeerError;
use std::net::SocketAddr;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// Largest answer body accepted.
const MAX_BODY: usize = 4 << 20;
/// Largest header block accepted.
const MAX_HEADER_LINE: usize = 8 * 1024;

/// One kept-alive HTTP/1.1 connection.
pub struct HttpConnection {
    stream: BufReader<TcpStream>,
    host: String,
}

/// An answer: its status and body.
#[derive(Debug)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The body.
    pub body: Vec<u8>,
}

impl HttpConnection {
    /// Connects to `addr`.
    pub async fn connect(addr: SocketAddr) -> Result<HttpConnection, PeerError> {
        let stream = TcpStream::connect(addr)
            .await
            .map_err(PeerError::io(format!("connecting to {addr}")))?;
        stream
            .set_nodelay(true)
            .map_err(PeerError::io("setting TCP_NODELAY"))?;
        Ok(HttpConnection {
            stream: BufReader::new(stream),
            host: addr.to_string(),
        })
    }

    /// `POST path` with a JSON `body`; waits for the whole answer.
    pub async fn post(&mut self, path: &str, body: &[u8]) -> Result<Response, PeerError> {
        let mut request = request_head(&self.host, path, body.len()).into_bytes();
        request.extend_from_slice(body);
        self.stream
            .get_mut()
            .write_all(&request)
            .await
            .map_err(PeerError::io("sending an HTTP request"))?;
        self.read_response().await
    }

    async fn read_line(&mut self, line: &mut String) -> Result<(), PeerError> {
        line.clear();
        let n = (&mut self.stream)
            .take(MAX_HEADER_LINE as u64)
            .read_line(line)
            .await
            .map_err(PeerError::io("reading an HTTP answer"))?;
        if n == 0 {
            return Err(PeerError::Io {
                what: "reading an HTTP answer".into(),
                source: std::io::ErrorKind::UnexpectedEof.into(),
            });
        }
        Ok(())
    }

    async fn read_response(&mut self) -> Result<Response, PeerError> {
        let mut line = String::new();
        self.read_line(&mut line).await?;
        let status = parse_status_line(&line)?;
        let mut length = None;
        loop {
            self.read_line(&mut line).await?;
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some(v) = header_value(header, "content-length") {
                length = Some(
                    v.parse::<usize>()
                        .map_err(|_| malformed(format!("Content-Length {v:?}")))?,
                );
            } else if let Some(v) = header_value(header, "transfer-encoding") {
                return Err(malformed(format!("unsupported Transfer-Encoding {v:?}")));
            }
        }
        let length = length.ok_or_else(|| malformed("no Content-Length".into()))?;
        if length > MAX_BODY {
            return Err(malformed(format!("body of {length} bytes")));
        }
        let mut body = vec![0u8; length];
        self.stream
            .read_exact(&mut body)
            .await
            .map_err(PeerError::io("reading an HTTP body"))?;
        Ok(Response { status, body })
    }
}

/// The request line and headers of a `POST` with a JSON body of `len` bytes.
pub fn request_head(host: &str, path: &str, len: usize) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {len}\r\n\r\n"
    )
}

/// The status code of `HTTP/1.1 200 OK`.
pub fn parse_status_line(line: &str) -> Result<u16, PeerError> {
    let mut parts = line.split_whitespace();
    match (parts.next(), parts.next()) {
        (Some(v), Some(code)) if v.starts_with("HTTP/1.") => code
            .parse()
            .map_err(|_| malformed(format!("status line {line:?}"))),
        _ => Err(malformed(format!("status line {line:?}"))),
    }
}

/// The value of `header` if it is named `name` (case-insensitive).
pub fn header_value<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    let (n, v) = header.split_once(':')?;
    n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
}

fn malformed(detail: String) -> PeerError {
    PeerError::Malformed {
        system: "etcd",
        detail,
    }
}

/// Standard base64 with padding (RFC 4648 section 4).
pub fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 0x3f) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (plain, coded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(plain.as_bytes()), coded, "{plain:?}");
        }
        assert_eq!(base64(&[0xff, 0xfe]), "//4=");
    }

    #[test]
    fn status_lines_and_headers() {
        assert_eq!(parse_status_line("HTTP/1.1 200 OK\r\n").unwrap(), 200);
        assert_eq!(
            parse_status_line("HTTP/1.1 503 Service Unavailable").unwrap(),
            503
        );
        assert!(parse_status_line("SSH-2.0").is_err());
        assert!(parse_status_line("HTTP/1.1 abc").is_err());
        assert!(parse_status_line("").is_err());
        assert_eq!(
            header_value("Content-Length: 114", "content-length"),
            Some("114")
        );
        assert_eq!(header_value("X: y", "content-length"), None);
        assert_eq!(header_value("garbage", "content-length"), None);
    }

    #[test]
    fn the_request_head_frames_the_body() {
        let head = request_head("127.0.0.1:2379", "/v3/kv/put", 42);
        assert!(head.starts_with("POST /v3/kv/put HTTP/1.1\r\n"));
        assert!(head.contains("\r\nContent-Length: 42\r\n"));
        assert!(head.ends_with("\r\n\r\n"));
    }
}
