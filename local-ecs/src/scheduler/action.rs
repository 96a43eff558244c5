//! What a scheduler pass decides, as data: the [`Action`]s of a [`Plan`], in the order
//! `apply` carries them out, and the moment [`Now`] they were decided for.

use std::time::{Duration, Instant, SystemTime};

use crate::state::{CompletedDeployment, StopCode};

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
    /// The breaker tripped: the deployment FAILED, and with rollback a new PRIMARY
    /// deployment goes back to `rollback_to`.
    Trip {
        /// The service.
        service: String,
        /// The failed deployment.
        deployment: String,
        /// The deployment to roll back to.
        rollback_to: Option<CompletedDeployment>,
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
