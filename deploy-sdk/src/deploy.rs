//! The whole deploy in a few calls: prepare (describe, plan the revision), start (register,
//! UpdateService), watch, and roll back when it goes wrong.

use std::fmt;

use aws_sdk_ecs::types::Service;
use futures::Stream;

use crate::Clients;
use crate::error::{Error, Result};
use crate::rollout::{self, RolloutEvent, WatchOptions};
use crate::service::{
    self, DeploymentSnapshot, ServiceRef, StartedDeployment, UpdateOptions, short_task_definition,
};
use crate::service_deployment;
use crate::taskdef::{self, ContainerChanges, CurrentRevision, NewRevision};

/// What to deploy where.
#[derive(Debug, Clone, PartialEq)]
pub struct DeployRequest {
    /// The service.
    pub service: ServiceRef,
    /// New images and env per container.
    pub changes: ContainerChanges,
    /// UpdateService options (desired count, percentages, circuit breaker, force).
    pub update: UpdateOptions,
    /// Register a new revision even when the current one already has these images and env.
    pub force_register: bool,
}

impl DeployRequest {
    /// Deploy `changes` to `service` with default options.
    pub fn new(service: ServiceRef, changes: ContainerChanges) -> DeployRequest {
        DeployRequest {
            service,
            changes,
            update: UpdateOptions::default(),
            force_register: false,
        }
    }
}

/// The deploy worked out but not started: what runs now and what would change.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The service as described.
    pub service: Service,
    /// The revision to register (or the current one, when nothing changes).
    pub revision: NewRevision,
    /// Whether `start` registers a new revision.
    pub registers: bool,
    /// Whether `start` calls UpdateService (false when there is nothing at all to do).
    pub updates: bool,
}

impl Prepared {
    /// Plans `request` on a service as described and the task definition it runs: register
    /// when the revision changes anything (or when forced), update when it registers or the
    /// update options ask for something.
    pub fn plan(
        service: Service,
        current: CurrentRevision,
        request: &DeployRequest,
    ) -> Result<Prepared> {
        crate::controller::check(&service, &request.service)?;
        let revision = NewRevision::plan(current, &request.changes)?;
        let registers = revision.is_change() || request.force_register;
        let updates = registers || request.update != UpdateOptions::default();
        Ok(Prepared {
            service,
            revision,
            registers,
            updates,
        })
    }

    /// The same service and task definition planned for another request (another image,
    /// say, once it is built and pushed), with no AWS call: a deploy describes them once.
    pub fn replan(self, request: &DeployRequest) -> Result<Prepared> {
        Prepared::plan(self.service, self.revision.current, request)
    }

    /// The task definition running now.
    pub fn current_task_definition(&self) -> &str {
        self.revision.current.arn()
    }
}

/// A readable plan: the task-definition diff and the UpdateService request (for dry runs).
pub struct PlanSummary<'a>(&'a Prepared, &'a DeployRequest);

impl fmt::Display for PlanSummary<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (prepared, request) = (self.0, self.1);
        writeln!(f, "task definition: {}", prepared.current_task_definition())?;
        if prepared.revision.changes.is_empty() {
            writeln!(
                f,
                "  no changes: the current revision already has these images and env"
            )?;
        }
        for change in &prepared.revision.changes {
            writeln!(f, "  {change}")?;
        }
        if prepared.registers {
            let family = prepared.revision.desired.family().unwrap_or("?");
            writeln!(
                f,
                "RegisterTaskDefinition: family {family} (a new revision; every other field copied)"
            )?;
        }
        if !prepared.updates {
            return writeln!(
                f,
                "UpdateService: not needed, the service already runs this revision"
            );
        }
        let td = if prepared.registers {
            format!(
                "<new revision of {}>",
                prepared.revision.desired.family().unwrap_or("?")
            )
        } else {
            prepared.current_task_definition().to_owned()
        };
        write!(
            f,
            "UpdateService: cluster={} service={} taskDefinition={td}",
            request.service.cluster, request.service.service
        )?;
        let u = &request.update;
        if let Some(n) = u.desired_count {
            write!(f, " desiredCount={n}")?;
        }
        if let Some(config) =
            service::deployment_configuration(prepared.service.deployment_configuration(), u)
        {
            write!(
                f,
                " deploymentConfiguration={{minimumHealthyPercent={:?}, maximumPercent={:?}, circuitBreaker={:?}}}",
                config.minimum_healthy_percent(),
                config.maximum_percent(),
                config
                    .deployment_circuit_breaker()
                    .map(|cb| (cb.enable(), cb.rollback()))
            )?;
        }
        if let Some(strategy) = &u.strategy {
            write!(f, " strategy={}", strategy.strategy)?;
            if let Some(bake) = strategy.bake_minutes {
                write!(f, " bakeTimeInMinutes={bake}")?;
            }
            if strategy.wiring.is_some() {
                write!(f, " loadBalancers[].advancedConfiguration=<set>")?;
            }
        }
        if u.force_new_deployment {
            write!(f, " forceNewDeployment=true")?;
        }
        writeln!(f)
    }
}

/// Runs deploys against one set of clients.
#[derive(Debug, Clone)]
pub struct Deployer {
    clients: Clients,
}

impl Deployer {
    /// A deployer using `clients`.
    pub fn new(clients: Clients) -> Deployer {
        Deployer { clients }
    }

    /// The clients.
    pub fn clients(&self) -> &Clients {
        &self.clients
    }

    /// Describes the service and its task definition and plans the new revision. Changes
    /// nothing; fails early on a missing cluster, service or container.
    pub async fn prepare(&self, request: &DeployRequest) -> Result<Prepared> {
        let service = service::describe_service(&self.clients.ecs, &request.service).await?;
        crate::controller::check(&service, &request.service)?;
        let current_arn = service.task_definition().ok_or_else(|| {
            Error::incomplete_answer(
                "ecs:DescribeServices",
                format!("service {} has no task definition", request.service),
            )
        })?;
        let current = taskdef::describe(&self.clients.ecs, current_arn).await?;
        Prepared::plan(service, current, request)
    }

    /// The plan as text: task-definition diff and UpdateService request.
    pub fn summary<'a>(
        &self,
        prepared: &'a Prepared,
        request: &'a DeployRequest,
    ) -> PlanSummary<'a> {
        PlanSummary(prepared, request)
    }

    /// Registers the revision (when it changes anything, or forced) and updates the service.
    /// With nothing to do, returns the deployment already in place (`is_new` false).
    pub async fn start(
        &self,
        prepared: &Prepared,
        request: &DeployRequest,
    ) -> Result<StartedDeployment> {
        if !prepared.updates {
            return StartedDeployment::primary_of(
                &prepared.service,
                &request.service,
                "ecs:DescribeServices",
            );
        }
        let task_definition = if prepared.registers {
            prepared.revision.register(&self.clients.ecs).await?
        } else {
            prepared.current_task_definition().to_owned()
        };
        service::update_service(
            &self.clients.ecs,
            &request.service,
            &prepared.service,
            &task_definition,
            &request.update,
        )
        .await
    }

    /// Watches a deployment to its outcome (see [`rollout::watch`]).
    pub fn watch(
        &self,
        started: StartedDeployment,
        options: WatchOptions,
    ) -> impl Stream<Item = Result<RolloutEvent>> + Send + 'static {
        rollout::watch(self.clients.clone(), started, options)
    }

    /// Puts the service back where ECS itself would: on the last deployment that COMPLETED
    /// (see [`Deployer::rollback_target`]), not on whatever was PRIMARY before `failed`.
    /// Where the ServiceDeployment API exists and `failed` is still PENDING or IN_PROGRESS,
    /// asks ECS to roll it back (`StopServiceDeployment` ROLLBACK) and returns that rollback
    /// to watch (`stop_rollback`). If the service already runs the target (ECS rolled back),
    /// returns that deployment to watch instead of starting another.
    pub async fn rollback(&self, failed: &StartedDeployment) -> Result<StartedDeployment> {
        let ecs = &self.clients.ecs;
        let service = service::describe_service(ecs, &failed.service).await?;
        let to = self.rollback_target(failed, &service).await?;
        if let Some(arn) = &failed.service_deployment_arn
            && self.still_running(arn).await?
        {
            service_deployment::stop_for_rollback(ecs, arn).await?;
            return Ok(StartedDeployment {
                task_definition: to,
                previous_task_definition: Some(failed.task_definition.clone()),
                created_at: std::time::SystemTime::now(),
                is_new: true,
                stop_rollback: true,
                ..failed.clone()
            });
        }
        self.put_back(&failed.service, &service, &to, &failed.task_definition)
            .await
    }

    /// Puts the service on `task_definition` (an explicit rollback target), or returns the
    /// deployment already running it.
    pub async fn rollback_to(
        &self,
        target: &ServiceRef,
        task_definition: &str,
    ) -> Result<StartedDeployment> {
        let to = self.registered(task_definition).await?;
        let service = service::describe_service(&self.clients.ecs, target).await?;
        let from = service.task_definition().unwrap_or_default().to_owned();
        self.put_back(target, &service, &to, &from).await
    }

    /// The ARN of `task_definition` (family:revision, or an ARN) if it is registered and
    /// ACTIVE: an explicit rollback target is checked before the service is touched.
    async fn registered(&self, task_definition: &str) -> Result<String> {
        let invalid = |problem: String| Error::InvalidInput {
            what: format!("task definition {task_definition:?}"),
            problem,
        };
        let current = match taskdef::describe(&self.clients.ecs, task_definition).await {
            Ok(current) => current,
            // ECS's answer to an unknown task definition (and to a malformed name).
            Err(err) if err.aws_code() == Some("ClientException") => {
                return Err(invalid(format!(
                    "ECS has no such task definition ({err}); name a registered one as \
                     FAMILY:REVISION or its ARN (aws ecs list-task-definitions lists them)"
                )));
            }
            Err(err) => return Err(err),
        };
        let td = &current.task_definition;
        if let Some(status) = td.status().filter(|s| s.as_str() != "ACTIVE") {
            return Err(invalid(format!(
                "it is {}: a service can only be updated to an ACTIVE revision",
                status.as_str()
            )));
        }
        td.task_definition_arn().map(str::to_owned).ok_or_else(|| {
            Error::incomplete_answer(
                "ecs:DescribeTaskDefinition",
                format!("no ARN for task definition {task_definition}"),
            )
        })
    }

    async fn put_back(
        &self,
        target: &ServiceRef,
        service: &Service,
        to: &str,
        from: &str,
    ) -> Result<StartedDeployment> {
        if service::primary_deployment(service).and_then(|d| d.task_definition()) == Some(to) {
            let mut current =
                StartedDeployment::primary_of(service, target, "ecs:DescribeServices")?;
            current.previous_task_definition = Some(from.to_owned());
            return Ok(current);
        }
        let mut started = service::update_service(
            &self.clients.ecs,
            target,
            service,
            to,
            &UpdateOptions::default(),
        )
        .await?;
        started.previous_task_definition = Some(from.to_owned());
        Ok(started)
    }

    /// Whether the service deployment is still PENDING or IN_PROGRESS; false where the API
    /// cannot say.
    async fn still_running(&self, arn: &str) -> Result<bool> {
        use aws_sdk_ecs::types::ServiceDeploymentStatus as S;
        match service_deployment::describe(&self.clients.ecs, arn).await {
            Ok(sd) => Ok(matches!(sd.status(), Some(S::Pending | S::InProgress))),
            Err(err) if service_deployment::unavailable(&err).is_some() => Ok(false),
            Err(err) => Err(err),
        }
    }

    /// Where a rollback of `failed` goes: the task definition of the newest SUCCESSFUL
    /// service deployment not running `failed`'s (ListServiceDeployments →
    /// DescribeServiceRevisions); where that API cannot say, a COMPLETED deployment in the
    /// table, else the one that had COMPLETED before `failed` started. Never a deployment that
    /// FAILED or was still IN_PROGRESS: with none known, an error asking for an explicit one.
    pub async fn rollback_target(
        &self,
        failed: &StartedDeployment,
        service: &Service,
    ) -> Result<String> {
        let ours = failed.task_definition.as_str();
        match service_deployment::last_successful_task_definition(
            &self.clients.ecs,
            &failed.service,
            ours,
        )
        .await
        {
            Ok(Some(td)) => return Ok(td),
            Ok(None) => {}
            Err(err) if service_deployment::unavailable(&err).is_some() => {}
            Err(err) => return Err(err),
        }
        let table: Vec<_> = DeploymentSnapshot::table(service)
            .into_iter()
            .filter(|d| d.task_definition != ours)
            .collect();
        service::last_completed_task_definition(&table)
            .filter(|_| table.iter().any(|d| d.rollout_state.is_some()))
            .or_else(|| failed.previous_task_definition.clone())
            .filter(|td| td != ours)
            .ok_or_else(|| Error::InvalidInput {
                what: "rollback".into(),
                problem: format!(
                    "no deployment of {} other than {} is known to have COMPLETED: name the \
                     task definition to roll back to",
                    failed.service,
                    short_task_definition(ours)
                ),
            })
    }

    /// The load balancer URL of the service (see [`crate::verify::discover_url`]).
    pub async fn discover_url(&self, target: &ServiceRef) -> Result<String> {
        crate::verify::discover_url(&self.clients, target).await
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_ecs::types::{ContainerDefinition, KeyValuePair, TaskDefinition};

    use super::*;

    const RUNNING: &str = "repo@sha256:aaaa";

    /// A deploy planned before its image was built: the service runs `RUNNING` with
    /// GREETING=hi.
    fn before_the_build() -> Prepared {
        let current = CurrentRevision {
            task_definition: TaskDefinition::builder()
                .task_definition_arn("arn:aws:ecs:us-east-1:0:task-definition/hello-ecs:1")
                .family("hello-ecs")
                .container_definitions(
                    ContainerDefinition::builder()
                        .name("hello-ecs")
                        .image(RUNNING)
                        .environment(KeyValuePair::builder().name("GREETING").value("hi").build())
                        .build(),
                )
                .build(),
            tags: Vec::new(),
        };
        let service = Service::builder().service_name("hello-ecs").build();
        Prepared::plan(service, current, &request("not built yet", &[])).unwrap()
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
        let planned = before_the_build()
            .replan(&request(RUNNING, &[("GREETING", "hi")]))
            .unwrap();
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
        let planned = before_the_build()
            .replan(&request("repo@sha256:bbbb", &[]))
            .unwrap();
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
        let planned = before_the_build().replan(&forced).unwrap();
        assert!(planned.revision.changes.is_empty());
        assert!(planned.registers && planned.updates);

        let mut scaled = request(RUNNING, &[]);
        scaled.update.desired_count = Some(3);
        let planned = before_the_build().replan(&scaled).unwrap();
        assert!(!planned.registers && planned.updates);
    }

    #[test]
    fn an_unknown_container_is_still_refused() {
        let changes = ContainerChanges::default().image("hello-server", RUNNING);
        let request = DeployRequest::new(ServiceRef::new("dev-cluster", "hello-ecs"), changes);
        let err = before_the_build().replan(&request).unwrap_err();
        assert!(
            matches!(&err, Error::ContainerNotFound { container, .. } if container == "hello-server"),
            "{err}"
        );
    }
}
