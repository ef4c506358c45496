//! Renders a report from results files without the `cwb` binary:
//! `cargo run -p reports --example render -- reports/fixtures/small.json -o /tmp/report`

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut inputs = Vec::new();
    let mut out = PathBuf::from("reports/out");
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "-o" {
            out = PathBuf::from(args.next().ok_or("-o needs a directory")?);
        } else {
            let path = PathBuf::from(arg);
            let results = reports::load(&path)?;
            inputs.push((path, results));
        }
    }
    let written = reports::write_report(&inputs, &out)?;
    println!("{}", written.html.display());
    println!("{}", written.markdown.display());
    Ok(())
}
