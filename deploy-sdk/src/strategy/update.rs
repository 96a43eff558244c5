//! The request side of a strategy switch: what `UpdateService` sends to put a service on
//! rolling, blue/green, linear or canary (`deploymentConfiguration.strategy` with its bake,
//! step and hook settings, and `loadBalancers[].advancedConfiguration`). UpdateService
//! replaces whole structures, so everything not changed is copied from the service as
//! described.

use aws_sdk_ecs::types::{
    AdvancedConfiguration, CanaryConfiguration, DeploymentConfiguration, DeploymentLifecycleHook,
    DeploymentStrategy, LinearConfiguration, LoadBalancer,
};

use super::Strategy;

/// The strategy a deploy switches the service to.
#[derive(Debug, Clone, PartialEq)]
pub struct StrategyUpdate {
    /// The strategy, with its step or canary settings.
    pub strategy: Strategy,
    /// `bakeTimeInMinutes`; `None` keeps the service's.
    pub bake_minutes: Option<i32>,
    /// `lifecycleHooks` to set; `None` keeps the service's.
    pub hooks: Option<Vec<DeploymentLifecycleHook>>,
    /// `advancedConfiguration` to set on the service's load balancers; `None` keeps theirs.
    pub wiring: Option<TrafficWiring>,
}

/// The blue/green wiring of a load balancer (`loadBalancers[].advancedConfiguration`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrafficWiring {
    /// `alternateTargetGroupArn`.
    pub alternate_target_group: String,
    /// `productionListenerRule`.
    pub production_rule: String,
    /// `testListenerRule`, when there is a test listener.
    pub test_rule: Option<String>,
    /// `roleArn`: the role that lets ECS rewrite the rules.
    pub role_arn: String,
}

impl StrategyUpdate {
    /// `config` switched to this strategy: strategy, bake time, linear or canary settings and
    /// hooks replaced as asked, everything else as it was.
    pub fn apply(&self, mut config: DeploymentConfiguration) -> DeploymentConfiguration {
        config.strategy = Some(match &self.strategy {
            Strategy::Rolling => DeploymentStrategy::Rolling,
            Strategy::BlueGreen => DeploymentStrategy::BlueGreen,
            Strategy::Linear {
                step_percent,
                step_bake_minutes,
            } => {
                config.linear_configuration = Some(
                    LinearConfiguration::builder()
                        .step_percent(*step_percent)
                        .step_bake_time_in_minutes(*step_bake_minutes)
                        .build(),
                );
                DeploymentStrategy::Linear
            }
            Strategy::Canary {
                canary_percent,
                canary_bake_minutes,
            } => {
                config.canary_configuration = Some(
                    CanaryConfiguration::builder()
                        .canary_percent(*canary_percent)
                        .canary_bake_time_in_minutes(*canary_bake_minutes)
                        .build(),
                );
                DeploymentStrategy::Canary
            }
        });
        if let Some(bake) = self.bake_minutes {
            config.bake_time_in_minutes = Some(bake);
        }
        if let Some(hooks) = &self.hooks {
            config.lifecycle_hooks = Some(hooks.clone());
        }
        config
    }

    /// The service's load balancers with [`StrategyUpdate::wiring`] as their advanced
    /// configuration, or `None` when the update leaves them alone (no wiring, or no load
    /// balancer to wire).
    pub fn load_balancers(&self, current: &[LoadBalancer]) -> Option<Vec<LoadBalancer>> {
        let wiring = self.wiring.as_ref()?;
        if current.is_empty() {
            return None;
        }
        let advanced = AdvancedConfiguration::builder()
            .alternate_target_group_arn(&wiring.alternate_target_group)
            .production_listener_rule(&wiring.production_rule)
            .set_test_listener_rule(wiring.test_rule.clone())
            .role_arn(&wiring.role_arn)
            .build();
        Some(
            current
                .iter()
                .map(|lb| {
                    let mut lb = lb.clone();
                    lb.advanced_configuration = Some(advanced.clone());
                    lb
                })
                .collect(),
        )
    }
}

/// Why `service` cannot be switched to `strategy` as it is: a non-rolling strategy needs
/// every load balancer wired (`advancedConfiguration`) and at least one load balancer.
/// `None` when it can.
pub fn missing_wiring(
    service: &aws_sdk_ecs::types::Service,
    strategy: &Strategy,
) -> Option<String> {
    if *strategy == Strategy::Rolling {
        return None;
    }
    let lbs = service.load_balancers();
    if lbs.is_empty() {
        return Some(format!(
            "{strategy} moves traffic between target groups, and the service has no load balancer"
        ));
    }
    if lbs.iter().any(|lb| lb.advanced_configuration().is_none()) {
        return Some(format!(
            "{strategy} needs loadBalancers[].advancedConfiguration on the service: an alternate target group, the production (and test) listener rule and a role that lets ECS change the rules — create them first (infra/04-service.yaml does)"
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use aws_sdk_ecs::types::{
        DeploymentCircuitBreaker, DeploymentLifecycleHookStage, DeploymentLifecycleHookTargetType,
        Service,
    };

    use super::*;
    use crate::service::{UpdateOptions, deployment_configuration};
    use crate::strategy::StrategySettings;

    fn wiring() -> TrafficWiring {
        TrafficWiring {
            alternate_target_group: "tg-green".into(),
            production_rule: "rule-prod".into(),
            test_rule: Some("rule-test".into()),
            role_arn: "arn:aws:iam::1:role/ecs".into(),
        }
    }

    fn rolling_service() -> Service {
        Service::builder()
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
            .load_balancers(
                LoadBalancer::builder()
                    .target_group_arn("tg-blue")
                    .container_name("web")
                    .container_port(8080)
                    .build(),
            )
            .build()
    }

    #[test]
    fn a_canary_switch_keeps_the_rest_of_the_configuration_and_reads_back_as_asked() {
        let service = rolling_service();
        let hook = DeploymentLifecycleHook::builder()
            .target_type(DeploymentLifecycleHookTargetType::Pause)
            .lifecycle_stages(DeploymentLifecycleHookStage::PostTestTrafficShift)
            .build();
        let update = StrategyUpdate {
            strategy: Strategy::Canary {
                canary_percent: 20.0,
                canary_bake_minutes: 2,
            },
            bake_minutes: Some(3),
            hooks: Some(vec![hook]),
            wiring: Some(wiring()),
        };
        let options = UpdateOptions {
            strategy: Some(update.clone()),
            ..Default::default()
        };
        let config = deployment_configuration(service.deployment_configuration(), &options)
            .expect("a strategy switch changes the configuration");
        assert_eq!(config.maximum_percent(), Some(200));
        assert!(config.deployment_circuit_breaker().unwrap().rollback());
        let lbs = update.load_balancers(service.load_balancers()).unwrap();
        assert_eq!(lbs[0].container_name(), Some("web"));
        assert_eq!(lbs[0].target_group_arn(), Some("tg-blue"));
        // What ECS would echo back reads as the strategy asked for, with its gate.
        let after = Service::builder()
            .deployment_configuration(config)
            .set_load_balancers(Some(lbs))
            .build();
        let settings = StrategySettings::of(&after);
        assert_eq!(settings.strategy, update.strategy);
        assert_eq!(settings.bake_minutes, 3);
        assert_eq!(settings.production_steps(), [20.0, 100.0]);
        assert!(settings.test_traffic_gate().is_some());
        assert_eq!(
            settings.rules[0].alternate_target_group.as_deref(),
            Some("tg-green")
        );
    }

    #[test]
    fn without_wiring_or_hooks_the_service_keeps_its_own() {
        let update = StrategyUpdate {
            strategy: Strategy::Linear {
                step_percent: 25.0,
                step_bake_minutes: 1,
            },
            bake_minutes: None,
            hooks: None,
            wiring: None,
        };
        let current = DeploymentConfiguration::builder()
            .bake_time_in_minutes(7)
            .lifecycle_hooks(DeploymentLifecycleHook::builder().build())
            .build();
        let config = update.apply(current);
        assert_eq!(config.strategy(), Some(&DeploymentStrategy::Linear));
        assert_eq!(config.bake_time_in_minutes(), Some(7));
        assert_eq!(config.lifecycle_hooks().len(), 1);
        let linear = config.linear_configuration().unwrap();
        assert_eq!(
            (linear.step_percent(), linear.step_bake_time_in_minutes()),
            (Some(25.0), Some(1))
        );
        assert_eq!(
            update.load_balancers(rolling_service().load_balancers()),
            None
        );
    }

    #[test]
    fn a_non_rolling_strategy_needs_the_wiring_on_aws() {
        let bare = rolling_service();
        assert_eq!(missing_wiring(&bare, &Strategy::Rolling), None);
        let why = missing_wiring(&bare, &Strategy::BlueGreen).unwrap();
        assert!(why.contains("advancedConfiguration"), "{why}");
        assert!(
            missing_wiring(&Service::builder().build(), &Strategy::BlueGreen)
                .unwrap()
                .contains("no load balancer")
        );
        let update = StrategyUpdate {
            strategy: Strategy::BlueGreen,
            bake_minutes: None,
            hooks: None,
            wiring: Some(wiring()),
        };
        let wired = Service::builder()
            .set_load_balancers(update.load_balancers(bare.load_balancers()))
            .build();
        assert_eq!(missing_wiring(&wired, &Strategy::BlueGreen), None);
    }
}
