//! The scheduler's decisions, as a pure function of a [`View`]: which tasks to start, stop,
//! register, drain and deregister, which deployments complete, fail or leave the list, and
//! which service events to send — in the order they are to be carried out. The rules are
//! ECS's (see `docs/ecs-behaviour.md`):
//! - at least ceil(desired × minimumHealthyPercent / 100) healthy tasks, at most
//!   floor(desired × maximumPercent / 100) tasks RUNNING or PENDING (draining ones count);
//! - unhealthy tasks are replaced once the health check grace period is over;
//! - the circuit breaker (`breaker`) counts failed tasks and rolls back;
//! - deployment alarms (`alarms`) in ALARM fail a deployment and roll it back, and keep a
//!   settled one IN_PROGRESS for their bake time;
//! - StopServiceDeployment's rollback goes to the last deployment that completed;
//! - a stopped task's targets drain for the target group's deregistration delay;
//! - blue/green, linear and canary deployments run through the lifecycle stages (`stages`).

#[path = "stages.rs"]
mod stages;

use std::cmp::Reverse;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use crate::events;
use crate::retention::{self, Retention, Stopped};
use crate::state::{
    CompletedDeployment, DesiredStatus, HealthStatus, RolloutState, ServiceDeploymentStatus,
    ServiceStatus, StopCode, TargetState, TaskStatus,
};

use super::action::{Action, Failure, Now, Plan};
use super::alarms;
use super::breaker::{self, Verdict};
use super::view::{DeploymentView, ServiceView, TargetView, TaskView, View};

/// How often a continuing stall is reported again.
pub const STALL_REPEAT: Duration = Duration::from_secs(300);

/// ceil(desired × minimumHealthyPercent / 100).
pub fn minimum_healthy(desired: i64, percent: i64) -> i64 {
    (desired * percent + 99) / 100
}

/// floor(desired × maximumPercent / 100).
pub fn maximum_total(desired: i64, percent: i64) -> i64 {
    desired * percent / 100
}

/// Decides one scheduler pass.
pub fn plan(view: &View, now: Now) -> Plan {
    let mut planner = Planner {
        view,
        now,
        plan: Plan::default(),
        stopping: BTreeSet::new(),
    };
    if !view.shutting_down {
        for service in &view.services {
            if matches!(
                service.status,
                ServiceStatus::Active | ServiceStatus::Draining
            ) {
                planner.service(service);
            }
        }
    }
    planner.targets();
    if !view.shutting_down {
        planner.forget();
    }
    planner.plan
}

/// A plan in the making: the view, and the tasks this plan stops.
struct Planner<'v> {
    view: &'v View,
    now: Now,
    plan: Plan,
    stopping: BTreeSet<&'v str>,
}

/// What the rollout phase computed, for the phase that settles the deployments.
/// What a pass decided for a service's tasks.
struct Decision<'v> {
    /// Tasks to stop.
    to_stop: Vec<&'v TaskView>,
    /// Tasks of the PRIMARY deployment to start.
    start: usize,
    /// Whether the rollout has more to do after this pass.
    work_left: bool,
}

struct Rollout<'v> {
    alive: Vec<&'v TaskView>,
    started: usize,
    stopped: Vec<&'v str>,
    work_left: bool,
    transitioning: bool,
}

impl<'v> Planner<'v> {
    fn push(&mut self, action: Action) {
        self.plan.actions.push(action);
    }

    fn event(&mut self, service: &ServiceView, message: String) {
        self.push(Action::Event {
            service: service.arn.clone(),
            message,
        });
    }

    fn wake_at(&mut self, at: Instant) {
        self.plan.wake_at = Some(self.plan.wake_at.map_or(at, |w| w.min(at)));
    }

    /// Stops a task (once per plan).
    fn stop(&mut self, task: &'v TaskView, reason: String, health_check_failure: bool) {
        if self.stopping.insert(&task.id) {
            self.push(Action::Stop {
                task: task.id.clone(),
                code: StopCode::ServiceSchedulerInitiated,
                reason,
                health_check_failure,
            });
        }
    }

    /// Desired RUNNING, and not stopped by this plan.
    fn live(&self, task: &TaskView) -> bool {
        task.desired == DesiredStatus::Running && !self.stopping.contains(task.id.as_str())
    }

    /// RUNNING, with targets not yet registered although the service has load balancers.
    fn awaiting_registration(&self, service: &ServiceView, task: &TaskView) -> bool {
        task.last_status == TaskStatus::Running
            && !task.targets_registered
            && !service.load_balancers.is_empty()
    }

    /// RUNNING, its targets healthy (or unchecked), its container health checks (if any)
    /// HEALTHY.
    fn healthy(&self, service: &ServiceView, task: &TaskView) -> bool {
        task.last_status == TaskStatus::Running
            && self.live(task)
            && !self.awaiting_registration(service, task)
            && task.targets.iter().all(|t| {
                matches!(
                    t.state,
                    Some(TargetState::Healthy | TargetState::Unavailable)
                )
            })
            && (!task.container_health_checked || task.health == HealthStatus::Healthy)
    }

    /// Still on its way to RUNNING, being stopped, or its targets in their first checks.
    fn in_transition(&self, service: &ServiceView, task: &TaskView) -> bool {
        task.last_status != TaskStatus::Running
            || !self.live(task)
            || self.awaiting_registration(service, task)
            || task
                .targets
                .iter()
                .any(|t| t.state == Some(TargetState::Initial))
    }

    fn service(&mut self, service: &'v ServiceView) {
        if self.breaker(service)
            || self.stop_requested(service)
            || self.alarms(service)
            || self.hook_rollback(service)
        {
            // The deployments changed under this pass: plan the rest on the next one, now.
            self.wake_at(self.now.instant);
            return;
        }
        self.begin(service);
        let alive: Vec<&'v TaskView> = self
            .view
            .tasks_of(&service.arn)
            .filter(|t| t.is_alive())
            .collect();
        let stopped = self.replace_unhealthy(service, &alive);
        if service.status == ServiceStatus::Draining {
            self.drain_service(service, &alive, stopped);
            return;
        }
        let Some(primary) = service.primary() else {
            return;
        };
        let rollout = if service.blue_green.is_some() {
            self.advance(service, primary);
            self.roll_blue_green(service, primary, alive, stopped)
        } else {
            self.roll(service, primary, alive, stopped)
        };
        self.settle(service, primary, rollout);
    }

    /// Feeds the tasks that stopped since the last pass to the circuit breaker. True if it
    /// tripped.
    fn breaker(&mut self, service: &'v ServiceView) -> bool {
        let mut deployments: Vec<DeploymentView> = service.deployments.clone();
        let mut tripped = false;
        let stopped = self
            .view
            .tasks_of(&service.arn)
            .filter(|t| t.last_status == TaskStatus::Stopped && !t.breaker_counted);
        for task in stopped {
            self.push(Action::BreakerSaw {
                task: task.id.clone(),
            });
            let Some(deployment) = deployments.iter_mut().find(|d| task.of_deployment(&d.id))
            else {
                continue;
            };
            let verdict = breaker::judge(
                service.breaker,
                service.desired,
                deployment,
                service.last_completed.as_ref(),
                task,
            );
            let failed_tasks = match &verdict {
                Verdict::Ignore => continue,
                Verdict::Count { failed_tasks } | Verdict::Trip { failed_tasks, .. } => {
                    *failed_tasks
                }
            };
            deployment.failed_tasks = failed_tasks;
            self.push(Action::CountFailure {
                service: service.arn.clone(),
                deployment: deployment.id.clone(),
            });
            if let Verdict::Trip {
                rollback_to,
                rollback_wanted,
                ..
            } = verdict
            {
                deployment.rollout_state = RolloutState::Failed;
                tripped = true;
                let id = deployment.id.clone();
                self.fail(service, &id, Failure::Breaker, rollback_to, rollback_wanted);
            }
        }
        tripped
    }

    /// The deployment fails for `cause`: FAILED, its event, and the rollback to
    /// `rollback_to` when there is one.
    fn fail(
        &mut self,
        service: &ServiceView,
        deployment: &str,
        cause: Failure,
        rollback_to: Option<CompletedDeployment>,
        rollback_wanted: bool,
    ) {
        self.event(service, cause.event(&service.name, deployment));
        if let Some(target) = &rollback_to {
            self.event(service, events::rolling_back(&service.name, &target.id));
        }
        self.push(Action::Trip {
            service: service.arn.clone(),
            deployment: deployment.to_owned(),
            cause,
            rollback_to,
            rollback_wanted,
        });
    }

    /// The last deployment that completed, unless it is `deployment` itself.
    fn rollback_target(service: &ServiceView, deployment: &str) -> Option<CompletedDeployment> {
        service
            .last_completed
            .clone()
            .filter(|c| c.id != deployment)
    }

    /// StopServiceDeployment asked the PRIMARY deployment's service deployment for a
    /// rollback: it fails and goes back to the last deployment that completed. True if so.
    fn stop_requested(&mut self, service: &'v ServiceView) -> bool {
        let Some(primary) = service.primary() else {
            return false;
        };
        let requested = primary.owner.is_some_and(|o| {
            o.status == ServiceDeploymentStatus::RollbackRequested && !o.rollback_row
        });
        if !requested || primary.rollout_state != RolloutState::InProgress {
            return false;
        }
        let target = Self::rollback_target(service, &primary.id);
        self.fail(service, &primary.id, Failure::Stopped, target, true);
        true
    }

    /// A deployment alarm went into ALARM during the PRIMARY deployment: it fails and, with
    /// the alarms' rollback, goes back to the last deployment that completed. True if so.
    fn alarms(&mut self, service: &'v ServiceView) -> bool {
        let Some(primary) = service.primary() else {
            return false;
        };
        let names = alarms::triggered(service, primary, &self.view.alarms);
        if names.is_empty() {
            return false;
        }
        let rollback = service.alarms.rollback;
        let target = rollback
            .then(|| Self::rollback_target(service, &primary.id))
            .flatten();
        self.fail(
            service,
            &primary.id,
            Failure::Alarms(names),
            target,
            rollback,
        );
        true
    }

    /// The scheduler takes up a PENDING service deployment, or a requested rollback once its
    /// deployment is PRIMARY.
    fn begin(&mut self, service: &'v ServiceView) {
        let Some(primary) = service.primary() else {
            return;
        };
        let due = primary.owner.is_some_and(|o| match o.status {
            ServiceDeploymentStatus::Pending => !o.rollback_row,
            ServiceDeploymentStatus::RollbackRequested => o.rollback_row,
            _ => false,
        });
        if due {
            self.push(Action::Begin {
                service: service.arn.clone(),
                deployment: primary.id.clone(),
            });
        }
    }

    /// Marks first health, and replaces running tasks that fail their load balancer or
    /// container health checks once the grace period is over. Returns the stopped tasks.
    fn replace_unhealthy(
        &mut self,
        service: &'v ServiceView,
        alive: &[&'v TaskView],
    ) -> Vec<&'v str> {
        let mut monitored: BTreeSet<&str> = service
            .deployments
            .iter()
            .filter(|d| d.monitoring_complete)
            .map(|d| d.id.as_str())
            .collect();
        let mut stopped = Vec::new();
        for &task in alive {
            if self.healthy(service, task) && !task.was_healthy {
                self.push(Action::MarkHealthy {
                    task: task.id.clone(),
                });
                if let Some(deployment) = service
                    .deployments
                    .iter()
                    .find(|d| task.of_deployment(&d.id))
                    && monitored.insert(&deployment.id)
                {
                    self.push(Action::CompleteMonitoring {
                        service: service.arn.clone(),
                        deployment: deployment.id.clone(),
                    });
                }
            }
            let past_grace = task
                .running_since
                .is_some_and(|at| self.now.instant.duration_since(at) >= service.grace);
            if !(task.is_running() && past_grace) {
                continue;
            }
            let elb_failure = task
                .targets
                .iter()
                .find(|t| t.state == Some(TargetState::Unhealthy));
            let reason = match elb_failure {
                Some(target) => events::failed_elb_health_checks(&target.group),
                None if task.health == HealthStatus::Unhealthy => {
                    let message = events::failed_container_health_checks(&service.name, &task.id);
                    self.event(service, message);
                    "Task failed container health checks".to_owned()
                }
                None => continue,
            };
            self.stop(task, reason, true);
            stopped.push(task.id.as_str());
        }
        stopped
    }

    /// A deleted service: stop every task; INACTIVE once none is left.
    fn drain_service(
        &mut self,
        service: &'v ServiceView,
        alive: &[&'v TaskView],
        mut stopped: Vec<&'v str>,
    ) {
        let primary = service.primary().map(|d| d.id.as_str()).unwrap_or_default();
        for &task in alive {
            if self.live(task) {
                self.stop(task, events::scaling_activity(primary), false);
                stopped.push(&task.id);
            }
        }
        if !stopped.is_empty() {
            self.event(service, events::stopped_tasks(&service.name, &stopped));
        }
        if alive.is_empty() {
            self.push(Action::Deactivate {
                service: service.arn.clone(),
            });
        }
    }

    /// Starts PRIMARY tasks up to the desired count within the maximum, and stops older
    /// deployments' tasks — unhealthy ones freely, healthy ones down to the minimum — and
    /// PRIMARY tasks beyond the desired count.
    fn roll(
        &mut self,
        service: &'v ServiceView,
        primary: &'v DeploymentView,
        alive: Vec<&'v TaskView>,
        stopped: Vec<&'v str>,
    ) -> Rollout<'v> {
        let desired = service.desired;
        let min_healthy = minimum_healthy(desired, service.minimum_healthy_percent);
        let max_total = maximum_total(desired, service.maximum_percent);
        let (primary_live, mut old): (Vec<&'v TaskView>, Vec<&'v TaskView>) = alive
            .iter()
            .copied()
            .filter(|t| self.live(t))
            .partition(|t| t.of_deployment(&primary.id));
        let healthy_count = alive.iter().filter(|t| self.healthy(service, t)).count() as i64;
        let primary_failed = primary.rollout_state == RolloutState::Failed;

        // Tasks still stopping count toward the maximum: they run.
        let want = desired - primary_live.len() as i64;
        let room = max_total - alive.len() as i64;
        let start = if primary_failed {
            0
        } else {
            want.min(room).max(0) as usize
        };

        let by_health_then_newest = |planner: &Self, tasks: &mut Vec<&'v TaskView>| {
            tasks.sort_by_key(|t| (planner.healthy(service, t), Reverse(t.created_at)));
        };
        let mut to_stop: Vec<&'v TaskView> = Vec::new();
        if !primary_failed {
            by_health_then_newest(self, &mut old);
            let mut allowed = healthy_count - min_healthy;
            for &task in &old {
                if !self.healthy(service, task) {
                    to_stop.push(task);
                } else if allowed > 0 {
                    allowed -= 1;
                    to_stop.push(task);
                }
            }
        }
        let extra = primary_live.len() as i64 - desired;
        if extra > 0 {
            let mut candidates = primary_live.clone();
            by_health_then_newest(self, &mut candidates);
            to_stop.extend(candidates.into_iter().take(extra as usize));
        }
        let decision = Decision {
            to_stop,
            start,
            work_left: want > 0 || !old.is_empty(),
        };
        self.carry_out(service, primary, alive, stopped, decision)
    }

    /// Carries a pass's rollout decision out: stops `to_stop`, starts `start` tasks of the
    /// PRIMARY deployment, says both as service events, and sums the pass up.
    pub(super) fn carry_out(
        &mut self,
        service: &'v ServiceView,
        primary: &'v DeploymentView,
        alive: Vec<&'v TaskView>,
        mut stopped: Vec<&'v str>,
        decision: Decision<'v>,
    ) -> Rollout<'v> {
        let Decision {
            to_stop,
            start,
            work_left,
        } = decision;
        // Seen before this pass's stops: a task being stopped now is not yet in transition.
        let transitioning = alive.iter().any(|t| self.in_transition(service, t));
        for task in to_stop {
            self.stop(task, events::scaling_activity(&primary.id), false);
            stopped.push(&task.id);
        }
        if start > 0 {
            self.push(Action::Start {
                service: service.arn.clone(),
                deployment: primary.id.clone(),
                task_definition: primary.task_definition.clone(),
                count: start,
            });
        }
        if !stopped.is_empty() {
            self.event(service, events::stopped_tasks(&service.name, &stopped));
        }
        Rollout {
            alive,
            started: start,
            stopped,
            work_left,
            transitioning,
        }
    }

    /// Completes the PRIMARY deployment when it alone runs, all healthy; retires
    /// deployments without tasks; reports the steady state and stalls.
    fn settle(&mut self, service: &'v ServiceView, primary: &'v DeploymentView, r: Rollout<'v>) {
        let others_alive = service
            .deployments
            .iter()
            .any(|d| d.id != primary.id && r.alive.iter().any(|t| t.of_deployment(&d.id)));
        let primary_healthy = r
            .alive
            .iter()
            .filter(|t| t.of_deployment(&primary.id) && self.healthy(service, t))
            .count() as i64;
        // A blue/green deployment completes only in CLEAN_UP, once blue is gone.
        let cleaned_up = service
            .blue_green
            .as_ref()
            .is_none_or(|run| run.stage == Some(crate::state::LifecycleStage::CleanUp));
        let settled = !others_alive
            && cleaned_up
            && primary_healthy == service.desired
            && r.alive.len() as i64 == service.desired
            && r.started == 0;
        let mut primary_state = primary.rollout_state;
        let in_progress = primary_state == RolloutState::InProgress;
        if in_progress && !settled && primary.baking_since.is_some() {
            self.push(Action::Bake {
                service: service.arn.clone(),
                deployment: primary.id.clone(),
                since: None,
            });
        }
        if in_progress && settled && self.baked(service, primary) {
            primary_state = RolloutState::Completed;
            self.push(Action::Complete {
                service: service.arn.clone(),
                deployment: primary.id.clone(),
            });
            self.event(
                service,
                events::deployment_completed(&service.name, &primary.id),
            );
        }
        // A FAILED deployment stays listed until the one replacing it is done.
        let primary_done = primary_state != RolloutState::InProgress;
        let mut listed = 0;
        for d in &service.deployments {
            let keep = d.id == primary.id
                || r.alive.iter().any(|t| t.of_deployment(&d.id))
                || (d.rollout_state == RolloutState::Failed && !primary_done);
            if keep {
                listed += 1;
            } else {
                self.push(Action::Retire {
                    service: service.arn.clone(),
                    deployment: d.id.clone(),
                });
            }
        }
        let steady = settled && listed == 1 && primary_state == RolloutState::Completed;
        let interval = self.view.steady_state_event_interval;
        self.report(service, steady, service.steady_reported_at, interval, true);
        // A stall: work left, nothing moving, and the bounds allow neither a start nor a stop.
        let stalled = r.work_left
            && primary.rollout_state == RolloutState::InProgress
            && r.started == 0
            && r.stopped.is_empty()
            && !r.transitioning;
        if stalled || !r.transitioning {
            self.report(
                service,
                stalled,
                service.stall_reported_at,
                STALL_REPEAT,
                false,
            );
        }
    }

    /// Whether a settled PRIMARY deployment's alarm bake time is over; starts it (and the
    /// wake-up at its end) the first time. No alarms, no bake; a rollback does not bake.
    fn baked(&mut self, service: &ServiceView, primary: &DeploymentView) -> bool {
        if service.bake.is_zero() || primary.is_rollback() {
            return true;
        }
        let since = match primary.baking_since {
            Some(since) => since,
            None => {
                self.push(Action::Bake {
                    service: service.arn.clone(),
                    deployment: primary.id.clone(),
                    since: Some(self.now.instant),
                });
                self.now.instant
            }
        };
        let end = since + service.bake;
        if self.now.instant >= end {
            return true;
        }
        self.wake_at(end);
        false
    }

    /// Sends the steady-state or the stall event when `due`, repeated every `every` while it
    /// lasts; forgets when it was sent once it no longer holds.
    fn report(
        &mut self,
        service: &ServiceView,
        holds: bool,
        reported_at: Option<Instant>,
        every: Duration,
        steady: bool,
    ) {
        let now = self.now.instant;
        let at = if !holds {
            if reported_at.is_none() {
                return;
            }
            None
        } else if reported_at.is_none_or(|at| now.duration_since(at) >= every) {
            let message = if steady {
                events::steady_state(&service.name)
            } else {
                events::unable_to_stop_or_start(&service.name)
            };
            self.event(service, message);
            Some(now)
        } else {
            return;
        };
        let service = service.arn.clone();
        self.push(if steady {
            Action::SteadyReported { service, at }
        } else {
            Action::StallReported { service, at }
        });
    }

    /// Registers RUNNING tasks' targets; drains the targets of stopping tasks (at once when
    /// the task crashed or local-ecs shuts down) and deregisters them when the drain is over.
    fn targets(&mut self) {
        let view = self.view;
        for task in &view.tasks {
            let service = view.service(task.service_arn.as_deref());
            if task.is_running() && self.live(task) && !task.targets_registered {
                if !view.shutting_down {
                    self.register(service, task);
                }
                continue;
            }
            if !self.live(task) {
                self.drain(service, task);
            }
            for target in &task.targets {
                match (target.state, target.drain_until) {
                    (Some(TargetState::Draining), Some(until)) if until > self.now.instant => {
                        self.wake_at(until)
                    }
                    (Some(TargetState::Draining), _) => self.deregister(service, task, target),
                    (None, _) => self.push(Action::Deregister {
                        task: task.id.clone(),
                        group: target.group.clone(),
                        port: target.port,
                    }),
                    _ => {}
                }
            }
        }
    }

    /// Registers a task's targets: in each load balancer's target group, or its alternate
    /// one when the task's deployment uses the alternate groups (blue/green).
    fn register(&mut self, service: Option<&ServiceView>, task: &TaskView) {
        let targets: Vec<(String, u16)> = service
            .map(|s| {
                let alternate = s
                    .deployments
                    .iter()
                    .any(|d| d.alternate && task.of_deployment(&d.id));
                s.load_balancers
                    .iter()
                    .filter_map(|lb| {
                        let group = match &lb.advanced {
                            Some(a) if alternate => &a.alternate_target_group_arn,
                            _ => &lb.target_group_arn,
                        };
                        if !self.view.target_groups.contains_key(group) {
                            return None;
                        }
                        let (_, _, host) = task.ports.iter().find(|(name, port, _)| {
                            *name == lb.container_name && i64::from(*port) == lb.container_port
                        })?;
                        Some((group.clone(), *host))
                    })
                    .collect()
            })
            .unwrap_or_default();
        self.push(Action::Register {
            task: task.id.clone(),
            targets: targets.clone(),
        });
        if let Some(service) = service {
            for (group, _) in &targets {
                self.event(service, events::registered_targets(&service.name, 1, group));
            }
        }
    }

    fn drain(&mut self, service: Option<&ServiceView>, task: &TaskView) {
        let fresh: Vec<_> = task
            .targets
            .iter()
            .filter(|t| t.state.is_some_and(|s| s != TargetState::Draining))
            .collect();
        if fresh.is_empty() {
            return;
        }
        if let Some(service) = service {
            self.event(service, events::draining(&service.name, 1));
        }
        let at_once =
            self.view.shutting_down || task.stop_code == Some(StopCode::EssentialContainerExited);
        for target in fresh {
            let delay = match self.view.target_groups.get(&target.group) {
                Some(delay) if !at_once => *delay,
                _ => Duration::ZERO,
            };
            self.push(Action::Drain {
                task: task.id.clone(),
                group: target.group.clone(),
                port: target.port,
                delay,
            });
            if delay.is_zero() {
                self.deregister(service, task, target);
            } else {
                self.wake_at(self.now.instant + delay);
            }
        }
    }

    fn deregister(&mut self, service: Option<&ServiceView>, task: &TaskView, target: &TargetView) {
        self.push(Action::Deregister {
            task: task.id.clone(),
            group: target.group.clone(),
            port: target.port,
        });
        if let Some(service) = service {
            let message = events::deregistered_targets(&service.name, 1, &target.group);
            self.event(service, message);
        }
    }

    /// Stopped tasks beyond what [`retention`](crate::retention) keeps are forgotten (not
    /// while their targets still drain).
    fn forget(&mut self) {
        let now = self.now.wall;
        let stopped: Vec<Stopped> = self
            .view
            .tasks
            .iter()
            .filter(|t| t.last_status == TaskStatus::Stopped && t.targets.is_empty())
            .map(|t| Stopped {
                id: &t.id,
                service: t.service_arn.as_deref(),
                stopped_at: t.stopped_at.unwrap_or(now),
            })
            .collect();
        let rules = Retention {
            per_service: self.view.stopped_tasks_per_service,
            total: self.view.max_stopped_tasks,
            max_age: self.view.stopped_task_retention,
        };
        for id in retention::to_forget(&stopped, rules, now) {
            self.push(Action::Forget {
                task: id.to_owned(),
            });
        }
    }
}
