//! A cluster of hosts on one machine: one Linux network namespace per node, each with
//! its own address on a private /24, joined by veth pairs to a bridge in the root
//! namespace (where the benchmark and its clients run). Nodes then bind distinct
//! addresses on a real (virtual) Ethernet segment, so the LAN configuration path of
//! `cluster.toml` (one address per host, the same ports everywhere) is exercised
//! without several machines. [`crate::process_cluster::ProcessCluster`] runs each node
//! under `ip netns exec` when asked to ([`crate::cluster::ClusterOptions::namespaces`]).
//!
//! Needs root (or CAP_NET_ADMIN) and iproute2's `ip`; [`Namespaces::create`] says
//! which is missing otherwise, and callers skip with that message. Everything made
//! here is removed when the [`Namespaces`] is dropped (deleting a namespace deletes
//! the veth end inside it, and with it its peer).

use protocols::NodeId;
use std::net::Ipv4Addr;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use thiserror::Error;

/// Why the namespaces could not be made.
#[derive(Debug, Error)]
pub enum NetnsError {
    /// Not root, or no `ip` command: the caller should skip.
    #[error("network namespaces unavailable: {0}")]
    Unavailable(String),
    /// An `ip` command failed.
    #[error("`ip {args}` failed: {stderr}")]
    Command {
        /// Its arguments.
        args: String,
        /// What it printed.
        stderr: String,
    },
}

/// Distinguishes the namespace sets of one process (tests may run several at once).
static NEXT_SET: AtomicU32 = AtomicU32::new(0);

/// One namespace per node, a bridge joining them, and the root namespace's address
/// on it.
#[derive(Debug)]
pub struct Namespaces {
    tag: String,
    subnet: [u8; 3],
    nodes: Vec<NodeId>,
}

fn ip(args: &[&str]) -> Result<(), NetnsError> {
    let out = Command::new("ip").args(args).output().map_err(|e| {
        NetnsError::Unavailable(format!("cannot run `ip` (Debian package iproute2): {e}"))
    })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(NetnsError::Command {
            args: args.join(" "),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

/// Whether this process may create namespaces: effective uid 0 (read from
/// /proc/self/status, so no libc call is needed).
fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|e| e == "0"))
        })
        .unwrap_or(false)
}

impl Namespaces {
    /// Makes a namespace for each of `nodes` (ids 1-253), with address
    /// `10.a.b.<id>/24`, and a bridge holding `10.a.b.254` in the root namespace.
    pub fn create(nodes: &[NodeId]) -> Result<Namespaces, NetnsError> {
        if !is_root() {
            return Err(NetnsError::Unavailable(
                "creating network namespaces needs root".into(),
            ));
        }
        if let Some(bad) = nodes.iter().find(|&&n| n == 0 || n > 253) {
            return Err(NetnsError::Unavailable(format!(
                "node id {bad} does not fit a /24 host address"
            )));
        }
        let set = NEXT_SET.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        // Short enough for the 15-byte interface names below.
        let tag = format!("{:x}", (pid.wrapping_mul(64).wrapping_add(set)) & 0xF_FFFF);
        let mixed = pid.wrapping_mul(2_654_435_761).wrapping_add(set);
        let subnet = [10, 100 + (mixed % 100) as u8, ((mixed >> 8) % 256) as u8];
        let made = Namespaces {
            tag,
            subnet,
            nodes: Vec::new(),
        };
        made.build(nodes)
    }

    fn build(mut self, nodes: &[NodeId]) -> Result<Namespaces, NetnsError> {
        let bridge = self.bridge();
        ip(&["link", "add", &bridge, "type", "bridge"])?;
        // From here on, dropping `self` removes what was made.
        let root = format!("{}/24", self.root_addr());
        ip(&["addr", "add", &root, "dev", &bridge])?;
        ip(&["link", "set", &bridge, "up"])?;
        for &id in nodes {
            let ns = self.namespace(id);
            ip(&["netns", "add", &ns])?;
            self.nodes.push(id);
            let (host_end, node_end) = (
                format!("cw{}h{id}", self.tag),
                format!("cw{}n{id}", self.tag),
            );
            ip(&[
                "link", "add", &host_end, "type", "veth", "peer", "name", &node_end,
            ])?;
            ip(&["link", "set", &node_end, "netns", &ns])?;
            ip(&["link", "set", &host_end, "master", &bridge])?;
            ip(&["link", "set", &host_end, "up"])?;
            let addr = format!("{}/24", self.addr(id));
            ip(&[
                "netns", "exec", &ns, "ip", "addr", "add", &addr, "dev", &node_end,
            ])?;
            ip(&["netns", "exec", &ns, "ip", "link", "set", &node_end, "up"])?;
            ip(&["netns", "exec", &ns, "ip", "link", "set", "lo", "up"])?;
        }
        Ok(self)
    }

    fn bridge(&self) -> String {
        format!("cw{}br", self.tag)
    }

    /// The namespace of `id` (for `ip netns exec`).
    pub fn namespace(&self, id: NodeId) -> String {
        format!("cwb-{}-n{id}", self.tag)
    }

    /// The address of node `id` inside its namespace.
    pub fn addr(&self, id: NodeId) -> Ipv4Addr {
        let [a, b, c] = self.subnet;
        Ipv4Addr::new(a, b, c, id as u8)
    }

    /// The root namespace's address on the bridge (where clients connect from).
    pub fn root_addr(&self) -> Ipv4Addr {
        let [a, b, c] = self.subnet;
        Ipv4Addr::new(a, b, c, 254)
    }

    /// The command that runs `program` inside node `id`'s namespace.
    pub fn command(&self, id: NodeId, program: &std::path::Path) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.namespace(id)]).arg(program);
        c
    }
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        for &id in &self.nodes {
            let _ = ip(&["netns", "del", &self.namespace(id)]);
        }
        let _ = ip(&["link", "del", &self.bridge()]);
    }
}

/// Whether a namespace of this name exists (for tests that check the clean-up).
pub fn exists(name: &str) -> bool {
    Command::new("ip")
        .args(["netns", "list"])
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .any(|l| l.split_whitespace().next() == Some(name))
        })
        .unwrap_or(false)
}
