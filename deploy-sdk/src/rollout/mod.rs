//! Watching a rollout: the ServiceDeployment API where the endpoint has it (else the
//! deployments table), service events, target health and stopped tasks, as a stream of typed
//! events ending in an outcome.
//!
//! - [`judge`]: the pure judges ([`judge()`], [`judge_service_deployment`]).
//! - [`poll`]: the poll planner and its budget.
//! - `watcher`: one poll after another; judging first, diagnostics best effort.

mod budget;
pub mod judge;
pub mod poll;
pub mod stage;
mod watcher;

use std::fmt;
use std::time::{Duration, SystemTime};

use futures::Stream;

use crate::Clients;
use crate::error::{Error, Result};
use crate::service::{DeploymentSnapshot, StartedDeployment};
use crate::targets::TargetGroupHealth;
use crate::traffic::RuleWeights;
// Their home is `tasks`; kept here, where they were first published.
pub use crate::tasks::{StoppedContainer, StoppedTask};
pub use budget::CallBudget;
pub use judge::{
    RollbackFacts, ServiceDeploymentFacts, SteadyWindow, Verdict, judge, judge_service_deployment,
    targets_ready,
};
pub use poll::{PollPlanner, PollSignal};
pub use stage::{HookState, LIFECYCLE_STAGES, StageState};

/// How a watch polls and when it gives up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchOptions {
    /// Give up (outcome `TimedOut`) after this long, plus, for a blue/green, linear or canary
    /// service, its bakes and lifecycle hook timeouts (see `minute`). Default 15 minutes.
    pub timeout: Duration,
    /// Shortest pause between polls: right after the update, while things change and around
    /// the expected end. More than zero. Default 1 s.
    pub min_interval: Duration,
    /// Longest pause between polls when nothing changes; at least `min_interval`. Default 5 s.
    pub max_interval: Duration,
    /// Never more `DescribeServices` attempts than this in any 60 s (at least 4). Default 20.
    pub max_describes_per_minute: u32,
    /// Describe target health of the service's target groups. Default on.
    pub target_health: bool,
    /// How long one of the service's minute-valued settings lasts (bake and step times,
    /// lifecycle hook timeouts): 60 s on AWS, what `local-ecs serve --minute-seconds` says
    /// locally. The watch adds the strategy's bakes and hook timeouts, in these minutes, to
    /// `timeout`. Default 60 s.
    pub minute: Duration,
    /// How long to wait for ECS's rollback deployment to appear once ours is FAILED (table
    /// judge), before calling it failed without rollback. Default 30 s.
    pub rollback_grace: Duration,
    /// Without rolloutState (Classic Load Balancer): how long "alone at full strength with
    /// healthy targets" must hold, from one poll to a later one. Default 5 s.
    pub steady_window: Duration,
    /// The `DescribeServices` budget; clones share it, so pass one to a deploy's watch and
    /// its rollback's. Default: a budget of its own.
    pub budget: CallBudget,
}

impl Default for WatchOptions {
    fn default() -> Self {
        WatchOptions {
            timeout: Duration::from_secs(15 * 60),
            min_interval: Duration::from_secs(1),
            max_interval: Duration::from_secs(5),
            max_describes_per_minute: 20,
            target_health: true,
            minute: Duration::from_secs(60),
            rollback_grace: Duration::from_secs(30),
            steady_window: Duration::from_secs(5),
            budget: CallBudget::new(),
        }
    }
}

/// What the outcome was judged from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JudgedBy {
    /// `DescribeServiceDeployments` on the deployment's ServiceDeployment ARN.
    ServiceDeployments,
    /// The service's deployments table, because the ServiceDeployment API could not be used.
    DeploymentTable {
        /// Why not (denied, unknown to the endpoint, no `currentServiceDeployment`).
        why: String,
    },
}

impl fmt::Display for JudgedBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JudgedBy::ServiceDeployments => f.write_str("the ServiceDeployment API"),
            JudgedBy::DeploymentTable { why } => write!(f, "the deployments table ({why})"),
        }
    }
}

/// A best-effort look the watch takes beside judging; its failures never end the watch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Diagnostic {
    /// `ListTasks` + `DescribeTasks` for stopped tasks and their reasons.
    StoppedTasks,
    /// `DescribeTargetHealth` (and the tasks behind the targets).
    TargetHealth,
    /// `DescribeTargetGroupAttributes` for the deregistration delay (the drain ETA).
    DeregistrationDelay,
    /// `DescribeRules` for the traffic weights of a blue/green, linear or canary deployment.
    TrafficWeights,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Diagnostic::StoppedTasks => "stopped tasks",
            Diagnostic::TargetHealth => "target health",
            Diagnostic::DeregistrationDelay => "deregistration delay",
            Diagnostic::TrafficWeights => "traffic weights",
        })
    }
}

/// Something that happened during a rollout, in the order it was seen.
#[derive(Debug, Clone, PartialEq)]
pub enum RolloutEvent {
    /// What the outcome is judged from; sent on the first poll and whenever it changes.
    JudgedBy(JudgedBy),
    /// The deployment table changed (ids, status, counts, rollout state).
    Deployments(Vec<DeploymentSnapshot>),
    /// A service event ECS recorded after the deployment started (each once, oldest first).
    ServiceEvent {
        /// When ECS recorded it.
        at: Option<SystemTime>,
        /// ECS's message, e.g. "(service hello-ecs) has started 2 tasks: …".
        message: String,
    },
    /// A blue/green, linear or canary deployment moved to another lifecycle stage, or one of
    /// its lifecycle hooks changed state (a PAUSE hook `AWAITING_ACTION` waits for
    /// [`crate::service_deployment::continue_deployment`]).
    Stage(StageState),
    /// The weights of the listener rules ECS rewrites (production first, then test) changed.
    TrafficWeights(Vec<RuleWeights>),
    /// Target health changed in the service's target groups.
    TargetHealth(Vec<TargetGroupHealth>),
    /// A task of our deployment stopped.
    TaskStopped(StoppedTask),
    /// A call failed in a way that may pass (throttling, network); the watch goes on.
    Retrying {
        /// What failed.
        error: String,
    },
    /// A diagnostic failed (once per kind until it works again); judging goes on without it.
    DiagnosticFailed {
        /// Which one.
        what: Diagnostic,
        /// Why.
        error: String,
    },
    /// How the watch went, just before the outcome: calls made and time taken.
    Stats(WatchStats),
    /// The end: what became of our deployment. Always the last event.
    Outcome(Outcome),
}

/// What a watch cost, and what it judged by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchStats {
    /// `DescribeServices` attempts made by this watch (SDK retries included).
    pub describe_services_calls: u32,
    /// From the first poll to the outcome.
    pub watched: Duration,
    /// What the outcome was judged from.
    pub judged_by: JudgedBy,
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
    /// Our deployment succeeded: SUCCESSFUL with our revision, or COMPLETED and still PRIMARY.
    Completed {
        /// The deployment.
        deployment_id: String,
        /// The task definition it runs.
        task_definition: String,
    },
    /// Our deployment failed (or vanished, or was stopped) and nothing rolled it back.
    Failed {
        /// The deployment.
        deployment_id: String,
        /// Why.
        reason: String,
        /// Its stopped tasks and their reasons.
        stopped_tasks: Vec<StoppedTask>,
    },
    /// Our deployment failed and ECS rolled the service back (circuit breaker or alarms).
    RolledBack {
        /// The failed deployment.
        deployment_id: String,
        /// The task definition the service runs again.
        to: String,
        /// The deployment doing the rollback, when it is known (watch it to wait for it).
        by: Option<String>,
        /// Why (the breaker's reason, the alarms in ALARM…).
        reason: String,
        /// Stopped tasks of the failed deployment.
        stopped_tasks: Vec<StoppedTask>,
        /// ECS reported the rollback finished (ROLLBACK_SUCCESSFUL): nothing left to wait for.
        finished: bool,
    },
    /// Another client's UpdateService replaced ours before it finished. Not a rollback: the
    /// service runs their revision, not an earlier one of ours.
    Superseded {
        /// Our deployment.
        deployment_id: String,
        /// The other deployment (`ecs-svc/…`, or its ServiceDeployment ARN).
        by: String,
        /// The other deployment's task definition, when known.
        task_definition: Option<String>,
        /// What happened.
        reason: String,
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
            Outcome::Superseded {
                deployment_id,
                by,
                task_definition,
                reason,
            } => Err(Error::Superseded {
                deployment_id,
                by,
                task_definition,
                reason,
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

/// Watches `started` until an outcome, as a stream of [`RolloutEvent`]s; the last item is
/// always `Ok(RolloutEvent::Outcome(_))` unless a fatal error (service deleted, access to
/// DescribeServices denied, invalid options) ends it first. Throttling and network errors of
/// the judging calls are reported as `Retrying` and polled through; diagnostics never end it.
pub fn watch(
    clients: Clients,
    started: StartedDeployment,
    options: WatchOptions,
) -> impl Stream<Item = Result<RolloutEvent>> + Send + 'static {
    watcher::watch(clients, started, options)
}
