//! `--builder docker`: stages 1 and 3 with a Docker engine — `docker build` with the
//! repository's Dockerfile, `docker login` with the ECR token on stdin, `docker push`.

use std::io::Write;
use std::process::{Command, Stdio};

use anyhow::{Context, Result};

use super::context::{Deploy, ImageToDeploy};
use super::report::ImageReport;
use crate::binary;
use crate::failure::Failure;
use crate::util::{output, project_root, run};

/// `--builder docker` needs an engine: say so before anything else happens.
pub fn require_docker() -> Result<()> {
    let info = Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .output();
    if info.as_ref().is_ok_and(|o| o.status.success()) {
        return Ok(());
    }
    Err(Failure::usage(
        "--builder docker needs a Docker engine, and none answers (`docker info` failed): start one, or use the default builder (no Docker needed)",
    )
    .into())
}

impl Deploy<'_> {
    /// Build and push with Docker; returns the pushed image by digest, with its build id.
    pub async fn docker_build_push(&mut self) -> Result<ImageToDeploy> {
        let build_id = binary::build_id();
        self.report.build_id = Some(build_id.clone());
        let (auth, repository) = self.ecr_repository().await?;
        let tagged = format!("{repository}:{build_id}");
        let clock = self.stage("build", &format!("docker build -t {tagged}"));
        run(Command::new("docker")
            .current_dir(project_root())
            .args(["build", "-t", &tagged, "--build-arg"])
            .arg(format!("HELLO_BUILD_ID={build_id}"))
            .arg("."))?;
        self.stage_done(clock, &tagged);
        if self.args.dry_run {
            return Ok(ImageToDeploy {
                uri: tagged,
                version: Some(build_id),
            });
        }
        let clock = self.stage("push", &format!("docker push {tagged}"));
        docker_login(&auth)?;
        run(Command::new("docker").args(["push", &tagged]))?;
        let digest = output(Command::new("docker").args([
            "inspect",
            "--format",
            "{{index .RepoDigests 0}}",
            &tagged,
        ]))?;
        let pinned = digest.trim().to_owned();
        self.stage_done(clock, &pinned);
        self.report.image = Some(ImageReport {
            uri: pinned.clone(),
            ..ImageReport::default()
        });
        Ok(ImageToDeploy {
            uri: pinned,
            version: Some(build_id),
        })
    }
}

/// `docker login` with the password on stdin, never on the command line.
fn docker_login(auth: &deploy_sdk::ecr::RegistryAuth) -> Result<()> {
    let mut login = Command::new("docker")
        .args([
            "login",
            "--username",
            &auth.login.username,
            "--password-stdin",
            &auth.registry,
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .context("docker login")?;
    if let Some(mut stdin) = login.stdin.take() {
        stdin.write_all(auth.login.password.expose().as_bytes())?;
    }
    if !login.wait()?.success() {
        return Err(Failure::deploy(format!("docker login to {} failed", auth.registry)).into());
    }
    Ok(())
}
