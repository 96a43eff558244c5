//! The scheduler's rules as a table: one row per rule of ECS's rolling update, each a view
//! written by hand and what the plan must (and must not) do. No process, no clock, no lock:
//! the whole table runs in milliseconds.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[path = "tests_blue_green.rs"]
mod blue_green;

use super::action::{Action, Failure, Now, Plan};
use super::breaker;
use super::plan::{STALL_REPEAT, plan};
use super::view::{AlarmView, DeploymentView, OwnerView, ServiceView, TargetView, TaskView, View};
use crate::state::{
    AlarmState, CircuitBreaker, CompletedDeployment, DeploymentAlarms, DeploymentStatus,
    DesiredStatus, HealthStatus, RolloutState, ServiceDeploymentStatus, ServiceLoadBalancer,
    ServiceStatus, StopCode, TargetState, TaskStatus,
};

const SERVICE: &str = "arn:aws:ecs:us-east-1:000000000000:service/c/web";
const NEW: &str = "ecs-svc/2";
const OLD: &str = "ecs-svc/1";
const TG: &str = "arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/tg/1";

/// The moment every row is planned at; task times are offsets before it.
fn now() -> Now {
    let base = base();
    Now {
        instant: base + Duration::from_secs(10_000),
        wall: UNIX_EPOCH + Duration::from_secs(1_000_000),
    }
}

fn base() -> Instant {
    use std::sync::OnceLock;
    static BASE: OnceLock<Instant> = OnceLock::new();
    *BASE.get_or_init(Instant::now)
}

/// `secs` before [`now`].
fn ago(secs: u64) -> Instant {
    now().instant - Duration::from_secs(secs)
}

fn deployment(id: &str, status: DeploymentStatus, rollout: RolloutState) -> DeploymentView {
    DeploymentView {
        id: id.into(),
        status,
        task_definition: format!("td:{}", &id[id.len() - 1..]),
        rollout_state: rollout,
        failed_tasks: 0,
        monitoring_complete: false,
        owner: Some(OwnerView {
            status: match rollout {
                RolloutState::InProgress => ServiceDeploymentStatus::InProgress,
                RolloutState::Completed => ServiceDeploymentStatus::Successful,
                RolloutState::Failed => ServiceDeploymentStatus::Stopped,
            },
            rollback_row: false,
            created_at: created(),
        }),
        baking_since: None,
        alternate: false,
    }
}

/// When NEW's service deployment was created (alarms that went off after it count).
fn created() -> SystemTime {
    now().wall - Duration::from_secs(100)
}

/// The deployment alarm `web-5xx`, watched with rollback, in `state` since `secs` before
/// the plan.
fn alarmed(mut service: ServiceView, state: AlarmState, secs: u64) -> View {
    service.alarms = DeploymentAlarms {
        names: vec!["web-5xx".into(), "web-latency".into()],
        enable: true,
        rollback: true,
    };
    service.bake = Duration::from_secs(60);
    let mut v = view(service, tasks(0..1, OLD));
    v.tasks.push(task(1, NEW).target(TargetState::Initial));
    let alarm = AlarmView {
        state,
        transitioned_at: now().wall - Duration::from_secs(secs),
    };
    v.alarms.insert("web-5xx".into(), alarm);
    v
}

fn trip_of(plan: &Plan) -> Option<(&Failure, Option<&CompletedDeployment>, bool)> {
    plan.actions.iter().find_map(|a| match a {
        Action::Trip {
            cause,
            rollback_to,
            rollback_wanted,
            ..
        } => Some((cause, rollback_to.as_ref(), *rollback_wanted)),
        _ => None,
    })
}

/// A service rolling from OLD (COMPLETED) to NEW (IN_PROGRESS), behind one target group,
/// with the circuit breaker and rollback on.
fn service(desired: i64, min: i64, max: i64) -> ServiceView {
    ServiceView {
        arn: SERVICE.into(),
        name: "web".into(),
        status: ServiceStatus::Active,
        desired,
        minimum_healthy_percent: min,
        maximum_percent: max,
        grace: Duration::ZERO,
        breaker: CircuitBreaker {
            enable: true,
            rollback: true,
        },
        alarms: DeploymentAlarms::default(),
        bake: Duration::ZERO,
        load_balancers: vec![ServiceLoadBalancer {
            target_group_arn: TG.into(),
            container_name: "app".into(),
            container_port: 8080,
            advanced: None,
        }],
        deployments: vec![
            deployment(NEW, DeploymentStatus::Primary, RolloutState::InProgress),
            deployment(OLD, DeploymentStatus::Active, RolloutState::Completed),
        ],
        last_completed: Some(CompletedDeployment {
            id: OLD.into(),
            task_definition: "td:1".into(),
            revision_arn: "rev:1".into(),
        }),
        steady_reported_at: None,
        stall_reported_at: None,
        blue_green: None,
    }
}

/// A healthy RUNNING task of `deployment`, its target healthy; `n` orders creation.
fn task(n: u16, deployment: &str) -> TaskView {
    TaskView {
        id: format!("{deployment}-t{n}"),
        service_arn: Some(SERVICE.into()),
        deployment_id: Some(deployment.into()),
        last_status: TaskStatus::Running,
        desired: DesiredStatus::Running,
        created_at: UNIX_EPOCH + Duration::from_secs(u64::from(n)),
        stopped_at: None,
        running_since: Some(ago(600)),
        was_healthy: true,
        health: HealthStatus::Unknown,
        container_health_checked: false,
        stop_code: None,
        health_check_failure: false,
        breaker_counted: false,
        targets_registered: true,
        targets: vec![TargetView {
            group: TG.into(),
            port: 20_000 + n,
            state: Some(TargetState::Healthy),
            drain_until: None,
        }],
        ports: vec![("app".into(), 8080, 20_000 + n)],
    }
}

fn tasks(range: std::ops::Range<u16>, deployment: &str) -> Vec<TaskView> {
    range.map(|n| task(n, deployment)).collect()
}

impl TaskView {
    fn target(mut self, state: TargetState) -> Self {
        for t in &mut self.targets {
            t.state = Some(state);
        }
        self.was_healthy = state == TargetState::Healthy;
        self
    }
    fn pending(mut self) -> Self {
        self.last_status = TaskStatus::Pending;
        self.running_since = None;
        self.targets_registered = false;
        self.targets.clear();
        self.was_healthy = false;
        self
    }
    /// Being stopped by an earlier pass, its target draining until `until`.
    fn draining(mut self, until: Instant) -> Self {
        self.desired = DesiredStatus::Stopped;
        self.last_status = TaskStatus::Deactivating;
        self.stop_code = Some(StopCode::ServiceSchedulerInitiated);
        for t in &mut self.targets {
            t.state = Some(TargetState::Draining);
            t.drain_until = Some(until);
        }
        self
    }
    fn stopped(mut self, code: StopCode) -> Self {
        self.desired = DesiredStatus::Stopped;
        self.last_status = TaskStatus::Stopped;
        self.stop_code = Some(code);
        self.stopped_at = Some(now().wall);
        self.targets.clear();
        self
    }
    fn running_for(mut self, secs: u64) -> Self {
        self.running_since = Some(ago(secs));
        self
    }
}

fn view(service: ServiceView, tasks: Vec<TaskView>) -> View {
    View {
        shutting_down: false,
        services: vec![service],
        tasks,
        target_groups: [(TG.to_owned(), Duration::from_secs(5))].into(),
        steady_state_event_interval: Duration::from_secs(6 * 3600),
        stopped_task_retention: Duration::from_secs(3600),
        max_stopped_tasks: 1000,
        stopped_tasks_per_service: 10,
        alarms: Default::default(),
        minute: Duration::from_secs(60),
    }
}

/// What a plan does, in the terms the rows check.
#[derive(Debug, Default)]
struct Seen {
    started: usize,
    stopped: Vec<String>,
    events: Vec<String>,
}

fn seen(plan: &Plan) -> Seen {
    let mut seen = Seen::default();
    for action in &plan.actions {
        match action {
            Action::Start { count, .. } => seen.started += count,
            Action::Stop { task, .. } => seen.stopped.push(task.clone()),
            Action::Event { message, .. } => seen.events.push(message.clone()),
            _ => {}
        }
    }
    seen
}

fn stopped_of(seen: &Seen, deployment: &str) -> usize {
    seen.stopped
        .iter()
        .filter(|id| id.starts_with(&format!("{deployment}-")))
        .count()
}

fn has_event(seen: &Seen, text: &str) -> bool {
    seen.events.iter().any(|e| e.contains(text))
}

type Check = fn(&Plan) -> Result<(), String>;

fn expect(ok: bool, what: impl Into<String>) -> Result<(), String> {
    if ok { Ok(()) } else { Err(what.into()) }
}

/// One rule: the view it starts from and what the plan must do.
struct Row {
    rule: &'static str,
    view: fn() -> View,
    check: Check,
}

const ROWS: &[Row] = &[
    Row {
        rule: "desired 4 at 50/100: min 2, max 4 — two old tasks stop before anything starts",
        view: || view(service(4, 50, 100), tasks(0..4, OLD)),
        check: |p| {
            let s = seen(p);
            expect(s.started == 0 && stopped_of(&s, OLD) == 2, format!("{s:?}"))
        },
    },
    Row {
        rule: "desired 4 at 50/100: tasks still draining count toward the maximum",
        view: || {
            let mut t = tasks(0..4, OLD);
            t[0] = t[0].clone().draining(ago(0) + Duration::from_secs(3));
            t[1] = t[1].clone().draining(ago(0) + Duration::from_secs(3));
            view(service(4, 50, 100), t)
        },
        check: |p| {
            let s = seen(p);
            expect(s.started == 0 && s.stopped.is_empty(), format!("{s:?}"))
        },
    },
    Row {
        rule: "desired 4 at 50/100: once the drained tasks are gone, two new ones start",
        view: || view(service(4, 50, 100), tasks(2..4, OLD)),
        check: |p| {
            let s = seen(p);
            expect(s.started == 2 && s.stopped.is_empty(), format!("{s:?}"))
        },
    },
    Row {
        rule: "desired 3 at 100/150: min 3, max floor(4.5) = 4 — one new task, no stop",
        view: || view(service(3, 100, 150), tasks(0..3, OLD)),
        check: |p| {
            let s = seen(p);
            expect(s.started == 1 && s.stopped.is_empty(), format!("{s:?}"))
        },
    },
    Row {
        rule: "desired 2 at 75/200: min ceil(1.5) = 2 — nothing stops first, two start",
        view: || view(service(2, 75, 200), tasks(0..2, OLD)),
        check: |p| {
            let s = seen(p);
            expect(s.started == 2 && s.stopped.is_empty(), format!("{s:?}"))
        },
    },
    Row {
        rule: "desired 3 at 100/125: max floor(3.75) = 3, min 3 — the stall is reported",
        view: || view(service(3, 100, 125), tasks(0..3, OLD)),
        check: |p| {
            let s = seen(p);
            expect(
                s.started == 0
                    && s.stopped.is_empty()
                    && has_event(&s, "(service web) was unable to stop or start tasks")
                    && p.actions
                        .iter()
                        .any(|a| matches!(a, Action::StallReported { at: Some(_), .. })),
                format!("{s:?}"),
            )
        },
    },
    Row {
        rule: "a continuing stall is not reported again within 5 minutes",
        view: || {
            let mut s = service(3, 100, 125);
            s.stall_reported_at = Some(ago(STALL_REPEAT.as_secs() - 1));
            view(s, tasks(0..3, OLD))
        },
        check: |p| {
            let s = seen(p);
            expect(s.events.is_empty(), format!("{s:?}"))
        },
    },
    Row {
        rule: "a continuing stall is reported again after 5 minutes",
        view: || {
            let mut s = service(3, 100, 125);
            s.stall_reported_at = Some(ago(STALL_REPEAT.as_secs()));
            view(s, tasks(0..3, OLD))
        },
        check: |p| {
            let s = seen(p);
            expect(
                has_event(&s, "was unable to stop or start tasks"),
                format!("{s:?}"),
            )
        },
    },
    Row {
        rule: "desired 4 at 100/200: four new tasks start before any old one stops",
        view: || view(service(4, 100, 200), tasks(0..4, OLD)),
        check: |p| {
            let s = seen(p);
            expect(s.started == 4 && s.stopped.is_empty(), format!("{s:?}"))
        },
    },
    Row {
        rule: "new tasks in their first health checks are not healthy: no old task stops yet",
        view: || {
            let mut t = tasks(0..4, OLD);
            t.extend(
                tasks(4..8, NEW)
                    .into_iter()
                    .map(|t| t.target(TargetState::Initial)),
            );
            view(service(4, 100, 200), t)
        },
        check: |p| {
            let s = seen(p);
            expect(
                s.started == 0 && s.stopped.is_empty() && s.events.is_empty(),
                format!("{s:?}"),
            )
        },
    },
    Row {
        rule: "once the new tasks are healthy, every old one stops (healthy 8, min 4)",
        view: || {
            let mut t = tasks(0..4, OLD);
            t.extend(tasks(4..8, NEW));
            view(service(4, 100, 200), t)
        },
        check: |p| {
            let s = seen(p);
            expect(
                s.started == 0
                    && stopped_of(&s, OLD) == 4
                    && stopped_of(&s, NEW) == 0
                    && has_event(&s, "(service web) has stopped 4 running tasks"),
                format!("{s:?}"),
            )
        },
    },
    Row {
        rule: "a RUNNING task's targets are registered, and it is not healthy before they are",
        view: || {
            let mut fresh = task(4, NEW);
            fresh.targets.clear();
            fresh.targets_registered = false;
            fresh.was_healthy = false;
            let mut t = tasks(0..1, OLD);
            t.push(fresh);
            view(service(1, 100, 200), t)
        },
        check: |p| {
            let registered = p.actions.iter().any(|a| {
                matches!(a, Action::Register { task, targets }
                    if task == "ecs-svc/2-t4" && targets == &[(TG.to_owned(), 20_004)])
            });
            let s = seen(p);
            expect(
                registered
                    && s.stopped.is_empty()
                    && has_event(
                        &s,
                        &format!("(service web) registered 1 targets in (target-group {TG})"),
                    ),
                format!("{p:#?}"),
            )
        },
    },
    Row {
        rule: "health check grace period: an unhealthy target inside it is left alone",
        view: || {
            let mut s = service(1, 100, 200);
            s.grace = Duration::from_secs(60);
            view(
                s,
                vec![task(0, NEW).target(TargetState::Unhealthy).running_for(30)],
            )
        },
        check: |p| {
            let s = seen(p);
            expect(s.stopped.is_empty() && s.started == 0, format!("{s:?}"))
        },
    },
    Row {
        rule: "after the grace period a task failing ELB checks is replaced, in the same pass",
        view: || {
            let mut s = service(1, 100, 200);
            s.grace = Duration::from_secs(60);
            view(
                s,
                vec![task(0, NEW).target(TargetState::Unhealthy).running_for(61)],
            )
        },
        check: |p| {
            let replaced = p.actions.iter().any(|a| {
                matches!(a, Action::Stop { reason, health_check_failure: true, .. }
                    if reason == &format!("Task failed ELB health checks in (target-group {TG})"))
            });
            let s = seen(p);
            expect(replaced && s.started == 1, format!("{p:#?}"))
        },
    },
    Row {
        rule: "a task failing its container health check is replaced, with ECS's event",
        view: || {
            let mut t = task(0, NEW);
            t.container_health_checked = true;
            t.health = HealthStatus::Unhealthy;
            view(service(1, 100, 200), vec![t])
        },
        check: |p| {
            let s = seen(p);
            expect(
                s.stopped == ["ecs-svc/2-t0"]
                    && has_event(
                        &s,
                        "(service web) (task ecs-svc/2-t0) failed container health checks.",
                    ),
                format!("{s:?}"),
            )
        },
    },
    Row {
        rule: "breaker threshold, desired 1: clamped up to 3 — two failures do not trip",
        view: || failures(1, 2),
        check: |p| expect(!tripped(p) && counted(p) == 2, format!("{p:#?}")),
    },
    Row {
        rule: "breaker threshold, desired 2: clamped up to 3 — the third failure trips",
        view: || failures(2, 3),
        check: |p| expect(tripped(p) && counted(p) == 3, format!("{p:#?}")),
    },
    Row {
        rule: "breaker threshold, desired 8: ceil(8 / 2) = 4 — three failures do not trip",
        view: || failures(8, 3),
        check: |p| expect(!tripped(p), format!("{p:#?}")),
    },
    Row {
        rule: "breaker threshold, desired 500: clamped down to 200",
        view: || {
            let mut v = failures(500, 1);
            v.services[0].deployments[0].failed_tasks = 199;
            v
        },
        check: |p| expect(tripped(p), format!("{p:#?}")),
    },
    Row {
        rule: "a trip rolls back to the last COMPLETED deployment, not the FAILED one before",
        view: || {
            let mut v = failures(2, 3);
            let s = &mut v.services[0];
            s.deployments.insert(
                1,
                deployment("ecs-svc/9", DeploymentStatus::Active, RolloutState::Failed),
            );
            v
        },
        check: |p| {
            let rollback = p.actions.iter().find_map(|a| match a {
                Action::Trip { rollback_to, .. } => rollback_to.clone(),
                _ => None,
            });
            let s = seen(p);
            expect(
                rollback.is_some_and(|r| r.id == OLD && r.task_definition == "td:1")
                    && has_event(
                        &s,
                        &format!(
                            "(service web) (deployment {NEW}) deployment failed: tasks failed to start."
                        ),
                    )
                    && has_event(
                        &s,
                        &format!("(service web) rolling back to deployment {OLD}"),
                    ),
                format!("{p:#?}"),
            )
        },
    },
    Row {
        rule: "without rollback a trip leaves the deployment FAILED and starts nothing",
        view: || {
            let mut v = failures(2, 3);
            v.services[0].breaker.rollback = false;
            v
        },
        check: |p| {
            let no_rollback = p.actions.iter().any(|a| {
                matches!(
                    a,
                    Action::Trip {
                        rollback_to: None,
                        ..
                    }
                )
            });
            expect(no_rollback && seen(p).started == 0, format!("{p:#?}"))
        },
    },
    Row {
        rule: "once a task of the deployment was healthy, the breaker stops counting",
        view: || {
            let mut v = failures(2, 3);
            v.services[0].deployments[0].monitoring_complete = true;
            v
        },
        check: |p| expect(!tripped(p) && counted(p) == 0, format!("{p:#?}")),
    },
    Row {
        rule: "a task that stopped by scaling is no failure",
        view: || {
            let stopped = task(0, NEW).stopped(StopCode::ServiceSchedulerInitiated);
            view(service(1, 100, 200), vec![stopped, task(1, NEW)])
        },
        check: |p| expect(counted(p) == 0 && saw(p) == 1, format!("{p:#?}")),
    },
    Row {
        rule: "scale-in stops PRIMARY tasks beyond the desired count: the unhealthy first, then the newest",
        view: || {
            let mut t = tasks(0..3, NEW);
            t[0] = t[0].clone().target(TargetState::Initial);
            let mut s = service(1, 100, 200);
            s.deployments.truncate(1);
            view(s, t)
        },
        check: |p| {
            let s = seen(p);
            expect(
                s.stopped == ["ecs-svc/2-t0", "ecs-svc/2-t2"],
                format!("{s:?}"),
            )
        },
    },
    Row {
        rule: "during a rollout, old tasks are replaced before PRIMARY ones are scaled in",
        view: || {
            let mut t = tasks(0..1, OLD);
            t.extend(tasks(1..4, NEW));
            view(service(2, 100, 200), t)
        },
        check: |p| {
            let s = seen(p);
            expect(
                stopped_of(&s, OLD) == 1
                    && s.stopped.contains(&"ecs-svc/2-t3".to_owned())
                    && s.stopped.len() == 2,
                format!("{s:?}"),
            )
        },
    },
    Row {
        rule: "the PRIMARY deployment completes when it alone runs, every task healthy",
        view: || view(service(2, 100, 200), tasks(0..2, NEW)),
        check: |p| {
            let completed = p
                .actions
                .iter()
                .any(|a| matches!(a, Action::Complete { deployment, .. } if deployment == NEW));
            let retired = p
                .actions
                .iter()
                .any(|a| matches!(a, Action::Retire { deployment, .. } if deployment == OLD));
            let s = seen(p);
            expect(
                completed
                    && retired
                    && s.events
                        == [
                            format!("(service web) (deployment {NEW}) deployment completed."),
                            "(service web) has reached a steady state.".to_owned(),
                        ],
                format!("{s:?}"),
            )
        },
    },
    Row {
        rule: "a FAILED deployment stays listed while the rollback is in progress",
        view: || {
            let mut s = service(1, 100, 200);
            s.deployments[1] = deployment(OLD, DeploymentStatus::Active, RolloutState::Failed);
            view(
                s,
                tasks(0..1, NEW)
                    .into_iter()
                    .map(|t| t.target(TargetState::Initial))
                    .collect(),
            )
        },
        check: |p| {
            let retired = p.actions.iter().any(|a| matches!(a, Action::Retire { .. }));
            expect(!retired, format!("{p:#?}"))
        },
    },
    Row {
        rule: "a stopping task's target drains for the deregistration delay, then leaves",
        view: || {
            let mut t = tasks(0..1, NEW);
            t.push(task(9, OLD).draining(ago(0) + Duration::from_secs(3)));
            t.push(task(8, OLD).draining(ago(1)));
            view(service(1, 100, 200), t)
        },
        check: |p| {
            let deregistered: Vec<&str> = p
                .actions
                .iter()
                .filter_map(|a| match a {
                    Action::Deregister { task, .. } => Some(task.as_str()),
                    _ => None,
                })
                .collect();
            expect(
                deregistered == ["ecs-svc/1-t8"]
                    && p.wake_at == Some(now().instant + Duration::from_secs(3)),
                format!("{p:#?}"),
            )
        },
    },
    Row {
        rule: "a task stopped by the scheduler begins draining in the same pass",
        view: || {
            let mut t = tasks(0..2, OLD);
            t.extend(tasks(2..4, NEW));
            view(service(2, 100, 200), t)
        },
        check: |p| {
            let drains = p
                .actions
                .iter()
                .filter(|a| matches!(a, Action::Drain { delay, .. } if *delay == Duration::from_secs(5)))
                .count();
            let s = seen(p);
            expect(
                drains == 2
                    && s.events
                        .iter()
                        .filter(|e| e.contains("has begun draining connections on 1 tasks."))
                        .count()
                        == 2,
                format!("{p:#?}"),
            )
        },
    },
    Row {
        rule: "a crashed task is deregistered at once, without draining",
        view: || {
            let mut crashed = task(0, NEW);
            crashed.desired = DesiredStatus::Stopped;
            crashed.stop_code = Some(StopCode::EssentialContainerExited);
            view(service(1, 100, 200), vec![crashed])
        },
        check: |p| {
            let at_once = p
                .actions
                .iter()
                .any(|a| matches!(a, Action::Drain { delay, .. } if delay.is_zero()));
            let gone = p
                .actions
                .iter()
                .any(|a| matches!(a, Action::Deregister { .. }));
            expect(at_once && gone, format!("{p:#?}"))
        },
    },
    Row {
        rule: "a deleted (DRAINING) service stops every task, and is INACTIVE once none is left",
        view: || {
            let mut s = service(0, 100, 200);
            s.status = ServiceStatus::Draining;
            let mut v = view(s.clone(), tasks(0..2, NEW));
            let empty = view(s, Vec::new());
            v.services.extend(empty.services.into_iter().map(|mut e| {
                e.arn = "empty".into();
                e
            }));
            v
        },
        check: |p| {
            let s = seen(p);
            let inactive = p
                .actions
                .iter()
                .any(|a| matches!(a, Action::Deactivate { service } if service == "empty"));
            let web_inactive = p
                .actions
                .iter()
                .any(|a| matches!(a, Action::Deactivate { service } if service == SERVICE));
            expect(
                s.stopped.len() == 2 && inactive && !web_inactive,
                format!("{p:#?}"),
            )
        },
    },
    Row {
        rule: "stopped tasks are forgotten after the retention",
        view: || {
            let mut old = task(0, NEW).stopped(StopCode::ServiceSchedulerInitiated);
            old.stopped_at = Some(now().wall - Duration::from_secs(3601));
            old.breaker_counted = true;
            let mut recent = task(1, NEW).stopped(StopCode::ServiceSchedulerInitiated);
            recent.breaker_counted = true;
            view(service(1, 100, 200), vec![old, recent, task(2, NEW)])
        },
        check: |p| {
            let forgotten: Vec<&Action> = p
                .actions
                .iter()
                .filter(|a| matches!(a, Action::Forget { .. }))
                .collect();
            expect(
                forgotten
                    == [&Action::Forget {
                        task: "ecs-svc/2-t0".into(),
                    }],
                format!("{p:#?}"),
            )
        },
    },
    Row {
        rule: "only the newest stopped tasks of a service are kept",
        view: || {
            let mut tasks = vec![task(9, NEW)];
            for i in 0..3 {
                let mut t = task(i, NEW).stopped(StopCode::ServiceSchedulerInitiated);
                t.stopped_at = Some(now().wall - Duration::from_secs(30 - i as u64));
                t.breaker_counted = true;
                tasks.push(t);
            }
            let mut v = view(service(1, 100, 200), tasks);
            v.stopped_tasks_per_service = 2;
            v
        },
        check: |p| {
            let forgotten: Vec<&Action> = p
                .actions
                .iter()
                .filter(|a| matches!(a, Action::Forget { .. }))
                .collect();
            expect(
                forgotten
                    == [&Action::Forget {
                        task: "ecs-svc/2-t0".into(),
                    }],
                format!("{p:#?}"),
            )
        },
    },
    Row {
        rule: "shutting down: nothing starts or is replaced; targets leave at once",
        view: || {
            let mut v = view(service(2, 100, 200), tasks(0..1, NEW));
            v.shutting_down = true;
            let mut stopping = task(5, NEW);
            stopping.desired = DesiredStatus::Stopped;
            v.tasks.push(stopping);
            v
        },
        check: |p| {
            let s = seen(p);
            let at_once = p
                .actions
                .iter()
                .any(|a| matches!(a, Action::Drain { delay, .. } if delay.is_zero()));
            expect(
                s.started == 0 && s.stopped.is_empty() && at_once,
                format!("{p:#?}"),
            )
        },
    },
    Row {
        rule: "an alarm that went into ALARM during the deployment fails it and rolls back to the last COMPLETED one",
        view: || alarmed(service(1, 100, 200), AlarmState::Alarm, 10),
        check: |p| {
            let s = seen(p);
            let ok = matches!(trip_of(p), Some((Failure::Alarms(names), Some(to), true))
                if names == &["web-5xx".to_owned()] && to.id == OLD && to.revision_arn == "rev:1");
            expect(
                ok && s.started == 0
                    && has_event(
                        &s,
                        &format!(
                            "(service web) (deployment {NEW}) deployment failed: alarm detected: web-5xx."
                        ),
                    )
                    && has_event(
                        &s,
                        &format!("(service web) rolling back to deployment {OLD}"),
                    )
                    && p.wake_at == Some(now().instant),
                format!("{p:#?}"),
            )
        },
    },
    Row {
        rule: "an alarm already in ALARM when the deployment was created does not fail it",
        view: || alarmed(service(1, 100, 200), AlarmState::Alarm, 1000),
        check: |p| expect(trip_of(p).is_none(), format!("{p:#?}")),
    },
    Row {
        rule: "an alarm in OK or INSUFFICIENT_DATA fails nothing",
        view: || alarmed(service(1, 100, 200), AlarmState::InsufficientData, 10),
        check: |p| expect(trip_of(p).is_none(), format!("{p:#?}")),
    },
    Row {
        rule: "alarms without rollback fail the deployment and start nothing",
        view: || {
            let mut v = alarmed(service(1, 100, 200), AlarmState::Alarm, 10);
            v.services[0].alarms.rollback = false;
            v
        },
        check: |p| {
            let ok = matches!(trip_of(p), Some((Failure::Alarms(_), None, false)));
            expect(ok && seen(p).started == 0, format!("{p:#?}"))
        },
    },
    Row {
        rule: "a rollback is not watched by the alarms",
        view: || {
            let mut v = alarmed(service(1, 100, 200), AlarmState::Alarm, 10);
            if let Some(o) = v.services[0].deployments[0].owner.as_mut() {
                o.rollback_row = true;
                o.status = ServiceDeploymentStatus::RollbackInProgress;
            }
            v
        },
        check: |p| expect(trip_of(p).is_none(), format!("{p:#?}")),
    },
    Row {
        rule: "with alarms, a settled deployment bakes before it completes",
        view: || {
            let mut s = service(2, 100, 200);
            s.alarms.enable = true;
            s.bake = Duration::from_secs(30);
            view(s, tasks(0..2, NEW))
        },
        check: |p| {
            let baking = p
                .actions
                .iter()
                .any(|a| matches!(a, Action::Bake { since: Some(at), .. } if *at == now().instant));
            let completed = p
                .actions
                .iter()
                .any(|a| matches!(a, Action::Complete { .. }));
            expect(
                baking && !completed && p.wake_at == Some(now().instant + Duration::from_secs(30)),
                format!("{p:#?}"),
            )
        },
    },
    Row {
        rule: "with alarms, a deployment settled for its whole bake time completes",
        view: || {
            let mut s = service(2, 100, 200);
            s.alarms.enable = true;
            s.bake = Duration::from_secs(30);
            s.deployments[0].baking_since = Some(ago(30));
            view(s, tasks(0..2, NEW))
        },
        check: |p| {
            let completed = p
                .actions
                .iter()
                .any(|a| matches!(a, Action::Complete { deployment, .. } if deployment == NEW));
            expect(completed, format!("{p:#?}"))
        },
    },
    Row {
        rule: "a bake is interrupted when the deployment is no longer settled",
        view: || {
            let mut s = service(2, 100, 200);
            s.alarms.enable = true;
            s.bake = Duration::from_secs(30);
            s.deployments[0].baking_since = Some(ago(10));
            view(s, tasks(0..1, NEW))
        },
        check: |p| {
            let reset = p
                .actions
                .iter()
                .any(|a| matches!(a, Action::Bake { since: None, .. }));
            expect(reset && seen(p).started == 1, format!("{p:#?}"))
        },
    },
    Row {
        rule: "StopServiceDeployment: a requested rollback fails the deployment and goes to the last COMPLETED one",
        view: || {
            let mut s = service(1, 100, 200);
            s.deployments.insert(
                1,
                deployment("ecs-svc/9", DeploymentStatus::Active, RolloutState::Failed),
            );
            if let Some(o) = s.deployments[0].owner.as_mut() {
                o.status = ServiceDeploymentStatus::RollbackRequested;
            }
            view(s, tasks(0..1, OLD))
        },
        check: |p| {
            let ok = matches!(trip_of(p), Some((Failure::Stopped, Some(to), true)) if to.id == OLD);
            let s = seen(p);
            expect(
                ok && s.started == 0
                    && has_event(
                        &s,
                        &format!(
                            "(service web) (deployment {NEW}) deployment stopped: rollback requested."
                        ),
                    ),
                format!("{p:#?}"),
            )
        },
    },
    Row {
        rule: "the scheduler takes a PENDING service deployment up (and a requested rollback once it is PRIMARY)",
        view: || {
            let mut s = service(1, 100, 200);
            if let Some(o) = s.deployments[0].owner.as_mut() {
                o.status = ServiceDeploymentStatus::Pending;
            }
            let mut rollback = s.clone();
            rollback.arn = "rollback".into();
            if let Some(o) = rollback.deployments[0].owner.as_mut() {
                o.status = ServiceDeploymentStatus::RollbackRequested;
                o.rollback_row = true;
            }
            let mut v = view(s, tasks(0..1, OLD));
            v.services.push(rollback);
            v
        },
        check: |p| {
            let begun: Vec<&str> = p
                .actions
                .iter()
                .filter_map(|a| match a {
                    Action::Begin { service, .. } => Some(service.as_str()),
                    _ => None,
                })
                .collect();
            expect(begun == [SERVICE, "rollback"], format!("{p:#?}"))
        },
    },
    Row {
        rule: "a rollback the breaker trips is not rolled back again",
        view: || {
            let mut v = failures(2, 3);
            if let Some(o) = v.services[0].deployments[0].owner.as_mut() {
                o.rollback_row = true;
                o.status = ServiceDeploymentStatus::RollbackInProgress;
            }
            v
        },
        check: |p| {
            let ok = matches!(trip_of(p), Some((Failure::Breaker, None, false)));
            expect(ok && seen(p).started == 0, format!("{p:#?}"))
        },
    },
];

/// `stopped` tasks of the PRIMARY deployment failed to start, with `desired` wanted.
fn failures(desired: i64, stopped: u16) -> View {
    let t = (0..stopped)
        .map(|n| task(n, NEW).pending().stopped(StopCode::TaskFailedToStart))
        .collect();
    view(service(desired, 100, 200), t)
}

fn tripped(plan: &Plan) -> bool {
    plan.actions
        .iter()
        .any(|a| matches!(a, Action::Trip { .. }))
}

fn counted(plan: &Plan) -> usize {
    plan.actions
        .iter()
        .filter(|a| matches!(a, Action::CountFailure { .. }))
        .count()
}

fn saw(plan: &Plan) -> usize {
    plan.actions
        .iter()
        .filter(|a| matches!(a, Action::BreakerSaw { .. }))
        .count()
}

#[test]
fn the_rules_of_a_rolling_update() {
    let mut failed = Vec::new();
    for row in ROWS {
        let plan = plan(&(row.view)(), now());
        if let Err(why) = (row.check)(&plan) {
            failed.push(format!("{}\n  {why}", row.rule));
        }
    }
    assert!(ROWS.len() >= 20, "{} rows", ROWS.len());
    assert!(
        failed.is_empty(),
        "{} rules broken:\n{}",
        failed.len(),
        failed.join("\n")
    );
}

#[test]
fn the_arithmetic_of_the_bounds() {
    use super::plan::{maximum_total, minimum_healthy};
    for (desired, min, max, lower, upper) in [
        (4, 50, 100, 2, 4),
        (3, 100, 150, 3, 4),
        (2, 75, 200, 2, 4),
        (3, 100, 125, 3, 3),
        (4, 100, 200, 4, 8),
        (0, 100, 200, 0, 0),
    ] {
        assert_eq!(
            minimum_healthy(desired, min),
            lower,
            "desired {desired} at {min}%"
        );
        assert_eq!(
            maximum_total(desired, max),
            upper,
            "desired {desired} at {max}%"
        );
    }
}

#[test]
fn the_breaker_threshold_is_clamped() {
    for (desired, threshold) in [(1, 3), (2, 3), (8, 4), (9, 5), (500, 200), (1000, 200)] {
        assert_eq!(breaker::threshold(desired), threshold, "desired {desired}");
    }
}

#[test]
fn a_plan_is_a_function_of_its_view() {
    for row in ROWS {
        assert_eq!(
            plan(&(row.view)(), now()),
            plan(&(row.view)(), now()),
            "{}",
            row.rule
        );
    }
}
