//! Running tasks as local processes — the ECS agent's part: pull and unpack each
//! container's image, start its entrypoint + command from the unpacked root filesystem (no
//! chroot) with the container's environment and `PORT`, capture output to per-container log
//! files, run container health checks, and stop the way ECS does: once the scheduler has
//! drained the task's targets, SIGTERM, then SIGKILL after `stopTimeout`. The runner owns the
//! processes and the task's `lastStatus`; what to start and stop is the scheduler's.

mod spec;

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;

use crate::health::CheckContext;
use crate::image::{ImageConfig, resolve, unpack};
use crate::launcher::signal;
use crate::shared::Shared;
use crate::state::{ContainerStatus, DesiredStatus, StopCode, Task, TaskStatus};
use crate::taskdef::{self, ContainerDef};

use spec::{ContainerSpec, container_spec};

/// Starts a task's lifecycle in the background.
pub fn launch(shared: Arc<Shared>, task_id: String) {
    tokio::spawn(async move { lifecycle(shared, task_id).await });
}

/// A started container.
struct Started {
    pid: u32,
    stop_timeout: Duration,
    exit: Option<i32>,
}

/// A task whose processes run: what its lifecycle holds on to until it stops.
struct RunningTask {
    started: Vec<Started>,
    exits: mpsc::UnboundedReceiver<(usize, i32)>,
    checks: Vec<JoinHandle<()>>,
}

impl RunningTask {
    /// Notes a container's exit (and kills what is left of its process group).
    fn record_exit(&mut self, index: usize, code: i32) {
        if let Some(s) = self.started.get_mut(index) {
            s.exit.get_or_insert(code);
            signal(-(s.pid as i32), libc::SIGKILL);
        }
    }

    fn all_exited(&self) -> bool {
        self.started.iter().all(|s| s.exit.is_some())
    }
}

fn set<F: FnOnce(&mut Task)>(shared: &Shared, task_id: &str, f: F) {
    let mut state = shared.lock();
    if let Some(task) = state.tasks.get_mut(task_id) {
        f(task);
        task.version += 1;
    }
}

fn stop_requested(shared: &Shared, task_id: &str) -> bool {
    shared
        .lock()
        .tasks
        .get(task_id)
        .is_none_or(|t| t.desired_status == DesiredStatus::Stopped)
}

/// PROVISIONING → PENDING (pull) → RUNNING → (stop) → STOPPED.
async fn lifecycle(shared: Arc<Shared>, task_id: String) {
    let Some((containers, stop_signal)) = ({
        let state = shared.lock();
        state.tasks.get(&task_id).and_then(|task| {
            let td = state.task_definition(&task.task_definition_arn)?;
            Some((taskdef::containers(td), task.stop_signal.clone()))
        })
    }) else {
        return;
    };
    let task_dir = shared.store.task_dir(&task_id);
    let Some(configs) = pull(&shared, &task_id, &containers, &task_dir).await else {
        return;
    };
    let Some(mut running) = start(&shared, &task_id, &containers, &configs, &task_dir).await else {
        return;
    };
    let crashed = run_until_stop(&shared, &task_id, &containers, &mut running, &stop_signal).await;
    if let Some(index) = crashed {
        let code = running.started.get(index).and_then(|s| s.exit).unwrap_or(0);
        tracing::info!(task = %task_id, container = %containers[index].name, exit_code = code, "essential container exited");
        set(&shared, &task_id, |t| {
            t.request_stop(
                StopCode::EssentialContainerExited,
                "Essential container in task exited".into(),
            );
        });
    }
    stop(&shared, &task_id, &mut running, &stop_signal).await;
    for check in running.checks {
        check.abort();
    }
    remove_rootfs(&task_dir).await;
}

/// Pulls and unpacks every image first, as the ECS agent does. `None` when the task
/// stopped instead (failed to pull, or stopped while pulling).
async fn pull(
    shared: &Arc<Shared>,
    task_id: &str,
    containers: &[ContainerDef],
    task_dir: &Path,
) -> Option<Vec<(ImageConfig, PathBuf)>> {
    set(shared, task_id, |t| {
        t.last_status = TaskStatus::Pending;
        t.pull_started_at = Some(SystemTime::now());
    });
    let mut configs = Vec::new();
    for (index, container) in containers.iter().enumerate() {
        if stop_requested(shared, task_id) {
            finish_unstarted(shared, task_id, None);
            return None;
        }
        let rootfs = task_dir.join("rootfs").join(&container.name);
        let pulled = {
            let shared = shared.clone();
            let image = container.image.clone();
            let rootfs = rootfs.clone();
            tokio::task::spawn_blocking(move || {
                let resolved = resolve(&shared, &image)?;
                unpack(&shared, &resolved.layers, &rootfs)?;
                Ok::<_, String>(resolved)
            })
            .await
            .unwrap_or_else(|e| Err(format!("the pull was interrupted: {e}")))
        };
        match pulled {
            Ok(resolved) => {
                set(shared, task_id, |t| {
                    if let Some(c) = t.containers.get_mut(index) {
                        c.image_digest = Some(resolved.digest.clone());
                    }
                });
                configs.push((resolved.config, rootfs));
            }
            Err(why) => {
                let reason = format!("CannotPullContainerError: {why}");
                tracing::warn!(task = %task_id, container = %container.name, "{reason}");
                fail_start(shared, task_id, index, reason).await;
                return None;
            }
        }
    }
    set(shared, task_id, |t| {
        t.pull_stopped_at = Some(SystemTime::now())
    });
    Some(configs)
}

/// Starts every container's process and its health check; RUNNING. `None` when one could
/// not start (the task failed to start; the others are killed).
async fn start(
    shared: &Arc<Shared>,
    task_id: &str,
    containers: &[ContainerDef],
    configs: &[(ImageConfig, PathBuf)],
    task_dir: &Path,
) -> Option<RunningTask> {
    let (exit_tx, exits) = mpsc::unbounded_channel::<(usize, i32)>();
    let mut running = RunningTask {
        started: Vec::new(),
        exits,
        checks: Vec::new(),
    };
    let mut ports: Vec<Option<u16>> = Vec::new();
    for (index, (container, (config, rootfs))) in containers.iter().zip(configs).enumerate() {
        let spec = match host_port(container).and_then(|port| {
            ports.push(port);
            container_spec(&container.def, config, rootfs, port)
        }) {
            Ok(spec) => spec,
            Err(why) => return failed_start(shared, task_id, index, why, &running).await,
        };
        let mut child = match spawn_container(shared, task_dir, &container.name, &spec).await {
            Ok(child) => child,
            Err(e) => {
                let why = format!(
                    "CannotStartContainerError: failed to start {}: {e}",
                    spec.program.display()
                );
                return failed_start(shared, task_id, index, why, &running).await;
            }
        };
        let pid = child.id().unwrap_or(0);
        let tx = exit_tx.clone();
        tokio::spawn(async move {
            let code = match child.wait().await {
                Ok(status) => status
                    .code()
                    .unwrap_or_else(|| 128 + status.signal().unwrap_or(0)),
                Err(_) => 137,
            };
            let _ = tx.send((index, code));
        });
        running.started.push(Started {
            pid,
            stop_timeout: spec.stop_timeout,
            exit: None,
        });
        if let Some(check) = spec.health_check {
            let ctx = CheckContext {
                task_id: task_id.to_owned(),
                container: container.name.clone(),
                cwd: spec.cwd.clone(),
                env: spec.env.clone(),
            };
            running
                .checks
                .push(tokio::spawn(crate::health::check_container(
                    shared.clone(),
                    check,
                    ctx,
                )));
        }
    }
    mark_running(shared, task_id, &running.started, &ports);
    Some(running)
}

/// A free loopback port for a container with a port mapping.
fn host_port(container: &ContainerDef) -> Result<Option<u16>, String> {
    match container.container_port {
        Some(_) => crate::ports::task_port()
            .map(Some)
            .map_err(|e| format!("CannotStartContainerError: no free loopback port: {e}")),
        None => Ok(None),
    }
}

async fn failed_start(
    shared: &Arc<Shared>,
    task_id: &str,
    index: usize,
    why: String,
    running: &RunningTask,
) -> Option<RunningTask> {
    for s in &running.started {
        signal(-(s.pid as i32), libc::SIGKILL);
    }
    fail_start(shared, task_id, index, why).await;
    None
}

/// Runs until a stop is requested or an essential container exits (its index).
async fn run_until_stop(
    shared: &Shared,
    task_id: &str,
    containers: &[ContainerDef],
    running: &mut RunningTask,
    stop_signal: &Notify,
) -> Option<usize> {
    loop {
        tokio::select! {
            Some((index, code)) = running.exits.recv() => {
                running.record_exit(index, code);
                set(shared, task_id, |t| {
                    if let Some(c) = t.containers.get_mut(index) {
                        c.exit_code = Some(code);
                        c.last_status = ContainerStatus::Stopped;
                    }
                });
                if containers.get(index).is_some_and(|c| c.essential) {
                    return Some(index);
                }
            }
            _ = stop_signal.notified() => {
                if stop_requested(shared, task_id) {
                    return None;
                }
            }
        }
    }
}

async fn spawn_container(
    shared: &Shared,
    task_dir: &Path,
    name: &str,
    spec: &ContainerSpec,
) -> std::io::Result<tokio::process::Child> {
    std::fs::create_dir_all(task_dir)?;
    let log = crate::private_files::append_private(&task_dir.join(format!("{name}.log")))?;
    // Another thread's fork may briefly hold the just-unpacked executable open for writing
    // (until that child execs): exec then fails with ETXTBSY, and trying again works.
    let mut attempt = 0;
    loop {
        let mut command = tokio::process::Command::new(&spec.program);
        command
            .arg0(&spec.argv[0])
            .args(&spec.argv[1..])
            .current_dir(&spec.cwd)
            .env_clear()
            .envs(&spec.env)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log.try_clone()?));
        match shared.launcher.spawn(command).await {
            Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) && attempt < 50 => {
                attempt += 1;
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            result => return result,
        }
    }
}

/// RUNNING: record pids and ports; the scheduler registers the targets.
fn mark_running(shared: &Shared, task_id: &str, started: &[Started], ports: &[Option<u16>]) {
    set(shared, task_id, |task| {
        task.last_status = TaskStatus::Running;
        task.started_at = Some(SystemTime::now());
        task.running_since = Some(Instant::now());
        for (i, container) in task.containers.iter_mut().enumerate() {
            if let Some(s) = started.get(i) {
                container.pid = Some(s.pid);
                container.host_port = ports.get(i).copied().flatten();
                if s.exit.is_none() && container.last_status != ContainerStatus::Stopped {
                    container.last_status = ContainerStatus::Running;
                }
            }
        }
    });
    tracing::info!(task = %task_id, "task RUNNING");
    shared.wake.notify_one();
}

/// DEACTIVATING while the scheduler drains the task's targets, then STOPPING: SIGTERM, and
/// SIGKILL after `stopTimeout`; STOPPED once every process has exited.
async fn stop(
    shared: &Arc<Shared>,
    task_id: &str,
    running: &mut RunningTask,
    stop_signal: &Notify,
) {
    set(shared, task_id, |task| {
        task.stopping_at = Some(SystemTime::now());
        task.last_status = if task.targets.is_empty() {
            TaskStatus::Stopping
        } else {
            TaskStatus::Deactivating
        };
    });
    shared.wake.notify_one();
    // Draining: the processes keep serving in-flight requests until the targets are gone
    // (or the processes are).
    while !running.all_exited() && targets_left(shared, task_id) {
        tokio::select! {
            Some((index, code)) = running.exits.recv() => running.record_exit(index, code),
            _ = stop_signal.notified() => {}
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
    }
    set(shared, task_id, |t| t.last_status = TaskStatus::Stopping);
    for s in running.started.iter().filter(|s| s.exit.is_none()) {
        signal(s.pid as i32, libc::SIGTERM);
    }
    let grace = running
        .started
        .iter()
        .map(|s| s.stop_timeout)
        .max()
        .unwrap_or(Duration::ZERO);
    let kill_at = tokio::time::Instant::now() + grace;
    while !running.all_exited() {
        match tokio::time::timeout_at(kill_at, running.exits.recv()).await {
            Ok(Some((i, code))) => running.record_exit(i, code),
            Ok(None) => break,
            Err(_) => {
                kill_and_reap(running).await;
                break;
            }
        }
    }
    mark_stopped(shared, task_id, &running.started);
}

fn targets_left(shared: &Shared, task_id: &str) -> bool {
    shared
        .lock()
        .tasks
        .get(task_id)
        .is_some_and(|t| !t.targets.is_empty())
}

/// SIGKILL to what is left, and up to 10 s to see it go.
async fn kill_and_reap(running: &mut RunningTask) {
    for s in running.started.iter().filter(|s| s.exit.is_none()) {
        signal(-(s.pid as i32), libc::SIGKILL);
    }
    while !running.all_exited() {
        match tokio::time::timeout(Duration::from_secs(10), running.exits.recv()).await {
            Ok(Some((i, code))) => running.record_exit(i, code),
            _ => break,
        }
    }
}

fn mark_stopped(shared: &Shared, task_id: &str, started: &[Started]) {
    {
        let mut state = shared.lock();
        if let Some(task) = state.tasks.get_mut(task_id) {
            for (i, c) in task.containers.iter_mut().enumerate() {
                if let Some(code) = started.get(i).and_then(|s| s.exit) {
                    c.exit_code.get_or_insert(code);
                }
                c.last_status = ContainerStatus::Stopped;
            }
            task.last_status = TaskStatus::Stopped;
            task.stopped_at = Some(SystemTime::now());
            task.version += 1;
            tracing::info!(task = %task_id, reason = task.stopped_reason.as_deref().unwrap_or(""), "task STOPPED");
        }
    }
    shared.wake.notify_one();
}

/// STOPPED before any process ran: the task failed to start.
async fn fail_start(shared: &Arc<Shared>, task_id: &str, container: usize, reason: String) {
    finish_unstarted(shared, task_id, Some((container, reason)));
    remove_rootfs(&shared.store.task_dir(task_id)).await;
}

fn finish_unstarted(shared: &Shared, task_id: &str, failure: Option<(usize, String)>) {
    {
        let mut state = shared.lock();
        if let Some(task) = state.tasks.get_mut(task_id) {
            let now = SystemTime::now();
            if let Some((index, reason)) = &failure {
                task.desired_status = DesiredStatus::Stopped;
                task.stop_code = Some(StopCode::TaskFailedToStart);
                task.stopped_reason = Some(reason.clone());
                if let Some(c) = task.containers.get_mut(*index) {
                    c.reason = Some(reason.clone());
                }
            }
            for c in &mut task.containers {
                c.last_status = ContainerStatus::Stopped;
            }
            task.pull_stopped_at.get_or_insert(now);
            task.stopping_at.get_or_insert(now);
            task.stopped_at = Some(now);
            task.last_status = TaskStatus::Stopped;
            task.version += 1;
        }
    }
    shared.wake.notify_one();
}

async fn remove_rootfs(task_dir: &Path) {
    let rootfs = task_dir.join("rootfs");
    let _ = tokio::task::spawn_blocking(move || std::fs::remove_dir_all(rootfs)).await;
}

/// The log files of a task's containers (`<state-dir>/tasks/<task-id>/<container>.log`), the
/// local stand-in for awslogs. Only files that exist are returned.
pub fn task_log_paths(state_dir: &Path, task_id: &str) -> Vec<(String, PathBuf)> {
    let dir = crate::store::task_dir(state_dir, crate::ids::arn_tail(task_id));
    let mut logs: Vec<(String, PathBuf)> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| {
                    let path = e.path();
                    let name = path.file_name()?.to_str()?.strip_suffix(".log")?.to_owned();
                    Some((name, path))
                })
                .collect()
        })
        .unwrap_or_default();
    logs.sort();
    logs
}
