//! `cwb exercise`: the exercises of docs/exercises/, graded by the simulator.
//!
//! - `cwb exercise check ANSWERS.toml`: the student's file names an exercise and gives
//!   an answer per question; each answer runs as an expectation of the exercise's
//!   scenario (`teaching::exercise`), and the command says per question whether it is
//!   right, what the run showed, and the rule at work. Exit status 0 when every
//!   question is answered right, 1 otherwise.
//! - `cwb exercise show EXERCISE.toml`: prints the questions (and the choices).

use anyhow::Context;
use drivers::with_protocol;
use std::path::{Path, PathBuf};
use teaching::exercise;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    command: Sub,
}

#[derive(clap::Subcommand, Debug)]
enum Sub {
    /// Grade an answer file (`exercise = "PATH"` and an `[answers]` table).
    Check {
        /// The student's answers.
        answers: PathBuf,
    },
    /// Print an exercise's questions.
    Show {
        /// The exercise file (docs/exercises/*.toml).
        exercise: PathBuf,
    },
}

pub fn run(args: Args) -> anyhow::Result<()> {
    match args.command {
        Sub::Show { exercise } => {
            let ex = exercise::load(&exercise)?;
            println!(
                "{}

{}
",
                ex.title,
                ex.intro.trim()
            );
            for q in &ex.question {
                println!("{}: {}", q.id, q.ask.trim());
                for c in &q.choice {
                    println!("    {}) {}", c.key, c.text.trim());
                }
            }
            println!(
                "\nWrite your answers in a file:\n    exercise = \"{}\"\n    [answers]\n    {} = ...\nthen run: cwb exercise check FILE",
                exercise.display(),
                ex.question.first().map_or("id", |q| q.id.as_str())
            );
            Ok(())
        }
        Sub::Check { answers } => {
            let (path, ex, given) = exercise::answers(&answers)?;
            let scenario = scenario_path(&path, &ex.scenario);
            let text = std::fs::read_to_string(&scenario)
                .with_context(|| format!("cannot read the scenario {}", scenario.display()))?;
            let protocol = exercise::protocol(&ex)?;
            let graded = with_protocol!(protocol, P => exercise::grade::<P>(&ex, &text, &given))?;
            for id in given.keys() {
                if !ex.question.iter().any(|q| &q.id == id) {
                    eprintln!("note: {id:?} is not a question of this exercise; ignored");
                }
            }
            print!("{}", exercise::report(&ex.title, &graded));
            if graded.iter().all(|g| g.right == Some(true)) {
                Ok(())
            } else {
                std::process::exit(1)
            }
        }
    }
}

/// The scenario an exercise names, relative to the exercise file.
fn scenario_path(exercise: &Path, scenario: &str) -> PathBuf {
    exercise.parent().unwrap_or(Path::new(".")).join(scenario)
}
