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

/// Drops every `null` from an answer, at any depth, before any protocol writes it: AWS omits
/// an absent member rather than send `null`, and a client that pages while `nextToken` is
/// present would otherwise call again with a null token. No list in the ECS, ECR, ELBv2 or
/// CloudWatch models is sparse, so a `null` list item is dropped too. Empty lists and maps
/// are present members and are kept.
pub fn omit_absent(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(members) => {
            members.retain(|_, member| !member.is_null());
            members.values_mut().for_each(omit_absent);
        }
        serde_json::Value::Array(items) => {
            items.retain(|item| !item.is_null());
            items.iter_mut().for_each(omit_absent);
        }
        _ => {}
    }
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

#[cfg(test)]
mod tests {
    use super::omit_absent;
    use serde_json::json;

    #[test]
    fn absent_members_are_omitted_at_any_depth_and_empty_ones_kept() {
        let mut answer = json!({
            "nextToken": null,
            "taskArns": [],
            "tags": {},
            "service": {
                "name": "web",
                "deployments": [
                    {"id": "a", "rolloutStateReason": null, "failedTasks": 0},
                    null,
                    {"id": "b", "networkConfiguration": {"awsvpcConfiguration": null}},
                ],
                "events": [[null, "x"], []],
                "enabled": false,
                "reason": "",
            },
        });
        omit_absent(&mut answer);
        assert_eq!(
            answer,
            json!({
                "taskArns": [],
                "tags": {},
                "service": {
                    "name": "web",
                    "deployments": [
                        {"id": "a", "failedTasks": 0},
                        {"id": "b", "networkConfiguration": {}},
                    ],
                    "events": [["x"], []],
                    "enabled": false,
                    "reason": "",
                },
            })
        );
        let mut scalar = json!(null);
        omit_absent(&mut scalar);
        assert_eq!(scalar, json!(null), "only members and items are omitted");
    }
}
