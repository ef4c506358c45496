//! The simulator's promise: it runs the protocols on virtual time, with no async
//! runtime, sockets or threads anywhere below it. The dependency graph enforces it;
//! this test keeps it enforced: no crate the simulator (or the teaching crate on top of
//! it) depends on, directly or not, may pull in tokio.

use std::process::Command;

fn normal_dependencies(package: &str) -> String {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "tree",
            "--offline",
            "-e",
            "normal",
            "--prefix",
            "none",
            "-p",
            package,
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("running cargo tree");
    assert!(
        out.status.success(),
        "cargo tree -p {package} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn nothing_below_the_simulator_depends_on_tokio() {
    for package in ["protocols", "storage", "kv", "lincheck", "sim", "teaching"] {
        let tree = normal_dependencies(package);
        assert!(tree.contains(package), "{tree}");
        let async_crates: Vec<&str> = tree
            .lines()
            .filter(|l| l.starts_with("tokio") || l.starts_with("mio "))
            .collect();
        assert!(
            async_crates.is_empty(),
            "`cargo tree -p {package}` includes {async_crates:?}"
        );
    }
}
