//! CodeBuild's phase semantics over a [`Session`]: install, pre_build, build, post_build in
//! order; in a phase, commands until one fails, then `finally`. A failed install or pre_build
//! ends the build (CodeBuild goes to FINALIZING); a failed build still runs post_build, with
//! `CODEBUILD_BUILD_SUCCEEDING=0`. `on-failure: CONTINUE` goes on with the next phase.

use std::time::{Duration, Instant};

use anyhow::Result;

use super::shell::Session;
use super::spec::{Buildspec, OnFailure, PHASES, Phase};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Succeeded,
    Failed,
    /// Not run: an earlier phase ended the build.
    Skipped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Succeeded => "SUCCEEDED",
            Status::Failed => "FAILED",
            Status::Skipped => "SKIPPED",
        }
    }
}

/// One phase's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhaseOutcome {
    pub name: &'static str,
    pub status: Status,
    pub took: Duration,
    /// The first command that failed, with its status.
    pub failed: Option<(String, i32)>,
}

/// What the runner tells its caller as the build goes.
pub enum Event<'a> {
    PhaseStarted(&'static str),
    Command(&'a str),
    Output(&'a str),
    PhaseDone(&'a PhaseOutcome),
}

/// Runs the phases of `spec` present in it; returns each one's outcome, in order.
pub fn run_phases(
    spec: &Buildspec,
    session: &mut Session,
    on: &mut dyn FnMut(Event),
) -> Result<Vec<PhaseOutcome>> {
    let mut outcomes = Vec::new();
    let mut succeeding = true;
    // Set when a phase failed with ABORT: which phases still run.
    let mut ended_by: Option<&str> = None;
    for name in PHASES {
        let Some(phase) = spec.phases.get(name) else {
            continue;
        };
        let runs = match ended_by {
            None => true,
            Some(failed) => failed == "build" && name == "post_build",
        };
        if !runs {
            let outcome = skipped(name);
            on(Event::PhaseDone(&outcome));
            outcomes.push(outcome);
            continue;
        }
        let flag = format!("export CODEBUILD_BUILD_SUCCEEDING={}", u8::from(succeeding));
        session.run(&flag, &mut |_| {})?;
        on(Event::PhaseStarted(name));
        let outcome = run_phase(name, phase, session, on)?;
        on(Event::PhaseDone(&outcome));
        if outcome.status == Status::Failed {
            succeeding = false;
            if phase.on_failure == OnFailure::Abort && ended_by.is_none() {
                ended_by = Some(name);
            }
        }
        outcomes.push(outcome);
    }
    Ok(outcomes)
}

fn skipped(name: &'static str) -> PhaseOutcome {
    PhaseOutcome {
        name,
        status: Status::Skipped,
        took: Duration::ZERO,
        failed: None,
    }
}

/// A phase: its commands until one fails, then its `finally` commands until one fails.
fn run_phase(
    name: &'static str,
    phase: &Phase,
    session: &mut Session,
    on: &mut dyn FnMut(Event),
) -> Result<PhaseOutcome> {
    let started = Instant::now();
    let mut failed = run_commands(&phase.commands, session, on)?;
    let finally_failed = run_commands(&phase.finally, session, on)?;
    failed = failed.or(finally_failed);
    Ok(PhaseOutcome {
        name,
        status: if failed.is_some() {
            Status::Failed
        } else {
            Status::Succeeded
        },
        took: started.elapsed(),
        failed,
    })
}

fn run_commands(
    commands: &[String],
    session: &mut Session,
    on: &mut dyn FnMut(Event),
) -> Result<Option<(String, i32)>> {
    for command in commands {
        on(Event::Command(command));
        let status = session.run(command, &mut |line| on(Event::Output(line)))?;
        if status != 0 {
            return Ok(Some((command.clone(), status)));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::super::spec::{Shell, parse};
    use super::*;

    /// Runs `yaml`'s phases; returns each phase's status and every output line.
    fn build(yaml: &str) -> (Vec<(&'static str, Status)>, Vec<String>) {
        let spec = parse(yaml).unwrap();
        let env = vec![("PATH".to_owned(), std::env::var("PATH").unwrap_or_default())];
        let mut session = Session::start(Shell::Bash, &std::env::temp_dir(), &env).unwrap();
        let mut lines = Vec::new();
        let outcomes = run_phases(&spec, &mut session, &mut |event| {
            if let Event::Output(line) = event {
                lines.push(line.to_owned());
            }
        })
        .unwrap();
        (outcomes.iter().map(|o| (o.name, o.status)).collect(), lines)
    }

    #[test]
    fn a_failed_build_runs_post_build_with_succeeding_0() {
        let (phases, lines) = build(
            "version: 0.2\nphases:\n  pre_build:\n    commands:\n      - TAG=abc\n  build:\n    commands:\n      - echo \"build $CODEBUILD_BUILD_SUCCEEDING\"\n      - 'false'\n      - echo never\n    finally:\n      - echo \"finally $TAG\"\n  post_build:\n    commands:\n      - echo \"post $CODEBUILD_BUILD_SUCCEEDING $TAG\"\n",
        );
        use Status::*;
        assert_eq!(
            phases,
            [
                ("pre_build", Succeeded),
                ("build", Failed),
                ("post_build", Succeeded)
            ]
        );
        assert_eq!(lines, ["build 1", "finally abc", "post 0 abc"]);
    }

    #[test]
    fn a_failed_pre_build_ends_the_build() {
        let (phases, lines) = build(
            "version: 0.2\nphases:\n  pre_build:\n    commands:\n      - exit 3\n  build:\n    commands:\n      - echo build\n  post_build:\n    commands:\n      - echo post\n",
        );
        use Status::*;
        assert_eq!(
            phases,
            [
                ("pre_build", Failed),
                ("build", Skipped),
                ("post_build", Skipped)
            ]
        );
        assert!(lines.is_empty(), "{lines:?}");
    }

    #[test]
    fn on_failure_continue_goes_on_but_the_build_is_failing() {
        let (phases, lines) = build(
            "version: 0.2\nphases:\n  install:\n    on-failure: CONTINUE\n    commands:\n      - 'false'\n  build:\n    commands:\n      - echo \"build $CODEBUILD_BUILD_SUCCEEDING\"\n",
        );
        use Status::*;
        assert_eq!(phases, [("install", Failed), ("build", Succeeded)]);
        assert_eq!(lines, ["build 0"]);
    }
}
