//! The charts of the HTML report, each an `<svg>` on the one time axis (seconds since the
//! deploy began) with stable ids and classes (`stage-bar`, `traffic-bar` with `traffic-new`/`-old`/`-failed`,
//! `tasks-line`, `target-segment`, `event-mark`, `lifecycle-stage`, `weight-line`) that tests
//! and stylesheets can find.

use std::collections::BTreeMap;
use std::fmt::Write;

use deploy_sdk::traffic::target_group_name;

use super::report::Report;
use super::report_svg::{Axis, chart, esc, lane_label, rect, secs, step_path};
use crate::short_names::shorten;
use crate::timeline::{TargetsPoint, TasksPoint};

const ROW: f64 = 24.0;
const BAR: f64 = 16.0;
/// Colours of series told apart by index (`c0`…`c5` in the stylesheet).
const PALETTE: usize = 6;

/// The end of the time axis: the last thing the report knows happened.
pub fn end_of(report: &Report) -> f64 {
    let t = &report.timeline;
    let mut ends: Vec<f64> = report
        .stages
        .iter()
        .map(|s| s.started_at_seconds + s.seconds)
        .collect();
    ends.extend(report.lifecycle_stages.iter().map(|s| s.ended_at_seconds));
    ends.extend(t.tasks.iter().map(|p| p.at_seconds));
    ends.extend(t.targets.iter().map(|p| p.at_seconds));
    ends.extend(t.events.iter().map(|p| p.at_seconds));
    ends.extend(t.weights.iter().map(|p| p.at_seconds));
    if let Some(traffic) = &report.traffic {
        ends.push(traffic.started_at_seconds + traffic.per_second.len() as f64);
    }
    if let (Some(start), Some(verify)) = (verify_start(report), &report.verify) {
        ends.push(start + verify.per_second.len() as f64);
    }
    ends.into_iter()
        .filter(|e| e.is_finite())
        .fold(0.0, f64::max)
}

/// Until when the watches saw the service: the end of the roll stage, or a later point of
/// the timeline (a rollback's watch). Series hold their last value until then, not beyond:
/// nothing was watched during verification.
fn seen_until(report: &Report) -> f64 {
    let t = &report.timeline;
    let roll = report
        .stages
        .iter()
        .filter(|s| s.name == "roll")
        .map(|s| s.started_at_seconds + s.seconds);
    roll.chain(t.tasks.iter().map(|p| p.at_seconds))
        .chain(t.targets.iter().map(|p| p.at_seconds))
        .chain(t.weights.iter().map(|p| p.at_seconds))
        .filter(|e| e.is_finite())
        .fold(0.0, f64::max)
}

/// Verification's first second: the start of the verify stage.
fn verify_start(report: &Report) -> Option<f64> {
    report
        .stages
        .iter()
        .find(|s| s.name == "verify")
        .map(|s| s.started_at_seconds)
}

/// One bar per stage with its duration; the test-traffic gate; the budget's phases,
/// predicted (triangles) and seen (dots).
pub fn stages(report: &Report, axis: &Axis) -> String {
    let mut body = String::new();
    let mut y = 4.0;
    for (i, stage) in report.stages.iter().enumerate() {
        let (x0, x1) = (
            axis.x(stage.started_at_seconds),
            axis.x(stage.started_at_seconds + stage.seconds),
        );
        let title = format!(
            "{}: {} (from {} to {})",
            stage.name,
            secs(stage.seconds),
            secs(stage.started_at_seconds),
            secs(stage.started_at_seconds + stage.seconds)
        );
        let class = format!("stage-bar c{}", i % PALETTE);
        body += &labelled_bar(
            y,
            (x0, x1),
            &stage.name,
            &class,
            &title,
            &secs(stage.seconds),
        );
        y += ROW;
    }
    if let Some(gate) = &report.test_traffic_gate
        && let (Some(start), Some(took)) = (gate.started_at_seconds, gate.seconds)
    {
        let (x0, x1) = (axis.x(start), axis.x(start + took));
        body += &lane_label(y + BAR / 2.0, "test-traffic gate", "");
        let title = format!("test-traffic gate {}: {}", gate.result, gate.detail);
        let class = if gate.passed() {
            "gate-passed"
        } else {
            "gate-failed"
        };
        body += &rect(&format!("gate-bar {class}"), x0, y, x1 - x0, BAR, &title);
        body += &bar_text(
            x1,
            y + BAR / 2.0,
            &format!("{} {}", gate.result, secs(took)),
        );
        y += ROW;
    }
    if let Some(marks) = budget_marks(report, axis, y) {
        body += &marks;
        y += ROW;
    }
    if report.stages.is_empty() {
        body += &empty_note(y + 10.0, "no stage finished");
        y += ROW;
    }
    chart("stages", "Stages of the deploy", axis, y, &body)
}

/// A lane: its label, a bar from x0 to x1 (hover: `title`) and `value` after the bar.
fn labelled_bar(
    y: f64,
    (x0, x1): (f64, f64),
    label: &str,
    class: &str,
    title: &str,
    value: &str,
) -> String {
    lane_label(y + BAR / 2.0, label, "")
        + &rect(class, x0, y, x1 - x0, BAR, title)
        + &bar_text(x1, y + BAR / 2.0, value)
}

fn bar_text(x: f64, y: f64, text: &str) -> String {
    format!(
        r#"<text class="bar-text" x="{:.1}" y="{y:.1}" dominant-baseline="middle">{}</text>"#,
        x + 4.0,
        esc(text)
    )
}

fn empty_note(y: f64, text: &str) -> String {
    format!(
        r#"<text class="empty" x="{:.1}" y="{y:.1}">{}</text>"#,
        Axis::left() + 8.0,
        esc(text)
    )
}

/// The budget's phases on the stage chart, when it predicted and the watch started.
fn budget_marks(report: &Report, axis: &Axis, y: f64) -> Option<String> {
    let budget = report.budget.as_ref()?;
    let zero = budget.watch_started_at_seconds?;
    if budget.phases.is_empty() {
        return None;
    }
    let mid = y + BAR / 2.0;
    let mut out = lane_label(mid, "budget: predicted ▲ seen ●", "");
    for phase in &budget.phases {
        let seen = phase.actual_seconds.map_or("not seen".into(), secs);
        let title = format!(
            "{}: predicted {}, seen {seen} (since UpdateService)",
            phase.name,
            secs(phase.predicted_seconds)
        );
        let x = axis.x(zero + phase.predicted_seconds);
        let _ = write!(
            out,
            r#"<path class="budget-predicted" d="M{:.1},{:.1} l5,9 h-10 z"><title>{}</title></path>"#,
            x,
            mid - 6.0,
            esc(&title)
        );
        if let Some(actual) = phase.actual_seconds {
            let _ = write!(
                out,
                r#"<circle class="budget-actual" cx="{:.1}" cy="{mid:.1}" r="4.5"><title>{}</title></circle>"#,
                axis.x(zero + actual),
                esc(&title)
            );
        }
    }
    Some(out)
}

/// Old / new / failed answers per second, stacked: through the roll, then verification.
pub fn traffic(report: &Report, axis: &Axis) -> String {
    // (name, first second, last instant: a last partial second is drawn narrower, counts)
    let mut series: Vec<(&str, f64, f64, &[[u32; 3]])> = Vec::new();
    if let Some(t) = &report.traffic {
        let end = t.started_at_seconds + t.seconds;
        series.push(("roll", t.started_at_seconds, end, &t.per_second));
    }
    if let (Some(stage), Some(v)) = (
        report.stages.iter().find(|s| s.name == "verify"),
        &report.verify,
    ) {
        let (start, end) = (
            stage.started_at_seconds,
            stage.started_at_seconds + stage.seconds,
        );
        series.push(("verify", start, end, &v.per_second));
    }
    let height = 150.0;
    let (top, bottom) = (10.0, height - 4.0);
    let max = series
        .iter()
        .flat_map(|(_, _, _, s)| s.iter())
        .map(|[a, b, c]| a + b + c)
        .max()
        .unwrap_or(0);
    let mut body = lane_label(top + 6.0, &format!("{max} answers/s"), "muted");
    body += &lane_label(bottom - 6.0, "0", "muted");
    if max == 0 {
        let why = report
            .traffic_not_sampled
            .as_deref()
            .map_or("no answers sampled".to_owned(), |w| {
                format!("not sampled: {w}")
            });
        body += &empty_note(height / 2.0, &why);
        return chart("traffic", "Answers per second", axis, height, &body);
    }
    let scale = (bottom - top) / f64::from(max);
    for (name, start, end, per_second) in series {
        let _ = write!(body, r#"<g class="traffic-series" data-series="{name}">"#);
        for (i, &[new, old, failed]) in per_second.iter().enumerate() {
            let t = start + i as f64;
            let until = (t + 1.0).min(end.max(t + 0.1));
            let (x, w) = (axis.x(t), axis.x(until) - axis.x(t) - 1.0);
            let title = format!(
                "{name}, second {}: {new} new, {old} old, {failed} failed",
                secs(t)
            );
            let mut base = bottom;
            for (class, n) in [
                ("traffic-bar traffic-new", new),
                ("traffic-bar traffic-old", old),
                ("traffic-bar traffic-failed", failed),
            ] {
                if n > 0 {
                    let h = f64::from(n) * scale;
                    body += &rect(class, x, base - h, w, h, &title);
                    base -= h;
                }
            }
        }
        body += "</g>";
    }
    chart("traffic", "Answers per second", axis, height, &body)
}

/// Times at which a series changed, with the points of each change.
fn snapshots<T>(points: &[T], at: impl Fn(&T) -> f64) -> Vec<(f64, Vec<&T>)> {
    let mut out: Vec<(f64, Vec<&T>)> = Vec::new();
    for p in points {
        match out.last_mut() {
            Some((t, group)) if *t == at(p) => group.push(p),
            _ => out.push((at(p), vec![p])),
        }
    }
    out
}

/// "hello:5 (new)": a deployment by its revision and its part in this deploy.
fn deployment_label(report: &Report, id: &str, revision: &str) -> String {
    let part = if report.deployment_id.as_deref() == Some(id) {
        "new"
    } else if report
        .rollback
        .as_ref()
        .is_some_and(|r| r.deployment_id.as_deref() == Some(id))
    {
        "rollback"
    } else {
        "old"
    };
    format!("{revision} ({part})")
}

/// Running (solid) and desired (dashed) tasks of each deployment over time.
pub fn tasks(report: &Report, axis: &Axis) -> String {
    let snaps = snapshots(&report.timeline.tasks, |p: &TasksPoint| p.at_seconds);
    let mut ids: Vec<(&str, &str)> = Vec::new();
    for p in &report.timeline.tasks {
        if !ids.iter().any(|(id, _)| *id == p.deployment_id) {
            ids.push((&p.deployment_id, &p.revision));
        }
    }
    let height = (ids.len() as f64 * 16.0 + 12.0).max(110.0);
    let (top, bottom) = (10.0, height - 4.0);
    let max = report
        .timeline
        .tasks
        .iter()
        .map(|p| p.running.max(p.desired))
        .max()
        .unwrap_or(0)
        .max(1);
    let y = |n: i32| bottom - f64::from(n.max(0)) * (bottom - top) / f64::from(max);
    let mut body = String::new();
    if snaps.is_empty() {
        body += &empty_note(height / 2.0, "no deployments seen");
    }
    for (i, (id, revision)) in ids.iter().enumerate() {
        let first = snaps
            .iter()
            .position(|(_, rows)| rows.iter().any(|p| p.deployment_id == *id))
            .unwrap_or(0);
        let value = |rows: &[&TasksPoint], f: fn(&TasksPoint) -> i32| {
            rows.iter()
                .find(|p| p.deployment_id == *id)
                .map_or(0, |p| f(p))
        };
        let running: Vec<(f64, f64)> = snaps[first..]
            .iter()
            .map(|(t, rows)| (axis.x(*t), y(value(rows, |p| p.running))))
            .collect();
        let desired: Vec<(f64, f64)> = snaps[first..]
            .iter()
            .map(|(t, rows)| (axis.x(*t), y(value(rows, |p| p.desired))))
            .collect();
        let label = deployment_label(report, id, revision);
        let class = format!("c{}", i % PALETTE);
        let end = axis.x(seen_until(report));
        body += &step_path(
            &format!("tasks-desired {class}"),
            &desired,
            end,
            &format!("{label}: desired"),
        );
        body += &step_path(
            &format!("tasks-line {class}"),
            &running,
            end,
            &format!("{label}: running"),
        );
        body += &lane_label(
            top + 6.0 + i as f64 * 16.0,
            &label,
            &format!("legend {class}"),
        );
    }
    let _ = write!(
        body,
        r#"<text class="tick" x="{:.1}" y="{:.1}">{max}</text>"#,
        Axis::left() + 3.0,
        top + 10.0
    );
    chart("tasks", "Running tasks per deployment", axis, height, &body)
}

/// Target health per target group and deployment: each change a segment, split by state.
pub fn targets(report: &Report, axis: &Axis) -> String {
    let points = &report.timeline.targets;
    let snaps = snapshots(points, |p: &TargetsPoint| p.at_seconds);
    let mut keys: Vec<(&str, Option<&str>)> = Vec::new();
    for p in points {
        let key = (p.target_group_arn.as_str(), p.deployment_id.as_deref());
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    let revisions: BTreeMap<&str, &str> = report
        .timeline
        .tasks
        .iter()
        .map(|p| (p.deployment_id.as_str(), p.revision.as_str()))
        .collect();
    let mut body = String::new();
    for (lane, (group, deployment)) in keys.iter().enumerate() {
        let y = 4.0 + lane as f64 * ROW;
        let who = match deployment {
            Some(id) => deployment_label(report, id, revisions.get(id).copied().unwrap_or(id)),
            None => "unmatched tasks".to_owned(),
        };
        let label = format!("{} · {who}", target_group_name(group));
        body += &lane_label(y + BAR / 2.0, &label, "");
        for (i, (t, rows)) in snaps.iter().enumerate() {
            let Some(p) = rows.iter().find(|p| {
                p.target_group_arn == *group && p.deployment_id.as_deref() == *deployment
            }) else {
                continue;
            };
            let until = snaps
                .get(i + 1)
                .map_or(seen_until(report), |(next, _)| *next);
            body += &target_segment(p, &label, axis.x(*t), axis.x(until), y);
        }
    }
    if keys.is_empty() {
        body += &empty_note(14.0, "no target health seen");
    }
    let height = (keys.len() as f64 * ROW + 8.0).max(28.0);
    chart(
        "targets",
        "Target health per deployment",
        axis,
        height,
        &body,
    )
}

/// One stretch of a lane: a rectangle per state, heights in proportion to the counts.
fn target_segment(p: &TargetsPoint, label: &str, x0: f64, x1: f64, y: f64) -> String {
    let states = [
        ("healthy", p.counts.healthy),
        ("initial", p.counts.initial),
        ("draining", p.counts.draining),
        ("unhealthy", p.counts.unhealthy),
        ("unused", p.counts.unused),
        ("unavailable", p.counts.unavailable),
    ];
    let total: u32 = states.iter().map(|(_, n)| n).sum();
    if total == 0 {
        return String::new();
    }
    let said: Vec<String> = states
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(s, n)| format!("{n} {s}"))
        .collect();
    let title = format!("{label}: {} from {}", said.join(", "), secs(p.at_seconds));
    let mut out = String::new();
    let mut top = y;
    for (state, n) in states {
        if n > 0 {
            let h = BAR * f64::from(n) / f64::from(total);
            out += &rect(
                &format!("target-segment th-{state}"),
                x0,
                top,
                x1 - x0 - 0.5,
                h,
                &title,
            );
            top += h;
        }
    }
    out
}

/// Service events and stopped tasks as marks on the time axis (hover for the message).
pub fn events(report: &Report, axis: &Axis) -> String {
    let height = 34.0;
    let mut body = lane_label(height / 2.0, "service events", "");
    for event in &report.timeline.events {
        let x = axis.x(event.at_seconds);
        let title = format!("{}: {}", secs(event.at_seconds), shorten(&event.message));
        let _ = write!(
            body,
            r#"<g class="event-mark {}"><title>{}</title><line x1="{x:.1}" y1="6" x2="{x:.1}" y2="{:.1}"/><circle cx="{x:.1}" cy="{:.1}" r="4"/></g>"#,
            event.kind.replace('_', "-"),
            esc(&title),
            height - 4.0,
            height / 2.0
        );
    }
    if report.timeline.events.is_empty() {
        body += &empty_note(height / 2.0, "no service events seen");
    }
    chart("events", "Service events", axis, height, &body)
}

/// Blue/green, linear, canary: the lifecycle stages, one row each.
pub fn lifecycle(report: &Report, axis: &Axis) -> String {
    let mut body = String::new();
    for (i, stage) in report.lifecycle_stages.iter().enumerate() {
        let y = 4.0 + i as f64 * ROW;
        let (x0, x1) = (
            axis.x(stage.started_at_seconds),
            axis.x(stage.ended_at_seconds),
        );
        let took = stage.ended_at_seconds - stage.started_at_seconds;
        let title = format!(
            "{}: {} from {}",
            stage.name,
            secs(took),
            secs(stage.started_at_seconds)
        );
        let class = format!("lifecycle-stage c{}", i % PALETTE);
        body += &labelled_bar(y, (x0, x1), &stage.name, &class, &title, &secs(took));
    }
    if report.lifecycle_stages.is_empty() {
        body += &empty_note(14.0, "no lifecycle stage seen");
    }
    let height = (report.lifecycle_stages.len() as f64 * ROW + 8.0).max(28.0);
    chart("lifecycle", "Lifecycle stages", axis, height, &body)
}

/// The production listener's share of traffic per target group over time.
pub fn weights(report: &Report, axis: &Axis) -> String {
    let production: Vec<_> = report
        .timeline
        .weights
        .iter()
        .filter(|w| w.listener == "production")
        .collect();
    let mut groups: Vec<&str> = Vec::new();
    for g in production.iter().flat_map(|w| &w.groups) {
        if !groups.contains(&g.target_group_arn.as_str()) {
            groups.push(&g.target_group_arn);
        }
    }
    let height = 110.0;
    let (top, bottom) = (10.0, height - 6.0);
    let mut body = lane_label(top + 4.0, "100 %", "muted");
    body += &lane_label(bottom - 4.0, "0 %", "muted");
    for (i, group) in groups.iter().enumerate() {
        let points: Vec<(f64, f64)> = production
            .iter()
            .map(|w| {
                let total: i32 = w.groups.iter().map(|g| g.weight.max(0)).sum();
                let ours: i32 = w
                    .groups
                    .iter()
                    .filter(|g| g.target_group_arn == *group)
                    .map(|g| g.weight.max(0))
                    .sum();
                let share = if total > 0 {
                    f64::from(ours) / f64::from(total)
                } else {
                    0.0
                };
                (axis.x(w.at_seconds), bottom - share * (bottom - top))
            })
            .collect();
        let class = format!("c{}", i % PALETTE);
        let name = target_group_name(group);
        body += &step_path(
            &format!("weight-line {class}"),
            &points,
            axis.x(seen_until(report)),
            &format!("production traffic to {name}"),
        );
        body += &lane_label(
            top + 22.0 + i as f64 * 16.0,
            name,
            &format!("legend {class}"),
        );
    }
    if groups.is_empty() {
        body += &empty_note(height / 2.0, "no listener weights seen");
    }
    chart("weights", "Production traffic weights", axis, height, &body)
}
