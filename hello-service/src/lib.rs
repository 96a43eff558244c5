//! hello-service: the greeting server this project deploys to ECS.
//!
//! A Rust port of the tutorial's Express `server.js`, built to be a model ECS citizen: a static
//! binary for a `scratch` image, instant start, a `/ping` health endpoint, a `healthcheck`
//! subcommand for container health checks, JSON logs, and a clean drain on SIGTERM.
//!
//! To change what the service says, edit [`DEFAULT_GREETING`] and deploy.
//!
//! The server (actix-web routes, JSON logs) is the default `server` feature. Without it the
//! crate compiles with no dependencies and holds what the deploy tooling shares with the
//! service: [`html::escape`], [`APP_VERSION_HEADER`] and [`config`].

pub mod config;
pub mod healthcheck;
pub mod html;
#[cfg(feature = "server")]
pub mod logging;
#[cfg(feature = "server")]
pub mod routes;
#[cfg(feature = "server")]
pub mod server;

/// The greeting every `/hello/{name}` answer starts with (env `GREETING` overrides it).
///
/// This is the tutorial's "edit line 3": change it, run `cargo xtask deploy`, and watch the
/// rolling update bring the new text up behind the load balancer.
pub const DEFAULT_GREETING: &str = "Hello AWS ECS!";

/// The id of this build: git short sha, plus `-dirty-<hash>` when built from uncommitted changes
/// (see `build_id.rs`). Sent on every response as `x-app-version`.
pub const BUILD_ID: &str = env!("HELLO_BUILD_ID");

/// Header that tells which build answered ([`BUILD_ID`]), so a poller behind a load balancer
/// can count old and new revisions during a rollout.
pub use hello_page::APP_VERSION_HEADER;

/// The crate version, as in `Cargo.toml`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
