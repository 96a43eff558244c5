//! The AWS wire protocols: awsJson1_1 (ECS, ECR), awsJson1_0 and Smithy RPC v2 CBOR
//! (CloudWatch), awsQuery (ELBv2, CloudWatch), the SigV4 signature they share, and the `Host`
//! check in front of them.

pub mod auth;
pub mod cbor;
pub mod host;
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

/// Rewrites the members named in `names` (timestamps in epoch seconds, as the operations
/// produce them) with `format`, at any depth: awsQuery writes timestamps as ISO 8601 text.
pub fn map_timestamps(
    value: &mut serde_json::Value,
    names: &[&str],
    format: &dyn Fn(f64) -> serde_json::Value,
) {
    match value {
        serde_json::Value::Object(members) => {
            for (key, member) in members.iter_mut() {
                match member.as_f64() {
                    Some(seconds) if names.contains(&key.as_str()) => *member = format(seconds),
                    _ => map_timestamps(member, names, format),
                }
            }
        }
        serde_json::Value::Array(items) => {
            for item in items {
                map_timestamps(item, names, format);
            }
        }
        _ => {}
    }
}
