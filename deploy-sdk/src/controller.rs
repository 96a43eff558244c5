//! Which deployment controller rolls a service, checked before anything is registered: this
//! crate drives ECS rolling updates (`UpdateService`), which a CodeDeploy or an EXTERNAL
//! service refuses — after a revision had been registered for nothing.

use aws_sdk_ecs::types::{DeploymentControllerType, Service};

use crate::error::{Error, Result};
use crate::service::ServiceRef;

/// Refuses a service whose `deploymentController.type` is not `ECS` (absent means `ECS`):
/// [`Error::UnsupportedDeploymentController`], saying how that service is deployed instead.
pub fn check(service: &Service, target: &ServiceRef) -> Result<()> {
    match service.deployment_controller().map(|c| c.r#type()) {
        None | Some(DeploymentControllerType::Ecs) => Ok(()),
        Some(other) => Err(Error::UnsupportedDeploymentController {
            service: target.to_string(),
            controller: other.as_str().to_owned(),
        }),
    }
}

/// What the error says: how a service with `controller` is deployed, and what to do instead.
pub(crate) fn refusal(service: &str, controller: &str) -> String {
    let instead = "or recreate the service with the ECS deployment controller \
                   (deploymentController type ECS) to deploy it with this tool; nothing was \
                   registered";
    match controller {
        "CODE_DEPLOY" => format!(
            "service {service} is deployed through AWS CodeDeploy (deploymentController \
             CODE_DEPLOY), and UpdateService cannot change its task definition: deploy it with \
             a CodeDeploy deployment instead (an AppSpec naming the new task definition, e.g. \
             `aws deploy create-deployment`, or CodePipeline's ECS blue/green action), {instead}"
        ),
        "EXTERNAL" => format!(
            "service {service} uses the EXTERNAL deployment controller: its owner deploys it \
             through task sets (CreateTaskSet, then UpdateServicePrimaryTaskSet), not \
             UpdateService; deploy it with the tool that manages its task sets, {instead}"
        ),
        other => format!(
            "service {service} uses the deployment controller {other}, and this tool only \
             drives ECS rolling updates: {instead}"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ecs::types::DeploymentController;

    fn with(controller: Option<DeploymentControllerType>) -> Service {
        Service::builder()
            .set_deployment_controller(
                controller.map(|t| DeploymentController::builder().r#type(t).build().unwrap()),
            )
            .build()
    }

    fn refused(controller: DeploymentControllerType) -> String {
        let target = ServiceRef::new("dev-cluster", "hello-ecs");
        let err = check(&with(Some(controller.clone())), &target).unwrap_err();
        assert!(
            matches!(&err, Error::UnsupportedDeploymentController { service, controller: c }
                if service == "dev-cluster/hello-ecs" && c == controller.as_str()),
            "{err:?}"
        );
        err.to_string()
    }

    #[test]
    fn ecs_and_no_controller_are_rolling_updates() {
        let target = ServiceRef::new("dev-cluster", "hello-ecs");
        assert!(check(&with(None), &target).is_ok());
        assert!(check(&with(Some(DeploymentControllerType::Ecs)), &target).is_ok());
    }

    #[test]
    fn codedeploy_and_external_say_what_to_do_instead() {
        let codedeploy = refused(DeploymentControllerType::CodeDeploy);
        for part in [
            "dev-cluster/hello-ecs",
            "CodeDeploy",
            "AppSpec",
            "create-deployment",
            "recreate the service with the ECS deployment controller",
            "nothing was registered",
        ] {
            assert!(codedeploy.contains(part), "{part:?} missing: {codedeploy}");
        }
        let external = refused(DeploymentControllerType::External);
        for part in [
            "EXTERNAL",
            "CreateTaskSet",
            "UpdateServicePrimaryTaskSet",
            "recreate the service with the ECS deployment controller",
        ] {
            assert!(external.contains(part), "{part:?} missing: {external}");
        }
        let newer = refused(DeploymentControllerType::from("A_NEWER_ONE"));
        assert!(newer.contains("A_NEWER_ONE"), "{newer}");
    }
}
