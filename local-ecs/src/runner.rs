//! Running tasks as local processes: pull and unpack each container's image, start its
//! entrypoint + command from the unpacked root filesystem (no chroot) with the container's
//! environment and `PORT`, capture output to per-container log files, register targets,
//! run container health checks, and stop the way ECS does: drain, SIGTERM, SIGKILL after
//! `stopTimeout`.

use std::collections::BTreeMap;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use serde_json::Value;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::events;
use crate::health::{CheckContext, ContainerHealthCheck};
use crate::image::{ImageConfig, resolve, unpack};
use crate::launcher::signal;
use crate::protocol::json::Input;
use crate::shared::Shared;
use crate::state::{ContainerRun, State, Task, TaskDefinition, TaskStatus};

/// The `PATH` Docker gives a container whose image sets none.
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// ECS's default `stopTimeout`.
const DEFAULT_STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// Who a new task belongs to.
#[derive(Debug, Clone, Default)]
pub struct Owner {
    /// The service's ARN.
    pub service_arn: Option<String>,
    /// The service's name (for `group`).
    pub service_name: Option<String>,
    /// The deployment id (also `startedBy`).
    pub deployment_id: Option<String>,
}

/// Builds a task record (PROVISIONING) for a task definition; the caller inserts it into the
/// state and calls [`launch`].
pub fn new_task(
    region: &str,
    cluster_name: &str,
    cluster_arn: &str,
    td: &TaskDefinition,
    owner: Owner,
    launch_type: Option<&str>,
) -> Task {
    let id = crate::ids::task_id();
    let containers = td
        .body
        .list("containerDefinitions")
        .unwrap_or(&[])
        .iter()
        .map(|def| ContainerRun {
            name: def.opt_str("name").ok().flatten().unwrap_or("").to_owned(),
            arn: crate::ids::ecs_arn(
                region,
                &format!("container/{cluster_name}/{id}/{}", crate::ids::uuid()),
            ),
            image: def.opt_str("image").ok().flatten().unwrap_or("").to_owned(),
            image_digest: None,
            last_status: "PENDING",
            exit_code: None,
            reason: None,
            pid: None,
            container_port: first_container_port(def),
            host_port: None,
            health_status: "UNKNOWN",
            essential: def.opt_bool("essential").ok().flatten().unwrap_or(true),
            has_health_check: health_check_command(def).is_some(),
        })
        .collect();
    let group = match &owner.service_name {
        Some(name) => format!("service:{name}"),
        None => format!("family:{}", td.family),
    };
    let text = |k: &str| td.body.opt_str(k).ok().flatten().map(str::to_owned);
    let launch_type = launch_type
        .map(str::to_owned)
        .or_else(|| {
            td.body
                .str_list("requiresCompatibilities")
                .ok()
                .and_then(|c| c.first().map(|s| s.to_string()))
        })
        .unwrap_or_else(|| "EC2".to_owned());
    Task {
        arn: crate::ids::ecs_arn(region, &format!("task/{cluster_name}/{id}")),
        id,
        cluster_name: cluster_name.to_owned(),
        cluster_arn: cluster_arn.to_owned(),
        task_definition_arn: td.arn.clone(),
        group,
        started_by: owner.deployment_id.clone(),
        service_arn: owner.service_arn,
        deployment_id: owner.deployment_id,
        last_status: TaskStatus::Provisioning,
        desired_status: "RUNNING",
        created_at: SystemTime::now(),
        pull_started_at: None,
        pull_stopped_at: None,
        started_at: None,
        stopping_at: None,
        stopped_at: None,
        stop_code: None,
        stopped_reason: None,
        containers,
        launch_type,
        cpu: text("cpu"),
        memory: text("memory"),
        version: 1,
        targets: Vec::new(),
        stop_signal: Arc::new(tokio::sync::Notify::new()),
        running_since: None,
        was_healthy: false,
        health_check_failure: false,
        skip_draining: false,
        tags: Value::Array(Vec::new()),
    }
}

fn first_container_port(def: &Value) -> Option<u16> {
    def.list("portMappings")
        .ok()?
        .first()?
        .opt_i64("containerPort")
        .ok()
        .flatten()
        .and_then(|p| u16::try_from(p).ok())
}

/// `healthCheck.command` unless absent or `NONE`.
fn health_check_command(def: &Value) -> Option<Vec<String>> {
    let command: Vec<String> = def
        .get("healthCheck")?
        .str_list("command")
        .ok()?
        .into_iter()
        .map(str::to_owned)
        .collect();
    match command.first().map(String::as_str) {
        Some("CMD") | Some("CMD-SHELL") => Some(command),
        _ => None,
    }
}

/// Starts a task's lifecycle in the background.
pub fn launch(shared: Arc<Shared>, task_id: String) {
    tokio::spawn(async move { lifecycle(shared, task_id).await });
}

/// What the lifecycle needs from the task definition.
struct ContainerPlan {
    def: Value,
    name: String,
    image: String,
    essential: bool,
}

/// A started container.
struct Started {
    pid: u32,
    stop_timeout: Duration,
    exit: Option<i32>,
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
        .is_none_or(|t| t.desired_status == "STOPPED")
}

async fn lifecycle(shared: Arc<Shared>, task_id: String) {
    let Some((plans, stop_signal)) = ({
        let state = shared.lock();
        state.tasks.get(&task_id).and_then(|task| {
            let td = state.task_definition(&task.task_definition_arn)?;
            let plans = td
                .body
                .list("containerDefinitions")
                .unwrap_or(&[])
                .iter()
                .map(|def| ContainerPlan {
                    def: def.clone(),
                    name: def.opt_str("name").ok().flatten().unwrap_or("").to_owned(),
                    image: def.opt_str("image").ok().flatten().unwrap_or("").to_owned(),
                    essential: def.opt_bool("essential").ok().flatten().unwrap_or(true),
                })
                .collect::<Vec<_>>();
            Some((plans, task.stop_signal.clone()))
        })
    }) else {
        return;
    };
    let task_dir = shared.store.task_dir(&task_id);
    set(&shared, &task_id, |t| {
        t.last_status = TaskStatus::Pending;
        t.pull_started_at = Some(SystemTime::now());
    });

    // Pull and unpack every image first, as the ECS agent does.
    let mut configs: Vec<(ImageConfig, PathBuf)> = Vec::new();
    for (index, plan) in plans.iter().enumerate() {
        if stop_requested(&shared, &task_id) {
            finish_unstarted(&shared, &task_id, None);
            return;
        }
        let rootfs = task_dir.join("rootfs").join(&plan.name);
        let pulled = {
            let shared = shared.clone();
            let image = plan.image.clone();
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
                set(&shared, &task_id, |t| {
                    if let Some(c) = t.containers.get_mut(index) {
                        c.image_digest = Some(resolved.digest.clone());
                    }
                });
                configs.push((resolved.config, rootfs));
            }
            Err(why) => {
                let reason = format!("CannotPullContainerError: {why}");
                tracing::warn!(task = %task_id, container = %plan.name, "{reason}");
                fail_start(&shared, &task_id, index, reason).await;
                return;
            }
        }
    }
    set(&shared, &task_id, |t| {
        t.pull_stopped_at = Some(SystemTime::now())
    });

    // Start the processes.
    let (exit_tx, mut exit_rx) = mpsc::unbounded_channel::<(usize, i32)>();
    let mut started: Vec<Started> = Vec::new();
    let mut checks: Vec<JoinHandle<()>> = Vec::new();
    let mut ports: Vec<Option<u16>> = Vec::new();
    for (index, (plan, (config, rootfs))) in plans.iter().zip(&configs).enumerate() {
        let host_port = match first_container_port(&plan.def) {
            Some(_) => match crate::ports::task_port() {
                Ok(port) => Some(port),
                Err(e) => {
                    kill_all(&started);
                    fail_start(
                        &shared,
                        &task_id,
                        index,
                        format!("CannotStartContainerError: no free loopback port: {e}"),
                    )
                    .await;
                    return;
                }
            },
            None => None,
        };
        ports.push(host_port);
        let spec = match container_spec(&plan.def, config, rootfs, host_port) {
            Ok(spec) => spec,
            Err(why) => {
                kill_all(&started);
                fail_start(&shared, &task_id, index, why).await;
                return;
            }
        };
        match spawn_container(&shared, &task_dir, &plan.name, &spec).await {
            Ok(mut child) => {
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
                started.push(Started {
                    pid,
                    stop_timeout: spec.stop_timeout,
                    exit: None,
                });
                if let Some(check) = spec.health_check {
                    let ctx = CheckContext {
                        task_id: task_id.clone(),
                        container: plan.name.clone(),
                        cwd: spec.cwd.clone(),
                        env: spec.env.clone(),
                    };
                    checks.push(tokio::spawn(crate::health::check_container(
                        shared.clone(),
                        check,
                        ctx,
                    )));
                }
            }
            Err(e) => {
                kill_all(&started);
                fail_start(
                    &shared,
                    &task_id,
                    index,
                    format!(
                        "CannotStartContainerError: failed to start {}: {e}",
                        spec.program.display()
                    ),
                )
                .await;
                return;
            }
        }
    }
    mark_running(&shared, &task_id, &started, &ports);

    // Run until an essential container exits or a stop is requested.
    let mut exited_essential: Option<usize> = None;
    loop {
        tokio::select! {
            Some((index, code)) = exit_rx.recv() => {
                if let Some(s) = started.get_mut(index) {
                    s.exit = Some(code);
                    signal(-(s.pid as i32), libc::SIGKILL);
                }
                set(&shared, &task_id, |t| {
                    if let Some(c) = t.containers.get_mut(index) {
                        c.exit_code = Some(code);
                        c.last_status = "STOPPED";
                    }
                });
                if plans.get(index).is_some_and(|p| p.essential) {
                    exited_essential = Some(index);
                    break;
                }
            }
            _ = stop_signal.notified() => {
                if stop_requested(&shared, &task_id) {
                    break;
                }
            }
        }
    }
    if let Some(index) = exited_essential {
        let code = started.get(index).and_then(|s| s.exit).unwrap_or(0);
        tracing::info!(task = %task_id, container = %plans[index].name, exit_code = code, "essential container exited");
        set(&shared, &task_id, |t| {
            t.request_stop(
                "EssentialContainerExited",
                "Essential container in task exited".into(),
            );
        });
    }
    stop(
        &shared,
        &task_id,
        &mut started,
        &mut exit_rx,
        exited_essential.is_some(),
    )
    .await;
    for check in checks {
        check.abort();
    }
    remove_rootfs(&task_dir).await;
}

fn kill_all(started: &[Started]) {
    for s in started {
        signal(-(s.pid as i32), libc::SIGKILL);
    }
}

/// How to run one container.
struct ContainerSpec {
    program: PathBuf,
    argv: Vec<String>,
    cwd: PathBuf,
    env: BTreeMap<String, String>,
    stop_timeout: Duration,
    health_check: Option<ContainerHealthCheck>,
}

/// Maps a program name into the root filesystem: absolute paths under `rootfs`, relative
/// ones under the working directory, bare names through `PATH` (inside `rootfs`).
fn resolve_program(
    argv0: &str,
    rootfs: &Path,
    cwd: &Path,
    path_env: &str,
) -> Result<PathBuf, String> {
    let is_file = |p: &Path| p.metadata().is_ok_and(|m| m.is_file());
    if let Some(absolute) = argv0.strip_prefix('/') {
        let mapped = rootfs.join(absolute);
        return if is_file(&mapped) {
            Ok(mapped)
        } else {
            Err(format!(
                "exec: \"{argv0}\": stat {argv0}: no such file or directory"
            ))
        };
    }
    if argv0.contains('/') {
        let mapped = cwd.join(argv0);
        return if is_file(&mapped) {
            Ok(mapped)
        } else {
            Err(format!(
                "exec: \"{argv0}\": stat {argv0}: no such file or directory"
            ))
        };
    }
    path_env
        .split(':')
        .filter(|dir| dir.starts_with('/'))
        .map(|dir| rootfs.join(dir.trim_start_matches('/')).join(argv0))
        .find(|candidate| is_file(candidate))
        .ok_or_else(|| format!("exec: \"{argv0}\": executable file not found in $PATH"))
}

fn seconds(def: &Value, key: &str) -> Option<Duration> {
    def.opt_i64(key)
        .ok()
        .flatten()
        .filter(|s| *s >= 0)
        .map(|s| Duration::from_secs(s as u64))
}

fn container_spec(
    def: &Value,
    config: &ImageConfig,
    rootfs: &Path,
    host_port: Option<u16>,
) -> Result<ContainerSpec, String> {
    let start_error = |why: String| format!("CannotStartContainerError: {why}");
    // Docker's rule: overriding the entrypoint drops the image's Cmd.
    let entry_override = def.get("entryPoint").filter(|v| !v.is_null());
    let entrypoint: Vec<String> = match entry_override {
        Some(_) => def
            .str_list("entryPoint")
            .unwrap_or_default()
            .into_iter()
            .map(str::to_owned)
            .collect(),
        None => config.entrypoint.clone(),
    };
    let cmd: Vec<String> = match def.get("command").filter(|v| !v.is_null()) {
        Some(_) => def
            .str_list("command")
            .unwrap_or_default()
            .into_iter()
            .map(str::to_owned)
            .collect(),
        None if entry_override.is_some() => Vec::new(),
        None => config.cmd.clone(),
    };
    let argv: Vec<String> = entrypoint.into_iter().chain(cmd).collect();
    if argv.is_empty() {
        return Err(start_error("no command specified: the image has no Entrypoint or Cmd and the container definition sets neither entryPoint nor command".into()));
    }

    let mut env: BTreeMap<String, String> = BTreeMap::new();
    for pair in &config.env {
        if let Some((k, v)) = pair.split_once('=') {
            env.insert(k.to_owned(), v.to_owned());
        }
    }
    for var in def.list("environment").unwrap_or(&[]) {
        if let (Ok(Some(name)), value) = (var.opt_str("name"), var.opt_str("value")) {
            env.insert(
                name.to_owned(),
                value.ok().flatten().unwrap_or("").to_owned(),
            );
        }
    }
    if !def.list("environmentFiles").unwrap_or(&[]).is_empty() {
        return Err("ResourceInitializationError: local-ecs cannot fetch environmentFiles from S3; use environment instead".into());
    }
    // Secrets come from local-ecs's own environment, by the secret's name.
    for secret in def.list("secrets").unwrap_or(&[]) {
        let name = secret.opt_str("name").ok().flatten().unwrap_or("");
        match std::env::var(name) {
            Ok(value) => {
                env.insert(name.to_owned(), value);
            }
            Err(_) => {
                let from = secret.opt_str("valueFrom").ok().flatten().unwrap_or("");
                return Err(format!(
                    "ResourceInitializationError: unable to pull secrets or registry auth: local-ecs \
                     cannot read {from}; set {name} in local-ecs's own environment to provide it"
                ));
            }
        }
    }
    // The host port mapping: the app must listen on PORT. It replaces the image's PORT, but a
    // PORT the container definition sets itself is kept: on ECS such a PORT makes the app
    // listen where the port mapping doesn't lead (or not start at all), and so it does here.
    let definition_sets_port = def
        .list("environment")
        .unwrap_or(&[])
        .iter()
        .any(|var| matches!(var.opt_str("name"), Ok(Some("PORT"))));
    if let Some(port) = host_port.filter(|_| !definition_sets_port) {
        env.insert("PORT".into(), port.to_string());
    }
    env.entry("PATH".into())
        .or_insert_with(|| DEFAULT_PATH.to_owned());

    let workdir = def
        .opt_str("workingDirectory")
        .ok()
        .flatten()
        .map(str::to_owned)
        .or_else(|| config.working_dir.clone());
    let cwd = match workdir {
        Some(dir) => rootfs.join(dir.trim_start_matches('/')),
        None => rootfs.to_path_buf(),
    };
    std::fs::create_dir_all(&cwd)
        .map_err(|e| start_error(format!("cannot create the working directory: {e}")))?;
    let path_env = env.get("PATH").cloned().unwrap_or_default();
    let program = resolve_program(&argv[0], rootfs, &cwd, &path_env).map_err(start_error)?;

    let health_check = match (health_check_command(def), def.get("healthCheck")) {
        (Some(command), Some(hc)) => {
            let argv = if command[0] == "CMD-SHELL" {
                vec![
                    "/bin/sh".to_owned(),
                    "-c".to_owned(),
                    command[1..].join(" "),
                ]
            } else {
                let mut argv: Vec<String> = command[1..].to_vec();
                if let Some(first) = argv.first_mut() {
                    *first = resolve_program(first, rootfs, &cwd, &path_env)
                        .map(|p| p.to_string_lossy().into_owned())
                        .unwrap_or_else(|_| first.clone());
                }
                argv
            };
            Some(ContainerHealthCheck {
                argv,
                interval: seconds(hc, "interval").unwrap_or(Duration::from_secs(30)),
                timeout: seconds(hc, "timeout").unwrap_or(Duration::from_secs(5)),
                retries: hc
                    .opt_i64("retries")
                    .ok()
                    .flatten()
                    .map_or(3, |r| r.clamp(1, 10) as u32),
                start_period: seconds(hc, "startPeriod").unwrap_or(Duration::ZERO),
            })
        }
        _ => None,
    };
    Ok(ContainerSpec {
        program,
        argv,
        cwd,
        env,
        stop_timeout: seconds(def, "stopTimeout").unwrap_or(DEFAULT_STOP_TIMEOUT),
        health_check,
    })
}

async fn spawn_container(
    shared: &Shared,
    task_dir: &Path,
    name: &str,
    spec: &ContainerSpec,
) -> std::io::Result<tokio::process::Child> {
    std::fs::create_dir_all(task_dir)?;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(task_dir.join(format!("{name}.log")))?;
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

/// RUNNING: record pids and ports, register targets with the service's target groups.
fn mark_running(shared: &Arc<Shared>, task_id: &str, started: &[Started], ports: &[Option<u16>]) {
    let mut state = shared.lock();
    let State {
        tasks, services, ..
    } = &mut *state;
    let Some(task) = tasks.get_mut(task_id) else {
        return;
    };
    let now = SystemTime::now();
    task.last_status = TaskStatus::Running;
    task.started_at = Some(now);
    task.running_since = Some(Instant::now());
    task.version += 1;
    for (i, container) in task.containers.iter_mut().enumerate() {
        if let Some(s) = started.get(i) {
            container.pid = Some(s.pid);
            container.host_port = ports.get(i).copied().flatten();
            if s.exit.is_none() && container.last_status != "STOPPED" {
                container.last_status = "RUNNING";
            }
        }
    }
    let service = task
        .service_arn
        .as_deref()
        .and_then(|arn| services.iter_mut().find(|s| s.arn == arn));
    let mut registrations = Vec::new();
    let service_arn = service.as_ref().map(|s| s.arn.clone());
    if let Some(service) = service {
        for lb in &service.load_balancers {
            let port = task
                .containers
                .iter()
                .find(|c| {
                    c.name == lb.container_name
                        && c.container_port.map(i64::from) == Some(lb.container_port)
                })
                .and_then(|c| c.host_port);
            if let Some(port) = port {
                registrations.push((lb.target_group_arn.clone(), port));
            }
        }
    }
    task.targets = registrations.clone();
    tracing::info!(task = %task_id, "task RUNNING");
    for (tg, port) in registrations {
        if crate::targets::register(shared, &mut state, &tg, port, task_id)
            && let Some(service) = service_arn
                .as_deref()
                .and_then(|arn| state.service_by_arn_mut(arn))
        {
            let message = events::registered_targets(&service.name, 1, &tg);
            service.push_event(message);
        }
    }
    state.dirty = true;
    drop(state);
    shared.wake.notify_one();
}

/// Deregister (drain), SIGTERM, SIGKILL after stopTimeout, then STOPPED.
async fn stop(
    shared: &Arc<Shared>,
    task_id: &str,
    started: &mut [Started],
    exits: &mut mpsc::UnboundedReceiver<(usize, i32)>,
    crashed: bool,
) {
    let delay = {
        let mut state = shared.lock();
        let Some(task) = state.tasks.get_mut(task_id) else {
            return;
        };
        task.stopping_at = Some(SystemTime::now());
        task.version += 1;
        let targets = task.targets.clone();
        let immediately = task.skip_draining || crashed;
        let service_arn = task.service_arn.clone();
        task.last_status = if targets.is_empty() {
            TaskStatus::Stopping
        } else {
            TaskStatus::Deactivating
        };
        let mut delay = Duration::ZERO;
        for (tg, port) in &targets {
            delay = delay.max(crate::targets::deregister(
                shared,
                &mut state,
                tg,
                *port,
                immediately,
            ));
        }
        if !targets.is_empty()
            && let Some(service) = service_arn.and_then(|arn| state.service_by_arn_mut(&arn))
        {
            let message = events::draining(&service.name, 1);
            service.push_event(message);
            state.dirty = true;
        }
        delay
    };
    let record_exit = |started: &mut [Started], index: usize, code: i32| {
        if let Some(s) = started.get_mut(index) {
            s.exit.get_or_insert(code);
            signal(-(s.pid as i32), libc::SIGKILL);
        }
    };
    // Draining: the processes keep serving in-flight requests.
    let drain_end = tokio::time::Instant::now() + delay;
    while tokio::time::Instant::now() < drain_end && started.iter().any(|s| s.exit.is_none()) {
        match tokio::time::timeout_at(drain_end, exits.recv()).await {
            Ok(Some((i, code))) => record_exit(started, i, code),
            _ => break,
        }
    }
    set(shared, task_id, |t| t.last_status = TaskStatus::Stopping);
    for s in started.iter().filter(|s| s.exit.is_none()) {
        signal(s.pid as i32, libc::SIGTERM);
    }
    let grace = started
        .iter()
        .map(|s| s.stop_timeout)
        .max()
        .unwrap_or(Duration::ZERO);
    let kill_at = tokio::time::Instant::now() + grace;
    while started.iter().any(|s| s.exit.is_none()) {
        match tokio::time::timeout_at(kill_at, exits.recv()).await {
            Ok(Some((i, code))) => record_exit(started, i, code),
            Ok(None) => break,
            Err(_) => {
                for s in started.iter().filter(|s| s.exit.is_none()) {
                    signal(-(s.pid as i32), libc::SIGKILL);
                }
                while started.iter().any(|s| s.exit.is_none()) {
                    match tokio::time::timeout(Duration::from_secs(10), exits.recv()).await {
                        Ok(Some((i, code))) => record_exit(started, i, code),
                        _ => break,
                    }
                }
                break;
            }
        }
    }
    {
        let mut state = shared.lock();
        if let Some(task) = state.tasks.get_mut(task_id) {
            for (i, c) in task.containers.iter_mut().enumerate() {
                if let Some(code) = started.get(i).and_then(|s| s.exit) {
                    c.exit_code.get_or_insert(code);
                }
                c.last_status = "STOPPED";
            }
            task.last_status = TaskStatus::Stopped;
            task.stopped_at = Some(SystemTime::now());
            task.version += 1;
            tracing::info!(task = %task_id, reason = task.stopped_reason.as_deref().unwrap_or(""), "task STOPPED");
        }
        crate::scheduler::task_stopped(&mut state, task_id);
    }
    shared.wake.notify_one();
}

/// STOPPED before any process ran: the task failed to start.
async fn fail_start(shared: &Arc<Shared>, task_id: &str, container: usize, reason: String) {
    finish_unstarted(shared, task_id, Some((container, reason)));
    remove_rootfs(&shared.store.task_dir(task_id)).await;
}

fn finish_unstarted(shared: &Arc<Shared>, task_id: &str, failure: Option<(usize, String)>) {
    {
        let mut state = shared.lock();
        if let Some(task) = state.tasks.get_mut(task_id) {
            let now = SystemTime::now();
            if let Some((index, reason)) = &failure {
                task.desired_status = "STOPPED";
                task.stop_code = Some("TaskFailedToStart");
                task.stopped_reason = Some(reason.clone());
                if let Some(c) = task.containers.get_mut(*index) {
                    c.reason = Some(reason.clone());
                }
            }
            for c in &mut task.containers {
                c.last_status = "STOPPED";
            }
            task.pull_stopped_at.get_or_insert(now);
            task.stopping_at.get_or_insert(now);
            task.stopped_at = Some(now);
            task.last_status = TaskStatus::Stopped;
            task.version += 1;
        }
        crate::scheduler::task_stopped(&mut state, task_id);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_lines_follow_docker_override_rules() {
        let dir = tempfile::tempdir().unwrap();
        let rootfs = dir.path();
        std::fs::create_dir_all(rootfs.join("usr/local/bin")).unwrap();
        std::fs::write(rootfs.join("usr/local/bin/app"), b"").unwrap();
        std::fs::write(rootfs.join("usr/local/bin/other"), b"").unwrap();
        let config = ImageConfig {
            entrypoint: vec!["/usr/local/bin/app".into()],
            cmd: vec!["serve".into()],
            env: vec!["PORT=8080".into(), "A=1".into()],
            working_dir: None,
        };
        let plain = container_spec(
            &serde_json::json!({"name": "c"}),
            &config,
            rootfs,
            Some(4000),
        )
        .unwrap();
        assert_eq!(plain.argv, ["/usr/local/bin/app", "serve"]);
        assert_eq!(plain.program, rootfs.join("usr/local/bin/app"));
        assert_eq!(
            plain.env["PORT"], "4000",
            "local-ecs's PORT wins over the image's"
        );
        let own_port = container_spec(
            &serde_json::json!({"name": "c", "environment": [{"name": "PORT", "value": "not-a-port"}]}),
            &config,
            rootfs,
            Some(4000),
        )
        .unwrap();
        assert_eq!(
            own_port.env["PORT"], "not-a-port",
            "the container definition's PORT is kept"
        );
        assert_eq!(plain.env["A"], "1");
        let overridden = container_spec(
            &serde_json::json!({"entryPoint": ["other"], "environment": [{"name": "A", "value": "2"}]}),
            &config,
            rootfs,
            None,
        )
        .unwrap();
        assert_eq!(
            overridden.argv,
            ["other"],
            "a new entrypoint drops the image's Cmd"
        );
        assert_eq!(overridden.program, rootfs.join("usr/local/bin/other"));
        assert_eq!(overridden.env["A"], "2");
        let missing = container_spec(
            &serde_json::json!({"command": ["/nope"]}),
            &ImageConfig::default(),
            rootfs,
            None,
        );
        assert!(
            missing
                .err()
                .unwrap()
                .starts_with("CannotStartContainerError: exec: \"/nope\"")
        );
    }
}
