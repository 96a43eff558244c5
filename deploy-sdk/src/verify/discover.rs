//! Finding where the service answers: its target group's load balancer, the listener that
//! forwards to that target group, and — when a host-header rule does the forwarding — the
//! host name requests must carry to reach it.

use aws_sdk_elasticloadbalancingv2::types::{Action, Listener, ProtocolEnum, Rule, RuleCondition};

use crate::Clients;
use crate::error::{Error, Result};
use crate::service::{ServiceRef, describe_service};

/// Where to verify: the load balancer's URL, and the host name to send when a listener rule
/// routes on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `scheme://<load balancer DNS name>[:port]`.
    pub url: String,
    /// The name a host-header rule forwards to the service on (sent as `Host` and TLS SNI
    /// while connecting to the load balancer: [`super::VerifyOptions::host`]); `None` when
    /// the listener forwards whatever the host, or the rule names hosts only by wildcard.
    pub host: Option<String>,
}

/// Finds the URL the service is reachable at: its target group's load balancer's DNS name
/// and the port of the listener that forwards to that target group (default action first,
/// then rules), `https` for HTTPS/TLS listeners. See [`discover_endpoint`] for the host name
/// a rule may need.
pub async fn discover_url(clients: &Clients, target: &ServiceRef) -> Result<String> {
    Ok(discover_endpoint(clients, target).await?.url)
}

/// Like [`discover_url`], with the host name of the host-header rule that forwards to the
/// service, if one does.
pub async fn discover_endpoint(clients: &Clients, target: &ServiceRef) -> Result<Endpoint> {
    let service = describe_service(&clients.ecs, target).await?;
    let lb_config = service.load_balancers().first().ok_or_else(|| {
        Error::NoLoadBalancer(format!(
            "service {target} has no load balancer in its configuration"
        ))
    })?;
    let Some(tg_arn) = lb_config.target_group_arn() else {
        return Err(Error::NoLoadBalancer(format!(
            "service {target} uses a Classic Load Balancer ({}), which has no target group",
            lb_config.load_balancer_name().unwrap_or("unnamed")
        )));
    };
    let (lb_arn, dns) = load_balancer_of(clients, tg_arn).await?;
    // Every page: a shared load balancer's listener or rule may come after the first.
    let listeners = listeners_of(clients, &lb_arn).await?;
    if let Some(listener) = listeners
        .iter()
        .find(|l| forwards_to(l.default_actions(), tg_arn))
    {
        return Ok(Endpoint {
            url: listener_url(&dns, listener),
            host: None,
        });
    }
    for listener in &listeners {
        let Some(arn) = listener.listener_arn() else {
            continue;
        };
        let rules = rules_of(clients, arn).await?;
        if let Some(rule) = rules.iter().find(|r| forwards_to(r.actions(), tg_arn)) {
            return Ok(Endpoint {
                url: listener_url(&dns, listener),
                host: rule_host(rule.conditions()),
            });
        }
    }
    Err(Error::NoLoadBalancer(format!(
        "no listener of {lb_arn} forwards to target group {tg_arn}"
    )))
}

/// Where test traffic reaches the green revision of a blue/green, linear or canary service:
/// the listener holding the service's `testListenerRule` (`advancedConfiguration`), with the
/// host name that rule's host-header condition asks for. `None` when the service has no test
/// listener rule.
pub async fn discover_test_endpoint(
    clients: &Clients,
    target: &ServiceRef,
) -> Result<Option<Endpoint>> {
    let service = describe_service(&clients.ecs, target).await?;
    let Some((tg_arn, rule_arn)) = service.load_balancers().iter().find_map(|lb| {
        let rule = lb.advanced_configuration()?.test_listener_rule()?;
        Some((lb.target_group_arn()?, rule))
    }) else {
        return Ok(None);
    };
    let (lb_arn, dns) = load_balancer_of(clients, tg_arn).await?;
    for listener in listeners_of(clients, &lb_arn).await? {
        let Some(arn) = listener.listener_arn() else {
            continue;
        };
        if let Some(rule) = rules_of(clients, arn)
            .await?
            .into_iter()
            .find(|r| r.rule_arn() == Some(rule_arn))
        {
            return Ok(Some(Endpoint {
                url: listener_url(&dns, &listener),
                host: rule_host(rule.conditions()),
            }));
        }
    }
    Err(Error::NoLoadBalancer(format!(
        "the test listener rule {rule_arn} of service {target} is on no listener of {lb_arn}"
    )))
}

/// Every listener of a load balancer (every page: a shared load balancer has many).
async fn listeners_of(clients: &Clients, lb_arn: &str) -> Result<Vec<Listener>> {
    clients
        .elb
        .describe_listeners()
        .load_balancer_arn(lb_arn)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| Error::from_sdk("elasticloadbalancing:DescribeListeners", e))
}

/// Every rule of a listener, its default rule included.
async fn rules_of(clients: &Clients, listener_arn: &str) -> Result<Vec<Rule>> {
    clients
        .elb
        .describe_rules()
        .listener_arn(listener_arn)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| Error::from_sdk("elasticloadbalancing:DescribeRules", e))
}

/// The ARN and DNS name of the load balancer `target_group` is attached to.
async fn load_balancer_of(clients: &Clients, target_group: &str) -> Result<(String, String)> {
    let tgs = clients
        .elb
        .describe_target_groups()
        .target_group_arns(target_group)
        .send()
        .await
        .map_err(|e| Error::from_sdk("elasticloadbalancing:DescribeTargetGroups", e))?;
    let lb_arn = tgs
        .target_groups()
        .first()
        .and_then(|tg| tg.load_balancer_arns().first())
        .ok_or_else(|| {
            Error::NoLoadBalancer(format!(
                "target group {target_group} is not attached to a load balancer"
            ))
        })?;
    let lbs = clients
        .elb
        .describe_load_balancers()
        .load_balancer_arns(lb_arn)
        .send()
        .await
        .map_err(|e| Error::from_sdk("elasticloadbalancing:DescribeLoadBalancers", e))?;
    let dns = lbs
        .load_balancers()
        .first()
        .and_then(|lb| lb.dns_name())
        .ok_or_else(|| Error::NoLoadBalancer(format!("load balancer {lb_arn} has no DNS name")))?;
    Ok((lb_arn.clone(), dns.to_owned()))
}

/// The first host name a rule's host-header condition matches literally (`*` and `?` are
/// wildcards: no single name to send).
pub fn rule_host(conditions: &[RuleCondition]) -> Option<String> {
    conditions
        .iter()
        .filter(|c| c.field() == Some("host-header"))
        .flat_map(|c| {
            let configured = c.host_header_config().map(|h| h.values()).unwrap_or(&[]);
            configured.iter().chain(c.values())
        })
        .find(|name| !name.is_empty() && !name.contains(['*', '?']))
        .map(|name| name.to_ascii_lowercase())
}

/// Whether `actions` forward (directly or weighted) to `target_group`.
pub fn forwards_to(actions: &[Action], target_group: &str) -> bool {
    actions.iter().any(|a| {
        a.target_group_arn() == Some(target_group)
            || a.forward_config().is_some_and(|f| {
                f.target_groups()
                    .iter()
                    .any(|t| t.target_group_arn() == Some(target_group))
            })
    })
}

/// `scheme://dns[:port]` for a listener (default ports left out).
pub fn listener_url(dns: &str, listener: &Listener) -> String {
    let tls = matches!(
        listener.protocol(),
        Some(ProtocolEnum::Https | ProtocolEnum::Tls)
    );
    let scheme = if tls { "https" } else { "http" };
    match listener.port() {
        Some(443) if tls => format!("{scheme}://{dns}"),
        Some(80) if !tls => format!("{scheme}://{dns}"),
        Some(port) => format!("{scheme}://{dns}:{port}"),
        None => format!("{scheme}://{dns}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_elasticloadbalancingv2::types::{
        ForwardActionConfig, HostHeaderConditionConfig, TargetGroupTuple,
    };

    #[test]
    fn listener_urls() {
        let http80 = Listener::builder()
            .protocol(ProtocolEnum::Http)
            .port(80)
            .build();
        assert_eq!(
            listener_url("alb-1.elb.amazonaws.com", &http80),
            "http://alb-1.elb.amazonaws.com"
        );
        let https = Listener::builder()
            .protocol(ProtocolEnum::Https)
            .port(443)
            .build();
        assert_eq!(listener_url("a", &https), "https://a");
        let local = Listener::builder()
            .protocol(ProtocolEnum::Http)
            .port(41234)
            .build();
        assert_eq!(listener_url("127.0.0.1", &local), "http://127.0.0.1:41234");
    }

    #[test]
    fn forward_actions_match_plain_and_weighted() {
        let plain = Action::builder().target_group_arn("tg-1").build();
        let weighted = Action::builder()
            .forward_config(
                ForwardActionConfig::builder()
                    .target_groups(TargetGroupTuple::builder().target_group_arn("tg-2").build())
                    .build(),
            )
            .build();
        assert!(forwards_to(std::slice::from_ref(&plain), "tg-1"));
        assert!(forwards_to(&[plain.clone(), weighted.clone()], "tg-2"));
        assert!(!forwards_to(&[plain, weighted], "tg-3"));
    }

    #[test]
    fn the_host_is_the_first_literal_name_of_a_host_header_condition() {
        let path = RuleCondition::builder()
            .field("path-pattern")
            .values("/hello/*")
            .build();
        let hosts = |values: &[&str]| {
            RuleCondition::builder()
                .field("host-header")
                .host_header_config(
                    HostHeaderConditionConfig::builder()
                        .set_values(Some(values.iter().map(|v| v.to_string()).collect()))
                        .build(),
                )
                .build()
        };
        let legacy = RuleCondition::builder()
            .field("host-header")
            .values("Hello.Example.com")
            .build();
        assert_eq!(
            rule_host(&[path.clone(), hosts(&["*.example.com", "api.example.com"])]).as_deref(),
            Some("api.example.com")
        );
        assert_eq!(rule_host(&[legacy]).as_deref(), Some("hello.example.com"));
        assert_eq!(
            rule_host(&[hosts(&["*.example.com", "h?.example.com"])]),
            None
        );
        assert_eq!(rule_host(&[path]), None);
    }
}
