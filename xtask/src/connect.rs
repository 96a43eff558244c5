//! The AWS clients a task talks through: local-ecs's endpoint with `--local` (started when it
//! is not running), else the standard AWS setup (profile, region, endpoint overrides).
//! local-ecs verifies signatures against the key it generated for its state directory
//! (`<state-dir>/credentials.json`): local clients sign with it, and `cargo xtask local env`
//! hands it to the AWS CLI and SDKs.

use std::path::Path;

use anyhow::{Context, Result};
use deploy_sdk::{AwsOptions, Clients, StaticCredentials};
use serde::Deserialize;

use crate::config::Settings;
use crate::local_ecs::{self, LocalEcs};
use crate::local_serving;
use crate::out::{errln, outln};

/// The file local-ecs keeps its generated key in, in its state directory.
const CREDENTIALS_FILE: &str = "credentials.json";

/// The region of local clients when the settings name none.
const LOCAL_REGION: &str = "us-east-1";

/// Clients for the settings: local-ecs (started if needed) with `--local`, else AWS.
pub async fn connect(settings: &Settings, say: &dyn Fn(&str)) -> Result<Clients> {
    match &settings.local {
        Some(state_dir) => {
            let local = local_ecs::ensure_running(state_dir, say)?;
            let clients = local_clients(state_dir, &local, settings).await?;
            if local.started {
                local_serving::wait_for_services(&clients, say).await;
            }
            Ok(clients)
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

/// Clients for the local-ecs serving `state_dir`, signing with the key it generated there.
pub async fn local_clients(
    state_dir: &Path,
    local: &LocalEcs,
    settings: &Settings,
) -> Result<Clients> {
    Ok(Clients::load(&local_options(state_dir, local, settings)?).await)
}

fn local_options(state_dir: &Path, local: &LocalEcs, settings: &Settings) -> Result<AwsOptions> {
    Ok(AwsOptions {
        region: Some(local_region(settings)),
        profile: None,
        endpoint_url: Some(local.endpoint.clone()),
        static_credentials: Some(local_credentials(state_dir)?),
        ..AwsOptions::default()
    })
}

fn local_region(settings: &Settings) -> String {
    settings
        .region
        .clone()
        .unwrap_or_else(|| LOCAL_REGION.to_owned())
}

/// The key local-ecs generated for `state_dir` (it writes it on its first start).
pub fn local_credentials(state_dir: &Path) -> Result<StaticCredentials> {
    #[derive(Deserialize)]
    struct File {
        access_key_id: String,
        secret_access_key: String,
    }
    let path = state_dir.join(CREDENTIALS_FILE);
    let bytes = std::fs::read(&path).with_context(|| {
        format!(
            "cannot read local-ecs's key {} (local-ecs writes it when it starts)",
            path.display()
        )
    })?;
    // A parse error could quote the secret: only the file is named.
    let file: File = serde_json::from_slice(&bytes).map_err(|_| {
        anyhow::anyhow!(
            "{} is not a local-ecs credentials file (stop local-ecs and delete it: a new key is \
             generated at the next start)",
            path.display()
        )
    })?;
    Ok(StaticCredentials::new(
        file.access_key_id,
        file.secret_access_key,
    ))
}

/// The `export NAME=VALUE` lines that point the AWS CLI and SDKs at a local-ecs.
pub fn env_exports(endpoint: &str, region: &str, credentials: &StaticCredentials) -> String {
    [
        ("AWS_ENDPOINT_URL", endpoint),
        ("AWS_REGION", region),
        ("AWS_DEFAULT_REGION", region),
        ("AWS_ACCESS_KEY_ID", credentials.access_key_id.as_str()),
        (
            "AWS_SECRET_ACCESS_KEY",
            credentials.secret_access_key.expose(),
        ),
    ]
    .iter()
    .map(|(name, value)| format!("export {name}={}\n", shell_quote(value)))
    .collect()
}

/// `value` as one shell word: as is when it is made of safe characters, else single-quoted.
fn shell_quote(value: &str) -> String {
    let safe = !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+/:._-=,@".contains(&b));
    if safe {
        value.to_owned()
    } else {
        format!("'{}'", value.replace('\'', r"'\''"))
    }
}

/// `cargo xtask local env`: starts local-ecs for `state_dir` if needed (progress on stderr)
/// and prints the exports on stdout, for `eval`.
pub fn print_env(state_dir: &Path, settings: &Settings) -> Result<()> {
    let local = local_ecs::ensure_running(state_dir, &|line| errln!("{line}"))?;
    let credentials = local_credentials(state_dir)?;
    let exports = env_exports(&local.endpoint, &local_region(settings), &credentials);
    outln!("{}", exports.trim_end());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exports_are_one_shell_word_each() {
        let credentials = StaticCredentials::new("AKIAABCDEFGHIJKLMNOP", "abc+/XYZ0123");
        let text = env_exports("http://127.0.0.1:4580", "eu-west-1", &credentials);
        assert_eq!(
            text,
            "export AWS_ENDPOINT_URL=http://127.0.0.1:4580\n\
             export AWS_REGION=eu-west-1\n\
             export AWS_DEFAULT_REGION=eu-west-1\n\
             export AWS_ACCESS_KEY_ID=AKIAABCDEFGHIJKLMNOP\n\
             export AWS_SECRET_ACCESS_KEY=abc+/XYZ0123\n"
        );
        assert_eq!(shell_quote("a b'c"), r"'a b'\''c'");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("$(rm -rf ~)"), "'$(rm -rf ~)'");
    }

    #[test]
    fn the_key_is_read_from_the_state_dir_and_a_bad_file_is_named_not_quoted() {
        let dir = tempfile_dir();
        let path = dir.join(CREDENTIALS_FILE);
        let err = local_credentials(&dir).unwrap_err();
        assert!(format!("{err:#}").contains("credentials.json"), "{err:#}");
        std::fs::write(
            &path,
            br#"{"access_key_id":"AKIAX","secret_access_key":"s3cret"}"#,
        )
        .unwrap();
        let credentials = local_credentials(&dir).unwrap();
        assert_eq!(credentials.access_key_id, "AKIAX");
        assert_eq!(credentials.secret_access_key.expose(), "s3cret");
        std::fs::write(&path, br#"{"access_key_id":"AKIAX","secret_access_key":7}"#).unwrap();
        let err = format!("{:#}", local_credentials(&dir).unwrap_err());
        assert!(err.contains("not a local-ecs credentials file"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A fresh directory under the system's temporary directory.
    fn tempfile_dir() -> std::path::PathBuf {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir =
            std::env::temp_dir().join(format!("xtask-connect-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
