//! The one HTTP endpoint on 127.0.0.1: the registry under `/v2/`, awsJson (ECS, ECR,
//! CloudWatch) selected by `X-Amz-Target`, Smithy RPC v2 CBOR (CloudWatch) under
//! `/service/`, and awsQuery (ELBv2, CloudWatch) form posts, told apart by the SigV4
//! credential scope's service.
//!
//! Every request must be addressed to a loopback host (DNS rebinding); every API request
//! must carry a valid SigV4 signature made with the state directory's key, and registry
//! requests the ECR password (Basic auth).

use std::convert::Infallible;
use std::sync::Arc;

use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::Value;

use crate::api::{self, Ctx};
use crate::clock::iso8601;
use crate::error::{ApiError, ApiResult};
use crate::protocol::json::{self, JsonService};
use crate::protocol::query::QueryService;
use crate::protocol::{Body, auth, cbor, full, host, map_timestamps, omit_absent, query};
use crate::shared::Shared;

/// Largest API request body accepted (task definitions are the biggest; AWS allows 64 KiB
/// for many fields, a few MiB in all).
const MAX_API_BODY: usize = 8 * 1024 * 1024;

/// Accepts connections until the task is aborted.
pub async fn serve(shared: Arc<Shared>, listener: tokio::net::TcpListener) {
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(conn) => conn,
            Err(err) => {
                tracing::warn!(%err, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let shared = shared.clone();
        let closed = shared.closed();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let shared = shared.clone();
                async move { Ok::<_, Infallible>(handle(shared, req).await) }
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                _ = connection => {}
                _ = closed => {}
            }
        });
    }
}

/// Which protocol a request speaks, known from its path and headers before its body is read:
/// errors are answered in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    Registry,
    Cbor,
    Json(Option<JsonService>),
    Query(QueryService),
}

impl Protocol {
    fn of(req: &Request<Incoming>) -> Protocol {
        let path = req.uri().path();
        if path == "/v2" || path.starts_with("/v2/") {
            return Protocol::Registry;
        }
        if path.starts_with(cbor::PATH_PREFIX) {
            return Protocol::Cbor;
        }
        let header = |name| req.headers().get(name).and_then(|h| h.to_str().ok());
        match header("x-amz-target") {
            Some(target) => Protocol::Json(json::parse_target(target).ok().map(|(s, _)| s)),
            None => Protocol::Query(QueryService::of(
                auth::scope_service(header("authorization")),
                None,
            )),
        }
    }

    /// An error in this protocol's wire format (the registry has its own, see `registry`).
    fn error(self, err: &ApiError, request_id: &str) -> Response<Body> {
        match self {
            Protocol::Cbor => cbor::error(err, request_id),
            Protocol::Query(service) => query::error(err, request_id, service),
            Protocol::Json(service) => json::error(err, request_id, service),
            Protocol::Registry => crate::registry::refuse(err.status, &err.message),
        }
    }

    fn auth_family(self) -> auth::Family {
        match self {
            Protocol::Query(_) => auth::Family::Query,
            _ => auth::Family::Json,
        }
    }
}

async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Response<Body> {
    let request_id = crate::ids::uuid();
    let protocol = Protocol::of(&req);
    if let Err(what) = host::check(req.headers(), req.uri()) {
        tracing::warn!(refused = %what, "refused a request not addressed to a loopback host");
        let code = match protocol {
            Protocol::Query(_) => "AccessDenied",
            _ => "AccessDeniedException",
        };
        let err =
            ApiError::new(code, host::refusal_message(&what)).with_status(StatusCode::FORBIDDEN);
        return protocol.error(&err, &request_id);
    }
    if protocol == Protocol::Registry {
        return crate::registry::handle(shared, req).await;
    }
    if req.method() == Method::GET && req.uri().path() == "/" {
        let mut response = Response::new(full(format!(
            "local-ecs: ECS and ECR (awsJson1_1, POST / with X-Amz-Target), ELBv2 (awsQuery, \
             POST / form), CloudWatch alarms (awsJson1_0, RPC v2 CBOR under /service/, \
             awsQuery) and an OCI registry (/v2/) on http://127.0.0.1:{}\n",
            shared.port
        )));
        response.headers_mut().insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        return response;
    }
    let (parts, body) = req.into_parts();
    let body = match http_body_util::Limited::new(body, MAX_API_BODY)
        .collect()
        .await
    {
        Ok(body) => body.to_bytes(),
        Err(err) => {
            let e = ApiError::new(
                "SerializationException",
                format!("cannot read the request body: {err}"),
            );
            return protocol.error(&e, &request_id);
        }
    };
    if parts.method != Method::POST {
        let mut response = Response::new(full("local-ecs: the AWS APIs are served by POST /\n"));
        *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
        return response;
    }
    let signed = auth::SignedRequest {
        method: &parts.method,
        uri: &parts.uri,
        headers: &parts.headers,
        body: &body,
    };
    let verified = match auth::verify(
        shared.store.credentials(),
        signed,
        std::time::SystemTime::now(),
    ) {
        Ok(verified) => verified,
        Err(err) => {
            let err = err.to_api_error(protocol.auth_family());
            tracing::debug!(code = %err.code, "{}", err.message);
            return protocol.error(&err, &request_id);
        }
    };
    let path = parts.uri.path();
    let outcome = match protocol {
        Protocol::Cbor => handle_cbor(shared, path, verified.region, &body),
        Protocol::Json(_) => {
            let target = parts
                .headers
                .get("x-amz-target")
                .and_then(|h| h.to_str().ok())
                .unwrap_or_default();
            handle_json(shared, target, verified.region, &body)
        }
        Protocol::Query(_) | Protocol::Registry => handle_query(shared, &verified, &body),
    };
    reply(outcome, &request_id)
}

/// What an API call came to, and the protocol to answer in.
struct Outcome {
    /// For awsQuery, the service its `Version` named; for awsJson, the target's.
    protocol: Protocol,
    /// The operation (awsQuery names the result element after it).
    operation: String,
    output: ApiResult<Value>,
}

/// The one place where an operation's answer becomes a response, in every protocol: absent
/// members are omitted here, so no operation has to leave them out itself.
fn reply(outcome: Outcome, request_id: &str) -> Response<Body> {
    let Outcome {
        protocol,
        operation,
        output,
    } = outcome;
    let mut output = match output {
        Ok(output) => output,
        Err(err) => {
            tracing::debug!(%operation, code = %err.code, "{}", err.message);
            return protocol.error(&err, request_id);
        }
    };
    omit_absent(&mut output);
    match protocol {
        Protocol::Json(Some(service)) => json::ok(&output, request_id, service),
        Protocol::Cbor => cbor::ok(&output, api::cloudwatch::TIMESTAMPS, request_id),
        Protocol::Query(service) => query::ok(&operation, &output, request_id, service),
        Protocol::Json(None) | Protocol::Registry => {
            protocol.error(&ApiError::internal("no service"), request_id)
        }
    }
}

fn handle_json(shared: Arc<Shared>, target: &str, region: String, body: &[u8]) -> Outcome {
    let service = json::parse_target(target).ok().map(|(service, _)| service);
    let operation = json::parse_target(target).map_or(target, |(_, op)| op);
    let output = (|| {
        let (service, op) = json::parse_target(target)?;
        let input = json::parse_body(body)?;
        let ctx = Ctx { shared, region };
        let output = match service {
            JsonService::Ecs => api::ecs::handle(&ctx, op, &input),
            JsonService::Ecr => api::ecr::handle(&ctx, op, &input),
            JsonService::CloudWatch => api::cloudwatch::handle(&ctx, op, &input),
        };
        tracing::debug!(operation = op, ok = output.is_ok(), "api call");
        output
    })();
    Outcome {
        protocol: Protocol::Json(service),
        operation: operation.to_owned(),
        output,
    }
}

/// Smithy RPC v2 CBOR: CloudWatch only.
fn handle_cbor(shared: Arc<Shared>, path: &str, region: String, body: &[u8]) -> Outcome {
    let output = (|| {
        let (service, op) = cbor::parse_path(path)?;
        if service != json::CLOUDWATCH_TARGET {
            return Err(ApiError::new(
                "UnknownOperationException",
                format!(
                    "local-ecs serves CloudWatch ({}) over RPC v2 CBOR, not {service:?}",
                    json::CLOUDWATCH_TARGET
                ),
            ));
        }
        let input = cbor::parse_body(body)?;
        let ctx = Ctx { shared, region };
        let output = api::cloudwatch::handle(&ctx, op, &input);
        tracing::debug!(operation = op, ok = output.is_ok(), "api call");
        output
    })();
    Outcome {
        protocol: Protocol::Cbor,
        operation: path.to_owned(),
        output,
    }
}

fn handle_query(shared: Arc<Shared>, verified: &auth::Verified, body: &[u8]) -> Outcome {
    let mut action = String::from("Unknown");
    let scope = Some(verified.service.as_str());
    let mut service = QueryService::of(scope, None);
    let output = (|| {
        let region = verified.region.clone();
        let request = query::parse(body)?;
        action = request.action.clone();
        service = QueryService::of(scope, request.version.as_deref());
        service.check_version(request.version.as_deref())?;
        let ctx = Ctx { shared, region };
        let output = match service {
            QueryService::Elbv2 => api::elbv2::handle(&ctx, &request.action, &request.params),
            QueryService::CloudWatch => {
                let mut output = api::cloudwatch::handle(&ctx, &request.action, &request.params);
                if let Ok(value) = &mut output {
                    let iso = |seconds: f64| {
                        let at = std::time::UNIX_EPOCH
                            + std::time::Duration::from_secs_f64(seconds.max(0.0));
                        serde_json::Value::String(iso8601(at))
                    };
                    map_timestamps(value, api::cloudwatch::TIMESTAMPS, &iso);
                }
                output
            }
        };
        tracing::debug!(action = %request.action, ok = output.is_ok(), "api call");
        output
    })();
    Outcome {
        protocol: Protocol::Query(service),
        operation: action,
        output,
    }
}
