//! How a container runs: its command line after Docker's override rules, mapped into the
//! unpacked root filesystem; its environment (image, definition, secrets, `PORT`); its
//! working directory, stop timeout and health check.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::health::ContainerHealthCheck;
use crate::image::ImageConfig;
use crate::protocol::json::Input;
use crate::taskdef;

/// The `PATH` Docker gives a container whose image sets none.
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// ECS's default `stopTimeout`.
const DEFAULT_STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// How to run one container.
pub struct ContainerSpec {
    pub program: PathBuf,
    pub argv: Vec<String>,
    pub cwd: PathBuf,
    pub env: BTreeMap<String, String>,
    pub stop_timeout: Duration,
    pub health_check: Option<ContainerHealthCheck>,
}

/// Maps a program name into the root filesystem: absolute paths under `rootfs`, relative
/// ones under the working directory, bare names through `PATH` (inside `rootfs`).
fn resolve_program(
    argv0: &str,
    rootfs: &Path,
    cwd: &Path,
    path_env: &str,
) -> Result<PathBuf, String> {
    let is_file = |p: &Path| p.metadata().is_ok_and(|m| m.is_file());
    if let Some(absolute) = argv0.strip_prefix('/') {
        let mapped = rootfs.join(absolute);
        return if is_file(&mapped) {
            Ok(mapped)
        } else {
            Err(format!(
                "exec: \"{argv0}\": stat {argv0}: no such file or directory"
            ))
        };
    }
    if argv0.contains('/') {
        let mapped = cwd.join(argv0);
        return if is_file(&mapped) {
            Ok(mapped)
        } else {
            Err(format!(
                "exec: \"{argv0}\": stat {argv0}: no such file or directory"
            ))
        };
    }
    path_env
        .split(':')
        .filter(|dir| dir.starts_with('/'))
        .map(|dir| rootfs.join(dir.trim_start_matches('/')).join(argv0))
        .find(|candidate| is_file(candidate))
        .ok_or_else(|| format!("exec: \"{argv0}\": executable file not found in $PATH"))
}

fn seconds(def: &Value, key: &str) -> Option<Duration> {
    def.opt_i64(key)
        .ok()
        .flatten()
        .filter(|s| *s >= 0)
        .map(|s| Duration::from_secs(s as u64))
}

/// How to run the container `def` from an image with `config` unpacked at `rootfs`, told to
/// listen on `host_port`.
pub fn container_spec(
    def: &Value,
    config: &ImageConfig,
    rootfs: &Path,
    host_port: Option<u16>,
) -> Result<ContainerSpec, String> {
    let argv = command_line(def, config)?;
    let env = environment(def, config, host_port)?;
    let workdir = def
        .opt_str("workingDirectory")
        .ok()
        .flatten()
        .map(str::to_owned)
        .or_else(|| config.working_dir.clone());
    let cwd = match workdir {
        Some(dir) => rootfs.join(dir.trim_start_matches('/')),
        None => rootfs.to_path_buf(),
    };
    std::fs::create_dir_all(&cwd)
        .map_err(|e| start_error(format!("cannot create the working directory: {e}")))?;
    let path_env = env.get("PATH").cloned().unwrap_or_default();
    let program = resolve_program(&argv[0], rootfs, &cwd, &path_env).map_err(start_error)?;
    let health_check = health_check(def, |program| {
        resolve_program(program, rootfs, &cwd, &path_env)
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_else(|_| program.to_owned())
    });
    Ok(ContainerSpec {
        program,
        argv,
        cwd,
        env,
        stop_timeout: seconds(def, "stopTimeout").unwrap_or(DEFAULT_STOP_TIMEOUT),
        health_check,
    })
}

fn start_error(why: String) -> String {
    format!("CannotStartContainerError: {why}")
}

/// Entrypoint + command, by Docker's rule: overriding the entrypoint drops the image's Cmd.
fn command_line(def: &Value, config: &ImageConfig) -> Result<Vec<String>, String> {
    let list = |key: &str| -> Vec<String> {
        def.str_list(key)
            .unwrap_or_default()
            .into_iter()
            .map(str::to_owned)
            .collect()
    };
    let entry_override = def.get("entryPoint").filter(|v| !v.is_null());
    let entrypoint = match entry_override {
        Some(_) => list("entryPoint"),
        None => config.entrypoint.clone(),
    };
    let cmd = match def.get("command").filter(|v| !v.is_null()) {
        Some(_) => list("command"),
        None if entry_override.is_some() => Vec::new(),
        None => config.cmd.clone(),
    };
    let argv: Vec<String> = entrypoint.into_iter().chain(cmd).collect();
    if argv.is_empty() {
        return Err(start_error("no command specified: the image has no Entrypoint or Cmd and the container definition sets neither entryPoint nor command".into()));
    }
    Ok(argv)
}

/// The image's environment, then the definition's, its secrets, `PORT` and a default `PATH`.
fn environment(
    def: &Value,
    config: &ImageConfig,
    host_port: Option<u16>,
) -> Result<BTreeMap<String, String>, String> {
    let mut env: BTreeMap<String, String> = BTreeMap::new();
    for pair in &config.env {
        if let Some((k, v)) = pair.split_once('=') {
            env.insert(k.to_owned(), v.to_owned());
        }
    }
    for var in def.list("environment").unwrap_or(&[]) {
        if let (Ok(Some(name)), value) = (var.opt_str("name"), var.opt_str("value")) {
            env.insert(
                name.to_owned(),
                value.ok().flatten().unwrap_or("").to_owned(),
            );
        }
    }
    if !def.list("environmentFiles").unwrap_or(&[]).is_empty() {
        return Err("ResourceInitializationError: local-ecs cannot fetch environmentFiles from S3; use environment instead".into());
    }
    // Secrets come from local-ecs's own environment, by the secret's name.
    for secret in def.list("secrets").unwrap_or(&[]) {
        let name = secret.opt_str("name").ok().flatten().unwrap_or("");
        match std::env::var(name) {
            Ok(value) => {
                env.insert(name.to_owned(), value);
            }
            Err(_) => {
                let from = secret.opt_str("valueFrom").ok().flatten().unwrap_or("");
                return Err(format!(
                    "ResourceInitializationError: unable to pull secrets or registry auth: local-ecs \
                     cannot read {from}; set {name} in local-ecs's own environment to provide it"
                ));
            }
        }
    }
    // The host port mapping: the app must listen on PORT. It replaces the image's PORT, but a
    // PORT the container definition sets itself is kept: on ECS such a PORT makes the app
    // listen where the port mapping doesn't lead (or not start at all), and so it does here.
    let definition_sets_port = def
        .list("environment")
        .unwrap_or(&[])
        .iter()
        .any(|var| matches!(var.opt_str("name"), Ok(Some("PORT"))));
    if let Some(port) = host_port.filter(|_| !definition_sets_port) {
        env.insert("PORT".into(), port.to_string());
    }
    env.entry("PATH".into())
        .or_insert_with(|| DEFAULT_PATH.to_owned());
    Ok(env)
}

/// The container's `healthCheck` (`CMD` programs mapped into the root filesystem by
/// `resolve`; `CMD-SHELL` through the host's `/bin/sh`), with ECS's defaults.
fn health_check(def: &Value, resolve: impl Fn(&str) -> String) -> Option<ContainerHealthCheck> {
    let command = taskdef::health_check_command(def)?;
    let hc = def.get("healthCheck")?;
    let argv = if command[0] == "CMD-SHELL" {
        vec![
            "/bin/sh".to_owned(),
            "-c".to_owned(),
            command[1..].join(" "),
        ]
    } else {
        let mut argv: Vec<String> = command[1..].to_vec();
        if let Some(first) = argv.first_mut() {
            *first = resolve(first);
        }
        argv
    };
    Some(ContainerHealthCheck {
        argv,
        interval: seconds(hc, "interval").unwrap_or(Duration::from_secs(30)),
        timeout: seconds(hc, "timeout").unwrap_or(Duration::from_secs(5)),
        retries: hc
            .opt_i64("retries")
            .ok()
            .flatten()
            .map_or(3, |r| r.clamp(1, 10) as u32),
        start_period: seconds(hc, "startPeriod").unwrap_or(Duration::ZERO),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_lines_follow_docker_override_rules() {
        let dir = tempfile::tempdir().unwrap();
        let rootfs = dir.path();
        std::fs::create_dir_all(rootfs.join("usr/local/bin")).unwrap();
        std::fs::write(rootfs.join("usr/local/bin/app"), b"").unwrap();
        std::fs::write(rootfs.join("usr/local/bin/other"), b"").unwrap();
        let config = ImageConfig {
            entrypoint: vec!["/usr/local/bin/app".into()],
            cmd: vec!["serve".into()],
            env: vec!["PORT=8080".into(), "A=1".into()],
            working_dir: None,
        };
        let plain = container_spec(
            &serde_json::json!({"name": "c"}),
            &config,
            rootfs,
            Some(4000),
        )
        .unwrap();
        assert_eq!(plain.argv, ["/usr/local/bin/app", "serve"]);
        assert_eq!(plain.program, rootfs.join("usr/local/bin/app"));
        assert_eq!(
            plain.env["PORT"], "4000",
            "local-ecs's PORT wins over the image's"
        );
        let own_port = container_spec(
            &serde_json::json!({"name": "c", "environment": [{"name": "PORT", "value": "not-a-port"}]}),
            &config,
            rootfs,
            Some(4000),
        )
        .unwrap();
        assert_eq!(
            own_port.env["PORT"], "not-a-port",
            "the container definition's PORT is kept"
        );
        assert_eq!(plain.env["A"], "1");
        let overridden = container_spec(
            &serde_json::json!({"entryPoint": ["other"], "environment": [{"name": "A", "value": "2"}]}),
            &config,
            rootfs,
            None,
        )
        .unwrap();
        assert_eq!(
            overridden.argv,
            ["other"],
            "a new entrypoint drops the image's Cmd"
        );
        assert_eq!(overridden.program, rootfs.join("usr/local/bin/other"));
        assert_eq!(overridden.env["A"], "2");
        let missing = container_spec(
            &serde_json::json!({"command": ["/nope"]}),
            &ImageConfig::default(),
            rootfs,
            None,
        );
        assert!(
            missing
                .err()
                .unwrap()
                .starts_with("CannotStartContainerError: exec: \"/nope\"")
        );
    }
}
