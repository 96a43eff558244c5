//! Where a blue/green, linear or canary deployment stands: its lifecycle stage and the state
//! of its lifecycle hooks, as `DescribeServiceDeployments` reports them.

use std::fmt;
use std::time::SystemTime;

use aws_sdk_ecs::types::{DeploymentLifecycleHookStatus, ServiceDeployment};

/// The lifecycle stages of a blue/green, linear or canary deployment, in the order ECS runs
/// them (linear and canary repeat the production shift in steps).
pub const LIFECYCLE_STAGES: [&str; 10] = [
    "RECONCILE_SERVICE",
    "PRE_SCALE_UP",
    "SCALE_UP",
    "POST_SCALE_UP",
    "TEST_TRAFFIC_SHIFT",
    "POST_TEST_TRAFFIC_SHIFT",
    "PRODUCTION_TRAFFIC_SHIFT",
    "POST_PRODUCTION_TRAFFIC_SHIFT",
    "BAKE_TIME",
    "CLEAN_UP",
];

/// The position of `stage` in [`LIFECYCLE_STAGES`] (`None` for a stage this crate does not
/// know).
pub fn stage_index(stage: &str) -> Option<usize> {
    LIFECYCLE_STAGES.iter().position(|s| *s == stage)
}

/// One lifecycle hook's state in a deployment (`lifecycleHookDetails[]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookState {
    /// `hookId`: what `ContinueServiceDeployment` names.
    pub hook_id: String,
    /// `targetType`: `PAUSE` or `AWS_LAMBDA`.
    pub target_type: String,
    /// `status`: `IN_PROGRESS`, `AWAITING_ACTION`, `SUCCEEDED`, `FAILED`, `TIMED_OUT`.
    pub status: String,
    /// `expiresAt`: when its timeout action runs.
    pub expires_at: Option<SystemTime>,
    /// `timeoutAction`: `CONTINUE` or `ROLLBACK`.
    pub timeout_action: Option<String>,
}

impl HookState {
    /// Whether it holds the deployment until someone continues or rolls it back.
    pub fn awaits_action(&self) -> bool {
        self.status == DeploymentLifecycleHookStatus::AwaitingAction.as_str()
    }
}

/// A deployment's lifecycle stage and hooks at one poll.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StageState {
    /// `lifecycleStage`, when the deployment reports one.
    pub stage: Option<String>,
    /// `lifecycleHookDetails`.
    pub hooks: Vec<HookState>,
}

impl StageState {
    /// The stage and hooks of a described service deployment.
    pub fn of(sd: &ServiceDeployment) -> StageState {
        StageState {
            stage: sd.lifecycle_stage().map(|s| s.as_str().to_owned()),
            hooks: sd
                .lifecycle_hook_details()
                .iter()
                .map(|h| HookState {
                    hook_id: h.hook_id().unwrap_or_default().to_owned(),
                    target_type: h
                        .target_type()
                        .map(|t| t.as_str().to_owned())
                        .unwrap_or_default(),
                    status: h
                        .status()
                        .map(|s| s.as_str().to_owned())
                        .unwrap_or_default(),
                    expires_at: h.expires_at().and_then(|t| SystemTime::try_from(*t).ok()),
                    timeout_action: h.timeout_action().map(|a| a.as_str().to_owned()),
                })
                .collect(),
        }
    }

    /// The hook holding the deployment now, if one is.
    pub fn awaiting_action(&self) -> Option<&HookState> {
        self.hooks.iter().find(|h| h.awaits_action())
    }

    /// Whether the deployment reached `stage` or a later one.
    pub fn reached(&self, stage: &str) -> bool {
        match (
            self.stage.as_deref().and_then(stage_index),
            stage_index(stage),
        ) {
            (Some(now), Some(wanted)) => now >= wanted,
            _ => false,
        }
    }
}

impl fmt::Display for StageState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.stage.as_deref().unwrap_or("no lifecycle stage"))?;
        for hook in &self.hooks {
            write!(f, "; {} hook {}", hook.target_type, hook.status)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(stage: &str) -> StageState {
        StageState {
            stage: Some(stage.to_owned()),
            hooks: Vec::new(),
        }
    }

    #[test]
    fn stages_are_ordered_as_ecs_runs_them() {
        let cases = [
            ("BAKE_TIME", "PRODUCTION_TRAFFIC_SHIFT", true),
            ("POST_TEST_TRAFFIC_SHIFT", "POST_TEST_TRAFFIC_SHIFT", true),
            ("SCALE_UP", "TEST_TRAFFIC_SHIFT", false),
            ("SOMETHING_NEW", "SCALE_UP", false),
        ];
        for (now, wanted, reached) in cases {
            assert_eq!(at(now).reached(wanted), reached, "{now} reached {wanted}");
        }
        assert!(!StageState::default().reached("RECONCILE_SERVICE"));
    }

    #[test]
    fn a_pause_awaiting_action_is_found_and_shown() {
        let mut state = at("POST_TEST_TRAFFIC_SHIFT");
        state.hooks.push(HookState {
            hook_id: "hook-1".into(),
            target_type: "PAUSE".into(),
            status: "AWAITING_ACTION".into(),
            expires_at: None,
            timeout_action: Some("ROLLBACK".into()),
        });
        assert_eq!(
            state.awaiting_action().map(|h| h.hook_id.as_str()),
            Some("hook-1")
        );
        assert_eq!(
            state.to_string(),
            "POST_TEST_TRAFFIC_SHIFT; PAUSE hook AWAITING_ACTION"
        );
    }
}
