//! Before anything changes: the local stack (with `--local`), the service and its task
//! definition described — once for the whole deploy — and the new revision planned; and the
//! dry run, which stops at the plan.

use anyhow::Result;
use deploy_sdk::deploy::{DeployRequest, Prepared};
use deploy_sdk::verify::{Endpoint, discover_endpoint};
use local_stack::Stack;

use super::context::{Deploy, ImageToDeploy};
use crate::bootstrap;

/// Stands in for the image until it is built: planning with it checks the container exists.
const PLACEHOLDER_IMAGE: &str = "placeholder";

/// What the preflight found.
pub enum Found {
    /// The service, described, with the revision planned for the placeholder image.
    Service(Box<Prepared>),
    /// No service yet (local only: it is created after the push), and the stack to put it in
    /// (none in a dry run, which bootstraps nothing).
    Missing(Option<Stack>),
}

impl Deploy<'_> {
    /// Bootstraps the local stack (with `--local`, unless a dry run) and prepares the deploy
    /// with a placeholder image, so a wrong cluster, service or container fails before a
    /// minute goes into the build.
    pub async fn preflight(&mut self) -> Result<Found> {
        let stack = match (&self.settings.local, self.args.dry_run) {
            (Some(_), false) => {
                let say = |line: &str| self.say(line);
                Some(bootstrap::bootstrap(&self.clients, self.settings, &say).await?)
            }
            _ => None,
        };
        match self
            .deployer
            .prepare(&self.request(PLACEHOLDER_IMAGE))
            .await
        {
            Ok(prepared) => {
                self.report.old_task_definition = Some(prepared.current_task_definition().into());
                self.strategy_update = self
                    .strategy_update(&prepared.service, stack.as_ref())
                    .await?;
                self.endpoint = self.endpoint_to_verify().await?;
                Ok(Found::Service(Box::new(prepared)))
            }
            Err(
                deploy_sdk::Error::ServiceNotFound { .. }
                | deploy_sdk::Error::ClusterNotFound { .. },
            ) if self
                .settings
                .local
                .as_deref()
                .is_some_and(bootstrap::may_create_service) =>
            {
                self.say(&format!(
                    "service {} does not exist yet: it will be created after the push",
                    self.target
                ));
                if self.args.strategy.strategy.is_some() {
                    self.say(
                        "--strategy: the service is created rolling; the next deploy switches it",
                    );
                }
                Ok(Found::Missing(stack))
            }
            Err(err) => Err(err.into()),
        }
    }

    /// Where verification will ask, found before anything changes (a service with no load
    /// balancer and no `--url` is a usage error now, not after the rollout); `None` when the
    /// deploy will not verify.
    async fn endpoint_to_verify(&self) -> Result<Option<Endpoint>> {
        let verifies = !(self.args.no_verify || self.args.no_wait || self.args.dry_run);
        Ok(match &self.args.url {
            _ if !verifies => None,
            Some(url) => Some(Endpoint {
                url: url.clone(),
                host: None,
            }),
            None => Some(discover_endpoint(&self.clients, &self.target).await?),
        })
    }

    /// The preflight's plan for the image to deploy, with the request to start it with.
    pub fn plan(
        &self,
        prepared: Prepared,
        image: &ImageToDeploy,
    ) -> Result<(Prepared, DeployRequest)> {
        let request = self.request(&image.uri);
        Ok((prepared.replan(&request)?, request))
    }

    /// `--dry-run`: the task-definition diff and the UpdateService request, or what a first
    /// local deploy would create.
    pub fn dry_run(&mut self, found: Found, image: &ImageToDeploy) -> Result<()> {
        match found {
            Found::Service(prepared) => {
                let (prepared, request) = self.plan(*prepared, image)?;
                let summary = self.deployer.summary(&prepared, &request).to_string();
                for line in summary.lines() {
                    self.say(&format!("dry run: {line}"));
                }
                self.report.new_task_definition =
                    (!prepared.registers).then(|| prepared.current_task_definition().to_owned());
            }
            Found::Missing(_) => self.say(&format!(
                "dry run: would bootstrap the local stack and create service {} with {}",
                self.target, image.uri
            )),
        }
        self.report.outcome = "dry_run".into();
        Ok(())
    }
}
