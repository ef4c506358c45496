//! The one writer of `cwb cluster`'s timeline: the nodes' events from the event bus and
//! the console's own lines (commands, answers to puts and gets, the client load) go
//! through a [`Digest`] that prints them in stamp order and folds per-write traffic
//! (see `drivers::narration`). Puts and gets run in the background so that a write
//! without a quorum never holds the prompt.

use drivers::console;
use drivers::narration::{Detail, Digest, Kind, Line};
use protocols::{Describe, Event, Narration};
use runtime::client::Client;
use runtime::events::{EventBus, Stamped};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// How often the printer looks for new lines.
const POLL: Duration = Duration::from_millis(20);
/// A put or get unanswered this long says that it is still waiting.
const WAIT_NOTICE: Duration = Duration::from_millis(200);

enum Note {
    Line(Line),
    /// Print everything held and stop.
    Finish,
}

/// Hands lines to the printer; cheap to clone.
#[derive(Clone)]
pub struct Console {
    tx: mpsc::UnboundedSender<Note>,
}

impl Console {
    /// The console's own line `text`, which happened at `at`. A line made by
    /// `drivers::console` carries its own stamp, taken when the command returned: it
    /// is replaced by `at`.
    pub fn say(&self, at: Instant, text: &str) {
        self.send(at, Kind::Console, text);
    }

    fn send(&self, at: Instant, kind: Kind, text: &str) {
        let line = Line {
            at,
            kind,
            text: unstamped(text).to_string(),
        };
        // The printer outlives every sender but the last moments of a quit.
        let _ = self.tx.send(Note::Line(line));
    }

    /// Runs a put or get through `client` in the background: its answer (with the
    /// commit points it waited for) is printed when it comes; if none comes within
    /// [`WAIT_NOTICE`], a line says so at once and the prompt stays free.
    pub fn client_command(&self, client: Client, cmd: console::Command) -> JoinHandle<()> {
        let console = self.clone();
        tokio::spawn(async move {
            let what = match &cmd {
                console::Command::Put(k, v) => format!("put {k}={v}"),
                console::Command::Get(k) => format!("get {k}"),
                _ => return,
            };
            let deadline = client.deadline;
            let started = Instant::now();
            let answer = console::client_command(client, &cmd);
            tokio::pin!(answer);
            let lines = tokio::select! {
                lines = &mut answer => lines,
                _ = tokio::time::sleep(WAIT_NOTICE) => {
                    console.say(
                        Instant::now(),
                        &format!(
                            "{what}: no answer after {} ms (no quorum?); the client keeps \
                             trying for up to {} s in the background, the prompt is free",
                            WAIT_NOTICE.as_millis(),
                            deadline.as_secs()
                        ),
                    );
                    answer.await
                }
            };
            let took = started.elapsed().as_secs_f64() * 1000.0;
            let answer = lines.unwrap_or_default().join("; ");
            console.send(
                Instant::now(),
                Kind::Answer { started },
                &format!("{what} -> {answer} in {took:.1} ms"),
            );
        })
    }
}

/// `[   12.3 ms] text` as `text`; anything else as it is.
fn unstamped(line: &str) -> &str {
    match line
        .strip_prefix('[')
        .and_then(|rest| rest.split_once(" ms] "))
    {
        Some((t, text)) if t.trim().parse::<f64>().is_ok() => text,
        _ => line,
    }
}

/// The running printer.
pub struct Printer {
    console: Console,
    task: JoinHandle<()>,
}

impl Printer {
    /// Starts printing `bus`'s events and the console's lines, stamped from `origin`.
    pub fn start<P: Describe>(bus: EventBus, origin: Instant, detail: Detail) -> Printer {
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(print::<P>(bus, Digest::new(origin, detail), rx));
        Printer {
            console: Console { tx },
            task,
        }
    }

    /// A handle for the console's lines.
    pub fn console(&self) -> Console {
        self.console.clone()
    }

    /// Prints everything still held (and what was folded) and stops.
    pub async fn finish(self) {
        let _ = self.console.tx.send(Note::Finish);
        let _ = self.task.await;
    }
}

/// A node's event as a line, with its protocol's mark; `None` for commit-index
/// advances, which the commit points narrate.
fn node_line<P: Describe>(s: &Stamped) -> Option<Line> {
    let mark = match &s.event {
        Event::Committed { .. } => return None,
        Event::Narrate(text) => P::narration(text),
        _ => Narration::Decision,
    };
    let text = protocols::event_text_of::<P>(&s.event);
    Some(Line {
        at: s.at,
        kind: Kind::Node(s.node, mark),
        text: protocols::narration_line(s.node, &text),
    })
}

async fn print<P: Describe>(
    bus: EventBus,
    mut digest: Digest,
    mut rx: mpsc::UnboundedReceiver<Note>,
) {
    let mut cursor = 0;
    let mut tick = tokio::time::interval(POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let fresh = bus.read_new(&mut cursor);
        for s in &fresh {
            if let Some(line) = node_line::<P>(s) {
                digest.push(line);
            }
        }
        let mut finished = false;
        while let Ok(note) = rx.try_recv() {
            match note {
                Note::Line(line) => digest.push(line),
                Note::Finish => finished = true,
            }
        }
        let out = if finished {
            digest.finish()
        } else {
            digest.release(Instant::now())
        };
        for line in out {
            println!("{line}");
        }
        if finished {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stamped_line_loses_its_stamp_and_others_are_kept() {
        assert_eq!(
            unstamped("[   2508.7 ms] *** killed node 1 (crash: its connections reset)"),
            "*** killed node 1 (crash: its connections reset)"
        );
        assert_eq!(unstamped("  node 1: leader"), "  node 1: leader");
        assert_eq!(unstamped("[x ms] y"), "[x ms] y");
    }
}
