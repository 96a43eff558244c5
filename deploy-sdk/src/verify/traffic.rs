//! Traffic through a rollout: the load balancer asked at a steady rate while the rollout runs,
//! each request on a fresh connection (verify's [`Prober`]), answers counted per second as
//! new / old / failed — the evidence that a rollout dropped no request. A slow answer never
//! holds the next request up: requests run side by side, each bounded by its timeout.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use tokio::time::{Instant, MissedTickBehavior};

use super::http::Prober;
use super::{Answer, Expectation, SecondCounts, VerifyOptions};
use crate::error::{Error, Result};

/// How traffic is sampled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrafficOptions {
    /// Requests sent per second (default 4; at least 1).
    pub per_second: u32,
    /// Per-request timeout, connecting and reading included (default 2 s): a request that
    /// takes longer counts as failed.
    pub request_timeout: Duration,
    /// The host name to send (`Host`, TLS SNI); see [`VerifyOptions::host`].
    pub host: Option<String>,
}

impl Default for TrafficOptions {
    fn default() -> Self {
        TrafficOptions {
            per_second: 4,
            request_timeout: Duration::from_secs(2),
            host: None,
        }
    }
}

/// What the sampled traffic saw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrafficReport {
    /// The URL asked.
    pub url: String,
    /// Totals: new = the build expected, old = another build's success, errors = failures
    /// (connection error, timeout, a status other than 2xx, a body cut off).
    pub totals: SecondCounts,
    /// Per second since sampling began, by the second each request was sent in.
    pub per_second: Vec<SecondCounts>,
    /// Distinct failures, with counts.
    pub errors: BTreeMap<String, u32>,
    /// How long sampling ran.
    pub elapsed: Duration,
}

impl TrafficReport {
    /// Requests answered or failed.
    pub fn requests(&self) -> u32 {
        self.totals.new + self.totals.old + self.totals.errors
    }

    fn count(&mut self, answer: &Answer, sent: Duration) {
        let second = sent.as_secs() as usize;
        if self.per_second.len() <= second {
            self.per_second.resize(second + 1, SecondCounts::default());
        }
        let bucket = &mut self.per_second[second];
        let (slot, total) = match answer {
            Answer::New => (&mut bucket.new, &mut self.totals.new),
            Answer::Old { .. } => (&mut bucket.old, &mut self.totals.old),
            Answer::Error(error) => {
                *self.errors.entry(error.clone()).or_default() += 1;
                (&mut bucket.errors, &mut self.totals.errors)
            }
        };
        *slot += 1;
        *total += 1;
    }
}

/// Asks `url` `options.per_second` times a second until `stop` completes, then waits for the
/// requests in flight (each bounded by its timeout) and returns the counts. Fails only on bad
/// input (URL, expectation, host name).
pub async fn sample_traffic(
    url: &str,
    expect: &Expectation,
    options: &TrafficOptions,
    stop: impl Future<Output = ()>,
) -> Result<TrafficReport> {
    expect.check()?;
    if options.per_second == 0 {
        return Err(Error::InvalidInput {
            what: "traffic sampling".into(),
            problem: "at least one request per second".into(),
        });
    }
    let probe_options = VerifyOptions {
        request_timeout: options.request_timeout,
        host: options.host.clone(),
        ..VerifyOptions::default()
    };
    probe_options.check(url)?;
    let prober = Prober::new(url, expect, &probe_options)?;
    let mut report = TrafficReport {
        url: url.to_owned(),
        ..TrafficReport::default()
    };
    let started = Instant::now();
    let mut ticks = tokio::time::interval(Duration::from_secs(1) / options.per_second);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut in_flight = FuturesUnordered::new();
    let ask = |sent: Duration| {
        let prober = &prober;
        async move { (sent, prober.ask(expect).await) }
    };
    let mut stop = std::pin::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => break,
            _ = ticks.tick() => in_flight.push(ask(started.elapsed())),
            Some((sent, answer)) = in_flight.next() => report.count(&answer, sent),
        }
    }
    while let Some((sent, answer)) = in_flight.next().await {
        report.count(&answer, sent);
    }
    report.elapsed = started.elapsed();
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_the_second_a_request_was_sent() {
        let mut report = TrafficReport::default();
        report.count(&Answer::Old { build: None }, Duration::from_millis(200));
        report.count(&Answer::New, Duration::from_millis(2100));
        report.count(
            &Answer::Error("timeout".into()),
            Duration::from_millis(2500),
        );
        report.count(
            &Answer::Error("timeout".into()),
            Duration::from_millis(2600),
        );
        assert_eq!(report.requests(), 4);
        assert_eq!(
            report.per_second,
            [
                SecondCounts {
                    new: 0,
                    old: 1,
                    errors: 0
                },
                SecondCounts::default(),
                SecondCounts {
                    new: 1,
                    old: 0,
                    errors: 2
                },
            ]
        );
        assert_eq!(report.errors["timeout"], 2);
    }
}
