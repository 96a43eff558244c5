//! Traffic through the roll stage: the verify URL asked a few times a second from
//! UpdateService to the outcome (`deploy_sdk::verify::sample_traffic`), counted per second as
//! new / old / failed — every deploy's zero-downtime evidence, in the summary and the report.

use deploy_sdk::verify::{Expectation, TrafficOptions, TrafficReport};

use super::context::{Deploy, ImageToDeploy};
use super::report::TrafficJson;

/// What to ask during the roll.
pub struct TrafficPlan {
    pub url: String,
    pub expect: Expectation,
    pub options: TrafficOptions,
}

impl Deploy<'_> {
    /// The URL, expectation and rate to sample during the roll, or why there is none.
    pub fn traffic_plan(&self, image: &ImageToDeploy) -> Result<TrafficPlan, String> {
        let endpoint = self.endpoint.as_ref().ok_or_else(|| {
            if self.args.no_verify {
                "no load balancer URL to ask (--no-verify)".to_owned()
            } else {
                "no load balancer URL known before the roll (the service is new)".to_owned()
            }
        })?;
        let expect = self.expectation(image).ok_or_else(|| {
            "the image has no tag to tell the new build from the old one".to_owned()
        })?;
        Ok(TrafficPlan {
            url: format!("{}{}", endpoint.url, self.args.verify_path),
            expect,
            options: TrafficOptions {
                host: self.args.verify_host.clone().or(endpoint.host.clone()),
                ..TrafficOptions::default()
            },
        })
    }

    /// Records what the sampling saw (or why nothing was sampled) and says it in a line.
    pub fn record_traffic(
        &mut self,
        sampled: Result<deploy_sdk::Result<TrafficReport>, String>,
        started_at: f64,
    ) {
        match sampled {
            Ok(Ok(traffic)) => {
                self.say(&traffic_line(&traffic));
                self.report.traffic = Some(TrafficJson::of(&traffic, started_at));
            }
            Ok(Err(err)) => {
                self.say(&format!("traffic: not sampled: {err}"));
                self.report.traffic_not_sampled = Some(err.to_string());
            }
            Err(why) => {
                self.say(&format!("traffic: not sampled: {why}"));
                self.report.traffic_not_sampled = Some(why);
            }
        }
    }
}

/// "N requests during the rollout, E failed (O old, W new)", with the failures named.
pub fn traffic_line(traffic: &TrafficReport) -> String {
    let t = &traffic.totals;
    let mut line = format!(
        "traffic: {} requests during the rollout, {} failed ({} old, {} new)",
        traffic.requests(),
        t.errors,
        t.old,
        t.new
    );
    for (error, count) in &traffic.errors {
        line.push_str(&format!("; {count}× {error}"));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use deploy_sdk::verify::SecondCounts;

    #[test]
    fn the_line_counts_requests_and_names_failures() {
        let traffic = TrafficReport {
            totals: SecondCounts {
                new: 5,
                old: 6,
                errors: 1,
            },
            errors: [("HTTP 502".to_owned(), 1)].into(),
            ..TrafficReport::default()
        };
        assert_eq!(
            traffic_line(&traffic),
            "traffic: 12 requests during the rollout, 1 failed (6 old, 5 new); 1× HTTP 502"
        );
    }
}
