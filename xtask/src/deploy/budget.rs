//! The roll's time budget: predicted before UpdateService from the service's, task
//! definition's and target groups' settings (`deploy_sdk::time_budget`), shown with where the
//! time goes, and set against the milestones the watch saw once the roll is over.

use deploy_sdk::deploy::Prepared;
use deploy_sdk::strategy::StrategySettings;
use deploy_sdk::time_budget::{
    ActualMilestones, Estimates, Prediction, RollSettings, predict, read_settings, staged_shift,
};

use super::context::Deploy;
use super::report::BudgetJson;
use crate::config::Settings;

/// What the settings do not say, for where the deploy goes.
pub fn estimates(settings: &Settings) -> Estimates {
    let platform = if settings.local.is_some() {
        Estimates::local()
    } else {
        Estimates::aws()
    };
    Estimates {
        minute: crate::local_ecs::minute(settings),
        ..platform
    }
}

impl Deploy<'_> {
    /// Predicts the roll of `prepared` and says it; best effort (a failure to read the target
    /// groups is said and the deploy goes on).
    pub async fn predict_roll(&mut self, prepared: &Prepared) {
        let read = read_settings(
            &self.clients,
            &prepared.service,
            &prepared.revision.desired,
            self.args.desired_count,
        )
        .await;
        let read = read.map(|mut settings| {
            // `--strategy` switches the service with this very UpdateService.
            if let Some(update) = &self.strategy_update {
                let mut strategy = StrategySettings::of(&prepared.service);
                strategy.strategy = update.strategy.clone();
                strategy.bake_minutes = update.bake_minutes.unwrap_or(strategy.bake_minutes);
                settings.staged = staged_shift(&strategy);
            }
            settings
        });
        let predicted = read
            .map_err(|e| e.to_string())
            .and_then(|s| predict(&s, &estimates(self.settings)).map_err(|e| e.to_string()));
        match predicted {
            Ok(prediction) => {
                for line in prediction_lines(&prediction) {
                    self.say(&line);
                }
                self.report.budget = Some(BudgetJson::of(&prediction));
            }
            Err(why) => {
                self.say(&format!("roll budget: not predicted: {why}"));
                self.report.budget = Some(BudgetJson::unpredicted(why));
            }
        }
    }

    /// Puts what the watch (begun `watch_started_at` seconds into the deploy) saw beside the
    /// prediction.
    pub fn record_actuals(&mut self, actual: &ActualMilestones, watch_started_at: f64) {
        if let Some(budget) = &mut self.report.budget {
            budget.actual_seconds = actual.completed;
            budget.watch_started_at_seconds = Some(watch_started_at);
            for (phase, (_, seen)) in budget.phases.iter_mut().zip(actual.named()) {
                phase.actual_seconds = seen;
            }
        }
    }
}

/// "roll budget: about 4.2 s (1 wave), …" and a line per cause.
pub fn prediction_lines(p: &Prediction) -> Vec<String> {
    let s: &RollSettings = &p.settings;
    let mut lines = vec![format!(
        "roll budget: {p} ({} wave{}: desired {}, {}/{} %)",
        p.waves,
        if p.waves == 1 { "" } else { "s" },
        s.desired,
        s.minimum_healthy_percent,
        s.maximum_percent
    )];
    for (_, seconds, why) in &p.causes {
        lines.push(format!(
            "  {:>10}  {why}",
            deploy_sdk::time_budget::secs(*seconds)
        ));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_says_where_the_time_goes() {
        let p = predict(&RollSettings::default(), &Estimates::aws()).unwrap();
        let lines = prediction_lines(&p);
        assert_eq!(
            lines,
            [
                "roll budget: about 8 min 16 s, 5 min of it the 300 s deregistration delay (1 wave: desired 2, 100/200 %)",
                "       5 min  the 300 s deregistration delay",
                "  2 min 30 s  health checks: 5 passes 30 s apart",
                "        40 s  starting new tasks (about 40 s each, an estimate); 1 wave of new tasks",
                "         5 s  ECS recording the outcome and the watch seeing it",
                "         1 s  old containers exiting on SIGTERM (estimated 1 s, at most the 30 s stopTimeout)",
            ]
        );
        let mut json = BudgetJson::of(&p);
        json.actual_seconds = Some(480.0);
        json.phases[3].actual_seconds = Some(480.0);
        let line = json.comparison_line().unwrap();
        assert!(
            line.starts_with("roll budget: predicted 496.0 s, took 480.0 s"),
            "{line}"
        );
        assert!(line.ends_with("completed 496.0/480.0 s)"), "{line}");
        assert_eq!(BudgetJson::unpredicted("x".into()).comparison_line(), None);
    }
}
