//! Stage 5, verify: `GET <load balancer><verify path>`, a connection per request, until
//! enough answers in a row come from the new build — recognised by its `x-app-version`, and
//! by the greeting when `--env GREETING=` set one — and target health shows no target of
//! another deployment still in service.

use std::time::Duration;

use anyhow::Result;
use deploy_sdk::service::StartedDeployment;
use deploy_sdk::verify::{
    Endpoint, Expectation, ServiceFleet, VerifyOptions, VerifyReport, discover_endpoint, verify,
};

use super::context::{Deploy, ImageToDeploy};
use super::report::VerifyJson;

/// What verification asked, to ask it again after a rollback.
pub struct Probe {
    pub url: String,
    pub expect: Expectation,
    pub options: VerifyOptions,
}

/// Answers per second as `new/old/errors` groups.
pub fn per_second(report: &VerifyReport) -> String {
    let mix: Vec<String> = report
        .per_second
        .iter()
        .map(|s| format!("{}/{}/{}", s.new, s.old, s.errors))
        .collect();
    mix.join(" ")
}

impl Deploy<'_> {
    /// Verifies `started` through the load balancer (`--url`, else the one the service is
    /// behind, with the host name of its host-header rule).
    pub async fn verify(
        &mut self,
        image: &ImageToDeploy,
        started: &StartedDeployment,
    ) -> Result<()> {
        // Found in the preflight; a service created by this deploy is asked now.
        let endpoint = match (self.endpoint.clone(), &self.args.url) {
            (Some(endpoint), _) => endpoint,
            (None, Some(url)) => Endpoint {
                url: url.clone(),
                host: None,
            },
            (None, None) => discover_endpoint(&self.clients, &self.target).await?,
        };
        self.report.url = Some(endpoint.url.clone());
        let Some(expect) = self.expectation(image) else {
            self.say(
                "verify: skipped — the image has no tag to recognise the new build by (pass --url with a tagged --image)",
            );
            return Ok(());
        };
        let url = format!("{}{}", endpoint.url, self.args.verify_path);
        let options = VerifyOptions {
            consecutive: self.args.verify_count,
            timeout: Duration::from_secs(self.args.verify_timeout),
            host: self.args.verify_host.clone().or(endpoint.host),
            ..VerifyOptions::default()
        };
        let named = options
            .host
            .as_deref()
            .map(|host| format!(" (host {host})"))
            .unwrap_or_default();
        let clock = self.stage(
            "verify",
            &format!(
                "GET {url}{named} until at least {} answers in a row ({} per target in service) come from the new build and no other deployment's target is in service",
                options.consecutive, options.streak_per_target
            ),
        );
        let verified = self
            .prove(&url, &expect, &options, &started.deployment_id)
            .await?;
        self.report.verify = Some(VerifyJson::from(&verified));
        self.stage_done(clock, &verified.to_string());
        self.say(&format!(
            "verify: per second new/old/errors: {}",
            per_second(&verified)
        ));
        if let Err(err) = verified.into_result() {
            let probe = Probe {
                url,
                expect,
                options,
            };
            return Err(self.roll_back_unverified(started, err.into(), &probe).await);
        }
        Ok(())
    }

    /// Asks `url` until answers `expect`ed come in a row and target health shows only
    /// `deployment`'s targets in service (or the time is up), with live progress.
    pub async fn prove(
        &self,
        url: &str,
        expect: &Expectation,
        options: &VerifyOptions,
        deployment: &str,
    ) -> Result<VerifyReport> {
        let mut fleet = ServiceFleet::new(&self.clients, &self.target, deployment).await?;
        let progress = self.progress;
        let verified = verify(url, expect, options, &mut fleet, |answer, totals| {
            progress.verify(answer, totals)
        })
        .await?;
        Ok(verified)
    }

    /// How an answer of the new build is recognised; None when it cannot be.
    pub(super) fn expectation(&self, image: &ImageToDeploy) -> Option<Expectation> {
        // The greeting goes into the page HTML-escaped, as hello-service itself escapes it.
        let greeting = self
            .env
            .iter()
            .find(|(key, _)| key == "GREETING")
            .map(|(_, value)| hello_page::escape(value).into_owned());
        let expect = Expectation {
            header: image
                .version
                .clone()
                .map(|version| (hello_page::APP_VERSION_HEADER.to_owned(), version)),
            body_contains: greeting.map(|g| format!("{g} ")),
            unlike: false,
        };
        (expect.header.is_some() || expect.body_contains.is_some()).then_some(expect)
    }
}
