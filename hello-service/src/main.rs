//! `hello-service`: serve greetings, or check that a local instance is healthy.

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use hello_service::{config, healthcheck, logging, server};

const ENV_HELP: &str = "\
Environment:
  GREETING               text before the name (default: \"Hello AWS ECS!\")
  PORT                   port to listen on, on all interfaces (default: 8080)
  SHUTDOWN_TIMEOUT_SECS  drain time for in-flight requests after SIGTERM (default: 20)
  RUST_LOG               log filter (default: info; `info,access=off` drops access lines)

Routes: GET (or HEAD) /hello/{name}, /ping, /version. Every answer carries x-app-version.
Exit codes: 0 clean shutdown, 1 runtime failure, 2 bad configuration.";

#[derive(Debug, Parser)]
#[command(
    name = "hello-service",
    version = concat!(env!("CARGO_PKG_VERSION"), " (build ", env!("HELLO_BUILD_ID"), ")"),
    about = "The greeting server deployed to ECS: HTTP on PORT, JSON logs, drains on SIGTERM.",
    after_help = ENV_HELP
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve HTTP until SIGTERM or SIGINT (the default when no command is given).
    Serve,
    /// Exit 0 if GET /ping on 127.0.0.1 answers 200 within the timeout, else 1.
    ///
    /// For a container HEALTHCHECK in an image with no shell or curl:
    /// HEALTHCHECK CMD ["/usr/local/bin/hello-service", "healthcheck"]
    Healthcheck {
        /// Port to check [default: $PORT, else 8080].
        #[arg(long)]
        port: Option<u16>,
        /// Give up after this many milliseconds.
        #[arg(long, default_value_t = healthcheck::DEFAULT_TIMEOUT.as_millis() as u64)]
        timeout_ms: u64,
    },
}

fn main() -> ExitCode {
    match Cli::parse().command.unwrap_or(Command::Serve) {
        Command::Serve => serve(),
        Command::Healthcheck { port, timeout_ms } => {
            run_healthcheck(port, Duration::from_millis(timeout_ms))
        }
    }
}

fn serve() -> ExitCode {
    let cfg = match config::Config::from_env() {
        Ok(cfg) => cfg,
        Err(err) => return config_error(&err),
    };
    let _log_flush = match logging::init(&cfg.log_filter) {
        Ok(guard) => guard,
        Err(err) => return config_error(&err),
    };
    match actix_web::rt::System::new().block_on(server::run(cfg)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(%err, "server failed");
            ExitCode::FAILURE
        }
    }
}

fn config_error(err: &config::ConfigError) -> ExitCode {
    eprintln!("hello-service: {err}");
    ExitCode::from(2)
}

/// Docker reserves exit code 2 in health checks, so every failure here is 1.
fn run_healthcheck(port: Option<u16>, timeout: Duration) -> ExitCode {
    let port = match port
        .map(Ok)
        .unwrap_or_else(|| match std::env::var_os("PORT") {
            Some(raw) => config::utf8("PORT", raw).and_then(|raw| config::parse_port(&raw)),
            None => Ok(config::DEFAULT_PORT),
        }) {
        Ok(port) => port,
        Err(err) => {
            eprintln!("hello-service healthcheck: {err}");
            return ExitCode::FAILURE;
        }
    };
    match healthcheck::check(port, timeout) {
        Ok(()) => ExitCode::SUCCESS,
        Err(why) => {
            eprintln!("hello-service healthcheck: 127.0.0.1:{port} unhealthy: {why}");
            ExitCode::FAILURE
        }
    }
}
