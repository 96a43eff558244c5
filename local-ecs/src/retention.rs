//! Which stopped tasks local-ecs keeps. A stopped task's record (DescribeTasks, ListTasks) and
//! its directory (container logs) go together: the newest [`Timing::stopped_tasks_per_service`]
//! of each service (10 by default) are kept, for at most [`Timing::stopped_task_retention`]
//! (an hour, as ECS shows them), and at most [`Timing::max_stopped_tasks`] overall. Directories
//! of an earlier run's tasks (no record: tasks are not persisted) are pruned at start the
//! same way, as if of one service.
//!
//! [`Timing::stopped_tasks_per_service`]: crate::shared::Timing
//! [`Timing::stopped_task_retention`]: crate::shared::Timing
//! [`Timing::max_stopped_tasks`]: crate::shared::Timing

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, SystemTime};

/// How many stopped tasks, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// The newest this many of each service (tasks without a service count as one).
    pub per_service: usize,
    /// At most this many overall.
    pub total: usize,
    /// None older than this.
    pub max_age: Duration,
}

/// A stopped task, as retention sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stopped<'a> {
    pub id: &'a str,
    /// The service that owns it.
    pub service: Option<&'a str>,
    pub stopped_at: SystemTime,
}

/// The ids of the stopped tasks to forget, oldest first.
pub fn to_forget<'a>(stopped: &[Stopped<'a>], rules: Retention, now: SystemTime) -> Vec<&'a str> {
    let mut newest_first: Vec<&Stopped<'a>> = stopped.iter().collect();
    newest_first.sort_by(|a, b| b.stopped_at.cmp(&a.stopped_at).then(b.id.cmp(a.id)));
    let mut kept_of: BTreeMap<Option<&str>, usize> = BTreeMap::new();
    let mut kept = 0;
    let mut forget = Vec::new();
    for task in newest_first {
        let of_service = kept_of.entry(task.service).or_default();
        let too_old = now.duration_since(task.stopped_at).unwrap_or_default() > rules.max_age;
        if too_old || *of_service >= rules.per_service || kept >= rules.total {
            forget.push(task.id);
        } else {
            *of_service += 1;
            kept += 1;
        }
    }
    forget.reverse();
    forget
}

/// At start: removes the task directories an earlier run left under `tasks_dir` beyond what
/// `rules` keeps (by modification time), and the root filesystems of those it keeps.
pub fn prune_leftovers(tasks_dir: &Path, rules: Retention, now: SystemTime) {
    let Ok(entries) = std::fs::read_dir(tasks_dir) else {
        return;
    };
    let dirs: Vec<(String, SystemTime)> = entries
        .flatten()
        .filter_map(|entry| {
            let modified = entry.metadata().ok()?.modified().ok()?;
            Some((entry.file_name().into_string().ok()?, modified))
        })
        .collect();
    let stopped: Vec<Stopped> = dirs
        .iter()
        .map(|(id, at)| Stopped {
            id,
            service: None,
            stopped_at: *at,
        })
        .collect();
    for id in to_forget(&stopped, rules, now) {
        let _ = std::fs::remove_dir_all(tasks_dir.join(id));
    }
    for (id, _) in &dirs {
        let _ = std::fs::remove_dir_all(tasks_dir.join(id).join("rootfs"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULES: Retention = Retention {
        per_service: 2,
        total: 4,
        max_age: Duration::from_secs(3600),
    };

    fn at(secs_ago: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(10_000 - secs_ago)
    }

    fn now() -> SystemTime {
        at(0)
    }

    #[test]
    fn which_stopped_tasks_are_forgotten() {
        type Task = (&'static str, Option<&'static str>, u64);
        let rows: [(&str, &[Task], &[&str]); 7] = [
            ("nothing stopped", &[], &[]),
            (
                "within every limit",
                &[("a1", Some("a"), 5), ("a2", Some("a"), 1)],
                &[],
            ),
            (
                "the oldest beyond a service's newest 2",
                &[
                    ("a1", Some("a"), 30),
                    ("a2", Some("a"), 20),
                    ("a3", Some("a"), 10),
                    ("b1", Some("b"), 40),
                ],
                &["a1"],
            ),
            (
                "each service keeps its own 2",
                &[
                    ("a1", Some("a"), 30),
                    ("a2", Some("a"), 20),
                    ("b1", Some("b"), 50),
                    ("b2", Some("b"), 40),
                ],
                &[],
            ),
            (
                "tasks without a service count as one service",
                &[("r1", None, 3), ("r2", None, 2), ("r3", None, 1)],
                &["r1"],
            ),
            (
                "older than the retention, even among the newest",
                &[("a1", Some("a"), 3601), ("a2", Some("a"), 10)],
                &["a1"],
            ),
            (
                "the oldest beyond the total",
                &[
                    ("a1", Some("a"), 60),
                    ("a2", Some("a"), 50),
                    ("b1", Some("b"), 40),
                    ("b2", Some("b"), 30),
                    ("c1", Some("c"), 20),
                    ("c2", Some("c"), 10),
                ],
                &["a1", "a2"],
            ),
        ];
        for (rule, tasks, expected) in rows {
            let stopped: Vec<Stopped> = tasks
                .iter()
                .map(|&(id, service, ago)| Stopped {
                    id,
                    service,
                    stopped_at: at(ago),
                })
                .collect();
            assert_eq!(to_forget(&stopped, RULES, now()), expected, "{rule}");
        }
    }

    #[test]
    fn an_earlier_runs_task_directories_are_pruned_at_start() {
        let dir = tempfile::tempdir().unwrap();
        let now = SystemTime::now();
        for (i, id) in ["t1", "t2", "t3"].iter().enumerate() {
            let task = dir.path().join(id);
            std::fs::create_dir_all(task.join("rootfs/web")).unwrap();
            let log = std::fs::File::create(task.join("web.log")).unwrap();
            drop(log);
            // t3 is the newest.
            let modified = now - Duration::from_secs(100 - i as u64 * 10);
            std::fs::File::open(&task)
                .unwrap()
                .set_modified(modified)
                .unwrap();
        }
        prune_leftovers(dir.path(), RULES, now);
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(left, ["t2", "t3"]);
        for id in left {
            assert!(dir.path().join(&id).join("web.log").exists(), "{id}");
            assert!(!dir.path().join(&id).join("rootfs").exists(), "{id}");
        }
    }
}
