//! awsQuery (ELBv2, and CloudWatch for older clients): a form-encoded
//! `Action=...&Version=...` request, an XML answer wrapped in `<ActionResponse><ActionResult>`,
//! lists as `<member>` elements, XML error documents.
//!
//! Request parameters are turned into a JSON tree (`Tags.member.1.Key=a` becomes
//! `{"Tags": [{"Key": "a"}]}`) and results are written from one, so the operations themselves
//! work on the same `serde_json::Value` as the JSON services.

use std::collections::BTreeMap;

use http::{HeaderValue, Response, StatusCode};
use serde_json::{Map, Value};

use super::{Body, full};
use crate::error::{ApiError, ApiResult};

/// The only ELBv2 API version there is.
pub const ELBV2_VERSION: &str = "2015-12-01";

/// The XML namespace of ELBv2 documents.
pub const ELBV2_NAMESPACE: &str = "http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/";

/// The services that speak awsQuery here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryService {
    /// Elastic Load Balancing v2 (SigV4 service `elasticloadbalancing`).
    Elbv2,
    /// CloudWatch (SigV4 service `monitoring`).
    CloudWatch,
}

impl QueryService {
    /// The service a request is for: the SigV4 credential scope's service, else its
    /// `Version` (ELBv2 when neither says).
    pub fn of(scope_service: Option<&str>, version: Option<&str>) -> QueryService {
        match (scope_service, version) {
            (Some("monitoring"), _) => QueryService::CloudWatch,
            (Some("elasticloadbalancing"), _) => QueryService::Elbv2,
            (_, Some(v)) if v == QueryService::CloudWatch.version() => QueryService::CloudWatch,
            _ => QueryService::Elbv2,
        }
    }

    /// Its only API version.
    pub fn version(self) -> &'static str {
        match self {
            QueryService::Elbv2 => ELBV2_VERSION,
            QueryService::CloudWatch => "2010-08-01",
        }
    }

    /// The XML namespace of its documents.
    pub fn namespace(self) -> &'static str {
        match self {
            QueryService::Elbv2 => ELBV2_NAMESPACE,
            QueryService::CloudWatch => "http://monitoring.amazonaws.com/doc/2010-08-01/",
        }
    }

    /// Checks a request's `Version`.
    pub fn check_version(self, version: Option<&str>) -> ApiResult<()> {
        let want = self.version();
        match version {
            Some(v) if v == want => Ok(()),
            Some(other) => Err(ApiError::new(
                "InvalidParameterValue",
                format!("Version {other:?} is not supported; this API is {want}"),
            )),
            None => Err(ApiError::new(
                "MissingParameter",
                format!("the request has no Version parameter (this API is {want})"),
            )),
        }
    }
}

/// A parsed awsQuery request.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryRequest {
    /// The `Action` parameter.
    pub action: String,
    /// The `Version` parameter.
    pub version: Option<String>,
    /// Every other parameter, as a tree (see the module documentation).
    pub params: Value,
}

enum Node {
    Leaf(String),
    Branch(BTreeMap<String, Node>),
}

/// Parses a form-encoded awsQuery body and checks that it has an `Action`.
pub fn parse(body: &[u8]) -> ApiResult<QueryRequest> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).map_err(|err| {
        ApiError::new(
            "MalformedQueryString",
            format!("the body is not form-encoded: {err}"),
        )
    })?;
    let mut action = None;
    let mut version = None;
    let mut root = BTreeMap::new();
    for (key, value) in pairs {
        match key.as_str() {
            "Action" => action = Some(value),
            "Version" => version = Some(value),
            _ => insert(&mut root, &key, value)?,
        }
    }
    let action = action
        .filter(|a| !a.is_empty())
        .ok_or_else(|| ApiError::new("MissingAction", "the request has no Action parameter"))?;
    Ok(QueryRequest {
        action,
        version,
        params: to_value(Node::Branch(root)),
    })
}

fn insert(root: &mut BTreeMap<String, Node>, key: &str, value: String) -> ApiResult<()> {
    let parts: Vec<&str> = key.split('.').collect();
    let mut node = root;
    for (i, part) in parts.iter().enumerate() {
        if part.is_empty() {
            return Err(ApiError::new(
                "MalformedQueryString",
                format!("parameter name {key:?} has an empty part"),
            ));
        }
        if i + 1 == parts.len() {
            node.insert((*part).to_owned(), Node::Leaf(value));
            return Ok(());
        }
        let entry = node
            .entry((*part).to_owned())
            .or_insert_with(|| Node::Branch(BTreeMap::new()));
        node = match entry {
            Node::Branch(children) => children,
            Node::Leaf(_) => {
                return Err(ApiError::new(
                    "MalformedQueryString",
                    format!("parameter {key:?} conflicts with another parameter"),
                ));
            }
        };
    }
    Ok(())
}

fn to_value(node: Node) -> Value {
    match node {
        Node::Leaf(s) => Value::String(s),
        Node::Branch(mut children) => {
            // `X.member.N...` is a list; `member` is the only child of a list node.
            if children.len() == 1
                && let Some(Node::Branch(items)) = children.remove("member")
            {
                let mut indexed: Vec<(u64, Node)> = items
                    .into_iter()
                    .map(|(k, v)| (k.parse().unwrap_or(u64::MAX), v))
                    .collect();
                indexed.sort_by_key(|(i, _)| *i);
                return Value::Array(indexed.into_iter().map(|(_, v)| to_value(v)).collect());
            }
            Value::Object(
                children
                    .into_iter()
                    .map(|(k, v)| (k, to_value(v)))
                    .collect::<Map<_, _>>(),
            )
        }
    }
}

/// The `<ActionResponse>` document for a result tree.
pub fn ok(action: &str, result: &Value, request_id: &str, service: QueryService) -> Response<Body> {
    let mut xml = String::with_capacity(1024);
    let namespace = service.namespace();
    xml.push_str(&format!(
        "<{action}Response xmlns=\"{namespace}\"><{action}Result>"
    ));
    if let Value::Object(members) = result {
        for (name, value) in members {
            write_element(&mut xml, name, value);
        }
    }
    xml.push_str(&format!(
        "</{action}Result><ResponseMetadata><RequestId>{}</RequestId></ResponseMetadata></{action}Response>",
        escape(request_id)
    ));
    respond(StatusCode::OK, xml, request_id)
}

/// The `<ErrorResponse>` document for an error.
pub fn error(err: &ApiError, request_id: &str, service: QueryService) -> Response<Body> {
    let kind = if err.sender_fault {
        "Sender"
    } else {
        "Receiver"
    };
    let xml = format!(
        "<ErrorResponse xmlns=\"{}\"><Error><Type>{kind}</Type><Code>{}</Code><Message>{}</Message></Error><RequestId>{}</RequestId></ErrorResponse>",
        service.namespace(),
        escape(&err.code),
        escape(&err.message),
        escape(request_id)
    );
    respond(err.status, xml, request_id)
}

fn respond(status: StatusCode, xml: String, request_id: &str) -> Response<Body> {
    let mut response = Response::new(full(xml));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/xml"),
    );
    if let Ok(id) = HeaderValue::from_str(request_id) {
        headers.insert("x-amzn-requestid", id);
    }
    response
}

fn write_element(xml: &mut String, name: &str, value: &Value) {
    match value {
        Value::Null => {}
        Value::Array(items) => {
            xml.push_str(&format!("<{name}>"));
            for item in items {
                write_element(xml, "member", item);
            }
            xml.push_str(&format!("</{name}>"));
        }
        Value::Object(members) => {
            xml.push_str(&format!("<{name}>"));
            for (child, value) in members {
                write_element(xml, child, value);
            }
            xml.push_str(&format!("</{name}>"));
        }
        Value::String(s) => xml.push_str(&format!("<{name}>{}</{name}>", escape(s))),
        Value::Bool(b) => xml.push_str(&format!("<{name}>{b}</{name}>")),
        Value::Number(n) => xml.push_str(&format!("<{name}>{n}</{name}>")),
    }
}

/// Escapes text for an XML element.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// Typed access to awsQuery parameters (every leaf is a string on the wire).
pub trait Params {
    /// An optional string parameter.
    fn param(&self, name: &str) -> Option<&str>;
    /// A required string parameter; ValidationError when missing.
    fn required(&self, name: &str) -> ApiResult<&str>;
    /// An optional integer parameter; ValidationError when not a number.
    fn int(&self, name: &str) -> ApiResult<Option<i64>>;
    /// An optional boolean parameter (`true`/`false`).
    fn boolean(&self, name: &str) -> ApiResult<Option<bool>>;
    /// A list parameter (`Name.member.N`), empty when absent.
    fn items(&self, name: &str) -> &[Value];
    /// A list of strings (`Name.member.N=...`), empty when absent.
    fn strings(&self, name: &str) -> Vec<&str>;
}

impl Params for Value {
    fn param(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(Value::as_str)
    }

    fn required(&self, name: &str) -> ApiResult<&str> {
        self.param(name).filter(|s| !s.is_empty()).ok_or_else(|| {
            ApiError::new(
                "ValidationError",
                format!("1 validation error detected: Value null at '{}' failed to satisfy constraint: Member must not be null", lower_first(name)),
            )
        })
    }

    fn int(&self, name: &str) -> ApiResult<Option<i64>> {
        match self.param(name) {
            None => Ok(None),
            Some(raw) => raw.trim().parse().map(Some).map_err(|_| {
                ApiError::new(
                    "ValidationError",
                    format!("{name} must be a whole number, got {raw:?}"),
                )
            }),
        }
    }

    fn boolean(&self, name: &str) -> ApiResult<Option<bool>> {
        match self.param(name) {
            None => Ok(None),
            Some("true") => Ok(Some(true)),
            Some("false") => Ok(Some(false)),
            Some(raw) => Err(ApiError::new(
                "ValidationError",
                format!("{name} must be true or false, got {raw:?}"),
            )),
        }
    }

    fn items(&self, name: &str) -> &[Value] {
        match self.get(name) {
            Some(Value::Array(items)) => items,
            _ => &[],
        }
    }

    fn strings(&self, name: &str) -> Vec<&str> {
        self.items(name).iter().filter_map(Value::as_str).collect()
    }
}

fn lower_first(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[test]
    fn builds_a_tree_from_member_lists() {
        let req = parse(
            b"Action=CreateTargetGroup&Version=2015-12-01&Name=tg&Port=80&Tags.member.2.Key=b\
              &Tags.member.1.Key=a&Tags.member.1.Value=x&Matcher.HttpCode=200-299\
              &Tags.member.10.Key=j",
        )
        .unwrap();
        assert_eq!(req.action, "CreateTargetGroup");
        assert_eq!(
            req.params,
            serde_json::json!({
                "Name": "tg", "Port": "80", "Matcher": {"HttpCode": "200-299"},
                "Tags": [{"Key": "a", "Value": "x"}, {"Key": "b"}, {"Key": "j"}]
            })
        );
        assert_eq!(req.params.int("Port").unwrap(), Some(80));
        assert!(req.params.required("Protocol").is_err());
    }

    #[test]
    fn version_and_action_are_checked() {
        assert_eq!(
            parse(b"Version=2015-12-01").unwrap_err().code,
            "MissingAction"
        );
        let request = parse(b"Action=X&Version=2012-06-01").unwrap();
        assert_eq!(
            QueryService::Elbv2
                .check_version(request.version.as_deref())
                .unwrap_err()
                .code,
            "InvalidParameterValue"
        );
        assert_eq!(
            QueryService::of(Some("monitoring"), None),
            QueryService::CloudWatch
        );
        assert_eq!(
            QueryService::of(None, Some("2010-08-01")),
            QueryService::CloudWatch
        );
        assert!(
            QueryService::CloudWatch
                .check_version(Some("2010-08-01"))
                .is_ok()
        );
    }

    #[tokio::test]
    async fn writes_results_and_errors() {
        // One member per object: serde_json's key order depends on workspace features.
        let result = serde_json::json!({"TargetGroups": [{"Name": "a<b"}, {"Port": 80}]});
        let body = ok("DescribeTargetGroups", &result, "rid", QueryService::Elbv2)
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes();
        assert_eq!(
            std::str::from_utf8(&body).unwrap(),
            "<DescribeTargetGroupsResponse xmlns=\"http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/\">\
             <DescribeTargetGroupsResult><TargetGroups><member><Name>a&lt;b</Name></member><member><Port>80</Port></member></TargetGroups>\
             </DescribeTargetGroupsResult><ResponseMetadata><RequestId>rid</RequestId></ResponseMetadata>\
             </DescribeTargetGroupsResponse>"
        );
        let err = error(
            &ApiError::new("TargetGroupNotFound", "gone"),
            "rid",
            QueryService::Elbv2,
        );
        assert_eq!(err.status(), StatusCode::BAD_REQUEST);
    }
}
