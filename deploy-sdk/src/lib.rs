//! # deploy-sdk: rolling updates on Amazon ECS that never call a rollback a success
//!
//! Ship a service to ECS from Rust: register a new task-definition revision with new images,
//! update the service, watch the rollout as a stream of typed events, judge the outcome the
//! way ECS means it, roll back, and prove through the load balancer that the new build
//! answers.
//!
//! What it gets right that waiters and most deploy tools get wrong (the ECS behaviour it
//! judges by is written down in the repository's `docs/ecs-behaviour.md`):
//! - It tracks the deployment **its own** `UpdateService` created and judges that one: from
//!   the ServiceDeployment API where the endpoint has it (done means `SUCCESSFUL` with our
//!   revision), else from the deployments table (done means `COMPLETED` and still `PRIMARY`),
//!   and says which ([`rollout::JudgedBy`]). A service that is "stable" because the circuit
//!   breaker or a deployment alarm rolled back is reported as
//!   [`rollout::Outcome::RolledBack`], one another client's `UpdateService` took over as
//!   [`rollout::Outcome::Superseded`], never as success.
//! - It reads target health per deployment and stopped-task reasons while it watches, and
//!   verifies the answers the load balancer actually gives.
//! - It polls about every second right after the update and around the expected end, paces
//!   itself while things move, and backs off to 5 s when they don't, within a budget of
//!   `DescribeServices` attempts (retries included) per minute.
//!
//! ## A whole deploy
//!
//! ```no_run
//! use deploy_sdk::deploy::{DeployRequest, Deployer};
//! use deploy_sdk::rollout::{Outcome, RolloutEvent, WatchOptions};
//! use deploy_sdk::service::ServiceRef;
//! use deploy_sdk::taskdef::ContainerChanges;
//! use deploy_sdk::verify::{Expectation, ServiceFleet, VerifyOptions, discover_endpoint, verify};
//! use deploy_sdk::{AwsOptions, Clients};
//! use futures::StreamExt;
//!
//! # async fn deploy() -> deploy_sdk::Result<()> {
//! // Profiles, SSO, env credentials, AWS_REGION and AWS_ENDPOINT_URL* all apply.
//! let clients = Clients::load(&AwsOptions::default()).await;
//! let deployer = Deployer::new(clients);
//!
//! let image = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/hello-ecr-repo@sha256:…";
//! let request = DeployRequest::new(
//!     ServiceRef::new("dev-cluster", "hello-ecs"),
//!     ContainerChanges::default().image("hello-ecs", image),
//! );
//!
//! // Describe and plan: fails early on an unknown cluster, service or container.
//! let prepared = deployer.prepare(&request).await?;
//! println!("{}", deployer.summary(&prepared, &request));
//!
//! // Register the revision and update the service; remember which deployment is ours.
//! let started = deployer.start(&prepared, &request).await?;
//!
//! // Watch until the outcome.
//! let mut events = std::pin::pin!(deployer.watch(started.clone(), WatchOptions::default()));
//! let mut outcome = None;
//! while let Some(event) = events.next().await {
//!     match event? {
//!         RolloutEvent::Outcome(o) => outcome = Some(o),
//!         RolloutEvent::ServiceEvent { message, .. } => println!("{message}"),
//!         other => println!("{other:?}"),
//!     }
//! }
//! match outcome {
//!     Some(Outcome::Completed { .. }) => {}
//!     Some(failed) => {
//!         // Put the last completed task definition back — unless ECS already rolled back,
//!         // or another client's deploy replaced ours (undoing theirs is not ours to do).
//!         if !matches!(failed, Outcome::RolledBack { .. } | Outcome::Superseded { .. }) {
//!             let rollback = deployer.rollback(&started).await?;
//!             let mut rb = std::pin::pin!(deployer.watch(rollback, WatchOptions::default()));
//!             while let Some(event) = rb.next().await {
//!                 event?;
//!             }
//!         }
//!         return failed.into_result();
//!     }
//!     None => unreachable!("a watch always ends with an outcome or an error"),
//! }
//!
//! // Prove it through the load balancer: enough new answers in a row for the targets in
//! // service, and target health showing no target of another deployment still in service.
//! let endpoint = discover_endpoint(deployer.clients(), &request.service).await?;
//! let expect = Expectation::header("x-app-version", "abc1234");
//! let options = VerifyOptions { host: endpoint.host.clone(), ..VerifyOptions::default() };
//! let mut fleet =
//!     ServiceFleet::new(deployer.clients(), &request.service, &started.deployment_id).await?;
//! let url = format!("{}/hello/verify", endpoint.url);
//! let report = verify(&url, &expect, &options, &mut fleet, |_, _| {}).await?;
//! println!("{}", report.into_result()?);
//! # Ok(())
//! # }
//! ```
//!
//! ## Pieces
//! - [`taskdef`]: the new revision (copies every registrable field, swaps images, sets env,
//!   skips registering when nothing changes).
//! - [`controller`]: refuses CodeDeploy and EXTERNAL services before anything is registered.
//! - [`service`]: `DescribeServices`, the deployment table, `UpdateService`.
//! - [`service_deployment`]: the ServiceDeployment API (describe, revisions, the last
//!   successful one, `StopServiceDeployment`).
//! - [`rollout`]: the watch stream, the outcome judge, the poll planner.
//! - [`tasks`]: a service's tasks, which deployment each belongs to, stopped-task reasons.
//! - [`targets`]: target health per deployment.
//! - [`verify`]: proof through the load balancer (fresh connections, a streak scaled to the
//!   targets in service, target health), and finding its URL and host name.
//! - [`ecr`], [`image`], [`registry`]: ECR login and repositories, OCI images without Docker,
//!   pushing them.
//! - [`imagedefs`]: CodePipeline's `imagedefinitions.json`.
//!
//! Errors are one enum, [`Error`], with messages that say what to do. Credentials never reach
//! an error, a log or a `Debug` print: ECR passwords are [`Secret`]s.

#![warn(missing_docs)]

mod arn;
mod aws;
pub mod controller;
pub mod deploy;
mod digest;
pub mod ecr;
mod error;
pub mod image;
pub mod imagedefs;
pub mod registry;
mod retryable;
pub mod rollout;
mod secret;
pub mod service;
pub mod service_deployment;
pub mod strategy;
pub mod targets;
pub mod taskdef;
pub mod tasks;
pub mod time_budget;
pub mod traffic;
pub mod verify;

pub use aws::{AwsOptions, AwsTimeouts, Clients, MAX_ATTEMPTS, StaticCredentials, load_sdk_config};
pub use error::{Error, Result};
pub use secret::Secret;
