//! The ServiceDeployment API — `DescribeServiceDeployments`, `DescribeServiceRevisions`,
//! `ListServiceDeployments`, `StopServiceDeployment`: ECS's own account of a deployment, where
//! the endpoint has it (see `docs/ecs-behaviour.md`). Every caller falls back to the
//! deployments table when [`unavailable`] says the API cannot be used here.

use std::collections::HashMap;
use std::time::SystemTime;

use aws_sdk_ecs::types::{
    DeploymentLifecycleHookAction, ServiceDeployment, ServiceDeploymentStatus,
    StopServiceDeploymentStopType,
};

use crate::error::{Error, Result};
use crate::service::ServiceRef;

/// Error codes of an endpoint that does not know an operation (AWS JSON and query protocols).
const UNKNOWN_OPERATION_CODES: [&str; 5] = [
    "UnknownOperationException",
    "UnknownOperation",
    "InvalidAction",
    "InvalidActionException",
    "UnsupportedOperation",
];

/// Why the ServiceDeployment API cannot be used, when `err` says so: access denied, or an
/// endpoint that does not know the operation. `None` for any other error.
pub fn unavailable(err: &Error) -> Option<String> {
    match err {
        Error::AccessDenied { action, .. } => Some(format!("{action} is denied")),
        Error::Aws {
            action,
            code: Some(code),
            ..
        } if UNKNOWN_OPERATION_CODES.contains(&code.as_str()) => {
            Some(format!("the endpoint does not know {action} ({code})"))
        }
        _ => None,
    }
}

/// `DescribeServiceDeployments` for one deployment.
pub async fn describe(ecs: &aws_sdk_ecs::Client, arn: &str) -> Result<ServiceDeployment> {
    const ACTION: &str = "ecs:DescribeServiceDeployments";
    let out = ecs
        .describe_service_deployments()
        .service_deployment_arns(arn)
        .send()
        .await
        .map_err(|e| Error::from_sdk(ACTION, e))?;
    if let Some(found) = out
        .service_deployments()
        .iter()
        .find(|d| d.service_deployment_arn() == Some(arn))
    {
        return Ok(found.clone());
    }
    let why = out
        .failures()
        .iter()
        .find_map(|f| f.reason())
        .unwrap_or("not in the answer");
    Err(Error::Aws {
        action: ACTION.into(),
        code: Some("MISSING".into()),
        kind: None,
        message: format!("service deployment {arn}: {why}"),
    })
}

/// `DescribeServiceRevisions`: the task definition of each revision (batches of 20, the
/// API's limit). A revision the answer lacks is an error naming it.
pub async fn task_definitions(
    ecs: &aws_sdk_ecs::Client,
    revision_arns: &[String],
) -> Result<HashMap<String, String>> {
    const ACTION: &str = "ecs:DescribeServiceRevisions";
    let mut found = HashMap::new();
    for chunk in revision_arns.chunks(20) {
        let out = ecs
            .describe_service_revisions()
            .set_service_revision_arns(Some(chunk.to_vec()))
            .send()
            .await
            .map_err(|e| Error::from_sdk(ACTION, e))?;
        for revision in out.service_revisions() {
            if let (Some(arn), Some(td)) =
                (revision.service_revision_arn(), revision.task_definition())
            {
                found.insert(arn.to_owned(), td.to_owned());
            }
        }
    }
    if let Some(missing) = revision_arns.iter().find(|a| !found.contains_key(*a)) {
        return Err(Error::incomplete_answer(
            ACTION,
            format!("no task definition for service revision {missing}"),
        ));
    }
    Ok(found)
}

/// One SUCCESSFUL service deployment, as `ListServiceDeployments` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuccessfulDeployment {
    /// Its ARN.
    pub arn: String,
    /// The service revision it put in place.
    pub target_revision_arn: String,
    /// When it finished (else when it was created), for ordering.
    pub at: Option<SystemTime>,
}

/// The service's SUCCESSFUL deployments, newest first (all pages; ECS keeps 90 days).
pub async fn successful(
    ecs: &aws_sdk_ecs::Client,
    target: &ServiceRef,
) -> Result<Vec<SuccessfulDeployment>> {
    const ACTION: &str = "ecs:ListServiceDeployments";
    let mut all = Vec::new();
    let mut token = None;
    loop {
        let out = ecs
            .list_service_deployments()
            .cluster(&target.cluster)
            .service(&target.service)
            .status(ServiceDeploymentStatus::Successful)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| Error::from_sdk(ACTION, e))?;
        for brief in out.service_deployments() {
            // A status filter an endpoint ignored must not let a failed one through.
            if brief.status() != Some(&ServiceDeploymentStatus::Successful) {
                continue;
            }
            let (Some(arn), Some(revision)) = (
                brief.service_deployment_arn(),
                brief.target_service_revision_arn(),
            ) else {
                return Err(Error::incomplete_answer(
                    ACTION,
                    "a service deployment without its ARN or target revision",
                ));
            };
            let at = brief
                .finished_at()
                .or(brief.created_at())
                .and_then(|t| SystemTime::try_from(*t).ok());
            all.push(SuccessfulDeployment {
                arn: arn.to_owned(),
                target_revision_arn: revision.to_owned(),
                at,
            });
        }
        token = out.next_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    // Newest first, whatever order the endpoint used.
    all.sort_by_key(|d| std::cmp::Reverse(d.at));
    Ok(all)
}

/// The task definition of the newest SUCCESSFUL deployment that does not run `skip`
/// (the deployment being rolled back): where ECS itself would roll back to.
pub async fn last_successful_task_definition(
    ecs: &aws_sdk_ecs::Client,
    target: &ServiceRef,
    skip: &str,
) -> Result<Option<String>> {
    let successful = successful(ecs, target).await?;
    let mut revisions: Vec<String> = Vec::new();
    for d in &successful {
        if !revisions.contains(&d.target_revision_arn) {
            revisions.push(d.target_revision_arn.clone());
        }
    }
    // Only the newest few: one of them is almost always the answer.
    revisions.truncate(20);
    let tds = task_definitions(ecs, &revisions).await?;
    Ok(revisions
        .iter()
        .filter_map(|r| tds.get(r))
        .find(|td| td.as_str() != skip)
        .cloned())
}

/// `StopServiceDeployment` with `ROLLBACK`: ECS rolls a PENDING or IN_PROGRESS deployment back
/// to the last one that succeeded.
pub async fn stop_for_rollback(ecs: &aws_sdk_ecs::Client, arn: &str) -> Result<()> {
    ecs.stop_service_deployment()
        .service_deployment_arn(arn)
        .stop_type(StopServiceDeploymentStopType::Rollback)
        .send()
        .await
        .map_err(|e| Error::from_sdk("ecs:StopServiceDeployment", e))?;
    Ok(())
}

/// What to tell a lifecycle hook that holds a deployment (`AWAITING_ACTION`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookAnswer {
    /// Go on to the next lifecycle stage.
    Continue,
    /// Roll the deployment back: production traffic stays on (or returns to) blue.
    Rollback,
}

/// `ContinueServiceDeployment`: answers the lifecycle hook `hook_id` that holds the service
/// deployment `arn` (a PAUSE hook `AWAITING_ACTION`, see [`crate::rollout::StageState`]).
pub async fn continue_deployment(
    ecs: &aws_sdk_ecs::Client,
    arn: &str,
    hook_id: &str,
    answer: HookAnswer,
) -> Result<()> {
    let action = match answer {
        HookAnswer::Continue => DeploymentLifecycleHookAction::Continue,
        HookAnswer::Rollback => DeploymentLifecycleHookAction::Rollback,
    };
    ecs.continue_service_deployment()
        .service_deployment_arn(arn)
        .hook_id(hook_id)
        .action(action)
        .send()
        .await
        .map_err(|e| Error::from_sdk("ecs:ContinueServiceDeployment", e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn denied_and_unknown_operations_make_the_api_unavailable() {
        let denied = Error::AccessDenied {
            action: "ecs:DescribeServiceDeployments".into(),
            message: "no".into(),
        };
        assert!(unavailable(&denied).unwrap().contains("denied"));
        let unknown = Error::Aws {
            action: "ecs:DescribeServiceDeployments".into(),
            code: Some("UnknownOperationException".into()),
            kind: None,
            message: "unknown".into(),
        };
        assert!(unavailable(&unknown).unwrap().contains("does not know"));
        let throttled = Error::Aws {
            action: "ecs:DescribeServiceDeployments".into(),
            code: Some("ThrottlingException".into()),
            kind: Some(aws_smithy_types::retry::ErrorKind::ThrottlingError),
            message: "slow down".into(),
        };
        assert_eq!(unavailable(&throttled), None);
    }
}
