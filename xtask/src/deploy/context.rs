//! What every stage of a deploy works with: the flags and settings, the AWS clients, the live
//! progress and the report being filled in; and the image the new revision runs.

use std::time::{Duration, Instant};

use deploy_sdk::Clients;
use deploy_sdk::deploy::{DeployRequest, Deployer};
use deploy_sdk::imagedefs::ImageDefinition;
use deploy_sdk::rollout::{CallBudget, WatchOptions};
use deploy_sdk::service::{ServiceRef, UpdateOptions};
use deploy_sdk::strategy::StrategyUpdate;
use deploy_sdk::taskdef::ContainerChanges;
use deploy_sdk::verify::Endpoint;

use super::args::DeployArgs;
use super::report::{Report, Stage};
use crate::config::Settings;
use crate::progress::Progress;

/// One deploy in progress.
pub struct Deploy<'a> {
    pub args: &'a DeployArgs,
    pub settings: &'a Settings,
    pub progress: &'a Progress,
    pub report: &'a mut Report,
    /// The `--env` assignments, in order.
    pub env: Vec<(String, String)>,
    pub clients: Clients,
    pub deployer: Deployer,
    /// The service deployed to.
    pub target: ServiceRef,
    /// The DescribeServices budget the rollout's watch and its rollback's share.
    pub budget: CallBudget,
    /// Where verification asks, when the preflight found it (an existing service).
    pub endpoint: Option<Endpoint>,
    /// `--image-definitions`: the images to swap in, per container (empty without the flag).
    pub image_definitions: Vec<ImageDefinition>,
    /// `--strategy`: what this deploy's UpdateService switches the service to.
    pub strategy_update: Option<StrategyUpdate>,
}

/// The image the new revision runs.
pub struct ImageToDeploy {
    /// Its URI, pinned by digest when we pushed it.
    pub uri: String,
    /// The build id its answers carry in `x-app-version`, when known.
    pub version: Option<String>,
}

impl<'a> Deploy<'a> {
    pub fn new(
        args: &'a DeployArgs,
        settings: &'a Settings,
        progress: &'a Progress,
        report: &'a mut Report,
        env: Vec<(String, String)>,
        clients: Clients,
    ) -> Deploy<'a> {
        Deploy {
            args,
            settings,
            progress,
            report,
            env,
            deployer: Deployer::new(clients.clone()),
            clients,
            target: settings.service_ref(),
            budget: CallBudget::new(),
            endpoint: None,
            image_definitions: Vec::new(),
            strategy_update: None,
        }
    }

    /// A progress line.
    pub fn say(&self, line: &str) {
        self.progress.line(line);
    }

    /// Starts a timed stage (shown live; its time goes in the report when it is done).
    pub fn stage(&self, name: &'static str, what: &str) -> StageClock {
        self.progress.stage(name, what);
        StageClock {
            name,
            started: Instant::now(),
            at: self.progress.elapsed(),
        }
    }

    /// Ends a stage with `detail`.
    pub fn stage_done(&mut self, clock: StageClock, detail: &str) {
        let took = clock.started.elapsed();
        self.progress.stage_done(clock.name, took, detail);
        self.report.stages.push(Stage {
            name: clock.name.into(),
            started_at_seconds: clock.at.as_secs_f64(),
            seconds: took.as_secs_f64(),
        });
    }

    /// The deploy-sdk request: `image` (or, with `--image-definitions`, the file's images)
    /// and the `--env` assignments for the container, with the update flags.
    pub fn request(&self, image: &str) -> DeployRequest {
        let container = &self.settings.container;
        let images = if self.image_definitions.is_empty() {
            ContainerChanges::default().image(container, image)
        } else {
            ContainerChanges::from_image_definitions(&self.image_definitions)
        };
        let changes = self.env.iter().fold(images, |changes, (key, value)| {
            changes.env(container, key, value)
        });
        DeployRequest {
            service: self.target.clone(),
            changes,
            update: UpdateOptions {
                desired_count: self.args.desired_count,
                force_new_deployment: self.args.force,
                strategy: self.strategy_update.clone(),
                ..UpdateOptions::default()
            },
            force_register: self.args.force,
        }
    }

    /// How long a rollout (and a rollback after it) may take.
    pub fn watch_options(&self) -> WatchOptions {
        WatchOptions {
            timeout: Duration::from_secs(self.args.timeout),
            budget: self.budget.clone(),
            minute: crate::local_ecs::minute(self.settings),
            ..WatchOptions::default()
        }
    }
}

/// A stage being timed.
pub struct StageClock {
    name: &'static str,
    started: Instant,
    /// Since the deploy began.
    at: Duration,
}
