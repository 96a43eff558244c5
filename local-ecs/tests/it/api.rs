//! The APIs as the AWS SDKs see them: typed errors, faithful round trips, AWS-shaped ids,
//! and listener rules evaluated by a real listener.

use crate::common::*;
use aws_sdk_ecs::types::{
    ContainerDefinition, EphemeralStorage, HealthCheck, KeyValuePair, LogConfiguration, LogDriver,
    PortMapping, ProxyConfiguration, RuntimePlatform, Secret, Tag,
    TaskDefinitionPlacementConstraint, Volume,
};
use aws_sdk_elasticloadbalancingv2::types::{
    Action, ActionTypeEnum, FixedResponseActionConfig, PathPatternConditionConfig, ProtocolEnum,
    RuleCondition, TargetGroupAttribute,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ecs_errors_are_typed() {
    let mut env = Env::start().await;
    let err = env
        .ecs
        .describe_services()
        .cluster("nope")
        .services("x")
        .send()
        .await
        .unwrap_err();
    assert!(
        err.as_service_error()
            .unwrap()
            .is_cluster_not_found_exception(),
        "{err:?}"
    );

    env.ecs
        .create_cluster()
        .cluster_name("c")
        .send()
        .await
        .unwrap();
    let err = env
        .ecs
        .update_service()
        .cluster("c")
        .service("missing")
        .desired_count(1)
        .send()
        .await
        .unwrap_err();
    assert!(
        err.as_service_error()
            .unwrap()
            .is_service_not_found_exception(),
        "{err:?}"
    );

    let missing = env
        .ecs
        .describe_services()
        .cluster("c")
        .services("missing")
        .send()
        .await
        .unwrap();
    assert!(missing.services().is_empty());
    assert_eq!(missing.failures()[0].reason(), Some("MISSING"));
    assert_eq!(
        missing.failures()[0].arn(),
        Some("arn:aws:ecs:us-east-1:000000000000:service/c/missing")
    );

    let err = env
        .ecs
        .describe_task_definition()
        .task_definition("nope:1")
        .send()
        .await
        .unwrap_err();
    assert!(
        err.as_service_error().unwrap().is_client_exception(),
        "{err:?}"
    );

    let image = format!("{}/hello:v1", env.registry());
    let td = register(&env, "errors", &image, &[], None).await;
    let err = env
        .ecs
        .create_service()
        .cluster("c")
        .service_name("bad-bounds")
        .task_definition(&td)
        .desired_count(1)
        .deployment_configuration(
            aws_sdk_ecs::types::DeploymentConfiguration::builder()
                .maximum_percent(50)
                .build(),
        )
        .send()
        .await
        .unwrap_err();
    assert!(
        err.as_service_error()
            .unwrap()
            .is_invalid_parameter_exception(),
        "{err:?}"
    );
    assert!(format!("{:?}", err.as_service_error().unwrap()).contains("maximumPercent"));

    let err = env
        .ecs
        .create_service()
        .cluster("c")
        .service_name("no-such-tg")
        .task_definition(&td)
        .desired_count(1)
        .load_balancers(
            aws_sdk_ecs::types::LoadBalancer::builder()
                .target_group_arn("arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/none/0000000000000000")
                .container_name("web")
                .container_port(8080)
                .build(),
        )
        .send()
        .await
        .unwrap_err();
    assert!(
        err.as_service_error()
            .unwrap()
            .is_invalid_parameter_exception(),
        "{err:?}"
    );

    // A draining service is not active; a missing one is not found.
    env.ecs
        .create_service()
        .cluster("c")
        .service_name("gone")
        .task_definition(&td)
        .desired_count(0)
        .send()
        .await
        .unwrap();
    let err = env
        .ecs
        .create_service()
        .cluster("c")
        .service_name("gone")
        .task_definition(&td)
        .send()
        .await
        .unwrap_err();
    assert!(
        err.as_service_error()
            .unwrap()
            .is_invalid_parameter_exception(),
        "not idempotent: {err:?}"
    );
    let deleted = env
        .ecs
        .delete_service()
        .cluster("c")
        .service("gone")
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.service().unwrap().status(), Some("DRAINING"));
    let err = env
        .ecs
        .update_service()
        .cluster("c")
        .service("gone")
        .desired_count(1)
        .send()
        .await
        .unwrap_err();
    assert!(
        err.as_service_error()
            .unwrap()
            .is_service_not_active_exception(),
        "{err:?}"
    );
    wait_for("the deleted service to become INACTIVE", || async {
        (describe(&env, "c", "gone").await.status() == Some("INACTIVE")).then_some(())
    })
    .await;

    // Same task definition, no force: no new deployment (only the count changes).
    env.ecs
        .create_service()
        .cluster("c")
        .service_name("steady")
        .task_definition(&td)
        .desired_count(0)
        .send()
        .await
        .unwrap();
    let before = primary_id(&describe(&env, "c", "steady").await);
    let after = env
        .ecs
        .update_service()
        .cluster("c")
        .service("steady")
        .task_definition(&td)
        .desired_count(0)
        .send()
        .await
        .unwrap();
    assert_eq!(after.service().unwrap().deployments().len(), 1);
    assert_eq!(primary_id(after.service().unwrap()), before);
    let forced = env
        .ecs
        .update_service()
        .cluster("c")
        .service("steady")
        .force_new_deployment(true)
        .send()
        .await
        .unwrap();
    assert_ne!(primary_id(forced.service().unwrap()), before);
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn task_definitions_round_trip_every_field() {
    let mut env = Env::start().await;
    let container = ContainerDefinition::builder()
        .name("app")
        .image("127.0.0.1:1/app@sha256:0000000000000000000000000000000000000000000000000000000000000000")
        .cpu(128)
        .memory_reservation(256)
        .essential(true)
        .entry_point("/usr/local/bin/app")
        .command("serve")
        .working_directory("/srv")
        .port_mappings(PortMapping::builder().container_port(8080).name("http").build())
        .environment(KeyValuePair::builder().name("A").value("1").build())
        .secrets(Secret::builder().name("TOKEN").value_from("arn:aws:secretsmanager:us-east-1:000000000000:secret:token").build().unwrap())
        .health_check(HealthCheck::builder().command("CMD").command("/usr/local/bin/app").command("healthcheck").interval(10).timeout(3).retries(2).start_period(5).build().unwrap())
        .log_configuration(
            LogConfiguration::builder()
                .log_driver(LogDriver::Awslogs)
                .options("awslogs-group", "/ecs/app")
                .options("awslogs-region", "us-east-1")
                .options("awslogs-stream-prefix", "ecs")
                .build()
                .unwrap(),
        )
        .stop_timeout(20)
        .user("65532:65532")
        .readonly_root_filesystem(true)
        .docker_labels("team", "web")
        .ulimits(aws_sdk_ecs::types::Ulimit::builder().name(aws_sdk_ecs::types::UlimitName::Nofile).soft_limit(1024).hard_limit(4096).build().unwrap())
        .build();
    let registered = env
        .ecs
        .register_task_definition()
        .family("roundtrip")
        .task_role_arn("arn:aws:iam::000000000000:role/task")
        .execution_role_arn("arn:aws:iam::000000000000:role/exec")
        .network_mode(aws_sdk_ecs::types::NetworkMode::Awsvpc)
        .requires_compatibilities(aws_sdk_ecs::types::Compatibility::Fargate)
        .cpu("512")
        .memory("1024")
        .container_definitions(container)
        .volumes(Volume::builder().name("scratch").build())
        .placement_constraints(
            TaskDefinitionPlacementConstraint::builder()
                .r#type(aws_sdk_ecs::types::TaskDefinitionPlacementConstraintType::MemberOf)
                .expression("attribute:ecs.os-type == linux")
                .build(),
        )
        .runtime_platform(
            RuntimePlatform::builder()
                .cpu_architecture(aws_sdk_ecs::types::CpuArchitecture::X8664)
                .operating_system_family(aws_sdk_ecs::types::OsFamily::Linux)
                .build(),
        )
        .proxy_configuration(
            ProxyConfiguration::builder()
                .container_name("app")
                .properties(
                    KeyValuePair::builder()
                        .name("AppPorts")
                        .value("8080")
                        .build(),
                )
                .build()
                .unwrap(),
        )
        .ephemeral_storage(EphemeralStorage::builder().size_in_gib(30).build())
        .tags(Tag::builder().key("team").value("web").build())
        .send()
        .await
        .expect("RegisterTaskDefinition");
    assert_eq!(registered.tags().len(), 1);
    let second = env
        .ecs
        .register_task_definition()
        .family("roundtrip")
        .container_definitions(ContainerDefinition::builder().name("x").image("i").build())
        .send()
        .await
        .unwrap();
    assert_eq!(second.task_definition().unwrap().revision(), 2);

    let read = env
        .ecs
        .describe_task_definition()
        .task_definition("roundtrip:1")
        .include(aws_sdk_ecs::types::TaskDefinitionField::Tags)
        .send()
        .await
        .expect("DescribeTaskDefinition");
    let td = read.task_definition().unwrap();
    assert_eq!(
        td.task_definition_arn(),
        Some("arn:aws:ecs:us-east-1:000000000000:task-definition/roundtrip:1")
    );
    assert_eq!(td.revision(), 1);
    assert_eq!(
        td.status(),
        Some(&aws_sdk_ecs::types::TaskDefinitionStatus::Active)
    );
    assert!(td.registered_at().is_some());
    assert_eq!(td.registered_by(), Some("arn:aws:iam::000000000000:root"));
    assert!(
        td.compatibilities()
            .contains(&aws_sdk_ecs::types::Compatibility::Fargate)
    );
    assert!(
        td.requires_attributes()
            .iter()
            .any(|a| a.name() == "ecs.capability.task-eni")
    );
    assert_eq!(
        td.task_role_arn(),
        Some("arn:aws:iam::000000000000:role/task")
    );
    assert_eq!(
        td.execution_role_arn(),
        Some("arn:aws:iam::000000000000:role/exec")
    );
    assert_eq!((td.cpu(), td.memory()), (Some("512"), Some("1024")));
    assert_eq!(td.volumes()[0].name(), Some("scratch"));
    assert_eq!(td.placement_constraints().len(), 1);
    assert_eq!(
        td.runtime_platform().unwrap().cpu_architecture(),
        Some(&aws_sdk_ecs::types::CpuArchitecture::X8664)
    );
    assert_eq!(td.proxy_configuration().unwrap().container_name(), "app");
    assert_eq!(td.ephemeral_storage().unwrap().size_in_gib(), 30);
    assert_eq!(read.tags()[0].key(), Some("team"));
    let c = &td.container_definitions()[0];
    assert_eq!(
        c.secrets()[0].value_from(),
        "arn:aws:secretsmanager:us-east-1:000000000000:secret:token"
    );
    assert_eq!(
        c.health_check().unwrap().command(),
        ["CMD", "/usr/local/bin/app", "healthcheck"]
    );
    assert_eq!(c.health_check().unwrap().start_period(), Some(5));
    assert_eq!(
        c.log_configuration().unwrap().options().unwrap()["awslogs-group"],
        "/ecs/app"
    );
    assert_eq!(
        c.port_mappings()[0].host_port(),
        Some(8080),
        "awsvpc: hostPort = containerPort"
    );
    assert_eq!(
        c.port_mappings()[0].protocol(),
        Some(&aws_sdk_ecs::types::TransportProtocol::Tcp)
    );
    assert_eq!(c.port_mappings()[0].name(), Some("http"));
    assert_eq!(c.entry_point(), ["/usr/local/bin/app"]);
    assert_eq!(c.command(), ["serve"]);
    assert_eq!(c.stop_timeout(), Some(20));
    assert_eq!(c.user(), Some("65532:65532"));
    assert_eq!(c.readonly_root_filesystem(), Some(true));
    assert_eq!(c.docker_labels().unwrap()["team"], "web");
    assert_eq!(c.ulimits()[0].hard_limit(), 4096);
    assert_eq!(c.memory_reservation(), Some(256));

    // Family alone means the latest ACTIVE revision; deregistering makes it INACTIVE.
    let latest = env
        .ecs
        .describe_task_definition()
        .task_definition("roundtrip")
        .send()
        .await
        .unwrap();
    assert_eq!(latest.task_definition().unwrap().revision(), 2);
    let gone = env
        .ecs
        .deregister_task_definition()
        .task_definition("roundtrip:2")
        .send()
        .await
        .unwrap();
    assert_eq!(
        gone.task_definition().unwrap().status(),
        Some(&aws_sdk_ecs::types::TaskDefinitionStatus::Inactive)
    );
    let listed = env
        .ecs
        .list_task_definitions()
        .family_prefix("roundtrip")
        .send()
        .await
        .unwrap();
    assert_eq!(
        listed.task_definition_arns(),
        ["arn:aws:ecs:us-east-1:000000000000:task-definition/roundtrip:1"]
    );
    let err = env
        .ecs
        .register_task_definition()
        .family("bad family!")
        .container_definitions(ContainerDefinition::builder().name("x").image("i").build())
        .send()
        .await
        .unwrap_err();
    assert!(
        err.as_service_error().unwrap().is_client_exception(),
        "{err:?}"
    );
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_region_comes_from_the_credential_scope() {
    let mut env = Env::start().await;
    let config = sdk_config(&env.endpoint, "eu-west-1", &env.credentials).await;
    let ecs = aws_sdk_ecs::Client::new(&config);
    let cluster = ecs
        .create_cluster()
        .cluster_name("eu")
        .send()
        .await
        .unwrap();
    assert_eq!(
        cluster.cluster().unwrap().cluster_arn(),
        Some("arn:aws:ecs:eu-west-1:000000000000:cluster/eu")
    );
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_without_authorization_get_an_aws_auth_error() {
    let mut env = Env::start().await;
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", env.port))
        .await
        .unwrap();
    let body = "{}";
    let request = format!(
        "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Amz-Target: AmazonEC2ContainerServiceV20141113.ListClusters\r\nContent-Type: application/x-amz-json-1.1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).await.unwrap();
    assert!(raw.starts_with("HTTP/1.1 403"), "{raw}");
    assert!(
        raw.contains("\"__type\":\"MissingAuthenticationTokenException\""),
        "{raw}"
    );
    assert!(
        raw.to_ascii_lowercase()
            .contains("x-amzn-errortype: missingauthenticationtokenexception"),
        "{raw}"
    );
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ecr_errors_and_login() {
    let mut env = Env::start().await;
    let created = env
        .ecr
        .create_repository()
        .repository_name("team/app")
        .send()
        .await
        .unwrap();
    let repo = created.repository().unwrap();
    assert_eq!(
        repo.repository_uri(),
        Some(format!("{}/team/app", env.registry()).as_str())
    );
    assert_eq!(
        repo.repository_arn(),
        Some("arn:aws:ecr:us-east-1:000000000000:repository/team/app")
    );
    assert_eq!(repo.registry_id(), Some("000000000000"));
    let err = env
        .ecr
        .create_repository()
        .repository_name("team/app")
        .send()
        .await
        .unwrap_err();
    assert!(
        err.as_service_error()
            .unwrap()
            .is_repository_already_exists_exception(),
        "{err:?}"
    );
    let err = env
        .ecr
        .describe_repositories()
        .repository_names("nope")
        .send()
        .await
        .unwrap_err();
    assert!(
        err.as_service_error()
            .unwrap()
            .is_repository_not_found_exception(),
        "{err:?}"
    );
    let err = env
        .ecr
        .create_repository()
        .repository_name("Bad Name")
        .send()
        .await
        .unwrap_err();
    assert!(
        err.as_service_error()
            .unwrap()
            .is_invalid_parameter_exception(),
        "{err:?}"
    );
    let err = env
        .ecr
        .describe_images()
        .repository_name("team/app")
        .image_ids(
            aws_sdk_ecr::types::ImageIdentifier::builder()
                .image_tag("v9")
                .build(),
        )
        .send()
        .await
        .unwrap_err();
    assert!(
        err.as_service_error()
            .unwrap()
            .is_image_not_found_exception(),
        "{err:?}"
    );

    let token = env.ecr.get_authorization_token().send().await.unwrap();
    let data = &token.authorization_data()[0];
    assert_eq!(data.proxy_endpoint(), Some(env.endpoint.as_str()));
    use base64::Engine;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(data.authorization_token().unwrap())
        .unwrap();
    let decoded = String::from_utf8(decoded).unwrap();
    let (user, password) = decoded.split_once(':').unwrap();
    assert_eq!(user, "AWS");
    assert!(password.len() >= 32);
    let expires = data.expires_at().unwrap().secs();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!((expires - now - 12 * 3600).abs() < 60, "valid for 12 hours");
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn elb_errors_are_typed() {
    let mut env = Env::start().await;
    let missing_tg =
        "arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/none/0000000000000000";
    let err = env
        .elb
        .describe_target_groups()
        .target_group_arns(missing_tg)
        .send()
        .await
        .unwrap_err();
    assert!(
        err.as_service_error()
            .unwrap()
            .is_target_group_not_found_exception(),
        "{err:?}"
    );
    let err = env
        .elb
        .describe_target_health()
        .target_group_arn(missing_tg)
        .send()
        .await
        .unwrap_err();
    assert!(
        err.as_service_error()
            .unwrap()
            .is_target_group_not_found_exception(),
        "{err:?}"
    );
    let err = env
        .elb
        .describe_load_balancers()
        .load_balancer_arns("arn:aws:elasticloadbalancing:us-east-1:000000000000:loadbalancer/app/none/0000000000000000")
        .send()
        .await
        .unwrap_err();
    assert!(
        err.as_service_error()
            .unwrap()
            .is_load_balancer_not_found_exception(),
        "{err:?}"
    );
    let err = env
        .elb
        .describe_listeners()
        .listener_arns("arn:aws:elasticloadbalancing:us-east-1:000000000000:listener/app/none/0000000000000000/0000000000000000")
        .send()
        .await
        .unwrap_err();
    assert!(
        err.as_service_error()
            .unwrap()
            .is_listener_not_found_exception(),
        "{err:?}"
    );

    let stack = stack(&env, "elb", 0).await;
    let err = env
        .elb
        .create_target_group()
        .name("elb-tg")
        .protocol(ProtocolEnum::Http)
        .port(9090)
        .vpc_id("vpc-local")
        .send()
        .await
        .unwrap_err();
    assert!(
        err.as_service_error()
            .unwrap()
            .is_duplicate_target_group_name_exception(),
        "{err:?}"
    );
    let err = env
        .elb
        .create_load_balancer()
        .name("elb-alb")
        .subnets("subnet-other")
        .send()
        .await
        .unwrap_err();
    assert!(
        err.as_service_error()
            .unwrap()
            .is_duplicate_load_balancer_name_exception(),
        "{err:?}"
    );
    let err = env
        .elb
        .modify_target_group_attributes()
        .target_group_arn(&stack.target_group_arn)
        .attributes(
            TargetGroupAttribute::builder()
                .key("no.such.attribute")
                .value("1")
                .build(),
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err.as_service_error().unwrap().meta().code(),
        Some("ValidationError"),
        "{err:?}"
    );

    let attributes = env
        .elb
        .describe_target_group_attributes()
        .target_group_arn(&stack.target_group_arn)
        .send()
        .await
        .unwrap();
    let delay = attributes
        .attributes()
        .iter()
        .find(|a| a.key() == Some("deregistration_delay.timeout_seconds"))
        .unwrap();
    assert_eq!(delay.value(), Some("0"));
    let groups = env
        .elb
        .describe_target_groups()
        .target_group_arns(&stack.target_group_arn)
        .send()
        .await
        .unwrap();
    let tg = &groups.target_groups()[0];
    assert_eq!(
        tg.load_balancer_arns(),
        std::slice::from_ref(&stack.load_balancer_arn)
    );
    assert_eq!(tg.health_check_interval_seconds(), Some(1));
    assert_eq!(tg.matcher().unwrap().http_code(), Some("200"));
    let lbs = env
        .elb
        .describe_load_balancers()
        .names("elb-alb")
        .send()
        .await
        .unwrap();
    assert_eq!(lbs.load_balancers()[0].dns_name(), Some("127.0.0.1"));
    assert!(lbs.load_balancers()[0].created_time().is_some());
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listener_rules_route_before_the_default_action() {
    let mut env = Env::start().await;
    let stack = stack(&env, "rules", 0).await;
    let fixed = |status: &str, body: &str| {
        Action::builder()
            .r#type(ActionTypeEnum::FixedResponse)
            .fixed_response_config(
                FixedResponseActionConfig::builder()
                    .status_code(status)
                    .content_type("text/plain")
                    .message_body(body)
                    .build(),
            )
            .build()
    };
    let listener_arn = env
        .elb
        .describe_listeners()
        .load_balancer_arn(&stack.load_balancer_arn)
        .send()
        .await
        .unwrap()
        .listeners()[0]
        .listener_arn()
        .unwrap()
        .to_owned();
    let rule = env
        .elb
        .create_rule()
        .listener_arn(&listener_arn)
        .priority(10)
        .conditions(
            RuleCondition::builder()
                .field("path-pattern")
                .path_pattern_config(
                    PathPatternConditionConfig::builder()
                        .values("/hello/*")
                        .build(),
                )
                .build(),
        )
        .actions(fixed("200", "from the rule"))
        .send()
        .await
        .expect("CreateRule");
    assert_eq!(rule.rules()[0].priority(), Some("10"));
    let err = env
        .elb
        .create_rule()
        .listener_arn(&listener_arn)
        .priority(10)
        .conditions(
            RuleCondition::builder()
                .field("path-pattern")
                .values("/x")
                .build(),
        )
        .actions(fixed("200", "dup"))
        .send()
        .await
        .unwrap_err();
    assert!(
        err.as_service_error()
            .unwrap()
            .is_priority_in_use_exception(),
        "{err:?}"
    );
    let rules = env
        .elb
        .describe_rules()
        .listener_arn(&listener_arn)
        .send()
        .await
        .unwrap();
    assert_eq!(rules.rules().len(), 2);
    assert_eq!(rules.rules()[1].priority(), Some("default"));
    assert_eq!(rules.rules()[1].is_default(), Some(true));
    assert_eq!(
        rules.rules()[0].conditions()[0]
            .path_pattern_config()
            .unwrap()
            .values(),
        ["/hello/*"]
    );

    // The rule answers /hello/*; the default action forwards to a target group with no
    // targets: 503, as an ALB answers.
    let answer = http_get(stack.listener_port, "/hello/rule").await.unwrap();
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (200, "from the rule")
    );
    let answer = http_get(stack.listener_port, "/other").await.unwrap();
    assert_eq!(answer.status, 503);
    env.stop().await;
}
