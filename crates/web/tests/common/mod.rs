//! What the web tests share: a live raft cluster behind the page server, and a raw
//! HTTP/1.1 client (a request per connection, `Connection: close`).

#![allow(dead_code)]

use drivers::cluster::{ClusterOptions, LocalCluster};
use protocols::raft::Raft;
use serde_json::Value;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use web::access::Access;
use web::live::Server;

/// A live 3-node raft cluster served on a free loopback port; its data under `dir`.
pub async fn live_server(dir: &std::path::Path, access: Access) -> Server {
    let opts = ClusterOptions::new(3, dir.to_path_buf());
    let cluster = LocalCluster::<Raft>::start_viewed(opts)
        .await
        .expect("the cluster starts");
    let listener = web::bind(SocketAddr::from(([127, 0, 0, 1], 0)), &access)
        .await
        .expect("binds");
    web::live::serve(cluster, listener, access, 20, Instant::now()).expect("serves")
}

/// One request; the status and the body (status 0 if nothing came back in time).
pub async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&Value>,
    auth: Option<&str>,
) -> (u16, String) {
    tokio::time::timeout(
        Duration::from_secs(20),
        request(addr, method, path, body, auth),
    )
    .await
    .unwrap_or((0, String::new()))
}

async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&Value>,
    auth: Option<&str>,
) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connects");
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if !body.is_empty() {
        req.push_str("Content-Type: application/json\r\n");
    }
    if let Some(a) = auth {
        req.push_str(&format!("Authorization: Bearer {a}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(&body);
    s.write_all(req.as_bytes()).await.expect("writes");
    // Read the head, then as much body as Content-Length says (some servers keep the
    // connection open despite `Connection: close`), or to the end.
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let n = s.read(&mut buf).await.unwrap_or(0);
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&out);
        if let Some((head, rest)) = text.split_once("\r\n\r\n") {
            let length = head.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse::<usize>().ok())?
            });
            if length.is_some_and(|len| rest.len() >= len) {
                break;
            }
        }
    }
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    // Small bodies only come chunked when the length is unknown; decode the simple case.
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_string()
    };
    (status, body)
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// `GET path` as JSON.
pub async fn get_json(addr: SocketAddr, path: &str) -> Value {
    let (status, body) = http(addr, "GET", path, None, None).await;
    assert_eq!(status, 200, "GET {path}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
}

/// Polls `check` every 100 ms until it gives something or `limit` passes.
pub async fn eventually<T, F, Fut>(limit: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "waited {limit:?} for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The leader the state shows.
pub fn leader(state: &Value) -> Option<u64> {
    state["leader"].as_u64()
}
