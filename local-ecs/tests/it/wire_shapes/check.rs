//! Holds one recorded answer against its operation in the service's botocore model:
//! recursively, every member known to the output (or error) shape, the types, enum values,
//! required members and the error codes. Values outside a shape's `min`/`max` are notes
//! (local-ecs shortens some on purpose), everything else a failure.

use std::collections::BTreeSet;

use serde_json::Value;

use super::wire::{Wire, short};
use super::xml;

/// The three wire protocols local-ecs speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Json,
    Query,
    Cbor,
}

/// One HTTP answer local-ecs gave, with the operation it answered.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// botocore's service name (`ecs`, `ecr`, `elbv2`, `cloudwatch`).
    pub service: String,
    pub operation: String,
    pub protocol: Protocol,
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// What the checks found, deduplicated (list indexes are written `[]`).
#[derive(Debug, Default)]
pub struct Findings {
    pub failures: BTreeSet<String>,
    pub notes: BTreeSet<String>,
    /// How many values were checked against a shape.
    pub values: usize,
}

/// Error codes AWS documents as common to all services (API reference, "Common Errors"),
/// plus the protocol-level ones of awsJson and RPC v2.
const COMMON_ERRORS: [&str; 20] = [
    "AccessDeniedException",
    "IncompleteSignature",
    "InternalFailure",
    "InvalidAction",
    "InvalidClientTokenId",
    "InvalidParameterCombination",
    "InvalidParameterValue",
    "InvalidQueryParameter",
    "MalformedQueryString",
    "MissingAction",
    "MissingAuthenticationToken",
    "MissingParameter",
    "NotAuthorized",
    "RequestExpired",
    "ServiceUnavailable",
    "ThrottlingException",
    "ValidationError",
    "UnrecognizedClientException",
    "SerializationException",
    "UnknownOperationException",
];

/// One service's model.
pub struct Model {
    pub service: String,
    json: Value,
}

/// The place in an answer a finding is about.
struct At<'a> {
    what: &'a str,
    path: String,
}

impl Model {
    pub fn new(service: &str, json: Value) -> Model {
        Model {
            service: service.to_owned(),
            json,
        }
    }

    /// The whole model.
    pub fn json(&self) -> &Value {
        &self.json
    }

    fn shape(&self, name: &str) -> &Value {
        &self.json["shapes"][name]
    }

    /// Checks one answer; adds what it finds to `findings`.
    pub fn check(&self, ex: &Exchange, findings: &mut Findings) {
        let what = format!("{} {} ({})", self.service, ex.operation, ex.status);
        let at = At {
            what: &what,
            path: "$".into(),
        };
        let operation = &self.json["operations"][&ex.operation];
        if operation.is_null() {
            findings
                .failures
                .insert(format!("{what}: not an operation of the model"));
            return;
        }
        self.check_headers(ex, &at, findings);
        if ex.status >= 300 {
            self.check_error(operation, ex, &at, findings);
        } else if ex.status != 200 {
            findings
                .failures
                .insert(format!("{what}: status {}, AWS answers 200", ex.status));
        } else {
            self.check_output(operation, ex, &at, findings);
        }
    }

    fn check_headers(&self, ex: &Exchange, at: &At, findings: &mut Findings) {
        let header = |name: &str| {
            ex.headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        };
        let expected = match ex.protocol {
            Protocol::Json => format!(
                "application/x-amz-json-{}",
                self.json["metadata"]["jsonVersion"]
                    .as_str()
                    .unwrap_or("1.0")
            ),
            Protocol::Query => "text/xml".into(),
            Protocol::Cbor => "application/cbor".into(),
        };
        let content_type = header("content-type").unwrap_or_default();
        if !content_type.starts_with(&expected) {
            findings.failures.insert(format!(
                "{}: Content-Type {content_type:?}, expected {expected}",
                at.what
            ));
        }
        if ex.protocol != Protocol::Query && header("x-amzn-requestid").is_none() {
            findings
                .failures
                .insert(format!("{}: no x-amzn-RequestId header", at.what));
        }
    }

    fn check_output(&self, operation: &Value, ex: &Exchange, at: &At, findings: &mut Findings) {
        let output = operation["output"]["shape"].as_str();
        match ex.protocol {
            Protocol::Json => match parse_json(&ex.body) {
                Ok(body) => self.check_body(output, &body, at, findings),
                Err(e) => fail(findings, at, &e),
            },
            Protocol::Cbor => match parse_cbor(&ex.body) {
                Ok(body) => self.check_body(output, &body, at, findings),
                Err(e) => fail(findings, at, &e),
            },
            Protocol::Query => {
                let wrapper = operation["output"]["resultWrapper"].as_str();
                match xml::parse(&String::from_utf8_lossy(&ex.body)) {
                    Ok(root) => {
                        self.check_query(&ex.operation, (output, wrapper), &root, at, findings)
                    }
                    Err(e) => fail(findings, at, &format!("not XML: {e}")),
                }
            }
        }
    }

    /// A JSON or CBOR body against the output shape (an operation without one answers `{}`).
    fn check_body<W: Wire>(
        &self,
        output: Option<&str>,
        body: &W,
        at: &At,
        findings: &mut Findings,
    ) {
        match output {
            Some(shape) => self.check_value(shape, body, at, findings),
            None if body.members().is_some_and(|m| m.is_empty()) => {}
            None => fail(
                findings,
                at,
                &format!("no output in the model, got {}", body.kind()),
            ),
        }
    }

    /// `<OpResponse><OpResult>…</OpResult><ResponseMetadata><RequestId/></ResponseMetadata>`.
    fn check_query(
        &self,
        op: &str,
        (output, wrapper): (Option<&str>, Option<&str>),
        root: &xml::Element,
        at: &At,
        findings: &mut Findings,
    ) {
        if root.name != format!("{op}Response") {
            fail(
                findings,
                at,
                &format!("root <{}>, expected <{op}Response>", root.name),
            );
        }
        for child in &root.children {
            let path = format!("{}.{}", at.path, child.name);
            let here = At {
                what: at.what,
                path,
            };
            match (child.name.as_str(), output, wrapper) {
                ("ResponseMetadata", ..) => {
                    let ids = child.all("RequestId").count();
                    if ids != 1 || child.children.len() != 1 {
                        fail(findings, &here, "expected exactly <RequestId>");
                    }
                }
                (name, Some(shape), Some(wrapper)) if name == wrapper => {
                    self.check_value(shape, child, &here, findings)
                }
                (name, ..) => fail(findings, &here, &format!("unexpected <{name}>")),
            }
        }
        if root.all("ResponseMetadata").count() != 1 {
            fail(findings, at, "no single <ResponseMetadata>");
        }
        if let Some(wrapper) = wrapper
            && root.all(wrapper).count() != 1
        {
            fail(findings, at, &format!("no single <{wrapper}>"));
        }
    }

    /// An error answer: the code is one of the operation's modelled errors (or a common
    /// one), the status the model gives it, and the body's members those of its shape.
    fn check_error(&self, operation: &Value, ex: &Exchange, at: &At, findings: &mut Findings) {
        let parsed = match ex.protocol {
            Protocol::Json => parse_json(&ex.body).map(ErrorBody::Json),
            Protocol::Cbor => parse_cbor(&ex.body).map(ErrorBody::Cbor),
            Protocol::Query => xml::parse(&String::from_utf8_lossy(&ex.body))
                .map(ErrorBody::Xml)
                .map_err(|e| format!("not XML: {e}")),
        };
        let body = match parsed {
            Ok(body) => body,
            Err(e) => return fail(findings, at, &e),
        };
        let code = match body.code() {
            Ok(code) => code,
            Err(e) => return fail(findings, at, &e),
        };
        let here = At {
            what: at.what,
            path: format!("{} [{code}]", at.path),
        };
        let shape = self.error_shape(operation, &code, ex.protocol);
        match shape {
            Some(name) => {
                let status = self.shape(name)["error"]["httpStatusCode"].as_u64();
                if status.is_some_and(|s| s != u64::from(ex.status)) {
                    fail(
                        findings,
                        &here,
                        &format!("status {}, the model says {status:?}", ex.status),
                    );
                }
            }
            None if COMMON_ERRORS.contains(&code.as_str()) => {}
            None => fail(
                findings,
                &here,
                "not an error of this operation in the model nor a common error",
            ),
        }
        body.check_members(self, shape, &here, findings);
    }

    /// The operation's error shape `code` names: its awsQuery code (`error.code`, else the
    /// shape name) in awsQuery, the shape name in awsJson and CBOR.
    fn error_shape<'a>(
        &'a self,
        operation: &'a Value,
        code: &str,
        protocol: Protocol,
    ) -> Option<&'a str> {
        operation["errors"].as_array()?.iter().find_map(|e| {
            let name = e["shape"].as_str()?;
            let wire = match protocol {
                Protocol::Query => self.shape(name)["error"]["code"].as_str().unwrap_or(name),
                Protocol::Json | Protocol::Cbor => name,
            };
            (wire == code).then_some(name)
        })
    }

    /// `value` against shape `name`, recursively.
    fn check_value<W: Wire>(&self, name: &str, value: &W, at: &At, findings: &mut Findings) {
        let shape = self.shape(name);
        findings.values += 1;
        if value.is_null() {
            return fail(findings, at, "null (AWS omits an absent member)");
        }
        match shape["type"].as_str().unwrap_or_default() {
            "structure" => self.check_structure(name, value, at, findings),
            "list" => match value.items() {
                Ok(items) => {
                    self.range(shape, items.len() as f64, "items", at, findings);
                    let member = shape["member"]["shape"].as_str().unwrap_or_default();
                    let here = At {
                        what: at.what,
                        path: format!("{}[]", at.path),
                    };
                    for item in items {
                        self.check_value(member, item, &here, findings);
                    }
                }
                Err(e) => fail(findings, at, &e),
            },
            "map" => match value.entries() {
                Ok(entries) => {
                    let key = shape["key"]["shape"].as_str().unwrap_or_default();
                    let val = shape["value"]["shape"].as_str().unwrap_or_default();
                    for (k, v) in entries {
                        let here = At {
                            what: at.what,
                            path: format!("{}{{{k}}}", at.path),
                        };
                        self.check_enum(self.shape(key), &k, &here, findings);
                        self.check_value(val, v, &here, findings);
                    }
                }
                Err(e) => fail(findings, at, &e),
            },
            kind => self.check_scalar(kind, shape, value, at, findings),
        }
    }

    fn check_structure<W: Wire>(&self, name: &str, value: &W, at: &At, findings: &mut Findings) {
        let shape = self.shape(name);
        if shape["document"].as_bool() == Some(true) {
            return;
        }
        let Some(members) = value.members() else {
            return fail(
                findings,
                at,
                &format!("expected a {name} structure, got {}", value.kind()),
            );
        };
        let mut seen = BTreeSet::new();
        for (member, v) in &members {
            let here = At {
                what: at.what,
                path: format!("{}.{member}", at.path),
            };
            if !seen.insert(member.to_string()) {
                fail(findings, &here, "sent twice");
            }
            match shape["members"][member.as_ref()]["shape"].as_str() {
                Some(target) => self.check_value(target, *v, &here, findings),
                None => fail(findings, &here, &format!("not a member of {name}")),
            }
        }
        for required in shape["required"].as_array().into_iter().flatten() {
            let required = required.as_str().unwrap_or_default();
            if !seen.contains(required) {
                fail(
                    findings,
                    at,
                    &format!("required member {required} of {name} is missing"),
                );
            }
        }
        if shape["union"].as_bool() == Some(true) && seen.len() != 1 {
            fail(
                findings,
                at,
                &format!("union {name} with {} members set", seen.len()),
            );
        }
    }

    fn check_scalar<W: Wire>(
        &self,
        kind: &str,
        shape: &Value,
        value: &W,
        at: &At,
        findings: &mut Findings,
    ) {
        let wrong = |findings: &mut Findings| {
            fail(
                findings,
                at,
                &format!("expected {kind}, got {}", value.kind()),
            )
        };
        match kind {
            "string" => match value.string() {
                Some(s) => {
                    self.check_enum(shape, &s, at, findings);
                    self.range(shape, s.chars().count() as f64, "characters", at, findings);
                }
                None => wrong(findings),
            },
            "boolean" => {
                if value.boolean().is_none() {
                    wrong(findings)
                }
            }
            "integer" | "long" => {
                let bits = if kind == "integer" { 31 } else { 63 };
                match value.integer() {
                    Some(i) if i >= -(1i128 << bits) && i < (1i128 << bits) => {
                        self.range(shape, i as f64, "", at, findings)
                    }
                    Some(i) => fail(findings, at, &format!("{i} does not fit a {kind}")),
                    None => wrong(findings),
                }
            }
            "double" | "float" => match value.double() {
                Some(d) => self.range(shape, d, "", at, findings),
                None => wrong(findings),
            },
            "timestamp" => {
                if let Err(e) = value.timestamp() {
                    fail(findings, at, &e)
                }
            }
            "blob" => {
                if !value.blob() {
                    wrong(findings)
                }
            }
            other => fail(
                findings,
                at,
                &format!("a shape type the checker does not know: {other}"),
            ),
        }
    }

    fn check_enum(&self, shape: &Value, s: &str, at: &At, findings: &mut Findings) {
        if let Some(values) = shape["enum"].as_array()
            && !values.iter().any(|v| v.as_str() == Some(s))
        {
            fail(
                findings,
                at,
                &format!(
                    "{s:?} is not a value of the enum ({})",
                    short(&shape["enum"].to_string())
                ),
            );
        }
    }

    /// A value (or length) outside the shape's `min`/`max`: a note, not a failure.
    fn range(&self, shape: &Value, n: f64, unit: &str, at: &At, findings: &mut Findings) {
        let (min, max) = (shape["min"].as_f64(), shape["max"].as_f64());
        let outside = min.is_some_and(|m| n < m) || max.is_some_and(|m| n > m);
        if outside {
            findings.notes.insert(format!(
                "{}: {} = {n}{}{unit} outside the model's range [{}, {}]",
                at.what,
                at.path,
                if unit.is_empty() { "" } else { " " },
                min.map_or("-".into(), |m| m.to_string()),
                max.map_or("-".into(), |m| m.to_string()),
            ));
        }
    }
}

/// An error answer in its protocol's form.
enum ErrorBody {
    Json(serde_json::Value),
    Cbor(ciborium::Value),
    Xml(xml::Element),
}

impl ErrorBody {
    /// The error code: `__type` (without a `namespace#` prefix or `:…` suffix) in awsJson
    /// and CBOR, `<Error><Code>` in awsQuery.
    fn code(&self) -> Result<String, String> {
        let bare = |t: &str| {
            let t = t.rsplit('#').next().unwrap_or(t);
            t.split(':').next().unwrap_or(t).to_owned()
        };
        match self {
            ErrorBody::Json(v) => v["__type"]
                .as_str()
                .map(bare)
                .ok_or_else(|| "no __type".into()),
            ErrorBody::Cbor(v) => v
                .members()
                .and_then(|m| m.into_iter().find(|(k, _)| k == "__type"))
                .and_then(|(_, t)| t.as_text().map(bare))
                .ok_or_else(|| "no __type".into()),
            ErrorBody::Xml(root) => {
                if root.name != "ErrorResponse" {
                    return Err(format!("root <{}>, expected <ErrorResponse>", root.name));
                }
                let error = root.all("Error").next().ok_or("no <Error>")?;
                let code = error.all("Code").next().ok_or("no <Error><Code>")?;
                Ok(code.text.clone())
            }
        }
    }

    /// The members besides the code against the error shape (`message` only for a common
    /// error); awsQuery: `<Error>` holds Type (Sender/Receiver), Code, Message.
    fn check_members(&self, model: &Model, shape: Option<&str>, at: &At, findings: &mut Findings) {
        let members = |v: Vec<(std::borrow::Cow<'_, str>, String, bool)>,
                       findings: &mut Findings| {
            for (name, kind, null) in v {
                let known = match shape {
                    Some(s) => !model.shape(s)["members"][name.as_ref()].is_null(),
                    None => name.eq_ignore_ascii_case("message"),
                };
                if name != "__type" && !known {
                    fail(
                        findings,
                        at,
                        &format!("{name} ({kind}) is not a member of the error"),
                    );
                }
                if null {
                    fail(findings, at, &format!("{name} is null"));
                }
            }
        };
        match self {
            ErrorBody::Json(v) => match v.as_object() {
                Some(o) => members(
                    o.iter()
                        .map(|(k, v)| (k.as_str().into(), Wire::kind(v), v.is_null()))
                        .collect(),
                    findings,
                ),
                None => fail(findings, at, "not an object"),
            },
            ErrorBody::Cbor(v) => match Wire::members(v) {
                Some(m) => members(
                    m.into_iter()
                        .map(|(k, v)| (k, v.kind(), v.is_null()))
                        .collect(),
                    findings,
                ),
                None => fail(findings, at, "not a map"),
            },
            ErrorBody::Xml(root) => {
                let error = root.all("Error").next();
                let names: Vec<&str> = error
                    .iter()
                    .flat_map(|e| e.children.iter().map(|c| c.name.as_str()))
                    .collect();
                let kind = error
                    .and_then(|e| e.all("Type").next())
                    .map(|t| t.text.as_str());
                if !matches!(kind, Some("Sender" | "Receiver")) {
                    fail(
                        findings,
                        at,
                        &format!("<Type> {kind:?}, expected Sender or Receiver"),
                    );
                }
                if names
                    .iter()
                    .any(|n| !["Type", "Code", "Message"].contains(n))
                {
                    fail(findings, at, &format!("<Error> holds {names:?}"));
                }
                if root.all("RequestId").count() != 1 {
                    fail(findings, at, "no single <RequestId>");
                }
            }
        }
    }
}

fn fail(findings: &mut Findings, at: &At, message: &str) {
    findings
        .failures
        .insert(format!("{}: {}: {message}", at.what, at.path));
}

fn parse_json(body: &[u8]) -> Result<Value, String> {
    serde_json::from_slice(body)
        .map_err(|e| format!("not JSON: {e}: {}", short(&String::from_utf8_lossy(body))))
}

fn parse_cbor(body: &[u8]) -> Result<ciborium::Value, String> {
    ciborium::from_reader(body).map_err(|e| format!("not CBOR: {e}"))
}
