//! Who local-ecs serves: only requests addressed to a loopback host, only API requests signed
//! with the key it generated for its state directory (AWS's errors otherwise, in each
//! protocol's format), only registry requests with an ECR password; and its state directory
//! is private.

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, SystemTime};

use crate::common::*;
use aws_sdk_ecs::error::ProvideErrorMetadata;

const ECS_TARGET: &str = "AmazonEC2ContainerServiceV20141113.ListClusters";
const JSON: &str = "application/x-amz-json-1.1";
const FORM: &str = "application/x-www-form-urlencoded";
const QUERY_BODY: &[u8] = b"Action=DescribeLoadBalancers&Version=2015-12-01";

/// The status code of a raw answer.
fn status(raw: &str) -> u16 {
    raw.split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {raw:?}"))
}

/// A ListClusters (awsJson) request signed by `signer`.
fn list_clusters(env: &Env, signer: &Signer<'_>) -> Vec<u8> {
    sign_request(
        &env.host(),
        signer,
        "/",
        &[("x-amz-target", ECS_TARGET), ("content-type", JSON)],
        b"{}",
    )
}

/// A DescribeLoadBalancers (awsQuery) request signed by `signer`.
fn describe_load_balancers(env: &Env, signer: &Signer<'_>) -> Vec<u8> {
    sign_request(
        &env.host(),
        signer,
        "/",
        &[("content-type", FORM)],
        QUERY_BODY,
    )
}

fn signer<'a>(key_id: &'a str, secret: &'a str, service: &'a str) -> Signer<'a> {
    Signer {
        key_id,
        secret,
        service,
        time: SystemTime::now(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_host_is_refused_on_the_api_and_the_registry() {
    let mut env = Env::start().await;
    let good = env.signed_request(
        "ecs",
        "/",
        &[("x-amz-target", ECS_TARGET), ("content-type", JSON)],
        b"{}",
    );
    let raw = String::from_utf8(good.clone()).unwrap();
    let rebound = raw.replace(
        &format!("host: {}", env.host()),
        "host: rebound.example:4580",
    );
    assert_ne!(raw, rebound, "the request names its host");

    let answer = send_raw(env.port, rebound.as_bytes()).await;
    assert_eq!(status(&answer), 403, "{answer}");
    assert!(
        answer.contains("\"__type\":\"AccessDeniedException\""),
        "{answer}"
    );
    assert!(
        answer.contains("DNS rebinding") && answer.contains("rebound.example"),
        "{answer}"
    );

    let query = String::from_utf8(env.signed_request(
        "elasticloadbalancing",
        "/",
        &[("content-type", FORM)],
        QUERY_BODY,
    ))
    .unwrap();
    let answer = send_raw(
        env.port,
        query.replace(&env.host(), "evil.example").as_bytes(),
    )
    .await;
    assert_eq!(status(&answer), 403, "{answer}");
    assert!(answer.contains("<Code>AccessDenied</Code>"), "{answer}");

    let registry = "GET /v2/ HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n";
    let answer = send_raw(env.port, registry.as_bytes()).await;
    assert_eq!(status(&answer), 403, "{answer}");
    assert!(answer.contains("\"code\":\"DENIED\""), "{answer}");

    // The same signed request addressed to a loopback name is served; `localhost` too.
    let answer = send_raw(env.port, &good).await;
    assert_eq!(status(&answer), 200, "{answer}");
    let local = sign_request(
        &format!("localhost:{}", env.port),
        &signer(
            env.credentials.access_key_id(),
            env.credentials.secret_access_key(),
            "ecs",
        ),
        "/",
        &[("x-amz-target", ECS_TARGET), ("content-type", JSON)],
        b"{}",
    );
    let answer = send_raw(env.port, &local).await;
    assert_eq!(status(&answer), 200, "{answer}");
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsigned_wrongly_signed_and_malformed_requests_get_aws_errors() {
    let mut env = Env::start().await;
    let key = env.credentials.access_key_id().to_owned();
    let secret = env.credentials.secret_access_key().to_owned();
    let stranger = "AKIAIOSFODNN7EXAMPLE";
    let old = SystemTime::now() - Duration::from_secs(20 * 60);
    let cases: Vec<(&str, Vec<u8>, u16, &str, &str)> = vec![
        (
            "unsigned",
            format!(
                "POST / HTTP/1.1\r\nHost: {}\r\nX-Amz-Target: {ECS_TARGET}\r\nContent-Type: \
                 {JSON}\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}",
                env.host()
            )
            .into_bytes(),
            403,
            "MissingAuthenticationTokenException",
            "Missing Authentication Token",
        ),
        (
            "wrong key id",
            list_clusters(&env, &signer(stranger, &secret, "ecs")),
            400,
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        ),
        (
            "wrong secret",
            list_clusters(&env, &signer(&key, "not-the-secret", "ecs")),
            400,
            "InvalidSignatureException",
            "The request signature we calculated does not match the signature you provided.",
        ),
        (
            "signed 20 minutes ago",
            list_clusters(
                &env,
                &Signer {
                    time: old,
                    ..signer(&key, &secret, "ecs")
                },
            ),
            400,
            "InvalidSignatureException",
            "Signature expired",
        ),
        (
            "malformed",
            format!(
                "POST / HTTP/1.1\r\nHost: {}\r\nX-Amz-Target: {ECS_TARGET}\r\nContent-Type: \
                 {JSON}\r\nAuthorization: AWS4-HMAC-SHA256 Credential={key}/us-east-1\r\n\
                 X-Amz-Date: 20260101T000000Z\r\nContent-Length: 2\r\nConnection: \
                 close\r\n\r\n{{}}",
                env.host()
            )
            .into_bytes(),
            400,
            "IncompleteSignature",
            "Authorization header requires 'Signature' parameter.",
        ),
    ];
    for (what, request, want_status, code, message) in cases {
        let answer = send_raw(env.port, &request).await;
        assert_eq!(status(&answer), want_status, "{what}: {answer}");
        assert!(
            answer.contains(&format!("\"__type\":\"{code}\"")),
            "{what}: {answer}"
        );
        assert!(
            answer
                .to_ascii_lowercase()
                .contains(&format!("x-amzn-errortype: {}", code.to_ascii_lowercase())),
            "{what}: {answer}"
        );
        assert!(answer.contains(message), "{what}: {answer}");
    }

    // awsQuery names them as the query services do, in XML.
    for (what, request, want_status, code) in [
        (
            "wrong key id",
            describe_load_balancers(&env, &signer(stranger, &secret, "elasticloadbalancing")),
            403,
            "InvalidClientTokenId",
        ),
        (
            "wrong secret",
            describe_load_balancers(&env, &signer(&key, "nope", "elasticloadbalancing")),
            403,
            "SignatureDoesNotMatch",
        ),
    ] {
        let answer = send_raw(env.port, &request).await;
        assert_eq!(status(&answer), want_status, "{what}: {answer}");
        assert!(
            answer.contains(&format!("<Code>{code}</Code>")),
            "{what}: {answer}"
        );
        assert!(
            answer.contains("elasticloadbalancing.amazonaws.com/doc/2015-12-01"),
            "{what}: {answer}"
        );
    }
    let answer = send_raw(
        env.port,
        &describe_load_balancers(&env, &signer(&key, &secret, "elasticloadbalancing")),
    )
    .await;
    assert_eq!(status(&answer), 200, "{answer}");
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sdks_work_with_the_generated_key_and_not_with_another() {
    let mut env = Env::start().await;
    let key = env.credentials.access_key_id();
    assert!(key.starts_with("AKIA") && key.len() == 20, "{key}");
    assert_eq!(env.credentials.secret_access_key().len(), 40);
    // awsJson (ECS, ECR), awsQuery (ELBv2) and the CloudWatch protocol all verify.
    env.ecs
        .create_cluster()
        .cluster_name("signed")
        .send()
        .await
        .unwrap();
    env.ecr.describe_repositories().send().await.unwrap();
    env.elb.describe_load_balancers().send().await.unwrap();
    env.cw.describe_alarms().send().await.unwrap();

    let wrong = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(&env.endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(sdk_credentials(
            key,
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        ))
        .load()
        .await;
    let err = aws_sdk_ecs::Client::new(&wrong)
        .list_clusters()
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidSignatureException"), "{err:?}");
    let err = aws_sdk_cloudwatch::Client::new(&wrong)
        .describe_alarms()
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        aws_sdk_cloudwatch::error::ProvideErrorMetadata::code(&err),
        Some("InvalidSignatureException"),
        "{err:?}"
    );
    let err = aws_sdk_elasticloadbalancingv2::Client::new(&wrong)
        .describe_load_balancers()
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        aws_sdk_elasticloadbalancingv2::error::ProvideErrorMetadata::code(&err),
        Some("SignatureDoesNotMatch"),
        "{err:?}"
    );
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_registry_refuses_anonymous_and_wrong_password_writes() {
    let mut env = Env::start().await;
    env.ecr
        .create_repository()
        .repository_name("private")
        .send()
        .await
        .unwrap();
    let wrong = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode("AWS:not-a-token")
    };
    let manifest =
        r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}"#;
    for auth in [String::new(), format!("Authorization: Basic {wrong}\r\n")] {
        for (method, path, body) in [
            ("POST", "/v2/private/blobs/uploads/", ""),
            ("PUT", "/v2/private/manifests/latest", manifest),
        ] {
            let request = format!(
                "{method} {path} HTTP/1.1\r\nHost: {}\r\n{auth}Content-Type: \
                 application/vnd.oci.image.manifest.v1+json\r\nContent-Length: {}\r\n\
                 Connection: close\r\n\r\n{body}",
                env.host(),
                body.len()
            );
            let answer = send_raw(env.port, request.as_bytes()).await;
            assert_eq!(status(&answer), 401, "{method} {path} {auth}: {answer}");
            assert!(answer.contains("UNAUTHORIZED"), "{answer}");
        }
    }
    let images = env
        .ecr
        .describe_images()
        .repository_name("private")
        .send()
        .await
        .unwrap();
    assert!(images.image_details().is_empty(), "nothing was written");
    // With the ECR password the push goes through.
    push_hello(&env, "private", "v1").await;
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_state_directory_is_private() {
    let mut env = Env::start().await;
    push_hello(&env, REPO, "v1").await;
    env.ecs
        .create_cluster()
        .cluster_name("saved")
        .send()
        .await
        .unwrap();
    let dir = env.running().state_dir().to_owned();
    let state = dir.join("state.json");
    wait_for("the state to be saved", || async {
        state.exists().then_some(())
    })
    .await;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700);
    for file in ["state.json", "credentials.json", "endpoint", "lock"] {
        assert_eq!(mode(&dir.join(file)), 0o600, "{file}");
    }
    let blobs: Vec<_> = std::fs::read_dir(dir.join("registry/blobs/sha256"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(!blobs.is_empty());
    for blob in blobs {
        assert_eq!(mode(&blob), 0o600, "{}", blob.display());
    }
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("credentials.json")).unwrap()).unwrap();
    assert_eq!(saved["access_key_id"], env.credentials.access_key_id());
    env.stop().await;
}
