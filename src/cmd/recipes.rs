//! `cwb bench --measure recipes`: the recipes' failover per protocol, measured in the
//! deterministic simulator (virtual time: the protocols' and the recipes' own delays,
//! not this machine's), printed as a table and written as JSON beside the bench
//! results (`recipes.json`).

use anyhow::{anyhow, Context};
use drivers::with_protocol;
use protocols::ProtocolKind;
use recipes::measure::{figures, RecipeFigures, SESSION_TIMEOUT_MS};
use std::path::Path;
use std::time::Duration;

/// Clients queued on the lock in the notification measure.
const QUEUED_CLIENTS: usize = 5;

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Runs the measures for `protocols` over `seeds` seeds and reports them.
pub fn run(protocols: &[ProtocolKind], seeds: u64, out: &Path) -> anyhow::Result<()> {
    let mut rows: Vec<RecipeFigures> = Vec::new();
    for &kind in protocols {
        eprintln!("recipes: {kind}, {seeds} seeds ...");
        let row = with_protocol!(kind, P => figures::<P>(seeds, QUEUED_CLIENTS))
            .map_err(|e| anyhow!("recipes on {kind}: {e}"))?;
        rows.push(row);
    }
    println!(
        "\nRecipe failover (simulated 3-node cluster, session timeout {SESSION_TIMEOUT_MS} ms, {seeds} seeds; ms as min / median / max)"
    );
    println!(
        "{:<7} {:>26} {:>26} {:>22}",
        "", "holder crash -> next holds", "leader crash -> next holds", "notifications/hand-over"
    );
    println!(
        "{:<7} {:>26} {:>26} {:>11} {:>10}",
        "", "(session expiry)", "(sessions survive)", "herd", "predecessor"
    );
    for r in &rows {
        let spread =
            |s: &[Duration; 3]| format!("{:.0} / {:.0} / {:.0}", ms(s[0]), ms(s[1]), ms(s[2]));
        println!(
            "{:<7} {:>26} {:>26} {:>11.2} {:>10.2}",
            r.protocol,
            spread(&r.expiry),
            spread(&r.leader_crash),
            r.herd_notifications,
            r.predecessor_notifications
        );
    }
    println!(
        "(notifications: {QUEUED_CLIENTS} clients queued on one lock, each holding it 20 ms in turn)"
    );
    let json = serde_json::json!({
        "session_timeout_ms": SESSION_TIMEOUT_MS,
        "queued_clients": QUEUED_CLIENTS,
        "seeds": seeds,
        "protocols": rows.iter().map(|r| serde_json::json!({
            "protocol": r.protocol,
            "expiry_ms": r.expiry.iter().map(|d| ms(*d)).collect::<Vec<_>>(),
            "leader_crash_ms": r.leader_crash.iter().map(|d| ms(*d)).collect::<Vec<_>>(),
            "herd_notifications_per_handover": r.herd_notifications,
            "predecessor_notifications_per_handover": r.predecessor_notifications,
        })).collect::<Vec<_>>(),
    });
    let path = out.with_file_name("recipes.json");
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(&path, serde_json::to_string_pretty(&json)?)
        .with_context(|| format!("writing {}", path.display()))?;
    println!("recipe figures written to {}", path.display());
    Ok(())
}
