#!/usr/bin/env python3
"""Where a one-client commit waits: per-hop medians from a syscall-tracepoint recording.

docs/METHOD.md, "Profiling" ("Where a one-client commit waits"), says how to record
and what this measured. Record a one-client bench run with the fdatasync and sendto
tracepoints, then read the recording with `perf script`:

    perf record -o /tmp/sc.data -e 'syscalls:sys_enter_fdatasync,syscalls:sys_exit_fdatasync,syscalls:sys_enter_sendto' \
      target/release/cwb bench --protocols raft --nodes 3 --measure throughput \
      --clients 1 --fsync batch --rounds 1 --duration-ms 2000 --warmup-ms 500
    perf script -i /tmp/sc.data -F comm,tid,time,event,trace > /tmp/sc.txt
    python3 docs/scripts/one_client_timeline.py /tmp/sc.txt

Messages are told apart by their length on the wire (`sendto`'s `len`); the defaults
are Raft's with 256-byte values: a client request 288 bytes, an AppendEntries with
one entry 300, its answer 11, the answer to the client 9. The WAL writer threads are
named `wal-N` after their node; `--leader` names the leader's. The first fifth of the
requests (the baseline and warm-up) is skipped.
"""

import argparse
import re
import statistics


def read_events(path):
    """(time in us, thread name, event, length or None) per traced syscall."""
    pattern = re.compile(r"\s*(\S+)\s+\d+\s+([\d.]+):\s+syscalls:(\S+):\s*(.*)")
    events = []
    with open(path) as f:
        for line in f:
            m = pattern.match(line)
            if not m:
                continue
            comm, t, event, rest = m.groups()
            length = re.search(r"len: (0x[0-9a-f]+)", rest)
            events.append(
                (float(t) * 1e6, comm, event, int(length.group(1), 16) if length else None)
            )
    return events


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("trace", help="output of perf script -F comm,tid,time,event,trace")
    ap.add_argument("--request-len", type=int, default=288)
    ap.add_argument("--append-len", type=int, default=300)
    ap.add_argument("--ack-len", type=int, default=11)
    ap.add_argument("--reply-len", type=int, default=9)
    ap.add_argument("--leader", default="wal-1", help="the leader's WAL thread")
    a = ap.parse_args()
    ev = read_events(a.trace)

    def after(i, pred, within=400):
        for j in range(i + 1, min(i + within, len(ev))):
            if pred(ev[j]):
                return j
        return None

    def send(length):
        return lambda e: e[2] == "sys_enter_sendto" and e[3] == length

    requests = [i for i, e in enumerate(ev) if send(a.request_len)(e)]
    rows = []
    for i in requests[len(requests) // 5 :]:
        t = ev[i][0]
        append = after(i, send(a.append_len))
        reply = after(i, send(a.reply_len))
        if append is None or reply is None:
            continue
        # The first follower sync to start after the AppendEntries left, and its end.
        fsync = after(
            append,
            lambda e: e[1].startswith("wal-")
            and e[1] != a.leader
            and e[2] == "sys_enter_fdatasync",
        )
        if fsync is None:
            continue
        thread = ev[fsync][1]
        done = after(fsync, lambda e: e[1] == thread and e[2] == "sys_exit_fdatasync")
        if done is None or ev[reply][0] < ev[done][0]:
            continue
        ack = after(done, send(a.ack_len))
        if ack is None or ev[ack][0] > ev[reply][0]:
            continue
        rows.append(
            {
                "request -> AppendEntries sent": ev[append][0] - t,
                "AppendEntries sent -> a follower's fdatasync starts": ev[fsync][0] - ev[append][0],
                "that fdatasync": ev[done][0] - ev[fsync][0],
                "its end -> the follower's answer sent": ev[ack][0] - ev[done][0],
                "answer sent -> client's answer sent": ev[reply][0] - ev[ack][0],
                "request -> client's answer sent": ev[reply][0] - t,
            }
        )
    if not rows:
        raise SystemExit("no complete request found: check the lengths and --leader")
    print(f"{len(rows)} requests")
    for key in rows[0]:
        values = sorted(r[key] for r in rows)
        q = lambda p: values[min(len(values) - 1, int(p * len(values)))]
        print(f"{key:55s} p50 {statistics.median(values):7.1f} us   p25 {q(0.25):7.1f}   p75 {q(0.75):7.1f}")


if __name__ == "__main__":
    main()
