//! `cwb exercise check ANSWERS`: a student's answer file graded by the simulator.

use std::process::Command;

#[test]
fn exercise_check_says_right_or_wrong_per_question_with_the_reason() {
    let dir = std::env::temp_dir().join(format!("cwb-exercise-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let exercise = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/exercises/04-split-vote.toml"
    );
    let answers = dir.join("answers.toml");
    std::fs::write(
        &answers,
        format!("exercise = {exercise:?}\n[answers]\nfirst = \"none\"\nterm = 1\nwhy = \"a\"\n"),
    )
    .expect("write answers");
    let out = Command::new(env!("CARGO_BIN_EXE_cwb"))
        .args(["exercise", "check"])
        .arg(&answers)
        .output()
        .expect("cwb runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "one answer is wrong:\n{text}");
    assert!(text.contains("first: RIGHT"), "{text}");
    assert!(text.contains("term: WRONG"), "{text}");
    assert!(
        text.contains("the leader's term is 2 (expected 1)"),
        "the reason is the run's: {text}"
    );
    assert!(
        text.contains("why: RIGHT") && text.contains("score: 2 of 3 right"),
        "{text}"
    );
    // All right: exit 0.
    std::fs::write(
        &answers,
        format!("exercise = {exercise:?}\n[answers]\nfirst = \"none\"\nterm = 2\nwhy = \"a\"\n"),
    )
    .expect("write answers");
    let out = Command::new(env!("CARGO_BIN_EXE_cwb"))
        .args(["exercise", "check"])
        .arg(&answers)
        .output()
        .expect("cwb runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
