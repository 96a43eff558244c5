//! Stage 5, verify: `GET <load balancer><verify path>` until enough answers in a row come
//! from the new build — recognised by its `x-app-version`, and by the greeting when `--env
//! GREETING=` set one.

use std::time::Duration;

use anyhow::Result;
use deploy_sdk::verify::{Expectation, VerifyOptions, verify};

use super::context::{Deploy, ImageToDeploy};
use super::report::VerifyJson;

impl Deploy<'_> {
    /// Verifies through the load balancer (`--url`, else the one the service is behind).
    pub async fn verify(&mut self, image: &ImageToDeploy) -> Result<()> {
        let base = match &self.args.url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => self.deployer.discover_url(&self.target).await?,
        };
        self.report.url = Some(base.clone());
        let Some(expect) = self.expectation(image) else {
            self.say(
                "verify: skipped — the image has no tag to recognise the new build by (pass --url with a tagged --image)",
            );
            return Ok(());
        };
        let url = format!("{base}{}", self.args.verify_path);
        let clock = self.stage(
            "verify",
            &format!(
                "GET {url} until {} answers in a row come from the new build",
                self.args.verify_count
            ),
        );
        let options = VerifyOptions {
            consecutive: self.args.verify_count,
            timeout: Duration::from_secs(self.args.verify_timeout),
            ..VerifyOptions::default()
        };
        let progress = self.progress;
        let verified = verify(&url, &expect, &options, |answer, totals| {
            progress.verify(answer, totals)
        })
        .await?;
        self.report.verify = Some(VerifyJson::from(&verified));
        let mix: Vec<String> = verified
            .per_second
            .iter()
            .map(|s| format!("{}/{}/{}", s.new, s.old, s.errors))
            .collect();
        self.stage_done(clock, &verified.to_string());
        self.say(&format!(
            "verify: per second new/old/errors: {}",
            mix.join(" ")
        ));
        verified.into_result()?;
        Ok(())
    }

    /// How an answer of the new build is recognised; None when it cannot be.
    fn expectation(&self, image: &ImageToDeploy) -> Option<Expectation> {
        // The greeting goes into the page HTML-escaped, as hello-service itself escapes it.
        let greeting = self
            .env
            .iter()
            .find(|(key, _)| key == "GREETING")
            .map(|(_, value)| hello_service::html::escape(value).into_owned());
        let expect = Expectation {
            header: image
                .version
                .clone()
                .map(|version| (hello_service::APP_VERSION_HEADER.to_owned(), version)),
            body_contains: greeting.map(|g| format!("{g} ")),
        };
        (expect.header.is_some() || expect.body_contains.is_some()).then_some(expect)
    }
}
