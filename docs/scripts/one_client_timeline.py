#!/usr/bin/env python3
"""Where a one-client commit waits: per-hop medians from a syscall-tracepoint recording.

docs/METHOD.md, "Profiling" ("Where a one-client commit waits"), says how to record
and what this measured. Record a one-client bench run with the fdatasync and sendto
tracepoints, with every node in a process of its own (`--processes`), then read the
recording with `perf script`:

    perf record -o /tmp/sc.data -e 'syscalls:sys_enter_fdatasync,syscalls:sys_exit_fdatasync,syscalls:sys_enter_sendto' \
      target/release/cwb bench --protocols raft --nodes 3 --measure throughput --processes \
      --clients 1 --fsync batch --rounds 1 --duration-ms 2000 --warmup-ms 500
    perf script -i /tmp/sc.data -F comm,pid,tid,time,event,trace > /tmp/sc.txt
    python3 docs/scripts/one_client_timeline.py /tmp/sc.txt

Messages are told apart by their length on the wire (`sendto`'s `len`); the defaults
are Raft's with 256-byte values: a client request 288 bytes, an AppendEntries with
one entry 300, its answer 11, the answer to the client 9. The leader is the process
that sends the AppendEntries. Per request, the answer that committed is the last
follower answer sent before the leader answered the client, and its sync is that
follower's WAL thread's (`wal-N`) last fdatasync to end before it. The AppendEntries
time is the first one sent, to either follower (the two leave microseconds apart).
The first fifth of the requests (the baseline and warm-up) is skipped.
"""

import argparse
import re
import statistics
from collections import Counter


def read_events(path):
    """(time in us, thread name, pid, event, length or None) per traced syscall."""
    pattern = re.compile(r"\s*(\S+)\s+(\d+)/\d+\s+([\d.]+):\s+syscalls:(\S+):\s*(.*)")
    events = []
    with open(path) as f:
        for line in f:
            m = pattern.match(line)
            if not m:
                continue
            comm, pid, t, event, rest = m.groups()
            length = re.search(r"len: (0x[0-9a-f]+)", rest)
            events.append(
                (float(t) * 1e6, comm, pid, event, int(length.group(1), 16) if length else None)
            )
    return events


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("trace", help="output of perf script -F comm,pid,tid,time,event,trace")
    ap.add_argument("--request-len", type=int, default=288)
    ap.add_argument("--append-len", type=int, default=300)
    ap.add_argument("--ack-len", type=int, default=11)
    ap.add_argument("--reply-len", type=int, default=9)
    a = ap.parse_args()
    ev = read_events(a.trace)
    appends = Counter(e[2] for e in ev if e[3] == "sys_enter_sendto" and e[4] == a.append_len)
    if not appends:
        raise SystemExit("no AppendEntries found: check --append-len")
    leader = appends.most_common(1)[0][0]
    followers = {e[2] for e in ev if e[1].startswith("wal-") and e[2] != leader}

    def after(i, pred, within=400):
        for j in range(i + 1, min(i + within, len(ev))):
            if pred(ev[j]):
                return j
        return None

    def before(i, pred, lowest):
        for j in range(i - 1, lowest, -1):
            if pred(ev[j]):
                return j
        return None

    def send(length, pid=None):
        return lambda e: e[3] == "sys_enter_sendto" and e[4] == length and pid in (None, e[2])

    requests = [i for i, e in enumerate(ev) if send(a.request_len)(e)]
    rows = []
    for i in requests[len(requests) // 5 :]:
        t = ev[i][0]
        append = after(i, send(a.append_len, leader))
        reply = after(i, send(a.reply_len, leader))
        if append is None or reply is None:
            continue
        # The answer that committed: the last follower answer sent before the leader
        # answered the client; then that follower's last sync to end before it.
        ack = before(reply, lambda e: send(a.ack_len)(e) and e[2] in followers, append)
        if ack is None:
            continue
        follower = ev[ack][2]
        done = before(
            ack,
            lambda e: e[1].startswith("wal-") and e[2] == follower and e[3] == "sys_exit_fdatasync",
            append,
        )
        if done is None:
            continue
        fsync = before(
            done,
            lambda e: e[1:3] == ev[done][1:3] and e[3] == "sys_enter_fdatasync",
            append,
        )
        if fsync is None:
            continue
        rows.append(
            {
                "request -> AppendEntries sent": ev[append][0] - t,
                "AppendEntries sent -> the follower's fdatasync starts": ev[fsync][0] - ev[append][0],
                "that fdatasync": ev[done][0] - ev[fsync][0],
                "its end -> the follower's answer sent": ev[ack][0] - ev[done][0],
                "answer sent -> client's answer sent": ev[reply][0] - ev[ack][0],
                "request -> client's answer sent": ev[reply][0] - t,
            }
        )
    if not rows:
        raise SystemExit("no complete request found: check the lengths (and --processes)")
    print(f"{len(rows)} requests; the leader is process {leader}")
    for key in rows[0]:
        values = sorted(r[key] for r in rows)
        q = lambda p: values[min(len(values) - 1, int(p * len(values)))]
        print(f"{key:55s} p50 {statistics.median(values):7.1f} us   p25 {q(0.25):7.1f}   p75 {q(0.75):7.1f}")


if __name__ == "__main__":
    main()
