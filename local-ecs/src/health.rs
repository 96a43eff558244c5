//! Health checks that really run: the load balancer's HTTP checks of each target (with the
//! target group's path, interval, timeout, thresholds and matcher) and the container health
//! checks of task definitions (`CMD` / `CMD-SHELL`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Request;
use http_body_util::Empty;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::events;
use crate::shared::Shared;
use crate::state::{HealthCheck, HealthStatus, TargetReason, TargetState};

/// Why a health check failed: (reason, description), as DescribeTargetHealth says it.
type Failure = (TargetReason, String);

/// A failure with ELB's usual description of its reason.
fn failure(reason: TargetReason) -> Failure {
    (reason, reason.description().to_owned())
}

/// Health checks one target until it is deregistered (the task aborts this future).
pub async fn check_target(shared: Arc<Shared>, tg_arn: String, port: u16) {
    loop {
        let (hc, attached) = {
            let state = shared.lock();
            let Some(tg) = state.target_group(&tg_arn) else {
                return;
            };
            match tg.targets.iter().find(|t| t.port == port) {
                Some(t) if t.state != TargetState::Draining => {}
                _ => return,
            }
            (
                tg.health_check.clone(),
                !state.load_balancers_of_target_group(&tg_arn).is_empty(),
            )
        };
        let interval = Duration::from_secs(hc.interval_seconds.max(1) as u64);
        if !attached || !hc.enabled {
            set_passive_state(&shared, &tg_arn, port, attached, hc.enabled);
            tokio::time::sleep(interval).await;
            continue;
        }
        let outcome = probe(port, &hc).await;
        record(&shared, &tg_arn, port, &hc, outcome);
        tokio::time::sleep(interval).await;
    }
}

fn set_passive_state(shared: &Shared, tg_arn: &str, port: u16, attached: bool, enabled: bool) {
    let mut state = shared.lock();
    let Some(target) = state
        .target_group_mut(tg_arn)
        .and_then(|tg| tg.targets.iter_mut().find(|t| t.port == port))
    else {
        return;
    };
    let (new_state, reason) = if !attached {
        (TargetState::Unused, TargetReason::NotInUse)
    } else if !enabled {
        (TargetState::Unavailable, TargetReason::HealthCheckDisabled)
    } else {
        return;
    };
    if target.state != new_state {
        target.state = new_state;
        target.reason = Some(reason);
        target.description = Some(reason.description().into());
        drop(state);
        shared.wake.notify_one();
    }
}

fn record(
    shared: &Shared,
    tg_arn: &str,
    port: u16,
    hc: &HealthCheck,
    outcome: Result<(), Failure>,
) {
    let mut state = shared.lock();
    let Some(target) = state
        .target_group_mut(tg_arn)
        .and_then(|tg| tg.targets.iter_mut().find(|t| t.port == port))
    else {
        return;
    };
    if target.state == TargetState::Draining {
        return;
    }
    let before = target.state;
    if matches!(target.state, TargetState::Unused | TargetState::Unavailable) {
        // Newly attached, or checks newly enabled: start over as a new registration.
        target.state = TargetState::Initial;
        target.passes = 0;
        target.failures = 0;
    }
    target.checked = true;
    match outcome {
        Ok(()) => {
            target.passes += 1;
            target.failures = 0;
            if target.passes >= hc.healthy_threshold {
                target.state = TargetState::Healthy;
                target.reason = None;
                target.description = None;
            } else if target.state == TargetState::Initial {
                target.reason = Some(TargetReason::InitialHealthChecking);
                target.description = Some(TargetReason::InitialHealthChecking.description().into());
            }
        }
        Err((reason, description)) => {
            target.failures += 1;
            target.passes = 0;
            if target.failures >= hc.unhealthy_threshold || target.state == TargetState::Unhealthy {
                target.state = TargetState::Unhealthy;
                target.reason = Some(reason);
                target.description = Some(description);
            } else if target.state == TargetState::Initial {
                target.reason = Some(TargetReason::InitialHealthChecking);
                target.description = Some(TargetReason::InitialHealthChecking.description().into());
            }
        }
    }
    let after = target.state;
    let task_id = target.task_id.clone();
    let description = target.description.clone().unwrap_or_default();
    if before != after {
        tracing::debug!(
            target_group = tg_arn,
            port,
            from = ?before,
            to = ?after,
            "target health changed"
        );
        if after == TargetState::Unhealthy
            && let Some(task_id) = task_id
        {
            let service_arn = state
                .tasks
                .get(&task_id)
                .and_then(|t| t.service_arn.clone());
            if let Some(service) = service_arn.and_then(|arn| state.service_by_arn_mut(&arn)) {
                let message =
                    events::unhealthy_target(&service.name, &task_id, port, tg_arn, &description);
                service.push_event(message);
                state.dirty = true;
            }
        }
        drop(state);
        shared.wake.notify_one();
    }
}

/// Whether an HTTP status satisfies a matcher (`200`, `200,202`, `200-299`).
pub fn matches(matcher: &str, status: u16) -> bool {
    matcher.split(',').any(|part| match part.split_once('-') {
        Some((lo, hi)) => match (lo.trim().parse::<u16>(), hi.trim().parse::<u16>()) {
            (Ok(lo), Ok(hi)) => (lo..=hi).contains(&status),
            _ => false,
        },
        None => part.trim().parse::<u16>() == Ok(status),
    })
}

/// One health check: `GET path` on the target (a fresh connection, as ELB's checks are),
/// bounded by the timeout.
async fn probe(target_port: u16, hc: &HealthCheck) -> Result<(), Failure> {
    let port = if hc.port == "traffic-port" {
        target_port
    } else {
        hc.port.parse().unwrap_or(target_port)
    };
    let timeout = Duration::from_secs(hc.timeout_seconds.max(1) as u64);
    let failed = || failure(TargetReason::FailedHealthChecks);
    let attempt = async {
        let request = Request::get(&hc.path)
            .header(http::header::HOST, format!("127.0.0.1:{port}"))
            .header(http::header::USER_AGENT, "ELB-HealthChecker/2.0")
            .header(http::header::ACCEPT_ENCODING, "gzip, compressed")
            .header(http::header::CONNECTION, "close")
            .body(Empty::<Bytes>::new())
            .map_err(|_| failed())?;
        let stream = TcpStream::connect(("127.0.0.1", port))
            .await
            .map_err(|_| failed())?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|_| failed())?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        let status = sender
            .send_request(request)
            .await
            .map_err(|_| failed())?
            .status()
            .as_u16();
        if matches(&hc.matcher, status) {
            Ok(())
        } else {
            Err((
                TargetReason::ResponseCodeMismatch,
                format!("Health checks failed with these codes: [{status}]"),
            ))
        }
    };
    match tokio::time::timeout(timeout, attempt).await {
        Ok(result) => result,
        Err(_) => Err(failure(TargetReason::Timeout)),
    }
}

/// A container health check from a task definition's `healthCheck`.
#[derive(Debug, Clone)]
pub struct ContainerHealthCheck {
    /// The program and its arguments, already mapped into the root filesystem.
    pub argv: Vec<String>,
    /// `interval` (default 30 s).
    pub interval: Duration,
    /// `timeout` (default 5 s).
    pub timeout: Duration,
    /// `retries` (default 3).
    pub retries: u32,
    /// `startPeriod` (default 0): failures in it do not count.
    pub start_period: Duration,
}

/// Where and how a container's health check command runs.
#[derive(Debug, Clone)]
pub struct CheckContext {
    /// The task.
    pub task_id: String,
    /// The container.
    pub container: String,
    /// Working directory.
    pub cwd: PathBuf,
    /// The container's environment.
    pub env: BTreeMap<String, String>,
}

/// Runs a container health check until the task aborts this future.
pub async fn check_container(shared: Arc<Shared>, check: ContainerHealthCheck, ctx: CheckContext) {
    let started = Instant::now();
    let mut failures = 0u32;
    loop {
        tokio::time::sleep(check.interval.min(Duration::from_secs(300))).await;
        let passed = run_check(&shared, &check, &ctx).await;
        let in_start_period = started.elapsed() < check.start_period;
        let status = if passed {
            failures = 0;
            Some(HealthStatus::Healthy)
        } else if in_start_period {
            None
        } else {
            failures += 1;
            (failures >= check.retries.max(1)).then_some(HealthStatus::Unhealthy)
        };
        let Some(status) = status else { continue };
        let mut state = shared.lock();
        let Some(task) = state.tasks.get_mut(&ctx.task_id) else {
            return;
        };
        let Some(container) = task.containers.iter_mut().find(|c| c.name == ctx.container) else {
            return;
        };
        if container.health_status != status {
            container.health_status = status;
            task.version += 1;
            drop(state);
            shared.wake.notify_one();
        }
    }
}

async fn run_check(shared: &Shared, check: &ContainerHealthCheck, ctx: &CheckContext) -> bool {
    let Some((program, args)) = check.argv.split_first() else {
        return false;
    };
    let build = || {
        let mut command = tokio::process::Command::new(program);
        command
            .args(args)
            .current_dir(&ctx.cwd)
            .env_clear()
            .envs(&ctx.env)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        command
    };
    // ETXTBSY: another thread's fork briefly holds an executable open (see runner).
    let mut attempt = 0;
    let mut child = loop {
        match shared.launcher.spawn(build()).await {
            Ok(child) => break child,
            Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) && attempt < 10 => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(_) => return false,
        }
    };
    match tokio::time::timeout(check.timeout, child.wait()).await {
        Ok(Ok(status)) => status.success(),
        _ => {
            if let Some(pid) = child.id() {
                crate::launcher::signal(-(pid as i32), libc::SIGKILL);
            }
            let _ = child.wait().await;
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matchers() {
        assert!(matches("200", 200));
        assert!(!matches("200", 404));
        assert!(matches("200,302", 302));
        assert!(matches("200-299", 204));
        assert!(!matches("200-299", 300));
    }
}
