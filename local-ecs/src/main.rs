//! `local-ecs serve`: ECS, ECR, an Application Load Balancer and a registry on one machine;
//! `local-ecs task-logs`: where a task's container output is.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

const ABOUT: &str = "A local stand-in for Amazon ECS, ECR and an Application Load Balancer: \
the real AWS APIs on one loopback endpoint, with real processes, health checks, load \
balancing and rolling deployments behind them.";

const AFTER_HELP: &str = "\
Use it with the AWS SDKs or CLI by pointing them at the endpoint, with the access key it
generates for its state directory (DIR/credentials.json; it verifies every signature):
  AWS_ENDPOINT_URL=http://127.0.0.1:4580 AWS_REGION=us-east-1 \\
  AWS_ACCESS_KEY_ID=<access_key_id> AWS_SECRET_ACCESS_KEY=<secret_access_key> \\
  aws ecs list-clusters
(`cargo xtask local env` prints these.) Only requests addressed to localhost, 127.0.0.0/8 or
[::1] are served. It serves ECS, ECR, ELBv2 and CloudWatch alarms (PutMetricAlarm,
DescribeAlarms, SetAlarmState, DeleteAlarms: alarms change state only by SetAlarmState).
Push images to 127.0.0.1:PORT/<repo>
(user AWS, password from `aws ecr get-login-password`). Logs go to stderr; RUST_LOG
controls them (default: info).";

#[derive(Debug, Parser)]
#[command(name = "local-ecs", version, about = ABOUT, after_help = AFTER_HELP)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve in the foreground until Ctrl-C or SIGTERM, then stop every task.
    Serve {
        /// Directory for definitions, services, repositories, images, load balancers and task
        /// logs; created if missing, and reused across restarts.
        #[arg(long, value_name = "DIR")]
        state_dir: PathBuf,
        /// Port on 127.0.0.1 for the APIs and the registry; 0 picks a free one.
        #[arg(long, default_value_t = local_ecs::DEFAULT_PORT)]
        port: u16,
        /// Deployment alarms keep a settled deployment IN_PROGRESS for a bake time (on AWS
        /// the longest Period × EvaluationPeriods of its alarms); local-ecs divides it by
        /// this, so by default a minute of AWS bake time passes in a second. 1 bakes as long
        /// as AWS does.
        #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u32).range(1..))]
        alarm_bake_divisor: u32,
        /// How many seconds a minute of a blue/green, linear or canary deployment lasts: its
        /// bakeTimeInMinutes, step and canary bake times and lifecycle hook timeouts. 60 (the
        /// default) is AWS's time; 1 rehearses an hour-long canary in a minute.
        #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
        minute_seconds: u64,
    },
    /// Print where a task's container output is (the awslogs stand-in): one
    /// `CONTAINER<TAB>PATH` line per container that has a log, nothing for an unknown task.
    TaskLogs {
        /// The state directory local-ecs serves (or served) from.
        #[arg(long, value_name = "DIR")]
        state_dir: PathBuf,
        /// Task id or ARN.
        task: String,
    },
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Serve {
            state_dir,
            port,
            alarm_bake_divisor,
            minute_seconds,
        } => run_serve(state_dir, port, alarm_bake_divisor, minute_seconds),
        Command::TaskLogs { state_dir, task } => print_task_logs(&state_dir, &task),
    }
}

/// The paths go out as their bytes, so any path the state directory may have survives.
fn print_task_logs(state_dir: &Path, task: &str) -> ExitCode {
    use std::io::Write;
    use std::os::unix::ffi::OsStrExt;
    let mut out = std::io::stdout().lock();
    for (container, path) in local_ecs::task_log_paths(state_dir, task) {
        let line = [
            container.as_bytes(),
            b"\t",
            path.as_os_str().as_bytes(),
            b"\n",
        ];
        if line
            .iter()
            .try_for_each(|part| out.write_all(part))
            .is_err()
        {
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}

fn run_serve(
    state_dir: PathBuf,
    port: u16,
    alarm_bake_divisor: u32,
    minute_seconds: u64,
) -> ExitCode {
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        // Colours only on a terminal: `cargo xtask local` sends stderr to local-ecs.log.
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("local-ecs: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(serve(state_dir, port, alarm_bake_divisor, minute_seconds))
}

async fn serve(
    state_dir: PathBuf,
    port: u16,
    alarm_bake_divisor: u32,
    minute_seconds: u64,
) -> ExitCode {
    // Handlers first: a SIGTERM right after the endpoint is written (`local down`, a test)
    // must stop the tasks and save the state, not kill the process mid-start.
    let stop = stop_signals();
    let mut config = local_ecs::Config::new(state_dir).with_port(port);
    config.timing.alarm_bake_divisor = alarm_bake_divisor;
    config.timing.minute = std::time::Duration::from_secs(minute_seconds);
    let running = match local_ecs::LocalEcs::start(config).await {
        Ok(running) => running,
        Err(err) => {
            eprintln!("local-ecs: {err:#}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "local-ecs: serving ECS, ECR, ELBv2 and the registry on {}",
        running.endpoint()
    );
    stop.await;
    eprintln!("local-ecs: stopping every task");
    running.shutdown().await;
    ExitCode::SUCCESS
}

/// Resolves on SIGTERM or SIGINT; the handlers are installed when this is called.
fn stop_signals() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    let handlers = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    );
    async move {
        match handlers {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
}
