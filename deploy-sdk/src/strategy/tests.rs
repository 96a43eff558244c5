use std::time::Duration;

use aws_sdk_ecs::types::{
    AdvancedConfiguration, CanaryConfiguration, DeploymentConfiguration, DeploymentLifecycleHook,
    DeploymentLifecycleHookStage, DeploymentLifecycleHookTargetType,
    DeploymentLifecycleHookTimeoutConfiguration, DeploymentStrategy, LinearConfiguration,
    LoadBalancer, Service,
};

use super::*;

fn service(config: DeploymentConfiguration, test_rule: bool) -> Service {
    let mut advanced = AdvancedConfiguration::builder()
        .alternate_target_group_arn("tg-green")
        .production_listener_rule("rule-prod");
    if test_rule {
        advanced = advanced.test_listener_rule("rule-test");
    }
    Service::builder()
        .deployment_configuration(config)
        .load_balancers(
            LoadBalancer::builder()
                .target_group_arn("tg-blue")
                .advanced_configuration(advanced.build())
                .build(),
        )
        .build()
}

fn pause_at(stage: &str, minutes: i32) -> DeploymentLifecycleHook {
    DeploymentLifecycleHook::builder()
        .target_type(DeploymentLifecycleHookTargetType::Pause)
        .lifecycle_stages(DeploymentLifecycleHookStage::from(stage))
        .timeout_configuration(
            DeploymentLifecycleHookTimeoutConfiguration::builder()
                .timeout_in_minutes(minutes)
                .build(),
        )
        .build()
}

#[test]
fn steps_and_planned_waits_follow_the_strategy() {
    let linear = |step: f64, bake: i32| {
        DeploymentConfiguration::builder()
            .strategy(DeploymentStrategy::Linear)
            .bake_time_in_minutes(5)
            .linear_configuration(
                LinearConfiguration::builder()
                    .step_percent(step)
                    .step_bake_time_in_minutes(bake)
                    .build(),
            )
            .build()
    };
    let canary = DeploymentConfiguration::builder()
        .strategy(DeploymentStrategy::Canary)
        .canary_configuration(
            CanaryConfiguration::builder()
                .canary_percent(20.0)
                .canary_bake_time_in_minutes(3)
                .build(),
        )
        .build();
    let cases: Vec<(&str, DeploymentConfiguration, Vec<f64>, i64)> = vec![
        (
            "no strategy is rolling",
            DeploymentConfiguration::builder().build(),
            vec![],
            0,
        ),
        (
            "blue/green: one shift, then the bake",
            DeploymentConfiguration::builder()
                .strategy(DeploymentStrategy::BlueGreen)
                .bake_time_in_minutes(7)
                .build(),
            vec![100.0],
            7,
        ),
        (
            "linear 25 %: four shifts, three step bakes, then the bake",
            linear(25.0, 2),
            vec![25.0, 50.0, 75.0, 100.0],
            3 * 2 + 5,
        ),
        (
            "linear 30 %: the last step moves what is left",
            linear(30.0, 1),
            vec![30.0, 60.0, 90.0, 100.0],
            3 + 5,
        ),
        ("canary 20 % for 3 min", canary, vec![20.0, 100.0], 3),
        (
            "linear without its configuration takes ECS's defaults (10 % every 6 min)",
            DeploymentConfiguration::builder()
                .strategy(DeploymentStrategy::Linear)
                .build(),
            (1..=10).map(|i| f64::from(i) * 10.0).collect(),
            9 * 6,
        ),
    ];
    for (case, config, steps, minutes) in cases {
        let settings = StrategySettings::of(&service(config, false));
        assert_eq!(settings.production_steps(), steps, "{case}");
        assert_eq!(settings.planned_wait_minutes(), minutes, "{case}");
    }
}

#[test]
fn the_watch_waits_for_bakes_and_pauses_at_the_endpoints_minute() {
    let config = DeploymentConfiguration::builder()
        .strategy(DeploymentStrategy::BlueGreen)
        .bake_time_in_minutes(4)
        .lifecycle_hooks(pause_at("POST_TEST_TRAFFIC_SHIFT", 30))
        .build();
    let settings = StrategySettings::of(&service(config, true));
    assert_eq!(settings.pause_limit_minutes(), 30);
    assert_eq!(
        settings.extra_watch_time(Duration::from_secs(60)),
        Duration::from_secs(34 * 60)
    );
    assert_eq!(
        settings.extra_watch_time(Duration::from_secs(1)),
        Duration::from_secs(34),
        "local-ecs's scaled minute"
    );
}

#[test]
fn a_test_traffic_gate_needs_a_pause_after_the_test_shift_and_a_test_rule() {
    let with_hook = |stage: &str| {
        DeploymentConfiguration::builder()
            .strategy(DeploymentStrategy::BlueGreen)
            .lifecycle_hooks(pause_at(stage, 10))
            .build()
    };
    let cases = [
        (
            "pause after the test shift, test rule",
            "POST_TEST_TRAFFIC_SHIFT",
            true,
            true,
        ),
        (
            "no test rule: nothing to verify through",
            "POST_TEST_TRAFFIC_SHIFT",
            false,
            false,
        ),
        ("pause elsewhere", "PRE_SCALE_UP", true, false),
    ];
    for (case, stage, test_rule, gate) in cases {
        let settings = StrategySettings::of(&service(with_hook(stage), test_rule));
        assert_eq!(settings.test_traffic_gate().is_some(), gate, "{case}");
    }
    let settings = StrategySettings::of(&service(with_hook("PRE_SCALE_UP"), true));
    assert_eq!(settings.rule_arns(), ["rule-prod", "rule-test"]);
}
