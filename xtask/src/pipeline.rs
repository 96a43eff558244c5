//! `cargo xtask pipeline`: the tutorial's CodePipeline, rehearsed — Source (the working tree
//! at HEAD) → Build (`buildspec.yml`, run as CodeBuild does: `cargo xtask codebuild`) →
//! Deploy (`imagedefinitions.json`, as the ECS deploy action does: `cargo xtask deploy
//! --image-definitions`, which verifies the new build through the load balancer), each stage
//! timed.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Args;
use serde::Serialize;

use crate::codebuild::{self, CodebuildArgs};
use crate::config::TargetArgs;
use crate::failure::{self, Failure};
use crate::out::{Output, errln, outln};
use crate::util::{output, project_root};

#[derive(Debug, Args)]
pub struct PipelineArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// A variable for the build's environment (repeatable), as `cargo xtask codebuild --env`.
    #[arg(long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// The buildspec [default: buildspec.yml at the workspace root].
    #[arg(long, value_name = "FILE")]
    pub buildspec: Option<PathBuf>,
    /// `text`, or `json` for a report on stdout (stages, build phases, the deploy's report;
    /// progress on stderr).
    #[arg(long, value_enum, default_value_t = Output::Text)]
    pub output: Output,
}

#[derive(Debug, Default, Serialize)]
struct Report {
    /// deployed, build_failed, or the deploy's outcome.
    outcome: String,
    exit_code: u8,
    commit: String,
    stages: Vec<Stage>,
    build_phases: Vec<Phase>,
    /// The deploy stage's own report (`cargo xtask deploy --output json`).
    deploy: Option<serde_json::Value>,
    error: Option<String>,
}

#[derive(Debug, Serialize)]
struct Stage {
    name: &'static str,
    seconds: f64,
}

#[derive(Debug, Serialize)]
struct Phase {
    name: &'static str,
    status: &'static str,
    seconds: f64,
}

/// `cargo xtask pipeline`.
pub fn run(args: PipelineArgs) -> Result<()> {
    let json = args.output == Output::Json;
    let say = |line: &str| {
        if json {
            errln!("{line}");
        } else {
            outln!("{line}");
        }
    };
    let mut report = Report::default();
    let result = stages(&args, &say, &mut report);
    if let Err(err) = &result {
        report.exit_code = failure::exit_code(err);
        report.error = Some(format!("{err:#}"));
        if report.outcome.is_empty() {
            report.outcome = "error".into();
        }
    }
    let timings: Vec<String> = report
        .stages
        .iter()
        .map(|s| format!("{} {:.1}s", s.name, s.seconds))
        .collect();
    say(&format!("pipeline: stages: {}", timings.join(", ")));
    if json {
        outln!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        say(&format!("pipeline: {}", report.outcome));
    }
    result
}

fn stages(args: &PipelineArgs, say: &dyn Fn(&str), report: &mut Report) -> Result<()> {
    let settings = args.target.resolve()?;
    let clock = Instant::now();
    report.commit = output(
        Command::new("git")
            .arg("-C")
            .arg(project_root())
            .args(["rev-parse", "HEAD"]),
    )
    .map_err(|e| Failure::usage(format!("the source must be a git work tree: {e:#}")))?
    .trim()
    .to_owned();
    say(&format!(
        "pipeline: source: HEAD {} (the working tree)",
        report.commit
    ));
    timed(report, "source", clock);

    let clock = Instant::now();
    let build = CodebuildArgs {
        target: args.target.clone(),
        env: args.env.clone(),
        buildspec: args.buildspec.clone(),
        out: None,
    };
    let built = codebuild::build(&build, say);
    timed(report, "build", clock);
    let built = built.inspect_err(|_| report.outcome = "build_failed".into())?;
    report.build_phases = built
        .phases
        .iter()
        .map(|p| Phase {
            name: p.name,
            status: p.status.as_str(),
            seconds: p.took.as_secs_f64(),
        })
        .collect();

    let clock = Instant::now();
    let definitions = built.artifacts.join("imagedefinitions.json");
    let deployed = deploy(&definitions, args, &settings.local);
    timed(report, "deploy", clock);
    let deploy_report = deployed?;
    let code = deploy_report["exit_code"].as_u64().unwrap_or(1);
    report.outcome = deploy_report["outcome"]
        .as_str()
        .unwrap_or("error")
        .to_owned();
    report.deploy = Some(deploy_report);
    if code != 0 {
        return Err(Failure {
            code: u8::try_from(code).unwrap_or(failure::DEPLOY),
            message: format!("the deploy stage ended {}", report.outcome),
        }
        .into());
    }
    Ok(())
}

fn timed(report: &mut Report, name: &'static str, since: Instant) {
    report.stages.push(Stage {
        name,
        seconds: since.elapsed().as_secs_f64(),
    });
}

/// `cargo xtask deploy --image-definitions FILE --output json` (this same binary), for the
/// same target: its progress on stderr, its JSON report returned.
fn deploy(
    definitions: &Path,
    args: &PipelineArgs,
    local: &Option<PathBuf>,
) -> Result<serde_json::Value> {
    let exe = std::env::current_exe().context("where is this xtask binary?")?;
    let mut command = Command::new(exe);
    command
        .arg("deploy")
        .arg("--image-definitions")
        .arg(definitions)
        .args(["--output", "json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let target = &args.target;
    for (var, value) in [
        ("DEPLOY_CLUSTER", &target.cluster),
        ("DEPLOY_SERVICE", &target.service),
        ("DEPLOY_CONTAINER", &target.container),
        ("DEPLOY_REPOSITORY", &target.repository),
        ("DEPLOY_REGION", &target.region),
        ("DEPLOY_PROFILE", &target.profile),
        ("DEPLOY_ENDPOINT_URL", &target.endpoint_url),
    ] {
        if let Some(value) = value {
            command.env(var, value);
        }
    }
    if let Some(config) = &target.config {
        command.env("DEPLOY_CONFIG", config);
    }
    if let Some(state_dir) = local {
        command.env("DEPLOY_LOCAL", "true");
        command.env("DEPLOY_LOCAL_STATE_DIR", state_dir);
    }
    let out = command.output().context("cannot run the deploy stage")?;
    serde_json::from_slice(&out.stdout).map_err(|e| {
        anyhow::anyhow!(
            "the deploy stage ({}) printed no JSON report: {e}",
            out.status
        )
    })
}
