//! Listeners as real HTTP reverse proxies, one loopback port each: rules (by priority) then
//! the default action; a weighted forward action picks its target group by smooth weighted
//! round robin; forward to healthy targets round robin (failing open to all targets
//! when none is healthy, 503 when there are none); X-Forwarded-For/Proto/Port; no retries —
//! a failing target gives the client 502 or 504, as an ALB does. A client connection that sends
//! no complete request header for [`Timing::listener_idle_timeout`](crate::shared::Timing) (60 s,
//! an ALB's idle timeout) is closed.

use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use rand::Rng;
use serde_json::Value;
use tokio::net::TcpStream;

use crate::protocol::{Body, BoxError, full};
use crate::shared::Shared;
use crate::state::{State, TargetState};

/// How long a connection to a target may take (an ALB's is 10 s).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a target may take to answer (an ALB's default idle timeout, 60 s).
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(60);

/// Binds a listener's port on 127.0.0.1 and starts proxying. Tries `previous` (the port of
/// an earlier run), then `requested` when it is ≥ 1024, then an ephemeral port. Returns the
/// port bound.
pub fn start_listener(
    shared: &Arc<Shared>,
    listener_arn: &str,
    requested: u16,
    previous: Option<u16>,
) -> std::io::Result<u16> {
    let mut candidates = Vec::new();
    candidates.extend(previous);
    if requested >= 1024 {
        candidates.push(requested);
    }
    candidates.push(0);
    let mut last_error = None;
    for port in candidates {
        match std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, port)) {
            Ok(listener) => {
                listener.set_nonblocking(true)?;
                let bound = listener.local_addr()?.port();
                let listener = tokio::net::TcpListener::from_std(listener)?;
                let task = tokio::spawn(accept_loop(
                    shared.clone(),
                    listener_arn.to_owned(),
                    listener,
                    bound,
                ));
                if let Some(old) = shared
                    .proxies
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(listener_arn.to_owned(), task)
                {
                    old.abort();
                }
                tracing::info!(
                    listener = listener_arn,
                    port = bound,
                    "listener serving on http://127.0.0.1:{bound}"
                );
                return Ok(bound);
            }
            Err(err) => last_error = Some(err),
        }
    }
    Err(last_error.unwrap_or_else(|| std::io::Error::other("no port to bind")))
}

async fn accept_loop(
    shared: Arc<Shared>,
    listener_arn: String,
    listener: tokio::net::TcpListener,
    port: u16,
) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(conn) => conn,
            Err(err) => {
                tracing::warn!(%err, "listener accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let shared = shared.clone();
        let listener_arn = listener_arn.clone();
        let closed = shared.closed();
        let idle_timeout = shared.timing.listener_idle_timeout;
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let shared = shared.clone();
                let listener_arn = listener_arn.clone();
                async move { Ok::<_, Infallible>(proxy(&shared, &listener_arn, port, peer, req).await) }
            });
            // Slow or idle clients are closed, as an ALB's idle timeout does: hyper's header
            // timer runs while a request head is awaited, whether it trickles in or the
            // keep-alive connection is idle between requests.
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(idle_timeout)
                .serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                _ = connection => {}
                _ = closed => {}
            }
        });
    }
}

/// What a listener does with a request.
#[derive(Debug, Clone, PartialEq)]
enum Decision {
    /// Send it to this target port.
    Forward(u16),
    /// The target group has no targets: 503.
    NoTargets,
    /// A fixed response.
    Fixed(u16, String, String),
    /// A redirect.
    Redirect(u16, String),
    /// The listener was deleted.
    Gone,
}

async fn proxy(
    shared: &Shared,
    listener_arn: &str,
    listener_port: u16,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Response<Body> {
    let decision = {
        let mut state = shared.lock();
        decide(&mut state, listener_arn, listener_port, &req)
    };
    match decision {
        Decision::Forward(port) => forward(port, listener_port, peer, req).await,
        Decision::NoTargets | Decision::Gone => elb_error(StatusCode::SERVICE_UNAVAILABLE),
        Decision::Fixed(status, content_type, body) => {
            let mut response = Response::new(full(body));
            *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
            if let Ok(ct) = HeaderValue::from_str(&content_type) {
                response
                    .headers_mut()
                    .insert(http::header::CONTENT_TYPE, ct);
            }
            server_header(response)
        }
        Decision::Redirect(status, location) => {
            let mut response = Response::new(full(""));
            *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::FOUND);
            if let Ok(location) = HeaderValue::from_str(&location) {
                response
                    .headers_mut()
                    .insert(http::header::LOCATION, location);
            }
            server_header(response)
        }
    }
}

fn decide(
    state: &mut State,
    listener_arn: &str,
    listener_port: u16,
    req: &Request<Incoming>,
) -> Decision {
    let Some(listener) = state.listeners.iter().find(|l| l.arn == listener_arn) else {
        return Decision::Gone;
    };
    let mut rules: Vec<&crate::state::Rule> = state
        .rules
        .iter()
        .filter(|r| r.listener_arn == listener_arn)
        .collect();
    rules.sort_by_key(|r| r.priority);
    let (rule_key, actions) = rules
        .into_iter()
        .find(|r| conditions_match(&r.conditions, req))
        .map(|r| (r.arn.clone(), r.actions.clone()))
        .unwrap_or_else(|| (listener.arn.clone(), listener.default_actions.clone()));
    let mut actions: Vec<Value> = actions.as_array().cloned().unwrap_or_default();
    actions.sort_by_key(|a| a.get("Order").and_then(Value::as_i64).unwrap_or(i64::MAX));
    let Some(action) = actions.into_iter().next() else {
        return Decision::NoTargets;
    };
    match action.get("Type").and_then(Value::as_str) {
        Some("forward") => {
            let Some(tg_arn) = pick_target_group(&mut state.forward_rounds, &rule_key, &action)
            else {
                return Decision::NoTargets;
            };
            match state.target_group_mut(&tg_arn) {
                Some(tg) => pick_target(tg).map_or(Decision::NoTargets, Decision::Forward),
                None => Decision::NoTargets,
            }
        }
        Some("fixed-response") => {
            let config = action
                .get("FixedResponseConfig")
                .cloned()
                .unwrap_or_default();
            let text = |k: &str| config.get(k).and_then(Value::as_str).map(str::to_owned);
            Decision::Fixed(
                text("StatusCode")
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(200),
                text("ContentType").unwrap_or_else(|| "text/plain; charset=utf-8".into()),
                text("MessageBody").unwrap_or_default(),
            )
        }
        Some("redirect") => {
            let config = action.get("RedirectConfig").cloned().unwrap_or_default();
            redirect(&config, listener_port, req)
        }
        _ => Decision::NoTargets,
    }
}

/// A weighted choice among the forward action's target groups, by smooth weighted round
/// robin (as nginx does) kept per listener rule in `rounds`: over any run of requests each
/// group's share is its weight's to within one request, so a 10 % canary gets 10 %.
fn pick_target_group(
    rounds: &mut std::collections::BTreeMap<String, Vec<i64>>,
    key: &str,
    action: &Value,
) -> Option<String> {
    let groups: Vec<(String, i64)> = action
        .pointer("/ForwardConfig/TargetGroups")
        .and_then(Value::as_array)
        .map(|groups| {
            groups
                .iter()
                .filter_map(|g| {
                    Some((
                        g.get("TargetGroupArn")?.as_str()?.to_owned(),
                        g.get("Weight").and_then(Value::as_i64).unwrap_or(1).max(0),
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    if groups.is_empty() {
        return action
            .get("TargetGroupArn")
            .and_then(Value::as_str)
            .map(str::to_owned);
    }
    let total: i64 = groups.iter().map(|(_, w)| w).sum();
    if total == 0 {
        return None;
    }
    let current = rounds.entry(key.to_owned()).or_default();
    if current.len() != groups.len() {
        *current = vec![0; groups.len()];
    }
    for (c, (_, w)) in current.iter_mut().zip(&groups) {
        *c += w;
    }
    let (best, _) = current
        .iter()
        .enumerate()
        .max_by_key(|(i, c)| (**c, std::cmp::Reverse(*i)))?;
    current[best] -= total;
    Some(groups[best].0.clone())
}

/// Round robin over healthy targets; over every target that is not draining when none is
/// healthy (an ALB fails open); `None` when there is nothing to send to.
fn pick_target(tg: &mut crate::state::TargetGroup) -> Option<u16> {
    let healthy: Vec<u16> = tg
        .targets
        .iter()
        .filter(|t| matches!(t.state, TargetState::Healthy | TargetState::Unavailable))
        .map(|t| t.port)
        .collect();
    let candidates = if healthy.is_empty() {
        tg.targets
            .iter()
            .filter(|t| t.state != TargetState::Draining)
            .map(|t| t.port)
            .collect()
    } else {
        healthy
    };
    if candidates.is_empty() {
        return None;
    }
    tg.next_target = tg.next_target.wrapping_add(1);
    Some(candidates[tg.next_target % candidates.len()])
}

/// ALB wildcard matching: `*` any run of characters, `?` exactly one.
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

fn condition_values(c: &Value, config: &str) -> Vec<String> {
    c.pointer(&format!("/{config}/Values"))
        .and_then(Value::as_array)
        .map(|vs| {
            vs.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

fn conditions_match<B>(conditions: &Value, req: &Request<B>) -> bool {
    let Some(conditions) = conditions.as_array() else {
        return false;
    };
    conditions
        .iter()
        .all(|c| match c.get("Field").and_then(Value::as_str) {
            Some("path-pattern") => condition_values(c, "PathPatternConfig")
                .iter()
                .any(|p| wildcard_match(p, req.uri().path())),
            Some("host-header") => {
                let host = request_host(req).to_ascii_lowercase();
                condition_values(c, "HostHeaderConfig")
                    .iter()
                    .any(|p| wildcard_match(&p.to_ascii_lowercase(), &host))
            }
            Some("http-request-method") => condition_values(c, "HttpRequestMethodConfig")
                .iter()
                .any(|m| m == req.method().as_str()),
            Some("http-header") => {
                let name = c
                    .pointer("/HttpHeaderConfig/HttpHeaderName")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let values: Vec<String> = req
                    .headers()
                    .get_all(name)
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .map(str::to_ascii_lowercase)
                    .collect();
                condition_values(c, "HttpHeaderConfig").iter().any(|p| {
                    values
                        .iter()
                        .any(|v| wildcard_match(&p.to_ascii_lowercase(), v))
                })
            }
            _ => false,
        })
}

fn request_host<B>(req: &Request<B>) -> String {
    let host = req
        .headers()
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| req.uri().host())
        .unwrap_or("127.0.0.1");
    host.rsplit_once(':')
        .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
        .map(|(h, _)| h)
        .unwrap_or(host)
        .to_owned()
}

fn redirect<B>(config: &Value, listener_port: u16, req: &Request<B>) -> Decision {
    let text = |k: &str, d: &str| {
        config
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or(d)
            .to_owned()
    };
    let path = req.uri().path().trim_start_matches('/').to_owned();
    let query = req.uri().query().unwrap_or("").to_owned();
    let host = request_host(req);
    let expand = |s: String| {
        s.replace("#{protocol}", "http")
            .replace("#{port}", &listener_port.to_string())
            .replace("#{host}", &host)
            .replace("#{path}", &path)
            .replace("#{query}", &query)
    };
    let protocol = expand(text("Protocol", "#{protocol}")).to_ascii_lowercase();
    let port = expand(text("Port", "#{port}"));
    let mut location = format!(
        "{protocol}://{}:{port}{}",
        expand(text("Host", "#{host}")),
        expand(text("Path", "/#{path}"))
    );
    let query = expand(text("Query", "#{query}"));
    if !query.is_empty() {
        location.push('?');
        location.push_str(&query);
    }
    let status = if text("StatusCode", "HTTP_302") == "HTTP_301" {
        301
    } else {
        302
    };
    Decision::Redirect(status, location)
}

const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let listed: Vec<String> = headers
        .get_all(http::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(',').map(|s| s.trim().to_ascii_lowercase()))
        .collect();
    for name in HOP_BY_HOP.iter().map(|s| s.to_string()).chain(listed) {
        headers.remove(name.as_str());
    }
}

async fn forward(
    port: u16,
    listener_port: u16,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Response<Body> {
    let (mut parts, body) = req.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    let forwarded_for = match parts
        .headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
    {
        Some(prior) => format!("{prior}, {}", peer.ip()),
        None => peer.ip().to_string(),
    };
    let headers = &mut parts.headers;
    if let Ok(v) = HeaderValue::from_str(&forwarded_for) {
        headers.insert("x-forwarded-for", v);
    }
    headers.insert("x-forwarded-proto", HeaderValue::from_static("http"));
    if let Ok(v) = HeaderValue::from_str(&listener_port.to_string()) {
        headers.insert("x-forwarded-port", v);
    }
    if !headers.contains_key("x-amzn-trace-id") {
        let epoch = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let random: u128 = rand::rng().random();
        let trace = format!("Root=1-{epoch:08x}-{:024x}", random & ((1u128 << 96) - 1));
        if let Ok(v) = HeaderValue::from_str(&trace) {
            headers.insert("x-amzn-trace-id", v);
        }
    }
    let path_and_query = parts
        .uri
        .path_and_query()
        .map(|pq| pq.as_str().to_owned())
        .unwrap_or_else(|| "/".into());
    parts.uri = match path_and_query.parse() {
        Ok(uri) => uri,
        Err(_) => return elb_error(StatusCode::BAD_REQUEST),
    };
    let upstream = Request::from_parts(parts, body);

    let stream = match tokio::time::timeout(
        CONNECT_TIMEOUT,
        TcpStream::connect(("127.0.0.1", port)),
    )
    .await
    {
        Ok(Ok(stream)) => stream,
        Ok(Err(_)) => return elb_error(StatusCode::BAD_GATEWAY),
        Err(_) => return elb_error(StatusCode::GATEWAY_TIMEOUT),
    };
    let _ = stream.set_nodelay(true);
    let (mut sender, connection) =
        match hyper::client::conn::http1::handshake(TokioIo::new(stream)).await {
            Ok(pair) => pair,
            Err(_) => return elb_error(StatusCode::BAD_GATEWAY),
        };
    tokio::spawn(async move {
        let _ = connection.await;
    });
    match tokio::time::timeout(RESPONSE_TIMEOUT, sender.send_request(upstream)).await {
        Ok(Ok(response)) => {
            let (mut parts, body) = response.into_parts();
            strip_hop_by_hop(&mut parts.headers);
            Response::from_parts(parts, body.map_err(|e| Box::new(e) as BoxError).boxed())
        }
        Ok(Err(_)) => elb_error(StatusCode::BAD_GATEWAY),
        Err(_) => elb_error(StatusCode::GATEWAY_TIMEOUT),
    }
}

fn server_header(mut response: Response<Body>) -> Response<Body> {
    response
        .headers_mut()
        .insert(http::header::SERVER, HeaderValue::from_static("awselb/2.0"));
    response
}

/// The small HTML page an ALB answers with when it cannot forward.
fn elb_error(status: StatusCode) -> Response<Body> {
    let title = format!(
        "{} {}",
        status.as_u16(),
        status.canonical_reason().unwrap_or("")
    );
    let body = format!(
        "<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n</body>\r\n</html>\r\n"
    );
    let mut response = Response::new(full(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/html"),
    );
    server_header(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weighted_forward_shares_follow_the_weights() {
        let action = serde_json::json!({"Type": "forward", "ForwardConfig": {"TargetGroups": [
            {"TargetGroupArn": "blue", "Weight": 90}, {"TargetGroupArn": "green", "Weight": 10},
            {"TargetGroupArn": "off", "Weight": 0}]}});
        let mut rounds = Default::default();
        let picks: Vec<String> = (0..200)
            .filter_map(|_| pick_target_group(&mut rounds, "rule", &action))
            .collect();
        let green = picks.iter().filter(|p| *p == "green").count();
        assert_eq!((picks.len(), green), (200, 20));
        assert!(!picks.iter().any(|p| p == "off"));
        let none = serde_json::json!({"Type": "forward", "ForwardConfig": {"TargetGroups": [
            {"TargetGroupArn": "blue", "Weight": 0}]}});
        assert_eq!(pick_target_group(&mut rounds, "other", &none), None);
    }

    #[test]
    fn wildcards_work_like_alb_path_patterns() {
        assert!(wildcard_match("/hello/*", "/hello/world"));
        assert!(wildcard_match("/hello/*", "/hello/"));
        assert!(!wildcard_match("/hello/*", "/hello"));
        assert!(wildcard_match("*", "/anything"));
        assert!(wildcard_match("/a?c", "/abc"));
        assert!(!wildcard_match("/a?c", "/abbc"));
        assert!(wildcard_match("/img/*.png", "/img/x/y.png"));
        assert!(!wildcard_match("/Hello/*", "/hello/x"));
    }

    #[test]
    fn conditions_match_paths_and_hosts() {
        let req = Request::builder()
            .uri("/hello/x?y=1")
            .header("host", "Example.com:8080")
            .body(())
            .unwrap();
        let path = serde_json::json!([{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/hello/*"]}}]);
        assert!(conditions_match(&path, &req));
        let host = serde_json::json!([{"Field": "host-header", "HostHeaderConfig": {"Values": ["*.com"]}}]);
        assert!(conditions_match(&host, &req));
        let both = serde_json::json!([
            {"Field": "path-pattern", "PathPatternConfig": {"Values": ["/other"]}},
            {"Field": "host-header", "HostHeaderConfig": {"Values": ["*.com"]}}
        ]);
        assert!(!conditions_match(&both, &req));
    }
}
