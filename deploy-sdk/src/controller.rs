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
