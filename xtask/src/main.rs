//! `cargo xtask`: the command line for building, deploying, benchmarking and checking this
//! workspace. One module per task; run `cargo xtask --help` for the list.

mod bench;
mod bench_deploy;
mod bench_plan;
mod bench_strategy;
mod binary;
mod bootstrap;
mod bootstrap_strategy;
mod codebuild;
mod config;
mod connect;
mod deploy;
mod failure;
mod flock;
mod hook_cmd;
mod image;
mod last_deploy;
mod lint;
mod local;
mod local_ecs;
mod local_guard;
mod local_serving;
mod out;
mod pipeline;
mod plan_cmd;
mod progress;
mod rollback;
mod short_names;
mod status;
mod test_all;
mod timeline;
mod util;
mod watch;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    about = "Build, deploy, benchmark and check the workspace.",
    after_help = "Exit codes: 0 success, 1 deploy failed or rolled back, 2 bad usage or configuration, 3 verification failed."
)]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Debug, Subcommand)]
enum Task {
    /// Build, push, roll and verify: the working tree to a verified rolling update on ECS.
    ///
    /// Stages: build (static hello-service), image (OCI, no Docker), push (ECR, by
    /// digest), roll (new task-definition revision, UpdateService, watch the deployment we
    /// started to its outcome), verify (GET <load balancer>/hello/verify until the new build
    /// answers 10 times in a row). On failure: roll back (unless --rollback-on-failure false)
    /// and exit non-zero with the cause. Settings come from flags, DEPLOY_* variables and
    /// deploy.toml. With --local, everything runs against local-ecs on this machine.
    Deploy(Box<deploy::DeployArgs>),
    /// Build the OCI image alone; write it as an OCI layout and/or push it to a registry.
    Image(image::ImageArgs),
    /// The service's deployments, newest events, target health and load balancer URL.
    Status(status::StatusArgs),
    /// Put the service back on the task definition before the last deploy (or --to), and wait.
    Rollback(rollback::RollbackArgs),
    /// Let a blue/green, linear or canary deployment held by a PAUSE hook go on
    /// (ContinueServiceDeployment CONTINUE). Exit 2 when nothing awaits action.
    Continue(hook_cmd::HookArgs),
    /// Roll back a blue/green, linear or canary deployment: its paused hook answered ROLLBACK,
    /// else StopServiceDeployment ROLLBACK. Exit 2 when nothing is in progress.
    Abort(hook_cmd::HookArgs),
    /// The roll's time budget without deploying: where the time goes, and settings that cut it.
    ///
    /// Reads the service, its task definition and target groups (desired count, minimum and
    /// maximum percent, health-check interval × healthy threshold, grace period,
    /// deregistration delay, stopTimeout), predicts each phase of a rolling update, and
    /// suggests changes with their trade-offs. With --local, against local-ecs.
    Plan(plan_cmd::PlanArgs),
    /// Manage local-ecs, the local ECS + ECR + ALB: up, down, status, logs.
    Local(local::LocalArgs),
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
    /// Run buildspec.yml as CodeBuild does: one shell session, phases install, pre_build, build,
    /// post_build (after a failed build too, with CODEBUILD_BUILD_SUCCEEDING=0), CodeBuild's
    /// environment; artifacts to target/codebuild/artifacts. With --local, ECR is local-ecs's.
    Codebuild(Box<codebuild::CodebuildArgs>),
    /// The tutorial's pipeline, rehearsed: source (HEAD, the working tree) → codebuild
    /// (buildspec.yml) → deploy --image-definitions (verified through the load balancer), each
    /// stage timed. Use with --local.
    Pipeline(Box<pipeline::PipelineArgs>),
    /// Every test of the workspace (what `cargo test --workspace` runs), test binaries side by
    /// side.
    ///
    /// Builds with `cargo test --workspace --no-run`, builds hello-service's local image while
    /// the first binaries run (the end-to-end tests' deploys need it and start after it), then
    /// runs up to --jobs binaries at once, longest first by the last run's times
    /// (target/xtask-test/durations.json). Each binary's output goes to
    /// target/xtask-test/<label>.log and is printed when it fails; at the end, the time of each
    /// and the totals. Exit 1 when any test failed. CI runs this (.ci/run).
    Test(test_all::TestArgs),
}

fn main() -> std::process::ExitCode {
    out::quiet_on_closed_pipe();
    let cli = Cli::parse();
    let result = match cli.task {
        Task::Deploy(args) => deploy::run(*args),
        Task::Image(args) => image::run(args),
        Task::Status(args) => status::run(args),
        Task::Rollback(args) => rollback::run(args),
        Task::Continue(args) => hook_cmd::run(args, hook_cmd::Act::Continue),
        Task::Abort(args) => hook_cmd::run(args, hook_cmd::Act::Abort),
        Task::Plan(args) => plan_cmd::run(args),
        Task::Local(args) => local::run(args),
        Task::Bench(args) => bench::run(args),
        Task::Lint(args) => lint::run(args),
        Task::Codebuild(args) => codebuild::run(*args),
        Task::Pipeline(args) => pipeline::run(*args),
        Task::Test(args) => test_all::run(args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            out::errln!("error: {err:#}");
            std::process::ExitCode::from(failure::exit_code(&err))
        }
    }
}
