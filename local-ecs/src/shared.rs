//! What every part of a running local-ecs shares: the state behind its lock, the state
//! directory, the process launcher and the handles of background work.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::launcher::Launcher;
use crate::state::State;
use crate::store::Store;

/// Tunables that are not part of any AWS API.
#[derive(Debug, Clone)]
pub struct Timing {
    /// How often "has reached a steady state." is repeated while a service stays steady.
    pub steady_state_event_interval: Duration,
    /// How long stopped tasks stay visible.
    pub stopped_task_retention: Duration,
    /// At most this many stopped tasks are kept.
    pub max_stopped_tasks: usize,
    /// Only the newest this many stopped tasks of each service are kept (their records and
    /// their directories: a task's logs go with it).
    pub stopped_tasks_per_service: usize,
    /// How often the scheduler looks at every service (it is also woken by changes).
    pub scheduler_tick: Duration,
    /// A load-balancer listener closes a client connection that sends no complete request
    /// header for this long: a header trickling in, or a keep-alive connection idle between
    /// requests (an ALB's default idle timeout, 60 s).
    pub listener_idle_timeout: Duration,
    /// The deployment alarms' bake time is AWS's (the longest Period × EvaluationPeriods of
    /// the alarms) divided by this: by default a minute of AWS bake time passes in a second.
    pub alarm_bake_divisor: u32,
    /// How long a minute of a blue/green, linear or canary deployment lasts: its bake time,
    /// step bake times and lifecycle hook timeouts (`serve --minute-seconds`; AWS's 60 s by
    /// default, a second or less for rehearsals and tests).
    pub minute: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            steady_state_event_interval: Duration::from_secs(6 * 3600),
            stopped_task_retention: Duration::from_secs(3600),
            max_stopped_tasks: 1000,
            stopped_tasks_per_service: 10,
            scheduler_tick: Duration::from_millis(250),
            listener_idle_timeout: Duration::from_secs(60),
            alarm_bake_divisor: 60,
            minute: Duration::from_secs(60),
        }
    }
}

/// An upload in progress.
#[derive(Debug, Clone)]
pub struct Upload {
    /// The repository it is for.
    pub repository: String,
    /// Bytes received so far.
    pub size: u64,
}

/// The shared core of a running local-ecs.
#[derive(Debug)]
pub struct Shared {
    state: Mutex<State>,
    /// The state directory.
    pub store: Store,
    /// The API port (also the registry's).
    pub port: u16,
    /// Wakes the scheduler early.
    pub wake: Notify,
    /// Starts child processes.
    pub launcher: Launcher,
    /// Set once shutdown begins.
    pub shutting_down: AtomicBool,
    /// Tells connections and timers to end when shutdown completes.
    closing: tokio::sync::watch::Sender<bool>,
    /// Registry uploads in progress, by id.
    pub uploads: Mutex<HashMap<String, Upload>>,
    /// Listener proxies by listener ARN.
    pub proxies: Mutex<HashMap<String, JoinHandle<()>>>,
    /// Target health checkers by (target group ARN, port).
    pub checkers: Mutex<HashMap<(String, u16), JoinHandle<()>>>,
    /// Timing tunables.
    pub timing: Timing,
}

impl Shared {
    /// Builds the shared core around loaded state.
    pub fn new(state: State, store: Store, port: u16, launcher: Launcher, timing: Timing) -> Self {
        Shared {
            state: Mutex::new(state),
            store,
            port,
            wake: Notify::new(),
            launcher,
            shutting_down: AtomicBool::new(false),
            closing: tokio::sync::watch::channel(false).0,
            uploads: Mutex::new(HashMap::new()),
            proxies: Mutex::new(HashMap::new()),
            checkers: Mutex::new(HashMap::new()),
            timing,
        }
    }

    /// Locks the state. A panic while it was held leaves it usable: every change is small
    /// and self-contained, so serving on beats failing every later request.
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// `127.0.0.1:PORT`: the registry host in image names and repository URIs.
    pub fn registry_host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Resolves once [`Shared::close`] is called: connections and timers end with it, so
    /// nothing keeps a stopped local-ecs alive.
    pub fn closed(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut rx = self.closing.subscribe();
        async move {
            let _ = rx.wait_for(|closed| *closed).await;
        }
    }

    /// Ends every connection and timer waiting on [`Shared::closed`].
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    /// Whether shutdown has begun.
    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::SeqCst)
    }

    /// Writes the state file if anything changed since the last save.
    pub fn save_if_dirty(&self) {
        let bytes = {
            let mut state = self.lock();
            if !state.dirty {
                return;
            }
            state.dirty = false;
            serde_json::to_vec_pretty(&*state)
        };
        match bytes {
            Ok(bytes) => {
                if let Err(err) = self.store.save(&bytes) {
                    tracing::error!(%err, "cannot write the state file");
                    self.lock().dirty = true;
                }
            }
            Err(err) => tracing::error!(%err, "cannot serialize the state"),
        }
    }
}
