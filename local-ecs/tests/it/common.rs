//! Shared test scaffolding: a local-ecs per test (own state dir, ephemeral port), the real
//! AWS SDK clients pointed at it, the hello-service image pushed to its registry, a load
//! balancer stack (local-stack's), and polling helpers with generous deadlines (CI has two
//! loaded cores).

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use aws_config::BehaviorVersion;
use aws_sdk_ecs::types::Service;
use local_ecs::{Config, Credentials, LocalEcs, Running};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How long any condition may take before a test fails.
pub const DEADLINE: Duration = Duration::from_secs(120);

/// The repository every test pushes hello-service to.
pub const REPO: &str = "hello";

/// A running local-ecs with SDK clients.
pub struct Env {
    pub running: Option<Running>,
    pub dir: tempfile::TempDir,
    pub ecs: aws_sdk_ecs::Client,
    pub ecr: aws_sdk_ecr::Client,
    pub elb: aws_sdk_elasticloadbalancingv2::Client,
    pub cw: aws_sdk_cloudwatch::Client,
    pub endpoint: String,
    pub port: u16,
    /// The key local-ecs generated for its state directory; every client signs with it.
    pub credentials: Credentials,
}

/// SDK configuration for an endpoint and the key its local-ecs generated: what
/// `AWS_ENDPOINT_URL` and `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` do for a user.
pub async fn sdk_config(
    endpoint: &str,
    region: &'static str,
    credentials: &Credentials,
) -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new(region))
        .credentials_provider(sdk_credentials(
            credentials.access_key_id(),
            credentials.secret_access_key(),
        ))
        .load()
        .await
}

/// A key in the SDK's form.
pub fn sdk_credentials(key_id: &str, secret: &str) -> aws_sdk_ecs::config::Credentials {
    aws_sdk_ecs::config::Credentials::new(key_id, secret, None, None, "tests")
}

impl Env {
    /// Starts local-ecs on an ephemeral port with a fresh state directory.
    pub async fn start() -> Env {
        let dir = tempfile::tempdir().expect("temp dir");
        Env::start_in(dir, 0).await
    }

    /// Starts local-ecs with these timings on an ephemeral port with a fresh state directory.
    pub async fn start_with_timing(timing: local_ecs::Timing) -> Env {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = Config::new(dir.path()).with_port(0);
        config.timing = timing;
        let running = LocalEcs::start(config).await.expect("start local-ecs");
        let endpoint = running.endpoint().to_owned();
        let credentials = running.credentials().clone();
        let mut env = Env::clients(&endpoint, credentials, dir).await;
        env.running = Some(running);
        env
    }

    /// Starts local-ecs in `dir` on `port`.
    pub async fn start_in(dir: tempfile::TempDir, port: u16) -> Env {
        let running = LocalEcs::start(Config::new(dir.path()).with_port(port))
            .await
            .expect("start local-ecs");
        let endpoint = running.endpoint().to_owned();
        let credentials = running.credentials().clone();
        let mut env = Env::clients(&endpoint, credentials, dir).await;
        env.running = Some(running);
        env
    }

    /// Clients for a local-ecs running elsewhere (e.g. the `local-ecs` binary) from
    /// `state_dir`, with the key it generated there.
    pub async fn external(endpoint: &str, state_dir: &Path) -> Env {
        let credentials = Credentials::read(state_dir).expect("the generated credentials");
        let dir = tempfile::tempdir().expect("temp dir");
        Env::clients(endpoint, credentials, dir).await
    }

    async fn clients(endpoint: &str, credentials: Credentials, dir: tempfile::TempDir) -> Env {
        let port = endpoint
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("endpoint port");
        let config = sdk_config(endpoint, "us-east-1", &credentials).await;
        Env {
            running: None,
            dir,
            ecs: aws_sdk_ecs::Client::new(&config),
            ecr: aws_sdk_ecr::Client::new(&config),
            elb: aws_sdk_elasticloadbalancingv2::Client::new(&config),
            cw: aws_sdk_cloudwatch::Client::new(&config),
            endpoint: endpoint.to_owned(),
            port,
            credentials,
        }
    }

    /// A raw `POST /` (or `path`) HTTP/1.1 request to this local-ecs, signed for `service`
    /// with its key as the SDKs sign: `headers` are sent and signed, `Host` is
    /// `127.0.0.1:PORT`.
    pub fn signed_request(
        &self,
        service: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Vec<u8> {
        sign_request(
            &self.host(),
            &Signer {
                key_id: self.credentials.access_key_id(),
                secret: self.credentials.secret_access_key(),
                service,
                time: std::time::SystemTime::now(),
            },
            path,
            headers,
            body,
        )
    }

    /// `127.0.0.1:PORT`, the `Host` of its requests.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The running instance.
    pub fn running(&self) -> &Running {
        self.running.as_ref().expect("local-ecs is running")
    }

    /// Shuts local-ecs down (every task stopped).
    pub async fn stop(&mut self) {
        if let Some(running) = self.running.take() {
            running.shutdown().await;
        }
    }

    /// `127.0.0.1:PORT`.
    pub fn registry(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

/// The hello-service binary, built once per test process with `cargo build --workspace --tests`
/// (cheap when it is already built); honours CARGO_TARGET_DIR.
pub fn hello_binary() -> PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY
        .get_or_init(|| {
            let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .parent()
                .expect("workspace root")
                .to_path_buf();
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            // The build `cargo test --workspace` already made (hello-service's own tests need
            // its binary): the same units, so nothing is compiled again. `-p hello-service`
            // alone would resolve features differently and rebuild its dependencies.
            let status = Command::new(cargo)
                .args(["build", "--quiet", "--workspace", "--tests"])
                .current_dir(&workspace)
                .status()
                .expect("run cargo build --workspace --tests");
            assert!(status.success(), "cargo build --workspace --tests failed");
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .map(|p| {
                    if p.is_absolute() {
                        p
                    } else {
                        workspace.join(p)
                    }
                })
                .unwrap_or_else(|| workspace.join("target"));
            let binary = target.join("debug").join("hello-service");
            assert!(
                binary.exists(),
                "{} is missing after the build",
                binary.display()
            );
            binary
        })
        .clone()
}

/// The hello-service image (built once per test process; reproducible).
pub fn hello_image() -> &'static deploy_sdk::image::OciImage {
    static IMAGE: OnceLock<deploy_sdk::image::OciImage> = OnceLock::new();
    IMAGE.get_or_init(|| {
        let binary = std::fs::read(hello_binary()).expect("read hello-service");
        deploy_sdk::image::ImageSpec::for_static_binary(
            "hello-service",
            binary,
            8080,
            time::OffsetDateTime::UNIX_EPOCH,
        )
        .build()
        .expect("build the hello-service image")
    })
}

/// Creates the repository (if needed) and pushes hello-service as `repo:tag`; returns the
/// image reference `127.0.0.1:PORT/repo:tag`.
pub async fn push_hello(env: &Env, repo: &str, tag: &str) -> String {
    let _ = env
        .ecr
        .create_repository()
        .repository_name(repo)
        .send()
        .await;
    let auth = deploy_sdk::ecr::registry_auth(&env.ecr)
        .await
        .expect("GetAuthorizationToken");
    let image = hello_image();
    let target = deploy_sdk::registry::ImageRef::parse(&format!("{}/{repo}", env.registry()))
        .expect("image ref");
    deploy_sdk::image::push(image, &target, &[tag.to_owned()], Some(&auth.login))
        .await
        .expect("push hello-service");
    format!("{}/{repo}:{tag}", env.registry())
}

/// Polls `check` every 250 ms until it returns `Some`, failing after [`DEADLINE`].
pub async fn wait_for<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "timed out after {DEADLINE:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

pub use local_stack::Stack;

/// Stands up `name`'s stack with local-stack: cluster `name`, load balancer `{name}-alb`, target
/// group `{name}-tg` for awsvpc tasks on 8080 (`/ping`, 1 s interval, thresholds 2,
/// deregistration delay `delay_secs`) and a port-80 listener (bound to a free port).
pub async fn stack(env: &Env, name: &str, delay_secs: u32) -> Stack {
    let spec = local_stack::StackSpec {
        cluster: name.to_owned(),
        target_group: format!("{name}-tg"),
        target_type: aws_sdk_elasticloadbalancingv2::types::TargetTypeEnum::Ip,
        target_port: 8080,
        health_check_path: "/ping".into(),
        deregistration_delay_secs: delay_secs,
        load_balancer: format!("{name}-alb"),
        subnets: vec!["subnet-a".into(), "subnet-b".into()],
        listener_port: 80,
    };
    local_stack::ensure_stack(&env.ecs, &env.elb, &spec, &|_| {})
        .await
        .expect("stand up the stack")
}

/// Registers family `family` (Fargate) running `image` in container `web` on 8080 with `vars`
/// (plus a 5 s drain and no access log) and an optional container health check command
/// (every 1 s, 2 retries); returns the task definition ARN.
pub async fn register(
    env: &Env,
    family: &str,
    image: &str,
    vars: &[(&str, &str)],
    health_check: Option<Vec<String>>,
) -> String {
    let mut vars: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    vars.push(("SHUTDOWN_TIMEOUT_SECS".into(), "5".into()));
    vars.push(("RUST_LOG".into(), "info,access=off".into()));
    let health_check = health_check.map(|command| {
        aws_sdk_ecs::types::HealthCheck::builder()
            .set_command(Some(command))
            .interval(1)
            .timeout(2)
            .retries(2)
            .build()
            .expect("a health check with a command")
    });
    let spec = local_stack::TaskSpec {
        family: family.to_owned(),
        container: "web".into(),
        image: image.to_owned(),
        container_port: 8080,
        env: vars,
        stop_timeout_secs: 10,
        platform: local_stack::Platform::Fargate,
        health_check,
    };
    local_stack::register_task_definition(&env.ecs, &spec)
        .await
        .expect("RegisterTaskDefinition")
}

/// Creates a Fargate service running container `web` behind the stack's target group;
/// `breaker`: the circuit breaker, rolling back when true.
pub async fn create_service(
    env: &Env,
    stack: &Stack,
    name: &str,
    task_definition: &str,
    desired: i32,
    (min, max): (i32, i32),
    breaker: Option<bool>,
) -> Service {
    let spec = local_stack::ServiceSpec {
        name: name.to_owned(),
        task_definition: task_definition.to_owned(),
        desired_count: desired,
        container: "web".into(),
        container_port: 8080,
        minimum_healthy_percent: min,
        maximum_percent: max,
        circuit_breaker: match breaker {
            None => local_stack::CircuitBreaker::Off,
            Some(false) => local_stack::CircuitBreaker::Fail,
            Some(true) => local_stack::CircuitBreaker::Rollback,
        },
        health_check_grace_period_secs: None,
        platform: local_stack::Platform::Fargate,
    };
    local_stack::create_service(&env.ecs, stack, &spec)
        .await
        .expect("CreateService")
}

/// DescribeServices for one service.
pub async fn describe(env: &Env, cluster: &str, service: &str) -> Service {
    env.ecs
        .describe_services()
        .cluster(cluster)
        .services(service)
        .send()
        .await
        .expect("DescribeServices")
        .services()[0]
        .clone()
}

/// Waits until the deployment `id` is COMPLETED, the only one, and `desired` tasks run.
pub async fn wait_completed(env: &Env, cluster: &str, service: &str, id: &str) -> Service {
    wait_for(
        &format!("deployment {id} of {service} to complete"),
        || async {
            let s = describe(env, cluster, service).await;
            let deployments = s.deployments();
            let done = deployments.len() == 1
                && deployments[0].id() == Some(id)
                && deployments[0].rollout_state()
                    == Some(&aws_sdk_ecs::types::DeploymentRolloutState::Completed)
                && s.running_count() == s.desired_count();
            done.then_some(s)
        },
    )
    .await
}

/// The PRIMARY deployment's id.
pub fn primary_id(service: &Service) -> String {
    service
        .deployments()
        .iter()
        .find(|d| d.status() == Some("PRIMARY"))
        .and_then(|d| d.id())
        .expect("a PRIMARY deployment")
        .to_owned()
}

/// Target states in the target group: (id:port, state).
pub async fn target_states(env: &Env, tg: &str) -> Vec<(u16, String, Option<String>)> {
    env.elb
        .describe_target_health()
        .target_group_arn(tg)
        .send()
        .await
        .expect("DescribeTargetHealth")
        .target_health_descriptions()
        .iter()
        .map(|d| {
            let health = d.target_health().unwrap();
            (
                d.target().and_then(|t| t.port()).unwrap_or(0) as u16,
                health
                    .state()
                    .map(|s| s.as_str().to_owned())
                    .unwrap_or_default(),
                health.reason().map(|r| r.as_str().to_owned()),
            )
        })
        .collect()
}

/// Tasks of a service whose processes are alive (any desired status, not yet STOPPED).
pub async fn alive_tasks(env: &Env, cluster: &str, service: &str) -> Vec<aws_sdk_ecs::types::Task> {
    let mut arns = Vec::new();
    for desired in [
        aws_sdk_ecs::types::DesiredStatus::Running,
        aws_sdk_ecs::types::DesiredStatus::Stopped,
    ] {
        let out = env
            .ecs
            .list_tasks()
            .cluster(cluster)
            .service_name(service)
            .desired_status(desired)
            .send()
            .await
            .expect("ListTasks");
        arns.extend(out.task_arns().iter().cloned());
    }
    // A task stopped between the two calls is in both lists.
    arns.sort();
    arns.dedup();
    describe_tasks(env, cluster, &arns)
        .await
        .into_iter()
        .filter(|t| t.last_status() != Some("STOPPED"))
        .collect()
}

/// DescribeTasks (in batches of 100).
pub async fn describe_tasks(
    env: &Env,
    cluster: &str,
    arns: &[String],
) -> Vec<aws_sdk_ecs::types::Task> {
    let mut tasks = Vec::new();
    for chunk in arns.chunks(100) {
        let out = env
            .ecs
            .describe_tasks()
            .cluster(cluster)
            .set_tasks(Some(chunk.to_vec()))
            .send()
            .await
            .expect("DescribeTasks");
        tasks.extend(out.tasks().iter().cloned());
    }
    tasks
}

/// Stopped tasks of a service.
pub async fn stopped_tasks(
    env: &Env,
    cluster: &str,
    service: &str,
) -> Vec<aws_sdk_ecs::types::Task> {
    let out = env
        .ecs
        .list_tasks()
        .cluster(cluster)
        .service_name(service)
        .desired_status(aws_sdk_ecs::types::DesiredStatus::Stopped)
        .send()
        .await
        .expect("ListTasks");
    describe_tasks(env, cluster, out.task_arns())
        .await
        .into_iter()
        .filter(|t| t.last_status() == Some("STOPPED"))
        .collect()
}

/// Event messages, newest first.
pub fn events(service: &Service) -> Vec<String> {
    service
        .events()
        .iter()
        .filter_map(|e| e.message().map(str::to_owned))
        .collect()
}

/// An HTTP answer.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: String,
}

/// `GET path` on 127.0.0.1:port over a fresh connection.
pub async fn http_get(port: u16, path: &str) -> std::io::Result<Answer> {
    let attempt = async {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
        stream
            .write_all(
                format!(
                    "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
                )
                .as_bytes(),
            )
            .await?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await?;
        let text = String::from_utf8_lossy(&raw).into_owned();
        let status = text
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| std::io::Error::other(format!("no status line in {text:?}")))?;
        let body = text
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default();
        Ok(Answer { status, body })
    };
    tokio::time::timeout(Duration::from_secs(30), attempt)
        .await
        .unwrap_or_else(|_| Err(std::io::Error::other("timed out")))
}

/// Steady load through a listener until stopped: counts answers by status and body.
pub struct Load {
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<Vec<Result<Answer, String>>>,
}

impl Load {
    /// Starts GETs of `path` on `port`, one every 20 ms (bounded: at most 10 minutes).
    pub fn start(port: u16, path: &'static str) -> Load {
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(async move {
            let mut answers = Vec::new();
            let end = Instant::now() + Duration::from_secs(600);
            while !*stopped.borrow() && Instant::now() < end {
                answers.push(http_get(port, path).await.map_err(|e| e.to_string()));
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(20)) => {}
                    _ = stopped.changed() => {}
                }
            }
            answers
        });
        Load { stop, task }
    }

    /// Stops and returns every answer.
    pub async fn finish(self) -> Vec<Result<Answer, String>> {
        let _ = self.stop.send(true);
        self.task.await.expect("load task")
    }
}

/// Samples, while running, the peak number of live tasks and the fewest healthy targets.
pub struct Observer {
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<(usize, usize)>,
}

impl Observer {
    /// Starts sampling `service` and its target group every 200 ms.
    pub fn start(env: &Env, stack: &Stack, service: &str) -> Observer {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let ecs = env.ecs.clone();
        let elb = env.elb.clone();
        let cluster = stack.cluster.clone();
        let tg = stack.target_group_arn.clone();
        let service = service.to_owned();
        let task = tokio::spawn(async move {
            let probe = ProbeClients { ecs, elb };
            let (mut peak, mut fewest) = (0usize, usize::MAX);
            let end = Instant::now() + Duration::from_secs(600);
            while !*stopped.borrow() && Instant::now() < end {
                let alive = probe.alive(&cluster, &service).await;
                let healthy = probe.healthy(&tg).await;
                peak = peak.max(alive);
                fewest = fewest.min(healthy);
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            (peak, fewest)
        });
        Observer { stop, task }
    }

    /// Stops; returns (peak live tasks, fewest healthy targets).
    pub async fn finish(self) -> (usize, usize) {
        let _ = self.stop.send(true);
        self.task.await.expect("observer task")
    }
}

struct ProbeClients {
    ecs: aws_sdk_ecs::Client,
    elb: aws_sdk_elasticloadbalancingv2::Client,
}

impl ProbeClients {
    async fn alive(&self, cluster: &str, service: &str) -> usize {
        let mut arns = Vec::new();
        for desired in [
            aws_sdk_ecs::types::DesiredStatus::Running,
            aws_sdk_ecs::types::DesiredStatus::Stopped,
        ] {
            if let Ok(out) = self
                .ecs
                .list_tasks()
                .cluster(cluster)
                .service_name(service)
                .desired_status(desired)
                .send()
                .await
            {
                arns.extend(out.task_arns().iter().cloned());
            }
        }
        // A task stopped between the two calls is in both lists.
        arns.sort();
        arns.dedup();
        let mut alive = 0;
        for chunk in arns.chunks(100) {
            if let Ok(out) = self
                .ecs
                .describe_tasks()
                .cluster(cluster)
                .set_tasks(Some(chunk.to_vec()))
                .send()
                .await
            {
                alive += out
                    .tasks()
                    .iter()
                    .filter(|t| t.last_status() != Some("STOPPED"))
                    .count();
            }
        }
        alive
    }

    async fn healthy(&self, tg: &str) -> usize {
        match self
            .elb
            .describe_target_health()
            .target_group_arn(tg)
            .send()
            .await
        {
            Ok(out) => out
                .target_health_descriptions()
                .iter()
                .filter(|d| {
                    d.target_health()
                        .and_then(|h| h.state())
                        .map(|s| s.as_str())
                        == Some("healthy")
                })
                .count(),
            Err(_) => 0,
        }
    }
}

/// Who signs a raw request, and when.
pub struct Signer<'a> {
    pub key_id: &'a str,
    pub secret: &'a str,
    /// The SigV4 service (`ecs`, `elasticloadbalancing`, `monitoring`).
    pub service: &'a str,
    pub time: std::time::SystemTime,
}

/// A raw `POST path` HTTP/1.1 request with `Host: host`, `headers` and `body`, signed by
/// `signer` with the SDK's signer (region us-east-1), `Connection: close`.
pub fn sign_request(
    host: &str,
    signer: &Signer<'_>,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Vec<u8> {
    use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
    let identity =
        aws_credential_types::Credentials::new(signer.key_id, signer.secret, None, None, "tests")
            .into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name(signer.service)
        .time(signer.time)
        .settings(SigningSettings::default())
        .build()
        .expect("signing parameters")
        .into();
    let mut all: Vec<(&str, &str)> = vec![("host", host)];
    all.extend_from_slice(headers);
    let signable = SignableRequest::new(
        "POST",
        format!("http://{host}{path}"),
        all.iter().copied(),
        SignableBody::Bytes(body),
    )
    .expect("a signable request");
    let (instructions, _) = sign(signable, &params).expect("sign").into_parts();
    let mut head = format!("POST {path} HTTP/1.1\r\n");
    for (name, value) in all.iter().copied().chain(instructions.headers()) {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!(
        "content-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    ));
    let mut raw = head.into_bytes();
    raw.extend_from_slice(body);
    raw
}

/// Sends raw request bytes to 127.0.0.1:`port` and returns the whole raw answer.
pub async fn send_raw(port: u16, request: &[u8]) -> String {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect to local-ecs");
    stream.write_all(request).await.expect("send");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.expect("read the answer");
    String::from_utf8_lossy(&raw).into_owned()
}

/// A forward action to `groups` with their weights, as ECS writes blue/green rules.
pub fn forward(groups: &[(&str, i32)]) -> aws_sdk_elasticloadbalancingv2::types::Action {
    use aws_sdk_elasticloadbalancingv2::types::{
        Action, ActionTypeEnum, ForwardActionConfig, TargetGroupTuple,
    };
    let tuples = groups
        .iter()
        .map(|(g, w)| {
            TargetGroupTuple::builder()
                .target_group_arn(*g)
                .weight(*w)
                .build()
        })
        .collect();
    Action::builder()
        .r#type(ActionTypeEnum::Forward)
        .forward_config(
            ForwardActionConfig::builder()
                .set_target_groups(Some(tuples))
                .build(),
        )
        .build()
}
