//! The local stack is locked (issue 10, point 3): local-ecs serves only requests addressed to
//! a loopback host and signed with the key it generated for its state directory, refusing the
//! rest with AWS's errors; `cargo xtask local env` hands that key to the AWS SDKs; the state
//! directory is private.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;

use aws_sdk_ecs::error::ProvideErrorMetadata;
use tests::{LocalStack, addr_of};

/// `export NAME=VALUE` lines → the variables; any other line fails the test.
fn exports(stdout: &str) -> HashMap<String, String> {
    stdout
        .lines()
        .map(|line| {
            let (name, value) = line
                .strip_prefix("export ")
                .and_then(|rest| rest.split_once('='))
                .unwrap_or_else(|| panic!("not an export line: {line:?}\n{stdout}"));
            (name.to_owned(), value.to_owned())
        })
        .collect()
}

/// SDK configuration as the AWS SDKs read it from the exported variables.
async fn sdk_config(vars: &HashMap<String, String>, secret: &str) -> aws_config::SdkConfig {
    let var = |name: &str| {
        vars.get(name)
            .unwrap_or_else(|| panic!("{name} is not exported"))
            .clone()
    };
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(var("AWS_ENDPOINT_URL"))
        .region(aws_config::Region::new(var("AWS_REGION")))
        .credentials_provider(aws_sdk_ecs::config::Credentials::new(
            var("AWS_ACCESS_KEY_ID"),
            secret.to_owned(),
            None,
            None,
            "cargo xtask local env",
        ))
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .load()
        .await
}

/// One raw HTTP/1.1 request to the endpoint; the whole answer.
fn raw(endpoint: &str, request: &str) -> String {
    let mut stream = std::net::TcpStream::connect(addr_of(endpoint)).expect("connect");
    stream.write_all(request.as_bytes()).expect("send");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("read");
    answer
}

fn status_of(answer: &str) -> &str {
    answer.split(' ').nth(1).unwrap_or_default()
}

/// `(error code, HTTP status)` of a failed ListClusters.
async fn list_clusters_error(config: &aws_config::SdkConfig) -> (String, u16) {
    let err = aws_sdk_ecs::Client::new(config)
        .list_clusters()
        .send()
        .await
        .expect_err("refused");
    let status = err.raw_response().map(|r| r.status().as_u16());
    (
        err.code().unwrap_or_default().to_owned(),
        status.unwrap_or_default(),
    )
}

#[test]
fn only_loopback_requests_signed_with_the_generated_key_are_served() {
    let stack = LocalStack::empty();
    struct Down<'a>(&'a LocalStack);
    impl Drop for Down<'_> {
        fn drop(&mut self) {
            let _ = self.0.xtask(&["local", "down"]);
        }
    }
    let _down = Down(&stack);

    let env = stack.xtask(&["local", "env"]);
    assert_eq!(env.code, Some(0), "{}\n{}", env.stdout, env.stderr);
    let vars = exports(&env.stdout);
    let endpoint = stack.endpoint();
    let key = stack.credentials();
    assert_eq!(vars["AWS_ENDPOINT_URL"], endpoint);
    assert_eq!(vars["AWS_REGION"], vars["AWS_DEFAULT_REGION"]);
    assert_eq!(vars["AWS_ACCESS_KEY_ID"], key.access_key_id);
    assert_eq!(
        vars["AWS_SECRET_ACCESS_KEY"],
        key.secret_access_key.expose()
    );
    assert!(
        key.access_key_id.starts_with("AKIA") && key.access_key_id.len() == 20,
        "{}",
        key.access_key_id
    );

    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        // The exported key works...
        let config = sdk_config(&vars, &vars["AWS_SECRET_ACCESS_KEY"]).await;
        let ecs = aws_sdk_ecs::Client::new(&config);
        ecs.create_cluster()
            .cluster_name("by-env")
            .send()
            .await
            .expect("CreateCluster with the exported key");
        let clusters = ecs.list_clusters().send().await.expect("ListClusters");
        assert!(
            clusters
                .cluster_arns()
                .iter()
                .any(|a| a.ends_with("/by-env")),
            "{clusters:?}"
        );
        // ...another secret for that key id, or another key id, does not.
        let wrong_secret = sdk_config(&vars, "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY").await;
        assert_eq!(
            list_clusters_error(&wrong_secret).await,
            ("InvalidSignatureException".to_owned(), 400)
        );
        let mut stranger = vars.clone();
        stranger.insert("AWS_ACCESS_KEY_ID".into(), "AKIAIOSFODNN7EXAMPLE".into());
        let stranger = sdk_config(&stranger, &vars["AWS_SECRET_ACCESS_KEY"]).await;
        assert_eq!(
            list_clusters_error(&stranger).await,
            ("UnrecognizedClientException".to_owned(), 400)
        );
    });

    let port = addr_of(&endpoint).port();
    let list = |host: &str| {
        format!(
            "POST / HTTP/1.1\r\nHost: {host}\r\nX-Amz-Target: \
             AmazonEC2ContainerServiceV20141113.ListClusters\r\nContent-Type: \
             application/x-amz-json-1.1\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}"
        )
    };
    let unsigned = raw(&endpoint, &list(&format!("127.0.0.1:{port}")));
    assert_eq!(status_of(&unsigned), "403", "{unsigned}");
    assert!(
        unsigned.contains("\"__type\":\"MissingAuthenticationTokenException\""),
        "{unsigned}"
    );
    let rebound = raw(&endpoint, &list(&format!("rebound.example:{port}")));
    assert_eq!(status_of(&rebound), "403", "{rebound}");
    assert!(
        rebound.contains("\"__type\":\"AccessDeniedException\"")
            && rebound.contains("DNS rebinding"),
        "{rebound}"
    );
    let registry = raw(
        &endpoint,
        "GET /v2/ HTTP/1.1\r\nHost: rebound.example\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status_of(&registry), "403", "{registry}");

    // The state is private: the directory 0700, local-ecs's files 0600.
    let mode = |name: &str| {
        std::fs::metadata(stack.state_dir.join(name))
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode(""), 0o700);
    for file in ["credentials.json", "endpoint", "lock"] {
        assert_eq!(mode(file), 0o600, "{file}");
    }
    let down = stack.xtask(&["local", "down"]);
    assert_eq!(down.code, Some(0), "{}\n{}", down.stdout, down.stderr);
    assert_eq!(mode("state.json"), 0o600, "saved at shutdown");
}
