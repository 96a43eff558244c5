//! Where a listener rule sends traffic: the target groups of its forward action and their
//! weights (`ForwardConfig.TargetGroups[].Weight`), which ECS rewrites to move traffic
//! between blue and green during a blue/green, linear or canary deployment.

use std::fmt;

use aws_sdk_elasticloadbalancingv2::types::{Action, Rule};

use crate::arn::tail;
use crate::error::{Error, Result};

/// One target group of a forward action and its weight.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupWeight {
    /// The target group.
    pub target_group_arn: String,
    /// Its weight (0–999 on ELBv2).
    pub weight: i32,
}

/// A listener rule's forward action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleWeights {
    /// The rule.
    pub rule_arn: String,
    /// Its target groups with their weights; empty when the rule does not forward.
    pub groups: Vec<GroupWeight>,
}

impl RuleWeights {
    /// The percentage of the rule's traffic `target_group_arn` gets (0 when it is not there,
    /// `None` when the weights add up to nothing).
    pub fn percent_to(&self, target_group_arn: &str) -> Option<f64> {
        let total: i64 = self.groups.iter().map(|g| i64::from(g.weight.max(0))).sum();
        if total == 0 {
            return None;
        }
        let ours: i64 = self
            .groups
            .iter()
            .filter(|g| g.target_group_arn == target_group_arn)
            .map(|g| i64::from(g.weight.max(0)))
            .sum();
        Some(ours as f64 * 100.0 / total as f64)
    }
}

impl fmt::Display for RuleWeights {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "rule {}:", tail(&self.rule_arn))?;
        if self.groups.is_empty() {
            return f.write_str(" no forward action");
        }
        for (i, g) in self.groups.iter().enumerate() {
            let sep = if i == 0 { " " } else { ", " };
            let share = self
                .percent_to(&g.target_group_arn)
                .map_or_else(|| "-".to_owned(), |p| format!("{p:.0}%"));
            write!(f, "{sep}{} {share}", target_group_name(&g.target_group_arn))?;
        }
        Ok(())
    }
}

/// A target group's name from its ARN (`…:targetgroup/NAME/ID`).
pub fn target_group_name(arn: &str) -> &str {
    let mut parts = arn.rsplit('/');
    let last = parts.next().unwrap_or(arn);
    parts.next().unwrap_or(last)
}

/// `DescribeRules` for `rule_arns`: each rule's forward weights, in the order asked. A rule the
/// answer lacks is an error naming it.
pub async fn rule_weights(
    elb: &aws_sdk_elasticloadbalancingv2::Client,
    rule_arns: &[String],
) -> Result<Vec<RuleWeights>> {
    const ACTION: &str = "elasticloadbalancing:DescribeRules";
    if rule_arns.is_empty() {
        return Ok(Vec::new());
    }
    let out = elb
        .describe_rules()
        .set_rule_arns(Some(rule_arns.to_vec()))
        .send()
        .await
        .map_err(|e| Error::from_sdk(ACTION, e))?;
    rule_arns
        .iter()
        .map(|arn| {
            out.rules()
                .iter()
                .find(|r| r.rule_arn() == Some(arn.as_str()))
                .map(weights_of)
                .ok_or_else(|| {
                    Error::incomplete_answer(ACTION, format!("no rule {arn} in the answer"))
                })
        })
        .collect()
}

/// A rule's forward weights: `ForwardConfig.TargetGroups` when present, else the action's
/// single `TargetGroupArn` at weight 1.
pub fn weights_of(rule: &Rule) -> RuleWeights {
    let groups = rule
        .actions()
        .iter()
        .find(|a| a.r#type().is_some_and(|t| t.as_str() == "forward"))
        .map(forward_groups)
        .unwrap_or_default();
    RuleWeights {
        rule_arn: rule.rule_arn().unwrap_or_default().to_owned(),
        groups,
    }
}

fn forward_groups(action: &Action) -> Vec<GroupWeight> {
    let weighted: Vec<GroupWeight> = action
        .forward_config()
        .map(|c| c.target_groups())
        .unwrap_or_default()
        .iter()
        .filter_map(|g| {
            Some(GroupWeight {
                target_group_arn: g.target_group_arn()?.to_owned(),
                weight: g.weight().unwrap_or(1),
            })
        })
        .collect();
    if !weighted.is_empty() {
        return weighted;
    }
    action
        .target_group_arn()
        .map(|arn| {
            vec![GroupWeight {
                target_group_arn: arn.to_owned(),
                weight: 1,
            }]
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use aws_sdk_elasticloadbalancingv2::types::{
        ActionTypeEnum, ForwardActionConfig, TargetGroupTuple,
    };

    use super::*;

    const BLUE: &str = "arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/hello-blue/aaa";
    const GREEN: &str = "arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/hello-green/bbb";

    fn rule(action: Action) -> Rule {
        Rule::builder()
            .rule_arn("arn:aws:elasticloadbalancing:us-east-1:1:listener-rule/app/lb/1/2/prod")
            .actions(action)
            .build()
    }

    fn weighted(blue: i32, green: i32) -> Action {
        Action::builder()
            .r#type(ActionTypeEnum::Forward)
            .forward_config(
                ForwardActionConfig::builder()
                    .target_groups(
                        TargetGroupTuple::builder()
                            .target_group_arn(BLUE)
                            .weight(blue)
                            .build(),
                    )
                    .target_groups(
                        TargetGroupTuple::builder()
                            .target_group_arn(GREEN)
                            .weight(green)
                            .build(),
                    )
                    .build(),
            )
            .build()
    }

    #[test]
    fn shares_come_from_the_forward_weights() {
        let cases = [
            (
                "all on blue",
                weighted(100, 0),
                Some(0.0),
                "hello-blue 100%, hello-green 0%",
            ),
            (
                "a 10 % step",
                weighted(90, 10),
                Some(10.0),
                "hello-blue 90%, hello-green 10%",
            ),
            (
                "weights need not add to 100",
                weighted(1, 3),
                Some(75.0),
                "hello-blue 25%, hello-green 75%",
            ),
            (
                "nothing weighted",
                weighted(0, 0),
                None,
                "hello-blue -, hello-green -",
            ),
        ];
        for (case, action, green, shown) in cases {
            let weights = weights_of(&rule(action));
            assert_eq!(weights.percent_to(GREEN), green, "{case}");
            assert_eq!(weights.to_string(), format!("rule prod: {shown}"), "{case}");
        }
    }

    #[test]
    fn a_plain_forward_sends_everything_to_its_group() {
        let plain = Action::builder()
            .r#type(ActionTypeEnum::Forward)
            .target_group_arn(BLUE)
            .build();
        let weights = weights_of(&rule(plain));
        assert_eq!(weights.percent_to(BLUE), Some(100.0));
        assert_eq!(weights.percent_to(GREEN), Some(0.0));
        let fixed = Action::builder()
            .r#type(ActionTypeEnum::FixedResponse)
            .build();
        assert!(weights_of(&rule(fixed)).groups.is_empty());
    }
}
