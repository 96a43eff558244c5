//! The flags of `cargo xtask deploy` (with `TargetArgs`, where to deploy).

use clap::{Args, ValueEnum};

use crate::config::TargetArgs;
pub use crate::out::Output;

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
    /// Deploy CodePipeline's imagedefinitions.json (a JSON array of {"name", "imageUri"}, at
    /// most 100 KB) as its ECS deploy action does: each named container's image swapped in a
    /// clone of the current task definition; skips build, image and push.
    #[arg(long, value_name = "FILE", conflicts_with = "image")]
    pub image_definitions: Option<std::path::PathBuf>,
    /// Set a container variable in the new revision (repeatable), e.g. --env GREETING=hi.
    #[arg(long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// Start the update and exit without waiting for the rollout (and without verifying).
    #[arg(long, env = "DEPLOY_NO_WAIT")]
    pub no_wait: bool,
    /// Don't verify through the load balancer.
    #[arg(long, env = "DEPLOY_NO_VERIFY")]
    pub no_verify: bool,
    /// Give up on the rollout (and on a rollback after it) after this many seconds (1 to
    /// 86400).
    #[arg(
        long,
        env = "DEPLOY_TIMEOUT",
        default_value_t = 900,
        value_name = "SECS",
        value_parser = clap::value_parser!(u64).range(1..=86_400)
    )]
    pub timeout: u64,
    /// New desired count for the service (0 or more).
    #[arg(long, env = "DEPLOY_DESIRED_COUNT", value_parser = clap::value_parser!(i32).range(0..))]
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
    /// Verify at this base URL instead of the one discovered from the load balancer: http://
    /// or https://, a host, optionally a port and a base path; no query or credentials.
    #[arg(long, env = "DEPLOY_URL", value_parser = base_url)]
    pub url: Option<String>,
    /// Path polled during verification: starts with '/', may carry a query.
    #[arg(long, default_value = "/hello/verify", value_parser = verify_path)]
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
    /// Give up verifying after this many seconds (1 to 3600).
    #[arg(
        long,
        default_value_t = 120,
        value_name = "SECS",
        value_parser = clap::value_parser!(u64).range(1..=3_600)
    )]
    pub verify_timeout: u64,
    /// Register a new revision and start a new deployment even when nothing changed.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub strategy: super::strategy_args::StrategyArgs,
    /// Also write the deploy's report as one self-contained HTML page (stages, traffic, tasks,
    /// target health, events, outcome and budget on one time axis), whatever the outcome.
    #[arg(long, value_name = "FILE.html", value_parser = report_path)]
    pub report: Option<std::path::PathBuf>,
}

/// Where the HTML report goes (checked before anything changes): a file in a directory that
/// exists, not a directory itself.
pub fn report_path(text: &str) -> Result<std::path::PathBuf, String> {
    let path = std::path::PathBuf::from(text);
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    if text.is_empty() {
        Err("the report path is empty".to_owned())
    } else if path.is_dir() {
        Err(format!(
            "{text:?} is a directory: name the HTML file to write"
        ))
    } else if !dir.is_dir() {
        Err(format!(
            "cannot write the report to {text:?}: its directory {:?} does not exist",
            dir.display()
        ))
    } else {
        Ok(path)
    }
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

/// A base URL to verify at (checked with the other flags, before anything changes): http or
/// https with a host; a port and a base path may follow. No query or fragment (the verify
/// path is appended) and no user:password (URLs are printed in reports).
pub fn base_url(text: &str) -> Result<String, String> {
    let url = url::Url::parse(text).map_err(|e| {
        format!("{text:?} is not a URL ({e}): expected e.g. http://my-alb-123.us-east-1.elb.amazonaws.com")
    })?;
    let problem = if !matches!(url.scheme(), "http" | "https") {
        Some(format!(
            "the scheme is {:?}: only http:// and https:// can be verified",
            url.scheme()
        ))
    } else if url.host_str().is_none_or(str::is_empty) {
        Some("it names no host".to_owned())
    } else if url.query().is_some() || url.fragment().is_some() {
        Some(
            "it has a query or fragment: give the base URL, and the path with --verify-path"
                .to_owned(),
        )
    } else if !url.username().is_empty() || url.password().is_some() {
        Some("it carries credentials, which would be printed in the report".to_owned())
    } else {
        None
    };
    match problem {
        Some(problem) => Err(format!("{text:?} cannot be verified: {problem}")),
        None => Ok(text.trim_end_matches('/').to_owned()),
    }
}

/// A path to verify (checked before anything changes): starts with '/', visible ASCII only,
/// no fragment.
pub fn verify_path(text: &str) -> Result<String, String> {
    let problem = if !text.starts_with('/') {
        Some("it must start with '/' (e.g. /hello/verify)")
    } else if text.starts_with("//") {
        Some("it must not start with '//' (that names a host, not a path)")
    } else if !text.bytes().all(|b| b.is_ascii_graphic()) {
        Some("it may hold only visible ASCII characters: percent-encode spaces and others")
    } else if text.contains('#') {
        Some("a fragment ('#...') is never sent to the server")
    } else {
        None
    };
    match problem {
        Some(problem) => Err(format!("{text:?} is not a path to verify: {problem}")),
        None => Ok(text.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::{base_url, host_name, report_path, verify_path};

    #[test]
    fn a_report_goes_to_a_file_in_a_directory_that_exists() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("deploy.html");
        assert_eq!(report_path(file.to_str().unwrap()), Ok(file.clone()));
        assert!(report_path("deploy.html").is_ok(), "the working directory");
        let missing = dir.path().join("no-such-dir/deploy.html");
        let err = report_path(missing.to_str().unwrap()).unwrap_err();
        assert!(
            err.contains("no-such-dir") && err.contains("does not exist"),
            "{err}"
        );
        let err = report_path(dir.path().to_str().unwrap()).unwrap_err();
        assert!(err.contains("is a directory"), "{err}");
    }

    #[test]
    fn verify_urls_are_http_base_urls() {
        for (good, kept) in [
            ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
            ("https://hello.example.com/", "https://hello.example.com"),
            ("http://[::1]:80/base", "http://[::1]:80/base"),
        ] {
            assert_eq!(base_url(good).as_deref(), Ok(kept), "{good}");
        }
        for (bad, says) in [
            ("ftp://x", "only http:// and https://"),
            ("noscheme.example.com", "is not a URL"),
            ("http://", "is not a URL"),
            ("http://h/?q=1", "query or fragment"),
            ("http://h/#top", "query or fragment"),
            ("http://user:pw@h", "credentials"),
        ] {
            let err = base_url(bad).unwrap_err();
            assert!(err.contains(says), "{bad}: {err}");
        }
    }

    #[test]
    fn verify_paths_start_with_a_slash() {
        for good in ["/", "/hello/verify", "/hello/x?probe=1", "/a%20b"] {
            assert_eq!(verify_path(good).as_deref(), Ok(good));
        }
        for (bad, says) in [
            ("noslash", "start with '/'"),
            ("//evil.example.com/", "'//'"),
            ("/a b", "visible ASCII"),
            ("/caf\u{e9}", "visible ASCII"),
            ("/a#b", "fragment"),
            ("", "start with '/'"),
        ] {
            let err = verify_path(bad).unwrap_err();
            assert!(err.contains(says), "{bad:?}: {err}");
        }
    }

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
