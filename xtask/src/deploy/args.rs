//! The flags of `cargo xtask deploy` (with `TargetArgs`, where to deploy).

use clap::{Args, ValueEnum};

use crate::config::TargetArgs;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// Progress and a summary for people.
    Text,
    /// A machine-readable report on stdout; progress goes to stderr.
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Builder {
    /// A static binary in an OCI image made without Docker (like `ko`).
    Native,
    /// `docker build` with the repository's Dockerfile and `docker push` (needs a Docker engine).
    Docker,
}

#[derive(Debug, Args)]
pub struct DeployArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Deploy this image instead of building one (skips build, image and push).
    #[arg(long, value_name = "URI")]
    pub image: Option<String>,
    /// Set a container variable in the new revision (repeatable), e.g. --env GREETING=hi.
    #[arg(long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// Start the update and exit without waiting for the rollout (and without verifying).
    #[arg(long, env = "DEPLOY_NO_WAIT")]
    pub no_wait: bool,
    /// Don't verify through the load balancer.
    #[arg(long, env = "DEPLOY_NO_VERIFY")]
    pub no_verify: bool,
    /// Give up on the rollout after this many seconds.
    #[arg(
        long,
        env = "DEPLOY_TIMEOUT",
        default_value_t = 900,
        value_name = "SECS"
    )]
    pub timeout: u64,
    /// New desired count for the service.
    #[arg(long, env = "DEPLOY_DESIRED_COUNT")]
    pub desired_count: Option<i32>,
    /// On failure, put the service back on the previous task definition and wait for it.
    #[arg(long, env = "DEPLOY_ROLLBACK_ON_FAILURE", default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub rollback_on_failure: bool,
    /// `text`, or `json` for a machine-readable report on stdout.
    #[arg(long, value_enum, default_value_t = Output::Text, env = "DEPLOY_OUTPUT")]
    pub output: Output,
    /// Print the task-definition diff and the UpdateService request; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// How the image is built.
    #[arg(long, value_enum, default_value_t = Builder::Native, env = "DEPLOY_BUILDER")]
    pub builder: Builder,
    /// Verify at this base URL instead of the one discovered from the load balancer.
    #[arg(long, env = "DEPLOY_URL")]
    pub url: Option<String>,
    /// Path polled during verification.
    #[arg(long, default_value = "/hello/verify")]
    pub verify_path: String,
    /// The fewest consecutive answers from the new build that prove the rollout; at least 3
    /// per target in service are required, and target health must show no target of another
    /// deployment in service.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    pub verify_count: u32,
    /// Host name to verify with (Host header and TLS SNI) while connecting to the URL's
    /// address; default: the name of the listener's host-header rule, if it has one.
    #[arg(long, value_name = "NAME", value_parser = host_name)]
    pub verify_host: Option<String>,
    /// Give up verifying after this many seconds.
    #[arg(long, default_value_t = 120, value_name = "SECS")]
    pub verify_timeout: u64,
    /// Register a new revision and start a new deployment even when nothing changed.
    #[arg(long)]
    pub force: bool,
}

/// A DNS name: letters, digits, '-' and '.', no scheme, port or path (checked with the other
/// flags, before anything changes).
fn host_name(text: &str) -> Result<String, String> {
    let valid = !text.is_empty()
        && text.len() <= 253
        && text.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    if valid {
        Ok(text.to_ascii_lowercase())
    } else {
        Err(format!(
            "{text:?} is not a host name (expected a DNS name such as hello.example.com, without scheme, port or path)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::host_name;

    #[test]
    fn verify_hosts_are_dns_names() {
        assert_eq!(host_name("Hello.Example.com").unwrap(), "hello.example.com");
        for bad in [
            "",
            "https://hello.example.com",
            "hello.example.com:443",
            "a..b",
            "a/b",
        ] {
            assert!(host_name(bad).is_err(), "{bad:?}");
        }
    }
}
