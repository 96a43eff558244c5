//! local-ecs: filled by its own issue.
