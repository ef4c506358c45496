//! Porcupine's key-value logs: one Clojure (EDN) map per line, many keys.
//!
//! ```text
//! {:process 0, :type :invoke, :f :append, :key "0", :value "x 0 0 y"}
//! {:process 0, :type :ok, :f :append, :key "0", :value "x 0 0 y"}
//! {:process 1, :type :invoke, :f :get, :key "7", :value nil}
//! {:process 1, :type :ok, :f :get, :key "7", :value ""}
//! ```
//!
//! `:process` is the client, `:type` is `:invoke`, `:ok`, `:fail` (definitely did not
//! happen) or `:info` (no answer), `:f` is `:get`, `:put`, `:append` or `:cas` (whose
//! `:value` is `[FROM TO]`; as in Jepsen, `:fail :cas` means the key did not hold
//! FROM). Keys and values are strings (integers are read as their decimal text); a
//! `nil` read is the empty value. Blank lines and `;` comments are ignored. Each event
//! happens at its line number.

use super::ParseError;
use crate::history::{Clock, Completion, History, HistoryError, Input};
use std::iter::Peekable;
use std::str::Chars;

/// The EDN values these logs use.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Edn {
    Nil,
    Bool(bool),
    Int(i64),
    Str(String),
    Keyword(String),
    Vector(Vec<Edn>),
}

impl Edn {
    fn show(&self) -> String {
        match self {
            Edn::Nil => "nil".into(),
            Edn::Bool(b) => b.to_string(),
            Edn::Int(i) => i.to_string(),
            Edn::Str(s) => format!("{s:?}"),
            Edn::Keyword(k) => format!(":{k}"),
            Edn::Vector(v) => format!(
                "[{}]",
                v.iter().map(Edn::show).collect::<Vec<_>>().join(" ")
            ),
        }
    }

    /// A string, or an integer as its decimal text.
    fn text(&self) -> Option<String> {
        match self {
            Edn::Str(s) => Some(s.clone()),
            Edn::Int(i) => Some(i.to_string()),
            _ => None,
        }
    }
}

struct Reader<'a> {
    chars: Peekable<Chars<'a>>,
}

fn is_delimiter(c: char) -> bool {
    c.is_whitespace() || matches!(c, ',' | '{' | '}' | '[' | ']' | '"' | ';')
}

impl Reader<'_> {
    fn skip_blank(&mut self) {
        while self
            .chars
            .next_if(|&c| c.is_whitespace() || c == ',')
            .is_some()
        {}
    }

    fn token(&mut self) -> String {
        let mut token = String::new();
        while let Some(c) = self.chars.next_if(|&c| !is_delimiter(c)) {
            token.push(c);
        }
        token
    }

    fn string(&mut self) -> Result<Edn, String> {
        let mut s = String::new();
        loop {
            match self.chars.next() {
                None => return Err("unterminated string".into()),
                Some('"') => return Ok(Edn::Str(s)),
                Some('\\') => match self.chars.next() {
                    Some('n') => s.push('\n'),
                    Some('t') => s.push('\t'),
                    Some('r') => s.push('\r'),
                    Some(c @ ('"' | '\\')) => s.push(c),
                    Some(c) => return Err(format!("unknown escape \\{c} in a string")),
                    None => return Err("unterminated string".into()),
                },
                Some(c) => s.push(c),
            }
        }
    }

    fn value(&mut self) -> Result<Edn, String> {
        self.skip_blank();
        match self.chars.peek().copied() {
            None => Err("expected a value, found the end of the line".into()),
            Some('"') => {
                self.chars.next();
                self.string()
            }
            Some(':') => {
                self.chars.next();
                let name = self.token();
                if name.is_empty() {
                    return Err("expected a keyword name after ':'".into());
                }
                Ok(Edn::Keyword(name))
            }
            Some('[') => {
                self.chars.next();
                let mut items = Vec::new();
                loop {
                    self.skip_blank();
                    if self.chars.next_if_eq(&']').is_some() {
                        return Ok(Edn::Vector(items));
                    }
                    items.push(self.value()?);
                }
            }
            Some(c) if is_delimiter(c) => Err(format!("expected a value, found {c:?}")),
            Some(_) => {
                let token = self.token();
                match token.as_str() {
                    "nil" => Ok(Edn::Nil),
                    "true" => Ok(Edn::Bool(true)),
                    "false" => Ok(Edn::Bool(false)),
                    _ => token
                        .parse::<i64>()
                        .map(Edn::Int)
                        .map_err(|_| format!("expected a value, found {token:?}")),
                }
            }
        }
    }

    /// A whole line: one map of keyword keys.
    fn map(&mut self) -> Result<Vec<(String, Edn)>, String> {
        self.skip_blank();
        if self.chars.next_if_eq(&'{').is_none() {
            return Err(format!("expected a map {{...}}, found {:?}", self.token()));
        }
        let mut fields = Vec::new();
        loop {
            self.skip_blank();
            if self.chars.next_if_eq(&'}').is_some() {
                break;
            }
            match self.value()? {
                Edn::Keyword(name) => {
                    let value = self.value()?;
                    fields.push((name, value));
                }
                other => return Err(format!("expected a keyword key, found {}", other.show())),
            }
        }
        self.skip_blank();
        match self.chars.peek() {
            None | Some(';') => Ok(fields),
            Some(_) => Err("unexpected text after the map".into()),
        }
    }
}

fn field<'a>(fields: &'a [(String, Edn)], name: &str) -> Option<&'a Edn> {
    fields.iter().find(|(n, _)| n == name).map(|(_, v)| v)
}

fn keyword<'a>(fields: &'a [(String, Edn)], name: &str, expected: &str) -> Result<&'a str, String> {
    match field(fields, name) {
        Some(Edn::Keyword(k)) => Ok(k),
        Some(other) => Err(format!("expected {expected}, found {}", other.show())),
        None => Err(format!("missing :{name} (expected {expected})")),
    }
}

fn input_of(f: &str, value: Option<&Edn>) -> Result<Input, String> {
    let text = |what: &str| {
        value.and_then(Edn::text).ok_or_else(|| {
            format!(
                "{what} needs a string :value, found {}",
                value.map_or("nothing".into(), Edn::show)
            )
        })
    };
    Ok(match f {
        "get" => Input::Get,
        "put" => Input::Put(text("a put")?),
        "append" => Input::Append(text("an append")?),
        _ => match value {
            Some(Edn::Vector(pair)) => match pair.as_slice() {
                [from, to] => match (from.text(), to.text()) {
                    (Some(from), Some(to)) => Input::Cas { from, to },
                    _ => {
                        return Err(format!(
                            "a cas needs :value [FROM TO], found {}",
                            Edn::Vector(pair.clone()).show()
                        ))
                    }
                },
                _ => {
                    return Err(format!(
                        "a cas needs :value [FROM TO], found {}",
                        Edn::Vector(pair.clone()).show()
                    ))
                }
            },
            other => {
                return Err(format!(
                    "a cas needs :value [FROM TO], found {}",
                    other.map_or("nothing".into(), Edn::show)
                ))
            }
        },
    })
}

/// A history error in words, with its times read as the line numbers they are.
fn as_line(e: HistoryError) -> String {
    e.to_string().replace(" at time ", " on line ")
}

fn event(history: &mut History, line: usize, text: &str) -> Result<(), String> {
    let fields = Reader {
        chars: text.chars().peekable(),
    }
    .map()?;
    let client = match field(&fields, "process") {
        Some(Edn::Int(p)) if *p >= 0 => p.unsigned_abs(),
        Some(other) => return Err(format!("expected a process number, found {}", other.show())),
        None => return Err("missing :process".into()),
    };
    let kind = keyword(&fields, "type", ":invoke, :ok, :fail or :info")?;
    let f = keyword(&fields, "f", ":get, :put, :append or :cas")?;
    if !matches!(f, "get" | "put" | "append" | "cas") {
        return Err(format!("expected :get, :put, :append or :cas, found :{f}"));
    }
    let key = field(&fields, "key");
    let value = field(&fields, "value");
    let time = line as u64;
    match kind {
        "invoke" => {
            let key = key.and_then(Edn::text).ok_or_else(|| {
                format!(
                    "an invocation needs a string :key, found {}",
                    key.map_or("nothing".into(), Edn::show)
                )
            })?;
            let input = input_of(f, value)?;
            history.invoke(client, time, key, input).map_err(as_line)?;
        }
        "ok" | "fail" | "info" => {
            let pending = history.pending(client).ok_or_else(|| {
                format!("process {client} completes an operation, but it has none pending")
            })?;
            if f != pending.input.name() {
                return Err(format!(
                    "process {client} completes a :{f}, but its pending operation is a :{}",
                    pending.input.name()
                ));
            }
            if let Some(k) = key.and_then(Edn::text).filter(|k| *k != pending.key) {
                return Err(format!(
                    "process {client} completes an operation on key {k:?}, but its pending operation is on key {:?}",
                    pending.key
                ));
            }
            let completion = match (kind, f) {
                ("info", _) => Completion::Unknown,
                ("ok", "get") => match value {
                    None | Some(Edn::Nil) => Completion::value(""),
                    Some(v) => Completion::value(
                        v.text()
                            .ok_or_else(|| format!("a get answers a string, found {}", v.show()))?,
                    ),
                },
                ("ok", "cas") => Completion::cas(true),
                ("ok", _) => Completion::done(),
                (_, "cas") => Completion::cas(false),
                _ => Completion::Failed,
            };
            history
                .complete(client, time, completion)
                .map_err(as_line)?;
        }
        _ => {
            return Err(format!(
                "expected :invoke, :ok, :fail or :info, found :{kind}"
            ))
        }
    }
    Ok(())
}

/// Parses a Porcupine key-value log.
pub fn parse(text: &str) -> Result<History, ParseError> {
    let mut history = History::with_clock(Clock::Lines);
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with(';') {
            continue;
        }
        event(&mut history, line, trimmed).map_err(|m| ParseError::at(line, m))?;
    }
    Ok(history)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_edn_values() {
        let mut r = Reader {
            chars: r#"{:a "x \"q\"\n", :b nil :c [1 -2] :d :kw, :e true}"#
                .chars()
                .peekable(),
        };
        let fields = r.map().expect("a map");
        assert_eq!(
            fields,
            vec![
                ("a".into(), Edn::Str("x \"q\"\n".into())),
                ("b".into(), Edn::Nil),
                ("c".into(), Edn::Vector(vec![Edn::Int(1), Edn::Int(-2)])),
                ("d".into(), Edn::Keyword("kw".into())),
                ("e".into(), Edn::Bool(true)),
            ]
        );
    }

    #[test]
    fn parses_operations() {
        let log = "{:process 0, :type :invoke, :f :append, :key \"0\", :value \"x 0 0 y\"}\n\
                   {:process 1, :type :invoke, :f :get, :key \"0\", :value nil}\n\
                   {:process 0, :type :ok, :f :append, :key \"0\", :value \"x 0 0 y\"}\n\
                   ; a comment\n\
                   {:process 1, :type :ok, :f :get, :key \"0\", :value \"x 0 0 y\"}\n\
                   {:process 2, :type :invoke, :f :cas, :key 7, :value [1 2]}\n\
                   {:process 2, :type :fail, :f :cas, :key 7, :value [1 2]}\n\
                   {:process 3, :type :invoke, :f :put, :key \"0\", :value \"z\"}\n\
                   {:process 3, :type :info, :f :put, :key \"0\", :value \"z\"}\n";
        let h = parse(log).expect("parses");
        let got: Vec<(String, Input, Completion)> = h
            .ops()
            .iter()
            .map(|o| (o.key.clone(), o.input.clone(), o.outcome.clone()))
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    "0".into(),
                    Input::Append("x 0 0 y".into()),
                    Completion::done()
                ),
                ("0".into(), Input::Get, Completion::value("x 0 0 y")),
                (
                    "7".into(),
                    Input::Cas {
                        from: "1".into(),
                        to: "2".into()
                    },
                    Completion::cas(false)
                ),
                ("0".into(), Input::Put("z".into()), Completion::Unknown),
            ]
        );
        assert_eq!(h.ops()[1].invoked, 2);
        assert_eq!(h.ops()[1].completed, Some(5));
    }

    fn error(text: &str) -> String {
        parse(text)
            .map(|h| format!("accepted: {:?}", h.ops()))
            .unwrap_or_else(|e| e.to_string())
    }

    #[test]
    fn malformed_lines_are_named() {
        let invoke = "{:process 0, :type :invoke, :f :get, :key \"1\", :value nil}\n";
        assert_eq!(
            error(&format!(
                "{invoke}{{:process 0, :type :done, :f :get, :key \"1\"}}"
            )),
            "line 2: expected :invoke, :ok, :fail or :info, found :done"
        );
        assert_eq!(
            error("{:process 0, :type :invoke, :f :get, :key \"1\""),
            "line 1: expected a value, found the end of the line"
        );
        assert_eq!(
            error("{:process 0, :type :invoke, :f :get, :key \"1}"),
            "line 1: unterminated string"
        );
        assert_eq!(
            error("(list)"),
            "line 1: expected a map {...}, found \"(list)\""
        );
        assert_eq!(
            error("{:type :invoke, :f :get, :key \"1\"}"),
            "line 1: missing :process"
        );
        assert_eq!(
            error("{:process 0, :type :invoke, :f :put, :key \"1\", :value nil}"),
            "line 1: a put needs a string :value, found nil"
        );
        assert_eq!(
            error(&format!(
                "{invoke}{{:process 0, :type :ok, :f :put, :key \"1\"}}"
            )),
            "line 2: process 0 completes a :put, but its pending operation is a :get"
        );
        assert_eq!(
            error("{:process 0, :type :invoke, :f :get, :key \"1\"} trailing"),
            "line 1: unexpected text after the map"
        );
        assert_eq!(
            error("{:process 0, :type :invoke, :f :drop, :key \"1\"}"),
            "line 1: expected :get, :put, :append or :cas, found :drop"
        );
    }
}
