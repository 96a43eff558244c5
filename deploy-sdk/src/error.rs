//! The one error type of this crate. Every message says what went wrong and what to do.

use std::fmt;
use std::time::Duration;

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

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
    pub fn from_sdk<E, R>(action: &str, err: SdkError<E, R>) -> Error
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        R: fmt::Debug,
    {
        let code = err.code().map(str::to_owned);
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
                message,
            },
        }
    }

    /// The AWS error code behind this error, if any.
    pub fn aws_code(&self) -> Option<&str> {
        match self {
            Error::Aws { code, .. } => code.as_deref(),
            _ => None,
        }
    }

    /// Whether retrying later may succeed (throttling, timeouts, 5xx, connection trouble).
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Aws {
                code: Some(code), ..
            } => {
                code.contains("Throttl")
                    || code == "RequestLimitExceeded"
                    || code == "TooManyRequestsException"
                    || code == "ServerException"
                    || code == "ServiceUnavailable"
                    || code == "InternalFailure"
                    || code == "Timeout"
            }
            Error::Aws { code: None, .. } | Error::Http(_) => true,
            _ => false,
        }
    }
}

/// The most useful text of an SDK error: the service's message, else the whole source chain.
fn sdk_message<E, R>(err: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: fmt::Debug,
{
    if let Some(message) = err.message() {
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
