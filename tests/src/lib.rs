//! Shared helpers for the end-to-end tests in `tests/tests/`: run `cargo xtask` as a user
//! would, against a local-ecs whose state lives in a temporary directory, and talk HTTP to
//! the local load balancer.

pub mod chromium;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;
use std::time::Duration;

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("inside the workspace")
        .to_path_buf()
}

/// The local-ecs binary `cargo test --workspace` built (local-ecs's own tests need it), built
/// once per test process by `cargo build --workspace --tests` — the same units, so nothing is
/// compiled again — and passed to xtask as `LOCAL_ECS_BINARY`: xtask's own
/// `cargo build -p local-ecs` would resolve features anew and recompile dozens of crates.
pub fn local_ecs_binary() -> &'static Path {
    static BINARY: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BINARY.get_or_init(|| {
        let built = Command::new(env!("CARGO"))
            .current_dir(root())
            .args(["build", "--quiet", "--workspace", "--tests"])
            .status()
            .expect("run cargo build --workspace --tests");
        assert!(built.success(), "cargo build --workspace --tests failed");
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map_or_else(|| root().join("target"), |dir| root().join(dir));
        target.join("debug").join("local-ecs")
    })
}

/// `cargo run -p xtask -- ARGS` as a user runs it, in CI mode (plain progress), with the
/// workspace's local-ecs binary.
pub fn xtask_command(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO"));
    cmd.current_dir(root())
        .args(["run", "--quiet", "-p", "xtask", "--"])
        .args(args)
        .env("LOCAL_ECS_BINARY", local_ecs_binary())
        .env("CI", "true");
    cmd
}

/// The result of one `cargo xtask` run.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// The `--output json` report.
    pub fn report(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not a JSON report ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }
}

impl From<Output> for Run {
    fn from(out: Output) -> Run {
        Run {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

/// A local stack: a state directory for local-ecs, used by one test at a time.
pub struct LocalStack {
    pub state_dir: PathBuf,
    _dir: tempfile::TempDir,
}

impl LocalStack {
    /// A stack of its own with nothing deployed (local-ecs starts at its first command).
    pub fn empty() -> LocalStack {
        let dir = tempfile::tempdir().expect("tempdir");
        LocalStack {
            state_dir: dir.path().join("local-ecs"),
            _dir: dir,
        }
    }
}

/// Tests share one stack (one bootstrap, one `local-deploy` build) and take turns with it.
static STACK: Mutex<Option<LocalStack>> = Mutex::new(None);

/// Runs `test` with the shared stack, after a first deploy made it (greeting "first").
/// local-ecs is stopped afterwards (its state stays; the next test's first command restarts it),
/// so no process outlives the tests.
pub fn with_stack<T>(test: impl FnOnce(&LocalStack) -> T) -> T {
    let mut guard = STACK
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if guard.is_none() {
        let stack = LocalStack::empty();
        let first = stack.deploy(&["--env", "GREETING=first"]);
        assert_eq!(
            first.code,
            Some(0),
            "the bootstrap deploy failed:\n{}\n{}",
            first.stdout,
            first.stderr
        );
        *guard = Some(stack);
    }
    let stack = guard.as_ref().expect("stack");
    struct Down<'a>(&'a LocalStack);
    impl Drop for Down<'_> {
        fn drop(&mut self) {
            let _ = self.0.xtask(&["local", "down"]);
        }
    }
    let _down = Down(stack);
    test(stack)
}

impl LocalStack {
    /// `cargo xtask ARGS` with this stack's state directory, plain progress (CI mode).
    pub fn xtask(&self, args: &[&str]) -> Run {
        let out = xtask_command(args)
            .env("DEPLOY_LOCAL_STATE_DIR", &self.state_dir)
            .output()
            .expect("run cargo xtask");
        out.into()
    }

    /// `cargo xtask deploy --local --output json ARGS`.
    pub fn deploy(&self, args: &[&str]) -> Run {
        let mut all = vec!["deploy", "--local", "--output", "json"];
        all.extend_from_slice(args);
        self.xtask(&all)
    }

    /// The load balancer's URL, as `cargo xtask status --local` prints it.
    pub fn url(&self) -> String {
        let status = self.xtask(&["status", "--local"]);
        status
            .stdout
            .lines()
            .find_map(|l| l.strip_prefix("url: "))
            .unwrap_or_else(|| panic!("no url in status:\n{}\n{}", status.stdout, status.stderr))
            .trim()
            .to_owned()
    }

    /// The local-ecs endpoint (while it runs).
    pub fn endpoint(&self) -> String {
        std::fs::read_to_string(self.state_dir.join("endpoint"))
            .expect("local-ecs endpoint")
            .trim()
            .to_owned()
    }

    /// The key local-ecs generated for this stack's state directory (it verifies every
    /// request's signature against it).
    pub fn credentials(&self) -> deploy_sdk::StaticCredentials {
        let path = self.state_dir.join("credentials.json");
        let file: serde_json::Value = serde_json::from_slice(
            &std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
        )
        .unwrap_or_else(|_| panic!("{} is not JSON", path.display()));
        let field = |name: &str| {
            file[name]
                .as_str()
                .unwrap_or_else(|| panic!("{} has no {name}", path.display()))
                .to_owned()
        };
        deploy_sdk::StaticCredentials::new(field("access_key_id"), field("secret_access_key"))
    }

    /// The AWS options that reach this stack's local-ecs (while it runs), signing with its key.
    pub fn aws_options(&self) -> deploy_sdk::AwsOptions {
        deploy_sdk::AwsOptions {
            region: Some("us-east-1".into()),
            endpoint_url: Some(self.endpoint()),
            static_credentials: Some(self.credentials()),
            ..Default::default()
        }
    }

    /// ECS, ECR and ELBv2 clients for this stack's local-ecs.
    pub async fn clients(&self) -> deploy_sdk::Clients {
        deploy_sdk::Clients::load(&self.aws_options()).await
    }

    /// ECS client for this stack's local-ecs.
    pub async fn ecs(&self) -> aws_sdk_ecs::Client {
        self.clients().await.ecs
    }

    /// CloudWatch client for this stack's local-ecs.
    pub async fn cloudwatch(&self) -> aws_sdk_cloudwatch::Client {
        aws_sdk_cloudwatch::Client::new(&deploy_sdk::load_sdk_config(&self.aws_options()).await)
    }
}

/// One HTTP/1.1 GET with `Connection: close`: (status, body).
pub fn http_get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").as_bytes(),
    )?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw);
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("no status line in {text:?}")))?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}

/// The greeting the service answers `GET /hello/e2e` with through the load balancer at `url`.
pub fn greeting_at(url: &str) -> String {
    let (status, body) =
        http_get(addr_of(url), "/hello/e2e").expect("GET through the load balancer");
    assert_eq!(status, 200, "{body}");
    body.split(" e2e<br>").next().unwrap_or_default().to_owned()
}

/// `http://127.0.0.1:PORT` → the socket address.
pub fn addr_of(url: &str) -> SocketAddr {
    url.trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .unwrap_or_else(|e| panic!("{url}: {e}"))
}
