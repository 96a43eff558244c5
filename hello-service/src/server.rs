//! The HTTP server: routes, the access-log/version middleware, and the SIGTERM drain.

use std::net::{Ipv4Addr, TcpListener};
use std::time::{Duration, Instant};

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::header::HeaderName;
use actix_web::{App, HttpServer, web};
use tracing::{error, info};

use crate::APP_VERSION_HEADER;
use crate::config::Config;
use crate::logging::ACCESS_TARGET;
use crate::routes::{self, APP_VERSION_VALUE, Greeting};

/// Longer than an ALB's default 60 s idle timeout: the load balancer, not the target, should
/// close idle connections, or a request can race the close and come back as a 502.
pub const KEEP_ALIVE: Duration = Duration::from_secs(75);

/// Binds `0.0.0.0:PORT`, serves until SIGTERM or SIGINT, then drains: the listener closes at
/// once, idle keep-alive connections are closed, in-flight requests get up to
/// `shutdown_timeout` to finish.
pub async fn run(cfg: Config) -> std::io::Result<()> {
    let listener = TcpListener::bind((Ipv4Addr::UNSPECIFIED, cfg.port)).map_err(|err| {
        std::io::Error::new(
            err.kind(),
            format!("cannot listen on 0.0.0.0:{} (PORT): {err}", cfg.port),
        )
    })?;
    let greeting = web::Data::new(Greeting::new(&cfg.greeting).with_fault(cfg.fault_status));
    let drain_secs = cfg.shutdown_timeout.as_secs();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(greeting.clone())
            .configure(routes::configure)
            .wrap_fn(|req, srv| {
                let started = Instant::now();
                let response = srv.call(req);
                async move {
                    let mut response = response.await?;
                    response.headers_mut().insert(
                        HeaderName::from_static(APP_VERSION_HEADER),
                        APP_VERSION_VALUE,
                    );
                    log_access(&response, started);
                    Ok(response)
                }
            })
    })
    .keep_alive(KEEP_ALIVE)
    .shutdown_timeout(drain_secs)
    .shutdown_signal(shutdown_signal(drain_secs))
    .listen(listener)?
    .run();
    info!(
        port = cfg.port,
        build = crate::BUILD_ID,
        version = crate::VERSION,
        "listening"
    );
    server.await?;
    info!("stopped");
    Ok(())
}

fn log_access<B: MessageBody>(response: &ServiceResponse<B>, started: Instant) {
    let request = response.request();
    tracing::info!(
        target: ACCESS_TARGET,
        method = %request.method(),
        path = request.path(),
        status = response.status().as_u16(),
        latency_ms = started.elapsed().as_micros() as f64 / 1000.0,
        "request"
    );
}

/// Resolves on the first SIGTERM (what ECS sends) or SIGINT (Ctrl-C). Handlers are installed
/// explicitly, which is also what makes the signals work for PID 1 in a `scratch` container.
async fn shutdown_signal(drain_secs: u64) {
    use tokio::signal::unix::{SignalKind, signal};
    let (mut term, mut int) = match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(term), Ok(int)) => (term, int),
        (Err(err), _) | (_, Err(err)) => {
            error!(%err, "cannot install signal handlers; the server will not drain on SIGTERM");
            std::future::pending::<()>().await;
            return;
        }
    };
    let name = tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    };
    info!(signal = name, drain_timeout_secs = drain_secs, "draining");
}
