//! `cargo xtask deploy`: build, image, push, roll, verify — the working tree to a verified
//! rolling update, on AWS or (with `--local`) on local-ecs.

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use deploy_sdk::deploy::{DeployRequest, Deployer};
use deploy_sdk::ecr;
use deploy_sdk::registry::ImageRef;
use deploy_sdk::rollout::{Outcome, RolloutEvent, WatchOptions, WatchStats};
use deploy_sdk::service::{
    ServiceRef, StartedDeployment, UpdateOptions, describe_service, short_task_definition,
};
use deploy_sdk::taskdef::{self, ContainerChanges, NewRevision, parse_env_assignment};
use deploy_sdk::verify::{Expectation, VerifyOptions, VerifyReport, verify};
use futures::StreamExt;
use serde::Serialize;

use crate::config::{Settings, TargetArgs};
use crate::failure::{self, Failure};
use crate::progress::{Progress, outcome_text};
use crate::{binary, image, local, status};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// Progress and a summary for people.
    Text,
    /// A machine-readable report on stdout; progress goes to stderr.
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Builder {
    /// A static binary in an OCI image made without Docker (like `ko`).
    Native,
    /// `docker build` with the repository's Dockerfile and `docker push` (needs a Docker engine).
    Docker,
}

#[derive(Debug, Args)]
pub struct DeployArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Deploy this image instead of building one (skips build, image and push).
    #[arg(long, value_name = "URI")]
    pub image: Option<String>,
    /// Set a container variable in the new revision (repeatable), e.g. --env GREETING=hi.
    #[arg(long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// Start the update and exit without waiting for the rollout (and without verifying).
    #[arg(long, env = "DEPLOY_NO_WAIT")]
    pub no_wait: bool,
    /// Don't verify through the load balancer.
    #[arg(long, env = "DEPLOY_NO_VERIFY")]
    pub no_verify: bool,
    /// Give up on the rollout after this many seconds.
    #[arg(
        long,
        env = "DEPLOY_TIMEOUT",
        default_value_t = 900,
        value_name = "SECS"
    )]
    pub timeout: u64,
    /// New desired count for the service.
    #[arg(long, env = "DEPLOY_DESIRED_COUNT")]
    pub desired_count: Option<i32>,
    /// On failure, put the service back on the previous task definition and wait for it.
    #[arg(long, env = "DEPLOY_ROLLBACK_ON_FAILURE", default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub rollback_on_failure: bool,
    /// `text`, or `json` for a machine-readable report on stdout.
    #[arg(long, value_enum, default_value_t = Output::Text, env = "DEPLOY_OUTPUT")]
    pub output: Output,
    /// Print the task-definition diff and the UpdateService request; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// How the image is built.
    #[arg(long, value_enum, default_value_t = Builder::Native, env = "DEPLOY_BUILDER")]
    pub builder: Builder,
    /// Verify at this base URL instead of the one discovered from the load balancer.
    #[arg(long, env = "DEPLOY_URL")]
    pub url: Option<String>,
    /// Path polled during verification.
    #[arg(long, default_value = "/hello/verify")]
    pub verify_path: String,
    /// Consecutive answers from the new build that prove the rollout.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    pub verify_count: u32,
    /// Give up verifying after this many seconds.
    #[arg(long, default_value_t = 120, value_name = "SECS")]
    pub verify_timeout: u64,
    /// Register a new revision and start a new deployment even when nothing changed.
    #[arg(long)]
    pub force: bool,
}

/// The machine-readable account of a deploy (`--output json`).
#[derive(Debug, Default, Serialize)]
pub struct Report {
    /// deployed, unchanged, started, dry_run, failed, rolled_back, timed_out,
    /// verification_failed, error.
    pub outcome: String,
    pub exit_code: u8,
    pub cluster: String,
    pub service: String,
    pub build_id: Option<String>,
    pub image: Option<ImageReport>,
    pub old_task_definition: Option<String>,
    pub new_task_definition: Option<String>,
    pub deployment_id: Option<String>,
    pub registered_new_revision: bool,
    pub stages: Vec<Stage>,
    pub reason: Option<String>,
    pub stopped_tasks: Vec<String>,
    pub last_events: Vec<String>,
    pub rollout: Option<RolloutJson>,
    pub rollback: Option<RollbackReport>,
    pub url: Option<String>,
    pub verify: Option<VerifyJson>,
    pub error: Option<String>,
}

#[derive(Debug, Default, Serialize)]
pub struct ImageReport {
    pub uri: String,
    pub digest: Option<String>,
    pub size_bytes: Option<u64>,
    pub uploaded_blobs: usize,
    pub skipped_blobs: usize,
}

#[derive(Debug, Serialize)]
pub struct Stage {
    pub name: String,
    pub seconds: f64,
}

#[derive(Debug, Serialize)]
pub struct RolloutJson {
    pub describe_services_calls: u32,
    pub describes_per_minute: f64,
    pub watched_seconds: f64,
    /// From ECS's updatedAt of the deployment at its outcome to the watch seeing it.
    pub outcome_seen_after_seconds: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct RollbackReport {
    pub deployment_id: Option<String>,
    pub to: String,
    pub outcome: String,
}

#[derive(Debug, Serialize)]
pub struct VerifyJson {
    pub url: String,
    pub converged: bool,
    pub required: u32,
    pub new: u32,
    pub old: u32,
    pub errors: u32,
    pub first_new_after_seconds: Option<f64>,
    pub converged_after_seconds: Option<f64>,
    /// Per second: [new, old, errors].
    pub per_second: Vec<[u32; 3]>,
}

impl From<&VerifyReport> for VerifyJson {
    fn from(r: &VerifyReport) -> Self {
        VerifyJson {
            url: r.url.clone(),
            converged: r.converged,
            required: r.required,
            new: r.totals.new,
            old: r.totals.old,
            errors: r.totals.errors,
            first_new_after_seconds: r.first_new_after.map(|d| d.as_secs_f64()),
            converged_after_seconds: r.converged_after.map(|d| d.as_secs_f64()),
            per_second: r
                .per_second
                .iter()
                .map(|s| [s.new, s.old, s.errors])
                .collect(),
        }
    }
}

/// `cargo xtask deploy`.
pub fn run(args: DeployArgs) -> Result<()> {
    let json = args.output == Output::Json;
    let progress = Progress::new(json);
    let mut report = Report::default();
    let result = (|| {
        let settings = args.target.resolve()?;
        report.cluster = settings.cluster.clone();
        report.service = settings.service.clone();
        let runtime = tokio::runtime::Runtime::new()?;
        runtime.block_on(pipeline(&args, &settings, &progress, &mut report))
    })();
    progress.finish();
    if let Err(err) = &result {
        report.exit_code = failure::exit_code(err);
        report.error = Some(format!("{err:#}"));
        if report.outcome.is_empty() || report.outcome == "deployed" {
            report.outcome = if report.exit_code == failure::VERIFY {
                "verification_failed"
            } else {
                "error"
            }
            .into();
        }
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_summary(&report, &progress);
    }
    result
}

fn print_summary(report: &Report, progress: &Progress) {
    let stages: Vec<String> = report
        .stages
        .iter()
        .map(|s| format!("{} {:.1}s", s.name, s.seconds))
        .collect();
    if !stages.is_empty() {
        progress.line(format!("stages: {}", stages.join(", ")));
    }
    if report.outcome == "deployed" || report.outcome == "unchanged" {
        let td = report
            .new_task_definition
            .as_deref()
            .map(short_task_definition)
            .unwrap_or("?");
        let url = report
            .url
            .as_deref()
            .map(|u| format!(" at {u}"))
            .unwrap_or_default();
        progress.line(format!("deployed {td}{url}"));
    }
}

/// Times a stage and records it in the report.
struct StageClock {
    name: &'static str,
    started: Instant,
}

impl StageClock {
    fn start(progress: &Progress, name: &'static str, what: &str) -> StageClock {
        progress.stage(name, what);
        StageClock {
            name,
            started: Instant::now(),
        }
    }

    fn done(self, progress: &Progress, report: &mut Report, detail: &str) -> Duration {
        let took = self.started.elapsed();
        progress.stage_done(self.name, took, detail);
        report.stages.push(Stage {
            name: self.name.into(),
            seconds: took.as_secs_f64(),
        });
        took
    }
}

/// What the preflight found.
enum Existing {
    /// The service exists (and has the container).
    Service,
    /// No service yet (local only: it is created after the push).
    Missing,
}

async fn pipeline(
    args: &DeployArgs,
    settings: &Settings,
    progress: &Progress,
    report: &mut Report,
) -> Result<()> {
    let env: Vec<(String, String)> = args
        .env
        .iter()
        .map(|a| parse_env_assignment(a).map_err(|e| Failure::usage(e.to_string())))
        .collect::<Result<_, _>>()?;
    let image_arg = args
        .image
        .as_deref()
        .map(ImageRef::parse)
        .transpose()
        .map_err(|e| Failure::usage(e.to_string()))?;
    if args.builder == Builder::Docker && image_arg.is_none() {
        require_docker()?;
    }
    let say = |line: &str| progress.line(line);
    let clients = status::connect(settings, &say).await?;
    let target = settings.service_ref();

    // Bootstrap (local) and preflight: fail on a wrong cluster, service or container before
    // spending a minute on the build.
    let infra = match (&settings.local, args.dry_run) {
        (Some(_), false) => Some(local::bootstrap(&clients, settings, &say).await?),
        _ => None,
    };
    let existing = match describe_service(&clients.ecs, &target).await {
        Ok(service) => {
            let current =
                taskdef::describe(&clients.ecs, service.task_definition().unwrap_or_default())
                    .await?;
            // Planning with a placeholder image checks the container exists (exit 2 if not).
            let env_only = env.iter().fold(ContainerChanges::default(), |c, (k, v)| {
                c.env(&settings.container, k, v)
            });
            let plan =
                NewRevision::plan(current, &env_only.image(&settings.container, "placeholder"))?;
            report.old_task_definition = Some(plan.current.arn().to_owned());
            Existing::Service
        }
        Err(
            deploy_sdk::Error::ServiceNotFound { .. } | deploy_sdk::Error::ClusterNotFound { .. },
        ) if settings
            .local
            .as_deref()
            .is_some_and(local::may_create_service) =>
        {
            say(&format!(
                "service {target} does not exist yet: it will be created after the push"
            ));
            Existing::Missing
        }
        Err(err) => return Err(err.into()),
    };

    // Stages 1–3: build, image, push (or the given image).
    let (image_uri, expected_version) = match &image_arg {
        Some(image) => {
            say(&format!("using image {image} (no build)"));
            report.image = Some(ImageReport {
                uri: image.to_string(),
                ..ImageReport::default()
            });
            (image.to_string(), image.tag.clone())
        }
        None => {
            let (uri, build_id) =
                build_and_push(args, settings, &clients, progress, report).await?;
            (uri, Some(build_id))
        }
    };

    // Stage 4: roll.
    let changes = env.iter().fold(
        ContainerChanges::default().image(&settings.container, &image_uri),
        |c, (k, v)| c.env(&settings.container, k, v),
    );
    let deployer = Deployer::new(clients.clone());
    let request = DeployRequest {
        service: target.clone(),
        changes,
        update: UpdateOptions {
            desired_count: args.desired_count,
            force_new_deployment: args.force,
            ..UpdateOptions::default()
        },
        force_register: args.force,
    };
    if args.dry_run {
        match existing {
            Existing::Service => {
                let prepared = deployer.prepare(&request).await?;
                let summary = deployer.summary(&prepared, &request).to_string();
                for line in summary.lines() {
                    progress.line(format!("dry run: {line}"));
                }
                report.new_task_definition = (!prepared.registers).then(|| prepared.current_task_definition().to_owned());
            }
            Existing::Missing => progress.line(format!(
                "dry run: would bootstrap the local stack and create service {target} with {image_uri}"
            )),
        }
        report.outcome = "dry_run".into();
        return Ok(());
    }
    let clock = StageClock::start(progress, "roll", &format!("update {target}"));
    let started = match existing {
        Existing::Missing => {
            let infra = infra
                .as_ref()
                .context("the local stack was not bootstrapped")?;
            let started = local::create_service(
                &clients,
                settings,
                infra,
                &image_uri,
                &env,
                args.desired_count,
            )
            .await?;
            if let Some(state_dir) = &settings.local {
                local::mark_bootstrapped(state_dir, settings);
            }
            report.registered_new_revision = true;
            started
        }
        Existing::Service => {
            let prepared = deployer.prepare(&request).await?;
            report.registered_new_revision = prepared.registers;
            if !prepared.updates {
                say("nothing to change: the service already runs this image and environment");
            }
            deployer.start(&prepared, &request).await?
        }
    };
    report.new_task_definition = Some(started.task_definition.clone());
    report.deployment_id = Some(started.deployment_id.clone());
    status::record(settings, &started);
    progress.set_ours(&started.deployment_id);
    say(&format!(
        "deployment {} of {}{}",
        started.deployment_id,
        short_task_definition(&started.task_definition),
        if started.is_new {
            ""
        } else {
            " (already in place)"
        }
    ));
    if args.no_wait {
        clock.done(progress, report, "started; not waiting (--no-wait)");
        report.outcome = "started".into();
        return Ok(());
    }
    let options = WatchOptions {
        timeout: Duration::from_secs(args.timeout),
        ..WatchOptions::default()
    };
    let watched = watch_to_outcome(&deployer, started.clone(), options.clone(), progress).await?;
    report.last_events = watched
        .messages
        .iter()
        .rev()
        .take(10)
        .rev()
        .cloned()
        .collect();
    report.rollout = watched.stats.map(|stats| RolloutJson {
        describe_services_calls: stats.describe_services_calls,
        describes_per_minute: stats.describes_per_minute(),
        watched_seconds: stats.watched.as_secs_f64(),
        outcome_seen_after_seconds: watched.seen_after,
    });
    let outcome = watched.outcome;
    if !outcome.is_success() {
        clock.done(progress, report, &outcome_text(&outcome));
        return Err(handle_failure(
            args, &deployer, &started, outcome, options, progress, report,
        )
        .await);
    }
    clock.done(progress, report, &outcome_text(&outcome));
    report.outcome = if started.is_new {
        "deployed"
    } else {
        "unchanged"
    }
    .into();

    // Stage 5: verify.
    if args.no_verify {
        return Ok(());
    }
    let base = match &args.url {
        Some(url) => url.trim_end_matches('/').to_owned(),
        None => deployer.discover_url(&target).await?,
    };
    report.url = Some(base.clone());
    let greeting = env
        .iter()
        .find(|(k, _)| k == "GREETING")
        .map(|(_, v)| hello_service::html::escape(v).into_owned());
    let expect = Expectation {
        header: expected_version.map(|v| (hello_service::APP_VERSION_HEADER.to_owned(), v)),
        body_contains: greeting.map(|g| format!("{g} ")),
    };
    if expect.header.is_none() && expect.body_contains.is_none() {
        say(
            "verify: skipped — the image has no tag to recognise the new build by (pass --url with a tagged --image)",
        );
        return Ok(());
    }
    let url = format!("{base}{}", args.verify_path);
    let clock = StageClock::start(
        progress,
        "verify",
        &format!(
            "GET {url} until {} answers in a row come from the new build",
            args.verify_count
        ),
    );
    let options = VerifyOptions {
        consecutive: args.verify_count,
        timeout: Duration::from_secs(args.verify_timeout),
        ..VerifyOptions::default()
    };
    let verified = verify(&url, &expect, &options, |answer, totals| {
        progress.verify(answer, totals)
    })
    .await?;
    report.verify = Some(VerifyJson::from(&verified));
    let mix: Vec<String> = verified
        .per_second
        .iter()
        .map(|s| format!("{}/{}/{}", s.new, s.old, s.errors))
        .collect();
    clock.done(progress, report, &verified.to_string());
    progress.line(format!(
        "verify: per second new/old/errors: {}",
        mix.join(" ")
    ));
    verified.into_result()?;
    Ok(())
}

/// Stages 1–3. Returns the pinned image URI and the build id.
async fn build_and_push(
    args: &DeployArgs,
    settings: &Settings,
    clients: &deploy_sdk::Clients,
    progress: &Progress,
    report: &mut Report,
) -> Result<(String, String)> {
    if args.builder == Builder::Docker {
        return docker_build_and_push(args, settings, clients, progress, report).await;
    }
    let clock = StageClock::start(
        progress,
        "build",
        "cargo build --release -p hello-service (static)",
    );
    let built = tokio::task::block_in_place(|| binary::build(args.output == Output::Json))?;
    clock.done(
        progress,
        report,
        &format!(
            "{} for {}, build {}",
            built.path.display(),
            built.target,
            built.build_id
        ),
    );
    report.build_id = Some(built.build_id.clone());

    let clock = StageClock::start(progress, "image", "OCI image without Docker");
    let oci = image::hello_image(&built, settings.container_port)?;
    clock.done(
        progress,
        report,
        &format!("{} ({} bytes)", oci.digest(), oci.size()),
    );

    let clock = StageClock::start(
        progress,
        "push",
        &format!("ECR repository {}", settings.repository),
    );
    let (auth, repository) = ecr_repository(args.dry_run, settings, clients).await?;
    let repo = ImageRef::parse(&repository)?;
    let pinned = repo.pinned(oci.digest());
    let mut image_report = ImageReport {
        uri: pinned.clone(),
        digest: Some(oci.digest().to_owned()),
        size_bytes: Some(oci.size()),
        ..ImageReport::default()
    };
    if args.dry_run {
        clock.done(
            progress,
            report,
            &format!("not pushed (dry run); would be {pinned}"),
        );
    } else {
        // With immutable tags (as infra/ sets them up), a build id already holding another
        // image (say, CodeBuild's Docker build of the same commit) cannot be moved: push by
        // digest and leave that tag alone. The task definition pins the digest either way.
        let existing = ecr::image_digest(
            &clients.ecr,
            &settings.repository,
            &ecr::ImageSelector::Tag(built.build_id.clone()),
        )
        .await?;
        let mut tags = vec!["latest".to_owned()];
        match existing {
            Some(digest) if digest != oci.digest() => progress.line(format!(
                "push: tag {} already holds {digest}; pushing by digest without moving it",
                built.build_id
            )),
            _ => tags.insert(0, built.build_id.clone()),
        }
        let pushed = deploy_sdk::image::push(&oci, &repo, &tags, Some(&auth.login)).await?;
        image_report.uploaded_blobs = pushed.uploaded_blobs;
        image_report.skipped_blobs = pushed.skipped_blobs;
        clock.done(
            progress,
            report,
            &format!(
                "{pinned} tagged {} ({} blobs uploaded, {} already there)",
                tags.join(", "),
                pushed.uploaded_blobs,
                pushed.skipped_blobs
            ),
        );
    }
    report.image = Some(image_report);
    Ok((pinned, built.build_id))
}

/// `--builder docker` needs an engine: say so before anything else happens.
fn require_docker() -> Result<()> {
    let info = Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .output();
    if info.as_ref().is_ok_and(|o| o.status.success()) {
        return Ok(());
    }
    Err(Failure::usage(
        "--builder docker needs a Docker engine, and none answers (`docker info` failed): start one, or use the default builder (no Docker needed)",
    )
    .into())
}

/// ECR login and the repository URI; created when missing, except in a dry run, which
/// changes nothing and only names it.
async fn ecr_repository(
    dry_run: bool,
    settings: &Settings,
    clients: &deploy_sdk::Clients,
) -> Result<(ecr::RegistryAuth, String)> {
    let auth = ecr::registry_auth(&clients.ecr).await?;
    let repository = if dry_run {
        format!("{}/{}", auth.registry, settings.repository)
    } else {
        ecr::ensure_repository(&clients.ecr, &settings.repository)
            .await?
            .uri
    };
    Ok((auth, repository))
}

/// `--builder docker`: `docker build` with the Dockerfile, `docker login` with the ECR token
/// on stdin, `docker push`, and the pushed digest.
async fn docker_build_and_push(
    args: &DeployArgs,
    settings: &Settings,
    clients: &deploy_sdk::Clients,
    progress: &Progress,
    report: &mut Report,
) -> Result<(String, String)> {
    let build_id = binary::build_id();
    report.build_id = Some(build_id.clone());
    let (auth, repository) = ecr_repository(args.dry_run, settings, clients).await?;
    let tagged = format!("{repository}:{build_id}");
    let clock = StageClock::start(progress, "build", &format!("docker build -t {tagged}"));
    crate::util::run(
        Command::new("docker")
            .current_dir(crate::util::project_root())
            .args(["build", "-t", &tagged, "--build-arg"])
            .arg(format!("HELLO_BUILD_ID={build_id}"))
            .arg("."),
    )?;
    clock.done(progress, report, &tagged);
    if args.dry_run {
        return Ok((tagged, build_id));
    }
    let clock = StageClock::start(progress, "push", &format!("docker push {tagged}"));
    let mut login = Command::new("docker")
        .args([
            "login",
            "--username",
            &auth.login.username,
            "--password-stdin",
            &auth.registry,
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .context("docker login")?;
    if let Some(mut stdin) = login.stdin.take() {
        use std::io::Write;
        stdin.write_all(auth.login.password.expose().as_bytes())?;
    }
    if !login.wait()?.success() {
        return Err(Failure::deploy(format!("docker login to {} failed", auth.registry)).into());
    }
    crate::util::run(Command::new("docker").args(["push", &tagged]))?;
    let digest = crate::util::output(Command::new("docker").args([
        "inspect",
        "--format",
        "{{index .RepoDigests 0}}",
        &tagged,
    ]))?;
    let pinned = digest.trim().to_owned();
    clock.done(progress, report, &pinned);
    report.image = Some(ImageReport {
        uri: pinned.clone(),
        ..ImageReport::default()
    });
    Ok((pinned, build_id))
}

/// What a watch saw.
pub struct Watched {
    pub outcome: Outcome,
    /// Service events, oldest first.
    pub messages: Vec<String>,
    pub stats: Option<WatchStats>,
    /// Seconds from ECS recording the outcome (the deployment's updatedAt) to the watch
    /// seeing it, when ECS gives the time.
    pub seen_after: Option<f64>,
}

/// Watches to the outcome, showing progress.
pub async fn watch_to_outcome(
    deployer: &Deployer,
    started: StartedDeployment,
    options: WatchOptions,
    progress: &Progress,
) -> Result<Watched> {
    let ours = started.deployment_id.clone();
    let mut stream = std::pin::pin!(deployer.watch(started, options));
    let (mut messages, mut stats, mut table) = (Vec::new(), None, Vec::new());
    while let Some(event) = stream.next().await {
        let event = event?;
        progress.rollout(&event);
        match event {
            RolloutEvent::ServiceEvent { message, .. } => messages.push(message),
            RolloutEvent::Deployments(rows) => table = rows,
            RolloutEvent::Stats(s) => stats = Some(s),
            RolloutEvent::Outcome(outcome) => {
                let seen_after = table
                    .iter()
                    .find(|d| d.id == ours)
                    .and_then(|d| d.updated_at)
                    .and_then(|at| std::time::SystemTime::now().duration_since(at).ok())
                    .map(|d| d.as_secs_f64());
                return Ok(Watched {
                    outcome,
                    messages,
                    stats,
                    seen_after,
                });
            }
            _ => {}
        }
    }
    Err(anyhow::anyhow!(
        "the rollout watch ended without an outcome"
    ))
}

/// Reports a failed rollout, rolls back when asked, and returns the error to exit with.
async fn handle_failure(
    args: &DeployArgs,
    deployer: &Deployer,
    started: &StartedDeployment,
    outcome: Outcome,
    options: WatchOptions,
    progress: &Progress,
    report: &mut Report,
) -> anyhow::Error {
    let (kind, reason, stopped) = match &outcome {
        Outcome::Failed {
            reason,
            stopped_tasks,
            ..
        } => ("failed", reason.clone(), stopped_tasks.clone()),
        Outcome::RolledBack {
            reason,
            stopped_tasks,
            ..
        } => ("rolled_back", reason.clone(), stopped_tasks.clone()),
        Outcome::TimedOut { .. } => ("timed_out", outcome_text(&outcome), Vec::new()),
        Outcome::Completed { .. } => ("deployed", String::new(), Vec::new()),
    };
    report.outcome = kind.into();
    report.reason = Some(reason);
    report.stopped_tasks = stopped.iter().map(ToString::to_string).collect();

    if args.rollback_on_failure {
        // The circuit breaker may already be rolling back: then wait for its deployment.
        let rollback = match &outcome {
            Outcome::RolledBack {
                by: Some(by), to, ..
            } => Ok(StartedDeployment {
                deployment_id: by.clone(),
                task_definition: to.clone(),
                previous_task_definition: Some(started.task_definition.clone()),
                is_new: false,
                ..started.clone()
            }),
            Outcome::RolledBack { .. } => Err(None),
            _ if started.previous_task_definition.is_some() => {
                deployer.rollback(started).await.map_err(Some)
            }
            _ => Err(None),
        };
        match rollback {
            Ok(rollback) => {
                progress.line(format!(
                    "rollback: waiting for {} ({})",
                    rollback.deployment_id,
                    short_task_definition(&rollback.task_definition)
                ));
                progress.set_ours(&rollback.deployment_id);
                let result = watch_to_outcome(deployer, rollback.clone(), options, progress).await;
                let rb_outcome = match &result {
                    Ok(w) => outcome_text(&w.outcome),
                    Err(err) => format!("watch failed: {err:#}"),
                };
                report.rollback = Some(RollbackReport {
                    deployment_id: Some(rollback.deployment_id.clone()),
                    to: rollback.task_definition.clone(),
                    outcome: rb_outcome,
                });
                if !matches!(outcome, Outcome::RolledBack { .. })
                    && result.as_ref().is_ok_and(|w| w.outcome.is_success())
                {
                    report.outcome = "rolled_back".into();
                }
            }
            Err(Some(err)) => progress.line(format!("rollback failed: {err}")),
            Err(None) => {}
        }
    }
    let mut message = format!(
        "deploy {}: {}",
        report.outcome.replace('_', " "),
        outcome_text(&outcome)
    );
    for task in &report.stopped_tasks {
        message.push_str(&format!("\n  stopped task {task}"));
    }
    for event in report.last_events.iter().rev().take(5).rev() {
        message.push_str(&format!("\n  event: {event}"));
    }
    let service = &started.service;
    message.push_str(&look_further(args, service));
    Failure::deploy(message).into()
}

fn look_further(args: &DeployArgs, service: &ServiceRef) -> String {
    let mut hint = format!(
        "\n  look further: cargo xtask status{}",
        if args.target.local { " --local" } else { "" }
    );
    if args.target.local {
        hint.push_str(" ; cargo xtask local logs");
    } else {
        hint.push_str(&format!(
            " ; aws ecs describe-services --cluster {} --services {} ; the task logs in CloudWatch",
            service.cluster, service.service
        ));
    }
    hint
}
