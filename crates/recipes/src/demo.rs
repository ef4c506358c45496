//! Narrated runs of each recipe for teaching (`cwb recipe NAME`): a few clients on a
//! simulated 3-node cluster, a client crash and a consensus leader crash, told as a
//! timeline ("client 3 watches /election/n-0000000002, the node before its own").
//! Every grant of the run passes the checks of [`crate::check`].

use crate::driver::Driver;
use protocols::Protocol;
use sim::SimConfig;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;
use znode::recipes::queue::{Access, QueueLock};
use znode::recipes::race::RaceLock;
use znode::recipes::registry::{Discovery, Registration};
use znode::recipes::{Recipe, Waiting};

/// The recipes that can be shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Demo {
    /// Exclusive lock, predecessor watch.
    Lock,
    /// Exclusive lock, everyone watching the parent (the herd effect).
    HerdLock,
    /// Shared read/write lock.
    RwLock,
    /// Fair election (sequential nodes, predecessor watch).
    FairElection,
    /// Unfair election (race for one ephemeral node).
    UnfairElection,
    /// Service registration and discovery.
    Discovery,
}

impl Demo {
    /// Every demo, by name.
    pub const ALL: [(&'static str, Demo); 6] = [
        ("lock", Demo::Lock),
        ("herd-lock", Demo::HerdLock),
        ("rw-lock", Demo::RwLock),
        ("fair-election", Demo::FairElection),
        ("unfair-election", Demo::UnfairElection),
        ("discovery", Demo::Discovery),
    ];
}

impl fmt::Display for Demo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = Demo::ALL
            .iter()
            .find(|(_, d)| d == self)
            .map_or("?", |(n, _)| n);
        f.write_str(name)
    }
}

impl FromStr for Demo {
    type Err = String;

    fn from_str(s: &str) -> Result<Demo, String> {
        Demo::ALL
            .iter()
            .find(|(n, _)| *n == s)
            .map(|(_, d)| *d)
            .ok_or_else(|| {
                let names: Vec<&str> = Demo::ALL.iter().map(|(n, _)| *n).collect();
                format!("unknown recipe {s:?} (one of {})", names.join(", "))
            })
    }
}

/// Session timeout of the demo clients.
const TIMEOUT_MS: u32 = 1000;

/// Runs `demo` on protocol `P` with `seed`; returns the narrated timeline.
pub fn run<P: Protocol>(demo: Demo, seed: u64) -> Result<Vec<String>, String> {
    let mut d = Driver::<P>::new(SimConfig::voters(3, seed), TIMEOUT_MS)?;
    let hold = Some(Duration::from_millis(100));
    let step = Duration::from_millis(50);
    let queue = |parent: &str, access, waiting, name: &str| -> Box<dyn Recipe> {
        Box::new(QueueLock::new(parent, access, waiting, name.as_bytes()))
    };
    match demo {
        Demo::Lock | Demo::HerdLock | Demo::FairElection => {
            let (parent, waiting) = match demo {
                Demo::HerdLock => ("/lock", Waiting::Herd),
                Demo::FairElection => ("/election", Waiting::Predecessor),
                _ => ("/lock", Waiting::Predecessor),
            };
            for i in 1..=4 {
                let name = format!("client {i}");
                let hold = if i == 1 || demo == Demo::FairElection {
                    None
                } else {
                    hold
                };
                d.add(
                    &name,
                    queue(parent, Access::Exclusive, waiting, &name),
                    hold,
                );
                d.run_for(step)?;
            }
            d.run_for(Duration::from_millis(200))?;
            d.crash_client(0);
            d.run_for(Duration::from_millis(300))?;
            d.crash_leader()?;
            d.run_for(Duration::from_secs(4))?;
        }
        Demo::RwLock => {
            let parts = [
                ("reader 1", Access::Read),
                ("reader 2", Access::Read),
                ("writer 1", Access::Write),
                ("reader 3", Access::Read),
                ("writer 2", Access::Write),
            ];
            for (name, access) in parts {
                d.add(name, queue("/rw", access, Waiting::Predecessor, name), hold);
                d.run_for(step)?;
            }
            d.run_for(Duration::from_secs(2))?;
        }
        Demo::UnfairElection => {
            for i in 1..=3 {
                let name = format!("client {i}");
                d.add(
                    &name,
                    Box::new(RaceLock::new("/leader", name.as_bytes())),
                    None,
                );
            }
            d.run_for(Duration::from_millis(300))?;
            if let Some(first) = d.checker.grants.first().map(|g| g.client) {
                d.crash_client(first);
            }
            d.run_for(Duration::from_secs(3))?;
        }
        Demo::Discovery => {
            d.add(
                "provider 1",
                Box::new(Registration::new("/svc", b"10.0.0.1:80")),
                None,
            );
            d.add(
                "provider 2",
                Box::new(Registration::new("/svc", b"10.0.0.2:80")),
                None,
            );
            d.run_for(Duration::from_millis(300))?;
            d.add("consumer", Box::new(Discovery::new("/svc")), None);
            d.run_for(Duration::from_millis(300))?;
            let line = format!("consumer sees {}", d.view(2).join(", "));
            d.narration.push(line);
            d.crash_client(0);
            d.run_for(Duration::from_millis(300))?;
            d.crash_leader()?;
            d.run_for(Duration::from_secs(3))?;
            let line = format!("consumer sees {}", d.view(2).join(", "));
            d.narration.push(line);
        }
    }
    let mut lines = vec![format!(
        "{demo} on {} (seed {seed}), 3 nodes, session timeout {TIMEOUT_MS} ms",
        P::NAME
    )];
    lines.append(&mut d.narration);
    lines.push(format!(
        "checked: {} grants, no two holders at once, fencing tokens growing: {:?}",
        d.checker.grants.len(),
        d.checker.grants.iter().map(|g| g.token).collect::<Vec<_>>()
    ));
    Ok(lines)
}
