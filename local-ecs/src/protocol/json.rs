//! awsJson1_1 (ECS, ECR) and awsJson1_0 (CloudWatch): `POST /` with
//! `X-Amz-Target: Prefix.Operation`, a JSON document in and out, errors as
//! `{"__type": CODE, "message": ...}` plus an `x-amzn-errortype` header (and, for CloudWatch,
//! which moved from awsQuery, the awsQuery code in `x-amzn-query-error`).

use http::{HeaderValue, Response, StatusCode};
use serde_json::{Map, Value};

use super::{Body, full};
use crate::error::{ApiError, ApiResult};

/// The content type of every awsJson1_1 request and response.
pub const CONTENT_TYPE: &str = "application/x-amz-json-1.1";

/// The `X-Amz-Target` prefix (and RPC v2 service name) of CloudWatch.
pub const CLOUDWATCH_TARGET: &str = "GraniteServiceVersion20100801";

/// The services that speak awsJson here, by their `X-Amz-Target` prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonService {
    /// `AmazonEC2ContainerServiceV20141113`
    Ecs,
    /// `AmazonEC2ContainerRegistry_V20150921`
    Ecr,
    /// `GraniteServiceVersion20100801` (awsJson1_0, awsQuery-compatible)
    CloudWatch,
}

impl JsonService {
    /// The content type of its answers.
    pub fn content_type(self) -> &'static str {
        match self {
            JsonService::CloudWatch => "application/x-amz-json-1.0",
            JsonService::Ecs | JsonService::Ecr => CONTENT_TYPE,
        }
    }
}

/// Splits `X-Amz-Target` into the service and the operation name.
pub fn parse_target(target: &str) -> ApiResult<(JsonService, &str)> {
    let (prefix, op) = target.split_once('.').ok_or_else(|| {
        ApiError::new(
            "UnknownOperationException",
            format!("X-Amz-Target {target:?} is not PREFIX.Operation"),
        )
    })?;
    let service = match prefix {
        "AmazonEC2ContainerServiceV20141113" => JsonService::Ecs,
        "AmazonEC2ContainerRegistry_V20150921" => JsonService::Ecr,
        CLOUDWATCH_TARGET => JsonService::CloudWatch,
        other => {
            return Err(ApiError::new(
                "UnknownOperationException",
                format!(
                    "local-ecs serves ECS (AmazonEC2ContainerServiceV20141113), ECR \
                     (AmazonEC2ContainerRegistry_V20150921) and CloudWatch \
                     ({CLOUDWATCH_TARGET}) over JSON, not {other:?}"
                ),
            ));
        }
    };
    Ok((service, op))
}

/// Parses a request body: empty means `{}`; anything but a JSON object is a
/// SerializationException.
pub fn parse_body(body: &[u8]) -> ApiResult<Value> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Object(Map::new()));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(v @ Value::Object(_)) => Ok(v),
        Ok(_) => Err(ApiError::new(
            "SerializationException",
            "the request body must be a JSON object",
        )),
        Err(err) => Err(ApiError::new(
            "SerializationException",
            format!("the request body is not valid JSON: {err}"),
        )),
    }
}

/// A successful answer.
pub fn ok(value: &Value, request_id: &str, service: JsonService) -> Response<Body> {
    let body = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
    respond(StatusCode::OK, body, request_id, service.content_type())
}

/// An error answer the AWS SDKs turn into the typed error named by `code` (for a request
/// whose service is not known, in awsJson1_1).
pub fn error(err: &ApiError, request_id: &str, service: Option<JsonService>) -> Response<Body> {
    let body = serde_json::json!({"__type": err.code, "message": err.message});
    let content_type = service.map_or(CONTENT_TYPE, JsonService::content_type);
    let mut response = respond(
        err.status,
        body.to_string().into_bytes(),
        request_id,
        content_type,
    );
    if let Ok(value) = HeaderValue::from_str(&err.code) {
        response.headers_mut().insert("x-amzn-errortype", value);
    }
    let kind = if err.sender_fault {
        "Sender"
    } else {
        "Receiver"
    };
    if service == Some(JsonService::CloudWatch)
        && let Ok(value) = HeaderValue::from_str(&format!("{};{kind}", err.code))
    {
        response.headers_mut().insert("x-amzn-query-error", value);
    }
    response
}

fn respond(
    status: StatusCode,
    body: Vec<u8>,
    request_id: &str,
    content_type: &'static str,
) -> Response<Body> {
    let mut response = Response::new(full(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static(content_type),
    );
    if let Ok(id) = HeaderValue::from_str(request_id) {
        headers.insert("x-amzn-requestid", id);
    }
    response
}

/// Typed access to the members of a JSON request, with AWS-shaped errors for wrong types.
pub trait Input {
    /// An optional string member.
    fn opt_str(&self, name: &str) -> ApiResult<Option<&str>>;
    /// A required string member.
    fn req_str(&self, name: &str) -> ApiResult<&str>;
    /// An optional integer member.
    fn opt_i64(&self, name: &str) -> ApiResult<Option<i64>>;
    /// An optional boolean member.
    fn opt_bool(&self, name: &str) -> ApiResult<Option<bool>>;
    /// An optional list member (absent = empty).
    fn list(&self, name: &str) -> ApiResult<&[Value]>;
    /// An optional list of strings (absent = empty).
    fn str_list(&self, name: &str) -> ApiResult<Vec<&str>>;
}

fn wrong_type(name: &str, want: &str) -> ApiError {
    ApiError::new(
        "SerializationException",
        format!("member {name} must be {want}"),
    )
}

impl Input for Value {
    fn opt_str(&self, name: &str) -> ApiResult<Option<&str>> {
        match self.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(wrong_type(name, "a string")),
        }
    }

    fn req_str(&self, name: &str) -> ApiResult<&str> {
        match self.opt_str(name)? {
            Some(s) if !s.is_empty() => Ok(s),
            _ => Err(ApiError::new(
                "InvalidParameterException",
                format!("{name} is required and must not be empty."),
            )),
        }
    }

    fn opt_i64(&self, name: &str) -> ApiResult<Option<i64>> {
        match self.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => n
                .as_i64()
                .map(Some)
                .ok_or_else(|| wrong_type(name, "an integer")),
            Some(_) => Err(wrong_type(name, "an integer")),
        }
    }

    fn opt_bool(&self, name: &str) -> ApiResult<Option<bool>> {
        match self.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(wrong_type(name, "a boolean")),
        }
    }

    fn list(&self, name: &str) -> ApiResult<&[Value]> {
        match self.get(name) {
            None | Some(Value::Null) => Ok(&[]),
            Some(Value::Array(items)) => Ok(items),
            Some(_) => Err(wrong_type(name, "a list")),
        }
    }

    fn str_list(&self, name: &str) -> ApiResult<Vec<&str>> {
        self.list(name)?
            .iter()
            .map(|v| {
                v.as_str()
                    .ok_or_else(|| wrong_type(name, "a list of strings"))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_and_bodies() {
        assert_eq!(
            parse_target("AmazonEC2ContainerServiceV20141113.ListTasks").unwrap(),
            (JsonService::Ecs, "ListTasks")
        );
        assert!(parse_target("DynamoDB_20120810.GetItem").is_err());
        assert_eq!(
            parse_target("GraniteServiceVersion20100801.DescribeAlarms").unwrap(),
            (JsonService::CloudWatch, "DescribeAlarms")
        );
        assert_eq!(parse_body(b"").unwrap(), serde_json::json!({}));
        assert_eq!(
            parse_body(b"[1]").unwrap_err().code,
            "SerializationException"
        );
        let v = serde_json::json!({"a": "x", "n": 3, "l": ["p"], "b": true});
        assert_eq!(v.opt_str("a").unwrap(), Some("x"));
        assert_eq!(v.opt_i64("n").unwrap(), Some(3));
        assert_eq!(v.str_list("l").unwrap(), vec!["p"]);
        assert_eq!(v.opt_bool("b").unwrap(), Some(true));
        assert!(v.opt_str("n").is_err());
        assert_eq!(
            v.req_str("zz").unwrap_err().code,
            "InvalidParameterException"
        );
    }
}
