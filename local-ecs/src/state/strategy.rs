//! Blue/green, linear and canary deployments: a service's strategy settings
//! (`deploymentConfiguration.strategy`, `bakeTimeInMinutes`, `linearConfiguration`,
//! `canaryConfiguration`, `lifecycleHooks`; `loadBalancers[].advancedConfiguration`) and a
//! service deployment's run through the lifecycle stages (its stage, its hook runs, the share
//! of production traffic moved so far).

use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `deploymentConfiguration.strategy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Strategy {
    /// Replace tasks within minimumHealthyPercent / maximumPercent.
    #[default]
    Rolling,
    /// Start the new revision at full size, then move all traffic at once.
    BlueGreen,
    /// Move production traffic in equal steps.
    Linear,
    /// Move a canary share, then the rest.
    Canary,
}

/// `linearConfiguration`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LinearConfig {
    /// `stepPercent` (3.0–100, default 10).
    pub step_percent: Option<f64>,
    /// `stepBakeTimeInMinutes` (0–1440, default 6).
    pub step_bake_minutes: Option<i64>,
}

/// `canaryConfiguration`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CanaryConfig {
    /// `canaryPercent` (0.1–100, default 5).
    pub percent: Option<f64>,
    /// `canaryBakeTimeInMinutes` (0–1440, default 10).
    pub bake_minutes: Option<i64>,
}

/// Where a lifecycle hook can run (`DeploymentLifecycleHookStage`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum HookStage {
    /// RECONCILE_SERVICE.
    ReconcileService,
    /// PRE_SCALE_UP.
    PreScaleUp,
    /// POST_SCALE_UP.
    PostScaleUp,
    /// TEST_TRAFFIC_SHIFT (Lambda hooks only).
    TestTrafficShift,
    /// POST_TEST_TRAFFIC_SHIFT.
    PostTestTrafficShift,
    /// PRE_PRODUCTION_TRAFFIC_SHIFT: before every production shift step.
    PreProductionTrafficShift,
    /// PRODUCTION_TRAFFIC_SHIFT (Lambda hooks only).
    ProductionTrafficShift,
    /// POST_PRODUCTION_TRAFFIC_SHIFT.
    PostProductionTrafficShift,
}

/// `DeploymentLifecycleHookAction`: what a hook's answer or timeout does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum HookAction {
    /// Go on to the next stage.
    Continue,
    /// Roll back to the blue revision.
    Rollback,
}

/// `DeploymentLifecycleHookTargetType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum HookTarget {
    /// A Lambda function (refused by local-ecs: it cannot run one).
    AwsLambda,
    /// Hold the deployment until ContinueServiceDeployment or the timeout.
    Pause,
}

/// `DeploymentLifecycleHookStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum HookStatus {
    /// A PAUSE hook waits for ContinueServiceDeployment.
    AwaitingAction,
    /// A Lambda hook runs.
    InProgress,
    /// Continued.
    Succeeded,
    /// Rolled back by ContinueServiceDeployment.
    Failed,
    /// Its timeout passed; its timeout action was taken.
    TimedOut,
}

/// `timeoutConfiguration` of a hook, as sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HookTimeout {
    /// `timeoutInMinutes` (default 1440).
    pub minutes: Option<i64>,
    /// `action` (default ROLLBACK).
    pub action: Option<HookAction>,
}

/// An entry of `lifecycleHooks`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LifecycleHook {
    /// `targetType`.
    pub target_type: HookTarget,
    /// `hookTargetArn`.
    pub hook_target_arn: Option<String>,
    /// `roleArn`.
    pub role_arn: Option<String>,
    /// `lifecycleStages`.
    pub stages: Vec<HookStage>,
    /// `hookDetails`, as sent.
    pub hook_details: Option<Value>,
    /// `timeoutConfiguration`.
    pub timeout: Option<HookTimeout>,
}

impl LifecycleHook {
    /// How many minutes the hook waits (AWS's default: 24 hours).
    pub fn timeout_minutes(&self) -> i64 {
        self.timeout.and_then(|t| t.minutes).unwrap_or(1440)
    }

    /// What its timeout does (AWS's default: ROLLBACK).
    pub fn timeout_action(&self) -> HookAction {
        self.timeout
            .and_then(|t| t.action)
            .unwrap_or(HookAction::Rollback)
    }
}

/// A service's strategy settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StrategySettings {
    /// `strategy`.
    pub strategy: Strategy,
    /// `bakeTimeInMinutes`, when given.
    pub bake_minutes: Option<i64>,
    /// `linearConfiguration`, when given.
    pub linear: Option<LinearConfig>,
    /// `canaryConfiguration`, when given.
    pub canary: Option<CanaryConfig>,
    /// `lifecycleHooks`.
    pub hooks: Vec<LifecycleHook>,
}

impl StrategySettings {
    /// The production shift's steps: the share of production traffic on green after each
    /// step, and the bake (minutes) that follows every step but the last.
    pub fn production_steps(&self) -> (Vec<f64>, i64) {
        match self.strategy {
            Strategy::Rolling | Strategy::BlueGreen => (vec![100.0], 0),
            Strategy::Linear => {
                let step = self.linear.and_then(|l| l.step_percent).unwrap_or(10.0);
                let bake = self.linear.and_then(|l| l.step_bake_minutes).unwrap_or(6);
                let mut steps = Vec::new();
                let mut k = 1.0;
                while step * k < 100.0 - 1e-9 {
                    steps.push(round_tenth(step * k));
                    k += 1.0;
                }
                steps.push(100.0);
                (steps, bake)
            }
            Strategy::Canary => {
                let percent = self.canary.and_then(|c| c.percent).unwrap_or(5.0);
                let bake = self.canary.and_then(|c| c.bake_minutes).unwrap_or(10);
                let mut steps = vec![round_tenth(percent)];
                if percent < 100.0 {
                    steps.push(100.0);
                }
                (steps, bake)
            }
        }
    }
}

fn round_tenth(percent: f64) -> f64 {
    (percent * 10.0).round() / 10.0
}

/// `loadBalancers[].advancedConfiguration`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdvancedConfig {
    /// `alternateTargetGroupArn`.
    pub alternate_target_group_arn: String,
    /// `productionListenerRule`.
    pub production_listener_rule: String,
    /// `testListenerRule`.
    pub test_listener_rule: Option<String>,
    /// `roleArn` (stored, not used: local-ecs changes the rules itself).
    pub role_arn: String,
}

/// `ServiceDeploymentLifecycleStage`, in the order a deployment goes through them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LifecycleStage {
    /// RECONCILE_SERVICE.
    ReconcileService,
    /// PRE_SCALE_UP.
    PreScaleUp,
    /// SCALE_UP: green starts at the full desired count.
    ScaleUp,
    /// POST_SCALE_UP.
    PostScaleUp,
    /// TEST_TRAFFIC_SHIFT: the test rule moves to green.
    TestTrafficShift,
    /// POST_TEST_TRAFFIC_SHIFT.
    PostTestTrafficShift,
    /// PRODUCTION_TRAFFIC_SHIFT: the production rule moves to green (in steps).
    ProductionTrafficShift,
    /// POST_PRODUCTION_TRAFFIC_SHIFT.
    PostProductionTrafficShift,
    /// BAKE_TIME: blue keeps running, ready for an instant rollback.
    BakeTime,
    /// CLEAN_UP: blue stops.
    CleanUp,
}

impl LifecycleStage {
    /// The stage after this one.
    pub fn next(self) -> Option<LifecycleStage> {
        use LifecycleStage::*;
        Some(match self {
            ReconcileService => PreScaleUp,
            PreScaleUp => ScaleUp,
            ScaleUp => PostScaleUp,
            PostScaleUp => TestTrafficShift,
            TestTrafficShift => PostTestTrafficShift,
            PostTestTrafficShift => ProductionTrafficShift,
            ProductionTrafficShift => PostProductionTrafficShift,
            PostProductionTrafficShift => BakeTime,
            BakeTime => CleanUp,
            CleanUp => return None,
        })
    }

    /// The hook stage of the same name, if hooks can run there.
    pub fn hook_stage(self) -> Option<HookStage> {
        use LifecycleStage::*;
        Some(match self {
            ReconcileService => HookStage::ReconcileService,
            PreScaleUp => HookStage::PreScaleUp,
            PostScaleUp => HookStage::PostScaleUp,
            TestTrafficShift => HookStage::TestTrafficShift,
            PostTestTrafficShift => HookStage::PostTestTrafficShift,
            ProductionTrafficShift => HookStage::ProductionTrafficShift,
            PostProductionTrafficShift => HookStage::PostProductionTrafficShift,
            ScaleUp | BakeTime | CleanUp => return None,
        })
    }
}

/// One run of a hook: at a stage (and, before production shift steps, a step).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HookRun {
    /// `hookId`: what ContinueServiceDeployment names.
    pub hook_id: String,
    /// Where it runs.
    pub stage: HookStage,
    /// The production shift step it precedes (0 elsewhere).
    pub step: u32,
    /// `targetType`.
    pub target_type: HookTarget,
    /// `status`.
    pub status: HookStatus,
    /// `expiresAt`.
    pub expires_at: SystemTime,
    /// `timeoutAction`.
    pub timeout_action: HookAction,
}

/// Where one load balancer's traffic goes: the rules ECS rewrites and its two target groups.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    /// `productionListenerRule`.
    pub production_rule: String,
    /// `testListenerRule`.
    pub test_rule: Option<String>,
    /// The target group the blue revision's tasks are in.
    pub blue_group: String,
    /// The target group green's tasks register in (the one without production traffic).
    pub green_group: String,
}

/// A blue/green (linear, canary) service deployment's progress.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BlueGreenRun {
    /// The service's settings when the deployment was created.
    pub settings: StrategySettings,
    /// The deployment of the table that runs blue.
    pub blue_row: String,
    /// One per load balancer with an advanced configuration.
    pub routes: Vec<Route>,
    /// `lifecycleStage` (none before the scheduler takes it up).
    pub stage: Option<LifecycleStage>,
    /// When the current stage began.
    pub stage_since: SystemTime,
    /// Every hook run so far.
    pub hooks: Vec<HookRun>,
    /// Production shift steps made.
    pub steps_done: u32,
    /// The share of production traffic on green, in percent.
    pub production_percent: f64,
    /// When the last production shift step was made.
    pub shifted_at: Option<SystemTime>,
}

/// Forward weights for `percent` of traffic on green: integral percentages out of 100,
/// others in tenths out of 1000 (weights are integers from 0 to 999).
pub fn weights(percent: f64) -> (i64, i64) {
    let percent = percent.clamp(0.0, 100.0);
    let tenths = (percent * 10.0).round() as i64;
    if tenths % 10 == 0 {
        (100 - tenths / 10, tenths / 10)
    } else {
        (1000 - tenths, tenths)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_and_weights() {
        let mut s = StrategySettings {
            strategy: Strategy::Linear,
            linear: Some(LinearConfig {
                step_percent: Some(30.0),
                step_bake_minutes: Some(1),
            }),
            ..Default::default()
        };
        assert_eq!(s.production_steps(), (vec![30.0, 60.0, 90.0, 100.0], 1));
        s.strategy = Strategy::Canary;
        assert_eq!(s.production_steps(), (vec![5.0, 100.0], 10));
        s.strategy = Strategy::BlueGreen;
        assert_eq!(s.production_steps(), (vec![100.0], 0));
        assert_eq!(weights(0.0), (100, 0));
        assert_eq!(weights(25.0), (75, 25));
        assert_eq!(weights(100.0), (0, 100));
        assert_eq!(weights(0.1), (999, 1));
        assert_eq!(weights(12.5), (875, 125));
    }
}
