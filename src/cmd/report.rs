//! `cwb report RESULTS.json... -o DIR`: a self-contained HTML report and a Markdown
//! report with SVG plots; with two or more files, a side-by-side comparison.

use anyhow::Context;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Results files written by `cwb bench` (the first is the baseline of a comparison).
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// Output directory.
    #[arg(long, short, default_value = "reports/out")]
    out: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let mut inputs = Vec::new();
    for path in &args.inputs {
        let results =
            reports::results::load(path).with_context(|| format!("loading {}", path.display()))?;
        inputs.push((path.clone(), results));
    }
    let paths = reports::write_report(&inputs, &args.out).context("writing the report")?;
    println!("report: {}", paths.html.display());
    println!("markdown: {}", paths.markdown.display());
    Ok(())
}
