//! Redis Cluster's messages in the specification's words (`PING`, `PONG`, `FAIL`,
//! `UPDATE`, `FAILOVER_AUTH_REQUEST`/`ACK`, `MFSTART`) and the replication link's
//! (`PSYNC`, `+FULLRESYNC`, the stream, `REPLCONF ACK`), for timelines and diagrams.
//! Pings, pongs and acknowledgements are routine.

use super::{Header, Redis, RedisMessage};
use crate::describe::{Describe, LogEntry, Vocabulary};
use crate::Command;

fn header_text(h: &Header) -> String {
    let role = match h.master {
        None => format!("master, {} slot range(s)", h.slots.len()),
        Some(m) => format!("replica of n{m}"),
    };
    let failing: Vec<String> = h
        .gossip
        .iter()
        .filter(|(_, health)| *health != super::Health::Ok)
        .map(|(id, health)| format!("n{id} {health:?}"))
        .collect();
    let mut text = format!(
        "{role}, currentEpoch {}, configEpoch {}, offset {}",
        h.current_epoch, h.config_epoch, h.offset
    );
    if h.mf_paused {
        text.push_str(", PAUSED");
    }
    if !failing.is_empty() {
        text.push_str(&format!(", gossip: {}", failing.join(" ")));
    }
    text
}

impl Describe for Redis {
    fn vocabulary() -> Vocabulary {
        Vocabulary {
            protocol: "redis",
            generation: <Self as crate::Protocol>::GENERATION,
            show_term: <Self as crate::Protocol>::show_generation,
            show_entries: |first, last, _| {
                if first == last {
                    format!("offset {first}")
                } else {
                    format!("offsets {first}..{last}")
                }
            },
            log_legend: "offset 4 = the 4th command of a node's replication stream",
        }
    }

    fn log_view(&self) -> Vec<LogEntry> {
        (1..=self.stream.offset())
            .map(|index| LogEntry {
                index,
                generation: self.stream.replid() >> 16,
                committed: index <= self.applied,
            })
            .collect()
    }

    fn describe(msg: &RedisMessage, command: &dyn Fn(&Command) -> String) -> String {
        let commands = |cs: &[Command]| cs.iter().map(command).collect::<Vec<_>>().join(", ");
        match msg {
            RedisMessage::Ping(h) => format!("PING ({})", header_text(h)),
            RedisMessage::Pong(h) => format!("PONG ({})", header_text(h)),
            RedisMessage::Fail { node } => format!("FAIL n{node}"),
            RedisMessage::Update {
                node,
                config_epoch,
                slots,
            } => {
                format!(
                    "UPDATE: n{node} serves {} slot range(s) at configEpoch {config_epoch}",
                    slots.len()
                )
            }
            RedisMessage::AuthRequest {
                current_epoch,
                master,
                force,
                ..
            } => format!(
                "FAILOVER_AUTH_REQUEST epoch {current_epoch} for n{master}'s slots{}",
                if *force { " (FORCEACK)" } else { "" }
            ),
            RedisMessage::AuthAck { epoch } => format!("FAILOVER_AUTH_ACK epoch {epoch}"),
            RedisMessage::MfStart => "MFSTART".into(),
            RedisMessage::Psync { replid, offset } => format!("PSYNC {replid:x} {offset}"),
            RedisMessage::FullResync {
                replid,
                commands: cs,
            } => {
                format!(
                    "+FULLRESYNC {replid:x}: {} command(s) [{}]",
                    cs.len(),
                    commands(cs)
                )
            }
            RedisMessage::Continue {
                replid,
                from,
                commands: cs,
            } => {
                format!(
                    "+CONTINUE {replid:x} from offset {from}: [{}]",
                    commands(cs)
                )
            }
            RedisMessage::Stream {
                from, commands: cs, ..
            } if cs.is_empty() => format!("replication ping at offset {}", from.saturating_sub(1)),
            RedisMessage::Stream {
                from, commands: cs, ..
            } => {
                format!("stream from offset {from}: [{}]", commands(cs))
            }
            RedisMessage::ReplAck { offset } => format!("REPLCONF ACK {offset}"),
        }
    }

    // `narration`: the trait's default. Redis Cluster narrates no per-write step
    // (replication is an asynchronous stream, `PSYNC` only on (re)connection) and has
    // no commit point, so every line it narrates is a decision.

    fn routine(msg: &RedisMessage) -> bool {
        match msg {
            RedisMessage::Ping(h) | RedisMessage::Pong(h) => {
                !h.mf_paused
                    && h.gossip
                        .iter()
                        .all(|(_, health)| *health == super::Health::Ok)
            }
            RedisMessage::ReplAck { .. } => true,
            // The master's replication ping (`repl-ping-replica-period`).
            RedisMessage::Stream { commands, .. } => commands.is_empty(),
            _ => false,
        }
    }
}
