//! What a scheduler pass decides, as data: the [`Action`]s of a [`Plan`], in the order
//! `apply` carries them out, and the moment [`Now`] they were decided for.

use std::time::{Duration, Instant, SystemTime};

use crate::events;
use crate::state::{CompletedDeployment, HookStage, LifecycleStage, StopCode};

/// Why a deployment fails.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The circuit breaker tripped.
    Breaker,
    /// Deployment alarms went into ALARM (their names, sorted).
    Alarms(Vec<String>),
    /// StopServiceDeployment asked for a rollback.
    Stopped,
    /// A lifecycle hook answered ROLLBACK or timed out with ROLLBACK (the status reason).
    Hook(String),
}

impl Failure {
    /// The failed deployment's `rolloutStateReason` (and its service deployment's
    /// `statusReason`).
    pub fn reason(&self) -> String {
        match self {
            Failure::Breaker => events::ROLLOUT_FAILED.to_owned(),
            Failure::Alarms(names) => events::rollout_failed_alarms(names),
            Failure::Stopped => events::ROLLOUT_STOPPED.to_owned(),
            Failure::Hook(reason) => reason.clone(),
        }
    }

    /// The service event that reports the failure.
    pub fn event(&self, service: &str, deployment: &str) -> String {
        match self {
            Failure::Breaker => events::deployment_failed(service, deployment),
            Failure::Alarms(names) => events::deployment_failed_alarms(service, deployment, names),
            Failure::Stopped => events::deployment_stopped(service, deployment),
            Failure::Hook(_) => events::deployment_hook_failed(service, deployment),
        }
    }

    /// The `rolloutStateReason` of the deployment that rolls back to `to`.
    pub fn rolling_back(&self, to: &str) -> String {
        match self {
            Failure::Breaker => events::rollout_rolling_back(to),
            Failure::Alarms(_) => events::rollout_alarms_rolling_back(to),
            Failure::Stopped => events::rollout_stop_rolling_back(to),
            Failure::Hook(_) => events::rollout_hook_rolling_back(to),
        }
    }
}

/// The moment a plan is made for.
#[derive(Debug, Clone, Copy)]
pub struct Now {
    /// For durations: grace periods, drains, event repeats.
    pub instant: Instant,
    /// For timestamps: how long stopped tasks are kept.
    pub wall: SystemTime,
}

impl Now {
    /// This moment.
    pub fn current() -> Now {
        Now {
            instant: Instant::now(),
            wall: SystemTime::now(),
        }
    }
}

/// One decision. Services and deployments are named by ARN and id, tasks by id.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Send a service event.
    Event {
        /// The service.
        service: String,
        /// The message, in ECS's wording.
        message: String,
    },
    /// The task counts as healthy for the first time.
    MarkHealthy {
        /// The task.
        task: String,
    },
    /// A task of the deployment is healthy: the breaker stops evaluating it.
    CompleteMonitoring {
        /// The service.
        service: String,
        /// The deployment.
        deployment: String,
    },
    /// The breaker has seen the task stop.
    BreakerSaw {
        /// The task.
        task: String,
    },
    /// One more failed task for the deployment (`failedTasks`).
    CountFailure {
        /// The service.
        service: String,
        /// The deployment.
        deployment: String,
    },
    /// The deployment FAILED (the breaker tripped, an alarm went off, or a rollback was
    /// asked for), and with rollback a new PRIMARY deployment goes back to `rollback_to`.
    Trip {
        /// The service.
        service: String,
        /// The failed deployment.
        deployment: String,
        /// Why.
        cause: Failure,
        /// The deployment to roll back to.
        rollback_to: Option<CompletedDeployment>,
        /// A rollback was wanted (a failure without `rollback_to` then had nothing to go
        /// back to).
        rollback_wanted: bool,
    },
    /// The scheduler takes a service deployment up: PENDING becomes IN_PROGRESS, and
    /// ROLLBACK_REQUESTED becomes ROLLBACK_IN_PROGRESS.
    Begin {
        /// The service.
        service: String,
        /// The deployment of the table it acts through.
        deployment: String,
    },
    /// A settled deployment's alarm bake time began (`Some`) or was interrupted (`None`).
    Bake {
        /// The service.
        service: String,
        /// The deployment.
        deployment: String,
        /// Since when.
        since: Option<Instant>,
    },
    /// Start tasks of a deployment (their ids are made when they are created).
    Start {
        /// The service.
        service: String,
        /// The deployment.
        deployment: String,
        /// Its task definition (ARN).
        task_definition: String,
        /// How many.
        count: usize,
    },
    /// Stop a task (its targets drain first).
    Stop {
        /// The task.
        task: String,
        /// `stopCode`.
        code: StopCode,
        /// `stoppedReason`.
        reason: String,
        /// It failed health checks (a circuit-breaker failure).
        health_check_failure: bool,
    },
    /// Register a RUNNING task's targets (possibly none).
    Register {
        /// The task.
        task: String,
        /// (target group ARN, host port) pairs.
        targets: Vec<(String, u16)>,
    },
    /// A target begins draining: no new requests, deregistered after `delay`.
    Drain {
        /// The task.
        task: String,
        /// The target group.
        group: String,
        /// The target's port.
        port: u16,
        /// The deregistration delay.
        delay: Duration,
    },
    /// A target's drain is over: it leaves its group (and the task).
    Deregister {
        /// The task.
        task: String,
        /// The target group.
        group: String,
        /// The target's port.
        port: u16,
    },
    /// The deployment's rollout COMPLETED.
    Complete {
        /// The service.
        service: String,
        /// The deployment.
        deployment: String,
    },
    /// The deployment has no tasks left: INACTIVE, it leaves the list.
    Retire {
        /// The service.
        service: String,
        /// The deployment.
        deployment: String,
    },
    /// A deleted service has no tasks left: INACTIVE.
    Deactivate {
        /// The service.
        service: String,
    },
    /// When "has reached a steady state." was sent (`None`: the service is not steady).
    SteadyReported {
        /// The service.
        service: String,
        /// When.
        at: Option<Instant>,
    },
    /// When the stall event was sent (`None`: the stall is over).
    StallReported {
        /// The service.
        service: String,
        /// When.
        at: Option<Instant>,
    },
    /// Forget a stopped task (and its logs).
    Forget {
        /// The task.
        task: String,
    },
    /// A blue/green (linear, canary) deployment enters a lifecycle stage.
    Stage {
        /// The service.
        service: String,
        /// The deployment (green).
        deployment: String,
        /// The stage.
        stage: LifecycleStage,
    },
    /// The lifecycle hooks configured at `stage` start (PAUSE hooks await action).
    OpenHooks {
        /// The service.
        service: String,
        /// The deployment (green).
        deployment: String,
        /// Where they run.
        stage: HookStage,
        /// The production shift step they precede (0 elsewhere).
        step: u32,
    },
    /// A hook's timeout passed: TIMED_OUT (its timeout action follows on the next pass).
    HookTimedOut {
        /// The service.
        service: String,
        /// The deployment (green).
        deployment: String,
        /// `hookId`.
        hook: String,
    },
    /// A listener rule's forward action gets these target groups and weights.
    Route {
        /// The rule (a listener's default rule included).
        rule: String,
        /// (target group ARN, weight).
        groups: Vec<(String, i64)>,
    },
    /// A production traffic shift step was made: `percent` of production is on green.
    Shifted {
        /// The service.
        service: String,
        /// The deployment (green).
        deployment: String,
        /// The share on green now.
        percent: f64,
    },
}

/// A scheduler pass's decisions, in order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    /// What to do.
    pub actions: Vec<Action>,
    /// When the next pass is due at the latest (a drain ends, or a tripped breaker's
    /// rollback should start at once).
    pub wake_at: Option<Instant>,
}
