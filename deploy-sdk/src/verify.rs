//! Proof through the load balancer: poll a URL until the new build answers K times in a row,
//! counting old, new and failed answers per second. And finding that URL from the service.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use aws_sdk_elasticloadbalancingv2::types::{Action, Listener, ProtocolEnum, Rule};
use tokio::time::Instant;

use crate::Clients;
use crate::error::{Error, Result};
use crate::service::{ServiceRef, describe_service};

/// How an answer from the new build is recognised. At least one test must be set; every
/// test that is set must pass.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expectation {
    /// Text the body of a new answer contains (e.g. the new greeting, HTML-escaped).
    pub body_contains: Option<String>,
    /// A header the new build sends, with its value (e.g. `x-app-version: <build id>`).
    pub header: Option<(String, String)>,
}

impl Expectation {
    /// New answers carry `name: value`.
    pub fn header(name: impl Into<String>, value: impl Into<String>) -> Expectation {
        Expectation {
            header: Some((name.into(), value.into())),
            ..Expectation::default()
        }
    }

    /// New answers' bodies contain `text`.
    pub fn body(text: impl Into<String>) -> Expectation {
        Expectation {
            body_contains: Some(text.into()),
            ..Expectation::default()
        }
    }

    fn check(&self) -> Result<()> {
        if self.body_contains.is_none() && self.header.is_none() {
            return Err(Error::InvalidInput {
                what: "verification".into(),
                problem: "nothing identifies the new build: expect a body text, a header, or both"
                    .into(),
            });
        }
        Ok(())
    }

    fn matches(&self, headers: &reqwest::header::HeaderMap, body: &str) -> bool {
        let header_ok = self.header.as_ref().is_none_or(|(name, value)| {
            headers
                .get(name.as_str())
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v == value)
        });
        let body_ok = self
            .body_contains
            .as_ref()
            .is_none_or(|text| body.contains(text.as_str()));
        header_ok && body_ok
    }
}

/// How verification polls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyOptions {
    /// Consecutive new answers that prove the rollout (default 10; at least 1).
    pub consecutive: u32,
    /// Pause between requests (default 100 ms).
    pub interval: Duration,
    /// Give up after this long (default 2 minutes).
    pub timeout: Duration,
    /// Per-request timeout (default 5 s).
    pub request_timeout: Duration,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        VerifyOptions {
            consecutive: 10,
            interval: Duration::from_millis(100),
            timeout: Duration::from_secs(120),
            request_timeout: Duration::from_secs(5),
        }
    }
}

/// One answer, classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// From the new build.
    New,
    /// A success from another build.
    Old {
        /// The build it named in the expected header, if any.
        build: Option<String>,
    },
    /// Not a success: status code or transport error.
    Error(String),
}

/// Answers in one second of the verification.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SecondCounts {
    /// From the new build.
    pub new: u32,
    /// From another build.
    pub old: u32,
    /// Failures.
    pub errors: u32,
}

/// What verification saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// The URL polled.
    pub url: String,
    /// Consecutive new answers required.
    pub required: u32,
    /// Whether `required` new answers came in a row.
    pub converged: bool,
    /// Time to the first new answer.
    pub first_new_after: Option<Duration>,
    /// Time to the last of the consecutive new answers.
    pub converged_after: Option<Duration>,
    /// How long verification ran.
    pub elapsed: Duration,
    /// Totals.
    pub totals: SecondCounts,
    /// Per second since the start.
    pub per_second: Vec<SecondCounts>,
    /// Other builds seen, with counts (from the expected header).
    pub old_builds: BTreeMap<String, u32>,
    /// Distinct error descriptions, with counts.
    pub errors: BTreeMap<String, u32>,
}

impl VerifyReport {
    /// `Ok` when converged, else [`Error::VerificationFailed`] with the figures.
    pub fn into_result(self) -> Result<VerifyReport> {
        if self.converged {
            Ok(self)
        } else {
            Err(Error::VerificationFailed {
                url: self.url.clone(),
                reason: self.to_string(),
            })
        }
    }
}

impl fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = &self.totals;
        if self.converged {
            write!(f, "new build answered {} times in a row", self.required)?;
        } else {
            write!(
                f,
                "no convergence within {:.1}s",
                self.elapsed.as_secs_f64()
            )?;
        }
        write!(f, " ({} new, {} old, {} errors", t.new, t.old, t.errors)?;
        if let Some(first) = self.first_new_after {
            write!(f, "; first new after {:.1}s", first.as_secs_f64())?;
        }
        if let Some(done) = self.converged_after {
            write!(f, "; converged after {:.1}s", done.as_secs_f64())?;
        }
        write!(f, ")")?;
        for (error, count) in &self.errors {
            write!(f, "; {count}× {error}")?;
        }
        Ok(())
    }
}

/// Polls `url` until `options.consecutive` answers in a row match `expect`, or the timeout.
/// `on_answer` sees each answer with the running totals (for live progress). Returns the
/// report either way; call [`VerifyReport::into_result`] to fail on no convergence.
pub async fn verify(
    url: &str,
    expect: &Expectation,
    options: &VerifyOptions,
    mut on_answer: impl FnMut(&Answer, &SecondCounts),
) -> Result<VerifyReport> {
    expect.check()?;
    if options.consecutive == 0 {
        // Zero in a row would be met by the first answer, even an error.
        return Err(Error::InvalidInput {
            what: "verification".into(),
            problem: "consecutive new answers must be at least 1".into(),
        });
    }
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(Error::InvalidInput {
            what: format!("URL {url:?}"),
            problem: "must start with http:// or https://".into(),
        });
    }
    let client = reqwest::Client::builder()
        .timeout(options.request_timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| Error::Http(e.to_string()))?;
    let started = Instant::now();
    let mut report = VerifyReport {
        url: url.to_owned(),
        required: options.consecutive,
        converged: false,
        first_new_after: None,
        converged_after: None,
        elapsed: Duration::ZERO,
        totals: SecondCounts::default(),
        per_second: Vec::new(),
        old_builds: BTreeMap::new(),
        errors: BTreeMap::new(),
    };
    let header_name = expect.header.as_ref().map(|(name, _)| name.clone());
    let mut streak = 0;
    while started.elapsed() < options.timeout {
        let answer = match client.get(url).send().await {
            Ok(response) if !response.status().is_success() => {
                Answer::Error(format!("HTTP {}", response.status().as_u16()))
            }
            Ok(response) => {
                let headers = response.headers().clone();
                match response.text().await {
                    // An answer cut off mid-body (a task dying, a reset) proves nothing, even
                    // when its headers name the new build.
                    Err(err) => Answer::Error(describe_request_error(&err)),
                    Ok(body) if expect.matches(&headers, &body) => Answer::New,
                    Ok(_) => {
                        let build = header_name
                            .as_deref()
                            .and_then(|name| headers.get(name))
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_owned);
                        Answer::Old { build }
                    }
                }
            }
            Err(err) => Answer::Error(describe_request_error(&err)),
        };
        let at = started.elapsed();
        let second = at.as_secs() as usize;
        if report.per_second.len() <= second {
            report
                .per_second
                .resize(second + 1, SecondCounts::default());
        }
        let bucket = &mut report.per_second[second];
        match &answer {
            Answer::New => {
                bucket.new += 1;
                report.totals.new += 1;
                report.first_new_after.get_or_insert(at);
                streak += 1;
            }
            Answer::Old { build } => {
                bucket.old += 1;
                report.totals.old += 1;
                *report
                    .old_builds
                    .entry(build.clone().unwrap_or_else(|| "unknown".into()))
                    .or_default() += 1;
                streak = 0;
            }
            Answer::Error(error) => {
                bucket.errors += 1;
                report.totals.errors += 1;
                *report.errors.entry(error.clone()).or_default() += 1;
                streak = 0;
            }
        }
        on_answer(&answer, &report.totals);
        if streak >= options.consecutive {
            report.converged = true;
            report.converged_after = Some(at);
            break;
        }
        tokio::time::sleep(options.interval).await;
    }
    report.elapsed = started.elapsed();
    Ok(report)
}

fn describe_request_error(err: &reqwest::Error) -> String {
    if err.is_timeout() {
        "timeout".into()
    } else if err.is_connect() {
        "connection failed".into()
    } else {
        let mut text = err.to_string();
        let mut source = std::error::Error::source(err);
        while let Some(cause) = source {
            text = format!("{text}: {cause}");
            source = cause.source();
        }
        text
    }
}

/// Finds the URL the service is reachable at: its target group's load balancer's DNS name
/// and the port of the listener that forwards to that target group (default action first,
/// then rules), `https` for HTTPS/TLS listeners.
pub async fn discover_url(clients: &Clients, target: &ServiceRef) -> Result<String> {
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
    let tgs = clients
        .elb
        .describe_target_groups()
        .target_group_arns(tg_arn)
        .send()
        .await
        .map_err(|e| Error::from_sdk("elasticloadbalancing:DescribeTargetGroups", e))?;
    let lb_arn = tgs
        .target_groups()
        .first()
        .and_then(|tg| tg.load_balancer_arns().first())
        .ok_or_else(|| {
            Error::NoLoadBalancer(format!(
                "target group {tg_arn} is not attached to a load balancer"
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
        .ok_or_else(|| Error::NoLoadBalancer(format!("load balancer {lb_arn} has no DNS name")))?
        .to_owned();
    // Every page: a shared load balancer's listener or rule may come after the first.
    let listeners: Vec<Listener> = clients
        .elb
        .describe_listeners()
        .load_balancer_arn(lb_arn)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| Error::from_sdk("elasticloadbalancing:DescribeListeners", e))?;
    let chosen = match listeners
        .iter()
        .find(|l| forwards_to(l.default_actions(), tg_arn))
    {
        Some(listener) => Some(listener),
        None => {
            let mut found = None;
            for listener in &listeners {
                let Some(arn) = listener.listener_arn() else {
                    continue;
                };
                let rules: Vec<Rule> = clients
                    .elb
                    .describe_rules()
                    .listener_arn(arn)
                    .into_paginator()
                    .items()
                    .send()
                    .try_collect()
                    .await
                    .map_err(|e| Error::from_sdk("elasticloadbalancing:DescribeRules", e))?;
                if rules.iter().any(|r| forwards_to(r.actions(), tg_arn)) {
                    found = Some(listener);
                    break;
                }
            }
            found
        }
    };
    let listener = chosen.ok_or_else(|| {
        Error::NoLoadBalancer(format!(
            "no listener of {lb_arn} forwards to target group {tg_arn}"
        ))
    })?;
    Ok(listener_url(&dns, listener))
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
    use aws_sdk_elasticloadbalancingv2::types::{ForwardActionConfig, TargetGroupTuple};

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
    fn expectations_need_a_test() {
        assert!(Expectation::default().check().is_err());
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("x-app-version", "v2".parse().unwrap());
        let both = Expectation {
            body_contains: Some("Hi".into()),
            header: Some(("x-app-version".into(), "v2".into())),
        };
        assert!(both.matches(&headers, "Hi there"));
        assert!(!both.matches(&headers, "Hello"));
        assert!(!Expectation::header("x-app-version", "v3").matches(&headers, "Hi"));
    }
}
