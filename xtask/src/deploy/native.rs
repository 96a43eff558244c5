//! Stages 1–3 without Docker: build the static binary, make the OCI image, push it to ECR.

use anyhow::Result;
use deploy_sdk::ecr;
use deploy_sdk::image::OciImage;
use deploy_sdk::registry::ImageRef;

use super::args::Output;
use super::context::{Deploy, ImageToDeploy};
use super::report::ImageReport;
use crate::binary::{self, Binary};
use crate::failure::Failure;
use crate::image::hello_image;

impl Deploy<'_> {
    /// Build, image, push; returns the image pinned by digest, with its build id.
    pub async fn build_image_push(&mut self) -> Result<ImageToDeploy> {
        let built = self.build()?;
        let oci = self.image(&built)?;
        let uri = self.push(&oci, &built.build_id).await?;
        Ok(ImageToDeploy {
            uri,
            version: Some(built.build_id),
        })
    }

    /// Stage 1: `cargo build -p hello-service`, static, with the deploy's profile (the fast
    /// one for `--local`, release for AWS; `DEPLOY_BUILD_PROFILE` overrides).
    fn build(&mut self) -> Result<Binary> {
        let overridden = std::env::var(binary::PROFILE_ENV).ok();
        let profile = binary::deploy_profile(self.settings.local.is_some(), overridden.as_deref())
            .map_err(|e| Failure::usage(e.to_string()))?;
        let clock = self.stage(
            "build",
            &format!("cargo build --profile {profile} -p hello-service (static)"),
        );
        let quiet = self.args.output == Output::Json;
        let built = tokio::task::block_in_place(|| binary::build_with_profile(&profile, quiet))?;
        self.stage_done(
            clock,
            &format!(
                "{} for {}, build {}, profile {}",
                built.path.display(),
                built.target,
                built.build_id,
                built.profile
            ),
        );
        self.report.build_id = Some(built.build_id.clone());
        self.report.build_profile = Some(built.profile.clone());
        Ok(built)
    }

    /// Stage 2: the OCI image of the binary.
    fn image(&mut self, built: &Binary) -> Result<OciImage> {
        let clock = self.stage("image", "OCI image without Docker");
        let oci = hello_image(built, self.settings.container_port)?;
        self.stage_done(clock, &format!("{} ({} bytes)", oci.digest(), oci.size()));
        Ok(oci)
    }

    /// Stage 3: the image to ECR, tagged with the build id and `latest` (nothing is pushed
    /// in a dry run); returns its URI pinned by digest.
    async fn push(&mut self, oci: &OciImage, build_id: &str) -> Result<String> {
        let clock = self.stage(
            "push",
            &format!("ECR repository {}", self.settings.repository),
        );
        let (auth, repository) = self.ecr_repository().await?;
        let repo = ImageRef::parse(&repository)?;
        let pinned = repo.pinned(oci.digest());
        let mut image_report = ImageReport {
            uri: pinned.clone(),
            digest: Some(oci.digest().to_owned()),
            size_bytes: Some(oci.size()),
            ..ImageReport::default()
        };
        if self.args.dry_run {
            self.stage_done(clock, &format!("not pushed (dry run); would be {pinned}"));
        } else {
            let tags = self.tags(oci, build_id).await?;
            let pushed = deploy_sdk::image::push(oci, &repo, &tags, Some(&auth.login)).await?;
            image_report.uploaded_blobs = pushed.uploaded_blobs;
            image_report.skipped_blobs = pushed.skipped_blobs;
            self.stage_done(
                clock,
                &format!(
                    "{pinned} tagged {} ({} blobs uploaded, {} already there)",
                    tags.join(", "),
                    pushed.uploaded_blobs,
                    pushed.skipped_blobs
                ),
            );
        }
        self.report.image = Some(image_report);
        Ok(pinned)
    }

    /// The build id and `latest`. With immutable tags (as infra/ sets them up), a build id
    /// already holding another image (say, CodeBuild's Docker build of the same commit)
    /// cannot be moved: then only `latest`, and the image goes by digest. The task
    /// definition pins the digest either way.
    async fn tags(&self, oci: &OciImage, build_id: &str) -> Result<Vec<String>> {
        let existing = ecr::image_digest(
            &self.clients.ecr,
            &self.settings.repository,
            &ecr::ImageSelector::Tag(build_id.to_owned()),
        )
        .await?;
        let mut tags = vec!["latest".to_owned()];
        match existing {
            Some(digest) if digest != oci.digest() => self.say(&format!(
                "push: tag {build_id} already holds {digest}; pushing by digest without moving it"
            )),
            _ => tags.insert(0, build_id.to_owned()),
        }
        Ok(tags)
    }
}
