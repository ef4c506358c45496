//! `cwb lincheck FILE`: is a recorded client history of the key-value store
//! linearizable? (the checker: `lincheck`)
//!
//! Prints the history's size, then the verdict; a violation comes with a small
//! sub-history of one key that no order of operations explains, in words. Exit status:
//! 0 linearizable, 1 not linearizable, 2 undecided within the limits, or bad input (an
//! unreadable file, or a malformed one: the error names the line).

use anyhow::Context;
use lincheck::formats::{self, Format};
use lincheck::{check, Limits, Verdict};
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Exit status: the history is linearizable.
pub const EXIT_LINEARIZABLE: i32 = 0;
/// Exit status: it is not (the anomaly is printed).
pub const EXIT_NOT_LINEARIZABLE: i32 = 1;
/// Exit status: no verdict within the limits, or the input is bad.
pub const EXIT_UNDECIDED: i32 = 2;

/// The history file formats.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum FormatArg {
    /// One JSON object per line, times in nanoseconds (what cwb writes).
    Cwb,
    /// Jepsen `jepsen.util` log lines of one register (read, write, cas).
    JepsenRegister,
    /// Porcupine's key-value logs: one EDN map per line (get, put, append).
    PorcupineKv,
}

impl From<FormatArg> for Format {
    fn from(f: FormatArg) -> Format {
        match f {
            FormatArg::Cwb => Format::Cwb,
            FormatArg::JepsenRegister => Format::JepsenRegister,
            FormatArg::PorcupineKv => Format::PorcupineKv,
        }
    }
}

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The history file.
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// Its format; by default guessed from its first meaningful line (else cwb).
    #[arg(long, value_enum)]
    format: Option<FormatArg>,
    /// Seconds the verdict may take; past them it is "undecided" (exit status 2).
    #[arg(long, value_name = "SECS", default_value_t = 10.0)]
    time_limit: f64,
    /// Also stop at this many search steps (a limit that gives the same verdict on every
    /// machine).
    #[arg(long, value_name = "N")]
    max_steps: Option<u64>,
    /// Seconds to shrink a violation to a minimal sub-history (0: show all of the key's
    /// operations).
    #[arg(long, value_name = "SECS", default_value_t = 2.0)]
    shrink_time: f64,
}

/// Runs the check and exits with its status (never returns).
pub fn run(args: Args) -> anyhow::Result<()> {
    let code = match lincheck(&args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("cwb lincheck: {e:#}");
            EXIT_UNDECIDED
        }
    };
    std::process::exit(code)
}

fn seconds(value: f64, flag: &str) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(value)
        .with_context(|| format!("{flag} {value}: expected a number of seconds, 0 or more"))
}

fn lincheck(args: &Args) -> anyhow::Result<i32> {
    let limits = Limits {
        time: Some(seconds(args.time_limit, "--time-limit")?),
        steps: args.max_steps,
        shrink_time: seconds(args.shrink_time, "--shrink-time")?,
    };
    let (history, format) = match formats::load(&args.file, args.format.map(Format::from)) {
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("cwb lincheck: {e}");
            return Ok(EXIT_UNDECIDED);
        }
    };
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{} ({} format): {}",
        args.file.display(),
        format.name(),
        history.stats()
    )?;
    let start = Instant::now();
    let verdict = check(&history, limits);
    let took = start.elapsed().as_secs_f64() * 1e3;
    let code = match verdict {
        Verdict::Linearizable => {
            writeln!(out, "linearizable (checked in {took:.1} ms)")?;
            EXIT_LINEARIZABLE
        }
        Verdict::NotLinearizable(anomaly) => {
            writeln!(out, "NOT linearizable (found in {took:.1} ms): {anomaly:#}")?;
            EXIT_NOT_LINEARIZABLE
        }
        Verdict::Undecided(why) => {
            writeln!(out, "undecided: {why}")?;
            EXIT_UNDECIDED
        }
    };
    out.flush()?;
    Ok(code)
}
