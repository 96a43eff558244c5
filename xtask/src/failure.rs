//! Exit codes: 0 deployed and verified, 1 deploy failed, rolled back or superseded, 2 bad usage or
//! configuration, 3 verification failed. Errors carry theirs through `anyhow`.

use std::fmt;

/// Bad usage or configuration: fix the command or the settings.
pub const USAGE: u8 = 2;
/// The deploy failed or was rolled back.
pub const DEPLOY: u8 = 1;
/// The load balancer did not serve the new build.
pub const VERIFY: u8 = 3;

/// An error with the exit code it should end the process with.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub message: String,
}

impl Failure {
    pub fn usage(message: impl Into<String>) -> Failure {
        Failure {
            code: USAGE,
            message: message.into(),
        }
    }

    pub fn deploy(message: impl Into<String>) -> Failure {
        Failure {
            code: DEPLOY,
            message: message.into(),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

/// The exit code for `err`: its [`Failure`]'s, else one derived from a deploy-sdk error, else 1.
pub fn exit_code(err: &anyhow::Error) -> u8 {
    for cause in err.chain() {
        if let Some(failure) = cause.downcast_ref::<Failure>() {
            return failure.code;
        }
        if let Some(sdk) = cause.downcast_ref::<deploy_sdk::Error>() {
            return sdk_exit_code(sdk);
        }
    }
    DEPLOY
}

/// Which deploy-sdk errors are the user's to fix (2), which are verification (3).
pub fn sdk_exit_code(err: &deploy_sdk::Error) -> u8 {
    use deploy_sdk::Error::*;
    match err {
        ClusterNotFound { .. }
        | ServiceNotFound { .. }
        | ServiceInactive { .. }
        | ContainerNotFound { .. }
        // CodeDeploy / EXTERNAL services: deployed another way (the message says which).
        | UnsupportedDeploymentController { .. }
        | AccessDenied { .. }
        | Setup { .. }
        | InvalidInput { .. }
        | NoLoadBalancer(_) => USAGE,
        VerificationFailed { .. } => VERIFY,
        _ => DEPLOY,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_service_deployed_another_way_is_a_usage_error_with_what_to_do() {
        let err = anyhow::Error::from(deploy_sdk::Error::UnsupportedDeploymentController {
            service: "dev-cluster/hello-ecs".into(),
            controller: "CODE_DEPLOY".into(),
        });
        assert_eq!(exit_code(&err), USAGE);
        let text = format!("{err:#}");
        assert!(text.contains("CodeDeploy deployment"), "{text}");
        assert!(text.contains("nothing was registered"), "{text}");
    }
}
