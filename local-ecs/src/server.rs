//! The one HTTP endpoint on 127.0.0.1: the registry under `/v2/`, awsJson1_1 (ECS, ECR)
//! selected by `X-Amz-Target`, and awsQuery (ELBv2) form posts.

use std::convert::Infallible;
use std::sync::Arc;

use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

use crate::api::{self, Ctx};
use crate::error::ApiError;
use crate::protocol::json::{self, JsonService};
use crate::protocol::{Body, auth, full, query};
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

async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Response<Body> {
    if req.uri().path() == "/v2" || req.uri().path().starts_with("/v2/") {
        return crate::registry::handle(shared, req).await;
    }
    let request_id = crate::ids::uuid();
    if req.method() == Method::GET && req.uri().path() == "/" {
        let mut response = Response::new(full(format!(
            "local-ecs: ECS and ECR (awsJson1_1, POST / with X-Amz-Target), ELBv2 (awsQuery, \
             POST / form) and an OCI registry (/v2/) on http://127.0.0.1:{}\n",
            shared.port
        )));
        response.headers_mut().insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        return response;
    }
    let target = req
        .headers()
        .get("x-amz-target")
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned);
    let authorization = req
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned);
    let is_post = req.method() == Method::POST;
    let body = match http_body_util::Limited::new(req.into_body(), MAX_API_BODY)
        .collect()
        .await
    {
        Ok(body) => body.to_bytes(),
        Err(err) => {
            let e = ApiError::new(
                "SerializationException",
                format!("cannot read the request body: {err}"),
            );
            return json::error(&e, &request_id);
        }
    };
    if !is_post {
        let mut response = Response::new(full("local-ecs: the AWS APIs are served by POST /\n"));
        *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
        return response;
    }
    match target {
        Some(target) => handle_json(
            shared,
            &target,
            authorization.as_deref(),
            &body,
            &request_id,
        ),
        None => handle_query(shared, authorization.as_deref(), &body, &request_id),
    }
}

fn handle_json(
    shared: Arc<Shared>,
    target: &str,
    authorization: Option<&str>,
    body: &[u8],
    request_id: &str,
) -> Response<Body> {
    let result = (|| {
        let region = auth::region_from_authorization(authorization)?;
        let (service, op) = json::parse_target(target)?;
        let input = json::parse_body(body)?;
        let ctx = Ctx { shared, region };
        let output = match service {
            JsonService::Ecs => api::ecs::handle(&ctx, op, &input),
            JsonService::Ecr => api::ecr::handle(&ctx, op, &input),
        };
        tracing::debug!(operation = op, ok = output.is_ok(), "api call");
        output
    })();
    match result {
        Ok(output) => json::ok(&output, request_id),
        Err(err) => {
            tracing::debug!(target, code = %err.code, "{}", err.message);
            json::error(&err, request_id)
        }
    }
}

fn handle_query(
    shared: Arc<Shared>,
    authorization: Option<&str>,
    body: &[u8],
    request_id: &str,
) -> Response<Body> {
    let mut action = String::from("Unknown");
    let result = (|| {
        let region = auth::region_from_authorization(authorization).map_err(|e| ApiError {
            code: "MissingAuthenticationToken".into(),
            ..e
        })?;
        let request = query::parse(body)?;
        action = request.action.clone();
        let ctx = Ctx { shared, region };
        let output = api::elbv2::handle(&ctx, &request.action, &request.params);
        tracing::debug!(action = %request.action, ok = output.is_ok(), "api call");
        output
    })();
    match result {
        Ok(output) => query::ok(&action, &output, request_id),
        Err(err) => {
            tracing::debug!(%action, code = %err.code, "{}", err.message);
            query::error(&err, request_id)
        }
    }
}
