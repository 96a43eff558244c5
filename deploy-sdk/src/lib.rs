//! deploy-sdk: filled by its own issue.
