//! `cargo xtask codebuild`: runs `buildspec.yml` as CodeBuild does — one shell session,
//! phases in order, post_build after a failed build, CodeBuild's environment — in the
//! working tree, and leaves the artifacts where CodePipeline would pick them up. With
//! `--local`, ECR is local-ecs's.

mod env;
mod phases;
mod shell;
mod spec;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;

use crate::config::TargetArgs;
use crate::failure::Failure;
use crate::out::outln;
use crate::util::project_root;
use phases::{Event, PhaseOutcome, Status};

#[derive(Debug, Args)]
pub struct CodebuildArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Set a variable in the build's environment (repeatable), as the CodeBuild project or a
    /// start-build override would; wins over the buildspec's env.variables.
    #[arg(long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// The buildspec to run [default: buildspec.yml at the workspace root]. The source
    /// directory is the workspace root either way.
    #[arg(long, value_name = "FILE")]
    pub buildspec: Option<PathBuf>,
    /// Where the artifacts (`artifacts.files`) are copied [default: target/codebuild/artifacts].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// What a build did.
pub struct Built {
    pub phases: Vec<PhaseOutcome>,
    /// The artifacts directory, with every file the buildspec names.
    pub artifacts: PathBuf,
}

/// `cargo xtask codebuild`.
pub fn run(args: CodebuildArgs) -> Result<()> {
    build(&args, &|line| outln!("{line}")).map(|_| ())
}

/// Runs the build; an error when a phase or the artifact upload failed (exit 1), or the
/// buildspec or a flag is wrong (exit 2).
/// Every line of its log goes to `say`.
pub fn build(args: &CodebuildArgs, say: &dyn Fn(&str)) -> Result<Built> {
    let settings = args.target.resolve()?;
    let path = args
        .buildspec
        .clone()
        .unwrap_or_else(|| project_root().join("buildspec.yml"));
    let text = std::fs::read_to_string(&path)
        .map_err(|e| Failure::usage(format!("cannot read {}: {e}", path.display())))?;
    let spec =
        spec::parse(&text).map_err(|e| Failure::usage(format!("{}: {e}", path.display())))?;
    let out_dir = args.out.clone().unwrap_or_else(|| {
        project_root()
            .join("target")
            .join("codebuild")
            .join("artifacts")
    });
    let source = project_root();
    let environment = env::environment(&spec, &settings, &args.env, &source, say)?;
    // A file left by an earlier build must not pass for this build's artifact.
    for file in &spec.artifact_files {
        let _ = std::fs::remove_file(out_dir.join(file));
    }
    say(&format!(
        "codebuild: {} in {} (build {})",
        path.display(),
        source.display(),
        environment.build_id
    ));
    let mut session = shell::Session::start(spec.shell, &source, &environment.vars)?;
    let outcomes = phases::run_phases(&spec, &mut session, &mut |event| show(event, say))?;
    drop(session);
    // CodeBuild uploads a failed build's artifacts too, but CodePipeline passes none of a
    // failed build on: the output directory keeps nothing of it.
    if let Some(failed) = outcomes.iter().find(|o| o.status == Status::Failed) {
        return Err(Failure::deploy(format!(
            "the build failed in phase {}; no artifacts",
            failed.name
        ))
        .into());
    }
    upload_artifacts(&spec.artifact_files, &source, &out_dir, say)?;
    say(&format!(
        "codebuild: SUCCEEDED; artifacts in {}",
        out_dir.display()
    ));
    Ok(Built {
        phases: outcomes,
        artifacts: out_dir,
    })
}

/// Plain lines, whatever stdout is: CodeBuild's log, in short.
fn show(event: Event, say: &dyn Fn(&str)) {
    match event {
        Event::PhaseStarted(name) => say(&format!("codebuild: phase {}", name.to_uppercase())),
        Event::Command(command) => {
            let first = command.lines().next().unwrap_or_default();
            let more = if command.lines().nth(1).is_some() {
                " …"
            } else {
                ""
            };
            say(&format!("codebuild: running command {first}{more}"));
        }
        Event::Output(line) => say(line),
        Event::PhaseDone(outcome) => {
            let failed = outcome
                .failed
                .as_ref()
                .map(|(command, status)| {
                    let first = command.lines().next().unwrap_or_default();
                    format!(": `{first}` exited with {status}")
                })
                .unwrap_or_default();
            say(&format!(
                "codebuild: phase {} {} in {}{failed}",
                outcome.name.to_uppercase(),
                outcome.status.as_str(),
                seconds(outcome.took)
            ));
        }
    }
}

fn seconds(took: Duration) -> String {
    format!("{:.1} s", took.as_secs_f64())
}

/// Copies `files` (paths relative to the source directory) into `out`, as UPLOAD_ARTIFACTS
/// does; a missing one fails it, as CodeBuild's "no matching artifact paths found".
fn upload_artifacts(files: &[String], source: &Path, out: &Path, say: &dyn Fn(&str)) -> Result<()> {
    if files.is_empty() {
        return Ok(());
    }
    std::fs::create_dir_all(out).with_context(|| format!("create {}", out.display()))?;
    for file in files {
        if file.contains(['*', '?', '[']) {
            return Err(Failure::usage(format!(
                "artifacts.files {file:?}: this runner copies named files only, not patterns"
            ))
            .into());
        }
        let from = source.join(file);
        if !from.is_file() {
            return Err(Failure::deploy(format!(
                "UPLOAD_ARTIFACTS failed: no matching artifact path {file:?}"
            ))
            .into());
        }
        let to = out.join(file);
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::copy(&from, &to)
            .with_context(|| format!("copy {} to {}", from.display(), to.display()))?;
    }
    say(&format!(
        "codebuild: phase UPLOAD_ARTIFACTS SUCCEEDED: {}",
        files.join(", ")
    ));
    Ok(())
}
