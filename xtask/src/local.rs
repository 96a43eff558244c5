//! local-ecs for `--local`: started in the background on first use (state under
//! `target/local-ecs`, its endpoint recorded there so later commands reuse it), bootstrapped
//! with what the tutorial's CloudFormation stacks create — through the same AWS API calls a
//! user would make — and managed by `cargo xtask local up | down | status | logs`.

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use aws_sdk_ecs::types::{
    DeploymentCircuitBreaker, DeploymentConfiguration, DesiredStatus, KeyValuePair, LoadBalancer,
    PortMapping, TransportProtocol,
};
use aws_sdk_elasticloadbalancingv2::types::{
    Action, ActionTypeEnum, ProtocolEnum, TargetGroupAttribute, TargetTypeEnum,
};
use clap::{Args, Subcommand};
use deploy_sdk::Clients;
use deploy_sdk::service::StartedDeployment;

use crate::config::{Settings, TargetArgs};
use crate::util::{cargo, output_bytes, project_root};

/// The port local-ecs prefers, so its endpoint stays the same from run to run.
const PREFERRED_PORT: u16 = 4580;
/// The listener port asked for; local-ecs takes another when it is busy.
const LISTENER_PORT: i32 = 8000;
/// Names of what the bootstrap creates (the tutorial's stacks use the same shapes).
const TARGET_GROUP: &str = "hello-ecs-tg";
const LOAD_BALANCER: &str = "hello-ecs-alb";

/// A running local-ecs.
#[derive(Debug, Clone)]
pub struct LocalEcs {
    pub endpoint: String,
}

fn endpoint_file(state_dir: &Path) -> PathBuf {
    state_dir.join("endpoint")
}

fn pid_file(state_dir: &Path) -> PathBuf {
    state_dir.join("local-ecs.pid")
}

fn last_port_file(state_dir: &Path) -> PathBuf {
    state_dir.join("last-port")
}

fn log_file(state_dir: &Path) -> PathBuf {
    state_dir.join("local-ecs.log")
}

/// The recorded endpoint, if local-ecs is answering there.
pub fn running(state_dir: &Path) -> Option<LocalEcs> {
    let endpoint = std::fs::read_to_string(endpoint_file(state_dir))
        .ok()?
        .trim()
        .to_owned();
    let addr: SocketAddr = endpoint
        .strip_prefix("http://")?
        .trim_end_matches('/')
        .parse()
        .ok()?;
    TcpStream::connect_timeout(&addr, Duration::from_millis(500)).ok()?;
    Some(LocalEcs { endpoint })
}

/// Returns the running local-ecs for `state_dir`, starting one in the background if none answers.
pub fn ensure_running(state_dir: &Path, say: &dyn Fn(&str)) -> Result<LocalEcs> {
    if let Some(local) = running(state_dir) {
        return Ok(local);
    }
    std::fs::create_dir_all(state_dir)
        .with_context(|| format!("create {}", state_dir.display()))?;
    say("starting local-ecs in the background (cargo build -p local-ecs)");
    let binary = binary()?;
    // The port it had last time (so the endpoint stays put), else the preferred one, else any.
    let last: Option<u16> = std::fs::read_to_string(last_port_file(state_dir))
        .ok()
        .and_then(|p| p.trim().parse().ok());
    let free = |port: u16| std::net::TcpListener::bind(("127.0.0.1", port)).is_ok();
    let port = last
        .into_iter()
        .chain([PREFERRED_PORT])
        .find(|p| free(*p))
        .unwrap_or(0);
    let _ = std::fs::remove_file(endpoint_file(state_dir));
    let log = std::fs::File::create(log_file(state_dir)).context("create the local-ecs log")?;
    let mut cmd = Command::new(&binary);
    cmd.arg("serve")
        .arg("--state-dir")
        .arg(state_dir)
        .arg("--port")
        .arg(port.to_string())
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    // Its own process group: Ctrl-C on this terminal must not stop it.
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let mut child = cmd
        .spawn()
        .with_context(|| format!("start {}", binary.display()))?;
    std::fs::write(pid_file(state_dir), child.id().to_string())?;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(local) = running(state_dir) {
            if let Some(port) = local.endpoint.rsplit(':').next() {
                let _ = std::fs::write(last_port_file(state_dir), port);
            }
            say(&format!(
                "local-ecs serving on {} (state {}, log {})",
                local.endpoint,
                state_dir.display(),
                log_file(state_dir).display()
            ));
            return Ok(local);
        }
        if let Some(status) = child.try_wait()? {
            let log = std::fs::read_to_string(log_file(state_dir)).unwrap_or_default();
            bail!(
                "local-ecs exited ({status}) before serving:\n{}",
                log.trim()
            );
        }
        if Instant::now() > deadline {
            bail!(
                "local-ecs did not start within 60 s; see {}",
                log_file(state_dir).display()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The local-ecs binary, built by cargo (a no-op when it is up to date).
fn binary() -> Result<PathBuf> {
    let status = cargo()
        .args(["build", "--quiet", "-p", "local-ecs"])
        .status()
        .context("cannot run cargo")?;
    if !status.success() {
        bail!("building local-ecs failed ({status})");
    }
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| project_root().join("target"));
    Ok(target_dir.join("debug").join("local-ecs"))
}

/// The container logs of `task` (id or ARN) as (container, path): local-ecs owns the layout
/// of its state directory, so it is asked (`local-ecs task-logs`).
fn task_log_paths(binary: &Path, state_dir: &Path, task: &str) -> Result<Vec<(String, PathBuf)>> {
    let stdout = output_bytes(
        Command::new(binary)
            .arg("task-logs")
            .arg("--state-dir")
            .arg(state_dir)
            .arg(task),
    )?;
    Ok(parse_task_logs(&stdout))
}

/// `CONTAINER<TAB>PATH` lines, the path as raw bytes.
fn parse_task_logs(stdout: &[u8]) -> Vec<(String, PathBuf)> {
    use std::os::unix::ffi::OsStrExt;
    stdout
        .split(|b| *b == b'\n')
        .filter_map(|line| {
            let tab = line.iter().position(|b| *b == b'\t')?;
            let container = String::from_utf8_lossy(&line[..tab]).into_owned();
            let path = std::ffi::OsStr::from_bytes(&line[tab + 1..]);
            Some((container, PathBuf::from(path)))
        })
        .collect()
}

/// Stops the local-ecs of `state_dir` (SIGTERM; it stops its tasks first). True if one ran.
pub fn stop(state_dir: &Path) -> Result<bool> {
    let Ok(pid) = std::fs::read_to_string(pid_file(state_dir)) else {
        return Ok(false);
    };
    let pid = pid.trim().to_owned();
    let alive = |pid: &str| Path::new(&format!("/proc/{pid}")).exists() && !is_zombie(pid);
    if !alive(&pid) {
        let _ = std::fs::remove_file(pid_file(state_dir));
        return Ok(false);
    }
    let _ = Command::new("kill").args(["-TERM", &pid]).status();
    let deadline = Instant::now() + Duration::from_secs(90);
    while alive(&pid) {
        if Instant::now() > deadline {
            let _ = Command::new("kill").args(["-KILL", &pid]).status();
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = std::fs::remove_file(pid_file(state_dir));
    Ok(true)
}

fn is_zombie(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
    })
}

/// The load balancer pieces a local deploy needs.
#[derive(Debug, Clone)]
pub struct Infra {
    pub target_group_arn: String,
}

/// Creates, when missing, the cluster, target group (`/ping` health check), load balancer and
/// listener — the tutorial's network and service stacks in miniature. Health checks every
/// second and a 1 s deregistration delay keep a local rollout to seconds (AWS's minimum
/// interval is 5 s; local-ecs accepts 1).
pub async fn bootstrap(
    clients: &Clients,
    settings: &Settings,
    say: &dyn Fn(&str),
) -> Result<Infra> {
    let clusters = clients
        .ecs
        .describe_clusters()
        .clusters(&settings.cluster)
        .send()
        .await
        .map_err(|e| deploy_sdk::Error::from_sdk("ecs:DescribeClusters", e))?;
    let active = clusters
        .clusters()
        .iter()
        .any(|c| c.status() == Some("ACTIVE"));
    if !active {
        clients
            .ecs
            .create_cluster()
            .cluster_name(&settings.cluster)
            .send()
            .await
            .map_err(|e| deploy_sdk::Error::from_sdk("ecs:CreateCluster", e))?;
        say(&format!("bootstrap: created cluster {}", settings.cluster));
    }
    let target_group_arn = match clients
        .elb
        .describe_target_groups()
        .names(TARGET_GROUP)
        .send()
        .await
    {
        Ok(out) if !out.target_groups().is_empty() => out.target_groups()[0]
            .target_group_arn()
            .unwrap_or_default()
            .to_owned(),
        _ => {
            let out = clients
                .elb
                .create_target_group()
                .name(TARGET_GROUP)
                .protocol(ProtocolEnum::Http)
                .port(i32::from(settings.container_port))
                .target_type(TargetTypeEnum::Instance)
                .vpc_id("vpc-local")
                .health_check_path("/ping")
                .health_check_interval_seconds(1)
                .health_check_timeout_seconds(1)
                .healthy_threshold_count(2)
                .unhealthy_threshold_count(2)
                .send()
                .await
                .map_err(|e| {
                    deploy_sdk::Error::from_sdk("elasticloadbalancing:CreateTargetGroup", e)
                })?;
            let arn = out
                .target_groups()
                .first()
                .and_then(|t| t.target_group_arn())
                .unwrap_or_default()
                .to_owned();
            clients
                .elb
                .modify_target_group_attributes()
                .target_group_arn(&arn)
                .attributes(
                    TargetGroupAttribute::builder()
                        .key("deregistration_delay.timeout_seconds")
                        .value("1")
                        .build(),
                )
                .send()
                .await
                .map_err(|e| {
                    deploy_sdk::Error::from_sdk(
                        "elasticloadbalancing:ModifyTargetGroupAttributes",
                        e,
                    )
                })?;
            say(&format!(
                "bootstrap: created target group {TARGET_GROUP} (GET /ping every 1 s, deregistration delay 1 s)"
            ));
            arn
        }
    };
    let lb_arn = match clients
        .elb
        .describe_load_balancers()
        .names(LOAD_BALANCER)
        .send()
        .await
    {
        Ok(out) if !out.load_balancers().is_empty() => out.load_balancers()[0]
            .load_balancer_arn()
            .unwrap_or_default()
            .to_owned(),
        _ => {
            let out = clients
                .elb
                .create_load_balancer()
                .name(LOAD_BALANCER)
                .subnets("subnet-local-a")
                .subnets("subnet-local-b")
                .send()
                .await
                .map_err(|e| {
                    deploy_sdk::Error::from_sdk("elasticloadbalancing:CreateLoadBalancer", e)
                })?;
            say(&format!("bootstrap: created load balancer {LOAD_BALANCER}"));
            out.load_balancers()
                .first()
                .and_then(|l| l.load_balancer_arn())
                .unwrap_or_default()
                .to_owned()
        }
    };
    let listeners = clients
        .elb
        .describe_listeners()
        .load_balancer_arn(&lb_arn)
        .send()
        .await
        .map_err(|e| deploy_sdk::Error::from_sdk("elasticloadbalancing:DescribeListeners", e))?;
    if listeners.listeners().is_empty() {
        let out = clients
            .elb
            .create_listener()
            .load_balancer_arn(&lb_arn)
            .protocol(ProtocolEnum::Http)
            .port(LISTENER_PORT)
            .default_actions(
                Action::builder()
                    .r#type(ActionTypeEnum::Forward)
                    .target_group_arn(&target_group_arn)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| deploy_sdk::Error::from_sdk("elasticloadbalancing:CreateListener", e))?;
        let port = out
            .listeners()
            .first()
            .and_then(|l| l.port())
            .unwrap_or(LISTENER_PORT);
        say(&format!("bootstrap: created listener on 127.0.0.1:{port}"));
    }
    Ok(Infra { target_group_arn })
}

/// Registers the first task definition and creates the service (2 tasks, 100/200, circuit
/// breaker with rollback): the tutorial's task-definition and service stacks. Returns the
/// deployment the creation started, to watch like any other.
pub async fn create_service(
    clients: &Clients,
    settings: &Settings,
    infra: &Infra,
    image: &str,
    env: &[(String, String)],
    desired_count: Option<i32>,
) -> Result<StartedDeployment> {
    let mut container = aws_sdk_ecs::types::ContainerDefinition::builder()
        .name(&settings.container)
        .image(image)
        .essential(true)
        .stop_timeout(30)
        .port_mappings(
            PortMapping::builder()
                .container_port(i32::from(settings.container_port))
                .host_port(0)
                .protocol(TransportProtocol::Tcp)
                .build(),
        );
    for (key, value) in env {
        container = container.environment(KeyValuePair::builder().name(key).value(value).build());
    }
    let registered = clients
        .ecs
        .register_task_definition()
        .family(&settings.service)
        .network_mode(aws_sdk_ecs::types::NetworkMode::Bridge)
        .container_definitions(container.build())
        .send()
        .await
        .map_err(|e| deploy_sdk::Error::from_sdk("ecs:RegisterTaskDefinition", e))?;
    let td = registered
        .task_definition()
        .and_then(|t| t.task_definition_arn())
        .unwrap_or_default()
        .to_owned();
    let created = clients
        .ecs
        .create_service()
        .cluster(&settings.cluster)
        .service_name(&settings.service)
        .task_definition(&td)
        .desired_count(desired_count.unwrap_or(2))
        .health_check_grace_period_seconds(5)
        .load_balancers(
            LoadBalancer::builder()
                .target_group_arn(&infra.target_group_arn)
                .container_name(&settings.container)
                .container_port(i32::from(settings.container_port))
                .build(),
        )
        .deployment_configuration(
            DeploymentConfiguration::builder()
                .minimum_healthy_percent(100)
                .maximum_percent(200)
                .deployment_circuit_breaker(
                    DeploymentCircuitBreaker::builder()
                        .enable(true)
                        .rollback(true)
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .map_err(|e| deploy_sdk::Error::from_sdk("ecs:CreateService", e))?;
    let service = created
        .service()
        .context("CreateService returned no service")?;
    let mut started =
        StartedDeployment::primary_of(service, &settings.service_ref(), "ecs:CreateService")?;
    started.is_new = true;
    Ok(started)
}

#[derive(Debug, Args)]
pub struct LocalArgs {
    #[command(subcommand)]
    command: LocalCommand,
    /// local-ecs state directory [default: target/local-ecs].
    #[arg(
        long,
        global = true,
        env = "DEPLOY_LOCAL_STATE_DIR",
        value_name = "DIR"
    )]
    state_dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum LocalCommand {
    /// Start local-ecs in the background (a no-op when it already answers).
    Up,
    /// Stop local-ecs and every task it runs.
    Down,
    /// Endpoint, process, the service's deployments and tasks, and the load balancer URL.
    Status,
    /// local-ecs's own log and the container logs of the service's tasks (the awslogs stand-in).
    Logs {
        /// Lines from the end of each log.
        #[arg(long, default_value_t = 20)]
        lines: usize,
        /// Only this task (id or ARN).
        #[arg(long)]
        task: Option<String>,
    },
}

/// `cargo xtask local`.
pub fn run(args: LocalArgs) -> Result<()> {
    let state_dir = args
        .state_dir
        .clone()
        .unwrap_or_else(|| project_root().join("target").join("local-ecs"));
    match args.command {
        LocalCommand::Up => {
            let local = ensure_running(&state_dir, &|line| println!("{line}"))?;
            println!("local-ecs: {}", local.endpoint);
            println!(
                "use it: AWS_ENDPOINT_URL={} AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local",
                local.endpoint
            );
        }
        LocalCommand::Down => {
            if stop(&state_dir)? {
                println!("local-ecs stopped (state kept in {})", state_dir.display());
            } else {
                println!("local-ecs is not running");
            }
        }
        LocalCommand::Status => status(&state_dir)?,
        LocalCommand::Logs { lines, task } => logs(&state_dir, lines, task.as_deref())?,
    }
    Ok(())
}

/// Clients for a running local-ecs.
pub async fn clients(local: &LocalEcs, settings: &Settings) -> Clients {
    Clients::load(&deploy_sdk::AwsOptions {
        region: settings.region.clone(),
        profile: None,
        endpoint_url: Some(local.endpoint.clone()),
        dummy_credentials: true,
    })
    .await
}

fn status(state_dir: &Path) -> Result<()> {
    let Some(local) = running(state_dir) else {
        println!(
            "local-ecs is not running (state {}); start it with `cargo xtask local up`",
            state_dir.display()
        );
        return Ok(());
    };
    let pid = std::fs::read_to_string(pid_file(state_dir)).unwrap_or_default();
    println!(
        "local-ecs: {} (pid {}, state {})",
        local.endpoint,
        pid.trim(),
        state_dir.display()
    );
    let settings = TargetArgs::default().resolve()?;
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let clients = clients(&local, &settings).await;
        crate::status::print_status(&clients, &settings).await
    })
}

fn logs(state_dir: &Path, lines: usize, task: Option<&str>) -> Result<()> {
    let own = log_file(state_dir);
    if task.is_none() {
        print_tail(&format!("local-ecs ({})", own.display()), &own, lines);
    }
    let tasks: Vec<String> = match task {
        Some(task) => vec![task.to_owned()],
        None => {
            let Some(local) = running(state_dir) else {
                return Ok(());
            };
            let settings = TargetArgs::default().resolve()?;
            let runtime = tokio::runtime::Runtime::new()?;
            runtime.block_on(async {
                let clients = clients(&local, &settings).await;
                let mut arns = Vec::new();
                for status in [DesiredStatus::Running, DesiredStatus::Stopped] {
                    arns.extend(
                        deploy_sdk::targets::list_tasks(
                            &clients.ecs,
                            &settings.service_ref(),
                            status,
                        )
                        .await?,
                    );
                }
                Ok::<_, anyhow::Error>(arns)
            })?
        }
    };
    if tasks.is_empty() {
        return Ok(());
    }
    let binary = binary()?;
    for task in tasks {
        for (container, path) in task_log_paths(&binary, state_dir, &task)? {
            let id = task.rsplit('/').next().unwrap_or(&task);
            print_tail(&format!("task {id} container {container}"), &path, lines);
        }
    }
    Ok(())
}

fn print_tail(title: &str, path: &Path, lines: usize) {
    use std::io::Write;
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    // Write errors (a closed pipe: `| head`) end the listing quietly.
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "==> {title}");
    for line in &all[all.len().saturating_sub(lines)..] {
        if writeln!(out, "{line}").is_err() {
            return;
        }
    }
}

/// Marks that the first local deploy created the service, so later deploys treat a missing
/// service as the configuration error it is rather than creating another.
fn bootstrap_marker(state_dir: &Path) -> PathBuf {
    state_dir.join("bootstrapped-service")
}

/// Whether a missing service may be created: only on first use of this local-ecs state.
pub fn may_create_service(state_dir: &Path) -> bool {
    !bootstrap_marker(state_dir).exists()
}

/// Records that the first local deploy created `service`.
pub fn mark_bootstrapped(state_dir: &Path, settings: &Settings) {
    let _ = std::fs::write(
        bootstrap_marker(state_dir),
        format!("{}/{}\n", settings.cluster, settings.service),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_logs_are_read_as_container_and_path_bytes() {
        use std::os::unix::ffi::OsStrExt;
        let mut stdout =
            b"hello-ecs\t/state/tasks/abc/hello-ecs.log\nside\t/st\tate/\xff.log\n".to_vec();
        stdout.extend_from_slice(b"no tab here\n");
        let logs = parse_task_logs(&stdout);
        assert_eq!(logs.len(), 2, "{logs:?}");
        assert_eq!(logs[0].0, "hello-ecs");
        assert_eq!(logs[0].1, Path::new("/state/tasks/abc/hello-ecs.log"));
        assert_eq!(logs[1].0, "side");
        assert_eq!(logs[1].1.as_os_str().as_bytes(), b"/st\tate/\xff.log");
        assert!(parse_task_logs(b"").is_empty());
    }
}
