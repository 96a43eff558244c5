//! The harness of the scenario tests: rollouts scripted frame by frame behind `aws-smithy-mocks`: each DescribeServices call
//! serves the next frame of the service (deployments, events, tasks, target health), so the
//! watcher sees a rollout unfold exactly as ECS reports one. The watch polls every few
//! milliseconds here; the real intervals and the call budget are the planner's, tested on a
//! simulated clock in `rollout.rs`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use aws_sdk_ecs::operation::continue_service_deployment::ContinueServiceDeploymentOutput;
use aws_sdk_ecs::operation::describe_service_deployments::DescribeServiceDeploymentsOutput;
use aws_sdk_ecs::operation::describe_service_revisions::DescribeServiceRevisionsOutput;
use aws_sdk_ecs::operation::describe_services::{DescribeServicesError, DescribeServicesOutput};
use aws_sdk_ecs::operation::describe_task_definition::DescribeTaskDefinitionOutput;
use aws_sdk_ecs::operation::describe_tasks::DescribeTasksOutput;
use aws_sdk_ecs::operation::list_service_deployments::ListServiceDeploymentsOutput;
use aws_sdk_ecs::operation::list_tasks::ListTasksOutput;
use aws_sdk_ecs::operation::stop_service_deployment::StopServiceDeploymentOutput;
use aws_sdk_ecs::operation::update_service::UpdateServiceOutput;
use aws_sdk_ecs::types::error::ClusterNotFoundException;
use aws_sdk_ecs::types::{
    AdvancedConfiguration, DeploymentLifecycleHook, DeploymentLifecycleHookAction,
    DeploymentLifecycleHookDetail, DeploymentLifecycleHookStage, DeploymentLifecycleHookStatus,
    DeploymentLifecycleHookTargetType, DeploymentLifecycleHookTimeoutConfiguration,
    DeploymentStrategy, ServiceDeploymentLifecycleStage,
};
use aws_sdk_ecs::types::{
    Container, ContainerDefinition, Deployment, DeploymentCircuitBreaker, DeploymentConfiguration,
    DeploymentRolloutState, DesiredStatus, Failure, LoadBalancer, NetworkBinding, Service,
    ServiceEvent, Task, TaskDefinition, TaskStopCode,
};
use aws_sdk_ecs::types::{
    DeploymentAlarms, Rollback, ServiceDeployment, ServiceDeploymentAlarms, ServiceDeploymentBrief,
    ServiceDeploymentCircuitBreaker, ServiceDeploymentStatus, ServiceRevision,
    ServiceRevisionSummary,
};
use aws_sdk_elasticloadbalancingv2::operation::describe_rules::DescribeRulesOutput;
use aws_sdk_elasticloadbalancingv2::operation::describe_target_group_attributes::DescribeTargetGroupAttributesOutput;
use aws_sdk_elasticloadbalancingv2::operation::describe_target_health::DescribeTargetHealthError;
use aws_sdk_elasticloadbalancingv2::operation::describe_target_health::DescribeTargetHealthOutput;
use aws_sdk_elasticloadbalancingv2::types::error::TargetGroupNotFoundException;
use aws_sdk_elasticloadbalancingv2::types::{
    Action, ActionTypeEnum, ForwardActionConfig, Rule, TargetGroupTuple,
};
use aws_sdk_elasticloadbalancingv2::types::{
    TargetDescription, TargetGroupAttribute, TargetHealth, TargetHealthDescription,
    TargetHealthStateEnum,
};
use aws_smithy_mocks::{MockResponse, RuleMode, mock, mock_client};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_types::DateTime;
use aws_smithy_types::body::SdkBody;
use deploy_sdk::deploy::{DeployRequest, Deployer};
use deploy_sdk::rollout::{Outcome, RolloutEvent, WatchOptions, watch};
use deploy_sdk::service::{ServiceRef, StartedDeployment};
use deploy_sdk::taskdef::ContainerChanges;
use deploy_sdk::{Clients, Error};
use futures::StreamExt;

pub const TD1: &str = "arn:aws:ecs:us-east-1:123456789012:task-definition/hello-ecs:1";
pub const TD2: &str = "arn:aws:ecs:us-east-1:123456789012:task-definition/hello-ecs:2";
pub const TG: &str =
    "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/hello/0123456789abcdef";
pub const TG_GREEN: &str = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/hello-ecs-green/2222222222222222";
pub const RULE_PROD: &str =
    "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener-rule/app/hello-lb/1/2/prod";
pub const RULE_TEST: &str =
    "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener-rule/app/hello-lb/1/3/test";
pub const HOOK_ID: &str = "hook-post-test";
pub const OURS: &str = "ecs-svc/2222222222222222222";
pub const OLD: &str = "ecs-svc/1111111111111111111";
pub const ROLLBACK: &str = "ecs-svc/3333333333333333333";
/// Another client's deployment.
pub const OTHER: &str = "ecs-svc/4444444444444444444";
pub const TD3: &str = "arn:aws:ecs:us-east-1:123456789012:task-definition/hello-ecs:3";
/// Our ServiceDeployment, and another client's.
pub const SD_OURS: &str =
    "arn:aws:ecs:us-east-1:123456789012:service-deployment/dev-cluster/hello-ecs/oursOURSours";
pub const SD_OTHER: &str =
    "arn:aws:ecs:us-east-1:123456789012:service-deployment/dev-cluster/hello-ecs/otherOTHERot";
/// Service revisions of TD1, TD2 (ours) and TD3.
pub const REV1: &str =
    "arn:aws:ecs:us-east-1:123456789012:service-revision/dev-cluster/hello-ecs/1";
pub const REV2: &str =
    "arn:aws:ecs:us-east-1:123456789012:service-revision/dev-cluster/hello-ecs/2";
pub const REV3: &str =
    "arn:aws:ecs:us-east-1:123456789012:service-revision/dev-cluster/hello-ecs/3";
/// Our deployment's createdAt (ECS's clock).
pub const T0: i64 = 1_800_000_000;

// ---------- building blocks of a frame ----------

pub struct Dep {
    pub id: &'static str,
    pub status: &'static str,
    pub td: &'static str,
    pub counts: (i32, i32, i32, i32), // desired, pending, running, failed
    pub rollout: Option<(&'static str, &'static str)>,
}

pub fn dep(
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
    pub fn rollout(mut self, state: &'static str, reason: &'static str) -> Dep {
        self.rollout = Some((state, reason));
        self
    }
    pub fn no_rollout_state(mut self) -> Dep {
        self.rollout = None;
        self
    }
    pub fn build(&self) -> Deployment {
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
pub type TargetState = (i32, &'static str);

#[derive(Default)]
pub struct Frame {
    pub deployments: Vec<Dep>,
    /// Events recorded in this frame: (seconds after T0, message).
    pub events: Vec<(i64, String)>,
    pub targets: Vec<TargetState>,
    /// Tasks that stopped in this frame.
    pub stopped: Vec<Task>,
    /// How many DescribeServices calls this frame lasts.
    pub hold: usize,
    /// Our service deployment as DescribeServiceDeployments answers in this frame.
    pub sd: Option<Sd>,
    /// DescribeServiceDeployments already answers as the next frame does: the change landed
    /// between the poll's two reads.
    pub sd_ahead: bool,
    /// The production rule's forward weights from this frame on: (blue, green).
    pub weights: Option<(i32, i32)>,
}

/// Our service deployment in one frame.
#[derive(Clone)]
pub struct Sd {
    pub status: &'static str,
    pub reason: Option<&'static str>,
    /// (reason, service revision) of its rollback.
    pub rollback: Option<(&'static str, &'static str)>,
    pub triggered_alarms: Vec<&'static str>,
    /// (failureCount, threshold).
    pub breaker: Option<(i32, i32)>,
    /// What the service reports as its currentServiceDeployment.
    pub current: &'static str,
    /// `lifecycleStage`.
    pub stage: Option<&'static str>,
    /// The status of its one PAUSE hook (`lifecycleHookDetails`), `HOOK_ID`.
    pub hook: Option<&'static str>,
}

pub fn sd(status: &'static str) -> Sd {
    Sd {
        status,
        reason: None,
        rollback: None,
        triggered_alarms: Vec::new(),
        breaker: None,
        current: SD_OURS,
        stage: None,
        hook: None,
    }
}

impl Sd {
    pub fn reason(mut self, reason: &'static str) -> Sd {
        self.reason = Some(reason);
        self
    }
    pub fn rollback(mut self, reason: &'static str, revision: &'static str) -> Sd {
        self.rollback = Some((reason, revision));
        self
    }
    pub fn alarms(mut self, names: &[&'static str]) -> Sd {
        self.triggered_alarms = names.to_vec();
        self
    }
    pub fn breaker(mut self, failures: i32, threshold: i32) -> Sd {
        self.breaker = Some((failures, threshold));
        self
    }
    pub fn current(mut self, arn: &'static str) -> Sd {
        self.current = arn;
        self
    }
    pub fn stage(mut self, stage: &'static str) -> Sd {
        self.stage = Some(stage);
        self
    }
    pub fn hook(mut self, status: &'static str) -> Sd {
        self.hook = Some(status);
        self
    }
    pub fn build(&self) -> ServiceDeployment {
        let mut d = ServiceDeployment::builder()
            .service_deployment_arn(SD_OURS)
            .status(ServiceDeploymentStatus::from(self.status))
            .target_service_revision(ServiceRevisionSummary::builder().arn(REV2).build());
        if let Some(reason) = self.reason {
            d = d.status_reason(reason);
        }
        if let Some((reason, revision)) = self.rollback {
            d = d.rollback(
                Rollback::builder()
                    .reason(reason)
                    .service_revision_arn(revision)
                    .build(),
            );
        }
        if !self.triggered_alarms.is_empty() {
            d = d.alarms(
                ServiceDeploymentAlarms::builder()
                    .set_triggered_alarm_names(Some(
                        self.triggered_alarms
                            .iter()
                            .map(|a| a.to_string())
                            .collect(),
                    ))
                    .build(),
            );
        }
        if let Some((failures, threshold)) = self.breaker {
            d = d.deployment_circuit_breaker(
                ServiceDeploymentCircuitBreaker::builder()
                    .failure_count(failures)
                    .threshold(threshold)
                    .build(),
            );
        }
        if let Some(stage) = self.stage {
            d = d.lifecycle_stage(ServiceDeploymentLifecycleStage::from(stage));
        }
        if let Some(status) = self.hook {
            d = d.lifecycle_hook_details(
                DeploymentLifecycleHookDetail::builder()
                    .hook_id(HOOK_ID)
                    .target_type(DeploymentLifecycleHookTargetType::Pause)
                    .status(DeploymentLifecycleHookStatus::from(status))
                    .timeout_action(DeploymentLifecycleHookAction::Rollback)
                    .build(),
            );
        }
        d.build()
    }
}

/// Whether the endpoint serves the ServiceDeployment API.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Api {
    Present,
    /// UnknownOperationException, as an endpoint without the API answers.
    Missing,
    /// AccessDeniedException.
    Denied,
}

pub fn frame(deployments: Vec<Dep>) -> Frame {
    Frame {
        deployments,
        hold: 1,
        ..Frame::default()
    }
}

impl Frame {
    pub fn event(mut self, after: i64, message: &str) -> Frame {
        self.events.push((after, message.to_owned()));
        self
    }
    pub fn targets(mut self, targets: &[TargetState]) -> Frame {
        self.targets = targets.to_vec();
        self
    }
    pub fn stopped(mut self, task: Task) -> Frame {
        self.stopped.push(task);
        self
    }
    pub fn hold(mut self, calls: usize) -> Frame {
        self.hold = calls;
        self
    }
    pub fn sd_ahead(mut self) -> Frame {
        self.sd_ahead = true;
        self
    }
    pub fn weights(mut self, blue: i32, green: i32) -> Frame {
        self.weights = Some((blue, green));
        self
    }
    pub fn sd(mut self, sd: Sd) -> Frame {
        self.sd = Some(sd);
        self
    }
}

/// A running task of `deployment` listening on `port`.
pub fn task(arn: &str, deployment: &str, td: &str, port: i32) -> Task {
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

pub fn stopped_task(
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

pub struct Script {
    pub frames: Vec<Frame>,
    /// Index of the frame last served by DescribeServices.
    pub current: usize,
    pub served_in_frame: usize,
    pub started: bool,
    pub describe_calls: usize,
    pub throttle_next: usize,
    pub circuit_breaker_rollback: bool,
    /// `deploymentConfiguration.alarms {enable, rollback}` with these alarms.
    pub alarm_rollback: Vec<&'static str>,
    /// A Classic Load Balancer: no target groups.
    pub classic: bool,
    pub api: Api,
    /// DescribeServiceDeployments calls answered or failed.
    pub sd_calls: usize,
    /// The DescribeServiceDeployments call (1-based) whose every attempt is throttled.
    pub sd_fail_at: Option<usize>,
    /// The ListTasks call (1-based) whose every attempt is throttled.
    pub list_tasks_calls: usize,
    pub list_tasks_fail_at: Option<usize>,
    /// DescribeTargetHealth answers TargetGroupNotFound.
    pub target_group_gone: bool,
    /// ListServiceDeployments: (service deployment, target revision, status, finished at).
    pub history: Vec<(&'static str, &'static str, &'static str, i64)>,
    /// StopServiceDeployment calls: (ARN, stop type).
    pub stops: Vec<(String, String)>,
    /// UpdateService calls: the task definition asked for.
    pub updates: Vec<String>,
    /// Every task ever seen, by ARN (running ones are listed while their port has a target).
    pub tasks: Vec<Task>,
    /// A BLUE_GREEN service with this bake time (minutes), a PAUSE hook at
    /// POST_TEST_TRAFFIC_SHIFT (10 min, ROLLBACK) and a production and test rule.
    pub blue_green: Option<i32>,
    /// DescribeRules calls answered.
    pub rules_calls: usize,
    /// ContinueServiceDeployment calls: (ARN, hook id, action).
    pub continues: Vec<(String, String, String)>,
}

impl Script {
    pub fn new(frames: Vec<Frame>) -> Arc<Mutex<Script>> {
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
            alarm_rollback: Vec::new(),
            classic: false,
            api: Api::Missing,
            sd_calls: 0,
            sd_fail_at: None,
            list_tasks_calls: 0,
            list_tasks_fail_at: None,
            target_group_gone: false,
            history: Vec::new(),
            stops: Vec::new(),
            updates: Vec::new(),
            tasks,
            blue_green: None,
            rules_calls: 0,
            continues: Vec::new(),
        }))
    }

    /// The service for the next DescribeServices call.
    pub fn describe(&mut self) -> Service {
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
        let load_balancer = if self.classic {
            LoadBalancer::builder()
                .load_balancer_name("hello-classic")
                .container_name("hello-ecs")
                .container_port(8080)
                .build()
        } else {
            let mut lb = LoadBalancer::builder()
                .target_group_arn(TG)
                .container_name("hello-ecs")
                .container_port(8080);
            if self.blue_green.is_some() {
                lb = lb.advanced_configuration(
                    AdvancedConfiguration::builder()
                        .alternate_target_group_arn(TG_GREEN)
                        .production_listener_rule(RULE_PROD)
                        .test_listener_rule(RULE_TEST)
                        .role_arn("arn:aws:iam::123456789012:role/ecs-infrastructure")
                        .build(),
                );
            }
            lb.build()
        };
        let mut config = DeploymentConfiguration::builder()
            .minimum_healthy_percent(100)
            .maximum_percent(200)
            .deployment_circuit_breaker(
                DeploymentCircuitBreaker::builder()
                    .enable(true)
                    .rollback(self.circuit_breaker_rollback)
                    .build(),
            );
        if !self.alarm_rollback.is_empty() {
            config = config.alarms(
                DeploymentAlarms::builder()
                    .enable(true)
                    .rollback(true)
                    .set_alarm_names(Some(
                        self.alarm_rollback.iter().map(|a| a.to_string()).collect(),
                    ))
                    .build()
                    .expect("alarm names, enable and rollback are set"),
            );
        }
        if let Some(bake) = self.blue_green {
            config = config
                .strategy(DeploymentStrategy::BlueGreen)
                .bake_time_in_minutes(bake)
                .lifecycle_hooks(
                    DeploymentLifecycleHook::builder()
                        .target_type(DeploymentLifecycleHookTargetType::Pause)
                        .lifecycle_stages(DeploymentLifecycleHookStage::PostTestTrafficShift)
                        .timeout_configuration(
                            DeploymentLifecycleHookTimeoutConfiguration::builder()
                                .timeout_in_minutes(10)
                                .action(DeploymentLifecycleHookAction::Rollback)
                                .build(),
                        )
                        .build(),
                );
        }
        Service::builder()
            .set_current_service_deployment(frame.sd.as_ref().map(|sd| sd.current.to_owned()))
            .service_name("hello-ecs")
            .service_arn("arn:aws:ecs:us-east-1:123456789012:service/dev-cluster/hello-ecs")
            .status("ACTIVE")
            .task_definition(primary_td)
            .set_deployments(Some(deployments))
            .set_events(Some(events))
            .load_balancers(load_balancer)
            .deployment_configuration(config.build())
            .build()
    }

    /// Our service deployment as the frame last served shows it.
    pub fn service_deployment(&mut self) -> Vec<ServiceDeployment> {
        self.sd_calls += 1;
        let mut frame = self.current;
        if self.frames[frame].sd_ahead && frame + 1 < self.frames.len() {
            frame += 1;
        }
        self.frames[frame].sd.iter().map(Sd::build).collect()
    }

    /// DescribeRules: the production rule forwards by the weights of the last frame up to now
    /// that set them (all on blue before), the test rule all to green.
    pub fn rules(&mut self) -> Vec<Rule> {
        self.rules_calls += 1;
        let (blue, green) = self.frames[..=self.current]
            .iter()
            .rev()
            .find_map(|f| f.weights)
            .unwrap_or((1, 0));
        vec![
            weighted_rule(RULE_PROD, blue, green),
            weighted_rule(RULE_TEST, 0, 1),
        ]
    }

    /// ListServiceDeployments: the history, in the order it was given.
    pub fn list_service_deployments(&self) -> Vec<ServiceDeploymentBrief> {
        self.history
            .iter()
            .map(|(arn, revision, status, finished)| {
                ServiceDeploymentBrief::builder()
                    .service_deployment_arn(*arn)
                    .target_service_revision_arn(*revision)
                    .status(ServiceDeploymentStatus::from(*status))
                    .finished_at(DateTime::from_secs(T0 + finished))
                    .build()
            })
            .collect()
    }

    pub fn stopped_so_far(&self) -> Vec<Task> {
        self.frames[..=self.current]
            .iter()
            .flat_map(|f| f.stopped.iter().cloned())
            .collect()
    }

    pub fn list_tasks(&self, status: Option<&DesiredStatus>) -> Vec<String> {
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

    pub fn describe_tasks(&self, arns: &[String]) -> Vec<Task> {
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

    pub fn target_health(&self) -> Vec<TargetHealthDescription> {
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

pub fn service_event(id: &str, at: i64, message: &str) -> ServiceEvent {
    ServiceEvent::builder()
        .id(id)
        .created_at(DateTime::from_secs(at))
        .message(message)
        .build()
}

pub fn throttled() -> HttpResponse {
    HttpResponse::new(
        400.try_into().unwrap(),
        SdkBody::from(r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#),
    )
}

/// An ECS error answer in the awsJson protocol.
pub fn ecs_error(code: &str) -> HttpResponse {
    HttpResponse::new(
        400.try_into().unwrap(),
        SdkBody::from(format!(
            r#"{{"__type":"{code}","message":"{code} from the script"}}"#
        )),
    )
}

/// Clients whose ECS and ELBv2 calls are answered from the script, with the SDK's real
/// retries.
pub fn clients(script: &Arc<Mutex<Script>>) -> Clients {
    let ecs_rules = ecs_rules(script);
    let elb_rules = elb_rules(script);
    let retries = |c: aws_sdk_ecs::config::Builder| {
        c.retry_config(
            // Standard mode: adaptive mode's client-side rate limiter, fed throttles a few
            // milliseconds apart, would stall the scripted clock for a minute.
            aws_sdk_ecs::config::retry::RetryConfig::standard()
                .with_max_attempts(deploy_sdk::MAX_ATTEMPTS)
                .with_initial_backoff(Duration::from_millis(5)),
        )
        .sleep_impl(aws_smithy_async::rt::sleep::TokioSleep::new())
        // Retries share a token bucket per partition across the whole process: one test's
        // throttling must not slow the others down.
        .retry_partition(aws_sdk_ecs::config::retry::RetryPartition::new(format!(
            "test-{}",
            PARTITIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        )))
    };
    Clients {
        ecs: mock_client!(aws_sdk_ecs, RuleMode::MatchAny, ecs_rules.iter(), retries),
        ecr: mock_client!(
            aws_sdk_ecr,
            RuleMode::MatchAny,
            Vec::<&aws_smithy_mocks::Rule>::new()
        ),
        elb: mock_client!(
            aws_sdk_elasticloadbalancingv2,
            RuleMode::MatchAny,
            elb_rules.iter()
        ),
    }
}

fn ecs_rules(script: &Arc<Mutex<Script>>) -> Vec<aws_smithy_mocks::Rule> {
    let mut rules = Vec::new();
    // Throttled answers come from their own rules: computed rules cannot serve SDK retries.
    let throttles = script.lock().unwrap().throttle_next;
    if throttles > 0 {
        rules.push(
            mock!(aws_sdk_ecs::Client::describe_services)
                .sequence()
                .http_response(throttled)
                .times(throttles)
                .build(),
        );
    }
    let s = script.clone();
    rules.push(
        mock!(aws_sdk_ecs::Client::describe_services).then_compute_output(move |_| {
            DescribeServicesOutput::builder()
                .services(s.lock().unwrap().describe())
                .build()
        }),
    );
    let s = script.clone();
    rules.push(
        mock!(aws_sdk_ecs::Client::list_tasks)
            .match_requests(move |_| {
                let mut s = s.lock().unwrap();
                s.list_tasks_calls += 1;
                s.list_tasks_fail_at == Some(s.list_tasks_calls)
            })
            .sequence()
            .http_response(throttled)
            .times(deploy_sdk::MAX_ATTEMPTS as usize)
            .build(),
    );
    let s = script.clone();
    rules.push(
        mock!(aws_sdk_ecs::Client::list_tasks).then_compute_output(move |req| {
            ListTasksOutput::builder()
                .set_task_arns(Some(s.lock().unwrap().list_tasks(req.desired_status())))
                .build()
        }),
    );
    let s = script.clone();
    rules.push(
        mock!(aws_sdk_ecs::Client::describe_tasks).then_compute_output(move |req| {
            DescribeTasksOutput::builder()
                .set_tasks(Some(s.lock().unwrap().describe_tasks(req.tasks())))
                .build()
        }),
    );
    rules.push(
        mock!(aws_sdk_ecs::Client::describe_task_definition).then_compute_output(|req| {
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
        }),
    );
    rules.extend(service_deployment_rules(script));
    let s = script.clone();
    rules.push(
        mock!(aws_sdk_ecs::Client::update_service).then_compute_output(move |req| {
            let mut s = s.lock().unwrap();
            let td = req.task_definition().unwrap_or_default().to_owned();
            s.updates.push(td.clone());
            let service = Service::builder()
                .service_name("hello-ecs")
                .status("ACTIVE")
                .task_definition(&td)
                .deployments(
                    Deployment::builder()
                        .id(ROLLBACK)
                        .status("PRIMARY")
                        .task_definition(td)
                        .rollout_state(DeploymentRolloutState::InProgress)
                        .created_at(DateTime::from_secs(T0 + 100))
                        .build(),
                )
                .build();
            UpdateServiceOutput::builder().service(service).build()
        }),
    );
    rules
}

/// The ServiceDeployment API as the script's `api` says.
fn service_deployment_rules(script: &Arc<Mutex<Script>>) -> Vec<aws_smithy_mocks::Rule> {
    let api = script.lock().unwrap().api;
    if api != Api::Present {
        let code = if api == Api::Denied {
            "AccessDeniedException"
        } else {
            "UnknownOperationException"
        };
        let answer = move || ecs_error(code);
        return vec![
            mock!(aws_sdk_ecs::Client::describe_service_deployments).then_http_response(answer),
            mock!(aws_sdk_ecs::Client::describe_service_revisions).then_http_response(answer),
            mock!(aws_sdk_ecs::Client::list_service_deployments).then_http_response(answer),
            mock!(aws_sdk_ecs::Client::stop_service_deployment).then_http_response(answer),
        ];
    }
    let mut rules = Vec::new();
    let s = script.clone();
    rules.push(
        mock!(aws_sdk_ecs::Client::describe_service_deployments)
            .match_requests(move |_| {
                let mut s = s.lock().unwrap();
                if s.sd_fail_at == Some(s.sd_calls + 1) {
                    s.sd_calls += 1;
                    return true;
                }
                false
            })
            .sequence()
            .http_response(throttled)
            .times(deploy_sdk::MAX_ATTEMPTS as usize)
            .build(),
    );
    let s = script.clone();
    rules.push(
        mock!(aws_sdk_ecs::Client::describe_service_deployments).then_compute_output(move |_| {
            DescribeServiceDeploymentsOutput::builder()
                .set_service_deployments(Some(s.lock().unwrap().service_deployment()))
                .build()
        }),
    );
    rules.push(
        mock!(aws_sdk_ecs::Client::describe_service_revisions).then_compute_output(|req| {
            let revisions = req
                .service_revision_arns()
                .iter()
                .filter_map(|arn| {
                    let td = match arn.as_str() {
                        REV1 => TD1,
                        REV2 => TD2,
                        REV3 => TD3,
                        _ => return None,
                    };
                    Some(
                        ServiceRevision::builder()
                            .service_revision_arn(arn)
                            .task_definition(td)
                            .build(),
                    )
                })
                .collect();
            DescribeServiceRevisionsOutput::builder()
                .set_service_revisions(Some(revisions))
                .build()
        }),
    );
    let s = script.clone();
    rules.push(
        mock!(aws_sdk_ecs::Client::list_service_deployments).then_compute_output(move |_| {
            ListServiceDeploymentsOutput::builder()
                .set_service_deployments(Some(s.lock().unwrap().list_service_deployments()))
                .build()
        }),
    );
    let s = script.clone();
    rules.push(
        mock!(aws_sdk_ecs::Client::stop_service_deployment).then_compute_output(move |req| {
            let arn = req.service_deployment_arn().unwrap_or_default().to_owned();
            let stop_type = req
                .stop_type()
                .map(|t| t.as_str().to_owned())
                .unwrap_or_default();
            s.lock().unwrap().stops.push((arn.clone(), stop_type));
            StopServiceDeploymentOutput::builder()
                .service_deployment_arn(arn)
                .build()
        }),
    );
    let s = script.clone();
    rules.push(
        mock!(aws_sdk_ecs::Client::continue_service_deployment).then_compute_output(move |req| {
            let arn = req.service_deployment_arn().unwrap_or_default().to_owned();
            s.lock().unwrap().continues.push((
                arn.clone(),
                req.hook_id().unwrap_or_default().to_owned(),
                req.action()
                    .map(|a| a.as_str().to_owned())
                    .unwrap_or_default(),
            ));
            ContinueServiceDeploymentOutput::builder()
                .service_deployment_arn(arn)
                .build()
        }),
    );
    rules
}

fn elb_rules(script: &Arc<Mutex<Script>>) -> Vec<aws_smithy_mocks::Rule> {
    let s = script.clone();
    let target_health = mock!(aws_sdk_elasticloadbalancingv2::Client::describe_target_health)
        .then_compute_response(move |_| {
            let s = s.lock().unwrap();
            if s.target_group_gone {
                return MockResponse::Error(
                    DescribeTargetHealthError::TargetGroupNotFoundException(
                        TargetGroupNotFoundException::builder()
                            .message("One or more target groups not found")
                            .build(),
                    ),
                );
            }
            MockResponse::Output(
                DescribeTargetHealthOutput::builder()
                    .set_target_health_descriptions(Some(s.target_health()))
                    .build(),
            )
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
    let s = script.clone();
    let rules = mock!(aws_sdk_elasticloadbalancingv2::Client::describe_rules).then_compute_output(
        move |_| {
            DescribeRulesOutput::builder()
                .set_rules(Some(s.lock().unwrap().rules()))
                .build()
        },
    );
    vec![target_health, attributes, rules]
}

fn weighted_rule(arn: &str, blue: i32, green: i32) -> Rule {
    let group = |tg: &str, weight: i32| {
        TargetGroupTuple::builder()
            .target_group_arn(tg)
            .weight(weight)
            .build()
    };
    Rule::builder()
        .rule_arn(arn)
        .actions(
            Action::builder()
                .r#type(ActionTypeEnum::Forward)
                .forward_config(
                    ForwardActionConfig::builder()
                        .target_groups(group(TG, blue))
                        .target_groups(group(TG_GREEN, green))
                        .build(),
                )
                .build(),
        )
        .build()
}

pub static PARTITIONS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Poll every few milliseconds so a scripted rollout takes a moment.
pub fn fast() -> WatchOptions {
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

pub fn started(rollback: bool) -> StartedDeployment {
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

pub struct Watched {
    pub events: Vec<RolloutEvent>,
    pub outcome: Outcome,
    pub describe_calls: usize,
}

impl Watched {
    pub fn messages(&self) -> Vec<&str> {
        self.events
            .iter()
            .filter_map(|e| match e {
                RolloutEvent::ServiceEvent { message, .. } => Some(message.as_str()),
                _ => None,
            })
            .collect()
    }
    pub fn tables(&self) -> Vec<String> {
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

pub async fn run(
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
