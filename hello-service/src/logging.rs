//! JSON logs, one object per line on stdout, the shape CloudWatch (awslogs) indexes.
//!
//! Lines go through a background writer thread with a buffered stdout, so a request never
//! waits on a write syscall; the returned guard flushes what is left when the process exits.

use std::io::{BufWriter, Write};
use std::os::fd::AsFd;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::{Context, Filter, Layer, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;

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
    let json = tracing_subscriber::fmt::layer()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_writer(writer)
        .with_filter(NotClientErrors);
    tracing_subscriber::registry()
        .with(filter)
        .with(json)
        .with(ClientErrorsAsWarnings)
        .init();
    Ok(guard)
}

/// actix-http logs a connection it could not serve — a request it cannot parse, a client that
/// reset the connection or was too slow — at ERROR ("stream error: …"). That is the client's
/// mistake, not the server's: such events are not printed as they are, but as this layer's
/// WARN line on the access target (`"message": "client error"`, `"error": "stream error: …"`).
struct ClientErrorsAsWarnings;

impl<S: Subscriber> Layer<S> for ClientErrorsAsWarnings {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        if is_client_error(event) {
            let mut message = Message(String::new());
            event.record(&mut message);
            tracing::warn!(target: ACCESS_TARGET, error = %message.0, "client error");
        }
    }
}

/// Every event but those [`ClientErrorsAsWarnings`] prints instead.
struct NotClientErrors;

impl<S: Subscriber> Filter<S> for NotClientErrors {
    fn enabled(&self, _meta: &tracing::Metadata<'_>, _cx: &Context<'_, S>) -> bool {
        true
    }

    fn event_enabled(&self, event: &Event<'_>, _cx: &Context<'_, S>) -> bool {
        !is_client_error(event)
    }
}

/// An ERROR of actix-http's HTTP/1 connection handling about one connection's stream, or its
/// request decoder.
fn is_client_error(event: &Event<'_>) -> bool {
    let meta = event.metadata();
    if *meta.level() != Level::ERROR || !meta.target().starts_with("actix_http::h1") {
        return false;
    }
    let mut message = Message(String::new());
    event.record(&mut message);
    message.0.starts_with("stream error: ") || meta.target() == "actix_http::h1::decoder"
}

/// An event's `message` field, as text.
struct Message(String);

impl Visit for Message {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }
}

/// A buffered writer on stdout's file descriptor. `std::io::stdout()` is line-buffered, which
/// would cost a syscall per log line; the writer thread flushes after each batch instead.
fn stdout_writer() -> Box<dyn Write + Send> {
    match std::io::stdout().as_fd().try_clone_to_owned() {
        Ok(fd) => Box::new(BufWriter::with_capacity(64 * 1024, std::fs::File::from(fd))),
        Err(_) => Box::new(std::io::stdout()),
    }
}
