//! The commands a person gives a running in-process cluster: kill, restart, isolate,
//! partition, heal, loss and delay, leadership transfer, put and get, status. `cwb cluster` reads them from
//! standard input and `cwb serve` from its page; both parse and carry them out here, so
//! the words and the answers are the same in the terminal and in the browser.

use crate::cluster::LocalCluster;
use bytes::Bytes;
use protocols::{Describe, NodeId, Protocol};
use runtime::client::Client;
use std::time::{Duration, Instant};

/// The commands, one line.
pub const HELP: &str = "commands: kill N | kill-leader | restart N | isolate N | isolate-leader | partition 1,2/3 | heal | loss P | delay MS | transfer N | put KEY VALUE | get KEY | status | quit";

/// One command.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    /// Stop watching.
    Quit,
    /// Crash node N.
    Kill(NodeId),
    /// Crash the current leader.
    KillLeader,
    /// Start a killed node again from its data directory.
    Restart(NodeId),
    /// Cut node N off silently.
    Isolate(NodeId),
    /// Cut the current leader off silently.
    IsolateLeader,
    /// Split the network into groups (`partition 1,2/3,4,5`).
    Partition(Vec<Vec<NodeId>>),
    /// Remove every fault.
    Heal,
    /// Lose each message with this probability (0..=1).
    Loss(f64),
    /// Hold every message back this long.
    Delay(Duration),
    /// Ask the leader to hand its leadership to node N (a planned failover).
    Transfer(NodeId),
    /// Write a key.
    Put(String, String),
    /// Read a key (through the log).
    Get(String),
    /// Every node's role, generation, leader and commit point.
    Status,
}

/// Parses one line; `Ok(None)` for a blank one, `Err` with the usage for anything else.
pub fn parse(line: &str) -> Result<Option<Command>, String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let node = |i: usize, usage: &str| {
        words
            .get(i)
            .and_then(|w| w.parse::<NodeId>().ok())
            .ok_or_else(|| format!("usage: {usage}"))
    };
    let cmd = match words.as_slice() {
        [] => return Ok(None),
        ["quit" | "exit" | "q"] => Command::Quit,
        ["kill-leader"] => Command::KillLeader,
        ["kill", _] => Command::Kill(node(1, "kill N")?),
        ["restart", _] => Command::Restart(node(1, "restart N")?),
        ["isolate-leader"] => Command::IsolateLeader,
        ["isolate", _] => Command::Isolate(node(1, "isolate N")?),
        ["partition", groups] => Command::Partition(parse_groups(groups)?),
        ["heal"] => Command::Heal,
        ["loss", p] => match p.parse::<f64>() {
            Ok(p) if (0.0..=1.0).contains(&p) => Command::Loss(p),
            _ => return Err("usage: loss P (a probability, 0 to 1)".into()),
        },
        ["delay", ms] => match ms.parse::<u64>() {
            Ok(ms) if ms <= 10_000 => Command::Delay(Duration::from_millis(ms)),
            _ => return Err("usage: delay MS (0 to 10000)".into()),
        },
        ["transfer", _] => Command::Transfer(node(1, "transfer N")?),
        ["put", k, v] => Command::Put(k.to_string(), v.to_string()),
        ["get", k] => Command::Get(k.to_string()),
        ["status"] => Command::Status,
        _ => return Err(HELP.into()),
    };
    Ok(Some(cmd))
}

/// `1,2/3,4,5` as groups of node ids.
fn parse_groups(text: &str) -> Result<Vec<Vec<NodeId>>, String> {
    let usage = || "usage: partition 1,2/3,4,5 (groups of node ids split by /)".to_string();
    let groups: Vec<Vec<NodeId>> = text
        .split('/')
        .map(|g| {
            g.split(',')
                .filter(|w| !w.is_empty())
                .map(|w| w.parse::<NodeId>().map_err(|_| usage()))
                .collect::<Result<Vec<_>, _>>()
        })
        .collect::<Result<_, _>>()?;
    if groups.iter().all(Vec::is_empty) {
        return Err(usage());
    }
    Ok(groups)
}

/// `[   12.3 ms]`: time since `origin`, as every line of a live cluster starts.
pub fn stamp(origin: Instant) -> String {
    format!("[{:>9.1} ms]", origin.elapsed().as_secs_f64() * 1000.0)
}

/// `cannot restart node 3: address in use`; an error that names the node already
/// (`node 3: recovery: ...`) is not prefixed with it a second time.
pub fn cannot(verb: &str, id: NodeId, e: &dyn std::fmt::Display) -> String {
    let e = e.to_string();
    if e.starts_with(&format!("node {id}")) {
        format!("cannot {verb}: {e}")
    } else {
        format!("cannot {verb} node {id}: {e}")
    }
}

/// Kills the leader; the id killed, if any, and the line that says so.
pub async fn kill_leader<P: Protocol>(
    cluster: &mut LocalCluster<P>,
    origin: Instant,
) -> (Option<NodeId>, String) {
    let Some((leader, _)) = cluster.leader() else {
        return (None, format!("{} no leader to kill", stamp(origin)));
    };
    let (ok, line) = kill(cluster, leader, origin).await;
    (ok.then_some(leader), line)
}

/// Kills node `id`; whether it was running, and the line that says so.
pub async fn kill<P: Protocol>(
    cluster: &mut LocalCluster<P>,
    id: NodeId,
    origin: Instant,
) -> (bool, String) {
    match cluster.kill(id).await {
        Ok(_) => (
            true,
            format!(
                "{} *** killed node {id} (crash: its connections reset)",
                stamp(origin)
            ),
        ),
        Err(e) => (
            false,
            format!("{} {}", stamp(origin), cannot("kill", id, &e)),
        ),
    }
}

/// Restarts node `id`; the line that says so.
pub async fn restart<P: Protocol>(
    cluster: &mut LocalCluster<P>,
    id: NodeId,
    origin: Instant,
) -> String {
    match cluster.restart(id).await {
        Ok(()) => format!(
            "{} *** restarted node {id} from its data directory",
            stamp(origin)
        ),
        Err(e) => format!("{} {}", stamp(origin), cannot("restart", id, &e)),
    }
}

fn isolated(id: NodeId, origin: Instant) -> String {
    format!(
        "{} *** isolated node {id} (silent: packets dropped, sockets up)",
        stamp(origin)
    )
}

/// Carries out `cmd` (never [`Command::Quit`], which is the caller's) and returns the
/// lines to show.
pub async fn run<P: Protocol + Describe>(
    cluster: &mut LocalCluster<P>,
    cmd: &Command,
    origin: Instant,
) -> Vec<String> {
    let one = |s: String| vec![s];
    match cmd {
        Command::Quit => Vec::new(),
        Command::KillLeader => one(kill_leader(cluster, origin).await.1),
        Command::Kill(id) => one(kill(cluster, *id, origin).await.1),
        Command::Restart(id) => one(restart(cluster, *id, origin).await),
        Command::IsolateLeader => match cluster.leader() {
            Some((id, _)) => {
                cluster.isolate(id);
                one(isolated(id, origin))
            }
            None => one("no leader to isolate".into()),
        },
        Command::Isolate(id) => {
            if !cluster.ids().contains(id) {
                return one(format!("node {id} is not in the cluster"));
            }
            cluster.isolate(*id);
            one(isolated(*id, origin))
        }
        Command::Partition(groups) => {
            cluster.faults().partition(groups.clone());
            let shown: Vec<String> = groups
                .iter()
                .map(|g| {
                    let ids: Vec<String> = g.iter().map(ToString::to_string).collect();
                    format!("{{{}}}", ids.join(","))
                })
                .collect();
            one(format!(
                "{} *** partitioned the network: {} (and the rest)",
                stamp(origin),
                shown.join(" | ")
            ))
        }
        Command::Heal => {
            cluster.heal();
            one(format!("{} *** healed all faults", stamp(origin)))
        }
        Command::Loss(p) => {
            cluster.faults().set_drop_rate(*p);
            one(format!(
                "{} *** every message is now lost with probability {p}",
                stamp(origin)
            ))
        }
        Command::Delay(d) => {
            cluster.faults().set_delay(*d);
            one(format!(
                "{} *** every message is now held back {} ms",
                stamp(origin),
                d.as_millis()
            ))
        }
        Command::Transfer(to) => one(transfer(cluster, *to, origin).await),
        Command::Put(..) | Command::Get(..) => client_command(cluster.client(), cmd)
            .await
            .unwrap_or_default(),
        Command::Status => status(cluster),
    }
}

/// Asks the current leader to hand its leadership to `to`; the line that says so. The
/// new leader's election shows in the event lines that follow.
pub async fn transfer<P: Protocol>(
    cluster: &mut LocalCluster<P>,
    to: NodeId,
    origin: Instant,
) -> String {
    if !cluster.ids().contains(&to) {
        return format!("node {to} is not in the cluster");
    }
    let Some((leader, _)) = cluster.leader() else {
        return format!("{} no leader to transfer from", stamp(origin));
    };
    if leader == to {
        return format!("{} node {to} leads already", stamp(origin));
    }
    match cluster.transfer(leader, to).await {
        Ok(_) => format!(
            "{} *** asked leader {leader} to hand its leadership to node {to}",
            stamp(origin)
        ),
        Err(e) => format!("{} {}", stamp(origin), cannot("transfer from", leader, &e)),
    }
}

/// Carries out a put or a get through `client` (`None` for any other command): a
/// caller that shares the cluster behind a lock takes a client under it and waits for
/// the answer without it.
pub async fn client_command(mut client: Client, cmd: &Command) -> Option<Vec<String>> {
    let line = match cmd {
        Command::Put(k, v) => match client
            .put(Bytes::from(k.clone()), Bytes::from(v.clone()))
            .await
        {
            Ok(prev) => format!("ok (previous: {})", show(prev)),
            Err(e) => format!("put failed: {e}"),
        },
        Command::Get(k) => match client.get(Bytes::from(k.clone())).await {
            Ok(v) => format!("{k} = {}", show(v)),
            Err(e) => format!("get failed: {e}"),
        },
        _ => return None,
    };
    Some(vec![line])
}

/// One line per node: role, generation in the protocol's words, leader, commit point.
pub fn status<P: Protocol + Describe>(cluster: &LocalCluster<P>) -> Vec<String> {
    let v = P::vocabulary();
    cluster
        .ids()
        .into_iter()
        .map(|id| match cluster.node(id).and_then(|h| h.status()) {
            // The generation in the protocol's own words: a Paxos ballot as
            // round.node (`1.1`), not its packed number.
            Some(s) => format!(
                "  node {id}: {:<10} {} {:<6} leader {:<6} commit {:<8} applied {}",
                s.status.role.to_string(),
                v.generation,
                (v.show_term)(s.status.term),
                s.status.leader.map_or("-".to_string(), |l| l.to_string()),
                s.status.commit_index,
                s.applied
            ),
            None => format!("  node {id}: down"),
        })
        .collect()
}

fn show(v: Option<Bytes>) -> String {
    v.map_or("(none)".to_string(), |b| {
        String::from_utf8_lossy(&b).into_owned()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_that_names_the_node_is_not_prefixed_twice() {
        assert_eq!(
            cannot("restart", 3, &"node 3: recovery: bad record"),
            "cannot restart: node 3: recovery: bad record"
        );
        assert_eq!(
            cannot("kill", 3, &"address in use"),
            "cannot kill node 3: address in use"
        );
    }

    #[test]
    fn commands_parse_with_their_arguments() {
        assert_eq!(parse("  "), Ok(None));
        assert_eq!(parse("kill 2"), Ok(Some(Command::Kill(2))));
        assert_eq!(
            parse("partition 1,2/3"),
            Ok(Some(Command::Partition(vec![vec![1, 2], vec![3]])))
        );
        assert_eq!(parse("loss 0.25"), Ok(Some(Command::Loss(0.25))));
        assert_eq!(
            parse("delay 20"),
            Ok(Some(Command::Delay(Duration::from_millis(20))))
        );
        assert_eq!(
            parse("put a b"),
            Ok(Some(Command::Put("a".into(), "b".into())))
        );
        assert_eq!(parse("transfer 3"), Ok(Some(Command::Transfer(3))));
        assert!(parse("transfer x").is_err_and(|e| e.contains("transfer N")));
        assert!(parse("kill x").is_err_and(|e| e.contains("kill N")));
        assert!(parse("loss 2").is_err());
        assert!(parse("partition /").is_err());
        assert!(parse("dance").is_err_and(|e| e.starts_with("commands:")));
    }
}
