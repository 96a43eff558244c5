//! `ServiceFleet` behind `aws-smithy-mocks`: which targets in service are the deployment's,
//! matched through its tasks (awsvpc addresses, EC2 instance ids and host ports), which are
//! another deployment's, and the deployment table for a service without a target group.

use std::sync::{Arc, Mutex};

use aws_sdk_ecs::operation::describe_container_instances::DescribeContainerInstancesOutput;
use aws_sdk_ecs::operation::describe_services::DescribeServicesOutput;
use aws_sdk_ecs::operation::describe_tasks::DescribeTasksOutput;
use aws_sdk_ecs::operation::list_tasks::ListTasksOutput;
use aws_sdk_ecs::types::{
    Attachment, Container, ContainerInstance, Deployment, KeyValuePair, LoadBalancer,
    NetworkBinding, Service, Task,
};
use aws_sdk_elasticloadbalancingv2::operation::describe_target_health::{
    DescribeTargetHealthError, DescribeTargetHealthOutput,
};
use aws_sdk_elasticloadbalancingv2::types::{
    TargetDescription, TargetHealth, TargetHealthDescription, TargetHealthStateEnum as S,
};
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use aws_smithy_types::error::ErrorMetadata;
use deploy_sdk::service::ServiceRef;
use deploy_sdk::verify::{Fleet, FleetHealth, FleetSource, ServiceFleet};
use deploy_sdk::{Clients, Error};

const TG: &str = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/hello/0123";
const OURS: &str = "ecs-svc/2222222222222222222";
const OLD: &str = "ecs-svc/1111111111111111111";
const INSTANCE_ARN: &str = "arn:aws:ecs:us-east-1:123456789012:container-instance/dev/abc";

fn target(id: &str, port: i32, state: S) -> TargetHealthDescription {
    TargetHealthDescription::builder()
        .target(TargetDescription::builder().id(id).port(port).build())
        .target_health(TargetHealth::builder().state(state).build())
        .build()
}

/// An awsvpc task of `deployment` at `ip`.
fn awsvpc_task(n: u32, deployment: &str, ip: &str) -> Task {
    Task::builder()
        .task_arn(format!("arn:aws:ecs:us-east-1:123456789012:task/dev/{n}"))
        .started_by(deployment)
        .attachments(
            Attachment::builder()
                .r#type("ElasticNetworkInterface")
                .details(
                    KeyValuePair::builder()
                        .name("privateIPv4Address")
                        .value(ip)
                        .build(),
                )
                .build(),
        )
        .build()
}

/// A bridge-mode task of `deployment` on the container instance, on `host_port`.
fn bridge_task(n: u32, deployment: &str, host_port: i32) -> Task {
    Task::builder()
        .task_arn(format!("arn:aws:ecs:us-east-1:123456789012:task/dev/{n}"))
        .started_by(deployment)
        .container_instance_arn(INSTANCE_ARN)
        .containers(
            Container::builder()
                .network_bindings(
                    NetworkBinding::builder()
                        .bind_ip("0.0.0.0")
                        .container_port(8080)
                        .host_port(host_port)
                        .build(),
                )
                .build(),
        )
        .build()
}

fn deployment(id: &str, running: i32) -> Deployment {
    Deployment::builder()
        .id(id)
        .status(if id == OURS { "PRIMARY" } else { "ACTIVE" })
        .running_count(running)
        .build()
}

/// What the mocked AWS holds; the tests change `targets` between readings.
#[derive(Default)]
struct World {
    load_balanced: bool,
    targets: Vec<TargetHealthDescription>,
    tasks: Vec<Task>,
    deployments: Vec<Deployment>,
}

struct Mocked {
    clients: Clients,
    describe_tasks: Rule,
    target_health: Rule,
}

fn mocked(world: &Arc<Mutex<World>>) -> Mocked {
    let w = world.clone();
    let describe_services =
        mock!(aws_sdk_ecs::Client::describe_services).then_compute_output(move |_| {
            let w = w.lock().unwrap();
            let lb = LoadBalancer::builder()
                .target_group_arn(TG)
                .container_name("web")
                .container_port(8080)
                .build();
            let service = Service::builder()
                .service_name("hello-ecs")
                .status("ACTIVE")
                .set_load_balancers(w.load_balanced.then(|| vec![lb]))
                .set_deployments(Some(w.deployments.clone()))
                .build();
            DescribeServicesOutput::builder().services(service).build()
        });
    let w = world.clone();
    let list_tasks = mock!(aws_sdk_ecs::Client::list_tasks).then_compute_output(move |_| {
        let w = w.lock().unwrap();
        let arns = w.tasks.iter().map(|t| t.task_arn().unwrap().to_owned());
        ListTasksOutput::builder()
            .set_task_arns(Some(arns.collect()))
            .build()
    });
    let w = world.clone();
    let describe_tasks =
        mock!(aws_sdk_ecs::Client::describe_tasks).then_compute_output(move |req| {
            let w = w.lock().unwrap();
            let asked = req.tasks();
            let tasks = w
                .tasks
                .iter()
                .filter(|t| asked.iter().any(|a| Some(a.as_str()) == t.task_arn()));
            DescribeTasksOutput::builder()
                .set_tasks(Some(tasks.cloned().collect()))
                .build()
        });
    let instances = mock!(aws_sdk_ecs::Client::describe_container_instances).then_output(|| {
        DescribeContainerInstancesOutput::builder()
            .container_instances(
                ContainerInstance::builder()
                    .container_instance_arn(INSTANCE_ARN)
                    .ec2_instance_id("i-0abc")
                    .build(),
            )
            .build()
    });
    let w = world.clone();
    let target_health = mock!(aws_sdk_elasticloadbalancingv2::Client::describe_target_health)
        .then_compute_output(move |_| {
            DescribeTargetHealthOutput::builder()
                .set_target_health_descriptions(Some(w.lock().unwrap().targets.clone()))
                .build()
        });
    let clients = Clients {
        ecs: mock_client!(
            aws_sdk_ecs,
            RuleMode::MatchAny,
            [&describe_services, &list_tasks, &describe_tasks, &instances]
        ),
        ecr: mock_client!(aws_sdk_ecr, RuleMode::MatchAny, Vec::<&Rule>::new()),
        elb: mock_client!(
            aws_sdk_elasticloadbalancingv2,
            RuleMode::MatchAny,
            [&target_health]
        ),
    };
    Mocked {
        clients,
        describe_tasks,
        target_health,
    }
}

fn service() -> ServiceRef {
    ServiceRef::new("dev", "hello-ecs")
}

fn health(source: FleetSource, in_service: u32, others_in_service: u32) -> FleetHealth {
    FleetHealth {
        source,
        in_service,
        others_in_service,
    }
}

#[tokio::test]
async fn awsvpc_targets_of_another_deployment_count_until_they_drain() {
    let world = Arc::new(Mutex::new(World {
        load_balanced: true,
        targets: vec![
            target("10.0.1.1", 8080, S::Healthy),
            target("10.0.1.2", 8080, S::Healthy),
            target("10.0.1.3", 8080, S::Initial),
            target("10.0.1.9", 8080, S::Healthy), // the straggler
            target("10.0.1.8", 8080, S::Draining),
        ],
        tasks: vec![
            awsvpc_task(1, OURS, "10.0.1.1"),
            awsvpc_task(2, OURS, "10.0.1.2"),
            awsvpc_task(3, OURS, "10.0.1.3"),
            awsvpc_task(9, OLD, "10.0.1.9"),
        ],
        ..World::default()
    }));
    let aws = mocked(&world);
    let mut fleet = ServiceFleet::new(&aws.clients, &service(), OURS)
        .await
        .unwrap();

    let first = fleet.observe().await.unwrap();
    assert_eq!(first, health(FleetSource::TargetHealth, 4, 1));

    // The straggler starts draining; an unhealthy one of ours still gets requests.
    world.lock().unwrap().targets = vec![
        target("10.0.1.1", 8080, S::Healthy),
        target("10.0.1.2", 8080, S::Unhealthy),
        target("10.0.1.3", 8080, S::Healthy),
        target("10.0.1.9", 8080, S::Draining),
    ];
    let second = fleet.observe().await.unwrap();
    assert_eq!(second, health(FleetSource::TargetHealth, 3, 0));
    assert_eq!(aws.target_health.num_calls(), 2);
    assert_eq!(
        aws.describe_tasks.num_calls(),
        1,
        "known tasks are not described again"
    );

    // A target no task explains is not taken for ours.
    world
        .lock()
        .unwrap()
        .targets
        .push(target("10.0.1.50", 8080, S::Healthy));
    assert_eq!(
        fleet.observe().await.unwrap(),
        health(FleetSource::TargetHealth, 4, 1)
    );
}

#[tokio::test]
async fn instance_targets_match_by_instance_id_and_host_port() {
    let world = Arc::new(Mutex::new(World {
        load_balanced: true,
        targets: vec![
            target("i-0abc", 32768, S::Healthy),
            target("i-0abc", 32770, S::Healthy),
            target("i-0abc", 32769, S::Healthy), // the old task, same instance
        ],
        tasks: vec![
            bridge_task(1, OURS, 32768),
            bridge_task(2, OURS, 32770),
            bridge_task(3, OLD, 32769),
        ],
        ..World::default()
    }));
    let aws = mocked(&world);
    let mut fleet = ServiceFleet::new(&aws.clients, &service(), OURS)
        .await
        .unwrap();

    assert_eq!(
        fleet.observe().await.unwrap(),
        health(FleetSource::TargetHealth, 3, 1)
    );
    world.lock().unwrap().targets.pop();
    assert_eq!(
        fleet.observe().await.unwrap(),
        health(FleetSource::TargetHealth, 2, 0)
    );
}

#[tokio::test]
async fn without_a_target_group_the_deployment_table_is_read() {
    let world = Arc::new(Mutex::new(World {
        load_balanced: false,
        deployments: vec![deployment(OURS, 3), deployment(OLD, 1)],
        ..World::default()
    }));
    let aws = mocked(&world);
    let mut fleet = ServiceFleet::new(&aws.clients, &service(), OURS)
        .await
        .unwrap();

    assert_eq!(
        fleet.observe().await.unwrap(),
        health(FleetSource::Deployments, 4, 1)
    );
    world.lock().unwrap().deployments = vec![deployment(OURS, 4)];
    assert_eq!(
        fleet.observe().await.unwrap(),
        health(FleetSource::Deployments, 4, 0)
    );
    assert_eq!(aws.target_health.num_calls(), 0);
}

#[tokio::test]
async fn denied_target_health_is_an_error_that_names_the_action() {
    let world = Arc::new(Mutex::new(World {
        load_balanced: true,
        ..World::default()
    }));
    let mut aws = mocked(&world);
    let denied =
        mock!(aws_sdk_elasticloadbalancingv2::Client::describe_target_health).then_error(|| {
            DescribeTargetHealthError::generic(
                ErrorMetadata::builder()
                    .code("AccessDenied")
                    .message("not authorized")
                    .build(),
            )
        });
    aws.clients.elb = mock_client!(
        aws_sdk_elasticloadbalancingv2,
        RuleMode::MatchAny,
        [&denied]
    );
    let mut fleet = ServiceFleet::new(&aws.clients, &service(), OURS)
        .await
        .unwrap();

    let err = fleet.observe().await.unwrap_err();

    assert!(
        matches!(&err, Error::AccessDenied { action, .. } if action == "elasticloadbalancing:DescribeTargetHealth"),
        "{err:?}"
    );
}
