//! With every log at TRACE (as `RUST_LOG=trace` gives), an ECR login and a push with it leave
//! the password in no log line and no `Debug`/`Display` of a type deploy-sdk hands out. The
//! SDK talks to a wiremock ECR on 127.0.0.1 through its real HTTP client, and the push goes to
//! a wiremock registry that insists on the credential (Basic, and Bearer after a token
//! exchange). A control call without deploy-sdk's protection shows the capture does see the
//! SDK's trace logs of a body — so a leak would show here.
//!
//! One test in this file: it installs the process-wide subscriber and sets
//! `LOG_SENSITIVE_BODIES=true` (the SDK's opt-in to logging sensitive bodies), which must not
//! bring the token back either.

use std::io::Write;
use std::sync::{Arc, Mutex};

use base64::Engine;
use deploy_sdk::ecr::registry_auth;
use deploy_sdk::image::{ImageSpec, RegistryLogin, push};
use deploy_sdk::registry::ImageRef;
use deploy_sdk::{AwsOptions, Clients};
use tracing_subscriber::fmt::MakeWriter;
use wiremock::matchers::{header, method, path, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

const PASSWORD: &str = "eyJwYXlsb2FkIjoidG9wLXNlY3JldC1wYXNzd29yZCJ9";
const BEARER: &str = "registry-bearer-token-0f9e8d7c6b5a";
const PROXY_ENDPOINT: &str = "https://123456789012.dkr.ecr.us-east-1.amazonaws.com";

fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// Every form the secret could take in a log.
fn secrets() -> [String; 4] {
    [
        PASSWORD.to_owned(),
        b64(&format!("AWS:{PASSWORD}")), // the ECR token, and the Basic credential
        b64(PASSWORD),
        BEARER.to_owned(),
    ]
}

/// Where the subscriber writes: a buffer the test reads.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Logs {
    fn take(&self) -> String {
        String::from_utf8_lossy(&std::mem::take(&mut *self.0.lock().unwrap())).into_owned()
    }
}

impl Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Logs {
    type Writer = Logs;

    fn make_writer(&'a self) -> Logs {
        self.clone()
    }
}

fn assert_no_secret(what: &str, text: &str) {
    for secret in secrets() {
        assert!(!text.contains(&secret), "{what} holds {secret:?}:\n{text}");
    }
}

/// ECR's endpoint, answering GetAuthorizationToken with the token of `AWS:PASSWORD`.
async fn ecr() -> MockServer {
    let server = MockServer::start().await;
    let answer = serde_json::json!({ "authorizationData": [{
        "authorizationToken": b64(&format!("AWS:{PASSWORD}")),
        "expiresAt": 1_800_000_000.0,
        "proxyEndpoint": PROXY_ENDPOINT,
    }]});
    Mock::given(method("POST"))
        .and(header(
            "x-amz-target",
            "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken",
        ))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(answer.to_string(), "application/x-amz-json-1.1"),
        )
        .mount(&server)
        .await;
    server
}

/// A registry that takes only `authorization` (Basic, or Bearer after a token exchange).
async fn registry(bearer: bool) -> MockServer {
    let server = MockServer::start().await;
    let basic = format!("Basic {}", b64(&format!("AWS:{PASSWORD}")));
    let challenge = if bearer {
        format!(r#"Bearer realm="{}/token",service="local""#, server.uri())
    } else {
        r#"Basic realm="local""#.to_owned()
    };
    let authorization = if bearer {
        Mock::given(method("GET"))
            .and(path("/token"))
            .and(header("authorization", basic.as_str()))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(serde_json::json!({ "token": BEARER, "expires_in": 300 })),
            )
            .mount(&server)
            .await;
        format!("Bearer {BEARER}")
    } else {
        basic
    };
    Mock::given(method("HEAD"))
        .and(path_regex("^/v2/hello/blobs/sha256:[0-9a-f]{64}$"))
        .and(header("authorization", authorization.as_str()))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path("/v2/hello/manifests/v1"))
        .and(header("authorization", authorization.as_str()))
        .respond_with(
            ResponseTemplate::new(201).insert_header("location", "/v2/hello/manifests/v1"),
        )
        .mount(&server)
        .await;
    // Anything else, the probe of /v2/ first: the challenge.
    Mock::given(wiremock::matchers::any())
        .respond_with(ResponseTemplate::new(401).insert_header("www-authenticate", challenge))
        .with_priority(u8::MAX)
        .mount(&server)
        .await;
    server
}

async fn clients(ecr: &MockServer) -> Clients {
    Clients::load(&AwsOptions {
        region: Some("us-east-1".into()),
        endpoint_url: Some(ecr.uri()),
        dummy_credentials: true,
        ..AwsOptions::default()
    })
    .await
}

async fn push_with(login: &RegistryLogin, bearer: bool, logs: &Logs) {
    let server = registry(bearer).await;
    let created = time::OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
    let image = ImageSpec::for_static_binary("hello", &b"\x7fELF"[..], 8080, created)
        .build()
        .unwrap();
    let host = server.uri().trim_start_matches("http://").to_owned();
    let repository = ImageRef::parse(&format!("{host}/hello")).unwrap();

    let pushed = push(&image, &repository, &["v1".to_owned()], Some(login)).await;

    let pushed = pushed.unwrap_or_else(|e| panic!("bearer={bearer}: {e}"));
    assert_no_secret("the push report", &format!("{pushed:?} {pushed:#?}"));
    let requests = server.received_requests().await.unwrap();
    let sent = |value: &str| {
        requests.iter().any(|r| {
            r.headers
                .get("authorization")
                .is_some_and(|h| h.to_str().unwrap().ends_with(value))
        })
    };
    assert!(sent(&b64(&format!("AWS:{PASSWORD}"))), "the login was sent");
    assert!(!bearer || sent(BEARER), "the bearer token was used");
    let logged = logs.take();
    assert!(
        logged.contains("Pushing image") || logged.contains("push manifest"),
        "{logged}"
    );
    assert_no_secret(&format!("the push's logs (bearer={bearer})"), &logged);
}

#[test]
fn the_ecr_password_never_reaches_trace_logs() {
    // SAFETY: the only test of this process, before its runtime starts a thread.
    unsafe { std::env::set_var("LOG_SENSITIVE_BODIES", "true") };
    let logs = Logs::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(logs.clone())
        .finish();
    tracing::subscriber::set_global_default(subscriber).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let ecr = ecr().await;
        let clients = clients(&ecr).await;

        // The control: the SDK alone logs the token at trace level.
        clients.ecr.get_authorization_token().send().await.unwrap();
        let unprotected = logs.take();
        assert!(
            unprotected.contains(&b64(&format!("AWS:{PASSWORD}"))),
            "the capture misses the SDK's trace logs:\n{unprotected}"
        );

        let auth = registry_auth(&clients.ecr).await.unwrap();
        assert_eq!(auth.login.password.expose(), PASSWORD);
        assert_eq!(auth.login.username, "AWS");
        let logged = logs.take();
        // The answer was logged — its body and its parsed output — without the token.
        assert!(logged.contains("read HTTP response body"), "{logged}");
        assert!(logged.contains(PROXY_ENDPOINT), "{logged}");
        assert_no_secret("the login's logs", &logged);
        let printed = format!(
            "{auth:?} {auth:#?} {:?} {} {:?}",
            auth.login, auth.login.password, auth.login.password
        );
        assert_no_secret(
            "Debug/Display of RegistryAuth, RegistryLogin, Secret",
            &printed,
        );

        push_with(&auth.login, false, &logs).await;
        push_with(&auth.login, true, &logs).await;
    });
}
