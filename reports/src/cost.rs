//! The cost of one committed operation, per protocol: CPU time, messages and bytes on
//! the wire, socket reads and writes, WAL writes and fsyncs, all nodes (and for CPU,
//! the clients too) together, at the throughput point with the most clients
//! (docs/METHOD.md, "CPU per op" and "syscalls per op"). It answers "what does the
//! machine pay for one operation?", the figure that sets the throughput ceiling once
//! the cores are busy.

use crate::document::{number, Document, NOT_MEASURED};
use crate::results::{ProtocolRun, Results};
use crate::sections::row;
use crate::steady_state::per_op_point;

/// One row's cells after protocol and nodes.
fn cells(run: &ProtocolRun) -> Vec<String> {
    let m = &run.messages;
    let cell = |v: Option<f64>| v.map_or(NOT_MEASURED.to_string(), number);
    let sum = |map: &std::collections::BTreeMap<String, f64>| {
        (!map.is_empty()).then(|| map.values().sum::<f64>())
    };
    let io = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) => Some(a + b),
        _ => None,
    };
    let (cpu, system) = run.cpu_at_counted_point();
    vec![
        m.per_op_clients
            .map_or(NOT_MEASURED.to_string(), |c| c.to_string()),
        cell(cpu),
        cell(system),
        cell(sum(&m.per_op)),
        cell(sum(&m.bytes_per_op)),
        cell(m.peer_writes_per_op),
        cell(m.peer_reads_per_op),
        cell(m.client_writes_per_op),
        cell(m.client_reads_per_op),
        cell(m.wal_writes_per_op),
        cell(m.wal_syncs_per_op),
        cell(io(
            io(m.peer_writes_per_op, m.client_writes_per_op),
            m.wal_writes_per_op,
        )),
    ]
}

/// The "Cost per committed operation" table; nothing when no run measured throughput.
pub(crate) fn cost_per_op(
    doc: &mut Document,
    results: &Results,
    keys: &[(String, usize)],
    prefix: &str,
) {
    let runs: Vec<&ProtocolRun> = keys
        .iter()
        .filter_map(|(protocol, nodes)| results.run(protocol, *nodes))
        .filter(|r| !r.throughput.is_empty())
        .collect();
    if runs.is_empty() {
        return;
    }
    doc.heading(3, format!("{prefix}Cost per committed operation"));
    doc.paragraph(format!(
        "What one committed operation costs the machine, at {}: CPU is user + system \
         time of the bench process (clients, and in-process nodes) plus any node \
         processes, over the counted period, and of it the system time (the kernel \
         working for the processes: sockets, the WAL's page cache, wake-ups); \
         messages, bytes, socket reads and writes, WAL writes and fsyncs are all \
         nodes' together. A socket write is one send that \
         wrote bytes, a read one recv that returned data; peer sockets carry the protocol, \
         client sockets the requests and answers (the clients' own syscalls are not \
         counted). Multi-process runs count no messages or syscalls (not measured).",
        per_op_point(results, keys)
    ));
    let rows = runs
        .iter()
        .map(|r| row(&r.protocol, r.nodes, cells(r)))
        .collect();
    doc.table(
        &[
            "protocol",
            "nodes",
            "clients",
            "CPU µs/op",
            "of it kernel µs/op",
            "messages/op",
            "bytes/op",
            "peer writes/op",
            "peer reads/op",
            "client writes/op",
            "client reads/op",
            "WAL writes/op",
            "fsyncs/op",
            "write syscalls/op",
        ],
        rows,
        2,
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::{MessageCounts, ThroughputPoint};

    fn point(clients: u32, cpu: Option<f64>) -> ThroughputPoint {
        ThroughputPoint {
            clients,
            value_bytes: 256,
            fsync: "batch".into(),
            duration_ms: 1000.0,
            ops: 1000,
            ops_per_sec: 1000.0,
            latency_us: crate::Summary::from_samples(&[100.0, 200.0], 1.0),
            errors: 0,
            rounds_ops_per_sec: Vec::new(),
            cpu_us_per_op: cpu,
            cpu_system_us_per_op: cpu.map(|c| c / 2.0),
            reads: 0,
            read_latency_us: None,
            write_latency_us: None,
        }
    }

    #[test]
    fn cells_take_cpu_from_the_counted_point_and_sum_the_writes() {
        let mut run = ProtocolRun {
            throughput: vec![point(1, Some(90.0)), point(64, Some(8.5))],
            ..ProtocolRun::new("raft", 3)
        };
        run.messages = MessageCounts {
            per_op_clients: Some(64),
            peer_writes_per_op: Some(0.5),
            peer_reads_per_op: Some(0.4),
            client_writes_per_op: Some(0.25),
            client_reads_per_op: Some(0.2),
            wal_writes_per_op: Some(0.25),
            wal_syncs_per_op: Some(0.1),
            ..MessageCounts::default()
        };
        run.messages.per_op.insert("Append".into(), 0.2);
        run.messages.per_op.insert("AppendOk".into(), 0.05);
        let c = cells(&run);
        assert_eq!(c[0], "64");
        assert_eq!(
            c[1], "8.50",
            "the 64-client point's CPU, not the 1-client one"
        );
        assert_eq!(c[2], "4.25", "the same point's system time");
        assert_eq!(c[3], "0.250");
        assert_eq!(c[4], NOT_MEASURED, "no bytes recorded");
        assert_eq!(c[11], "1.00", "peer + client + WAL writes");
    }
}
