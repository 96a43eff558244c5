//! Watching a rollout: the deployment table, service events, target health and stopped tasks,
//! as a stream of typed events ending in an outcome.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Duration;
use std::time::SystemTime;

use aws_sdk_ecs::types::{DeploymentRolloutState, DesiredStatus};
use aws_smithy_types::retry::ErrorKind;
use futures::Stream;
use tokio::time::Instant;

use crate::Clients;
use crate::error::{Error, Result};
use crate::service::{DeploymentSnapshot, StartedDeployment, describe_service};
use crate::targets::{self, TargetGroupHealth, TargetHealthTracker};
use crate::tasks::{self, task_deployment};
// Their home is `tasks`; kept here, where they were first published.
pub use crate::tasks::{StoppedContainer, StoppedTask};

/// How a watch polls and when it gives up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchOptions {
    /// Give up (outcome `TimedOut`) after this long. Default 15 minutes.
    pub timeout: Duration,
    /// Shortest pause between polls: right after the update, while things change, and when
    /// the end is near. Default 1 s.
    pub min_interval: Duration,
    /// Longest pause between polls when nothing changes. Default 5 s.
    pub max_interval: Duration,
    /// Never more `DescribeServices` calls than this in any 60 s. Default 20.
    pub max_describes_per_minute: u32,
    /// Describe target health of the service's target groups. Default on.
    pub target_health: bool,
    /// How long to wait for the circuit breaker's rollback deployment to appear once ours is
    /// FAILED, before calling it failed without rollback. Default 30 s.
    pub rollback_grace: Duration,
}

impl Default for WatchOptions {
    fn default() -> Self {
        WatchOptions {
            timeout: Duration::from_secs(15 * 60),
            min_interval: Duration::from_secs(1),
            max_interval: Duration::from_secs(5),
            max_describes_per_minute: 20,
            target_health: true,
            rollback_grace: Duration::from_secs(30),
        }
    }
}

/// Something that happened during a rollout, in the order it was seen.
#[derive(Debug, Clone, PartialEq)]
pub enum RolloutEvent {
    /// The deployment table changed (ids, status, counts, rollout state).
    Deployments(Vec<DeploymentSnapshot>),
    /// A service event ECS recorded after the deployment started (each once, oldest first).
    ServiceEvent {
        /// When ECS recorded it.
        at: Option<SystemTime>,
        /// ECS's message, e.g. "(service hello-ecs) has started 2 tasks: …".
        message: String,
    },
    /// Target health changed in the service's target groups.
    TargetHealth(Vec<TargetGroupHealth>),
    /// A task of our deployment stopped.
    TaskStopped(StoppedTask),
    /// A call failed in a way that may pass (throttling, network); the watch goes on.
    Retrying {
        /// What failed.
        error: String,
    },
    /// How the watch went, just before the outcome: calls made and time taken.
    Stats(WatchStats),
    /// The end: what became of our deployment. Always the last event.
    Outcome(Outcome),
}

/// What a watch cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WatchStats {
    /// `DescribeServices` calls made (the budgeted API).
    pub describe_services_calls: u32,
    /// From the first poll to the outcome.
    pub watched: Duration,
}

impl WatchStats {
    /// Average `DescribeServices` calls per minute over the watch.
    pub fn describes_per_minute(&self) -> f64 {
        let minutes = self.watched.as_secs_f64().max(1.0) / 60.0;
        f64::from(self.describe_services_calls) / minutes
    }
}

/// What became of a deployment.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Our deployment reached COMPLETED and is still PRIMARY.
    Completed {
        /// The deployment.
        deployment_id: String,
        /// The task definition it runs.
        task_definition: String,
    },
    /// Our deployment failed (or vanished, or was superseded) and nothing rolled it back.
    Failed {
        /// The deployment.
        deployment_id: String,
        /// Why.
        reason: String,
        /// Its stopped tasks and their reasons.
        stopped_tasks: Vec<StoppedTask>,
    },
    /// Our deployment failed and the service went back to an earlier task definition.
    RolledBack {
        /// The failed deployment.
        deployment_id: String,
        /// The task definition the service runs again.
        to: String,
        /// The deployment doing the rollback, when it is known (watch it to wait for it).
        by: Option<String>,
        /// Why.
        reason: String,
        /// Stopped tasks of the failed deployment.
        stopped_tasks: Vec<StoppedTask>,
    },
    /// No outcome within the timeout.
    TimedOut {
        /// The deployment.
        deployment_id: String,
        /// How long the watch waited.
        waited: Duration,
        /// The last deployment table seen.
        last: Vec<DeploymentSnapshot>,
    },
}

impl Outcome {
    /// Whether the deployment completed.
    pub fn is_success(&self) -> bool {
        matches!(self, Outcome::Completed { .. })
    }

    /// `Ok` for `Completed`, the matching [`Error`] otherwise.
    pub fn into_result(self) -> Result<()> {
        match self {
            Outcome::Completed { .. } => Ok(()),
            Outcome::Failed {
                deployment_id,
                reason,
                stopped_tasks,
            } => Err(Error::DeploymentFailed {
                deployment_id,
                reason,
                stopped_tasks,
            }),
            Outcome::RolledBack {
                deployment_id,
                to,
                reason,
                stopped_tasks,
                ..
            } => Err(Error::RolledBack {
                deployment_id,
                to,
                reason,
                stopped_tasks,
            }),
            Outcome::TimedOut {
                deployment_id,
                waited,
                last,
            } => Err(Error::TimedOut {
                deployment_id,
                waited,
                state: last
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; "),
            }),
        }
    }
}

/// What the deployment table says about our deployment, before stopped tasks are attached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Not decided yet.
    InProgress,
    /// Ours is COMPLETED and PRIMARY (or, without rolloutState, alone with running == desired).
    Completed,
    /// Ours is FAILED and still PRIMARY while a rollback is expected: wait a little for it.
    AwaitingRollback {
        /// The rollout state reason.
        reason: String,
    },
    /// Ours failed, vanished or was superseded, with no rollback.
    Failed {
        /// Why.
        reason: String,
    },
    /// Another deployment took over and runs an earlier task definition.
    RolledBack {
        /// Its task definition.
        to: String,
        /// Its id.
        by: Option<String>,
        /// Why.
        reason: String,
    },
}

/// Judges our deployment from one deployment table. Pure: the heart of "never call a rollback
/// a success". Done means OUR deployment is COMPLETED and still PRIMARY; where ECS reports no
/// rolloutState, ours must be the only deployment with running == desired.
pub fn judge(table: &[DeploymentSnapshot], started: &StartedDeployment) -> Verdict {
    let ours_id = started.deployment_id.as_str();
    let primary = table.iter().find(|d| d.status == "PRIMARY");
    let Some(ours) = table.iter().find(|d| d.id == ours_id) else {
        return match primary {
            Some(p) if p.task_definition != started.task_definition => Verdict::RolledBack {
                to: p.task_definition.clone(),
                by: Some(p.id.clone()),
                reason: format!(
                    "deployment {ours_id} disappeared and {} runs {} again",
                    p.id,
                    p.revision()
                ),
            },
            Some(p) => Verdict::Failed {
                reason: format!("deployment {ours_id} disappeared; {} is PRIMARY now", p.id),
            },
            None => Verdict::Failed {
                reason: format!("deployment {ours_id} disappeared and no deployment is PRIMARY"),
            },
        };
    };
    let failed_reason = || {
        ours.rollout_state_reason.clone().unwrap_or_else(|| {
            format!(
                "deployment {ours_id} is {}",
                ours.rollout_state
                    .as_ref()
                    .map_or("FAILED", DeploymentRolloutState::as_str)
            )
        })
    };
    if ours.status != "PRIMARY" {
        return match primary {
            Some(p) if p.task_definition != ours.task_definition => Verdict::RolledBack {
                to: p.task_definition.clone(),
                by: Some(p.id.clone()),
                reason: if ours.rollout_state == Some(DeploymentRolloutState::Failed) {
                    failed_reason()
                } else {
                    format!(
                        "deployment {} replaced ours and runs {}",
                        p.id,
                        p.revision()
                    )
                },
            },
            Some(p) => Verdict::Failed {
                reason: format!("superseded by deployment {} (same task definition)", p.id),
            },
            None => Verdict::Failed {
                reason: format!(
                    "deployment {ours_id} is {} and nothing is PRIMARY",
                    ours.status
                ),
            },
        };
    }
    match &ours.rollout_state {
        Some(DeploymentRolloutState::Completed) => Verdict::Completed,
        Some(DeploymentRolloutState::Failed) if started.circuit_breaker_rollback => {
            Verdict::AwaitingRollback {
                reason: failed_reason(),
            }
        }
        Some(DeploymentRolloutState::Failed) => Verdict::Failed {
            reason: failed_reason(),
        },
        Some(_) => Verdict::InProgress,
        // Classic Load Balancer: no rolloutState. Ours alone and at full strength is done.
        None if table.len() == 1 && ours.running == ours.desired && ours.pending == 0 => {
            Verdict::Completed
        }
        None => Verdict::InProgress,
    }
}

/// Decides how long to wait before the next poll: every `min` right after the update, while
/// things change and when the end is near; backing off ×1.5 to `max` when nothing changes;
/// never more than the budget of calls in any 60 s.
#[derive(Debug)]
pub struct PollPlanner {
    min: Duration,
    max: Duration,
    current: Duration,
    polls: u32,
    budget: usize,
    calls: VecDeque<Instant>,
    endgame_since: Option<Instant>,
}

/// What the last poll saw, for the planner.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PollSignal {
    /// Anything changed: the table, target health, new events or stopped tasks.
    pub changed: bool,
    /// Our tasks are all up and the old ones are going: the outcome is near.
    pub endgame: bool,
    /// When the outcome is expected (old targets finish draining), if known.
    pub eta: Option<Instant>,
}

/// Polls right after the update that always run at the shortest interval.
const EAGER_POLLS: u32 = 3;
/// How long the end-game may poll at the shortest interval before backing off.
const ENDGAME_EAGER: Duration = Duration::from_secs(15);

impl PollPlanner {
    /// A planner for the given bounds and budget of calls per minute.
    pub fn new(min: Duration, max: Duration, budget_per_minute: u32) -> PollPlanner {
        PollPlanner {
            min,
            max: max.max(min),
            current: min,
            polls: 0,
            budget: budget_per_minute.max(1) as usize,
            calls: VecDeque::new(),
            endgame_since: None,
        }
    }

    /// The calls made so far, over `watched`.
    pub fn stats(&self, watched: Duration) -> WatchStats {
        WatchStats {
            describe_services_calls: self.polls,
            watched,
        }
    }

    /// Records a `DescribeServices` call made at `now`.
    pub fn record_call(&mut self, now: Instant) {
        self.calls.push_back(now);
        self.polls += 1;
    }

    /// The pause before the next poll.
    pub fn next_delay(&mut self, now: Instant, signal: PollSignal) -> Duration {
        while self
            .calls
            .front()
            .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(60))
        {
            self.calls.pop_front();
        }
        let endgame_for = match (signal.endgame, self.endgame_since) {
            (true, Some(since)) => now.duration_since(since),
            (true, None) => {
                self.endgame_since = Some(now);
                Duration::ZERO
            }
            (false, _) => {
                self.endgame_since = None;
                Duration::ZERO
            }
        };
        self.current = if self.polls <= EAGER_POLLS || signal.changed {
            self.min
        } else if let Some(eta) = signal.eta {
            // Sleep until just before the expected end, then poll at the shortest interval.
            eta.saturating_duration_since(now)
                .saturating_sub(self.min)
                .clamp(self.min, self.max)
        } else if signal.endgame && endgame_for < ENDGAME_EAGER {
            self.min
        } else {
            self.current.mul_f64(1.5).clamp(self.min, self.max)
        };
        let mut delay = self.current;
        if self.calls.len() >= self.budget
            && let Some(oldest) = self.calls.front()
        {
            delay = delay.max((*oldest + Duration::from_secs(60)).saturating_duration_since(now));
        }
        delay
    }
}

/// Watches `started` until an outcome, as a stream of [`RolloutEvent`]s; the last item is
/// always `Ok(RolloutEvent::Outcome(_))` unless a fatal error (service deleted, access
/// denied) ends it first. Throttling and network errors are reported as `Retrying` and
/// polled through.
pub fn watch(
    clients: Clients,
    started: StartedDeployment,
    options: WatchOptions,
) -> impl Stream<Item = Result<RolloutEvent>> + Send + 'static {
    async_stream::try_stream! {
        let mut watcher = Watcher::new(started, options.clone());
        let begun = Instant::now();
        let mut planner = PollPlanner::new(options.min_interval, options.max_interval, options.max_describes_per_minute);
        loop {
            let now = Instant::now();
            planner.record_call(now);
            // One poll (with the SDK's retries) may not outlast the timeout either.
            let remaining = options.timeout.saturating_sub(begun.elapsed());
            let polled = match tokio::time::timeout(remaining, watcher.poll(&clients)).await {
                Ok(polled) => polled,
                Err(_) => Err(Error::Aws {
                    action: "ecs:DescribeServices".into(),
                    code: Some("Timeout".into()),
                    // What the SDK makes of its own timeouts.
                    kind: Some(ErrorKind::TransientError),
                    message: "no answer before the watch timed out".into(),
                }),
            };
            let signal = match polled {
                Ok(events) => {
                    let mut outcome = false;
                    for event in events.events {
                        if matches!(event, RolloutEvent::Outcome(_)) {
                            outcome = true;
                            yield RolloutEvent::Stats(planner.stats(begun.elapsed()));
                        }
                        yield event;
                    }
                    if outcome {
                        break;
                    }
                    events.signal
                }
                Err(err) if err.is_transient() => {
                    yield RolloutEvent::Retrying { error: err.to_string() };
                    PollSignal::default()
                }
                Err(err) => Err(err)?,
            };
            let waited = begun.elapsed();
            if waited >= options.timeout {
                yield RolloutEvent::Stats(planner.stats(waited));
                yield RolloutEvent::Outcome(Outcome::TimedOut {
                    deployment_id: watcher.started.deployment_id.clone(),
                    waited,
                    last: watcher.last_table.clone(),
                });
                break;
            }
            let delay = planner.next_delay(Instant::now(), signal).min(options.timeout - waited);
            tokio::time::sleep(delay).await;
        }
    }
}

struct PollResult {
    events: Vec<RolloutEvent>,
    signal: PollSignal,
}

/// The state a watch carries from poll to poll.
struct Watcher {
    started: StartedDeployment,
    options: WatchOptions,
    last_table: Vec<DeploymentSnapshot>,
    seen_events: HashSet<String>,
    seen_stopped: HashSet<String>,
    stopped_tasks: Vec<StoppedTask>,
    tracker: TargetHealthTracker,
    last_health: Option<Vec<TargetGroupHealth>>,
    deregistration_delays: HashMap<String, Duration>,
    draining_since: Option<Instant>,
    awaiting_rollback_since: Option<Instant>,
    last_interval: Duration,
}

impl Watcher {
    fn new(started: StartedDeployment, options: WatchOptions) -> Watcher {
        Watcher {
            last_interval: options.min_interval,
            started,
            options,
            last_table: Vec::new(),
            seen_events: HashSet::new(),
            seen_stopped: HashSet::new(),
            stopped_tasks: Vec::new(),
            tracker: TargetHealthTracker::new(),
            last_health: None,
            deregistration_delays: HashMap::new(),
            draining_since: None,
            awaiting_rollback_since: None,
        }
    }

    async fn poll(&mut self, clients: &Clients) -> Result<PollResult> {
        let polled_at = Instant::now();
        let service = describe_service(&clients.ecs, &self.started.service).await?;
        let table = DeploymentSnapshot::table(&service);
        let mut events = Vec::new();
        let mut changed = false;

        if !DeploymentSnapshot::same_state(&table, &self.last_table) {
            changed = true;
            events.push(RolloutEvent::Deployments(table.clone()));
        }
        self.last_table = table.clone();

        // Service events newer than our deployment, oldest first, each once.
        let cutoff = self
            .started
            .created_at
            .checked_sub(Duration::from_secs(2))
            .unwrap_or(self.started.created_at);
        for event in service.events().iter().rev() {
            let Some(id) = event.id() else { continue };
            let at = event
                .created_at()
                .and_then(|t| SystemTime::try_from(*t).ok());
            if at.is_some_and(|at| at < cutoff) || !self.seen_events.insert(id.to_owned()) {
                continue;
            }
            changed = true;
            events.push(RolloutEvent::ServiceEvent {
                at,
                message: event.message().unwrap_or_default().to_owned(),
            });
        }

        for task in self.new_stopped_tasks(clients, &table).await? {
            changed = true;
            self.stopped_tasks.push(task.clone());
            events.push(RolloutEvent::TaskStopped(task));
        }

        let target_groups = targets::service_target_groups(&service);
        let mut draining_old = false;
        if self.options.target_health && !target_groups.is_empty() {
            let health = self
                .tracker
                .poll(clients, &self.started.service, &target_groups, &table)
                .await?;
            draining_old = health
                .iter()
                .flat_map(|g| g.by_deployment.iter())
                .any(|(d, c)| {
                    d.as_deref() != Some(self.started.deployment_id.as_str()) && c.draining > 0
                });
            if self.last_health.as_ref() != Some(&health) {
                changed = true;
                events.push(RolloutEvent::TargetHealth(health.clone()));
                self.last_health = Some(health);
            }
            if draining_old && self.deregistration_delays.is_empty() {
                self.load_deregistration_delays(clients, &target_groups)
                    .await;
            }
        }

        let verdict = judge(&table, &self.started);
        if let Some(outcome) = self.outcome(verdict) {
            events.push(RolloutEvent::Outcome(outcome));
        }

        let ours = table.iter().find(|d| d.id == self.started.deployment_id);
        let others_running = table
            .iter()
            .any(|d| d.id != self.started.deployment_id && d.running + d.pending > 0);
        let ours_up = ours.is_some_and(|d| d.running >= d.desired && d.pending == 0);
        let endgame = ours_up && (others_running || draining_old);
        let eta = if draining_old {
            // Draining was first seen up to one interval after it began.
            let since = *self.draining_since.get_or_insert(
                polled_at
                    .checked_sub(self.last_interval)
                    .unwrap_or(polled_at),
            );
            let delay = self
                .deregistration_delays
                .values()
                .max()
                .copied()
                .unwrap_or_default();
            Some(since + delay)
        } else {
            self.draining_since = None;
            None
        };
        Ok(PollResult {
            events,
            signal: PollSignal {
                changed,
                endgame,
                eta,
            },
        })
    }

    /// Turns a verdict into an outcome, waiting out the circuit breaker's rollback grace.
    fn outcome(&mut self, verdict: Verdict) -> Option<Outcome> {
        let deployment_id = self.started.deployment_id.clone();
        let stopped_tasks = self.stopped_tasks.clone();
        match verdict {
            Verdict::InProgress => {
                self.awaiting_rollback_since = None;
                None
            }
            Verdict::Completed => Some(Outcome::Completed {
                deployment_id,
                task_definition: self.started.task_definition.clone(),
            }),
            Verdict::AwaitingRollback { reason } => {
                let since = *self
                    .awaiting_rollback_since
                    .get_or_insert_with(Instant::now);
                (since.elapsed() >= self.options.rollback_grace).then(|| Outcome::Failed {
                    deployment_id,
                    reason: format!("{reason} (no rollback started)"),
                    stopped_tasks,
                })
            }
            Verdict::Failed { reason } => Some(Outcome::Failed {
                deployment_id,
                reason,
                stopped_tasks,
            }),
            Verdict::RolledBack { to, by, reason } => Some(Outcome::RolledBack {
                deployment_id,
                to,
                by,
                reason,
                stopped_tasks,
            }),
        }
    }

    /// Stopped tasks of our deployment not reported yet.
    async fn new_stopped_tasks(
        &mut self,
        clients: &Clients,
        table: &[DeploymentSnapshot],
    ) -> Result<Vec<StoppedTask>> {
        let arns =
            tasks::list_tasks(&clients.ecs, &self.started.service, DesiredStatus::Stopped).await?;
        let new: Vec<String> = arns
            .into_iter()
            .filter(|a| !self.seen_stopped.contains(a))
            .collect();
        if new.is_empty() {
            return Ok(Vec::new());
        }
        let tasks =
            tasks::describe_tasks(&clients.ecs, &self.started.service.cluster, &new).await?;
        let mut ours = Vec::new();
        for task in tasks {
            // A task being stopped is listed as desiredStatus STOPPED before it is stopped.
            if task.last_status() != Some("STOPPED") {
                continue;
            }
            let arn = task.task_arn().unwrap_or_default().to_owned();
            self.seen_stopped.insert(arn.clone());
            let deployment = task_deployment(&task, table);
            if deployment.as_deref() == Some(self.started.deployment_id.as_str()) {
                ours.push(StoppedTask::from_task(&task, deployment));
            }
        }
        Ok(ours)
    }

    async fn load_deregistration_delays(&mut self, clients: &Clients, target_groups: &[String]) {
        for arn in target_groups {
            let Ok(out) = clients
                .elb
                .describe_target_group_attributes()
                .target_group_arn(arn)
                .send()
                .await
            else {
                continue;
            };
            let secs = out
                .attributes()
                .iter()
                .find(|a| a.key() == Some("deregistration_delay.timeout_seconds"))
                .and_then(|a| a.value())
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(300);
            self.deregistration_delays
                .insert(arn.clone(), Duration::from_secs(secs));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::ServiceRef;

    fn d(
        id: &str,
        status: &str,
        td: &str,
        counts: (i32, i32, i32),
        state: Option<&str>,
    ) -> DeploymentSnapshot {
        DeploymentSnapshot {
            id: id.into(),
            status: status.into(),
            task_definition: td.into(),
            desired: counts.0,
            pending: counts.1,
            running: counts.2,
            failed: 0,
            rollout_state: state.map(DeploymentRolloutState::from),
            rollout_state_reason: state
                .filter(|s| *s == "FAILED")
                .map(|_| "circuit breaker: tasks failed to start".to_owned()),
            created_at: None,
            updated_at: None,
        }
    }

    fn started(rollback: bool) -> StartedDeployment {
        StartedDeployment {
            service: ServiceRef::new("c", "s"),
            deployment_id: "ours".into(),
            task_definition: "td:2".into(),
            previous_task_definition: Some("td:1".into()),
            created_at: SystemTime::UNIX_EPOCH,
            is_new: true,
            circuit_breaker_rollback: rollback,
        }
    }

    #[test]
    fn the_judge() {
        use Verdict::*;
        let rolled_back = |by: &str| RolledBack {
            to: "td:1".into(),
            by: Some(by.into()),
            reason: String::new(),
        };
        let cases: Vec<(&str, Vec<DeploymentSnapshot>, bool, Verdict)> = vec![
            (
                "in progress",
                vec![
                    d("ours", "PRIMARY", "td:2", (2, 2, 0), Some("IN_PROGRESS")),
                    d("old", "ACTIVE", "td:1", (2, 0, 2), Some("COMPLETED")),
                ],
                false,
                InProgress,
            ),
            (
                "completed and primary",
                vec![d("ours", "PRIMARY", "td:2", (2, 0, 2), Some("COMPLETED"))],
                false,
                Completed,
            ),
            (
                "failed, no rollback",
                vec![d("ours", "PRIMARY", "td:2", (2, 0, 0), Some("FAILED"))],
                false,
                Failed {
                    reason: "circuit breaker: tasks failed to start".into(),
                },
            ),
            (
                "failed, rollback expected",
                vec![d("ours", "PRIMARY", "td:2", (2, 0, 0), Some("FAILED"))],
                true,
                AwaitingRollback {
                    reason: "circuit breaker: tasks failed to start".into(),
                },
            ),
            (
                "rolled back, ours still listed",
                vec![
                    d("rb", "PRIMARY", "td:1", (2, 0, 2), Some("IN_PROGRESS")),
                    d("ours", "ACTIVE", "td:2", (0, 0, 0), Some("FAILED")),
                ],
                true,
                rolled_back("rb"),
            ),
            (
                "stable on the old revision, ours gone",
                vec![d("rb", "PRIMARY", "td:1", (2, 0, 2), Some("COMPLETED"))],
                true,
                rolled_back("rb"),
            ),
            (
                "superseded by another revision",
                vec![
                    d("next", "PRIMARY", "td:3", (2, 0, 0), Some("IN_PROGRESS")),
                    d("ours", "ACTIVE", "td:2", (2, 0, 2), Some("IN_PROGRESS")),
                ],
                false,
                RolledBack {
                    to: "td:3".into(),
                    by: Some("next".into()),
                    reason: String::new(),
                },
            ),
            (
                "superseded, same revision",
                vec![
                    d("again", "PRIMARY", "td:2", (2, 0, 0), Some("IN_PROGRESS")),
                    d("ours", "ACTIVE", "td:2", (2, 0, 2), None),
                ],
                false,
                Failed {
                    reason: "superseded by deployment again (same task definition)".into(),
                },
            ),
            (
                "vanished, same revision primary",
                vec![d("again", "PRIMARY", "td:2", (2, 0, 2), Some("COMPLETED"))],
                false,
                Failed {
                    reason: "deployment ours disappeared; again is PRIMARY now".into(),
                },
            ),
            (
                "no rolloutState: alone and full",
                vec![d("ours", "PRIMARY", "td:2", (2, 0, 2), None)],
                false,
                Completed,
            ),
            (
                "no rolloutState: old still there",
                vec![
                    d("ours", "PRIMARY", "td:2", (2, 0, 2), None),
                    d("old", "ACTIVE", "td:1", (0, 0, 1), None),
                ],
                false,
                InProgress,
            ),
            (
                "no rolloutState: not full",
                vec![d("ours", "PRIMARY", "td:2", (2, 1, 1), None)],
                false,
                InProgress,
            ),
        ];
        for (name, table, rollback, want) in cases {
            let got = judge(&table, &started(rollback));
            // Reasons of rollbacks are prose; compare the rest.
            let strip = |v: Verdict| match v {
                RolledBack { to, by, .. } => RolledBack {
                    to,
                    by,
                    reason: String::new(),
                },
                other => other,
            };
            assert_eq!(strip(got), want, "{name}");
        }
    }

    /// Simulates a watch that sees nothing change, on a virtual clock.
    fn quiet_run(
        planner: &mut PollPlanner,
        start: Instant,
        for_secs: u64,
        signal: PollSignal,
    ) -> Vec<Duration> {
        let mut now = start;
        let mut offsets = Vec::new();
        while now < start + Duration::from_secs(for_secs) {
            planner.record_call(now);
            offsets.push(now - start);
            now += planner.next_delay(now, signal);
        }
        offsets
    }

    #[test]
    fn polls_eagerly_then_backs_off_to_the_maximum() {
        let mut planner = PollPlanner::new(Duration::from_secs(1), Duration::from_secs(5), 20);
        let calls = quiet_run(&mut planner, Instant::now(), 120, PollSignal::default());
        let gaps: Vec<f64> = calls
            .windows(2)
            .map(|w| (w[1] - w[0]).as_secs_f64())
            .collect();
        assert_eq!(
            &gaps[..3],
            &[1.0, 1.0, 1.0],
            "about every second right after the update"
        );
        assert!(gaps.windows(2).all(|w| w[1] >= w[0]), "{gaps:?}");
        assert!(gaps.iter().all(|g| *g <= 5.0), "{gaps:?}");
        assert!(
            calls.len() <= 2 * 20,
            "{} calls in two minutes",
            calls.len()
        );
    }

    #[test]
    fn changes_reset_to_the_minimum_and_the_budget_holds() {
        let mut planner = PollPlanner::new(Duration::from_secs(1), Duration::from_secs(5), 20);
        let start = Instant::now();
        let changing = PollSignal {
            changed: true,
            ..PollSignal::default()
        };
        let calls = quiet_run(&mut planner, start, 180, changing);
        // Something changes on every poll for 3 minutes: never more than 20 calls in any 60 s.
        for (i, t) in calls.iter().enumerate() {
            let in_window = calls[i..]
                .iter()
                .take_while(|u| **u < *t + Duration::from_secs(60))
                .count();
            assert!(in_window <= 20, "{in_window} calls in the 60 s from {t:?}");
        }
        assert!(
            calls.len() >= 55,
            "the budget is used, not wasted: {}",
            calls.len()
        );
    }

    #[test]
    fn the_end_game_polls_just_before_the_expected_end() {
        let mut planner = PollPlanner::new(Duration::from_secs(1), Duration::from_secs(5), 20);
        let start = Instant::now();
        quiet_run(&mut planner, start, 30, PollSignal::default());
        // Old targets drain for 12 s from now: sleep up to 5 s at a time, then poll each second
        // from a second before the end.
        let now = start + Duration::from_secs(30);
        let eta = now + Duration::from_secs(12);
        let signal = PollSignal {
            endgame: true,
            eta: Some(eta),
            ..PollSignal::default()
        };
        let mut t = now;
        let mut gaps = Vec::new();
        while t < eta + Duration::from_secs(3) {
            planner.record_call(t);
            let gap = planner.next_delay(t, signal);
            gaps.push(gap.as_secs_f64());
            t += gap;
        }
        assert_eq!(gaps[0], 5.0, "{gaps:?}");
        assert!(gaps.iter().rev().take(3).all(|g| *g == 1.0), "{gaps:?}");
        let polled_near_end = gaps
            .iter()
            .scan(0.0, |acc, g| {
                *acc += g;
                Some(*acc)
            })
            .any(|at| (11.0..=12.5).contains(&at));
        assert!(polled_near_end, "{gaps:?}");
    }
}
