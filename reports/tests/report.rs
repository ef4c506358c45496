//! End-to-end tests of the reports crate on the fixture `fixtures/small.json` (made-up
//! but plausibly shaped numbers for raft, zab and paxos; paxos at 5 nodes and paxos's
//! isolate failover are deliberately absent to exercise "not measured"). The page as
//! a browser shows it is tested in `screenshot.rs`.

use std::path::{Path, PathBuf};

use quick_xml::events::Event;
use quick_xml::Reader;
use reports::{load, save, write_report, Measure, ReportError, Results, SCHEMA_VERSION};

fn fixture_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/small.json")
}

fn fixture() -> Results {
    load(fixture_path()).expect("the fixture loads")
}

/// Parses `text` as XML, failing on any mismatched or unclosed tag; returns the
/// number of elements opened.
fn assert_well_formed(name: &str, text: &str) -> usize {
    let mut reader = Reader::from_str(text);
    reader.config_mut().check_end_names = true;
    let mut depth = 0usize;
    let mut elements = 0usize;
    loop {
        match reader.read_event() {
            Ok(Event::Start(_)) => {
                depth += 1;
                elements += 1;
            }
            Ok(Event::Empty(_)) => elements += 1,
            Ok(Event::End(_)) => depth -= 1,
            Ok(Event::Eof) => break,
            Ok(_) => {}
            Err(e) => panic!(
                "{name} is not well-formed at byte {}: {e}",
                reader.buffer_position()
            ),
        }
    }
    assert_eq!(depth, 0, "{name}: unclosed elements at end of file");
    elements
}

#[test]
fn one_file_gives_a_self_contained_well_formed_report() {
    let out = tempfile::tempdir().unwrap();
    let paths = write_report(&[(fixture_path(), fixture())], out.path()).unwrap();

    let html = std::fs::read_to_string(&paths.html).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(assert_well_formed("index.html", &html) > 100);
    // Self-contained: no scripts, no linked stylesheets, no remote anything.
    for forbidden in ["<script", "<link", "src=\"http", "href=\"http", "<img"] {
        assert!(!html.contains(forbidden), "index.html contains {forbidden}");
    }
    // Plots are inlined.
    assert_eq!(html.matches("<svg").count(), paths.plots.len());
    // A table row for each protocol, and the deliberately missing data says so.
    for protocol in ["raft", "zab", "paxos"] {
        assert!(
            html.contains(&format!(
                "<tr><td>{protocol}</td><td>3</td><td>leader ready</td>"
            )),
            "no election row for {protocol}"
        );
    }
    assert!(html.contains("<tr><td>paxos</td><td>5</td><td>leader ready</td><td class=\"num\">0</td><td class=\"nm\">not measured</td>"));
    assert!(html.contains("<td>paxos</td><td>3</td><td>isolate</td><td>all phases</td>"));
    // WAL writes per op: a row for the run that measured them, none for the others.
    assert!(html.contains("<tr><td>raft</td><td>3</td><td class=\"num\">1.10</td><td class=\"num\">0.125</td><td class=\"num\">8.00</td></tr>"));
    assert_eq!(html.matches("ops per fsync").count(), 1);
    // Timer lateness: a row for the run that measured it, none for the others.
    assert!(html.contains(
        "<tr><td>raft</td><td>3</td><td class=\"num\">412</td><td class=\"num\">61.0</td>"
    ));
    assert_eq!(html.matches("Timer lateness:").count(), 1);
    // A kind sent in elections but not in steady state is zero per op, not unmeasured.
    assert!(html.contains("<tr><td>raft</td><td>3</td><td>RequestVote</td><td class=\"num\">0</td><td class=\"num\">0</td><td class=\"num\">2.40</td></tr>"));
    // Settings and method are printed.
    for needle in [
        "tickTime",
        "batch 2ms",
        "FIXTURE",
        "loopback TCP round trip",
        "<td>WAL append + fsync, 3 writers at once</td><td class=\"num\">600</td>",
        "Method",
    ] {
        assert!(html.contains(needle), "index.html lacks {needle}");
    }
    assert!(!html.contains("Comparison"));

    // The results come first, then the evidence, then method and settings (folded).
    let at = |needle: &str| {
        html.find(needle)
            .unwrap_or_else(|| panic!("index.html lacks {needle}"))
    };
    assert!(at("id=\"results-at-a-glance\"") < at("<table"));
    assert!(at("<table id=\"table-headline\">") < at("id=\"results-of-small-json\""));
    assert!(at("id=\"results-of-small-json\"") < at("id=\"method-and-settings\""));
    assert!(at("id=\"method-and-settings\"") < at("<td>command line</td>"));
    assert!(html.contains("<summary>27 settings: machine, command line, timing"));
    // The headline: the table beside its plot, best values marked, targets, sentences.
    let headline = &html[at("<table id=\"table-headline\">")..at("id=\"results-of-small-json\"")];
    assert!(headline.contains("<td class=\"num best\"><strong>210</strong> ★</td>"));
    assert!(
        headline.contains("<td class=\"nm\">–</td>"),
        "Paxos's isolation"
    );
    assert!(headline.contains("Performance targets (3 nodes): "));
    assert!(headline.contains("id=\"plot-headline-failover\""));
    assert!(headline.contains(
        "ZAB reacts at once (2.86 ms of detection: the connection reset) while Raft and \
         Paxos wait for their timeout (229 and 206 ms of detection)"
    ));

    // Every plot exists, parses as SVG, and report.md links it relatively.
    let markdown = std::fs::read_to_string(&paths.markdown).unwrap();
    let names: Vec<String> = paths
        .plots
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for expected in [
        "headline-failover.svg",
        "election-cdf-n3.svg",
        "election-cdf-n5.svg",
        "failover.svg",
        "throughput-n3.svg",
        "latency-n3.svg",
        "messages-per-op.svg",
        "messages-per-election.svg",
        "sweep.svg",
        "sweep-cdf-raft-n3.svg",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "missing plot {expected}: {names:?}"
        );
    }
    for (path, name) in paths.plots.iter().zip(&names) {
        let svg = std::fs::read_to_string(path).unwrap();
        assert!(svg.trim_start().starts_with("<svg"), "{name}");
        assert_well_formed(name, &svg);
        assert!(
            markdown.contains(&format!("]({name})")),
            "report.md does not link {name}"
        );
    }
    assert!(markdown.contains("| raft | 3 | leader ready |"));
}

/// The fields of one CSV record (RFC 4180, no line breaks inside fields).
fn csv_fields(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                fields.last_mut().unwrap().push('"');
            }
            ('"', _) => quoted = !quoted,
            (',', false) => fields.push(String::new()),
            (c, _) => fields.last_mut().unwrap().push(c),
        }
    }
    fields
}

#[test]
fn every_table_is_a_csv_file_linked_beside_it() {
    let out = tempfile::tempdir().unwrap();
    let paths = write_report(&[(fixture_path(), fixture())], out.path()).unwrap();
    let html = std::fs::read_to_string(&paths.html).unwrap();
    let markdown = std::fs::read_to_string(&paths.markdown).unwrap();
    assert_eq!(paths.tables.len(), html.matches("<table").count());
    for path in &paths.tables {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        assert_eq!(path.parent().unwrap(), out.path().join("tables"));
        let href = format!("tables/{name}");
        assert_eq!(
            html.matches(&format!("href=\"{href}\"")).count(),
            1,
            "{href}"
        );
        assert!(markdown.contains(&format!("]({href})")), "{href}");
        // Every record has as many fields as the header.
        let text = std::fs::read_to_string(path).unwrap();
        let mut lines = text.split("\r\n").filter(|l| !l.is_empty());
        let width = csv_fields(lines.next().unwrap()).len();
        for line in lines {
            assert_eq!(csv_fields(line).len(), width, "{name}: {line}");
        }
    }
    // The headline's CSV: a header naming each column's group, a row per protocol,
    // an empty field where nothing was measured, a quoted field where a comma is.
    let headline = std::fs::read_to_string(out.path().join("tables/headline.csv")).unwrap();
    let lines: Vec<&str> = headline.split("\r\n").collect();
    assert!(
        lines[0]
            .starts_with("protocol,\"cold election, ms: median\",\"kill failover, ms: median\""),
        "{}",
        lines[0]
    );
    assert_eq!(
        csv_fields(lines[0])[6],
        "throughput, 64 clients: ops/s",
        "quoted because of its comma"
    );
    assert_eq!(lines[3], "Paxos,210,236,354,,,53029,1125,3150,6.00");
}

#[test]
fn a_run_without_failovers_or_a_client_sweep_says_so() {
    let mut results = fixture();
    results.settings.clients = vec![1, 64];
    for run in &mut results.runs {
        run.failover_kill = None;
        run.failover_isolate = None;
        run.throughput.retain(|p| p.clients == 1 || p.clients == 64);
    }
    let out = tempfile::tempdir().unwrap();
    let paths = write_report(&[(fixture_path(), results)], out.path()).unwrap();
    let html = std::fs::read_to_string(&paths.html).unwrap();
    assert_well_formed("index.html", &html);
    // The headline: dashes for the failovers, no failover sentence or plot.
    let raft = html
        .lines()
        .find(|l| l.starts_with("<tr><td>Raft</td>"))
        .expect("a headline row for Raft");
    assert_eq!(raft.matches("<td class=\"nm\">–</td>").count(), 4, "{raft}");
    assert!(!html.contains("After a leader kill"));
    assert!(!html.contains("After a leader isolation"));
    assert!(html.contains("No failover was measured."));
    assert!(!paths
        .plots
        .iter()
        .any(|p| p.ends_with("headline-failover.svg")));
    assert!(html.contains("From a cold start Paxos has a ready leader first"));
    // 1 and 64 clients, nothing between: markers, no line joining them.
    let svg = std::fs::read_to_string(out.path().join("throughput-n3.svg")).unwrap();
    assert!(svg.contains("<circle"), "markers");
    assert!(
        !svg.contains("stroke-width=\"2\" points="),
        "no series line between 1 and 64 clients"
    );
}

#[test]
fn results_round_trip_through_serde_and_files() {
    let results = fixture();
    let text = serde_json::to_string(&results).unwrap();
    let back: Results = serde_json::from_str(&text).unwrap();
    assert_eq!(back, results);

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("copy.json");
    save(&results, &path).unwrap();
    assert_eq!(load(&path).unwrap(), results);
    assert_eq!(results.schema_version, SCHEMA_VERSION);
    assert_eq!(results.runs.len(), 5);
}

#[test]
fn an_unknown_schema_version_is_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("future.json");
    let mut value: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture_path()).unwrap()).unwrap();
    value["schema_version"] = serde_json::json!(99);
    // Version 99 may have any shape: the rest must not even be looked at.
    value["runs"] = serde_json::json!("changed shape");
    std::fs::write(&path, value.to_string()).unwrap();

    let err = load(&path).unwrap_err();
    assert!(matches!(
        err,
        ReportError::UnsupportedSchemaVersion {
            found: 99,
            supported: 1,
            ..
        }
    ));
    let message = err.to_string();
    for needle in ["future.json", "99", "schema version 1"] {
        assert!(message.contains(needle), "{message}");
    }
}

#[test]
fn two_files_produce_the_comparison_section() {
    let a = fixture();
    let mut b = a.clone();
    // File B: raft elects 20% faster; zab's kill failover was not measured.
    for run in b.runs.iter_mut() {
        if run.protocol == "raft" {
            if let Some(m) = run.election.as_mut() {
                *m = Measure::from_ms(m.samples.iter().map(|v| v * 0.8).collect());
            }
        }
        if run.protocol == "zab" {
            run.failover_kill = None;
        }
        // B's per-op counts were taken at 8 clients, A's (unrecorded) at the most.
        run.messages.per_op_clients = Some(8);
    }
    let out = tempfile::tempdir().unwrap();
    let paths = write_report(
        &[
            (PathBuf::from("before.json"), a),
            (PathBuf::from("after.json"), b),
        ],
        out.path(),
    )
    .unwrap();
    let html = std::fs::read_to_string(&paths.html).unwrap();
    assert_well_formed("index.html", &html);
    assert!(html.contains("id=\"comparison\""));
    assert!(html.contains("<th>B vs A</th>"));
    assert!(html.contains("A = before.json, B = after.json"));
    let raft_row = html
        .lines()
        .find(|l| l.contains("<td>election: leader ready, median ms</td><td>raft</td><td>3</td>"))
        .expect("a comparison row for raft's election");
    assert!(
        raft_row.contains("-20.0%") || raft_row.contains("-19.9%") || raft_row.contains("-20.1%"),
        "{raft_row}"
    );
    let zab_row = html
        .lines()
        .find(|l| l.contains("<td>failover kill: total, median ms</td><td>zab</td><td>3</td>"))
        .expect("a comparison row for zab's failover");
    assert!(
        zab_row.contains("not measured") && zab_row.contains("n/a"),
        "{zab_row}"
    );
    // Both files keep their own sections and distinct plot files.
    assert!(html.contains("A: Results of before.json"));
    assert!(html.contains("B: Results of after.json"));
    let names: Vec<_> = paths
        .plots
        .iter()
        .map(|p| p.file_name().unwrap().to_owned())
        .collect();
    assert!(names.iter().any(|n| n == "a-failover.svg"));
    assert!(names.iter().any(|n| n == "b-failover.svg"));
    // A headline for each file, both before the comparison, each with its own CSV.
    let heading = |id: &str| html.find(&format!("id=\"{id}\"")).expect(id);
    let a = heading("a-results-at-a-glance-before-json");
    let b = heading("b-results-at-a-glance-after-json");
    assert!(html[a..].contains("A: Results at a glance (before.json)</h2>"));
    let comparison = html.find("id=\"comparison\"").expect("the comparison");
    assert!(a < b && b < comparison);
    assert!(names.iter().any(|n| n == "b-headline-failover.svg"));
    let tables: Vec<_> = paths
        .tables
        .iter()
        .map(|p| p.file_name().unwrap().to_owned())
        .collect();
    assert!(tables.iter().any(|n| n == "a-headline.csv"));
    assert!(tables.iter().any(|n| n == "b-headline.csv"));
    // B measured no kill for ZAB: B's kill sentence leaves ZAB out.
    let b_kill = html[b..comparison]
        .lines()
        .find(|l| l.contains("After a leader kill"))
        .expect("B's kill sentence");
    assert!(!b_kill.contains("ZAB"), "{b_kill}");
    let markdown = std::fs::read_to_string(&paths.markdown).unwrap();
    assert!(markdown.contains("## Comparison"));
    assert!(
        markdown.contains("from different workloads in these files")
            && markdown.contains("B: the throughput point with 8 closed-loop clients"),
        "the comparison warns that per-op counts come from different points"
    );
    assert!(markdown.contains("at the throughput point with the most clients."));
}

#[test]
fn files_from_two_networks_get_a_per_network_table_and_placement_is_shown() {
    use reports::results::{Network, Placement};
    let lan = fixture();
    let mut wan = lan.clone();
    wan.settings.network = Some(Network {
        name: "wan".into(),
        description: "wan: regions us-east/us-west/eu-west".into(),
    });
    for run in wan.runs.iter_mut() {
        if let Some(m) = run.election.as_mut() {
            *m = Measure::from_ms(m.samples.iter().map(|v| v + 140.0).collect());
        }
        run.placement = ["us-east", "us-west", "eu-west"]
            .iter()
            .zip(1..)
            .map(|(region, leader)| Placement {
                leader,
                region: Some(region.to_string()),
                ops: 40,
                errors: 0,
                latency_us: reports::Summary::from_samples(
                    &[70_000.0 + 5_000.0 * leader as f64],
                    1.0,
                ),
            })
            .collect();
    }
    let out = tempfile::tempdir().unwrap();
    let paths = write_report(
        &[
            (PathBuf::from("lan.json"), lan),
            (PathBuf::from("wan.json"), wan),
        ],
        out.path(),
    )
    .unwrap();
    let markdown = std::fs::read_to_string(&paths.markdown).unwrap();
    assert!(markdown.contains("## By network"), "{markdown}");
    assert!(markdown.contains("| protocol | nodes | A: loopback | B: wan |"));
    assert!(markdown.contains("### B: Commit latency by leader placement"));
    assert!(
        markdown.contains("| raft | 3 | n3 | eu-west | 40 | 0 | 85.0 | 85.0 |"),
        "{markdown}"
    );
    let html = std::fs::read_to_string(&paths.html).unwrap();
    assert_well_formed("index.html", &html);
    assert!(paths
        .plots
        .iter()
        .any(|p| p.file_name().is_some_and(|n| n == "b-placement.svg")));
}

#[test]
fn several_value_sizes_and_cluster_sizes_get_scaling_curves() {
    let mut results = fixture();
    // A second value size at every throughput point, at a tenth of the ops/s.
    for run in results.runs.iter_mut() {
        let more: Vec<_> = run
            .throughput
            .iter()
            .map(|p| {
                let mut q = p.clone();
                q.value_bytes = 65536;
                q.ops_per_sec = p.ops_per_sec / 10.0;
                q
            })
            .collect();
        run.throughput.extend(more);
    }
    let out = tempfile::tempdir().unwrap();
    let paths = write_report(&[(fixture_path(), results)], out.path()).unwrap();
    let names: Vec<String> = paths
        .plots
        .iter()
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    for plot in [
        "value-size-mbs-n3.svg",
        "value-size-ops-n3.svg",
        "value-size-p50-n3.svg",
        "cluster-size-ops.svg",
        "cluster-size-p50.svg",
    ] {
        assert!(names.iter().any(|n| n == plot), "{plot} in {names:?}");
    }
    let markdown = std::fs::read_to_string(&paths.markdown).unwrap();
    assert!(markdown.contains("### Throughput against value size"));
    assert!(markdown.contains("### Throughput against cluster size"));
    // The table's MB/s: ops/s times the value size.
    assert!(markdown.contains("| MB/s |"), "a MB/s column");
    for plot in &paths.plots {
        let svg = std::fs::read_to_string(plot).unwrap();
        assert_well_formed(&plot.display().to_string(), &svg);
    }
}

#[test]
fn no_inputs_is_an_error() {
    let out = tempfile::tempdir().unwrap();
    assert!(matches!(
        write_report(&[], out.path()),
        Err(ReportError::NoInputs)
    ));
}
