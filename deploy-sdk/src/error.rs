//! The one error type of this crate. Every message says what went wrong and what to do.

use std::fmt;
use std::time::Duration;

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use aws_smithy_types::retry::{ErrorKind, ProvideErrorKind};

use crate::tasks::stopped::StoppedTask;

/// A `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while shipping a change to ECS.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The cluster does not exist in this account and region.
    #[error(
        "cluster {cluster:?} not found: check the cluster name and the region/profile (aws ecs list-clusters)"
    )]
    ClusterNotFound {
        /// The cluster asked for.
        cluster: String,
    },

    /// The service does not exist in the cluster.
    #[error(
        "service {service:?} not found in cluster {cluster:?}: check the service name (aws ecs list-services --cluster {cluster})"
    )]
    ServiceNotFound {
        /// The cluster searched.
        cluster: String,
        /// The service asked for.
        service: String,
    },

    /// The service exists but is being deleted or was deleted.
    #[error(
        "service {service:?} in cluster {cluster:?} is {status}, not ACTIVE: recreate it before deploying"
    )]
    ServiceInactive {
        /// The cluster.
        cluster: String,
        /// The service.
        service: String,
        /// Its status (DRAINING or INACTIVE).
        status: String,
    },

    /// The service is rolled by CodeDeploy or by an EXTERNAL controller, not by ECS rolling
    /// updates: refused before anything is registered (see [`crate::controller`]).
    #[error("{}", refusal(service, controller))]
    UnsupportedDeploymentController {
        /// The service (`cluster/service`).
        service: String,
        /// Its `deploymentController.type`: `CODE_DEPLOY`, `EXTERNAL` or a newer one.
        controller: String,
    },

    /// A container named in an image change is not in the task definition.
    #[error(
        "container {container:?} is not in task definition {task_definition}; it has: {}",
        available.join(", ")
    )]
    ContainerNotFound {
        /// The container asked for.
        container: String,
        /// The task definition searched.
        task_definition: String,
        /// The containers it does have.
        available: Vec<String>,
    },

    /// IAM refused an API call.
    #[error(
        "access denied calling {action}: {message} (grant {action} to the role or user you deploy with)"
    )]
    AccessDenied {
        /// The API action, e.g. `ecs:UpdateService`.
        action: String,
        /// What AWS said.
        message: String,
    },

    /// No usable AWS credentials or region.
    #[error("AWS setup for {action}: {message}")]
    Setup {
        /// The API action that needed it.
        action: String,
        /// What is missing and how to provide it.
        message: String,
    },

    /// Our deployment failed and nothing rolled it back.
    #[error(
        "deployment {deployment_id} failed: {reason}{}",
        StoppedTasks(stopped_tasks)
    )]
    DeploymentFailed {
        /// The deployment that failed.
        deployment_id: String,
        /// ECS's rolloutStateReason, or why the watcher judged it failed.
        reason: String,
        /// Tasks of the deployment that stopped, with their reasons.
        stopped_tasks: Vec<StoppedTask>,
    },

    /// Our deployment failed and the service went back to an earlier task definition.
    #[error(
        "deployment {deployment_id} was rolled back to {to}: {reason}{}",
        StoppedTasks(stopped_tasks)
    )]
    RolledBack {
        /// The deployment that was rolled back.
        deployment_id: String,
        /// The task definition the service runs again.
        to: String,
        /// Why (the circuit breaker's reason, when ECS gives one).
        reason: String,
        /// Tasks of the failed deployment that stopped, with their reasons.
        stopped_tasks: Vec<StoppedTask>,
    },

    /// Another client's UpdateService replaced our deployment before it finished.
    #[error(
        "deployment {deployment_id} was superseded by deployment {by}{}: {reason}",
        task_definition.as_deref().map(|td| format!(" ({})", crate::arn::tail(td))).unwrap_or_default()
    )]
    Superseded {
        /// Our deployment.
        deployment_id: String,
        /// The deployment that replaced it.
        by: String,
        /// Its task definition, when known.
        task_definition: Option<String>,
        /// What happened.
        reason: String,
    },

    /// The rollout did not finish within the time allowed.
    #[error("timed out after {}s waiting for deployment {deployment_id}; where it stood: {state}", waited.as_secs())]
    TimedOut {
        /// The deployment being watched.
        deployment_id: String,
        /// How long we waited.
        waited: Duration,
        /// The last deployment table seen.
        state: String,
    },

    /// The load balancer did not serve the new build consistently in time.
    #[error("verification of {url} failed: {reason}")]
    VerificationFailed {
        /// The URL polled.
        url: String,
        /// What was seen (counts of new / old / error answers).
        reason: String,
    },

    /// The load balancer URL could not be worked out from the service.
    #[error("cannot discover the load balancer URL: {0} (pass the URL explicitly)")]
    NoLoadBalancer(String),

    /// An input (imagedefinitions.json, an env override, an image reference…) is malformed.
    #[error("{what}: {problem}")]
    InvalidInput {
        /// The input at fault.
        what: String,
        /// What is wrong and what is expected.
        problem: String,
    },

    /// Building or writing an image failed.
    #[error("image: {0}")]
    Image(String),

    /// Talking to a container registry failed.
    #[error("registry {registry}: {message}")]
    Registry {
        /// The registry host.
        registry: String,
        /// What went wrong.
        message: String,
    },

    /// An HTTP request (verification) could not be made.
    #[error("HTTP: {0}")]
    Http(String),

    /// Any other AWS API failure.
    #[error("{action} failed: {}{message}", code.as_deref().map(|c| format!("{c}: ")).unwrap_or_default())]
    Aws {
        /// The API action, e.g. `ecs:DescribeServices`.
        action: String,
        /// The error code, when AWS sent one (e.g. `ThrottlingException`).
        code: Option<String>,
        /// The kind of retryable error it is, as the SDK's retry classifiers see it
        /// (throttling, transient, server error); `None` when retrying cannot help.
        kind: Option<ErrorKind>,
        /// What AWS or the SDK said.
        message: String,
    },

    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// Builds an [`Error`] from an SDK error of `action` (e.g. `"ecs:UpdateService"`), turning
    /// well-known codes into their own variants.
    pub fn from_sdk<E>(action: &str, err: SdkError<E, HttpResponse>) -> Error
    where
        E: ProvideErrorMetadata + ProvideErrorKind + std::error::Error + Send + Sync + 'static,
    {
        let code = ProvideErrorMetadata::code(&err).map(str::to_owned);
        let kind = crate::retryable::error_kind(&err);
        let message = sdk_message(&err);
        match code.as_deref() {
            Some(
                "AccessDeniedException"
                | "AccessDenied"
                | "UnauthorizedOperation"
                | "UnrecognizedClientException"
                | "InvalidClientTokenId"
                | "ExpiredTokenException"
                | "ExpiredToken",
            ) => Error::AccessDenied {
                action: action.to_owned(),
                message,
            },
            _ if matches!(err, SdkError::ConstructionFailure(_)) => Error::Setup {
                action: action.to_owned(),
                message,
            },
            _ => Error::Aws {
                action: action.to_owned(),
                code,
                kind,
                message,
            },
        }
    }

    /// AWS answered `action` without what the API promises (a service, an ARN…). Retrying
    /// may help: the SDK treats an answer it cannot read as transient, and this is the same.
    pub fn incomplete_answer(action: &str, message: impl Into<String>) -> Error {
        Error::Aws {
            action: action.to_owned(),
            code: None,
            kind: Some(ErrorKind::TransientError),
            message: message.into(),
        }
    }

    /// The AWS error code behind this error, if any.
    pub fn aws_code(&self) -> Option<&str> {
        match self {
            Error::Aws { code, .. } => code.as_deref(),
            _ => None,
        }
    }

    /// Whether retrying later may succeed (throttling, timeouts, 5xx, connection trouble):
    /// for AWS errors, whether the SDK classed it as a retryable kind.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Aws { kind, .. } => kind.is_some(),
            Error::Http(_) => true,
            _ => false,
        }
    }
}

/// The most useful text of an SDK error: the service's message, else the whole source chain.
fn sdk_message<E>(err: &SdkError<E, HttpResponse>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    if let Some(message) = ProvideErrorMetadata::message(err) {
        return message.to_owned();
    }
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    if text.contains("no credentials")
        || text.contains("CredentialsNotLoaded")
        || text.contains("credentials")
    {
        text.push_str(
            " — configure credentials (AWS_PROFILE / `aws sso login` / AWS_ACCESS_KEY_ID+AWS_SECRET_ACCESS_KEY) and a region (AWS_REGION)",
        );
    }
    text
}

/// What the error says: how a service with `controller` is deployed, and what to do instead.
fn refusal(service: &str, controller: &str) -> String {
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

/// Formats stopped tasks after a failure message, one per line.
struct StoppedTasks<'a>(&'a [StoppedTask]);

impl fmt::Display for StoppedTasks<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for task in self.0.iter().take(5) {
            write!(f, "\n  stopped task {task}")?;
        }
        if self.0.len() > 5 {
            write!(f, "\n  … and {} more stopped tasks", self.0.len() - 5)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ecs::operation::describe_services::DescribeServicesError;
    use aws_smithy_runtime_api::client::result::ConnectorError;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;

    fn answer(status: u16, code: &str) -> SdkError<DescribeServicesError, HttpResponse> {
        let meta = ErrorMetadata::builder()
            .code(code)
            .message("what AWS said")
            .build();
        SdkError::service_error(
            DescribeServicesError::generic(meta),
            HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::empty()),
        )
    }

    #[test]
    fn transient_is_what_the_sdk_would_retry() {
        let cases = [
            ("throttled", answer(400, "ThrottlingException"), true),
            (
                "over the request limit",
                answer(400, "RequestLimitExceeded"),
                true,
            ),
            ("ECS server error", answer(500, "ServerException"), true),
            ("unavailable", answer(503, "ServiceUnavailable"), true),
            (
                "bad parameter",
                answer(400, "InvalidParameterException"),
                false,
            ),
            (
                "missing cluster",
                answer(400, "ClusterNotFoundException"),
                false,
            ),
            ("access denied", answer(400, "AccessDeniedException"), false),
            (
                "connection refused",
                SdkError::dispatch_failure(ConnectorError::io("refused".into())),
                true,
            ),
            ("no answer in time", SdkError::timeout_error("slow"), true),
            (
                "no credentials",
                SdkError::construction_failure("no credentials"),
                false,
            ),
        ];
        for (name, err, transient) in cases {
            let err = Error::from_sdk("ecs:DescribeServices", err);
            assert_eq!(err.is_transient(), transient, "{name}: {err:?}");
        }
    }

    #[test]
    fn the_kind_is_recorded_with_the_code() {
        let err = Error::from_sdk("ecs:DescribeServices", answer(400, "ThrottlingException"));
        assert!(
            matches!(
                &err,
                Error::Aws { code: Some(code), kind: Some(ErrorKind::ThrottlingError), .. }
                    if code == "ThrottlingException"
            ),
            "{err:?}"
        );
        assert_eq!(err.aws_code(), Some("ThrottlingException"));
        assert_eq!(
            err.to_string(),
            "ecs:DescribeServices failed: ThrottlingException: what AWS said"
        );
    }

    #[test]
    fn errors_that_are_not_aws_answers() {
        assert!(Error::incomplete_answer("ecs:UpdateService", "no service").is_transient());
        assert!(Error::Http("connection reset".into()).is_transient());
        assert!(
            !Error::InvalidInput {
                what: "image".into(),
                problem: "bad".into()
            }
            .is_transient()
        );
        let denied = Error::from_sdk("ecs:DescribeServices", answer(400, "AccessDeniedException"));
        assert!(
            matches!(&denied, Error::AccessDenied { action, .. } if action == "ecs:DescribeServices"),
            "{denied:?}"
        );
        assert!(matches!(
            Error::from_sdk(
                "ecs:DescribeServices",
                SdkError::<DescribeServicesError, HttpResponse>::construction_failure("no region")
            ),
            Error::Setup { .. }
        ));
    }
}
