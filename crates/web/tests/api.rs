//! The HTTP and WebSocket API on real loopback sockets (port 0): the live state
//! snapshot, a fault command that changes it, the event stream, the secret rule, and
//! replay mode's stepping and injection.

mod common;

use common::{eventually, get_json, http, leader, live_server};
use futures_util::StreamExt;
use serde_json::json;
use std::net::SocketAddr;
use std::time::Duration;
use web::access::Access;

const PATIENCE: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_api_shows_kills_and_streams_the_timeline() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let server = live_server(dir.path(), Access::loopback()).await;
    let addr = server.addr;

    let (status, page) = http(addr, "GET", "/", None, None).await;
    assert_eq!(status, 200);
    assert!(page.contains("/app.js"), "{page}");

    let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/api/events"))
        .await
        .expect("the event stream opens");
    let (_, mut events) = ws.split();

    let first = eventually(PATIENCE, "a leader in /api/state", || async {
        leader(&get_json(addr, "/api/state").await)
    })
    .await;
    let state = get_json(addr, "/api/state").await;
    assert_eq!(state["mode"], "live");
    assert_eq!(state["words"]["generation"], "term");
    let nodes = state["nodes"].as_array().expect("nodes");
    assert_eq!(nodes.len(), 3);
    let l = &nodes[usize::try_from(first - 1).expect("an id")];
    assert_eq!(l["kind"], "leader");
    assert!(l["timers"].as_array().is_some_and(|t| !t.is_empty()), "{l}");

    let (status, body) = http(
        addr,
        "POST",
        "/api/command",
        Some(&json!({"command": format!("kill {first}")})),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(&format!("killed node {first}")), "{body}");

    let second = eventually(PATIENCE, "a new leader after the kill", || async {
        let s = get_json(addr, "/api/state").await;
        let down = s["nodes"][usize::try_from(first - 1).ok()?]["up"] == false;
        leader(&s).filter(|&l| down && l != first)
    })
    .await;
    assert_ne!(second, first);

    // The stream carried the election, the kill and the new leader's election.
    let want_kill = format!("killed node {first}");
    let want_elected = format!("n{second}: ELECTED");
    let (mut saw_kill, mut saw_elected, mut saw_messages) = (false, false, false);
    tokio::time::timeout(PATIENCE, async {
        while let Some(Ok(msg)) = events.next().await {
            let text = msg.into_text().expect("text frames").to_string();
            let v: serde_json::Value = serde_json::from_str(&text).expect("JSON");
            if v["type"] == "messages" {
                saw_messages = true;
            }
            let line = v["text"].as_str().unwrap_or_default();
            saw_kill |= line.contains(&want_kill);
            saw_elected |= line.contains(&want_elected);
            if saw_kill && saw_elected && saw_messages {
                break;
            }
        }
    })
    .await
    .expect("the stream delivers the kill, the election and messages");

    let (status, body) = http(
        addr,
        "POST",
        "/api/command",
        Some(&json!({"command": "kill x"})),
        None,
    )
    .await;
    assert_eq!(status, 400);
    assert!(body.contains("usage: kill N"), "{body}");

    let (status, body) = http(
        addr,
        "POST",
        "/api/command",
        Some(&json!({"command": "put colour blue"})),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("ok (previous"), "{body}");

    server.stop().await.expect("stops");
}

#[tokio::test]
async fn another_address_needs_the_secret_and_commands_carry_it() {
    let any = SocketAddr::from(([0, 0, 0, 0], 0));
    let refused = web::bind(any, &Access::loopback()).await;
    assert!(
        matches!(refused, Err(web::ServeError::NeedsSecret(_))),
        "{:?}",
        refused.err()
    );

    let secret = "00112233445566778899aabbccddeeff";
    let access = Access::with_secret(secret);
    let listener = web::bind(any, &access)
        .await
        .expect("binds with the secret");
    let port = listener.local_addr().expect("an address").port();
    let scenario = web::replay::seed_scenario(3, 1, 500).expect("a scenario");
    let opts = web::replay::ReplayOptions {
        scenario,
        name: String::new(),
        dir: None,
        protocols: vec![protocols::ProtocolKind::Raft],
    };
    let server = web::replay::serve(opts, listener, access).expect("serves");
    let addr = SocketAddr::from(([127, 0, 0, 1], port));

    let (status, _) = http(addr, "GET", "/api/mode", None, None).await;
    assert_eq!(status, 200, "reads stay open");
    let body = json!({});
    let (status, _) = http(addr, "POST", "/api/replay/reset", Some(&body), None).await;
    assert_eq!(status, 401);
    let (status, _) = http(addr, "POST", "/api/replay/reset", Some(&body), Some("00")).await;
    assert_eq!(status, 401);
    let (status, text) = http(addr, "POST", "/api/replay/reset", Some(&body), Some(secret)).await;
    assert_eq!(status, 200, "{text}");
    server.stop().await.expect("stops");
}

#[tokio::test]
async fn replay_steps_back_to_the_same_state_and_takes_injected_faults() {
    let scenario = web::replay::seed_scenario(3, 7, 2000).expect("a scenario");
    let opts = web::replay::ReplayOptions {
        scenario,
        name: String::new(),
        dir: None,
        protocols: protocols::ProtocolKind::ALL.to_vec(),
    };
    let listener = web::bind(SocketAddr::from(([127, 0, 0, 1], 0)), &Access::loopback())
        .await
        .expect("binds");
    let server = web::replay::serve(opts, listener, Access::loopback()).expect("serves");
    let addr = server.addr;

    let o = get_json(addr, "/api/replay").await;
    assert_eq!(o["mode"], "replay");
    let elections: Vec<u64> = serde_json::from_value(o["elections"].clone()).expect("times");
    let first = *elections.first().expect("an election in 2 s");
    let path = format!("/api/replay/at?t_ns={first}");
    let at = get_json(addr, &path).await;
    let panels = at["panels"].as_array().expect("panels");
    assert_eq!(panels.len(), 3, "raft, zab and paxos side by side");
    assert!(panels.iter().any(|p| p["leader"].is_u64()), "{at}");

    // Forward, then back: the same state again (the simulation is deterministic).
    let later = format!("/api/replay/at?t_ns={}", first + 500_000_000);
    let _ = get_json(addr, &later).await;
    assert_eq!(get_json(addr, &path).await, at);

    // Kill the leader at the paused instant, then look 300 ms later.
    let body = json!({"command": "kill-leader", "t_ns": first + 100_000_000});
    let (status, text) = http(addr, "POST", "/api/replay/inject", Some(&body), None).await;
    assert_eq!(status, 200, "{text}");
    let o = get_json(addr, "/api/replay").await;
    assert_eq!(o["injected"].as_array().map(Vec::len), Some(1));
    let after = get_json(
        addr,
        &format!("/api/replay/at?t_ns={}", first + 400_000_000),
    )
    .await;
    for p in after["panels"].as_array().expect("panels") {
        let down = p["nodes"]
            .as_array()
            .expect("nodes")
            .iter()
            .filter(|n| n["up"] == false)
            .count();
        assert_eq!(down, 1, "{}: {p}", p["words"]["protocol"]);
    }

    let bad = json!({"command": "get k", "t_ns": 0});
    let (status, _) = http(addr, "POST", "/api/replay/inject", Some(&bad), None).await;
    assert_eq!(status, 400);
    server.stop().await.expect("stops");
}
