//! The ECR side of the push, for either builder: login and the repository URI.

use anyhow::Result;
use deploy_sdk::ecr;

use super::context::Deploy;

impl Deploy<'_> {
    /// ECR login and the repository URI; created when missing, except in a dry run, which
    /// changes nothing and only names it.
    pub async fn ecr_repository(&self) -> Result<(ecr::RegistryAuth, String)> {
        let auth = ecr::registry_auth(&self.clients.ecr).await?;
        let repository = if self.args.dry_run {
            format!("{}/{}", auth.registry, self.settings.repository)
        } else {
            ecr::ensure_repository(&self.clients.ecr, &self.settings.repository)
                .await?
                .uri
        };
        Ok((auth, repository))
    }
}
