//! The report as a person sees it: the fixture report rendered in headless Chromium at
//! 1300 x 900 CSS pixels, checking that the results are on the first screen (the
//! headline table and its failover plot start within the first 900 pixels) and that no
//! two texts of a failover plot overlap (from the SVG text elements' bounding boxes).
//!
//! The test needs `chromium`, `chromium-browser` or `google-chrome` on PATH. Without
//! one it prints "skipped: no browser" and passes, unless `CWB_REQUIRE_BROWSER=1`
//! (set by .ci/run once it installed Debian's chromium), when it fails instead.
//!
//! How: a copy of `index.html` gets a small script that, on load, measures the
//! elements with `getBoundingClientRect()` and writes the numbers as JSON into a
//! `<pre>`; Chromium's `--dump-dom` prints the page after load, and the test reads
//! the JSON back. The report itself stays script-free. A PNG of the first screen is
//! left at `<target>/tmp/report-first-screen.png` for a person to look at.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The browsers looked for on PATH, in order.
const BROWSERS: [&str; 3] = ["chromium", "chromium-browser", "google-chrome"];

/// The first screen, in CSS pixels.
const SCREEN: (u32, u32) = (1300, 900);

/// How long one browser run may take.
const BROWSER_TIMEOUT: Duration = Duration::from_secs(120);

/// Overlap below this many pixels (anti-aliasing, rounding) is not an overlap.
const TOLERANCE_PX: f64 = 0.5;

/// Measures the headline table and every text of the failover plots, on load.
const PROBE: &str = r#"<script>
window.addEventListener('load', function () {
  function box(el) {
    var r = el.getBoundingClientRect();
    return { top: r.top + window.scrollY, left: r.left + window.scrollX,
             right: r.right + window.scrollX, bottom: r.bottom + window.scrollY };
  }
  var out = { tables: [], plots: {} };
  document.querySelectorAll('table[id$="headline"]').forEach(function (t) {
    out.tables.push(Object.assign({ id: t.id }, box(t)));
  });
  document.querySelectorAll('figure[id$="failover"]').forEach(function (f) {
    var texts = [];
    f.querySelectorAll('svg text').forEach(function (t) {
      var b = box(t);
      if (t.textContent.trim() !== '' && b.right > b.left && b.bottom > b.top) {
        texts.push(Object.assign({ text: t.textContent }, b));
      }
    });
    out.plots[f.id] = { figure: box(f), texts: texts };
  });
  var pre = document.createElement('pre');
  pre.id = 'cwb-probe';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>"#;

/// The first browser on PATH, if any.
fn find_browser() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    BROWSERS.iter().find_map(|name| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|candidate| candidate.is_file())
    })
}

/// Runs the browser headless on `page` with `extra` flags, its stdout into `stdout`;
/// fails the test if it does not finish in time or exits with an error.
fn run_browser(browser: &Path, page: &Path, extra: &[String], stdout: &Path, scratch: &Path) {
    let profile = tempfile::tempdir_in(scratch).expect("a browser profile directory");
    let mut command = Command::new(browser);
    command
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--virtual-time-budget=3000",
            &format!("--window-size={},{}", SCREEN.0, SCREEN.1),
            "--hide-scrollbars",
            &format!("--user-data-dir={}", profile.path().display()),
        ])
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(File::create(stdout).expect("the browser's output file"))
        .stderr(Stdio::null());
    let mut child = command
        .spawn()
        .unwrap_or_else(|e| panic!("{} does not start: {e}", browser.display()));
    let started = Instant::now();
    loop {
        match child.try_wait().expect("waiting for the browser") {
            Some(status) => {
                assert!(status.success(), "{} failed: {status}", browser.display());
                return;
            }
            None if started.elapsed() > BROWSER_TIMEOUT => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{} took over {BROWSER_TIMEOUT:?}", browser.display());
            }
            None => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// The JSON the probe wrote into the dumped DOM.
fn probe_result(dom: &str) -> Value {
    let start_tag = "<pre id=\"cwb-probe\">";
    let start = dom
        .find(start_tag)
        .unwrap_or_else(|| panic!("no probe output in the dumped page ({} bytes)", dom.len()))
        + start_tag.len();
    let end = start + dom[start..].find("</pre>").expect("the probe's </pre>");
    let json = dom[start..end]
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&nbsp;", "\u{a0}")
        .replace("&amp;", "&");
    serde_json::from_str(&json).expect("the probe wrote JSON")
}

/// A box as (left, top, right, bottom).
fn rect(v: &Value) -> (f64, f64, f64, f64) {
    let f = |k: &str| v[k].as_f64().unwrap_or_else(|| panic!("no {k} in {v}"));
    (f("left"), f("top"), f("right"), f("bottom"))
}

/// The pairs of texts whose boxes overlap by more than [`TOLERANCE_PX`] both ways.
fn overlapping(texts: &[Value]) -> Vec<String> {
    let mut found = Vec::new();
    for (i, a) in texts.iter().enumerate() {
        for b in &texts[i + 1..] {
            let (al, at, ar, ab) = rect(a);
            let (bl, bt, br, bb) = rect(b);
            let wide = ar.min(br) - al.max(bl);
            let high = ab.min(bb) - at.max(bt);
            if wide > TOLERANCE_PX && high > TOLERANCE_PX {
                found.push(format!(
                    "{} / {} ({wide:.1} x {high:.1} px)",
                    a["text"], b["text"]
                ));
            }
        }
    }
    found
}

#[test]
fn overlap_is_found_only_where_boxes_cross() {
    let text = |t: &str, l: f64, top: f64, r: f64, b: f64| serde_json::json!({"text": t, "left": l, "top": top, "right": r, "bottom": b});
    let texts = [
        text("a", 0.0, 0.0, 50.0, 14.0),
        text("b", 49.8, 0.0, 90.0, 14.0),
        text("c", 10.0, 13.0, 40.0, 27.0),
    ];
    let found = overlapping(&texts);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].starts_with("\"a\" / \"c\""), "{found:?}");
}

#[test]
fn the_results_are_on_the_first_screen_and_the_failover_plot_is_legible() {
    let Some(browser) = find_browser() else {
        if std::env::var("CWB_REQUIRE_BROWSER").as_deref() == Ok("1") {
            panic!(
                "CWB_REQUIRE_BROWSER=1 but none of {} is on PATH",
                BROWSERS.join(", ")
            );
        }
        println!(
            "skipped: no browser ({} not on PATH); set CWB_REQUIRE_BROWSER=1 to fail instead",
            BROWSERS.join(", ")
        );
        return;
    };
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/small.json");
    let results = reports::load(&fixture).expect("the fixture loads");
    let scratch = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let out = tempfile::tempdir_in(scratch).expect("a report directory");
    let paths = reports::write_report(&[(fixture, results)], out.path()).expect("a report");

    let html = std::fs::read_to_string(&paths.html).expect("index.html");
    assert!(!html.contains("<script"), "the report itself has no script");
    let probe_page = out.path().join("probe.html");
    std::fs::write(
        &probe_page,
        html.replace("</body>", &format!("{PROBE}\n</body>")),
    )
    .expect("the probe page");
    let dom = out.path().join("dom.html");
    run_browser(
        &browser,
        &probe_page,
        &["--dump-dom".to_string()],
        &dom,
        scratch,
    );
    let probe = probe_result(&std::fs::read_to_string(&dom).expect("the dumped page"));

    // (a) The headline table starts on the first screen.
    let tables = probe["tables"].as_array().expect("a list of tables");
    assert_eq!(tables.len(), 1, "one headline table: {probe}");
    let (_, top, _, _) = rect(&tables[0]);
    assert!(
        top < f64::from(SCREEN.1),
        "the headline table starts at {top} px, below the first {} px",
        SCREEN.1
    );

    // (b) No two texts of a failover plot overlap; the headline's plot is on the
    // first screen too.
    let plots = probe["plots"].as_object().expect("the failover plots");
    for id in ["plot-headline-failover", "plot-failover"] {
        let plot = &plots
            .get(id)
            .unwrap_or_else(|| panic!("no {id} in {probe}"));
        let texts = plot["texts"].as_array().expect("texts");
        assert!(
            texts.len() > 10,
            "{id}: only {} texts measured",
            texts.len()
        );
        let found = overlapping(texts);
        assert!(found.is_empty(), "{id}: texts overlap: {found:#?}");
    }
    let (_, plot_top, _, _) = rect(&plots["plot-headline-failover"]["figure"]);
    assert!(
        plot_top < f64::from(SCREEN.1),
        "headline plot at {plot_top} px"
    );

    // A picture of the first screen, for a person to look at.
    let png = scratch.join("report-first-screen.png");
    let log = out.path().join("screenshot.log");
    run_browser(
        &browser,
        &paths.html,
        &[format!("--screenshot={}", png.display())],
        &log,
        scratch,
    );
    assert!(png.is_file(), "no screenshot at {}", png.display());
    println!("first screen: {}", png.display());
}
