//! `cwb config`, `cwb put`, `cwb get`, `cwb status`: talk to a cluster described by a
//! config file. With `[tls]` in the file, every command here dials TLS and checks the
//! nodes' certificates against the file's CA.

use anyhow::Context;
use bytes::Bytes;
use runtime::client::{self, Client};
use runtime::config::{ClusterConfig, ProtocolKind};
use std::path::PathBuf;
use std::time::Duration;

#[derive(clap::Args, Debug)]
pub struct ConfigArgs {
    /// raft, zab or paxos.
    #[arg(long, default_value = "raft")]
    protocol: ProtocolKind,
    /// Number of nodes.
    #[arg(long, default_value_t = 3)]
    nodes: u64,
    /// Node N gets peer port BASE+N and client port BASE+100+N.
    #[arg(long, default_value_t = 7000)]
    base_port: u16,
    /// Write the config to this file instead of stdout.
    #[arg(long, short)]
    out: Option<PathBuf>,
    /// TLS on both ports: make a self-signed cluster CA and a certificate per node in
    /// `<out's stem>-tls/` next to the config (keys mode 0600) and refer to them in a
    /// `[tls]` section. Needs --out.
    #[arg(long, requires = "out")]
    tls: bool,
    /// The replicated state machine: kv, or znode (ZooKeeper's tree, for `cwb zk`).
    #[arg(long, default_value = "kv", value_name = "kv|znode")]
    state_machine: kv::StateMachineKind,
}

#[derive(clap::Args, Debug)]
pub struct PutArgs {
    /// The cluster's config file.
    #[arg(long)]
    config: PathBuf,
    /// Key.
    key: String,
    /// Value.
    value: String,
}

#[derive(clap::Args, Debug)]
pub struct GetArgs {
    /// The cluster's config file.
    #[arg(long)]
    config: PathBuf,
    /// Key.
    key: String,
}

#[derive(clap::Args, Debug)]
pub struct StatusArgs {
    /// The cluster's config file.
    #[arg(long)]
    config: PathBuf,
}

pub fn config(args: ConfigArgs) -> anyhow::Result<()> {
    let mut cfg = ClusterConfig::loopback(args.protocol, args.nodes, args.base_port)?;
    if args.state_machine != kv::StateMachineKind::Kv {
        cfg.state_machine = Some(args.state_machine.to_string());
    }
    let Some(out) = args.out else {
        cfg.validate()?;
        print!(
            "{}",
            toml::to_string(&cfg).context("serializing the config")?
        );
        return Ok(());
    };
    let dir = out.parent().unwrap_or(std::path::Path::new(""));
    if args.tls {
        let stem = out
            .file_stem()
            .map_or("cluster".into(), |s| s.to_string_lossy().into_owned());
        let tls_dir = PathBuf::from(format!("{stem}-tls"));
        cfg = cfg.with_new_tls(dir, &tls_dir)?;
        println!(
            "wrote a cluster CA and {} node certificates to {} (keys mode 0600)",
            args.nodes,
            dir.join(&tls_dir).display()
        );
    }
    cfg.validate_in(dir)?;
    let text = toml::to_string(&cfg).context("serializing the config")?;
    write_private(&out, &text)?;
    println!(
        "wrote {} (it holds the cluster secret: mode 0600)",
        out.display()
    );
    Ok(())
}

/// Writes a new file readable by its owner only (the config holds the secret).
fn write_private(path: &std::path::Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot create {} (it must not exist yet)", path.display()))?;
    file.write_all(text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}

fn client_for(path: &std::path::Path) -> anyhow::Result<Client> {
    let cfg = ClusterConfig::load(path)?;
    let tls = cfg.client_tls();
    Ok(Client::new(cfg.clients).with_tls(tls))
}

pub async fn put(args: PutArgs) -> anyhow::Result<()> {
    let mut c = client_for(&args.config)?;
    let prev = c
        .put(Bytes::from(args.key), Bytes::from(args.value))
        .await?;
    println!(
        "ok (committed via node {}; previous value: {})",
        c.leader_guess().unwrap_or(0),
        show(prev)
    );
    Ok(())
}

pub async fn get(args: GetArgs) -> anyhow::Result<()> {
    let mut c = client_for(&args.config)?;
    let v = c.get(Bytes::from(args.key.clone())).await?;
    println!("{} = {}", args.key, show(v));
    Ok(())
}

/// The words of the protocol a node reports running (Raft's for an unknown name), so
/// that a Paxos ballot reads `1.1` rather than its packed number.
fn vocabulary(protocol: &str) -> protocols::Vocabulary {
    use protocols::Describe;
    match protocol {
        "zab" => protocols::zab::Zab::vocabulary(),
        "paxos" => protocols::paxos::Paxos::vocabulary(),
        _ => protocols::raft::Raft::vocabulary(),
    }
}

pub async fn status(args: StatusArgs) -> anyhow::Result<()> {
    let cfg = ClusterConfig::load(&args.config)?;
    let tls = cfg.client_tls();
    for (id, addr) in &cfg.clients {
        match client::status_with(*addr, tls.as_ref(), Duration::from_secs(2)).await {
            Ok(s) => println!(
                "node {id} ({addr}): {} {:<10} {} {:<6} leader {:<6} commit {:<8} applied {}",
                s.protocol,
                s.status.role.to_string(),
                vocabulary(&s.protocol).generation,
                (vocabulary(&s.protocol).show_term)(s.status.term),
                s.status.leader.map_or("-".to_string(), |l| l.to_string()),
                s.status.commit_index,
                s.applied
            ),
            Err(e) => println!("node {id} ({addr}): unreachable ({e})"),
        }
    }
    Ok(())
}

fn show(v: Option<Bytes>) -> String {
    v.map_or("(none)".to_string(), |b| {
        String::from_utf8_lossy(&b).into_owned()
    })
}

#[derive(clap::Args, Debug)]
pub struct IsolateArgs {
    /// The cluster's config file.
    #[arg(long)]
    config: PathBuf,
    /// The node to cut off: its own transport drops all its traffic both ways (silent;
    /// sockets stay up).
    #[arg(long)]
    id: protocols::NodeId,
}

/// Isolates one node of a process cluster (through its own fault filter).
pub async fn isolate(args: IsolateArgs) -> anyhow::Result<()> {
    let cfg = ClusterConfig::load(&args.config)?;
    let addr = *cfg
        .clients
        .get(&args.id)
        .ok_or(runtime::config::ConfigError::UnknownNode(args.id))?;
    client::fault_with(
        addr,
        cfg.client_tls().as_ref(),
        args.id,
        &cfg.key,
        client::Fault::Isolate { node: args.id },
        Duration::from_secs(2),
    )
    .await?;
    println!("node {} isolated", args.id);
    Ok(())
}

#[derive(clap::Args, Debug)]
pub struct TransferArgs {
    /// The cluster's config file.
    #[arg(long)]
    config: PathBuf,
    /// The node that should lead next.
    #[arg(long)]
    to: protocols::NodeId,
    /// How long to wait for it to lead, in milliseconds.
    #[arg(long, default_value_t = 5000)]
    wait_ms: u64,
}

/// The leader of the highest term among the nodes' answers to a status request:
/// (id, term), with the nodes' protocol name.
async fn current_leader(
    cfg: &runtime::config::Validated,
) -> Option<(protocols::NodeId, u64, String)> {
    let tls = cfg.client_tls();
    let mut best: Option<(protocols::NodeId, u64, String)> = None;
    for addr in cfg.clients.values() {
        if let Ok(s) = client::status_with(*addr, tls.as_ref(), Duration::from_millis(500)).await {
            if s.status.role.is_leader() && best.as_ref().is_none_or(|b| s.status.term > b.1) {
                best = Some((s.id, s.status.term, s.protocol));
            }
        }
    }
    best
}

/// A planned failover on a running cluster: asks its leader to hand its leadership to
/// `--to` (Raft's TimeoutNow, ZAB's designated leader, Paxos's takeover), proved with
/// the cluster's secret, and waits until that node leads.
pub async fn transfer(args: TransferArgs) -> anyhow::Result<()> {
    let cfg = ClusterConfig::load(&args.config)?;
    let target_addr = *cfg
        .clients
        .get(&args.to)
        .ok_or(runtime::config::ConfigError::UnknownNode(args.to))?;
    let (leader, term, protocol) = current_leader(&cfg)
        .await
        .context("no node answers as the leader: nothing to transfer")?;
    let words = vocabulary(&protocol);
    if leader == args.to {
        println!(
            "node {leader} already leads ({} {})",
            words.generation,
            (words.show_term)(term)
        );
        return Ok(());
    }
    let addr = *cfg
        .clients
        .get(&leader)
        .ok_or(runtime::config::ConfigError::UnknownNode(leader))?;
    let tls = cfg.client_tls();
    let started = std::time::Instant::now();
    client::fault_with(
        addr,
        tls.as_ref(),
        leader,
        &cfg.key,
        client::Fault::TransferLeadership { to: args.to },
        Duration::from_secs(2),
    )
    .await
    .map_err(|e| anyhow::anyhow!(fault_failure(leader, &e)))?;
    let deadline = started + Duration::from_millis(args.wait_ms);
    loop {
        let now = client::status_with(target_addr, tls.as_ref(), Duration::from_millis(500))
            .await
            .ok()
            .filter(|s| s.status.role.is_leader() && s.status.term > term);
        if let Some(s) = now {
            println!(
                "node {} leads ({} {}), {:.1} ms after node {leader} was asked to hand over",
                args.to,
                words.generation,
                (words.show_term)(s.status.term),
                started.elapsed().as_secs_f64() * 1000.0
            );
            return Ok(());
        }
        if std::time::Instant::now() >= deadline {
            let who = current_leader(&cfg)
                .await
                .map_or("no node".to_string(), |(id, t, _)| {
                    format!("node {id} ({} {})", words.generation, (words.show_term)(t))
                });
            anyhow::bail!(
                "node {} does not lead {} ms after the request; {who} leads now (a target \
                 that is behind or cut off cannot take over)",
                args.to,
                args.wait_ms
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Why a fault command to node `id` failed, naming the node once: the client's
/// errors speak of "node refused" and of a leader, which mean nothing here.
fn fault_failure(id: u64, e: &client::ClientError) -> String {
    match e {
        client::ClientError::Refused(why) => format!("node {id} refused: {why}"),
        client::ClientError::Timeout(t) => format!("node {id} did not answer within {t:?}"),
        other => format!("node {id}: {other}"),
    }
}

/// Removes injected faults on every node of a process cluster.
pub async fn heal(args: StatusArgs) -> anyhow::Result<()> {
    let cfg = ClusterConfig::load(&args.config)?;
    let tls = cfg.client_tls();
    for (id, addr) in &cfg.clients {
        match client::fault_with(
            *addr,
            tls.as_ref(),
            *id,
            &cfg.key,
            client::Fault::Heal,
            Duration::from_secs(2),
        )
        .await
        {
            Ok(()) => println!("node {id} healed"),
            Err(e) => println!("{}", fault_failure(*id, &e)),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_fault_command_names_its_node_once() {
        let refused = client::ClientError::Refused("fault command refused: no valid proof".into());
        assert_eq!(
            fault_failure(3, &refused),
            "node 3 refused: fault command refused: no valid proof"
        );
        let late = fault_failure(2, &client::ClientError::Timeout(Duration::from_secs(2)));
        assert_eq!(late, "node 2 did not answer within 2s");
        assert_eq!(fault_failure(2, &refused).matches("node").count(), 1);
    }
}
