//! A recording proxy on 127.0.0.1 between the SDK clients and local-ecs: it forwards each
//! request unchanged (the SigV4 signature covers the proxy's `Host`, which local-ecs accepts
//! as any loopback host), and keeps the raw answer (status, headers, body) with the
//! operation it answered, told from `X-Amz-Target`, the CBOR path or the form's `Action`.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;

use super::check::{Exchange, Protocol};

/// A running proxy and what it recorded.
pub struct Recorder {
    pub port: u16,
    recorded: Arc<Mutex<Vec<Exchange>>>,
    task: tokio::task::JoinHandle<()>,
}

/// The JSON target prefixes and the SigV4 names of the services, by botocore name.
const JSON_PREFIXES: [(&str, &str); 2] = [
    ("AmazonEC2ContainerServiceV20141113", "ecs"),
    ("AmazonEC2ContainerRegistry_V20150921", "ecr"),
];
const SIGNING_NAMES: [(&str, &str); 2] = [
    ("elasticloadbalancing", "elbv2"),
    ("monitoring", "cloudwatch"),
];

impl Recorder {
    /// Starts a proxy in front of local-ecs on `upstream`.
    pub async fn start(upstream: u16) -> Recorder {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the proxy");
        let port = listener.local_addr().expect("proxy address").port();
        let recorded = Arc::new(Mutex::new(Vec::new()));
        let keep = recorded.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let keep = keep.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let keep = keep.clone();
                        async move {
                            Ok::<_, std::convert::Infallible>(forward(upstream, req, &keep).await)
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Recorder {
            port,
            recorded,
            task,
        }
    }

    /// `http://127.0.0.1:PORT`, the endpoint for SDK clients.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Everything recorded so far.
    pub fn recorded(&self) -> Vec<Exchange> {
        self.recorded.lock().expect("recordings").clone()
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Sends `req` to local-ecs and records its answer; a failure to reach it is a 502.
async fn forward(
    upstream: u16,
    req: Request<Incoming>,
    keep: &Mutex<Vec<Exchange>>,
) -> Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let body = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => return bad_gateway(&format!("read the request: {e}")),
    };
    let operation = operation_of(&parts, &body);
    let request = Request::from_parts(parts, Full::new(body));
    let answer = match send(upstream, request).await {
        Ok(answer) => answer,
        Err(e) => return bad_gateway(&e),
    };
    let (mut parts, body) = answer.into_parts();
    if let Some((service, operation, protocol)) = operation {
        let headers = parts
            .headers
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        keep.lock().expect("recordings").push(Exchange {
            service,
            operation,
            protocol,
            status: parts.status.as_u16(),
            headers,
            body: body.to_vec(),
        });
    }
    // The body is whole now: hyper frames it anew.
    parts.headers.remove(http::header::TRANSFER_ENCODING);
    Response::from_parts(parts, Full::new(body))
}

async fn send(upstream: u16, request: Request<Full<Bytes>>) -> Result<Response<Bytes>, String> {
    let stream = tokio::net::TcpStream::connect(("127.0.0.1", upstream))
        .await
        .map_err(|e| format!("connect to local-ecs: {e}"))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    tokio::spawn(connection);
    let answer = sender
        .send_request(request)
        .await
        .map_err(|e| format!("forward: {e}"))?;
    let (parts, body) = answer.into_parts();
    let body = body
        .collect()
        .await
        .map_err(|e| format!("read the answer: {e}"))?
        .to_bytes();
    Ok(Response::from_parts(parts, body))
}

fn bad_gateway(why: &str) -> Response<Full<Bytes>> {
    let mut answer = Response::new(Full::new(Bytes::from(why.to_owned())));
    *answer.status_mut() = http::StatusCode::BAD_GATEWAY;
    answer
}

/// (service, operation, protocol) of an API request; `None` for the registry.
fn operation_of(parts: &http::request::Parts, body: &[u8]) -> Option<(String, String, Protocol)> {
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
    let path = parts.uri.path();
    if path.starts_with("/v2") {
        return None;
    }
    if let Some(rest) = path.strip_prefix("/service/") {
        let (_, operation) = rest.split_once("/operation/")?;
        return Some(("cloudwatch".into(), operation.to_owned(), Protocol::Cbor));
    }
    if let Some(target) = header("x-amz-target") {
        let (prefix, operation) = target.split_once('.')?;
        let service = JSON_PREFIXES
            .iter()
            .find(|(p, _)| *p == prefix)
            .map(|(_, s)| *s)
            .unwrap_or("cloudwatch");
        return Some((service.into(), operation.to_owned(), Protocol::Json));
    }
    // awsQuery: the service from the credential scope, the operation from `Action`.
    let scope = header("authorization")?.split("Credential=").nth(1)?;
    let signing = scope.split('/').nth(3)?;
    let service = SIGNING_NAMES.iter().find(|(n, _)| *n == signing)?.1;
    let action = serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
        .ok()?
        .into_iter()
        .find(|(k, _)| k == "Action")?
        .1;
    Some((service.into(), action, Protocol::Query))
}
