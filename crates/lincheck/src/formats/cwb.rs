//! The native history format: one JSON object per line, one line per event.
//!
//! ```text
//! {"client":1,"type":"invoke","f":"put","key":"x","value":"1","time":1000}
//! {"client":2,"type":"invoke","f":"get","key":"x","time":1500}
//! {"client":1,"type":"ok","time":2000}
//! {"client":2,"type":"ok","f":"get","value":"1","time":2500}
//! {"client":3,"type":"invoke","f":"cas","key":"x","from":"1","to":"2","time":3000}
//! {"client":3,"type":"ok","value":false,"time":3100}
//! {"client":4,"type":"invoke","f":"append","key":"x","value":"a","time":3200}
//! {"client":4,"type":"info","time":9000}
//! ```
//!
//! Fields (any other field is an error, to catch typos):
//! - `client` (integer): who sent it; a client has at most one operation pending.
//! - `type`: `invoke`; or a completion of the client's pending operation: `ok` (it took
//!   effect), `fail` (it definitely did not: the checker drops it) or `info` (no answer:
//!   it may have taken effect, or not).
//! - `time` (integer): nanoseconds, from any origin; only their order matters.
//! - `f`: `get`, `put`, `append` or `cas`. Required on `invoke`; on a completion it may
//!   be repeated, and must then match.
//! - `key` (string): on `invoke`; on a completion it may be repeated, and must match.
//! - `value`: on a `put` or `append` invocation, the string written. On an `ok`: a get's
//!   answer (a string; `null` for a missing key, read as `""`), a cas's result (`true`:
//!   swapped; `false`: the key held something other than `from`, nothing changed); none
//!   for put and append.
//! - `from`, `to` (strings): a `cas` invocation's arguments.
//!
//! Blank lines and lines starting with `#` are ignored. Events of different clients may
//! come in any order; an operation with no completion by the end has an unknown outcome.

use super::ParseError;
use crate::history::{ClientId, Completion, History, HistoryError, Input, Output};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Kind {
    Invoke,
    Ok,
    Fail,
    Info,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum F {
    Get,
    Put,
    Append,
    Cas,
}

impl F {
    fn of(input: &Input) -> F {
        match input {
            Input::Get => F::Get,
            Input::Put(_) => F::Put,
            Input::Append(_) => F::Append,
            Input::Cas { .. } => F::Cas,
        }
    }

    fn name(self) -> &'static str {
        match self {
            F::Get => "get",
            F::Put => "put",
            F::Append => "append",
            F::Cas => "cas",
        }
    }
}

/// A present `value`, `null` included (an absent one is `None`).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

/// One line.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Event {
    client: ClientId,
    #[serde(rename = "type")]
    kind: Kind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    f: Option<F>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    key: Option<String>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    value: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    to: Option<String>,
    time: u64,
}

/// serde_json's message without its position in the line (which is always line 1 of
/// the one line it parsed): the column is kept.
fn json_message(e: &serde_json::Error) -> String {
    let full = e.to_string();
    let message = full
        .rfind(" at line ")
        .and_then(|at| full.get(..at))
        .unwrap_or(&full);
    format!("{message} (column {})", e.column())
}

fn string(value: Option<Value>, what: &str) -> Result<String, String> {
    match value {
        Some(Value::String(s)) => Ok(s),
        Some(other) => Err(format!("{what} must be a string, found {other}")),
        None => Err(format!("{what} is missing")),
    }
}

fn invocation(event: Event) -> Result<(String, Input), String> {
    let f = event
        .f
        .ok_or("an invocation needs \"f\" (get, put, append or cas)")?;
    let key = event.key.ok_or("an invocation needs \"key\"")?;
    let stray = |field: &str| format!("a {} invocation takes no \"{field}\"", f.name());
    if f != F::Cas && (event.from.is_some() || event.to.is_some()) {
        return Err(stray(if event.from.is_some() { "from" } else { "to" }));
    }
    let input = match f {
        F::Get => match event.value {
            None | Some(Value::Null) => Input::Get,
            Some(_) => return Err(stray("value")),
        },
        F::Put => Input::Put(string(event.value, "a put's \"value\"")?),
        F::Append => Input::Append(string(event.value, "an append's \"value\"")?),
        F::Cas => {
            if event.value.is_some() {
                return Err(stray("value"));
            }
            Input::Cas {
                from: event.from.ok_or("a cas invocation needs \"from\"")?,
                to: event.to.ok_or("a cas invocation needs \"to\"")?,
            }
        }
    };
    Ok((key, input))
}

fn completion(event: Event, history: &History) -> Result<Completion, String> {
    let client = event.client;
    let pending = history
        .pending(client)
        .ok_or_else(|| HistoryError::NothingPending { client }.to_string())?;
    let f = F::of(&pending.input);
    if let Some(said) = event.f.filter(|&said| said != f) {
        return Err(format!(
            "client {client} completes a {}, but its pending operation is a {}",
            said.name(),
            f.name()
        ));
    }
    if let Some(key) = event.key.as_ref().filter(|&k| *k != pending.key) {
        return Err(format!(
            "client {client} completes an operation on key {key:?}, but its pending operation is on key {:?}",
            pending.key
        ));
    }
    Ok(match event.kind {
        Kind::Fail => Completion::Failed,
        Kind::Info => Completion::Unknown,
        Kind::Invoke | Kind::Ok => Completion::Ok(match (f, event.value) {
            (F::Get, None | Some(Value::Null)) => Output::Value(String::new()),
            (F::Get, Some(Value::String(v))) => Output::Value(v),
            (F::Put | F::Append, None | Some(Value::Null)) => Output::Done,
            (F::Cas, Some(Value::Bool(swapped))) => Output::Cas(swapped),
            (F::Cas, None) => {
                return Err(
                    "a cas completion needs \"value\": true (swapped) or false (not equal)".into(),
                )
            }
            (f, Some(other)) => {
                return Err(format!("a {} cannot answer {other}", f.name()));
            }
        }),
    })
}

/// Parses the native format.
pub fn parse(text: &str) -> Result<History, ParseError> {
    let mut history = History::new();
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let event: Event =
            serde_json::from_str(trimmed).map_err(|e| ParseError::at(line, json_message(&e)))?;
        let (client, time) = (event.client, event.time);
        if event.kind == Kind::Invoke {
            let (key, input) = invocation(event).map_err(|m| ParseError::at(line, m))?;
            history
                .invoke(client, time, key, input)
                .map_err(|e| ParseError::history(line, e))?;
        } else {
            let done = completion(event, &history).map_err(|m| ParseError::at(line, m))?;
            history
                .complete(client, time, done)
                .map_err(|e| ParseError::history(line, e))?;
        }
    }
    Ok(history)
}

/// Writes `history` in the native format, one event per line, in time order.
pub fn write(history: &History, out: &mut impl std::io::Write) -> std::io::Result<()> {
    let mut events: Vec<Event> = Vec::with_capacity(2 * history.len());
    for op in history.ops() {
        let (value, from, to) = match &op.input {
            Input::Get => (None, None, None),
            Input::Put(v) | Input::Append(v) => (Some(Value::String(v.clone())), None, None),
            Input::Cas { from, to } => (None, Some(from.clone()), Some(to.clone())),
        };
        events.push(Event {
            client: op.client,
            kind: Kind::Invoke,
            f: Some(F::of(&op.input)),
            key: Some(op.key.clone()),
            value,
            from,
            to,
            time: op.invoked,
        });
        let Some(time) = op.completed else {
            continue;
        };
        let (kind, value) = match &op.outcome {
            Completion::Ok(Output::Done) => (Kind::Ok, None),
            Completion::Ok(Output::Value(v)) => (Kind::Ok, Some(Value::String(v.clone()))),
            Completion::Ok(Output::Cas(b)) => (Kind::Ok, Some(Value::Bool(*b))),
            Completion::Failed => (Kind::Fail, None),
            Completion::Unknown => (Kind::Info, None),
        };
        events.push(Event {
            client: op.client,
            kind,
            f: Some(F::of(&op.input)),
            key: None,
            value,
            from: None,
            to: None,
            time,
        });
    }
    // Stable: at equal times, an operation's events stay after its client's earlier ones.
    events.sort_by_key(|e| e.time);
    for event in &events {
        serde_json::to_writer(&mut *out, event)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

/// The native format of `history`, as a string.
pub fn to_string(history: &History) -> String {
    let mut out = Vec::new();
    // Writing to a Vec cannot fail; the JSON is UTF-8.
    let _ = write(history, &mut out);
    String::from_utf8(out).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"{"client":1,"type":"invoke","f":"put","key":"x","value":"1","time":1000}
{"client":2,"type":"invoke","f":"get","key":"x","time":1500}
{"client":1,"type":"ok","time":2000}
{"client":2,"type":"ok","f":"get","value":"1","time":2500}

# a comment
{"client":3,"type":"invoke","f":"cas","key":"x","from":"1","to":"2","time":3000}
{"client":3,"type":"ok","value":false,"time":3100}
{"client":4,"type":"invoke","f":"append","key":"x","value":"a","time":3200}
{"client":4,"type":"info","time":9000}
{"client":5,"type":"invoke","f":"get","key":"y","time":9100}
{"client":5,"type":"ok","value":null,"time":9200}
{"client":6,"type":"invoke","f":"put","key":"y","value":"z","time":9300}
{"client":6,"type":"fail","time":9400}
"#;

    #[test]
    fn parses_the_documented_example() {
        let h = parse(EXAMPLE).expect("parses");
        let ops = h.ops();
        assert_eq!(ops.len(), 6);
        assert_eq!(ops[0].input, Input::Put("1".into()));
        assert_eq!(ops[1].outcome, Completion::value("1"));
        assert_eq!(ops[2].outcome, Completion::cas(false));
        assert_eq!(
            (ops[3].outcome.clone(), ops[3].completed),
            (Completion::Unknown, Some(9000))
        );
        assert_eq!(ops[4].outcome, Completion::value(""));
        assert_eq!(ops[5].outcome, Completion::Failed);
    }

    #[test]
    fn writes_what_it_reads() {
        let h = parse(EXAMPLE).expect("parses");
        let again = parse(&to_string(&h)).expect("parses its own output");
        assert_eq!(h.ops(), again.ops());
    }

    fn error(text: &str) -> String {
        match parse(text) {
            Err(e) => e.to_string(),
            Ok(h) => panic!("accepted {text:?}: {:?}", h.ops()),
        }
    }

    #[test]
    fn malformed_lines_are_named() {
        let ok = r#"{"client":1,"type":"invoke","f":"get","key":"x","time":1}"#;
        assert_eq!(
            error(&format!("{ok}\n{{\"client\":1,\"type\":\"done\",\"time\":2}}")),
            "line 2: unknown variant `done`, expected one of `invoke`, `ok`, `fail`, `info` (column 25)"
        );
        assert!(error("{\"client\":1,\"type\":\"invoke\",\"time\":2}")
            .starts_with("line 1: an invocation needs \"f\""));
        assert!(error("{\"client\":1,\"type\":\"ok\",\"time\":2}")
            .starts_with("line 1: client 1 completes an operation, but it has none pending"));
        assert!(error(&format!("\n{ok}\n{ok}")).starts_with("line 3: client 1 invokes"));
        assert!(error(&format!(
            "{ok}\n{{\"client\":1,\"type\":\"ok\",\"value\":true,\"time\":3}}"
        ))
        .starts_with("line 2: a get cannot answer true"));
        assert!(error(&format!(
            "{ok}\n{{\"client\":1,\"type\":\"ok\",\"f\":\"put\",\"time\":3}}"
        ))
        .starts_with("line 2: client 1 completes a put, but its pending operation is a get"));
        assert!(error(&format!(
            "{ok}\n{{\"client\":1,\"type\":\"ok\",\"time\":0}}"
        ))
        .starts_with("line 2: client 1's get completes at time 0, before"));
        assert!(error(
            "{\"client\":1,\"type\":\"invoke\",\"f\":\"put\",\"key\":\"x\",\"value\":3,\"time\":1}"
        )
        .starts_with("line 1: a put's \"value\" must be a string, found 3"));
        assert!(error("{\"client\":1,\"typo\":2}").starts_with("line 1: unknown field `typo`"));
        assert!(error("{\"client\":-1,\"type\":\"ok\",\"time\":1}")
            .starts_with("line 1: invalid value"));
        assert!(error("not json").starts_with("line 1: expected ident"));
    }
}
