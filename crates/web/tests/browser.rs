//! The live page in a real browser: headless Chromium, driven over the DevTools
//! protocol, loads the page of a live raft cluster, waits until the page shows a
//! leader, clicks the "kill" button of the leader's node, waits until the page shows
//! another leader, and checks that the page logged no console error and threw no
//! exception. A screenshot of the page is left at `<target>/tmp/web-live.png`.
//!
//! The test needs `chromium`, `chromium-browser` or `google-chrome` on PATH. Without
//! one it prints "skipped: no browser" and passes, unless `CWB_REQUIRE_BROWSER=1`
//! (set by .ci/run once it installed Debian's chromium), when it fails instead.
//!
//! How: Chromium starts with `--remote-debugging-port=0` and a fresh profile directory,
//! and writes the port it took into `DevToolsActivePort` there; the test finds the
//! page's WebSocket on `/json/list` and speaks CDP JSON over it (`Runtime.evaluate` to
//! read and click, `Runtime.exceptionThrown`, `Runtime.consoleAPICalled` and
//! `Log.entryAdded` for errors). Every wait polls with a generous limit; nothing is
//! timed. Chromium (its whole process group) is killed and its profile removed at the
//! end, also when the test fails.

mod common;

use base64::Engine as _;
use common::{eventually, http, live_server};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;
use web::access::Access;

/// The browsers looked for on PATH, in order.
const BROWSERS: [&str; 3] = ["chromium", "chromium-browser", "google-chrome"];

/// How long any one wait may last (a loaded 2-core machine starts Chromium slowly).
const PATIENCE: Duration = Duration::from_secs(90);

fn find_browser() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    BROWSERS.iter().find_map(|name| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|candidate| candidate.is_file())
    })
}

/// The browser process group; killed on drop (also when the test panics).
struct Browser {
    child: Child,
}

impl Drop for Browser {
    fn drop(&mut self) {
        // The group holds the renderer and helper processes too; its id is the child's
        // (`process_group(0)`). Only a real group id is signalled, never 0 or 1.
        let pgid = self.child.id();
        if pgid > 1 {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{pgid}")])
                .stderr(Stdio::null())
                .status();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_browser(browser: &Path, profile: &Path) -> Browser {
    let child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--no-default-browser-check",
            "--remote-debugging-port=0",
            "--window-size=1300,900",
            "--hide-scrollbars",
            // No crash reporter: it would start a process group of its own.
            "--disable-crash-reporter",
            "--disable-breakpad",
            &format!("--user-data-dir={}", profile.display()),
            "about:blank",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| panic!("{} does not start: {e}", browser.display()));
    Browser { child }
}

/// One DevTools session on a page.
struct Cdp {
    ws: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    next: u64,
    /// Errors the page reported so far.
    errors: Vec<String>,
}

impl Cdp {
    /// Sends one command and returns its result, noting every event that arrives first.
    async fn call(&mut self, method: &str, params: Value) -> Value {
        self.next += 1;
        let id = self.next;
        let msg = json!({"id": id, "method": method, "params": params}).to_string();
        self.ws
            .send(Message::Text(msg.into()))
            .await
            .expect("sends to the browser");
        loop {
            let msg = tokio::time::timeout(PATIENCE, self.ws.next())
                .await
                .unwrap_or_else(|_| panic!("no answer to {method}"))
                .expect("the browser's socket stays open")
                .expect("a frame");
            let Message::Text(text) = msg else { continue };
            let v: Value = serde_json::from_str(&text).expect("CDP speaks JSON");
            if v["id"] == id {
                if let Some(e) = v.get("error") {
                    panic!("{method} failed: {e}");
                }
                return v["result"].clone();
            }
            self.note(&v);
        }
    }

    fn note(&mut self, v: &Value) {
        let p = &v["params"];
        match v["method"].as_str() {
            Some("Runtime.exceptionThrown") => self
                .errors
                .push(format!("exception: {}", p["exceptionDetails"])),
            Some("Runtime.consoleAPICalled") if p["type"] == "error" => {
                self.errors.push(format!("console.error: {}", p["args"]))
            }
            Some("Log.entryAdded") if p["entry"]["level"] == "error" => {
                self.errors.push(format!("log: {}", p["entry"]["text"]))
            }
            _ => {}
        }
    }

    /// Evaluates `expr` in the page and returns its value.
    async fn eval(&mut self, expr: &str) -> Value {
        let r = self
            .call(
                "Runtime.evaluate",
                json!({"expression": expr, "returnByValue": true, "awaitPromise": true}),
            )
            .await;
        if let Some(e) = r.get("exceptionDetails") {
            panic!("{expr} threw: {e}");
        }
        r["result"]["value"].clone()
    }

    /// Polls `expr` until it gives a non-empty string.
    async fn wait_for_text(&mut self, expr: &str, what: &str) -> String {
        let deadline = std::time::Instant::now() + PATIENCE;
        loop {
            if let Some(s) = self.eval(expr).await.as_str().filter(|s| !s.is_empty()) {
                return s.to_string();
            }
            assert!(
                std::time::Instant::now() < deadline,
                "waited {PATIENCE:?} for {what}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// The WebSocket address of the browser's page.
async fn page_socket(profile: &Path) -> String {
    let port: u16 = eventually(PATIENCE, "DevToolsActivePort", || async {
        let text = std::fs::read_to_string(profile.join("DevToolsActivePort")).ok()?;
        text.lines().next()?.trim().parse().ok()
    })
    .await;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    eventually(PATIENCE, "a page target", || async {
        let (status, body) = http(addr, "GET", "/json/list", None, None).await;
        let list: Value = serde_json::from_str(&body).ok().filter(|_| status == 200)?;
        list.as_array()?
            .iter()
            .find(|t| t["type"] == "page")
            .and_then(|t| t["webSocketDebuggerUrl"].as_str())
            .map(str::to_string)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_click_on_kill_of_the_leader_shows_a_new_leader() {
    let Some(browser) = find_browser() else {
        if std::env::var("CWB_REQUIRE_BROWSER").as_deref() == Ok("1") {
            panic!("CWB_REQUIRE_BROWSER=1 but none of {BROWSERS:?} is on PATH");
        }
        eprintln!("skipped: no browser (none of {BROWSERS:?} on PATH)");
        return;
    };
    let dir = tempfile::tempdir().expect("a temp dir");
    let server = live_server(dir.path(), Access::loopback()).await;
    let url = format!("http://{}/", server.addr);

    let profile = tempfile::tempdir().expect("a browser profile directory");
    let chromium = start_browser(&browser, profile.path());
    let socket = page_socket(profile.path()).await;
    let (ws, _) = tokio_tungstenite::connect_async(socket.as_str())
        .await
        .expect("connects to the page");
    let mut cdp = Cdp {
        ws,
        next: 0,
        errors: Vec::new(),
    };
    cdp.call("Runtime.enable", json!({})).await;
    cdp.call("Log.enable", json!({})).await;
    cdp.call("Page.enable", json!({})).await;
    cdp.call("Page.navigate", json!({"url": url})).await;

    let leader_expr = "(document.getElementById('leader') || {dataset: {}}).dataset.node || ''";
    let first = cdp
        .wait_for_text(leader_expr, "the page to show a leader")
        .await;
    let click = format!(
        "(() => {{ const b = document.getElementById('kill-{first}'); if (!b) return ''; b.click(); return 'clicked'; }})()"
    );
    cdp.wait_for_text(&click, "the kill button of the leader")
        .await;
    let next =
        format!("(() => {{ const l = {leader_expr}; return l && l !== '{first}' ? l : ''; }})()");
    let second = cdp
        .wait_for_text(&next, "the page to show a new leader")
        .await;
    assert_ne!(first, second);
    let card = cdp
        .wait_for_text(
            &format!("(document.querySelector('.card[data-node=\"{first}\"] .head') || {{}}).textContent || ''"),
            "the killed node's card",
        )
        .await;
    assert!(
        card.contains("down"),
        "the killed node's card says {card:?}"
    );

    // Let the page run a little longer (timeline, animations), then look for errors.
    let lines = cdp
        .wait_for_text(
            "String(document.querySelectorAll('#lines li').length > 3 ? document.querySelectorAll('#lines li').length : '')",
            "timeline lines on the page",
        )
        .await;
    assert!(lines.parse::<usize>().is_ok_and(|n| n > 3));
    let shot = cdp
        .call("Page.captureScreenshot", json!({"format": "png"}))
        .await;
    if let Some(data) = shot["data"].as_str() {
        if let Ok(png) = base64::engine::general_purpose::STANDARD.decode(data) {
            let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("web-live.png");
            let _ = std::fs::write(&out, png);
            eprintln!("screenshot: {}", out.display());
        }
    }
    let _ = cdp.eval("1").await;
    assert!(
        cdp.errors.is_empty(),
        "the page reported errors: {:#?}",
        cdp.errors
    );

    drop(cdp);
    drop(chromium);
    drop(profile);
    server.stop().await.expect("stops");
}
