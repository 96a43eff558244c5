//! local-ecs: a local stand-in for Amazon ECS, ECR and an Application Load Balancer.
//!
//! It speaks the real AWS wire protocols on one loopback HTTP endpoint, so the unmodified
//! `aws-sdk-ecs`, `aws-sdk-ecr` and `aws-sdk-elasticloadbalancingv2` clients work against it
//! through `AWS_ENDPOINT_URL`; behind the API it really stores pushed images (an OCI
//! registry under `/v2/`), runs tasks as local processes, health-checks them, balances
//! traffic across them through real listener ports, and rolls deployments over as ECS does.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! let running = local_ecs::LocalEcs::start(local_ecs::Config::new("/tmp/local-ecs")).await?;
//! println!("AWS_ENDPOINT_URL={}", running.endpoint());
//! running.shutdown().await;
//! # Ok(()) }
//! ```

mod api;
mod clock;
mod credentials;
mod error;
mod events;
mod health;
mod ids;
mod image;
mod launcher;
mod lb;
mod ports;
mod private_files;
mod protocol;
mod registry;
mod retention;
mod runner;
mod scheduler;
mod server;
mod shared;
mod state;
mod store;
mod targets;
mod taskdef;

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::task::JoinHandle;

pub use crate::credentials::{CREDENTIALS_FILE, Credentials};
pub use crate::ids::ACCOUNT_ID;
pub use crate::shared::Timing;

use crate::launcher::Launcher;
use crate::shared::Shared;
use crate::state::{StopCode, TaskStatus};
use crate::store::Store;

/// The port `local-ecs serve` listens on by default.
pub const DEFAULT_PORT: u16 = 4580;

/// How to start local-ecs.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where definitions, services, repositories, images, ELB resources and task logs live.
    pub state_dir: PathBuf,
    /// The API and registry port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// Timing tunables that are not part of any AWS API.
    pub timing: Timing,
}

impl Config {
    /// Defaults: port [`DEFAULT_PORT`], ECS-like timing.
    pub fn new(state_dir: impl Into<PathBuf>) -> Self {
        Config {
            state_dir: state_dir.into(),
            port: DEFAULT_PORT,
            timing: Timing::default(),
        }
    }

    /// The same configuration with another port.
    pub fn with_port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }
}

/// The entry point: [`LocalEcs::start`].
#[derive(Debug)]
pub struct LocalEcs;

/// A running local-ecs.
#[derive(Debug)]
pub struct Running {
    shared: Arc<Shared>,
    server: JoinHandle<()>,
    scheduler: JoinHandle<()>,
    endpoint: String,
}

impl LocalEcs {
    /// Opens the state directory, binds the port, brings back persisted services and
    /// listeners, and starts serving. Call from within a multi-threaded tokio runtime.
    pub async fn start(config: Config) -> anyhow::Result<Running> {
        let store = Store::open(&config.state_dir)?;
        let mut state = store.load()?;
        let listener =
            std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, config.port)).map_err(|err| {
                anyhow::anyhow!(
                    "cannot listen on 127.0.0.1:{}: {err}; another program uses the port — \
                     choose another with --port (0 picks a free one)",
                    config.port
                )
            })?;
        listener.set_nonblocking(true)?;
        let port = listener.local_addr()?.port();
        let listener = tokio::net::TcpListener::from_std(listener)?;

        // An earlier run's tasks have no record (tasks are not persisted): their root
        // filesystems are dead weight, and only the newest few keep their logs.
        retention::prune_leftovers(
            &store.dir().join("tasks"),
            retention::Retention {
                per_service: config.timing.stopped_tasks_per_service,
                total: config.timing.max_stopped_tasks,
                max_age: config.timing.stopped_task_retention,
            },
            std::time::SystemTime::now(),
        );
        state.dirty = state.served_ports.insert(port);
        let launcher = Launcher::start(tokio::runtime::Handle::current())
            .context("cannot start the process launcher thread")?;
        let listeners: Vec<(String, u16, u16)> = state
            .listeners
            .iter()
            .map(|l| (l.arn.clone(), l.requested_port, l.bound_port))
            .collect();
        let shared = Arc::new(Shared::new(state, store, port, launcher, config.timing));
        for (arn, requested, previous) in listeners {
            let bound = lb::start_listener(&shared, &arn, requested, Some(previous))
                .with_context(|| format!("cannot reopen listener {arn}"))?;
            if bound != previous {
                tracing::warn!(listener = %arn, previous, bound, "listener port changed: the old one is taken");
                let mut state = shared.lock();
                if let Some(l) = state.listeners.iter_mut().find(|l| l.arn == arn) {
                    l.bound_port = bound;
                }
                state.dirty = true;
            }
        }
        let server = tokio::spawn(server::serve(shared.clone(), listener));
        let scheduler = tokio::spawn(scheduler::run(shared.clone()));
        let endpoint = format!("http://127.0.0.1:{port}");
        shared
            .store
            .write_endpoint(&endpoint)
            .context("cannot write the endpoint file in the state directory")?;
        shared.wake.notify_one();
        Ok(Running {
            shared,
            server,
            scheduler,
            endpoint,
        })
    }
}

impl Running {
    /// `http://127.0.0.1:PORT`: the value for `AWS_ENDPOINT_URL`, and the registry.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The API and registry port.
    pub fn port(&self) -> u16 {
        self.shared.port
    }

    /// The access key the API accepts (also in `<state-dir>/credentials.json`).
    pub fn credentials(&self) -> &Credentials {
        self.shared.store.credentials()
    }

    /// The state directory (canonical path).
    pub fn state_dir(&self) -> &Path {
        self.shared.store.dir()
    }

    /// The log files of a task's containers (task id or ARN).
    pub fn task_log_paths(&self, task: &str) -> Vec<(String, PathBuf)> {
        task_log_paths(self.state_dir(), task)
    }

    /// Stops every task (SIGTERM, then SIGKILL after its stopTimeout), closes the listeners,
    /// saves the state and removes the endpoint file.
    pub async fn shutdown(self) {
        let shared = self.shared.clone();
        shared.shutting_down.store(true, Ordering::SeqCst);
        self.server.abort();
        let deadline = {
            let mut state = shared.lock();
            let mut longest = Duration::ZERO;
            // The scheduler, seeing the shutdown, drains no target: it deregisters at once.
            for task in state.tasks.values_mut() {
                if task.last_status != TaskStatus::Stopped {
                    task.request_stop(
                        StopCode::ServiceSchedulerInitiated,
                        "local-ecs is shutting down".into(),
                    );
                    // Each task sends SIGKILL after its own stopTimeout (at most 120 s);
                    // this is only a backstop.
                    longest = Duration::from_secs(125);
                }
            }
            Instant::now() + longest + Duration::from_secs(5)
        };
        shared.wake.notify_one();
        loop {
            let remaining: Vec<u32> = {
                let state = shared.lock();
                state
                    .tasks
                    .values()
                    .filter(|t| t.last_status != TaskStatus::Stopped)
                    .flat_map(|t| t.containers.iter().filter_map(|c| c.pid))
                    .collect()
            };
            let any_left = shared
                .lock()
                .tasks
                .values()
                .any(|t| t.last_status != TaskStatus::Stopped);
            if !any_left {
                break;
            }
            if Instant::now() >= deadline {
                for pid in remaining {
                    launcher::signal(-(pid as i32), libc::SIGKILL);
                }
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        // Everything that changes the state stops before the final save. An abort lands at a
        // task's next await: wait for each, or a pass still running on another thread could
        // save the state after the final save below.
        let mut stopping = vec![self.scheduler];
        stopping.extend(
            shared
                .proxies
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .drain()
                .map(|(_, handle)| handle),
        );
        stopping.extend(
            shared
                .checkers
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .drain()
                .map(|(_, handle)| handle),
        );
        for handle in &stopping {
            handle.abort();
        }
        for handle in stopping {
            let _ = handle.await;
        }
        shared.lock().dirty = true;
        shared.save_if_dirty();
        let _ = std::fs::remove_file(shared.store.endpoint_file());
        shared.close();
        shared.launcher.close();
        shared.store.release();
        tracing::info!("local-ecs stopped");
    }
}

/// The log files of a task's containers under a state directory
/// (`<state-dir>/tasks/<task-id>/<container>.log`), as `(container name, path)`: the local
/// stand-in for awslogs, for `cargo xtask local logs`. Accepts a task id or ARN.
pub fn task_log_paths(state_dir: &Path, task: &str) -> Vec<(String, PathBuf)> {
    runner::task_log_paths(state_dir, task)
}
