//! The AWS wire protocols: awsJson1_1 (ECS, ECR), awsQuery (ELBv2), and the SigV4
//! Authorization header they share.

pub mod auth;
pub mod json;
pub mod query;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};

/// The body type of every response local-ecs sends.
pub type Body = http_body_util::combinators::BoxBody<Bytes, BoxError>;

/// Any error a response body may fail with.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A complete body from bytes.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}

/// An empty body.
pub fn empty() -> Body {
    full(Bytes::new())
}
