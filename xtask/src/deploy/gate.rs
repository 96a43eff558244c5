//! The test-traffic gate: when a blue/green, linear or canary deployment reaches
//! POST_TEST_TRAFFIC_SHIFT and a PAUSE hook holds it there, the test listener already serves
//! the new (green) build while production stays on blue. The gate verifies green through the
//! test listener, then answers the hook: CONTINUE (production traffic moves) or ROLLBACK (it
//! never does). Without a gate, a paused deployment is announced with the commands that
//! answer it (`cargo xtask continue` / `abort`).

use std::time::Duration;

use anyhow::{Context, Result};
use aws_sdk_elasticloadbalancingv2::types::TargetHealthStateEnum;
use deploy_sdk::Clients;
use deploy_sdk::rollout::StageState;
use deploy_sdk::service::{StartedDeployment, describe_service};
use deploy_sdk::service_deployment::{HookAnswer, continue_deployment};
use deploy_sdk::strategy::StrategySettings;
use deploy_sdk::verify::{
    Expectation, Fleet, FleetHealth, FleetSource, VerifyOptions, discover_test_endpoint, verify,
};
use tokio::sync::mpsc::UnboundedReceiver;

use super::context::{Deploy, ImageToDeploy};
use super::report::{GateJson, VerifyJson};

/// The stage the gate acts at.
const GATE_STAGE: &str = "POST_TEST_TRAFFIC_SHIFT";

/// How the gate will verify, worked out before the watch starts.
pub struct GatePlan {
    service_deployment: String,
    test_rule: String,
    url: String,
    expect: Expectation,
    options: VerifyOptions,
}

impl Deploy<'_> {
    /// The gate for this deployment, or `None` (said why when the flag asked for it): the
    /// service (as updated) must have a test listener rule and a PAUSE hook at
    /// POST_TEST_TRAFFIC_SHIFT, the deployment a ServiceDeployment ARN, the image a version
    /// to recognise.
    pub async fn gate_plan(
        &self,
        started: &StartedDeployment,
        image: &ImageToDeploy,
    ) -> Result<Option<GatePlan>> {
        let asked = self.args.strategy.verify_test_traffic;
        let rolling = self.report.strategy.as_deref() == Some("rolling");
        if asked == Some(false) || (asked.is_none() && (self.args.no_verify || rolling)) {
            return Ok(None);
        }
        let service = describe_service(&self.clients.ecs, &self.target).await?;
        let settings = StrategySettings::of(&service);
        let why_not = if settings.test_traffic_gate().is_none() {
            "the service has no PAUSE hook at POST_TEST_TRAFFIC_SHIFT with a test listener rule"
        } else if started.service_deployment_arn.is_none() {
            "the deployment has no ServiceDeployment ARN to answer its hook"
        } else if self.expectation(image).is_none() {
            "the image has no tag to recognise the new build by"
        } else {
            ""
        };
        if !why_not.is_empty() {
            if asked == Some(true) {
                self.say(&format!("test-traffic gate: off — {why_not}"));
            }
            return Ok(None);
        }
        let (Some(arn), Some(expect)) = (&started.service_deployment_arn, self.expectation(image))
        else {
            return Ok(None);
        };
        let test_rule = settings
            .rules
            .iter()
            .find_map(|r| r.test_rule.clone())
            .context("the service's test listener rule vanished")?;
        let endpoint = discover_test_endpoint(&self.clients, &self.target)
            .await?
            .context("the service has no test listener rule")?;
        let options = VerifyOptions {
            consecutive: self.args.verify_count,
            timeout: Duration::from_secs(self.args.verify_timeout),
            host: self.args.verify_host.clone().or(endpoint.host),
            ..VerifyOptions::default()
        };
        Ok(Some(GatePlan {
            service_deployment: arn.clone(),
            test_rule,
            url: format!("{}{}", endpoint.url, self.args.verify_path),
            expect,
            options,
        }))
    }

    /// Follows the stage events until the watch ends; acts once at the gate (or announces a
    /// pause when there is no gate).
    pub async fn run_gate(
        &self,
        plan: Option<GatePlan>,
        mut stages: UnboundedReceiver<StageState>,
    ) -> Option<GateJson> {
        let mut announced = None;
        while let Some(state) = stages.recv().await {
            let Some(hook) = state.awaiting_action().filter(|h| h.target_type == "PAUSE") else {
                continue;
            };
            let stage = state.stage.clone().unwrap_or_default();
            match &plan {
                Some(plan) if stage == GATE_STAGE => {
                    return Some(self.gate(plan, &hook.hook_id).await);
                }
                _ if announced.as_ref() != Some(&hook.hook_id) => {
                    announced = Some(hook.hook_id.clone());
                    self.say(&format!(
                        "roll: paused at {stage} by PAUSE hook {}: `cargo xtask continue` goes on, `cargo xtask abort` rolls back",
                        hook.hook_id
                    ));
                }
                _ => {}
            }
        }
        plan.map(|p| GateJson {
            result: "not_reached",
            url: p.url,
            hook_id: None,
            started_at_seconds: None,
            seconds: None,
            detail: "the deployment never paused at POST_TEST_TRAFFIC_SHIFT".into(),
            verify: None,
        })
    }

    /// Verifies green through the test listener and answers the hook.
    async fn gate(&self, plan: &GatePlan, hook_id: &str) -> GateJson {
        let at = self.progress.elapsed();
        self.say(&format!(
            "test-traffic gate: GET {} (test listener: green only; production still on blue)",
            plan.url
        ));
        let mut fleet = TestListenerFleet {
            clients: &self.clients,
            rule: &plan.test_rule,
        };
        let progress = self.progress;
        let verified = verify(
            &plan.url,
            &plan.expect,
            &plan.options,
            &mut fleet,
            |a, t| progress.verify(a, t),
        )
        .await;
        let (answer, result, detail, verify) = match verified {
            Ok(report) if report.converged => (
                HookAnswer::Continue,
                "passed",
                report.to_string(),
                Some(VerifyJson::from(&report)),
            ),
            Ok(report) => (
                HookAnswer::Rollback,
                "failed",
                report.to_string(),
                Some(VerifyJson::from(&report)),
            ),
            Err(err) => (HookAnswer::Rollback, "error", err.to_string(), None),
        };
        let answered =
            continue_deployment(&self.clients.ecs, &plan.service_deployment, hook_id, answer).await;
        let (result, detail) = match answered {
            Ok(()) => (result, detail),
            Err(err) => (
                "error",
                format!("{detail}; answering the hook failed: {err}"),
            ),
        };
        self.say(&format!(
            "test-traffic gate: {result} — {} ({detail})",
            match answer {
                HookAnswer::Continue => "CONTINUE: production traffic moves to the new build",
                HookAnswer::Rollback => "ROLLBACK: production traffic never moves",
            }
        ));
        GateJson {
            result,
            url: plan.url.clone(),
            hook_id: Some(hook_id.to_owned()),
            started_at_seconds: Some(at.as_secs_f64()),
            seconds: Some((self.progress.elapsed() - at).as_secs_f64()),
            detail,
            verify,
        }
    }
}

/// The targets behind the test listener rule: at POST_TEST_TRAFFIC_SHIFT it forwards to the
/// green target group only; targets of any other group it still weighs count as others.
struct TestListenerFleet<'a> {
    clients: &'a Clients,
    rule: &'a str,
}

impl Fleet for TestListenerFleet<'_> {
    async fn observe(&mut self) -> deploy_sdk::Result<FleetHealth> {
        const RULES: &str = "elasticloadbalancing:DescribeRules";
        let rules = self
            .clients
            .elb
            .describe_rules()
            .rule_arns(self.rule)
            .send()
            .await
            .map_err(|e| deploy_sdk::Error::from_sdk(RULES, e))?;
        let mut groups: Vec<(String, i32)> = rules
            .rules()
            .iter()
            .flat_map(|r| r.actions())
            .filter_map(|a| a.forward_config())
            .flat_map(|f| f.target_groups())
            .filter_map(|t| Some((t.target_group_arn()?.to_owned(), t.weight().unwrap_or(1))))
            .filter(|(_, w)| *w > 0)
            .collect();
        if groups.is_empty() {
            return Err(deploy_sdk::Error::incomplete_answer(
                RULES,
                format!(
                    "test listener rule {} forwards to no target group",
                    self.rule
                ),
            ));
        }
        groups.sort_by_key(|(_, w)| std::cmp::Reverse(*w));
        let (mut in_service, mut others) = (0, 0);
        for (i, (group, _)) in groups.iter().enumerate() {
            let n = self.in_service(group).await?;
            in_service += n;
            if i > 0 {
                others += n;
            }
        }
        Ok(FleetHealth {
            source: FleetSource::TargetHealth,
            in_service,
            others_in_service: others,
        })
    }
}

impl TestListenerFleet<'_> {
    async fn in_service(&self, group: &str) -> deploy_sdk::Result<u32> {
        const ACTION: &str = "elasticloadbalancing:DescribeTargetHealth";
        let health = self
            .clients
            .elb
            .describe_target_health()
            .target_group_arn(group)
            .send()
            .await
            .map_err(|e| deploy_sdk::Error::from_sdk(ACTION, e))?;
        let serving = health
            .target_health_descriptions()
            .iter()
            .filter(|d| {
                matches!(
                    d.target_health().and_then(|h| h.state()),
                    Some(
                        TargetHealthStateEnum::Healthy
                            | TargetHealthStateEnum::Initial
                            | TargetHealthStateEnum::Unhealthy
                            | TargetHealthStateEnum::Unavailable
                    )
                )
            })
            .count();
        Ok(u32::try_from(serving).unwrap_or(u32::MAX))
    }
}
