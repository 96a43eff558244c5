//! Rollouts scripted frame by frame behind `aws-smithy-mocks`: each DescribeServices call
//! serves the next frame of the service (deployments, events, tasks, target health), so the
//! watcher sees a rollout unfold exactly as ECS reports one. The watch polls every few
//! milliseconds here; the real intervals and the call budget are the planner's, tested on a
//! simulated clock in `rollout.rs`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use aws_sdk_ecs::operation::describe_services::{DescribeServicesError, DescribeServicesOutput};
use aws_sdk_ecs::operation::describe_task_definition::DescribeTaskDefinitionOutput;
use aws_sdk_ecs::operation::describe_tasks::DescribeTasksOutput;
use aws_sdk_ecs::operation::list_tasks::ListTasksOutput;
use aws_sdk_ecs::types::error::ClusterNotFoundException;
use aws_sdk_ecs::types::{
    Container, ContainerDefinition, Deployment, DeploymentCircuitBreaker, DeploymentConfiguration,
    DeploymentRolloutState, DesiredStatus, Failure, LoadBalancer, NetworkBinding, Service,
    ServiceEvent, Task, TaskDefinition, TaskStopCode,
};
use aws_sdk_elasticloadbalancingv2::operation::describe_target_group_attributes::DescribeTargetGroupAttributesOutput;
use aws_sdk_elasticloadbalancingv2::operation::describe_target_health::DescribeTargetHealthOutput;
use aws_sdk_elasticloadbalancingv2::types::{
    TargetDescription, TargetGroupAttribute, TargetHealth, TargetHealthDescription,
    TargetHealthStateEnum,
};
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_types::DateTime;
use aws_smithy_types::body::SdkBody;
use deploy_sdk::deploy::{DeployRequest, Deployer};
use deploy_sdk::rollout::{Outcome, RolloutEvent, WatchOptions, watch};
use deploy_sdk::service::{ServiceRef, StartedDeployment};
use deploy_sdk::taskdef::ContainerChanges;
use deploy_sdk::{Clients, Error};
use futures::StreamExt;

const TD1: &str = "arn:aws:ecs:us-east-1:123456789012:task-definition/hello-ecs:1";
const TD2: &str = "arn:aws:ecs:us-east-1:123456789012:task-definition/hello-ecs:2";
const TG: &str =
    "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/hello/0123456789abcdef";
const OURS: &str = "ecs-svc/2222222222222222222";
const OLD: &str = "ecs-svc/1111111111111111111";
const ROLLBACK: &str = "ecs-svc/3333333333333333333";
/// Our deployment's createdAt (ECS's clock).
const T0: i64 = 1_800_000_000;

// ---------- building blocks of a frame ----------

struct Dep {
    id: &'static str,
    status: &'static str,
    td: &'static str,
    counts: (i32, i32, i32, i32), // desired, pending, running, failed
    rollout: Option<(&'static str, &'static str)>,
}

fn dep(
    id: &'static str,
    status: &'static str,
    td: &'static str,
    counts: (i32, i32, i32, i32),
) -> Dep {
    let state = if status == "PRIMARY" {
        "IN_PROGRESS"
    } else {
        "COMPLETED"
    };
    Dep {
        id,
        status,
        td,
        counts,
        rollout: Some((state, "")),
    }
}

impl Dep {
    fn rollout(mut self, state: &'static str, reason: &'static str) -> Dep {
        self.rollout = Some((state, reason));
        self
    }
    fn no_rollout_state(mut self) -> Dep {
        self.rollout = None;
        self
    }
    fn build(&self) -> Deployment {
        let (desired, pending, running, failed) = self.counts;
        let mut d = Deployment::builder()
            .id(self.id)
            .status(self.status)
            .task_definition(self.td)
            .desired_count(desired)
            .pending_count(pending)
            .running_count(running)
            .failed_tasks(failed)
            .created_at(DateTime::from_secs(if self.id == OLD {
                T0 - 3600
            } else {
                T0
            }));
        if let Some((state, reason)) = self.rollout {
            d = d.rollout_state(DeploymentRolloutState::from(state));
            if !reason.is_empty() {
                d = d.rollout_state_reason(reason);
            }
        }
        d.build()
    }
}

/// A target of the target group: (host port, state).
type TargetState = (i32, &'static str);

#[derive(Default)]
struct Frame {
    deployments: Vec<Dep>,
    /// Events recorded in this frame: (seconds after T0, message).
    events: Vec<(i64, String)>,
    targets: Vec<TargetState>,
    /// Tasks that stopped in this frame.
    stopped: Vec<Task>,
    /// How many DescribeServices calls this frame lasts.
    hold: usize,
}

fn frame(deployments: Vec<Dep>) -> Frame {
    Frame {
        deployments,
        hold: 1,
        ..Frame::default()
    }
}

impl Frame {
    fn event(mut self, after: i64, message: &str) -> Frame {
        self.events.push((after, message.to_owned()));
        self
    }
    fn targets(mut self, targets: &[TargetState]) -> Frame {
        self.targets = targets.to_vec();
        self
    }
    fn stopped(mut self, task: Task) -> Frame {
        self.stopped.push(task);
        self
    }
    fn hold(mut self, calls: usize) -> Frame {
        self.hold = calls;
        self
    }
}

/// A running task of `deployment` listening on `port`.
fn task(arn: &str, deployment: &str, td: &str, port: i32) -> Task {
    Task::builder()
        .task_arn(arn)
        .started_by(deployment)
        .task_definition_arn(td)
        .last_status("RUNNING")
        .desired_status("RUNNING")
        .containers(
            Container::builder()
                .name("hello-ecs")
                .network_bindings(
                    NetworkBinding::builder()
                        .bind_ip("0.0.0.0")
                        .host_port(port)
                        .container_port(8080)
                        .build(),
                )
                .build(),
        )
        .build()
}

fn stopped_task(
    arn: &str,
    deployment: &str,
    td: &str,
    code: TaskStopCode,
    reason: &str,
    exit: Option<i32>,
) -> Task {
    let mut container = Container::builder().name("hello-ecs");
    if let Some(exit) = exit {
        container = container.exit_code(exit);
    } else {
        container = container.reason(reason);
    }
    Task::builder()
        .task_arn(arn)
        .started_by(deployment)
        .task_definition_arn(td)
        .last_status("STOPPED")
        .desired_status("STOPPED")
        .stop_code(code)
        .stopped_reason(reason)
        .containers(container.build())
        .build()
}

// ---------- the scripted service ----------

struct Script {
    frames: Vec<Frame>,
    /// Index of the frame last served by DescribeServices.
    current: usize,
    served_in_frame: usize,
    started: bool,
    describe_calls: usize,
    throttle_next: usize,
    circuit_breaker_rollback: bool,
    /// Every task ever seen, by ARN (running ones are listed while their port has a target).
    tasks: Vec<Task>,
}

impl Script {
    fn new(frames: Vec<Frame>) -> Arc<Mutex<Script>> {
        let tasks = vec![
            task("arn:task/old-a", OLD, TD1, 32001),
            task("arn:task/old-b", OLD, TD1, 32002),
            task("arn:task/old-c", OLD, TD1, 32003),
            task("arn:task/old-d", OLD, TD1, 32004),
            task("arn:task/new-a", OURS, TD2, 33001),
            task("arn:task/new-b", OURS, TD2, 33002),
            task("arn:task/new-c", OURS, TD2, 33003),
            task("arn:task/new-d", OURS, TD2, 33004),
        ];
        Arc::new(Mutex::new(Script {
            frames,
            current: 0,
            served_in_frame: 0,
            started: false,
            describe_calls: 0,
            throttle_next: 0,
            circuit_breaker_rollback: false,
            tasks,
        }))
    }

    /// The service for the next DescribeServices call.
    fn describe(&mut self) -> Service {
        if self.started {
            self.served_in_frame += 1;
            if self.served_in_frame >= self.frames[self.current].hold
                && self.current + 1 < self.frames.len()
            {
                self.current += 1;
                self.served_in_frame = 0;
            }
        }
        self.started = true;
        self.describe_calls += 1;
        let frame = &self.frames[self.current];
        let deployments: Vec<Deployment> = frame.deployments.iter().map(Dep::build).collect();
        let primary_td = frame
            .deployments
            .iter()
            .find(|d| d.status == "PRIMARY")
            .map_or(TD1, |d| d.td);
        // Events accumulate: every frame's events up to now, newest first. One event from
        // before our deployment must never be reported.
        let mut events: Vec<ServiceEvent> = vec![service_event(
            "before",
            T0 - 600,
            "(service hello-ecs) has reached a steady state.",
        )];
        for (i, f) in self.frames[..=self.current].iter().enumerate() {
            for (j, (after, message)) in f.events.iter().enumerate() {
                events.push(service_event(&format!("ev-{i}-{j}"), T0 + after, message));
            }
        }
        events.reverse();
        Service::builder()
            .service_name("hello-ecs")
            .service_arn("arn:aws:ecs:us-east-1:123456789012:service/dev-cluster/hello-ecs")
            .status("ACTIVE")
            .task_definition(primary_td)
            .set_deployments(Some(deployments))
            .set_events(Some(events))
            .load_balancers(
                LoadBalancer::builder()
                    .target_group_arn(TG)
                    .container_name("hello-ecs")
                    .container_port(8080)
                    .build(),
            )
            .deployment_configuration(
                DeploymentConfiguration::builder()
                    .minimum_healthy_percent(100)
                    .maximum_percent(200)
                    .deployment_circuit_breaker(
                        DeploymentCircuitBreaker::builder()
                            .enable(true)
                            .rollback(self.circuit_breaker_rollback)
                            .build(),
                    )
                    .build(),
            )
            .build()
    }

    fn stopped_so_far(&self) -> Vec<Task> {
        self.frames[..=self.current]
            .iter()
            .flat_map(|f| f.stopped.iter().cloned())
            .collect()
    }

    fn list_tasks(&self, status: Option<&DesiredStatus>) -> Vec<String> {
        match status {
            Some(DesiredStatus::Stopped) => self
                .stopped_so_far()
                .iter()
                .filter_map(|t| t.task_arn().map(str::to_owned))
                .collect(),
            _ => self
                .tasks
                .iter()
                .filter_map(|t| t.task_arn().map(str::to_owned))
                .collect(),
        }
    }

    fn describe_tasks(&self, arns: &[String]) -> Vec<Task> {
        let stopped = self.stopped_so_far();
        arns.iter()
            .filter_map(|arn| {
                stopped
                    .iter()
                    .chain(&self.tasks)
                    .find(|t| t.task_arn() == Some(arn.as_str()))
                    .cloned()
            })
            .collect()
    }

    fn target_health(&self) -> Vec<TargetHealthDescription> {
        self.frames[self.current]
            .targets
            .iter()
            .map(|(port, state)| {
                TargetHealthDescription::builder()
                    .target(
                        TargetDescription::builder()
                            .id("i-0123456789abcdef0")
                            .port(*port)
                            .build(),
                    )
                    .target_health(
                        TargetHealth::builder()
                            .state(TargetHealthStateEnum::from(*state))
                            .build(),
                    )
                    .build()
            })
            .collect()
    }
}

fn service_event(id: &str, at: i64, message: &str) -> ServiceEvent {
    ServiceEvent::builder()
        .id(id)
        .created_at(DateTime::from_secs(at))
        .message(message)
        .build()
}

fn throttled() -> HttpResponse {
    HttpResponse::new(
        400.try_into().unwrap(),
        SdkBody::from(r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#),
    )
}

/// Clients whose ECS and ELBv2 calls are answered from the script, with the SDK's real
/// adaptive retries.
fn clients(script: &Arc<Mutex<Script>>) -> Clients {
    // Throttled answers come from their own rule: computed rules cannot serve SDK retries.
    let throttles = script.lock().unwrap().throttle_next;
    let throttle = (throttles > 0).then(|| {
        mock!(aws_sdk_ecs::Client::describe_services)
            .sequence()
            .http_response(throttled)
            .times(throttles)
            .build()
    });
    let s = script.clone();
    let describe_services =
        mock!(aws_sdk_ecs::Client::describe_services).then_compute_output(move |_| {
            DescribeServicesOutput::builder()
                .services(s.lock().unwrap().describe())
                .build()
        });
    let s = script.clone();
    let list_tasks = mock!(aws_sdk_ecs::Client::list_tasks).then_compute_output(move |req| {
        ListTasksOutput::builder()
            .set_task_arns(Some(s.lock().unwrap().list_tasks(req.desired_status())))
            .build()
    });
    let s = script.clone();
    let describe_tasks =
        mock!(aws_sdk_ecs::Client::describe_tasks).then_compute_output(move |req| {
            DescribeTasksOutput::builder()
                .set_tasks(Some(s.lock().unwrap().describe_tasks(req.tasks())))
                .build()
        });
    let describe_task_definition = mock!(aws_sdk_ecs::Client::describe_task_definition)
        .then_compute_output(|req| {
            DescribeTaskDefinitionOutput::builder()
                .task_definition(
                    TaskDefinition::builder()
                        .task_definition_arn(req.task_definition().unwrap_or(TD1))
                        .family("hello-ecs")
                        .container_definitions(
                            ContainerDefinition::builder()
                                .name("hello-ecs")
                                .image("repo:1")
                                .build(),
                        )
                        .build(),
                )
                .build()
        });
    let s = script.clone();
    let target_health = mock!(aws_sdk_elasticloadbalancingv2::Client::describe_target_health)
        .then_compute_output(move |_| {
            DescribeTargetHealthOutput::builder()
                .set_target_health_descriptions(Some(s.lock().unwrap().target_health()))
                .build()
        });
    let attributes =
        mock!(aws_sdk_elasticloadbalancingv2::Client::describe_target_group_attributes)
            .then_output(|| {
                DescribeTargetGroupAttributesOutput::builder()
                    .attributes(
                        TargetGroupAttribute::builder()
                            .key("deregistration_delay.timeout_seconds")
                            .value("5")
                            .build(),
                    )
                    .build()
            });
    let retries = |c: aws_sdk_ecs::config::Builder| {
        c.retry_config(
            // Standard mode: adaptive mode's client-side rate limiter, fed throttles a few
            // milliseconds apart, would stall the scripted clock for a minute.
            aws_sdk_ecs::config::retry::RetryConfig::standard()
                .with_max_attempts(deploy_sdk::MAX_ATTEMPTS)
                .with_initial_backoff(Duration::from_millis(5)),
        )
        .sleep_impl(aws_smithy_async::rt::sleep::TokioSleep::new())
        // Adaptive retries share a rate limiter per partition across the whole process:
        // one test's throttling must not slow the others down.
        .retry_partition(aws_sdk_ecs::config::retry::RetryPartition::new(format!(
            "test-{}",
            PARTITIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        )))
    };
    let ecs_rules: Vec<&aws_smithy_mocks::Rule> = throttle
        .iter()
        .chain([
            &describe_services,
            &list_tasks,
            &describe_tasks,
            &describe_task_definition,
        ])
        .collect();
    Clients {
        ecs: mock_client!(aws_sdk_ecs, RuleMode::MatchAny, ecs_rules, retries),
        ecr: mock_client!(
            aws_sdk_ecr,
            RuleMode::MatchAny,
            Vec::<&aws_smithy_mocks::Rule>::new()
        ),
        elb: mock_client!(
            aws_sdk_elasticloadbalancingv2,
            RuleMode::MatchAny,
            [&target_health, &attributes]
        ),
    }
}

static PARTITIONS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Poll every few milliseconds so a scripted rollout takes a moment.
fn fast() -> WatchOptions {
    WatchOptions {
        timeout: Duration::from_secs(30),
        min_interval: Duration::from_millis(2),
        max_interval: Duration::from_millis(10),
        rollback_grace: Duration::from_millis(300),
        steady_window: Duration::from_millis(20),
        // The real budget is the planner's, tested on a simulated clock; here it must not
        // slow a scripted rollout down.
        max_describes_per_minute: 100_000,
        ..WatchOptions::default()
    }
}

fn started(rollback: bool) -> StartedDeployment {
    StartedDeployment {
        service: ServiceRef::new("dev-cluster", "hello-ecs"),
        deployment_id: OURS.into(),
        task_definition: TD2.into(),
        previous_task_definition: Some(TD1.into()),
        created_at: SystemTime::UNIX_EPOCH + Duration::from_secs(T0 as u64),
        is_new: true,
        ecs_rolls_back: rollback,
        alarm_names: Vec::new(),
        service_deployment_arn: None,
        stop_rollback: false,
    }
}

struct Watched {
    events: Vec<RolloutEvent>,
    outcome: Outcome,
    describe_calls: usize,
}

impl Watched {
    fn messages(&self) -> Vec<&str> {
        self.events
            .iter()
            .filter_map(|e| match e {
                RolloutEvent::ServiceEvent { message, .. } => Some(message.as_str()),
                _ => None,
            })
            .collect()
    }
    fn tables(&self) -> Vec<String> {
        self.events
            .iter()
            .filter_map(|e| match e {
                RolloutEvent::Deployments(t) => Some(
                    t.iter()
                        .map(|d| format!("{}:{}/{}", &d.id[8..9], d.running, d.desired))
                        .collect::<Vec<_>>()
                        .join(" "),
                ),
                _ => None,
            })
            .collect()
    }
}

async fn run(
    script: &Arc<Mutex<Script>>,
    started: StartedDeployment,
    options: WatchOptions,
) -> Watched {
    let throttled = script.lock().unwrap().throttle_next;
    let clients = clients(script);
    let stream = watch(clients, started, options);
    let events: Vec<RolloutEvent> = stream.map(|e| e.expect("watch error")).collect().await;
    let outcome = match events.last() {
        Some(RolloutEvent::Outcome(o)) => o.clone(),
        other => panic!("the stream did not end with an outcome: {other:?}"),
    };
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, RolloutEvent::Outcome(_)))
            .count(),
        1,
        "one outcome"
    );
    let Some(RolloutEvent::Stats(stats)) = events.iter().rev().nth(1) else {
        panic!("no stats before the outcome: {events:?}");
    };
    // Every attempt counts, answered or throttled (the SDK's retries too).
    let answered = script.lock().unwrap().describe_calls;
    assert_eq!(
        stats.describe_services_calls as usize,
        answered + throttled,
        "{stats:?}"
    );
    let describe_calls = script.lock().unwrap().describe_calls;
    Watched {
        events,
        outcome,
        describe_calls,
    }
}

// ---------- the scenarios ----------

#[tokio::test]
async fn success_at_100_200() {
    let script = Script::new(vec![
        frame(vec![
            dep(OURS, "PRIMARY", TD2, (2, 2, 0, 0)),
            dep(OLD, "ACTIVE", TD1, (2, 0, 2, 0)),
        ])
        .event(
            1,
            "(service hello-ecs) has started 2 tasks: (task new-a) (task new-b).",
        )
        .targets(&[(32001, "healthy"), (32002, "healthy")]),
        frame(vec![
            dep(OURS, "PRIMARY", TD2, (2, 0, 2, 0)),
            dep(OLD, "ACTIVE", TD1, (2, 0, 2, 0)),
        ])
        .event(
            3,
            "(service hello-ecs) registered 2 targets in (target-group hello)",
        )
        .targets(&[
            (32001, "healthy"),
            (32002, "healthy"),
            (33001, "initial"),
            (33002, "initial"),
        ]),
        frame(vec![
            dep(OURS, "PRIMARY", TD2, (2, 0, 2, 0)),
            dep(OLD, "ACTIVE", TD1, (2, 0, 2, 0)),
        ])
        .targets(&[
            (32001, "healthy"),
            (32002, "healthy"),
            (33001, "healthy"),
            (33002, "healthy"),
        ])
        .hold(3),
        frame(vec![
            dep(OURS, "PRIMARY", TD2, (2, 0, 2, 0)),
            dep(OLD, "ACTIVE", TD1, (0, 0, 2, 0)),
        ])
        .event(
            12,
            "(service hello-ecs) has begun draining connections on 2 tasks.",
        )
        .targets(&[
            (32001, "draining"),
            (32002, "draining"),
            (33001, "healthy"),
            (33002, "healthy"),
        ])
        .hold(4),
        frame(vec![dep(OURS, "PRIMARY", TD2, (2, 0, 2, 0)).rollout(
            "COMPLETED",
            "ECS deployment ecs-svc/2222222222222222222 completed.",
        )])
        .event(
            18,
            "(service hello-ecs) has stopped 2 running tasks: (task old-a) (task old-b).",
        )
        .event(19, "(service hello-ecs) has reached a steady state.")
        .targets(&[(33001, "healthy"), (33002, "healthy")]),
    ]);
    let watched = run(&script, started(false), fast()).await;
    assert!(
        matches!(&watched.outcome, Outcome::Completed { deployment_id, .. } if deployment_id == OURS),
        "{:?}",
        watched.outcome
    );
    assert_eq!(
        watched.messages(),
        [
            "(service hello-ecs) has started 2 tasks: (task new-a) (task new-b).",
            "(service hello-ecs) registered 2 targets in (target-group hello)",
            "(service hello-ecs) has begun draining connections on 2 tasks.",
            "(service hello-ecs) has stopped 2 running tasks: (task old-a) (task old-b).",
            "(service hello-ecs) has reached a steady state.",
        ],
        "each new event once, oldest first; none from before the deployment"
    );
    assert_eq!(
        watched.tables(),
        ["2:0/2 1:2/2", "2:2/2 1:2/2", "2:2/2 1:2/0", "2:2/2"]
    );
    let healthy_ours = watched.events.iter().any(
        |e| matches!(e, RolloutEvent::TargetHealth(groups) if groups[0].of(OURS).healthy == 2),
    );
    assert!(
        healthy_ours,
        "target health per deployment reached the stream"
    );
    let draining_old = watched.events.iter().any(
        |e| matches!(e, RolloutEvent::TargetHealth(groups) if groups[0].of(OLD).draining == 2),
    );
    assert!(draining_old);
    assert!(
        !watched
            .events
            .iter()
            .any(|e| matches!(e, RolloutEvent::TaskStopped(_)))
    );
}

#[tokio::test]
async fn success_at_50_100() {
    let script = Script::new(vec![
        frame(vec![
            dep(OURS, "PRIMARY", TD2, (4, 0, 0, 0)),
            dep(OLD, "ACTIVE", TD1, (4, 0, 4, 0)),
        ]),
        frame(vec![
            dep(OURS, "PRIMARY", TD2, (4, 2, 0, 0)),
            dep(OLD, "ACTIVE", TD1, (2, 0, 2, 0)),
        ])
        .event(
            2,
            "(service hello-ecs) has stopped 2 running tasks: (task old-c) (task old-d).",
        ),
        frame(vec![
            dep(OURS, "PRIMARY", TD2, (4, 0, 2, 0)),
            dep(OLD, "ACTIVE", TD1, (2, 0, 2, 0)),
        ])
        .hold(2),
        frame(vec![
            dep(OURS, "PRIMARY", TD2, (4, 2, 2, 0)),
            dep(OLD, "ACTIVE", TD1, (0, 0, 0, 0)),
        ]),
        frame(vec![
            dep(OURS, "PRIMARY", TD2, (4, 0, 4, 0)),
            dep(OLD, "ACTIVE", TD1, (0, 0, 0, 0)),
        ])
        .hold(2),
        frame(vec![
            dep(OURS, "PRIMARY", TD2, (4, 0, 4, 0)).rollout("COMPLETED", "done"),
        ]),
    ]);
    let watched = run(&script, started(false), fast()).await;
    assert!(watched.outcome.is_success(), "{:?}", watched.outcome);
    assert_eq!(
        watched.tables(),
        [
            "2:0/4 1:4/4",
            "2:0/4 1:2/2",
            "2:2/4 1:2/2",
            "2:2/4 1:0/0",
            "2:4/4 1:0/0",
            "2:4/4"
        ]
    );
}

#[tokio::test]
async fn circuit_breaker_failure_without_rollback_is_a_failure_with_reasons() {
    let pull = "CannotPullContainerError: pull image manifest has been retried 5 time(s): repo:missing not found";
    let script = Script::new(vec![
        frame(vec![dep(OURS, "PRIMARY", TD2, (2, 2, 0, 0)), dep(OLD, "ACTIVE", TD1, (2, 0, 2, 0))]),
        frame(vec![dep(OURS, "PRIMARY", TD2, (2, 2, 0, 1)), dep(OLD, "ACTIVE", TD1, (2, 0, 2, 0))])
            .stopped(stopped_task("arn:task/f1", OURS, TD2, TaskStopCode::TaskFailedToStart, pull, None)),
        frame(vec![dep(OURS, "PRIMARY", TD2, (2, 2, 0, 2)), dep(OLD, "ACTIVE", TD1, (2, 0, 2, 0))])
            .stopped(stopped_task("arn:task/f2", OURS, TD2, TaskStopCode::TaskFailedToStart, pull, None))
            .stopped(stopped_task("arn:task/o1", OLD, TD1, TaskStopCode::ServiceSchedulerInitiated, "Scaling activity initiated by (deployment ecs-svc/1111111111111111111)", Some(0))),
        frame(vec![
            dep(OURS, "PRIMARY", TD2, (2, 0, 0, 3)).rollout("FAILED", "ECS deployment circuit breaker: tasks failed to start."),
            dep(OLD, "ACTIVE", TD1, (2, 0, 2, 0)),
        ])
        .event(30, "(service hello-ecs) (deployment ecs-svc/2222222222222222222) deployment failed: tasks failed to start.")
        .stopped(stopped_task("arn:task/f3", OURS, TD2, TaskStopCode::TaskFailedToStart, pull, None)),
    ]);
    let watched = run(&script, started(false), fast()).await;
    let Outcome::Failed {
        reason,
        stopped_tasks,
        ..
    } = &watched.outcome
    else {
        panic!("expected Failed, got {:?}", watched.outcome);
    };
    assert_eq!(
        reason,
        "ECS deployment circuit breaker: tasks failed to start."
    );
    assert_eq!(
        stopped_tasks.len(),
        3,
        "ours only, each once: {stopped_tasks:?}"
    );
    assert!(
        stopped_tasks
            .iter()
            .all(|t| t.stopped_reason.starts_with("CannotPullContainerError"))
    );
    let stopped_events = watched
        .events
        .iter()
        .filter(|e| matches!(e, RolloutEvent::TaskStopped(_)))
        .count();
    assert_eq!(stopped_events, 3);
    let message = watched
        .outcome
        .clone()
        .into_result()
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("circuit breaker") && message.contains("CannotPullContainerError"),
        "{message}"
    );
}

#[tokio::test]
async fn a_circuit_breaker_rollback_is_never_a_success() {
    let script = Script::new(vec![
        frame(vec![
            dep(OURS, "PRIMARY", TD2, (2, 2, 0, 0)),
            dep(OLD, "ACTIVE", TD1, (2, 0, 2, 0)),
        ]),
        frame(vec![
            dep(OURS, "PRIMARY", TD2, (2, 2, 0, 3)),
            dep(OLD, "ACTIVE", TD1, (2, 0, 2, 0)),
        ]),
        // FAILED while still PRIMARY: the rollback deployment has not appeared yet.
        frame(vec![
            dep(OURS, "PRIMARY", TD2, (2, 0, 0, 3)).rollout(
                "FAILED",
                "ECS deployment circuit breaker: tasks failed to start.",
            ),
            dep(OLD, "ACTIVE", TD1, (2, 0, 2, 0)),
        ])
        .hold(2),
        frame(vec![
            dep(ROLLBACK, "PRIMARY", TD1, (2, 0, 2, 0)),
            dep(OURS, "ACTIVE", TD2, (0, 0, 0, 3)).rollout(
                "FAILED",
                "ECS deployment circuit breaker: tasks failed to start.",
            ),
        ])
        .event(
            40,
            "(service hello-ecs) rolling back to deployment ecs-svc/1111111111111111111.",
        ),
        frame(vec![
            dep(ROLLBACK, "PRIMARY", TD1, (2, 0, 2, 0)).rollout("COMPLETED", "completed"),
        ])
        .event(50, "(service hello-ecs) has reached a steady state."),
    ]);
    script.lock().unwrap().circuit_breaker_rollback = true;
    let watched = run(&script, started(true), fast()).await;
    let Outcome::RolledBack { to, by, reason, .. } = &watched.outcome else {
        panic!("expected RolledBack, got {:?}", watched.outcome);
    };
    assert_eq!((to.as_str(), by.as_deref()), (TD1, Some(ROLLBACK)));
    assert!(reason.contains("circuit breaker"), "{reason}");
    let err = watched.outcome.clone().into_result().unwrap_err();
    assert!(matches!(err, Error::RolledBack { .. }), "{err}");
}

#[tokio::test]
async fn a_stable_service_back_on_the_old_revision_is_rolled_back_not_completed() {
    // All the watcher ever sees: one deployment, running == desired, COMPLETED — the state
    // `aws ecs wait services-stable` calls success.
    let script = Script::new(vec![frame(vec![
        dep(ROLLBACK, "PRIMARY", TD1, (2, 0, 2, 0)).rollout("COMPLETED", "completed"),
    ])]);
    let watched = run(&script, started(true), fast()).await;
    assert!(
        matches!(&watched.outcome, Outcome::RolledBack { to, .. } if to == TD1),
        "{:?}",
        watched.outcome
    );
}

#[tokio::test]
async fn a_stuck_deployment_times_out_saying_where_it_stood() {
    let script = Script::new(vec![frame(vec![dep(OURS, "PRIMARY", TD2, (3, 0, 0, 0)), dep(OLD, "ACTIVE", TD1, (3, 0, 3, 0))])
        .event(1, "(service hello-ecs) was unable to stop or start tasks during a deployment because of the service deployment configuration. Update the minimumHealthyPercent or maximumPercent value and try again.")
        .hold(usize::MAX)]);
    let options = WatchOptions {
        timeout: Duration::from_millis(500),
        ..fast()
    };
    let watched = run(&script, started(false), options).await;
    let Outcome::TimedOut { waited, last, .. } = &watched.outcome else {
        panic!("expected TimedOut, got {:?}", watched.outcome);
    };
    assert!(*waited >= Duration::from_millis(500), "{waited:?}");
    assert_eq!(last.len(), 2);
    let message = watched
        .outcome
        .clone()
        .into_result()
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("timed out after 0s")
            && message.contains("hello-ecs:2 desired=3 pending=0 running=0"),
        "{message}"
    );
    assert!(watched.messages()[0].contains("unable to stop or start tasks"));
    assert!(watched.describe_calls > 3, "it kept polling");
}

#[tokio::test]
async fn throttling_is_retried_and_polled_through() {
    let script = Script::new(vec![
        frame(vec![
            dep(OURS, "PRIMARY", TD2, (1, 0, 1, 0)),
            dep(OLD, "ACTIVE", TD1, (1, 0, 1, 0)),
        ]),
        frame(vec![
            dep(OURS, "PRIMARY", TD2, (1, 0, 1, 0)).rollout("COMPLETED", "done"),
        ]),
    ]);
    // As many throttled answers as the SDK's own attempts: the call fails, and the watch must
    // report it and go on.
    script.lock().unwrap().throttle_next = deploy_sdk::MAX_ATTEMPTS as usize;
    let watched = run(&script, started(false), fast()).await;
    assert!(watched.outcome.is_success(), "{:?}", watched.outcome);
    let retrying: Vec<_> = watched
        .events
        .iter()
        .filter_map(|e| match e {
            RolloutEvent::Retrying { error } => Some(error.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(retrying.len(), 1, "{retrying:?}");
    assert!(retrying[0].contains("ThrottlingException"), "{retrying:?}");
}

#[tokio::test]
async fn without_rollout_state_ours_alone_at_full_strength_is_done() {
    let script = Script::new(vec![
        frame(vec![
            dep(OURS, "PRIMARY", TD2, (2, 0, 2, 0)).no_rollout_state(),
            dep(OLD, "ACTIVE", TD1, (0, 0, 2, 0)).no_rollout_state(),
        ])
        .hold(3),
        frame(vec![
            dep(OURS, "PRIMARY", TD2, (2, 0, 2, 0)).no_rollout_state(),
        ]),
    ]);
    let watched = run(&script, started(false), fast()).await;
    assert!(watched.outcome.is_success(), "{:?}", watched.outcome);
    assert_eq!(
        watched.describe_calls, 4,
        "not done while the old deployment still runs tasks"
    );
}

// ---------- errors before the rollout ----------

fn failing_clients(describe: aws_smithy_mocks::Rule) -> Clients {
    Clients {
        ecs: mock_client!(aws_sdk_ecs, RuleMode::MatchAny, [&describe]),
        ecr: mock_client!(
            aws_sdk_ecr,
            RuleMode::MatchAny,
            Vec::<&aws_smithy_mocks::Rule>::new()
        ),
        elb: mock_client!(
            aws_sdk_elasticloadbalancingv2,
            RuleMode::MatchAny,
            Vec::<&aws_smithy_mocks::Rule>::new()
        ),
    }
}

fn request() -> DeployRequest {
    DeployRequest::new(
        ServiceRef::new("dev-cluster", "hello-ecs"),
        ContainerChanges::default().image("hello-ecs", "repo:2"),
    )
}

#[tokio::test]
async fn a_missing_service_is_named() {
    let rule = mock!(aws_sdk_ecs::Client::describe_services).then_output(|| {
        DescribeServicesOutput::builder()
            .failures(
                Failure::builder()
                    .arn("arn:aws:ecs:us-east-1:123456789012:service/dev-cluster/hello-ecs")
                    .reason("MISSING")
                    .build(),
            )
            .build()
    });
    let err = Deployer::new(failing_clients(rule))
        .prepare(&request())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::ServiceNotFound { cluster, service } if cluster == "dev-cluster" && service == "hello-ecs"),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("aws ecs list-services --cluster dev-cluster"),
        "{err}"
    );
}

#[tokio::test]
async fn a_missing_cluster_is_named() {
    let rule = mock!(aws_sdk_ecs::Client::describe_services).then_error(|| {
        DescribeServicesError::ClusterNotFoundException(
            ClusterNotFoundException::builder()
                .message("Cluster not found.")
                .build(),
        )
    });
    let err = Deployer::new(failing_clients(rule))
        .prepare(&request())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::ClusterNotFound { cluster } if cluster == "dev-cluster"),
        "{err:?}"
    );
}

#[tokio::test]
async fn access_denied_names_the_action() {
    let rule = mock!(aws_sdk_ecs::Client::describe_services).then_http_response(|| {
        HttpResponse::new(
            400.try_into().unwrap(),
            SdkBody::from(r#"{"__type":"AccessDeniedException","message":"User: arn:aws:iam::1:user/ci is not authorized to perform: ecs:DescribeServices"}"#),
        )
    });
    let err = Deployer::new(failing_clients(rule))
        .prepare(&request())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::AccessDenied { action, .. } if action == "ecs:DescribeServices"),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("grant ecs:DescribeServices"),
        "{err}"
    );
}
