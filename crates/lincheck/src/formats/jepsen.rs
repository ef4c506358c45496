//! Jepsen register logs: one register, read / write / compare-and-set, as in the etcd
//! runs of github.com/ahorn/linearizability-checker (Porcupine's `test_data/jepsen`).
//!
//! ```text
//! INFO  jepsen.util - 2  :invoke  :cas  [3 0]
//! INFO  jepsen.util - 2  :fail  :cas  [3 0]
//! INFO  jepsen.util - 0  :invoke  :read  nil
//! INFO  jepsen.util - 0  :ok  :read  4
//! INFO  jepsen.util - 4  :invoke  :write  1
//! INFO  jepsen.util - 4  :info  :write  :timed-out
//! ```
//!
//! After `jepsen.util - ` (or at the start of a line, in the bare form `2 :invoke ...`)
//! come the process (the client), the type, the function and its value, separated by
//! tabs (as in the logs) or spaces. Values are integers; `nil` is the empty register, read as `""`.
//! Every other line of a Jepsen log is ignored, and so are events of named processes
//! such as `:nemesis`. The events mean:
//! - `:ok :read V`: the read answered V; `:fail :read ...` (a timed-out read): dropped;
//! - `:ok :write V`: applied; `:fail :write`: definitely not applied (dropped);
//! - `:ok :cas [F T]`: swapped F to T; `:fail :cas [F T]`: the register did not hold F;
//! - `:info ...`: no answer: the operation may have taken effect, or not (Jepsen gives
//!   the process a new number, so it stays pending to the end of the history).
//!
//! Each event happens at its line number.

use super::ParseError;
use crate::history::{Clock, Completion, History, HistoryError, Input};

/// What precedes an event on a Jepsen log line.
pub(crate) const MARKER: &str = "jepsen.util - ";

/// The register's key.
pub const KEY: &str = "register";

/// Is `line` an event in the bare form, `PROCESS :type ...`?
pub(crate) fn is_bare_event(line: &str) -> bool {
    let mut tokens = line.split_whitespace();
    tokens.next().is_some_and(|p| p.parse::<u64>().is_ok())
        && tokens.next().is_some_and(|t| t.starts_with(':'))
}

/// An integer value (as the register's string), or `nil` if `nil_ok`.
fn value(token: Option<&str>, nil_ok: bool) -> Result<String, String> {
    match token {
        Some("nil") if nil_ok => Ok(String::new()),
        Some(t) => t.parse::<i64>().map(|v| v.to_string()).map_err(|_| {
            format!(
                "expected an integer{}, found {t:?}",
                if nil_ok { " or nil" } else { "" }
            )
        }),
        None => Err(format!(
            "expected an integer{}, found nothing",
            if nil_ok { " or nil" } else { "" }
        )),
    }
}

/// `[FROM TO]` (its tokens, brackets attached).
fn pair(tokens: &[&str]) -> Result<(String, String), String> {
    let joined = tokens.join(" ");
    let inner = joined
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .ok_or_else(|| format!("expected [FROM TO], found {joined:?}"))?;
    let parts: Vec<&str> = inner.split_whitespace().collect();
    match parts.as_slice() {
        [from, to] => Ok((value(Some(from), false)?, value(Some(to), false)?)),
        _ => Err(format!("expected [FROM TO], found {joined:?}")),
    }
}

fn function_of(input: &Input) -> &'static str {
    match input {
        Input::Get => ":read",
        Input::Cas { .. } => ":cas",
        Input::Put(_) | Input::Append(_) => ":write",
    }
}

/// One event line (after the marker): applied to `history`, or `Ok(())` if ignored.
fn event(history: &mut History, line: usize, rest: &str) -> Result<(), String> {
    let tokens: Vec<&str> = rest.split_whitespace().collect();
    let (process, kind, f, args) = match tokens.as_slice() {
        [p, k, f, args @ ..] => (*p, *k, *f, args),
        [p, ..] if p.starts_with(':') => return Ok(()),
        _ => return Err(format!("expected PROCESS :type :f VALUE, found {rest:?}")),
    };
    if process.starts_with(':') {
        return Ok(()); // :nemesis and other named processes are not clients
    }
    let client: u64 = process
        .parse()
        .map_err(|_| format!("expected a process number, found {process:?}"))?;
    if !matches!(f, ":read" | ":write" | ":cas") {
        return Err(format!("expected :read, :write or :cas, found {f:?}"));
    }
    // Times are line numbers here.
    let as_line = |e: HistoryError| e.to_string().replace(" at time ", " on line ");
    let time = line as u64;
    match kind {
        ":invoke" => {
            let input = match f {
                ":read" => Input::Get,
                ":write" => Input::Put(value(args.first().copied(), false)?),
                _ => {
                    let (from, to) = pair(args)?;
                    Input::Cas { from, to }
                }
            };
            history.invoke(client, time, KEY, input).map_err(as_line)?;
        }
        ":ok" | ":fail" | ":info" => {
            let pending = history.pending(client).ok_or_else(|| {
                format!("process {client} completes an operation, but it has none pending")
            })?;
            let expected = function_of(&pending.input);
            if f != expected {
                return Err(format!(
                    "process {client} completes a {f}, but its pending operation is a {expected}"
                ));
            }
            let completion = match (kind, f) {
                (":info", _) => Completion::Unknown,
                (":ok", ":read") => Completion::value(value(args.first().copied(), true)?),
                (":ok", ":write") => {
                    value(args.first().copied(), false)?;
                    Completion::done()
                }
                (":ok", _) => {
                    pair(args)?;
                    Completion::cas(true)
                }
                (_, ":cas") => {
                    pair(args)?;
                    Completion::cas(false)
                }
                _ => Completion::Failed,
            };
            history
                .complete(client, time, completion)
                .map_err(as_line)?;
        }
        _ => {
            return Err(format!(
                "expected :invoke, :ok, :fail or :info, found {kind:?}"
            ))
        }
    }
    Ok(())
}

/// Parses a Jepsen register log.
pub fn parse(text: &str) -> Result<History, ParseError> {
    let mut history = History::with_clock(Clock::Lines);
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let rest = match raw.find(MARKER) {
            Some(at) => raw.get(at + MARKER.len()..).unwrap_or(""),
            None if is_bare_event(raw) => raw,
            None => continue,
        };
        event(&mut history, line, rest).map_err(|m| ParseError::at(line, m))?;
    }
    Ok(history)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = "2017-01-01 INFO  jepsen.core - Running test\n\
        INFO  jepsen.util - 0\t:invoke\t:read\tnil\n\
        INFO  jepsen.util - 1\t:invoke\t:write\t3\n\
        INFO  jepsen.util - 0\t:ok\t:read\tnil\n\
        INFO  jepsen.util - :nemesis\t:info\t:start\tnil\n\
        INFO  jepsen.util - 1\t:ok\t:write\t3\n\
        INFO  jepsen.util - 2\t:invoke\t:cas\t[3 0]\n\
        INFO  jepsen.util - 2\t:fail\t:cas\t[3 0]\n\
        INFO  jepsen.util - 3\t:invoke\t:cas\t[3 4]\n\
        INFO  jepsen.util - 3\t:ok\t:cas\t[3 4]\n\
        4 :invoke :read nil\n\
        4 :fail :read :timed-out\n\
        INFO  jepsen.util - 5\t:invoke\t:write\t1\n\
        INFO  jepsen.util - 5\t:info\t:write\t:timed-out\n";

    #[test]
    fn parses_every_shape() {
        let h = parse(LOG).expect("parses");
        assert_eq!(h.clock(), Clock::Lines);
        let got: Vec<(u64, Input, Completion, u64)> = h
            .ops()
            .iter()
            .map(|o| (o.client, o.input.clone(), o.outcome.clone(), o.invoked))
            .collect();
        let cas = |from: &str, to: &str| Input::Cas {
            from: from.into(),
            to: to.into(),
        };
        assert_eq!(
            got,
            vec![
                (0, Input::Get, Completion::value(""), 2),
                (1, Input::Put("3".into()), Completion::done(), 3),
                (2, cas("3", "0"), Completion::cas(false), 7),
                (3, cas("3", "4"), Completion::cas(true), 9),
                (4, Input::Get, Completion::Failed, 11),
                (5, Input::Put("1".into()), Completion::Unknown, 13),
            ]
        );
    }

    fn error(text: &str) -> String {
        parse(text)
            .map(|h| format!("accepted: {:?}", h.ops()))
            .unwrap_or_else(|e| e.to_string())
    }

    #[test]
    fn malformed_events_are_named() {
        let invoke = "INFO  jepsen.util - 1\t:invoke\t:write\t3\n";
        assert_eq!(
            error(&format!("{invoke}INFO  jepsen.util - 1\t:done\t:write\t3")),
            "line 2: expected :invoke, :ok, :fail or :info, found \":done\""
        );
        assert_eq!(
            error("INFO  jepsen.util - x\t:invoke\t:read\tnil"),
            "line 1: expected a process number, found \"x\""
        );
        assert_eq!(
            error("INFO  jepsen.util - 1\t:invoke\t:write\tabc"),
            "line 1: expected an integer, found \"abc\""
        );
        assert_eq!(
            error("INFO  jepsen.util - 1\t:invoke\t:cas\t[1]"),
            "line 1: expected [FROM TO], found \"[1]\""
        );
        assert_eq!(
            error(&format!("{invoke}INFO  jepsen.util - 1\t:ok\t:cas\t[1 2]")),
            "line 2: process 1 completes a :cas, but its pending operation is a :write"
        );
        assert_eq!(
            error("INFO  jepsen.util - 1\t:ok\t:read\t2"),
            "line 1: process 1 completes an operation, but it has none pending"
        );
        assert_eq!(
            error(&format!("{invoke}{invoke}")),
            "line 2: client 1 invokes a new operation while its put invoked on line 1 is still pending"
        );
        assert_eq!(
            error("INFO  jepsen.util - 1\t:invoke"),
            "line 1: expected PROCESS :type :f VALUE, found \"1\\t:invoke\""
        );
        assert_eq!(
            error("INFO  jepsen.util - 1\t:invoke\t:delete\t1"),
            "line 1: expected :read, :write or :cas, found \":delete\""
        );
    }
}
