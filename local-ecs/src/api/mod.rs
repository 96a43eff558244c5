//! The AWS APIs local-ecs speaks (ECS, ECR, ELBv2, CloudWatch), as functions from a request
//! document to a response document (or an AWS-shaped error). The wire formats live in
//! `protocol`.

pub mod cloudwatch;
pub mod ecr;
pub mod ecs;
mod ecs_common;
pub mod elbv2;
pub mod service_deployments;
pub mod services;
mod strategy;
pub mod wire;

use std::sync::Arc;

use crate::shared::Shared;

/// What an operation needs besides its input.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// The running local-ecs.
    pub shared: Arc<Shared>,
    /// The region from the request's SigV4 credential scope.
    pub region: String,
}

/// Checks a name against `[A-Za-z0-9_-]{1,max}`.
pub fn valid_name(name: &str, max: usize) -> bool {
    !name.is_empty()
        && name.len() <= max
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// `maxResults`/`nextToken` paging over a list: the token is the index to continue from.
pub fn page<T: Clone>(
    items: &[T],
    max_results: Option<i64>,
    next_token: Option<&str>,
    limit: i64,
) -> Result<(Vec<T>, Option<String>), crate::error::ApiError> {
    let start = match next_token {
        None | Some("") => 0,
        Some(token) => token.parse::<usize>().map_err(|_| {
            crate::error::ApiError::new(
                "InvalidParameterException",
                "nextToken is not a token returned by a previous call.",
            )
        })?,
    };
    let size = match max_results {
        None => limit as usize,
        Some(n) if (1..=limit).contains(&n) => n as usize,
        Some(n) => {
            return Err(crate::error::ApiError::new(
                "InvalidParameterException",
                format!("maxResults must be between 1 and {limit}, got {n}."),
            ));
        }
    };
    let end = (start + size).min(items.len());
    let slice = items.get(start..end).unwrap_or(&[]).to_vec();
    let next = (end < items.len()).then(|| end.to_string());
    Ok((slice, next))
}
