//! Scripted teaching scenarios: a cluster size, an initial history per node, a start
//! order, a fault schedule and expectations, in one small TOML file that runs
//! deterministically with any of the three protocols (docs/DESIGN.md, "Teaching").
//!
//! The vocabulary is one for all protocols, like etcd-io/raft's `testdata` scripts, so
//! that students can run one file with `--protocol raft`, `zab` and `paxos` and compare
//! the narrated timelines side by side.
//!
//! # Format
//! ```toml
//! name = "docs/PROTOCOLS.md scenario A: 5 servers started in order 1..5"
//! description = "printed before the timeline"       # optional
//! protocol = "zab"          # raft | zab | paxos; `cwb sim --protocol` overrides it
//! nodes = 5                 # voters, ids 1..=nodes
//! seed = 0                  # optional: network delays and randomized timeouts
//! end_ms = 6000             # optional: run until here (default: the last step/expect)
//! max_batch = 1             # optional: entries (Raft) / slots (Paxos) per replication message
//! backoff = false           # optional: Paxos retries a lost ballot at once (default true)
//! fifo = true               # optional: no message overtakes one sent earlier on its link
//!
//! [timing]                  # optional, ms; the names of cluster.toml's [timing]
//! heartbeat_ms = 50
//! election_timeout_min_ms = 150
//! election_timeout_max_ms = 300
//! finalize_wait_ms = 200
//!
//! [network]                 # optional
//! delay_min_ms = 0.5        # one-way delay, uniform in [min, max]
//! delay_max_ms = 2.0
//! loss = 0.0                # probability a message is lost
//! duplicate = 0.0           # probability a message is delivered twice
//! profile = "lan"           # or a named network profile / network file instead of
//!                           # the delays: lan, dc, cross-az, wan, lossy, raft-fig16
//!
//! [[history]]               # optional initial durable state (node = N or nodes = [..])
//! nodes = [1, 2, 3]
//! entries = [[1, 9]]        # (generation, count) pairs, oldest first
//!
//! [[step]]
//! at_ms = 0
//! action = "start"          # start | crash | restart | isolate | slow_disk | partition | heal
//!                           # | put | set_loss | drop | stop_drop
//! node = 1                  # or nodes = [1, 2]; crash/restart/isolate/put also take "leader"
//!
//! [[step]]
//! at_ms = 0
//! action = "drop"           # lose one kind of message on directed links
//! from = 1                  # or a list: from = [1, 2]
//! to = [3, 4, 5]            # one rule per link from a `from` node to a `to` node
//! kind = "AppendEntries"    # the protocol's name for the messages
//! until_ms = 400            # optional: stop dropping then (else `stop_drop` or `heal`)
//!
//! [[step]]
//! at_ms = 500
//! action = "client"         # a recipe client joins (the nodes then run the znode tree)
//! client = "client 1"       # its name in the timeline
//! recipe = "lock"           # lock | herd-lock | read | write | fair-election
//!                           # | unfair-election | register | discover
//! path = "/lock"            # the lock's, election's or service's node
//! hold_ms = 300             # optional: release after holding this long
//!
//! [[step]]
//! at_ms = 1000
//! action = "crash_client"   # or "release"; both take `client`
//! client = "client 1"
//!
//! [[expect]]
//! at_ms = 5000
//! leader = 3                # a node id, "any", "none" or "changed"
//! term = 1                  # the leader's term / epoch / ballot ("2.3") as the timeline prints it
//! following = [1, 2]        # these follow the leader
//! others_follow = true      # every running node but the leader follows it
//! states = { 4 = "down", 5 = "looking" }
//! delivered = 9             # entries every running node delivered (no-ops excluded)
//!                           # or per node: delivered = { 3 = 10, 4 = 9 }
//! holders = ["client 2"]    # the recipe clients holding a lock, leading or registered
//! ```
//!
//! Recipe clients ([`recipes::driver::Clients`], session timeout
//! [`run::CLIENT_SESSION_MS`]) are driven every 5 ms of virtual time; the timeline
//! narrates what each does ("client 3 watches /election/n-0000000002, the node before
//! its own"), and every grant passes the checks of `recipes::check`.
//!
//! Step fields: `start`, `crash` and `restart` (crash, then start again at once from the
//! durable records) take `node` or `nodes`; `isolate` one `node` (silent: packets
//! dropped, no connection reset); `partition` takes `groups = [[1, 2, 3], [4, 5]]`;
//! `heal` nothing; `set_loss` takes `loss`; `put` takes `node` (the node the client
//! talks to; followers forward or refuse as their protocol does), optional `key` and
//! `value` (`{n}` becomes the put's number; defaults `k{n}` and `v{n}`), `count` and
//! `every_ms` (default 10) to send several. `"leader"` resolves, when the step runs, to
//! the running node that leads the highest term.
//!
//! `drop` loses the messages of one `kind` sent from each `from` node to each `to` node
//! (a node id or a list), from `at_ms` until `until_ms`, a `stop_drop` on that link
//! (which takes `from`, `to` and an optional `kind`; without one it ends every drop on
//! the link) or a `heal` (which ends partitions and drops alike). The link's other
//! messages, and every message the other way, still arrive, and nothing is reordered
//! (with `delay_min_ms = delay_max_ms`, or with a `profile`, every link is FIFO). A message is dropped when it
//! would be delivered, and the timeline shows it, marked as dropped. Kinds are the
//! protocol's own names ([`protocols::Protocol::message_kind`]), compared ignoring case:
//! Raft's `RequestVote`, `RequestVoteResponse`, `PreVote`, `PreVoteResponse`,
//! `AppendEntries` (with entries), `Heartbeat` (an AppendEntries without) and
//! `AppendEntriesResponse`; ZAB's
//! `NOTIFICATION`, `FOLLOWERINFO`, `PROPOSAL`, `ACK`, `COMMIT`, `PING` and the other
//! learner messages; Paxos's `Prepare`, `Promise`, `Accept`, `Accepted`, `Nack`,
//! `Heartbeat`, `HeartbeatReply`, `CatchUp` and `Chosen`. A kind the protocol never sent in the whole run
//! fails the run with the kinds it did send (a typo, or a file for another protocol).
//! `delay` (`from`, `to`, `kind`, `extra_ms`, optional `until_ms`; ended by
//! `stop_delay`) makes those messages arrive later; `hold` (`from`, `to`, `kind`,
//! optional `count` and `until_ms`) takes them off the network until a `release` puts
//! them back, in order; `fifo = true` keeps every link in send order. These act in the
//! runner (`scenario/links.rs`), before each delivery.
//!
//! This is what scripts the Raft paper's Figure 8 (`scenarios/raft-figure-8.toml`,
//! §5.4.2); the same rules can hold back the `Promise`s or `Accepted`s that would let a
//! Paxos proposer finish its round ("Paxos Made Simple" §2.4, progress).
//!
//! History: `(generation, count)` means `count` entries written under that generation
//! (ZAB epoch: zxids `<e,1>..<e,count>`; Raft term; Paxos ballot round, the slots chosen);
//! see [`protocols::preload`] for each protocol's records.
//!
//! Expectations are checked at `at_ms` after everything before that instant ran and
//! before the steps of that instant. State names are one vocabulary: `leader` also
//! matches LEADING, `follower` FOLLOWING, `candidate` LOOKING, and back; `down` and `up`
//! say whether the node runs.
//!
//! # Layout
//! - [`spec`]: a validated [`Scenario`]; [`mod@file`]: the TOML format, parsed and checked.
//! - [`describe`]: short readable forms of each protocol's messages ([`Scripted`]).
//! - [`mod@run`]: drives the simulator and records the timeline.
//! - [`expect`]: checks the expectations against the running cluster.
//! - [`text`]: renders the narrated timeline; [`super::lamport`] the SVG diagram.

pub mod describe;
pub mod expect;
pub mod file;
mod links;
pub mod run;
pub mod spec;
pub mod text;

pub use describe::{Scripted, Vocabulary};
pub use expect::{CheckLine, CheckReport, Verdict};
pub use run::{run, run_with_bug, Item, ItemKind, NodeSummary, Outcome};
pub use spec::{Scenario, ScenarioError};
pub use text::{item_text, render, TextOptions};
