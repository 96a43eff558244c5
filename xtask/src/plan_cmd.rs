//! `cargo xtask plan`: the roll's time budget without deploying — the service's, task
//! definition's and target groups' settings read, the roll predicted phase by phase, and
//! settings that would cut it, each with its trade-off.

use anyhow::Result;
use clap::Args;
use deploy_sdk::service::describe_service;
use deploy_sdk::time_budget::{Prediction, Suggestion, predict, read_settings, secs, suggest};
use serde::Serialize;

use crate::config::TargetArgs;
use crate::connect::connect;
use crate::deploy::{BudgetJson, estimates, prediction_lines};
use crate::out::{Output, outln};

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    target: TargetArgs,
    /// Predict for this desired count instead of the service's.
    #[arg(long)]
    desired_count: Option<i32>,
    /// `text`, or `json`: `{service, task_definition, budget, suggestions}` on stdout, the
    /// budget as a deploy's JSON report has it.
    #[arg(long, value_enum, default_value_t = Output::Text)]
    output: Output,
}

/// `cargo xtask plan --output json`.
#[derive(Debug, Serialize)]
struct PlanJson {
    service: String,
    task_definition: String,
    budget: BudgetJson,
    suggestions: Vec<SuggestionJson>,
}

#[derive(Debug, Serialize)]
struct SuggestionJson {
    change: String,
    how: &'static str,
    saves_seconds: f64,
    predicted_seconds: f64,
    trade_off: &'static str,
}

/// `cargo xtask plan`.
pub fn run(args: PlanArgs) -> Result<()> {
    let settings = args.target.resolve()?;
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let clients = connect(&settings, &|_| {}).await?;
        let target = settings.service_ref();
        let service = describe_service(&clients.ecs, &target).await?;
        let arn = service.task_definition().ok_or_else(|| {
            deploy_sdk::Error::incomplete_answer(
                "ecs:DescribeServices",
                format!("service {target} has no task definition"),
            )
        })?;
        let current = deploy_sdk::taskdef::describe(&clients.ecs, arn).await?;
        let roll = read_settings(
            &clients,
            &service,
            &current.task_definition,
            args.desired_count,
        )
        .await?;
        let estimates = estimates(&settings);
        let prediction = predict(&roll, &estimates)?;
        let found = suggest(&roll, &estimates);
        match args.output {
            Output::Json => print_json(target.to_string(), arn, &prediction, &found)?,
            Output::Text => {
                outln!("service {target}, task definition {arn}");
                print_text(&prediction, &found);
            }
        }
        Ok(())
    })
}

fn print_text(prediction: &Prediction, found: &[Suggestion]) {
    for line in prediction_lines(prediction) {
        outln!("{line}");
    }
    let m = &prediction.milestones;
    outln!(
        "  milestones since UpdateService: new tasks running {}, healthy {}, old tasks gone {}, completed {}",
        secs(m.new_running),
        secs(m.new_healthy),
        secs(m.old_gone),
        secs(m.completed)
    );
    print_suggestions(found);
}

fn print_json(
    service: String,
    task_definition: &str,
    prediction: &Prediction,
    found: &[Suggestion],
) -> Result<()> {
    let plan = PlanJson {
        service,
        task_definition: task_definition.to_owned(),
        budget: BudgetJson::of(prediction),
        suggestions: found
            .iter()
            .map(|s| SuggestionJson {
                change: s.change.clone(),
                how: s.how,
                saves_seconds: s.saves,
                predicted_seconds: s.predicted,
                trade_off: s.trade_off,
            })
            .collect(),
    };
    outln!("{}", serde_json::to_string_pretty(&plan)?);
    Ok(())
}

fn print_suggestions(found: &[Suggestion]) {
    if found.is_empty() {
        outln!("no setting change would cut the roll by more than a second or 5 %");
        return;
    }
    outln!("settings that would cut it:");
    for s in found {
        outln!(
            "  {} ({}): about {} instead, {} less",
            s.change,
            s.how,
            secs(s.predicted),
            secs(s.saves)
        );
        outln!("      trade-off: {}", s.trade_off);
    }
}
