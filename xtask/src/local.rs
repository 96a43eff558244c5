//! `cargo xtask local up | down | status | env | logs`: local-ecs, the local ECS + ECR + ALB, by hand.

use std::path::{Path, PathBuf};

use anyhow::Result;
use aws_sdk_ecs::types::DesiredStatus;
use clap::{Args, Subcommand};

use crate::config::TargetArgs;
use crate::connect::local_clients;
use crate::local_ecs::{self, ensure_running, holder, log_file, recorded_endpoint, running, stop};
use crate::out::outln;
use crate::status::print_status;
use crate::util::project_root;

#[derive(Debug, Args)]
pub struct LocalArgs {
    #[command(subcommand)]
    command: LocalCommand,
    /// local-ecs state directory [default: target/local-ecs].
    #[arg(
        long,
        global = true,
        env = "DEPLOY_LOCAL_STATE_DIR",
        value_name = "DIR"
    )]
    state_dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum LocalCommand {
    /// Start local-ecs in the background (a no-op when it already answers).
    Up,
    /// Stop local-ecs and every task it runs.
    Down,
    /// Endpoint, process, the service's deployments and tasks, and the load balancer URL.
    Status,
    /// Print `export AWS_...` lines for the AWS CLI and SDKs (starts local-ecs if needed).
    ///
    /// `eval "$(cargo xtask local env)"` points the AWS CLI and SDKs at local-ecs: its endpoint
    /// (AWS_ENDPOINT_URL), a region (AWS_REGION, AWS_DEFAULT_REGION; deploy.toml's, else
    /// us-east-1) and the access key local-ecs generated for its state directory
    /// (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY): it verifies every request's SigV4 signature
    /// against that key. Then, e.g., `aws ecs list-clusters`. Only the exports go to stdout.
    Env,
    /// local-ecs's own log and the container logs of the service's tasks (the awslogs stand-in).
    Logs {
        /// Lines from the end of each log.
        #[arg(long, default_value_t = 20)]
        lines: usize,
        /// Only this task (id or ARN).
        #[arg(long)]
        task: Option<String>,
    },
}

/// `cargo xtask local`.
pub fn run(args: LocalArgs) -> Result<()> {
    let state_dir = args
        .state_dir
        .clone()
        .unwrap_or_else(|| project_root().join("target").join("local-ecs"));
    match args.command {
        LocalCommand::Up => {
            let local = ensure_running(&state_dir, &|line| outln!("{line}"))?;
            outln!("local-ecs: {}", local.endpoint);
            outln!(
                "use it from the AWS CLI and SDKs: eval \"$(cargo xtask local env)\" (endpoint, \
                 region and local-ecs's generated key)"
            );
        }
        LocalCommand::Down => {
            if stop(&state_dir)? {
                outln!("local-ecs stopped (state kept in {})", state_dir.display());
            } else {
                outln!("local-ecs is not running");
            }
        }
        LocalCommand::Status => status(&state_dir)?,
        LocalCommand::Env => {
            crate::connect::print_env(&state_dir, &TargetArgs::default().resolve()?)?
        }
        LocalCommand::Logs { lines, task } => logs(&state_dir, lines, task.as_deref())?,
    }
    Ok(())
}

fn status(state_dir: &Path) -> Result<()> {
    let Some(local) = running(state_dir) else {
        match holder(state_dir) {
            // Held but silent: starting, stopping or stuck; say which process, so it can be
            // stopped.
            Some(pid) => outln!(
                "local-ecs (pid {pid}) holds {} but does not answer{}; its log is {}; stop it \
                 with `cargo xtask local down`",
                state_dir.display(),
                recorded_endpoint(state_dir)
                    .map(|(endpoint, _)| format!(" at {endpoint}"))
                    .unwrap_or_default(),
                log_file(state_dir).display()
            ),
            None => outln!(
                "local-ecs is not running (state {}); start it with `cargo xtask local up`",
                state_dir.display()
            ),
        }
        return Ok(());
    };
    outln!(
        "local-ecs: {} (pid {}, state {})",
        local.endpoint,
        local.pid,
        state_dir.display()
    );
    let settings = TargetArgs::default().resolve()?;
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let clients = local_clients(state_dir, &local, &settings).await?;
        print_status(&clients, &settings).await
    })
}

fn logs(state_dir: &Path, lines: usize, task: Option<&str>) -> Result<()> {
    let own = log_file(state_dir);
    if task.is_none() {
        print_tail(&format!("local-ecs ({})", own.display()), &own, lines);
    }
    let tasks: Vec<String> = match task {
        Some(task) => vec![task.to_owned()],
        None => {
            let Some(local) = running(state_dir) else {
                return Ok(());
            };
            let settings = TargetArgs::default().resolve()?;
            let runtime = tokio::runtime::Runtime::new()?;
            runtime.block_on(async {
                let clients = local_clients(state_dir, &local, &settings).await?;
                let mut arns = Vec::new();
                for status in [DesiredStatus::Running, DesiredStatus::Stopped] {
                    arns.extend(
                        deploy_sdk::targets::list_tasks(
                            &clients.ecs,
                            &settings.service_ref(),
                            status,
                        )
                        .await?,
                    );
                }
                Ok::<_, anyhow::Error>(arns)
            })?
        }
    };
    if tasks.is_empty() {
        return Ok(());
    }
    let binary = local_ecs::binary()?;
    for task in tasks {
        for (container, path) in local_ecs::task_log_paths(&binary, state_dir, &task)? {
            let id = task.rsplit('/').next().unwrap_or(&task);
            print_tail(&format!("task {id} container {container}"), &path, lines);
        }
    }
    Ok(())
}

fn print_tail(title: &str, path: &Path, lines: usize) {
    use std::io::Write;
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    // Write errors (a closed pipe: `| head`) end the listing quietly.
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "==> {title}");
    for line in &all[all.len().saturating_sub(lines)..] {
        if writeln!(out, "{line}").is_err() {
            return;
        }
    }
}
