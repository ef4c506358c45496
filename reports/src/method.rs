//! The method part of the report, after the results: how each measure is defined
//! (docs/DESIGN.md, "Fair comparison rules") and every setting a reader needs to
//! reproduce or judge a run: machine, git commit, command line, timing and its mapping
//! onto each protocol, fsync policy, workload and the baselines measured in the same
//! run. The long parts (definitions, settings, timing mapping) are folded.

use std::path::{Path, PathBuf};

use crate::document::{count_cell, file_label, summary_cells, Block, Document, NOT_MEASURED};
use crate::results::Results;

/// The results files of the report and the definitions every number follows;
/// printed once.
pub(crate) fn method(doc: &mut Document, inputs: &[(PathBuf, Results)]) {
    doc.heading(2, "Method and settings");
    let several = inputs.len() > 1;
    let described: Vec<String> = inputs
        .iter()
        .enumerate()
        .map(|(i, (path, r))| {
            let label = if several {
                format!("{}: ", file_label(i))
            } else {
                String::new()
            };
            format!(
                "{label}{} (created {}, commit {}, protocols {})",
                path.display(),
                r.created,
                r.git_commit.as_deref().unwrap_or("unknown"),
                r.settings.protocols.join(", ")
            )
        })
        .collect();
    doc.paragraph(if several {
        "Results files compared in this report:"
    } else {
        "Results file of this report:"
    });
    doc.blocks.push(Block::List(described));
    doc.paragraph(
        "All three protocols run on one harness: the same TCP transport on loopback, \
         codec, write-ahead log, key-value state machine and client workload, so the \
         differences below are the protocols' differences. Times are taken from \
         harness-side timestamps of protocol events.",
    );
    let mark = doc.blocks.len();
    doc.blocks.push(Block::List(vec![
        "Election latency (leader ready): cluster cold start until a leader is ready \
         to commit (Raft: leader with its first entry of the term committed; ZAB: \
         established after discovery and sync; Paxos: phase 1 won and in-flight slots \
         re-proposed). Leader elected: the same start until a leader is elected."
            .into(),
        "Failover: leader loss until the first client write committed by the new \
         leader, split into detection, election, recovery (sync) and first commit. \
         Kill: the leader's process dies and peers see connections reset. Isolate: \
         the leader's packets are silently dropped while sockets stay up. \
         Unavailability is the window in which clients saw no write commit."
            .into(),
        "Throughput: committed operations per second under C closed-loop clients, \
         with client-observed commit latency percentiles from HdrHistogram \
         (3 significant digits)."
            .into(),
        "Messages: messages (and bytes) sent per committed operation in steady state, \
         and per election from cold start to a ready leader, by message kind."
            .into(),
        "Every table gives median, 99th percentile, minimum and maximum. A value that \
         was not measured reads \"not measured\" (a dash in the headline); no number \
         is ever filled in."
            .into(),
    ]));
    doc.fold_since(mark, "How each measure is defined");
}

/// Settings, machine, timing mapping and baselines of one results file.
/// `prefix` ("A: ") tells the files apart when several are reported together.
pub(crate) fn settings(doc: &mut Document, path: &Path, results: &Results, prefix: &str) {
    let s = &results.settings;
    let t = &s.timing;
    let m = &results.machine;
    let join = |items: Vec<String>| {
        if items.is_empty() {
            NOT_MEASURED.to_string()
        } else {
            items.join(", ")
        }
    };
    let mut rows: Vec<(&str, String)> = vec![
        ("results file", path.display().to_string()),
        ("created", results.created.clone()),
        ("schema version", results.schema_version.to_string()),
        (
            "git commit",
            results
                .git_commit
                .clone()
                .unwrap_or_else(|| "unknown".into()),
        ),
        ("command line", s.command_line.clone()),
        ("CPU", m.cpu_model.clone()),
        ("cores", m.cores.to_string()),
        ("kernel", m.kernel.clone()),
        (
            "host",
            m.hostname.clone().unwrap_or_else(|| "not recorded".into()),
        ),
        ("cluster mode", s.mode.as_str().to_string()),
        (
            "network",
            match (&s.network, &s.remote) {
                (Some(n), _) => n.description.clone(),
                (None, Some(_)) => "the one between the cluster's hosts (not modelled)".into(),
                (None, None) => "loopback (no model)".into(),
            },
        ),
        ("protocols", join(s.protocols.clone())),
        (
            "cluster sizes",
            join(s.cluster_sizes.iter().map(|n| n.to_string()).collect()),
        ),
        ("trials per election/failover measure", s.trials.to_string()),
        ("fsync policy", s.fsync.clone()),
        ("heartbeat interval", format!("{} ms", t.heartbeat_ms)),
        (
            "election timeout range",
            format!(
                "{}-{} ms",
                t.election_timeout_min_ms, t.election_timeout_max_ms
            ),
        ),
        ("ZAB finalize wait", format!("{} ms", t.finalize_wait_ms)),
        (
            "Raft election timer restarted by",
            match t.raft_timer_reset.as_str() {
                "figure2" => "AppendEntries from the leader or a granted vote (Figure 2)".into(),
                "etcd" => "also any higher term (etcd's becomeFollower)".into(),
                other => other.to_string(),
            },
        ),
        (
            "Raft PreVote (thesis §9.6)",
            if t.pre_vote { "on" } else { "off" }.into(),
        ),
        (
            "CheckQuorum: Raft and Paxos leaders step down without a majority",
            if t.check_quorum { "on" } else { "off" }.into(),
        ),
        (
            "snapshots",
            if t.snapshot_every == 0 {
                "none".into()
            } else {
                format!(
                    "every {} entries, sent in pieces of at most {} bytes",
                    t.snapshot_every, t.snapshot_chunk_bytes
                )
            },
        ),
        (
            "clients",
            join(s.clients.iter().map(|c| c.to_string()).collect()),
        ),
        ("key size", format!("{} B", s.key_bytes)),
        ("value size", format!("{} B", s.value_bytes)),
        ("warm-up", format!("{} ms", s.warmup_ms)),
        ("measurement duration", format!("{} ms", s.duration_ms)),
    ];
    if let Some(r) = &s.remote {
        let nodes: Vec<String> = r.nodes.iter().map(|(id, a)| format!("{id}: {a}")).collect();
        let back = r.crashes.iter().filter(|c| c.exited && c.restarted).count();
        rows.extend([
            ("remote cluster: config", r.config.clone()),
            ("remote cluster: client addresses", nodes.join(", ")),
            ("remote cluster: clock", r.clock.clone()),
            (
                "remote cluster: crashes (process exit seen, restarted by the supervisor)",
                format!("{} ({back} exited and restarted)", r.crashes.len()),
            ),
            ("remote cluster: events lost", r.events_lost.to_string()),
        ]);
    }
    doc.heading(3, format!("{prefix}Settings of {}", file_name(path)));
    let count = rows.len();
    let mark = doc.blocks.len();
    doc.table(
        &["setting", "value"],
        rows.into_iter()
            .map(|(k, v)| vec![k.to_string(), v])
            .collect(),
        2,
    );
    doc.fold_since(
        mark,
        format!("{count} settings: machine, command line, timing, fsync, workload"),
    );

    doc.heading(
        3,
        format!("{prefix}Timing per protocol ({})", file_name(path)),
    );
    let mark = doc.blocks.len();
    doc.paragraph(
        "The shared heartbeat and timeout settings above, as mapped onto each \
         protocol's own parameters.",
    );
    let mut mapping = Vec::new();
    for protocol in &s.protocols {
        match s.protocol_timing.get(protocol) {
            Some(params) if !params.is_empty() => {
                for (name, value) in params {
                    mapping.push(vec![protocol.clone(), name.clone(), value.clone()]);
                }
            }
            _ => mapping.push(vec![
                protocol.clone(),
                "(mapping)".into(),
                "not recorded".into(),
            ]),
        }
    }
    for (protocol, params) in &s.protocol_timing {
        if !s.protocols.contains(protocol) {
            for (name, value) in params {
                mapping.push(vec![protocol.clone(), name.clone(), value.clone()]);
            }
        }
    }
    let count = mapping.len();
    doc.table(&["protocol", "parameter", "value"], mapping, 3);
    doc.fold_since(
        mark,
        format!("{count} parameters: the shared timing in each protocol's terms"),
    );

    doc.heading(3, format!("{prefix}Baselines ({})", file_name(path)));
    doc.paragraph(
        "Lower bounds measured on the same machine in the same run: no protocol can \
         commit faster than one loopback round trip plus, with fsync on, one fsync. \
         The nodes of a cluster on one machine share its disk: the rows with several \
         writers at once (one per node, each on its own file) show what an fsync costs \
         when every node syncs together, as under load.",
    );
    let b = &results.baseline;
    let baseline_row = |name: &str, summary| {
        let mut row = vec![name.to_string(), count_cell(Some(summary))];
        row.extend(summary_cells(Some(summary)));
        row
    };
    doc.table(
        &[
            "baseline",
            "samples",
            "median µs",
            "p99 µs",
            "min µs",
            "max µs",
        ],
        [
            baseline_row("loopback TCP round trip", &b.loopback_rtt_us),
            baseline_row("WAL append + fsync", &b.fsync_us),
        ]
        .into_iter()
        .chain(b.concurrent_fsync.iter().map(|c| {
            baseline_row(
                &format!("WAL append + fsync, {} writers at once", c.writers),
                &c.latency_us,
            )
        }))
        .collect(),
        1,
    );
}

/// The last component of a path, for headings.
pub(crate) fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}
