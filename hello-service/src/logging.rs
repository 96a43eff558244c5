//! JSON logs, one object per line on stdout, the shape CloudWatch (awslogs) indexes.
//!
//! Lines go through a background writer thread with a buffered stdout, so a request never
//! waits on a write syscall; the returned guard flushes what is left when the process exits.

use std::io::{BufWriter, Write};
use std::os::fd::AsFd;

use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::EnvFilter;

use crate::config::ConfigError;

/// The target of the one-line-per-request access log; `RUST_LOG=info,access=off` silences it.
pub const ACCESS_TARGET: &str = "access";

/// Installs the global JSON logger with `filter` (RUST_LOG syntax). Keep the guard alive until
/// the process ends.
pub fn init(filter: &str) -> Result<WorkerGuard, ConfigError> {
    let filter = EnvFilter::builder()
        .parse(filter)
        .map_err(|err| ConfigError {
            variable: "RUST_LOG",
            problem: format!("{err} (example: RUST_LOG=info,access=off)"),
        })?;
    let (writer, guard) = NonBlockingBuilder::default()
        .lossy(false)
        .thread_name("log-writer")
        .finish(stdout_writer());
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_env_filter(filter)
        .with_writer(writer)
        .init();
    Ok(guard)
}

/// A buffered writer on stdout's file descriptor. `std::io::stdout()` is line-buffered, which
/// would cost a syscall per log line; the writer thread flushes after each batch instead.
fn stdout_writer() -> Box<dyn Write + Send> {
    match std::io::stdout().as_fd().try_clone_to_owned() {
        Ok(fd) => Box::new(BufWriter::with_capacity(64 * 1024, std::fs::File::from(fd))),
        Err(_) => Box::new(std::io::stdout()),
    }
}
