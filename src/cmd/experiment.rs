//! `cwb experiment`: reproductions of published results (see `crate::experiment`).
//!
//! `cwb experiment fig16 --out DIR` runs Figure 16 of the Raft paper in the simulator
//! for Raft, ZAB and Paxos and writes, in DIR:
//! - `fig16.csv`: `protocol,range_ms,source,trials,median_ms,mean_ms,p99_ms,max_ms`;
//! - `fig16-PROTOCOL-sim.svg`: the two CDF panels in the paper's layout, with what the
//!   paper's text states drawn beside our curves;
//! - `fig16.md`: the table of ours against the paper, per range;
//! - `index.html`: the figures, the tables and where the downtime went, on one page.

use crate::experiment::fig16;
use crate::experiment::fig16_real;
use crate::experiment::paper;
use crate::experiment::stats::Samples;
use crate::experiment::svg::{self, Curve};
use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use netmodel::NetModel;
use protocols::ProtocolKind;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    pub which: Which,
}

#[derive(clap::Subcommand, Debug)]
pub enum Which {
    /// The Raft paper's Figure 16: time to replace a crashed leader of five servers,
    /// per election-timeout range, in the simulator.
    Fig16(Fig16Args),
}

#[derive(clap::Args, Debug)]
pub struct Fig16Args {
    /// Directory for fig16.csv, the SVG plots, fig16.md and index.html.
    #[arg(long, required_unless_present = "trace_seed")]
    pub out: Option<PathBuf>,
    /// Only these ranges (ms, comma-separated, e.g. `12-24,150-155`); all of the
    /// figure's by default.
    #[arg(long, value_delimiter = ',', value_parser = parse_range)]
    pub ranges: Vec<(u64, u64)>,
    /// Print one simulated trial (this seed) of each range and protocol, narrated
    /// from the crash on, with where its downtime went; writes nothing.
    #[arg(long)]
    pub trace_seed: Option<u64>,
    /// Trials per range and protocol (the paper: 1000; 100 for 150-150).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..))]
    pub trials: u32,
    /// Protocols, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "raft,zab,paxos")]
    pub protocols: Vec<ProtocolKind>,
    /// The network: a profile name or a network file. The default is the paper's
    /// set-up (a broadcast time of about 15 ms).
    #[arg(long, default_value = "lan")]
    pub net: String,
    /// The voters' disk write before they answer a request for votes (ms): the vote
    /// is cast when the request arrives, its answer leaves this much later. The
    /// default makes the paper's "broadcast time (network round trip plus disk
    /// write) of roughly 15ms" with the network's round trip (docs/METHOD.md). Real
    /// clusters hold their vote answers back by the same time (on top of their own WAL
    /// write).
    #[arg(long)]
    pub disk_write_ms: Option<f64>,
    /// ZAB's finalize wait (ms), as the bench sets it.
    #[arg(long, default_value_t = 200)]
    pub finalize_wait_ms: u64,
    /// Where the trials run: the simulator (virtual time), real loopback clusters with
    /// the network model in their transport (real time), or both.
    #[arg(long = "where", value_enum, default_value = "sim")]
    pub place: Place,
    /// Trials per range and protocol on real clusters (each takes about a second, or
    /// up to 10 s when no leader is elected).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    pub real_trials: u32,
    /// Run the protocols' real trials one protocol after another instead of side by
    /// side (by default the three run at once, sharing the machine's cores and disk).
    #[arg(long)]
    pub real_in_turn: bool,
}

/// Where Figure 16's trials run.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    /// The deterministic simulator.
    Sim,
    /// Real loopback clusters.
    Real,
    /// Both, side by side.
    Both,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    match args.which {
        Which::Fig16(a) => fig16_run(a),
    }
}

/// One row of the results: a protocol, a range, where it ran, its samples.
struct Row {
    protocol: String,
    range: (u64, u64),
    /// `sim` or `real`.
    source: &'static str,
    samples: Samples,
    /// Where the downtime went.
    breakdown: Option<fig16::Breakdown>,
}

/// `150-155` as `(150, 155)`.
fn parse_range(s: &str) -> Result<(u64, u64), String> {
    let (a, b) = s
        .split_once('-')
        .ok_or_else(|| format!("range {s:?}: expected MIN-MAX in ms, e.g. 150-155"))?;
    let num = |x: &str| {
        x.trim()
            .parse::<u64>()
            .map_err(|e| format!("range {s:?}: {x:?} is not a whole number of ms ({e})"))
    };
    let (a, b) = (num(a)?, num(b)?);
    if a == 0 || a > b {
        return Err(format!("range {s:?}: need 0 < MIN <= MAX"));
    }
    Ok((a, b))
}

fn all_ranges() -> Vec<(u64, u64)> {
    let mut v: Vec<(u64, u64)> = paper::TOP.to_vec();
    v.extend(paper::BOTTOM.iter().filter(|r| !paper::TOP.contains(r)));
    v
}

fn fig16_run(args: Fig16Args) -> anyhow::Result<()> {
    let net = NetModel::parse_spec(&args.net)?;
    let ranges = if args.ranges.is_empty() {
        all_ranges()
    } else {
        args.ranges.clone()
    };
    let finalize = Duration::from_millis(args.finalize_wait_ms);
    let disk_write = disk_write(&args, &net)?;
    if let Some(seed) = args.trace_seed {
        return trace_trials(&args, &ranges, &net, disk_write, seed);
    }
    let out = args.out.clone().context("--out is needed")?;
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let (sim, real) = match args.place {
        Place::Sim => (true, false),
        Place::Real => (false, true),
        Place::Both => (true, true),
    };
    let per_setting = if sim { u64::from(args.trials) } else { 0 }
        + if real { u64::from(args.real_trials) } else { 0 };
    let total = ranges.len() as u64 * args.protocols.len() as u64 * per_setting;
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} {msg}")
            .context("progress template")?
            .progress_chars("=> "),
    );
    for &protocol in &args.protocols {
        super::refuse_redis(protocol, "experiment fig16")?;
    }
    let runtime = if real {
        Some(
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("starting the runtime for real clusters")?,
        )
    } else {
        None
    };
    let mut rows = Vec::new();
    for &protocol in &args.protocols {
        for &range in &ranges {
            let timing = fig16::timing(range, finalize);
            timing.validate().context("a Figure 16 setting")?;
            let setting = || format!("{protocol} at {}-{} ms", range.0, range.1);
            let mut tick = || bar.inc(1);
            if sim {
                bar.set_message(format!("{protocol} {}-{} ms (sim)", range.0, range.1));
                let (samples, breakdown) = drivers::with_protocol!(protocol, P => fig16::setting::<P>(&timing, &net, disk_write, args.trials, &mut tick))
                    .with_context(setting)?;
                rows.push(Row {
                    protocol: protocol.to_string(),
                    range,
                    source: "sim",
                    samples,
                    breakdown: Some(breakdown),
                });
            }
        }
    }
    if let Some(rt) = &runtime {
        bar.set_message("real clusters, the protocols side by side");
        let real = RealRun {
            finalize,
            net: net.clone(),
            disk_write,
            trials: args.real_trials,
            bar: bar.clone(),
            in_turn: args.real_in_turn,
        };
        rows.extend(rt.block_on(real.rows(&args.protocols, &ranges))?);
    }
    // Protocol by protocol, range by range, the simulator's row before the real one.
    let place = |p: &str| args.protocols.iter().position(|k| k.to_string() == p);
    rows.sort_by_key(|r| {
        (
            place(&r.protocol),
            ranges.iter().position(|&x| x == r.range),
            r.source == "real",
        )
    });
    bar.finish_and_clear();
    write_outputs(&out, &rows, &net, disk_write, &args)?;
    print!("{}", tables(&rows));
    print!("{}", breakdown_table(&rows));
    println!("\nwritten to {}", out.display());
    Ok(())
}

/// The real-cluster half of a Figure 16 run.
struct RealRun {
    finalize: Duration,
    net: NetModel,
    disk_write: Duration,
    trials: u32,
    bar: ProgressBar,
    /// One protocol after another (`--real-in-turn`), not side by side.
    in_turn: bool,
}

impl RealRun {
    /// Every range of every protocol on real clusters: one task per protocol, each
    /// protocol's ranges in turn. By default the protocols' tasks run side by side: a
    /// trial mostly waits on timers, but the three clusters do share the machine's cores
    /// and its disk, which adds to their millisecond-scale rounds alike (the report
    /// says so); `in_turn` runs one protocol's task at a time. The first error stops
    /// the others.
    async fn rows(
        &self,
        protocols: &[ProtocolKind],
        ranges: &[(u64, u64)],
    ) -> anyhow::Result<Vec<Row>> {
        let mut tasks = tokio::task::JoinSet::new();
        let mut rows = Vec::new();
        for &protocol in protocols {
            let (ranges, net, bar) = (ranges.to_vec(), self.net.clone(), self.bar.clone());
            let (finalize, disk_write, trials) = (self.finalize, self.disk_write, self.trials);
            tasks.spawn(async move {
                let mut rows = Vec::new();
                for range in ranges {
                    let timing = fig16::timing(range, finalize);
                    let mut tick = || bar.inc(1);
                    let (samples, breakdown) = drivers::with_protocol!(protocol, P => fig16_real::setting::<P>(&timing, &net, disk_write, trials, &mut tick).await)
                        .with_context(|| format!("{protocol} at {}-{} ms (real)", range.0, range.1))?;
                    rows.push(Row {
                        protocol: protocol.to_string(),
                        range,
                        source: "real",
                        samples,
                        breakdown: Some(breakdown),
                    });
                }
                anyhow::Ok(rows)
            });
            if self.in_turn {
                Self::collect(&mut tasks, &mut rows).await?;
            }
        }
        Self::collect(&mut tasks, &mut rows).await?;
        Ok(rows)
    }

    /// Waits for every task in `tasks`, adding their rows; on the first error the
    /// others are aborted.
    async fn collect(
        tasks: &mut tokio::task::JoinSet<anyhow::Result<Vec<Row>>>,
        rows: &mut Vec<Row>,
    ) -> anyhow::Result<()> {
        while let Some(done) = tasks.join_next().await {
            match done.context("a real-cluster task failed") {
                Ok(Ok(more)) => rows.extend(more),
                Ok(Err(e)) | Err(e) => {
                    tasks.abort_all();
                    return Err(e);
                }
            }
        }
        Ok(())
    }
}

/// `--trace-seed`: one narrated trial per range and protocol, with its breakdown.
fn trace_trials(
    args: &Fig16Args,
    ranges: &[(u64, u64)],
    net: &NetModel,
    disk_write: Duration,
    seed: u64,
) -> anyhow::Result<()> {
    let finalize = Duration::from_millis(args.finalize_wait_ms);
    for &protocol in &args.protocols {
        super::refuse_redis(protocol, "experiment fig16")?;
        for &range in ranges {
            let timing = fig16::timing(range, finalize);
            timing.validate().context("a Figure 16 setting")?;
            let d = drivers::with_protocol!(protocol, P => fig16::trial_detail::<P>(&timing, net, disk_write, seed, true))
                .with_context(|| format!("{protocol} at {} ms, seed {seed}", range_text(range)))?;
            let ms = |x: Option<Duration>| {
                x.map_or("-".to_string(), |x| {
                    format!("{:.1}", x.as_secs_f64() * 1000.0)
                })
            };
            let downtime = match d.outcome {
                fig16::Outcome::Elected(x) => format!("{:.1} ms", x.as_secs_f64() * 1000.0),
                fig16::Outcome::Censored => format!("over {} s", fig16::TRIAL_LIMIT.as_secs()),
            };
            println!(
                "== {protocol} {} ms, seed {seed}: downtime {downtime}; crash {} ms after the broadcast; \
                 first campaign {} ms after the crash, winning campaign at {} ms, its round {} ms; \
                 {} round(s); the winner held {} of the 3 last commands",
                range_text(range),
                ms(d.crash_after),
                ms(d.first_campaign),
                ms(d.winning_campaign),
                ms(d.winning_round()),
                d.rounds,
                d.winner_entries.map_or("-".into(), |e| e.to_string()),
            );
            for line in &d.trace {
                println!("{line}");
            }
        }
    }
    Ok(())
}

/// Where the downtime went, per protocol, range and source (means over the elected
/// trials, ms): crash after the broadcast, detection (crash to the first campaign),
/// rounds lost before the winning campaign, the winning round itself.
fn breakdown_table(rows: &[Row]) -> String {
    let mut out =
        String::from("\n### Where the downtime went (means over the elected trials, ms)\n\n");
    if rows.iter().any(|r| r.source == "real") {
        out.push_str(
            "A real trial times its crash from the leader's heartbeat broadcast as the fault \
             filter saw it leave (its crash-after-broadcast column is measured, timer \
             lateness included); its campaigns and election are read off the nodes' events \
             as the simulator's are.\n\n",
        );
    }
    out.push_str(
        "| protocol | range (ms) | source | crash after broadcast | detection (crash to first campaign) \
         | lost rounds (first to winning campaign) | winning round | mean downtime \
         | one round | mean rounds | winner held 0/1/2/3/more of the last commands at the crash |\n\
         |---|---|---|---:|---:|---:|---:|---:|---:|---:|---|\n",
    );
    let mut any = false;
    for r in rows {
        let Some(b) = &r.breakdown else { continue };
        any = true;
        let share = |n: u32| f64::from(n) / f64::from(b.elected.max(1)) * 100.0;
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.0}% | {:.2} | {}/{}/{}/{}/{} |",
            r.protocol,
            range_text(r.range),
            r.source,
            if b.crash_after_known == 0 {
                "-".to_string()
            } else {
                format!("{:.1}", b.crash_after_ms)
            },
            b.detect_ms,
            b.lost_ms,
            b.win_ms,
            b.detect_ms + b.lost_ms + b.win_ms,
            share(b.one_round),
            b.rounds,
            b.winner_entries[0],
            b.winner_entries[1],
            b.winner_entries[2],
            b.winner_entries[3],
            b.winner_entries[4],
        );
    }
    if any {
        out
    } else {
        String::new()
    }
}

fn range_text(r: (u64, u64)) -> String {
    format!("{}-{}", r.0, r.1)
}

/// The CSV of every row.
fn csv(rows: &[Row]) -> String {
    let mut out = String::from("protocol,range_ms,source,trials,median_ms,mean_ms,p99_ms,max_ms\n");
    for r in rows {
        let s = &r.samples;
        let _ = writeln!(
            out,
            "{},{},{},{},{:.1},{:.1},{:.1},{:.1}",
            r.protocol,
            range_text(r.range),
            r.source,
            s.len(),
            s.median(),
            s.mean(),
            s.percentile(99.0),
            s.max()
        );
    }
    out
}

/// The table of ours against the paper: one line per range, a column per protocol.
fn table_of(rows: &[&Row]) -> String {
    let protocols: Vec<&str> = {
        let mut v: Vec<&str> = rows.iter().map(|r| r.protocol.as_str()).collect();
        v.dedup();
        v
    };
    let by: BTreeMap<(&str, (u64, u64)), &Samples> = rows
        .iter()
        .map(|r| ((r.protocol.as_str(), r.range), &r.samples))
        .collect();
    // The paper's numbers are Raft's: the comparison column needs a Raft row.
    let versus_raft = protocols.contains(&"raft");
    let mut out = String::from("| range (ms) | paper (text) |");
    for p in &protocols {
        let _ = write!(out, " {p} median / mean / max (ms) |");
    }
    if versus_raft {
        out.push_str(" raft vs paper |");
    }
    out.push_str("\n|---|---|");
    for _ in &protocols {
        out.push_str("---|");
    }
    if versus_raft {
        out.push_str("---|");
    }
    out.push('\n');
    let mut ranges: Vec<(u64, u64)> = all_ranges()
        .into_iter()
        .filter(|r| rows.iter().any(|row| row.range == *r))
        .collect();
    for row in rows {
        if !ranges.contains(&row.range) {
            ranges.push(row.range);
        }
    }
    for range in ranges {
        let stated = paper::stated(range);
        let paper_text = if stated.is_empty() {
            format!("- (floor {} ms)", paper::floor_ms(range))
        } else {
            stated
                .iter()
                .map(|s| s.text())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let _ = write!(out, "| {} | {} |", range_text(range), paper_text);
        for p in &protocols {
            match by.get(&(*p, range)) {
                Some(s) if s.len() == 0 => {
                    let _ = write!(
                        out,
                        " - ({} with no settled leader to crash) |",
                        s.no_first_leader
                    );
                }
                Some(s) => {
                    let mut cens = String::new();
                    if s.censored > 0 {
                        cens += &format!(" ({} censored at {} s)", s.censored, s.limit_s);
                    }
                    if s.no_first_leader > 0 {
                        cens +=
                            &format!(" ({} with no settled leader to crash)", s.no_first_leader);
                    }
                    let _ = write!(
                        out,
                        " {:.0} / {:.0} / {:.0}{cens} |",
                        s.median(),
                        s.mean(),
                        s.max()
                    );
                }
                None => out.push_str(" - |"),
            }
        }
        if versus_raft {
            let versus = by
                .get(&("raft", range))
                .map(|s| comparison(s, &stated))
                .unwrap_or_else(|| "-".into());
            let _ = write!(out, " {versus} |");
        }
        out.push('\n');
    }
    out
}

/// The sources of `rows` in order (`sim`, then `real`).
fn sources(rows: &[Row]) -> Vec<&'static str> {
    ["sim", "real"]
        .into_iter()
        .filter(|s| rows.iter().any(|r| r.source == *s))
        .collect()
}

/// One [`table`] per source, each under a heading when there are two.
fn tables(rows: &[Row]) -> String {
    let sources = sources(rows);
    let mut out = String::new();
    for source in &sources {
        let of: Vec<&Row> = rows.iter().filter(|r| r.source == *source).collect();
        if sources.len() > 1 {
            let _ = writeln!(out, "## {}\n", source_title(source));
        }
        out.push_str(&table_of(&of));
        out.push('\n');
    }
    out
}

fn source_title(source: &str) -> &'static str {
    if source == "real" {
        "Real loopback clusters (network model in the transport, real time)"
    } else {
        "Simulator (virtual time)"
    }
}

/// Our Raft figure against each statement of the paper, as a relative difference.
fn comparison(s: &Samples, stated: &[paper::Stated]) -> String {
    let rel = |ours: f64, theirs: f64| (ours - theirs) / theirs * 100.0;
    let parts: Vec<String> = stated
        .iter()
        .map(|st| match *st {
            paper::Stated::Median(v) => format!("median {:+.0}%", rel(s.median(), v)),
            paper::Stated::Mean(v) => format!("mean {:+.0}%", rel(s.mean(), v)),
            paper::Stated::Max(v) => format!("max {:+.0}%", rel(s.max(), v)),
            paper::Stated::AllAbove(v) => {
                // A trial censored at a limit of at most `v` ran at least `v`.
                let at_limit = if s.limit_s * 1000.0 <= v {
                    s.censored as usize
                } else {
                    0
                };
                let above = s.sorted().iter().filter(|&&x| x > v).count() + at_limit;
                format!("{above} of {} above {} s", s.len(), v / 1000.0)
            }
        })
        .collect();
    if parts.is_empty() {
        "no number in the text".into()
    } else {
        parts.join(", ")
    }
}

/// `--disk-write-ms`, or what makes the paper's broadcast time of about 15 ms (round
/// trip plus one disk write) with `net`'s mean round trip between nodes 1 and 2.
fn disk_write(args: &Fig16Args, net: &NetModel) -> anyhow::Result<Duration> {
    let ms = match args.disk_write_ms {
        Some(ms) => ms,
        None => (fig16::BROADCAST_MS - 2.0 * net.link(1, 2).mean_delay_ms()).max(0.0),
    };
    anyhow::ensure!(
        ms.is_finite() && ms >= 0.0,
        "--disk-write-ms {ms}: need a duration of 0 ms or more"
    );
    Ok(Duration::from_secs_f64(ms / 1000.0))
}

fn write_outputs(
    dir: &Path,
    rows: &[Row],
    net: &NetModel,
    disk_write: Duration,
    args: &Fig16Args,
) -> anyhow::Result<()> {
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))
    };
    write("fig16.csv", &csv(rows))?;
    let mut figures = Vec::new();
    let mut protocols: Vec<&str> = rows.iter().map(|r| r.protocol.as_str()).collect();
    protocols.dedup();
    for source in sources(rows) {
        for p in &protocols {
            let curves = |set: &[(u64, u64)]| -> Vec<Curve<'_>> {
                set.iter()
                    .filter_map(|&range| {
                        rows.iter()
                            .find(|r| r.protocol == *p && r.range == range && r.source == source)
                            .map(|r| Curve {
                                range,
                                samples: &r.samples,
                            })
                    })
                    .collect()
            };
            let name = format!("fig16-{p}-{source}.svg");
            write(
                &name,
                &svg::figure(p, source, &curves(paper::TOP), &curves(paper::BOTTOM)),
            )?;
            figures.push(name);
        }
    }
    let table = tables(rows);
    let wheres: Vec<&str> = sources(rows)
        .into_iter()
        .map(|s| {
            if s == "real" {
                "on real loopback clusters"
            } else {
                "in the simulator"
            }
        })
        .collect();
    let trials: Vec<String> = sources(rows)
        .into_iter()
        .map(|s| {
            if s == "real" {
                format!(
                    "{} trials per range and protocol on real clusters (censored at {} s; \
                     the same scripted log lengths, vote-answer delay and staggered \
                     starts, played by the transport's fault filter, on top of the real \
                     WAL's own fsync; {})",
                    args.real_trials,
                    fig16_real::REAL_LIMIT.as_secs(),
                    if args.real_in_turn {
                        "the protocols one after another"
                    } else {
                        "the protocols' trials side by side in one process, sharing its \
                         cores and disk"
                    }
                )
            } else {
                format!(
                    "{} trials per range and protocol in the simulator",
                    args.trials
                )
            }
        })
        .collect();
    let header = format!(
        "# Figure 16 of the Raft paper, reproduced {}\n\n\
         Network: {}; a voter answers a request for votes {:.2} ms after it arrives \
         when it had something to record (its disk write; the paper's broadcast time \
         is round trip plus disk write), at once when not. \
         Five servers; heartbeat half the minimum timeout; PreVote and \
         CheckQuorum off; {}; ZAB finalize wait {} ms. \
         Downtime: leader crash to the next LeaderElected event. The paper column \
         holds only what the paper's text states (docs/METHOD.md, \"Figure 16\").\n\n\
         Command: `{}`\n\n",
        wheres.join(" and "),
        net.describe(),
        disk_write.as_secs_f64() * 1000.0,
        trials.join("; "),
        args.finalize_wait_ms,
        std::env::args().collect::<Vec<_>>().join(" ")
    );
    write(
        "fig16.md",
        &format!("{header}{table}{}", breakdown_table(rows)),
    )?;
    let mut html = String::from(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Figure 16</title>\
         <style>body{font-family:sans-serif;margin:20px}table{border-collapse:collapse}\
         td,th{border:1px solid #bbb;padding:3px 8px;font-size:13px}\
         .figs{display:flex;flex-wrap:wrap;gap:8px}.figs img{width:620px}</style></head><body>",
    );
    let _ = write!(
        html,
        "<h1>{}</h1><p>{}</p><div class=\"figs\">",
        esc(header.lines().next().unwrap_or("").trim_start_matches("# ")),
        esc(header.lines().nth(2).unwrap_or(""))
    );
    for f in &figures {
        let _ = write!(html, "<img src=\"{f}\" alt=\"{f}\">");
    }
    html.push_str("</div>");
    let sources = sources(rows);
    for source in &sources {
        if sources.len() > 1 {
            let _ = write!(html, "<h2>{}</h2>", esc(source_title(source)));
        }
        let of: Vec<&Row> = rows.iter().filter(|r| r.source == *source).collect();
        html.push_str(&html_table(&table_of(&of)));
    }
    let breakdown = breakdown_table(rows);
    if !breakdown.is_empty() {
        let _ = write!(html, "<h2>Where the downtime went</h2>");
        for para in breakdown
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('|'))
        {
            let _ = write!(html, "<p>{}</p>", esc(para));
        }
        html.push_str(&html_table(&breakdown));
    }
    html.push_str("</body></html>\n");
    write("index.html", &html)?;
    Ok(())
}

/// The rows of a Markdown table (the lines of `md` that start with `|`, its separator
/// row left out) as an HTML table, the first row its header.
fn html_table(md: &str) -> String {
    let mut html = String::from("<table>");
    let rows = md.lines().filter(|l| l.starts_with('|'));
    for (i, line) in rows.enumerate() {
        if i == 1 {
            continue;
        }
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        let tag = if i == 0 { "th" } else { "td" };
        html.push_str("<tr>");
        for c in cells {
            let _ = write!(html, "<{tag}>{}</{tag}>", esc(c));
        }
        html.push_str("</tr>");
    }
    html.push_str("</table>");
    html
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(source: &'static str, values: Vec<f64>) -> Row {
        Row {
            protocol: "raft".into(),
            range: (150, 155),
            source,
            samples: Samples::new(values, 0),
            breakdown: None,
        }
    }

    #[test]
    fn a_markdown_table_becomes_an_html_table_without_its_separator_row() {
        let md = "heading\n\n| a | b<c |\n|---|---:|\n| 1 | 2 |\n";
        assert_eq!(
            html_table(md),
            "<table><tr><th>a</th><th>b&lt;c</th></tr><tr><td>1</td><td>2</td></tr></table>"
        );
    }

    #[test]
    fn the_csv_has_the_documented_header_and_a_row_per_setting() {
        let rows = vec![row("sim", vec![280.0, 290.0, 300.0])];
        let text = csv(&rows);
        let mut lines = text.lines();
        assert_eq!(
            lines.next(),
            Some("protocol,range_ms,source,trials,median_ms,mean_ms,p99_ms,max_ms")
        );
        assert_eq!(
            lines.next(),
            Some("raft,150-155,sim,3,290.0,290.0,300.0,300.0")
        );
        let t = tables(&rows);
        assert!(t.contains("| 150-155 | median 287 |"), "{t}");
        assert!(t.contains("median +1%"), "{t}");
        assert!(!t.contains("## "), "one source, no headings: {t}");
    }

    #[test]
    fn both_sources_get_a_csv_row_and_a_table_each() {
        let rows = vec![
            row("sim", vec![280.0, 290.0, 300.0]),
            row("real", vec![300.0, 310.0, 320.0]),
        ];
        let text = csv(&rows);
        assert!(
            text.contains("raft,150-155,real,3,310.0,310.0,320.0,320.0"),
            "{text}"
        );
        let t = tables(&rows);
        let sim = t.find("## Simulator").expect("a simulator table");
        let real = t.find("## Real loopback").expect("a real table");
        assert!(sim < real);
        assert!(t[real..].contains("median +8%"), "{t}");
        // Censored at a 10 s limit: each counts as above the paper's 10 s.
        let mut censored = row("real", vec![10_000.0, 10_000.0]);
        censored.range = (150, 150);
        censored.samples = Samples::new(vec![10_000.0, 10_000.0], 2);
        censored.samples.limit_s = 10.0;
        let t = tables(&[censored]);
        assert!(t.contains("2 of 2 above 10 s"), "{t}");
    }

    #[test]
    fn a_run_without_raft_has_no_column_against_the_paper() {
        let mut zab = row("real", vec![222.0]);
        zab.protocol = "zab".into();
        let t = tables(&[zab]);
        assert!(!t.contains("raft vs paper"), "{t}");
        // Every line of the table has as many cells as its header.
        let cells = |line: &str| line.matches('|').count();
        let lines: Vec<&str> = t.lines().filter(|l| l.starts_with('|')).collect();
        assert_eq!(lines.len(), 3, "{t}");
        assert!(lines.iter().all(|l| cells(l) == cells(lines[0])), "{t}");
        assert!(
            lines[2].starts_with("| 150-155 | median 287 | 222 / 222 / 222 |"),
            "{t}"
        );
    }
}
