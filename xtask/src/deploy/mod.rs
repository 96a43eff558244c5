//! `cargo xtask deploy`: build, image, push, roll, verify — the working tree to a verified
//! rolling update, on AWS or (with `--local`) on local-ecs. [`pipeline`] is the script; each
//! stage is a method of [`Deploy`], the one deploy in progress, in a file of its own.

mod args;
mod budget;
mod context;
mod docker;
mod gate;
mod image_definitions;
mod native;
mod plan;
mod report;
mod report_charts;
mod report_html;
mod report_svg;
mod repository;
mod roll;
mod rollback_on_failure;
mod strategy;
mod strategy_args;
mod traffic;
mod verify;
mod verify_failed;

use anyhow::{Context, Result};
use deploy_sdk::registry::ImageRef;
use deploy_sdk::taskdef::parse_env_assignment;

pub use args::DeployArgs;
use args::{Builder, Output};
pub use budget::{estimates, prediction_lines};
use context::{Deploy, ImageToDeploy};
pub use report::BudgetJson;
use report::{ImageReport, Report, print_summary};
pub use strategy_args::StrategyName;

use crate::config::Settings;
use crate::connect::connect;
use crate::failure::{self, Failure};
use crate::out::outln;
use crate::progress::{Progress, outcome_text};

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
        // --local: a dead local-ecs ends the deploy (local_guard), not the --timeout.
        runtime.block_on(crate::local_guard::watch_local(
            &settings,
            pipeline(&args, &settings, &progress, &mut report),
        ))
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
        outln!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_summary(&report, &progress);
    }
    match (
        write_html(args.report.as_deref(), &report, &progress),
        result,
    ) {
        (Err(err), Ok(())) => Err(err),
        (Err(err), Err(failed)) => {
            progress.line(format!("{err:#}"));
            Err(failed)
        }
        (Ok(()), result) => result,
    }
}

/// `--report FILE.html`: the report as a page, for every outcome.
fn write_html(path: Option<&std::path::Path>, report: &Report, progress: &Progress) -> Result<()> {
    let Some(path) = path else {
        return Ok(());
    };
    std::fs::write(path, report_html::render(report))
        .with_context(|| format!("writing the HTML report to {}", path.display()))?;
    progress.line(format!("report: {}", path.display()));
    Ok(())
}

/// The deploy, stage by stage.
async fn pipeline(
    args: &DeployArgs,
    settings: &Settings,
    progress: &Progress,
    report: &mut Report,
) -> Result<()> {
    // Bad flags fail before anything starts.
    let env = parse_env(&args.env)?;
    args.strategy.strategy().map_err(Failure::usage)?;
    let given_image = parse_image(args.image.as_deref())?;
    let definitions = match &args.image_definitions {
        Some(path) => Some(image_definitions::read(path)?),
        None => None,
    };
    if args.builder == Builder::Docker && given_image.is_none() && definitions.is_none() {
        docker::require_docker()?;
    }
    let clients = connect(settings, &|line| progress.line(line)).await?;
    // --local: one deploy of the service at a time; held to the end (verify, rollback).
    let _deploy_lock = crate::local_guard::lock_deploy(settings, &|l| progress.line(l)).await?;
    let mut deploy = Deploy::new(args, settings, progress, report, env, clients);
    deploy.image_definitions = definitions.clone().unwrap_or_default();

    let found = deploy.preflight().await?;
    let image = match (given_image, definitions) {
        (_, Some(definitions)) => {
            if let plan::Found::Missing(_) = &found {
                image_definitions::check_for_new_service(&definitions, &settings.container)?;
            }
            deploy.image_from_definitions(&definitions)
        }
        (Some(image), None) => deploy.given_image(&image),
        (None, None) if args.builder == Builder::Docker => deploy.docker_build_push().await?,
        (None, None) => deploy.build_image_push().await?,
    };
    if args.dry_run {
        return deploy.dry_run(found, &image);
    }

    let roll = deploy.stage("roll", &format!("update {}", deploy.target));
    let started = deploy.start_deployment(found, &image).await?;
    if args.no_wait {
        deploy.stage_done(roll, "started; not waiting (--no-wait)");
        deploy.report.outcome = "started".into();
        return Ok(());
    }
    let outcome = deploy.watch_rollout(&started, &image).await?;
    deploy.stage_done(roll, &outcome_text(&outcome));
    if !outcome.is_success() {
        let err = deploy.rollback_on_failure(&started, outcome).await;
        return Err(match &deploy.report.test_traffic_gate {
            Some(gate) if gate.hook_id.is_some() && !gate.passed() => Failure::deploy(format!(
                "the new build was stopped at the test-traffic gate (POST_TEST_TRAFFIC_SHIFT): {}; rolled back before any production traffic reached it\n{err:#}",
                gate.detail
            ))
            .into(),
            _ => err,
        });
    }
    deploy.report.outcome = if started.is_new {
        "deployed"
    } else {
        "unchanged"
    }
    .into();

    if args.no_verify {
        return Ok(());
    }
    deploy.verify(&image, &started).await
}

fn parse_env(assignments: &[String]) -> Result<Vec<(String, String)>> {
    let env = assignments
        .iter()
        .map(|a| parse_env_assignment(a).map_err(|e| Failure::usage(e.to_string())))
        .collect::<Result<_, _>>()?;
    Ok(env)
}

fn parse_image(image: Option<&str>) -> Result<Option<ImageRef>> {
    let image = image
        .map(ImageRef::parse)
        .transpose()
        .map_err(|e| Failure::usage(e.to_string()))?;
    Ok(image)
}

impl Deploy<'_> {
    /// `--image`: stages 1–3 skipped; the image's tag, if any, is the version to verify.
    fn given_image(&mut self, image: &ImageRef) -> ImageToDeploy {
        self.say(&format!("using image {image} (no build)"));
        self.report.image = Some(ImageReport {
            uri: image.to_string(),
            ..ImageReport::default()
        });
        ImageToDeploy {
            uri: image.to_string(),
            version: image.tag.clone(),
        }
    }
}
