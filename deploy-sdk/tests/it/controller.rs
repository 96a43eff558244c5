//! A service rolled by CodeDeploy or by an EXTERNAL controller is refused by
//! `Deployer::prepare` before anything is described further or registered: no orphan revision,
//! no failing UpdateService.

use aws_sdk_ecs::operation::describe_services::DescribeServicesOutput;
use aws_sdk_ecs::operation::describe_task_definition::DescribeTaskDefinitionOutput;
use aws_sdk_ecs::operation::register_task_definition::RegisterTaskDefinitionOutput;
use aws_sdk_ecs::operation::update_service::UpdateServiceOutput;
use aws_sdk_ecs::types::{
    ContainerDefinition, DeploymentController, DeploymentControllerType, Service, TaskDefinition,
};
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use deploy_sdk::deploy::{DeployRequest, Deployer};
use deploy_sdk::service::ServiceRef;
use deploy_sdk::taskdef::ContainerChanges;
use deploy_sdk::{Clients, Error};

const TD: &str = "arn:aws:ecs:us-east-1:123456789012:task-definition/hello-ecs:1";

fn service(controller: Option<DeploymentControllerType>) -> Service {
    let external = controller == Some(DeploymentControllerType::External);
    Service::builder()
        .service_name("hello-ecs")
        .status("ACTIVE")
        // An EXTERNAL service has no task definition: its task sets do.
        .set_task_definition((!external).then(|| TD.to_owned()))
        .set_deployment_controller(
            controller.map(|t| DeploymentController::builder().r#type(t).build().unwrap()),
        )
        .build()
}

/// Prepares a deploy of a new image on a service with `controller`; returns the result and
/// how many DescribeTaskDefinition, RegisterTaskDefinition and UpdateService calls were made.
async fn prepare(
    controller: Option<DeploymentControllerType>,
) -> (deploy_sdk::Result<()>, [usize; 3]) {
    let described = service(controller);
    let describe_services = mock!(aws_sdk_ecs::Client::describe_services).then_output(move || {
        DescribeServicesOutput::builder()
            .services(described.clone())
            .build()
    });
    let describe_td = mock!(aws_sdk_ecs::Client::describe_task_definition).then_output(|| {
        DescribeTaskDefinitionOutput::builder()
            .task_definition(
                TaskDefinition::builder()
                    .task_definition_arn(TD)
                    .family("hello-ecs")
                    .container_definitions(
                        ContainerDefinition::builder()
                            .name("hello-ecs")
                            .image("repo:old")
                            .build(),
                    )
                    .build(),
            )
            .build()
    });
    let register = mock!(aws_sdk_ecs::Client::register_task_definition).then_output(|| {
        RegisterTaskDefinitionOutput::builder()
            .task_definition(
                TaskDefinition::builder()
                    .task_definition_arn(format!("{TD}0"))
                    .build(),
            )
            .build()
    });
    let update = mock!(aws_sdk_ecs::Client::update_service)
        .then_output(|| UpdateServiceOutput::builder().build());
    let no_rules = Vec::<&aws_smithy_mocks::Rule>::new;
    let clients = Clients {
        ecs: mock_client!(
            aws_sdk_ecs,
            RuleMode::MatchAny,
            [&describe_services, &describe_td, &register, &update]
        ),
        ecr: mock_client!(aws_sdk_ecr, RuleMode::MatchAny, no_rules()),
        elb: mock_client!(
            aws_sdk_elasticloadbalancingv2,
            RuleMode::MatchAny,
            no_rules()
        ),
    };
    let request = DeployRequest::new(
        ServiceRef::new("dev-cluster", "hello-ecs"),
        ContainerChanges::default().image("hello-ecs", "repo@sha256:new"),
    );
    let deployer = Deployer::new(clients);
    let result = match deployer.prepare(&request).await {
        // What a caller does next: start registers and updates.
        Ok(prepared) => deployer.start(&prepared, &request).await.map(|_| ()),
        Err(err) => Err(err),
    };
    assert_eq!(describe_services.num_calls(), 1);
    (
        result,
        [
            describe_td.num_calls(),
            register.num_calls(),
            update.num_calls(),
        ],
    )
}

#[tokio::test]
async fn a_codedeploy_service_is_refused_before_anything_is_registered() {
    let (result, calls) = prepare(Some(DeploymentControllerType::CodeDeploy)).await;

    let err = result.unwrap_err();
    assert!(
        matches!(&err, Error::UnsupportedDeploymentController { controller, .. } if controller == "CODE_DEPLOY"),
        "{err:?}"
    );
    assert!(err.to_string().contains("CodeDeploy deployment"), "{err}");
    assert_eq!(calls, [0, 0, 0], "describe td, register, update");
}

#[tokio::test]
async fn an_external_service_is_refused_with_task_sets_named() {
    let (result, calls) = prepare(Some(DeploymentControllerType::External)).await;

    let err = result.unwrap_err();
    // Not "service has no task definition": the controller is checked first.
    assert!(
        matches!(&err, Error::UnsupportedDeploymentController { controller, .. } if controller == "EXTERNAL"),
        "{err:?}"
    );
    assert!(err.to_string().contains("CreateTaskSet"), "{err}");
    assert_eq!(calls, [0, 0, 0]);
}

#[tokio::test]
async fn the_ecs_controller_and_none_go_on_to_register() {
    for controller in [None, Some(DeploymentControllerType::Ecs)] {
        let (result, calls) = prepare(controller.clone()).await;
        // The mocked UpdateService answers with no service, which is an incomplete answer;
        // what matters is that the deploy got that far.
        let err = result.unwrap_err();
        assert!(
            !matches!(err, Error::UnsupportedDeploymentController { .. }),
            "{controller:?}: {err:?}"
        );
        assert_eq!(calls, [1, 1, 1], "{controller:?}");
    }
}
