//! Blue/green, linear and canary deployments as plan rules (a child of `plan`): the lifecycle
//! stages in ECS's order, one transition per pass —
//! RECONCILE_SERVICE → PRE_SCALE_UP → SCALE_UP (green starts at the full desired count, in
//! the target groups without production traffic; on when every green task is healthy) →
//! POST_SCALE_UP → TEST_TRAFFIC_SHIFT (the test rule forwards to green) →
//! POST_TEST_TRAFFIC_SHIFT → PRODUCTION_TRAFFIC_SHIFT (the production rule moves to green:
//! at once, or in linear / canary steps with their bake between) →
//! POST_PRODUCTION_TRAFFIC_SHIFT → BAKE_TIME (blue keeps running for bakeTimeInMinutes) →
//! CLEAN_UP (blue stops; the deployment completes when it is gone).
//! A stage with hooks goes on only once they all CONTINUEd; a hook that answers ROLLBACK (or
//! times out with ROLLBACK) fails the deployment, which `apply` rolls back to blue at once.

use std::time::{Duration, SystemTime};

use crate::api::wire::Wire;
use crate::events;
use crate::state::{
    BlueGreenRun, HookAction, HookStage, HookStatus, LifecycleStage, RolloutState, weights,
};

use super::super::action::{Action, Failure};
use super::super::view::{DeploymentView, ServiceView, TaskView};
use super::{Decision, Planner, Rollout};

/// Where a stage's hooks stand.
enum Hooks {
    /// None configured, or all let the deployment go on.
    Clear,
    /// Some await action (or were just started).
    Waiting,
}

impl<'v> Planner<'v> {
    /// `minutes` of the service's time scale.
    fn minutes(&self, minutes: i64) -> Duration {
        self.view.minute * u32::try_from(minutes.max(0)).unwrap_or(u32::MAX)
    }

    /// Plans the next pass no later than the wall-clock moment `at`.
    fn wake_at_wall(&mut self, at: SystemTime) {
        let wait = at.duration_since(self.now.wall).unwrap_or_default();
        self.wake_at(self.now.instant + wait);
    }

    /// A hook that answered ROLLBACK, or timed out with ROLLBACK, fails the PRIMARY
    /// deployment and rolls it back to blue. True if so.
    pub(super) fn hook_rollback(&mut self, service: &'v ServiceView) -> bool {
        let (Some(run), Some(primary)) = (&service.blue_green, service.primary()) else {
            return false;
        };
        if primary.rollout_state != RolloutState::InProgress {
            return false;
        }
        let failed = run.hooks.iter().find_map(|h| match h.status {
            HookStatus::Failed => Some((h, "answered ROLLBACK")),
            HookStatus::TimedOut if h.timeout_action == HookAction::Rollback => {
                Some((h, "timed out"))
            }
            _ => None,
        });
        let Some((hook, why)) = failed else {
            return false;
        };
        let stage = Wire::wire(hook.stage);
        let reason = events::hook_rolled_back(&hook.hook_id, stage, why);
        let target = Self::rollback_target(service, &primary.id);
        self.fail(service, &primary.id, Failure::Hook(reason), target, true);
        true
    }

    /// Moves a blue/green deployment to its next stage when the current one is done.
    pub(super) fn advance(&mut self, service: &'v ServiceView, primary: &'v DeploymentView) {
        let Some(run) = &service.blue_green else {
            return;
        };
        let Some(stage) = run.stage else {
            self.enter(service, primary, run, LifecycleStage::ReconcileService);
            return;
        };
        if let Some(point) = stage.hook_stage()
            && let Hooks::Waiting = self.hooks(service, primary, run, point, 0)
        {
            return;
        }
        match stage {
            LifecycleStage::ScaleUp => {
                let healthy = self
                    .view
                    .tasks_of(&service.arn)
                    .filter(|t| t.of_deployment(&primary.id) && self.healthy(service, t))
                    .count() as i64;
                if healthy >= service.desired {
                    self.enter(service, primary, run, LifecycleStage::PostScaleUp);
                }
            }
            LifecycleStage::ProductionTrafficShift => self.shift_production(service, primary, run),
            LifecycleStage::BakeTime => {
                let end = run.stage_since + self.minutes(run.settings.bake_minutes.unwrap_or(0));
                if self.now.wall >= end {
                    self.enter(service, primary, run, LifecycleStage::CleanUp);
                } else {
                    self.wake_at_wall(end);
                }
            }
            LifecycleStage::CleanUp => {}
            other => {
                if let Some(next) = other.next() {
                    self.enter(service, primary, run, next);
                }
            }
        }
    }

    /// Enters `stage` (moving the test rule to green on TEST_TRAFFIC_SHIFT) and plans the
    /// next pass at once.
    fn enter(
        &mut self,
        service: &ServiceView,
        primary: &DeploymentView,
        run: &BlueGreenRun,
        stage: LifecycleStage,
    ) {
        self.push(Action::Stage {
            service: service.arn.clone(),
            deployment: primary.id.clone(),
            stage,
        });
        let name = Wire::wire(stage);
        self.event(
            service,
            events::lifecycle_stage(&service.name, &primary.id, name),
        );
        // The stage's hooks open with it: no answer shows the stage without its hooks, which a
        // client would read as "nothing holds this deployment".
        if let Some(point) = stage.hook_stage()
            && run.settings.hooks.iter().any(|h| h.stages.contains(&point))
        {
            self.push(Action::OpenHooks {
                service: service.arn.clone(),
                deployment: primary.id.clone(),
                stage: point,
                step: 0,
            });
        }
        if stage == LifecycleStage::TestTrafficShift {
            for route in &run.routes {
                if let Some(rule) = &route.test_rule {
                    self.push(Action::Route {
                        rule: rule.clone(),
                        groups: vec![
                            (route.blue_group.clone(), 0),
                            (route.green_group.clone(), 100),
                        ],
                    });
                }
            }
        }
        self.wake_at(self.now.instant);
    }

    /// Where the hooks configured at `point` (before production step `step`) stand: started
    /// when none ran yet, timed out when their time is up.
    fn hooks(
        &mut self,
        service: &ServiceView,
        primary: &DeploymentView,
        run: &BlueGreenRun,
        point: HookStage,
        step: u32,
    ) -> Hooks {
        if !run.settings.hooks.iter().any(|h| h.stages.contains(&point)) {
            return Hooks::Clear;
        }
        let runs: Vec<_> = run
            .hooks
            .iter()
            .filter(|h| h.stage == point && h.step == step)
            .collect();
        if runs.is_empty() {
            self.push(Action::OpenHooks {
                service: service.arn.clone(),
                deployment: primary.id.clone(),
                stage: point,
                step,
            });
            self.wake_at(self.now.instant);
            return Hooks::Waiting;
        }
        let mut waiting = false;
        for hook in runs
            .into_iter()
            .filter(|h| h.status == HookStatus::AwaitingAction)
        {
            waiting = true;
            if self.now.wall >= hook.expires_at {
                self.push(Action::HookTimedOut {
                    service: service.arn.clone(),
                    deployment: primary.id.clone(),
                    hook: hook.hook_id.clone(),
                });
                self.wake_at(self.now.instant);
            } else {
                self.wake_at_wall(hook.expires_at);
            }
        }
        if waiting {
            Hooks::Waiting
        } else {
            Hooks::Clear
        }
    }

    /// The production shift: the next step once the previous one's bake is over (and the
    /// PRE_PRODUCTION_TRAFFIC_SHIFT hooks let it go), POST_PRODUCTION_TRAFFIC_SHIFT after
    /// the last.
    fn shift_production(
        &mut self,
        service: &ServiceView,
        primary: &DeploymentView,
        run: &BlueGreenRun,
    ) {
        let (steps, bake) = run.settings.production_steps();
        let k = run.steps_done as usize;
        let Some(&percent) = steps.get(k) else {
            self.enter(
                service,
                primary,
                run,
                LifecycleStage::PostProductionTrafficShift,
            );
            return;
        };
        if let Some(at) = run.shifted_at.filter(|_| k > 0) {
            let due = at + self.minutes(bake);
            if self.now.wall < due {
                self.wake_at_wall(due);
                return;
            }
        }
        let point = HookStage::PreProductionTrafficShift;
        if let Hooks::Waiting = self.hooks(service, primary, run, point, run.steps_done) {
            return;
        }
        let (blue, green) = weights(percent);
        for route in &run.routes {
            self.push(Action::Route {
                rule: route.production_rule.clone(),
                groups: vec![
                    (route.blue_group.clone(), blue),
                    (route.green_group.clone(), green),
                ],
            });
        }
        self.push(Action::Shifted {
            service: service.arn.clone(),
            deployment: primary.id.clone(),
            percent,
        });
        self.event(
            service,
            events::production_shifted(&service.name, &primary.id, percent),
        );
        self.wake_at(self.now.instant);
    }

    /// Green starts at the full desired count from SCALE_UP on (whatever maximumPercent
    /// says); blue's tasks stop only in CLEAN_UP.
    pub(super) fn roll_blue_green(
        &mut self,
        service: &'v ServiceView,
        primary: &'v DeploymentView,
        alive: Vec<&'v TaskView>,
        stopped: Vec<&'v str>,
    ) -> Rollout<'v> {
        let stage = service.blue_green.as_ref().and_then(|r| r.stage);
        let (green, old): (Vec<&'v TaskView>, Vec<&'v TaskView>) = alive
            .iter()
            .copied()
            .filter(|t| self.live(t))
            .partition(|t| t.of_deployment(&primary.id));
        let scaled = stage.is_some_and(|s| s >= LifecycleStage::ScaleUp);
        let want = service.desired - green.len() as i64;
        let start = if scaled { want.max(0) as usize } else { 0 };
        let mut to_stop: Vec<&'v TaskView> = Vec::new();
        if want < 0 {
            let mut extra = green.clone();
            extra.sort_by_key(|t| (self.healthy(service, t), std::cmp::Reverse(t.created_at)));
            to_stop.extend(extra.into_iter().take((-want) as usize));
        }
        let cleaning = stage == Some(LifecycleStage::CleanUp);
        if cleaning {
            to_stop.extend(old.iter().copied());
        }
        let decision = Decision {
            to_stop,
            start,
            work_left: (scaled && want > 0) || (cleaning && !old.is_empty()),
        };
        self.carry_out(service, primary, alive, stopped, decision)
    }
}
