//! Which operations of the models local-ecs serves, asked of local-ecs itself: each
//! operation is sent straight to it (not through the recorder) with an empty input; it
//! serves every operation it does not answer with UnknownOperationException or
//! InvalidAction. The suite then requires an answer on record for each, so an operation
//! local-ecs gains fails the suite until `scenario.rs` calls it.

use std::collections::{BTreeSet, HashMap};

use super::check::Model;
use super::common::*;
use super::xml;

/// The codes local-ecs answers an operation it does not implement with.
const NOT_SERVED: [&str; 2] = ["UnknownOperationException", "InvalidAction"];

/// (service, operation) of every operation local-ecs serves.
pub async fn operations(
    env: &Env,
    models: &HashMap<&'static str, Model>,
) -> BTreeSet<(String, String)> {
    let mut served = BTreeSet::new();
    for (service, model) in models {
        let meta = &model.json()["metadata"];
        let signing = meta["signingName"]
            .as_str()
            .or(meta["endpointPrefix"].as_str())
            .unwrap_or_default();
        let operations = model.json()["operations"].as_object().into_iter().flatten();
        for (operation, _) in operations {
            let request = if meta["protocol"] == "json" {
                let target = format!(
                    "{}.{operation}",
                    meta["targetPrefix"].as_str().unwrap_or_default()
                );
                let content_type = format!(
                    "application/x-amz-json-{}",
                    meta["jsonVersion"].as_str().unwrap_or("1.1")
                );
                env.signed_request(
                    signing,
                    "/",
                    &[("x-amz-target", &target), ("content-type", &content_type)],
                    b"{}",
                )
            } else {
                let form = format!(
                    "Action={operation}&Version={}",
                    meta["apiVersion"].as_str().unwrap_or_default()
                );
                env.signed_request(
                    signing,
                    "/",
                    &[("content-type", "application/x-www-form-urlencoded")],
                    form.as_bytes(),
                )
            };
            let answer = send_raw(env.port, &request).await;
            if !NOT_SERVED.contains(&error_code(&answer).as_str()) {
                served.insert((service.to_string(), operation.clone()));
            }
        }
    }
    served
}

/// The error code of a raw HTTP answer (awsJson `__type` or awsQuery `<Code>`); empty for
/// a success.
fn error_code(raw: &str) -> String {
    if raw.starts_with("HTTP/1.1 200") {
        return String::new();
    }
    let body = raw.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    if let Ok(value) = serde_json::from_str::<serde_json::Value>(body) {
        let code = value["__type"].as_str().unwrap_or_default();
        return code.rsplit('#').next().unwrap_or(code).to_owned();
    }
    xml::parse(body)
        .ok()
        .and_then(|root| Some(root.all("Error").next()?.all("Code").next()?.text.clone()))
        .unwrap_or_default()
}
