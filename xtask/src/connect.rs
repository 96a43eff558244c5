//! The AWS clients a task talks through: local-ecs's endpoint with `--local` (started when it
//! is not running), else the standard AWS setup (profile, region, endpoint overrides).

use anyhow::Result;
use deploy_sdk::{AwsOptions, Clients};

use crate::config::Settings;
use crate::local_ecs::{self, LocalEcs};

/// Clients for the settings: local-ecs (started if needed) with `--local`, else AWS.
pub async fn connect(settings: &Settings, say: &dyn Fn(&str)) -> Result<Clients> {
    match &settings.local {
        Some(state_dir) => {
            let local = local_ecs::ensure_running(state_dir, say)?;
            Ok(local_clients(&local, settings).await)
        }
        None => Ok(Clients::load(&AwsOptions {
            region: settings.region.clone(),
            profile: settings.profile.clone(),
            endpoint_url: settings.endpoint_url.clone(),
            dummy_credentials: false,
            ..AwsOptions::default()
        })
        .await),
    }
}

/// Clients for a running local-ecs (dummy credentials: it checks no signatures).
pub async fn local_clients(local: &LocalEcs, settings: &Settings) -> Clients {
    Clients::load(&AwsOptions {
        region: settings.region.clone(),
        profile: None,
        endpoint_url: Some(local.endpoint.clone()),
        dummy_credentials: true,
        ..AwsOptions::default()
    })
    .await
}
