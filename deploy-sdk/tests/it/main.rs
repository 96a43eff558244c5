//! deploy-sdk's integration tests, one binary: the AWS SDK and the scenario harness are
//! compiled and linked once. (`secrets_at_trace` stays a binary of its own: it installs a
//! process-wide TRACE subscriber.)

mod controller;
mod rollback_scenarios;
mod rollout_scenarios;
#[allow(dead_code, unused_imports)]
mod scenario;
mod service_deployment_scenarios;
mod strategy_scenarios;
mod taskdef_roundtrip;
mod verify;
mod verify_fleet;
mod verify_proof;
