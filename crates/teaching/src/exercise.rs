//! Exercises on the scenarios, graded by the simulator (`cwb exercise check ANSWERS`).
//!
//! An exercise (`docs/exercises/*.toml`) names a scenario and a protocol and asks
//! questions about the run: "which node leads at 3 s?", "how many entries has node 4
//! delivered?", "why did this election take two rounds?". The answers are not stored as
//! text to compare: a student's answer becomes an expectation in the scenario format
//! ([`crate::scenario`]'s `[[expect]]`), the scenario runs, and the expectation's check
//! says whether it holds and what the run showed instead. So an answer is right exactly
//! when the simulator agrees, and the reason printed is the check's own line ("expected
//! node 2 to lead, but node 3 leads (LEADING, epoch 1)").
//!
//! Two kinds of question:
//! - a value: `field` names the expectation field the answer fills (`leader`, `term`,
//!   `delivered`, `states`, `following`, `others_follow`) at `at_ms`;
//! - a choice among explanations: each `[[question.choice]]` carries the expectations
//!   (`expect`, bodies of `[[expect]]` tables) that hold if it is the right one; the
//!   chosen one is graded by running them. Exactly one choice's expectations hold (the
//!   tests check it for every shipped exercise), so the wrong explanations are refuted
//!   by the run, not by a key.
//!
//! The student's file:
//! ```toml
//! exercise = "01-who-leads-a.toml"   # relative to this file
//! [answers]
//! leader = 3          # question id = answer (a number, a string, or a table)
//! why = "b"           # a choice's key
//! ```

use super::scenario::{self, CheckReport, Scenario, ScenarioError, Scripted, Verdict};
use protocols::ProtocolKind;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Why an exercise or an answer file cannot be graded.
#[derive(Debug, Error)]
pub enum ExerciseError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file is not what it should be.
    #[error("{0}")]
    Invalid(String),
    /// The scenario (with the answer as an expectation) is refused.
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
}

/// An exercise file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Exercise {
    /// Its title.
    pub title: String,
    /// The scenario file, relative to the exercise file.
    pub scenario: String,
    /// The protocol the questions are about.
    pub protocol: String,
    /// What to do first (which command to run, what to look at).
    pub intro: String,
    /// The questions.
    pub question: Vec<Question>,
}

/// One question.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Question {
    /// The key of the answer in the student's file.
    pub id: String,
    /// The question.
    pub ask: String,
    /// A value question: when the answer is checked.
    pub at_ms: Option<u64>,
    /// A value question: the expectation field the answer fills.
    pub field: Option<String>,
    /// A choice question: the explanations to choose from.
    #[serde(default)]
    pub choice: Vec<Choice>,
    /// Shown after grading: the rule at work, for right and wrong answers alike.
    pub explain: String,
}

/// One explanation to choose from.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Choice {
    /// What the student answers to choose it (`a`).
    pub key: String,
    /// The explanation.
    pub text: String,
    /// Bodies of `[[expect]]` tables that hold if this explanation is right.
    pub expect: Vec<String>,
}

/// A student's answer file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Answers {
    exercise: String,
    #[serde(default)]
    answers: BTreeMap<String, toml::Value>,
}

/// The grade of one question.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Graded {
    /// The question's id.
    pub id: String,
    /// The question.
    pub ask: String,
    /// `None`: not answered.
    pub right: Option<bool>,
    /// What the run showed (the check lines of the answer's expectations).
    pub reason: Vec<String>,
    /// The rule at work.
    pub explain: String,
}

/// Reads an exercise file.
pub fn load(path: &Path) -> Result<Exercise, ExerciseError> {
    let text = read(path)?;
    let ex: Exercise = toml::from_str(&text)
        .map_err(|e| ExerciseError::Invalid(format!("{}: {e}", path.display())))?;
    for q in &ex.question {
        let value = q.field.is_some() && q.at_ms.is_some() && q.choice.is_empty();
        let choice = q.field.is_none() && q.at_ms.is_none() && !q.choice.is_empty();
        if !(value || choice) {
            return Err(ExerciseError::Invalid(format!(
                "{}: question {:?}: give `field` and `at_ms`, or choices",
                path.display(),
                q.id
            )));
        }
    }
    Ok(ex)
}

fn read(path: &Path) -> Result<String, ExerciseError> {
    std::fs::read_to_string(path).map_err(|source| ExerciseError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// The exercise an answer file names, with its path, and the answers.
pub fn answers(
    path: &Path,
) -> Result<(PathBuf, Exercise, BTreeMap<String, toml::Value>), ExerciseError> {
    let text = read(path)?;
    let a: Answers = toml::from_str(&text)
        .map_err(|e| ExerciseError::Invalid(format!("{}: {e}", path.display())))?;
    let base = path.parent().unwrap_or(Path::new("."));
    let mut exercise = base.join(&a.exercise);
    if !exercise.exists() {
        // Also as given (relative to the working directory).
        exercise = PathBuf::from(&a.exercise);
    }
    let ex = load(&exercise)?;
    Ok((exercise, ex, a.answers))
}

/// The protocol an exercise is about.
pub fn protocol(ex: &Exercise) -> Result<ProtocolKind, ExerciseError> {
    ex.protocol
        .parse()
        .map_err(|e: protocols::UnknownProtocol| ExerciseError::Invalid(e.to_string()))
}

/// The expectation bodies an answer stands for (one for a value, the choice's for a
/// choice), or why the answer cannot be one.
fn answer_expects(q: &Question, answer: &toml::Value) -> Result<Vec<String>, String> {
    match (&q.field, q.at_ms) {
        (Some(field), Some(at)) => Ok(vec![format!("at_ms = {at}\n{field} = {answer}")]),
        _ => {
            let key = answer
                .as_str()
                .ok_or("answer with a choice's key, as a string")?;
            let c = q
                .choice
                .iter()
                .find(|c| c.key.eq_ignore_ascii_case(key.trim()))
                .ok_or_else(|| {
                    let keys: Vec<&str> = q.choice.iter().map(|c| c.key.as_str()).collect();
                    format!("{key:?} is not a choice ({})", keys.join(", "))
                })?;
            Ok(c.expect.clone())
        }
    }
}

/// Runs the scenario with `P`, with `expects` (bodies of `[[expect]]` tables) as its
/// only expectations; their checks, in time order.
fn checks<P: Scripted>(
    scenario_text: &str,
    expects: &[String],
) -> Result<Vec<CheckReport>, ExerciseError> {
    let mut text = scenario_text.to_string();
    for body in expects {
        text.push_str("\n[[expect]]\n");
        text.push_str(body);
        text.push('\n');
    }
    // `scenario_text` holds no expectations of its own (`strip_expects`).
    let s = Scenario::parse(&text)?;
    let o = scenario::run::<P>(&s)?;
    Ok(o.checks)
}

/// Grades `answers` to `ex` (whose scenario file holds `scenario_text`) with `P`.
pub fn grade<P: Scripted>(
    ex: &Exercise,
    scenario_text: &str,
    answers: &BTreeMap<String, toml::Value>,
) -> Result<Vec<Graded>, ExerciseError> {
    // The scenario's own expectations are not part of the exercise.
    let bare = strip_expects(scenario_text);
    let mut out = Vec::new();
    for q in &ex.question {
        let mut g = Graded {
            id: q.id.clone(),
            ask: q.ask.clone(),
            right: None,
            reason: Vec::new(),
            explain: q.explain.clone(),
        };
        if let Some(answer) = answers.get(&q.id) {
            match answer_expects(q, answer) {
                Err(why) => {
                    g.right = Some(false);
                    g.reason.push(why);
                }
                Ok(bodies) => {
                    let reports = checks::<P>(&bare, &bodies)
                        .map_err(|e| ExerciseError::Invalid(format!("question {:?}: {e}", q.id)))?;
                    g.right = Some(!reports.is_empty() && reports.iter().all(CheckReport::passed));
                    for r in &reports {
                        for l in &r.lines {
                            let mark = match l.verdict {
                                Verdict::Pass => "holds:",
                                Verdict::Fail => "does not hold:",
                                Verdict::Note => "note:",
                            };
                            g.reason.push(format!("at {}: {mark} {}", r.at, l.text));
                        }
                    }
                }
            }
        }
        out.push(g);
    }
    Ok(out)
}

/// The scenario text without its `[[expect]]` tables (each runs to the next table
/// header or the end).
pub fn strip_expects(text: &str) -> String {
    let mut out = String::new();
    let mut skipping = false;
    for line in text.lines() {
        let header = line.trim_start().starts_with('[');
        if header {
            skipping = line.trim() == "[[expect]]";
        }
        if !skipping {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// Which choices' expectations hold for `q` (a shipped exercise has exactly one).
pub fn holding_choices<P: Scripted>(
    scenario_text: &str,
    q: &Question,
) -> Result<Vec<String>, ExerciseError> {
    let bare = strip_expects(scenario_text);
    let mut keys = Vec::new();
    for c in &q.choice {
        let reports = checks::<P>(&bare, &c.expect)?;
        if !reports.is_empty() && reports.iter().all(CheckReport::passed) {
            keys.push(c.key.clone());
        }
    }
    Ok(keys)
}

/// The grades in words, one block per question, and the score.
pub fn report(title: &str, graded: &[Graded]) -> String {
    let mut s = format!("{title}\n\n");
    for g in graded {
        let verdict = match g.right {
            Some(true) => "RIGHT",
            Some(false) => "WRONG",
            None => "not answered",
        };
        s.push_str(&format!("{}: {verdict} ({})\n", g.id, g.ask.trim()));
        for r in &g.reason {
            s.push_str(&format!("    {r}\n"));
        }
        if g.right.is_some() {
            s.push_str(&format!("    why: {}\n", g.explain.trim()));
        }
        s.push('\n');
    }
    let right = graded.iter().filter(|g| g.right == Some(true)).count();
    s.push_str(&format!("score: {right} of {} right\n", graded.len()));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expectations_are_stripped_to_the_next_table() {
        let t = "name = \"x\"\n[[step]]\nat_ms = 0\n[[expect]]\nat_ms = 5\nleader = 1\n[[step]]\nat_ms = 9\n";
        assert_eq!(
            strip_expects(t),
            "name = \"x\"\n[[step]]\nat_ms = 0\n[[step]]\nat_ms = 9\n"
        );
    }

    #[test]
    fn a_value_answer_becomes_an_expectation() {
        let q = Question {
            id: "q".into(),
            ask: "who?".into(),
            at_ms: Some(900),
            field: Some("leader".into()),
            choice: Vec::new(),
            explain: String::new(),
        };
        assert_eq!(
            answer_expects(&q, &toml::Value::Integer(3)),
            Ok(vec!["at_ms = 900\nleader = 3".to_string()])
        );
        let q = Question {
            at_ms: None,
            field: None,
            choice: vec![Choice {
                key: "a".into(),
                text: "t".into(),
                expect: vec!["at_ms = 1\nleader = \"none\"".into()],
            }],
            ..q
        };
        assert!(answer_expects(&q, &toml::Value::String("A".into())).is_ok());
        assert!(answer_expects(&q, &toml::Value::String("z".into()))
            .unwrap_err()
            .contains("not a choice"));
    }
}
