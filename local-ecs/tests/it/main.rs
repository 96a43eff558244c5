//! local-ecs's integration tests, one binary: the AWS SDK, deploy-sdk and the shared helpers
//! (`common`) are compiled and linked once, and tests of every file share the two test threads.

mod absent_members;
mod api;
mod blue_green;
mod cli;
#[allow(dead_code)] // each file uses a different part of the helpers
mod common;
mod deploy_sdk;
mod deployment_outcomes;
mod failures;
mod listener_timeouts;
mod registry;
mod restart;
mod rolling;
mod security;
mod service_deployments;
mod stopped_tasks;
mod wire_shapes;
