//! # local-stack: the tutorial's ECS stack in miniature, on a local-ecs endpoint
//!
//! What the tutorial's CloudFormation stacks create for a load-balanced ECS service, made with
//! the same AWS API calls a user would make: a cluster, a target group with a health check,
//! an Application Load Balancer and an HTTP listener forwarding to the target group
//! ([`ensure_stack`], idempotent: what exists is found by name and kept), then a task
//! definition ([`register_task_definition`]) and a service behind the target group
//! ([`create_service`]).
//!
//! The health checks run every second and targets drain in seconds, so a rollout on
//! local-ecs takes seconds; AWS would refuse a 1 s interval. The callers bring their own
//! clients, pointed at local-ecs (`cargo xtask deploy --local` and local-ecs's tests).

mod error;
mod service;
mod stack;

pub use error::{Error, Result};
pub use service::{
    CircuitBreaker, Platform, ServiceSpec, TaskSpec, create_service, register_task_definition,
};
pub use stack::{Created, HEALTH_CHECK_INTERVAL_SECS, Stack, StackSpec, ensure_stack};
