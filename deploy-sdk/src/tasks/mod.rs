//! A service's tasks: listing and describing them, which deployment each belongs to, and the
//! stopped-task view a failed deploy reports.
//!
//! Two files, so that [`crate::Error`] can hold [`StoppedTask`]s while the describes return
//! that error: `stopped` needs nothing from the error module.

mod describe;
pub(crate) mod stopped;

pub use describe::{describe_tasks, list_tasks, task_deployment};
pub use stopped::{StoppedContainer, StoppedTask};
