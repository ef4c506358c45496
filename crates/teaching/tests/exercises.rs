//! The exercises of docs/exercises/: each key grades all right, a wrong answer grades
//! wrong with the run's reason, and of each question's choices exactly one holds.

use protocols::paxos::Paxos;
use protocols::raft::Raft;
use protocols::redis::Redis;
use protocols::zab::Zab;
use protocols::ProtocolKind;
use std::path::PathBuf;
use teaching::exercise::{self, Exercise, Graded};

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/exercises")
}

fn scenario_text(ex: &Exercise) -> String {
    let path = dir().join(&ex.scenario);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn grade(ex: &Exercise, answers: &std::collections::BTreeMap<String, toml::Value>) -> Vec<Graded> {
    let text = scenario_text(ex);
    match exercise::protocol(ex).expect("a protocol") {
        ProtocolKind::Raft => exercise::grade::<Raft>(ex, &text, answers),
        ProtocolKind::Zab => exercise::grade::<Zab>(ex, &text, answers),
        ProtocolKind::Paxos => exercise::grade::<Paxos>(ex, &text, answers),
        ProtocolKind::Redis => exercise::grade::<Redis>(ex, &text, answers),
    }
    .unwrap_or_else(|e| panic!("{}: {e}", ex.title))
}

#[test]
fn every_exercise_key_is_right_and_exactly_one_choice_holds() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir())
        .expect("docs/exercises exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    assert!(files.len() >= 10, "exercises: {files:?}");
    for path in files {
        let stem = path.file_name().expect("a name").to_owned();
        let key = dir().join("key").join(&stem);
        let (_, ex, answers) =
            exercise::answers(&key).unwrap_or_else(|e| panic!("{}: {e}", key.display()));
        let graded = grade(&ex, &answers);
        for g in &graded {
            assert_eq!(g.right, Some(true), "{}: {g:#?}", path.display());
        }
        let text = scenario_text(&ex);
        for q in ex.question.iter().filter(|q| !q.choice.is_empty()) {
            let holding = match exercise::protocol(&ex).expect("a protocol") {
                ProtocolKind::Raft => exercise::holding_choices::<Raft>(&text, q),
                ProtocolKind::Zab => exercise::holding_choices::<Zab>(&text, q),
                ProtocolKind::Paxos => exercise::holding_choices::<Paxos>(&text, q),
                ProtocolKind::Redis => exercise::holding_choices::<Redis>(&text, q),
            }
            .expect("runs");
            assert_eq!(
                holding.len(),
                1,
                "{}: {}: {holding:?}",
                path.display(),
                q.id
            );
            assert_eq!(
                answers.get(&q.id).and_then(|v| v.as_str()),
                holding.first().map(String::as_str),
                "{}: {}",
                path.display(),
                q.id
            );
        }
    }
}

#[test]
fn a_wrong_answer_is_graded_wrong_with_what_the_run_showed() {
    let ex = exercise::load(&dir().join("03-higher-zxid-wins.toml")).expect("loads");
    let mut answers = std::collections::BTreeMap::new();
    answers.insert("leader".to_string(), toml::Value::Integer(5));
    answers.insert("why".to_string(), toml::Value::String("z".into()));
    let graded = grade(&ex, &answers);
    let by_id = |id: &str| graded.iter().find(|g| g.id == id).expect("graded");
    assert_eq!(by_id("leader").right, Some(false));
    assert!(
        by_id("leader")
            .reason
            .iter()
            .any(|r| r.contains("expected node 5 to lead, but node 3 leads")),
        "{:?}",
        by_id("leader").reason
    );
    assert_eq!(by_id("why").right, Some(false));
    assert!(by_id("why").reason[0].contains("not a choice"));
    assert_eq!(by_id("epoch").right, None, "not answered");
    let report = exercise::report(&ex.title, &graded);
    assert!(report.contains("score: 0 of 3 right"), "{report}");
}
