//! The stack against a real local-ecs (the workspace's binary, started on a free port in a
//! temporary state directory): created once, found again by name the second time.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;

use aws_sdk_elasticloadbalancingv2::types::TargetTypeEnum;
use local_stack::{Created, StackSpec, ensure_stack};

/// `local-ecs serve` in a temporary directory, killed when dropped.
struct LocalEcs {
    child: Child,
    endpoint: String,
    state: tempfile::TempDir,
}

impl LocalEcs {
    fn start() -> LocalEcs {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("the crate is inside the workspace");
        // The build `cargo test --workspace` already made (local-ecs's own tests need the
        // binary): the same units, nothing compiled again. `-p local-ecs` would resolve
        // features on its own and recompile dozens of dependencies.
        let built = Command::new(env!("CARGO"))
            .args(["build", "--quiet", "--workspace", "--tests"])
            .current_dir(root)
            .status()
            .expect("run cargo build --workspace --tests");
        assert!(built.success(), "cargo build --workspace --tests failed");
        let target: PathBuf = std::env::var_os("CARGO_TARGET_DIR")
            .map_or_else(|| root.join("target"), |dir| root.join(dir));
        let state = tempfile::tempdir().expect("temp dir");
        let mut child = Command::new(target.join("debug").join("local-ecs"))
            .args(["serve", "--port", "0", "--state-dir"])
            .arg(state.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start local-ecs");
        let mut announced = String::new();
        let stdout = child.stdout.take().expect("stdout");
        BufReader::new(stdout)
            .read_line(&mut announced)
            .expect("read the announcement");
        let endpoint = announced
            .trim()
            .rsplit(' ')
            .next()
            .filter(|url| url.starts_with("http://"))
            .unwrap_or_else(|| panic!("no endpoint in {announced:?}"))
            .to_owned();
        LocalEcs {
            child,
            endpoint,
            state,
        }
    }

    /// SDK configuration for it, signing with the key it generated for its state directory.
    async fn sdk_config(&self) -> aws_config::SdkConfig {
        let path = self.state.path().join("credentials.json");
        let file: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).expect("local-ecs's credentials"))
                .expect("credentials.json is JSON");
        let field = |name: &str| file[name].as_str().expect("a credentials field").to_owned();
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(&self.endpoint)
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_ecs::config::Credentials::new(
                field("access_key_id"),
                field("secret_access_key"),
                None,
                None,
                "local-ecs",
            ))
            .load()
            .await
    }
}

impl Drop for LocalEcs {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spec() -> StackSpec {
    StackSpec {
        cluster: "twice".into(),
        target_group: "twice-tg".into(),
        target_type: TargetTypeEnum::Instance,
        target_port: 8080,
        health_check_path: "/ping".into(),
        deregistration_delay_secs: 1,
        load_balancer: "twice-alb".into(),
        subnets: vec!["subnet-a".into(), "subnet-b".into()],
        // Below 1024: local-ecs binds a free port instead, and says which.
        listener_port: 80,
    }
}

#[tokio::test]
async fn a_stack_stood_up_twice_is_created_once() {
    let local = LocalEcs::start();
    let config = local.sdk_config().await;
    let ecs = aws_sdk_ecs::Client::new(&config);
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&config);
    let created = Mutex::new(Vec::new());
    let record = |c: &Created| created.lock().unwrap().push(c.to_string());

    let first = ensure_stack(&ecs, &elb, &spec(), &record).await.unwrap();
    assert_eq!(
        created.lock().unwrap().as_slice(),
        [
            "created cluster twice".to_owned(),
            "created target group twice-tg (GET /ping every 1 s, deregistration delay 1 s)".into(),
            "created load balancer twice-alb".into(),
            format!("created listener on 127.0.0.1:{}", first.listener_port),
        ]
    );

    let second = ensure_stack(&ecs, &elb, &spec(), &record).await.unwrap();
    assert_eq!(second, first, "the second time finds the same stack");
    assert_eq!(created.lock().unwrap().len(), 4, "and creates nothing");
    let listeners = elb
        .describe_listeners()
        .load_balancer_arn(&first.load_balancer_arn)
        .send()
        .await
        .unwrap();
    assert_eq!(listeners.listeners().len(), 1);
    let attributes = elb
        .describe_target_group_attributes()
        .target_group_arn(&first.target_group_arn)
        .send()
        .await
        .unwrap();
    assert!(
        attributes.attributes().iter().any(|a| {
            a.key() == Some("deregistration_delay.timeout_seconds") && a.value() == Some("1")
        }),
        "{attributes:?}"
    );
}

#[tokio::test]
async fn an_unreachable_endpoint_is_an_error_naming_the_call() {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url("http://127.0.0.1:9")
        .region(aws_config::Region::new("us-east-1"))
        .test_credentials()
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .load()
        .await;
    let ecs = aws_sdk_ecs::Client::new(&config);
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&config);
    let err = ensure_stack(&ecs, &elb, &spec(), &|_| {})
        .await
        .unwrap_err();
    assert_eq!(err.action, "ecs:DescribeClusters");
    assert!(
        err.to_string().starts_with("ecs:DescribeClusters failed: "),
        "{err}"
    );
}
