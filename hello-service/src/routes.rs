//! The HTTP routes: `/hello/{name}`, `/ping`, `/version` (and `/slow/{ms}` in test builds), for
//! GET and HEAD.

use std::time::{SystemTime, UNIX_EPOCH};

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, guard, web};

use crate::html;

/// Longest name `/hello/{name}` accepts, in bytes after decoding.
pub const MAX_NAME_BYTES: usize = 1024;

/// The build id as the [`crate::APP_VERSION_HEADER`] value, checked when compiling (build.rs
/// only emits tag characters).
pub const APP_VERSION_VALUE: HeaderValue = HeaderValue::from_static(crate::BUILD_ID);

/// What the handlers need, computed once at startup.
#[derive(Debug, Clone)]
pub struct Greeting {
    /// The greeting, HTML-escaped, ready to go into a body.
    html: String,
    /// The `/version` document.
    version_json: String,
    /// The server error `/hello/{name}` answers with instead (`HELLO_FAULT_STATUS`).
    fault: Option<StatusCode>,
}

impl Greeting {
    /// Prepares the answers for `greeting`.
    pub fn new(greeting: &str) -> Self {
        let version_json = serde_json::json!({
            "greeting": greeting,
            "version": crate::VERSION,
            "build": crate::BUILD_ID,
        })
        .to_string();
        Greeting {
            html: html::escape(greeting).into_owned(),
            version_json,
            fault: None,
        }
    }

    /// `/hello/{name}` answers with `status` (a server error, checked by the configuration)
    /// instead; `None`: no fault.
    pub fn with_fault(self, status: Option<u16>) -> Self {
        Greeting {
            fault: status.and_then(|s| StatusCode::from_u16(s).ok()),
            ..self
        }
    }
}

/// Registers every route on an actix `App` or scope.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(get_only("/hello/{name}", web::to(hello)))
        .service(get_only("/ping", web::to(ping)))
        .service(get_only("/version", web::to(version)));
    #[cfg(feature = "test-routes")]
    cfg.service(get_only("/slow/{ms}", web::to(slow)));
    cfg.default_service(web::to(not_found));
}

/// A resource that answers GET and HEAD (the same answer; actix sends no body for HEAD) and
/// gives 405 (with `Allow`) to every other method.
fn get_only(path: &str, route: actix_web::Route) -> actix_web::Resource {
    web::resource(path)
        .route(route.guard(guard::Any(guard::Get()).or(guard::Head())))
        .default_service(web::to(|| async {
            HttpResponse::MethodNotAllowed()
                .insert_header((header::ALLOW, "GET, HEAD"))
                .content_type(mime_text())
                .body("method not allowed\n")
        }))
}

fn mime_text() -> &'static str {
    "text/plain; charset=utf-8"
}

/// `GET /hello/{name}`: `"{greeting} {name}<br>\n<i>{unix_millis}</i>\n"`, with `name` decoded
/// strictly and HTML-escaped (the Express original reflected it raw: an XSS hole).
async fn hello(req: HttpRequest, greeting: web::Data<Greeting>) -> HttpResponse {
    if let Some(status) = greeting.fault {
        return HttpResponse::build(status)
            .content_type(mime_text())
            .body("fault injected by HELLO_FAULT_STATUS\n");
    }
    // The raw path, not actix's partly-decoded segment, so malformed escapes are caught here.
    let raw = req.uri().path().strip_prefix("/hello/").unwrap_or_default();
    if raw.len() > MAX_NAME_BYTES * 3 {
        return name_too_long();
    }
    let name = match html::percent_decode(raw) {
        Ok(name) => name,
        Err(html::DecodeError::BadEscape) => {
            return bad_request(
                "malformed percent-encoding in the name: use %XX with two hex digits\n",
            );
        }
        Err(html::DecodeError::NotUtf8) => {
            return bad_request("the name is not valid UTF-8 once percent-decoded\n");
        }
    };
    if name.len() > MAX_NAME_BYTES {
        return name_too_long();
    }
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    let body = format!(
        "{} {}<br>\n<i>{millis}</i>\n",
        greeting.html,
        html::escape(&name)
    );
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(body)
}

fn name_too_long() -> HttpResponse {
    HttpResponse::build(StatusCode::URI_TOO_LONG)
        .content_type(mime_text())
        .body(format!("the name is longer than {MAX_NAME_BYTES} bytes\n"))
}

fn bad_request(message: &'static str) -> HttpResponse {
    HttpResponse::BadRequest()
        .content_type(mime_text())
        .body(message)
}

/// `GET /ping`: the load balancer's health check.
async fn ping() -> HttpResponse {
    HttpResponse::Ok().content_type(mime_text()).body("ok")
}

/// `GET /version`: greeting, crate version and build id as JSON.
async fn version(greeting: web::Data<Greeting>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(greeting.version_json.clone())
}

async fn not_found() -> HttpResponse {
    HttpResponse::NotFound()
        .content_type(mime_text())
        .body("not found\n")
}

/// `GET /slow/{ms}`: sleeps, then answers; lets tests hold a request in flight.
#[cfg(feature = "test-routes")]
async fn slow(path: web::Path<u64>) -> HttpResponse {
    let ms = path.into_inner().min(60_000);
    tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
    HttpResponse::Ok()
        .content_type(mime_text())
        .body(format!("slept {ms} ms\n"))
}
