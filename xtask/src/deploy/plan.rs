//! Before anything changes: the local stack (with `--local`), the service and its task
//! definition described — once for the whole deploy — and the new revision planned; and the
//! dry run, which stops at the plan.

use anyhow::Result;
use deploy_sdk::deploy::{DeployRequest, Prepared};
use deploy_sdk::service::UpdateOptions;
use deploy_sdk::taskdef::NewRevision;
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
                Ok(Found::Missing(stack))
            }
            Err(err) => Err(err.into()),
        }
    }

    /// The preflight's plan for the image to deploy, with the request to start it with.
    pub fn plan(
        &self,
        prepared: Prepared,
        image: &ImageToDeploy,
    ) -> Result<(Prepared, DeployRequest)> {
        let request = self.request(&image.uri);
        Ok((replan(prepared, &request)?, request))
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

/// `prepared` planned again for `request`, on the service and task definition it holds rather
/// than prepared anew: a deploy describes them once. What `start` then does follows
/// `Deployer::prepare`'s rule: register when the revision changes anything (or when forced),
/// update when it registers or the update options ask for something.
fn replan(prepared: Prepared, request: &DeployRequest) -> Result<Prepared> {
    let revision = NewRevision::plan(prepared.revision.current, &request.changes)?;
    let registers = revision.is_change() || request.force_register;
    let updates = registers || request.update != UpdateOptions::default();
    Ok(Prepared {
        service: prepared.service,
        revision,
        registers,
        updates,
    })
}

#[cfg(test)]
mod tests {
    use aws_sdk_ecs::types::{ContainerDefinition, Service, TaskDefinition};
    use deploy_sdk::service::ServiceRef;
    use deploy_sdk::taskdef::{ContainerChanges, CurrentRevision};

    use super::*;

    const RUNNING: &str = "repo@sha256:aaaa";

    /// What the preflight prepared: the service runs `RUNNING` with GREETING=hi.
    fn preflight() -> Prepared {
        let current = CurrentRevision {
            task_definition: TaskDefinition::builder()
                .task_definition_arn("arn:aws:ecs:us-east-1:0:task-definition/hello-ecs:1")
                .family("hello-ecs")
                .container_definitions(
                    ContainerDefinition::builder()
                        .name("hello-ecs")
                        .image(RUNNING)
                        .environment(
                            aws_sdk_ecs::types::KeyValuePair::builder()
                                .name("GREETING")
                                .value("hi")
                                .build(),
                        )
                        .build(),
                )
                .build(),
            tags: Vec::new(),
        };
        let placeholder = ContainerChanges::default().image("hello-ecs", PLACEHOLDER_IMAGE);
        Prepared {
            service: Service::builder().service_name("hello-ecs").build(),
            revision: NewRevision::plan(current, &placeholder).unwrap(),
            registers: true,
            updates: true,
        }
    }

    fn request(image: &str, env: &[(&str, &str)]) -> DeployRequest {
        let changes = env.iter().fold(
            ContainerChanges::default().image("hello-ecs", image),
            |changes, (key, value)| changes.env("hello-ecs", *key, *value),
        );
        DeployRequest::new(ServiceRef::new("dev-cluster", "hello-ecs"), changes)
    }

    #[test]
    fn the_image_and_env_running_already_change_nothing() {
        let planned = replan(preflight(), &request(RUNNING, &[("GREETING", "hi")])).unwrap();
        assert!(
            planned.revision.changes.is_empty(),
            "{:?}",
            planned.revision.changes
        );
        assert!(!planned.registers && !planned.updates);
        assert_eq!(
            planned.current_task_definition(),
            "arn:aws:ecs:us-east-1:0:task-definition/hello-ecs:1"
        );
    }

    #[test]
    fn a_new_image_registers_and_updates() {
        let planned = replan(preflight(), &request("repo@sha256:bbbb", &[])).unwrap();
        let changed: Vec<String> = planned
            .revision
            .changes
            .iter()
            .map(|c| format!("{} {}", c.field, c.to))
            .collect();
        assert_eq!(changed, ["image repo@sha256:bbbb"]);
        assert!(planned.registers && planned.updates);
    }

    #[test]
    fn forcing_registers_and_update_options_update_without_a_change() {
        let mut forced = request(RUNNING, &[]);
        forced.force_register = true;
        let planned = replan(preflight(), &forced).unwrap();
        assert!(planned.revision.changes.is_empty());
        assert!(planned.registers && planned.updates);

        let mut scaled = request(RUNNING, &[]);
        scaled.update.desired_count = Some(3);
        let planned = replan(preflight(), &scaled).unwrap();
        assert!(!planned.registers && planned.updates);
    }

    #[test]
    fn an_unknown_container_is_still_refused() {
        let changes = ContainerChanges::default().image("hello-server", RUNNING);
        let request = DeployRequest::new(ServiceRef::new("dev-cluster", "hello-ecs"), changes);
        let err = replan(preflight(), &request).unwrap_err();
        assert_eq!(
            crate::failure::exit_code(&err),
            crate::failure::USAGE,
            "{err:#}"
        );
    }
}
