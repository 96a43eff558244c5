//! `--report FILE.html`: the deploy's [`Report`] as one self-contained page — inline CSS and
//! SVG, nothing loaded from the network, no script — that a person opens after a deploy or a
//! CI run keeps. Every chart shares one time axis, seconds since the deploy began (the JSON
//! report's axis). Every string from the report is escaped: service events and errors come
//! from AWS.

use std::fmt::Write;

use deploy_sdk::service::short_task_definition;

use super::report::{BudgetJson, Report};
use super::report_charts as charts;
use super::report_svg::{Axis, esc, secs};
use crate::short_names::shorten;

const STYLE: &str = include_str!("report_html.css");

/// The whole page.
pub fn render(report: &Report) -> String {
    let axis = Axis::new(charts::end_of(report));
    let mut page = format!(
        r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><meta name="color-scheme" content="light dark"><title>{}</title><style>{STYLE}</style></head><body>"#,
        esc(&format!(
            "deploy {} — {}",
            report.service,
            report.outcome.replace('_', " ")
        ))
    );
    page += &header(report);
    page += &outcome(report);
    page += &section(
        "Stages",
        "Each stage of the deploy, with the budget's phases predicted (▲) and seen (●).",
        &charts::stages(report, &axis),
    );
    page += &section(
        "Traffic through the load balancer",
        "Answers per second during the roll and verification: new build, old build, failed.",
        &(charts::traffic(report, &axis) + &traffic_legend()),
    );
    page += &section(
        "Tasks per deployment",
        "Running tasks (solid) and desired tasks (dashed) of each deployment.",
        &charts::tasks(report, &axis),
    );
    page += &section(
        "Target health",
        "Targets of each deployment in each target group, by state.",
        &(charts::targets(report, &axis) + &health_legend()),
    );
    page += &section(
        "Service events",
        "Events ECS recorded, and tasks that stopped.",
        &(charts::events(report, &axis) + &event_list(report)),
    );
    if shows_strategy(report) {
        page += &section(
            "Lifecycle and production traffic",
            "The deployment's lifecycle stages and the production listener's weights.",
            &(charts::lifecycle(report, &axis) + &charts::weights(report, &axis)),
        );
    }
    page += &budget(report);
    page += "<footer>Written by <code>cargo xtask deploy --report</code>. Times are seconds since the deploy began.</footer></body></html>\n";
    page
}

/// Blue/green, linear and canary deployments have stages and weights to draw.
fn shows_strategy(report: &Report) -> bool {
    report.strategy.as_deref().is_some_and(|s| s != "rolling")
        || !report.lifecycle_stages.is_empty()
        || !report.timeline.weights.is_empty()
}

fn section(title: &str, note: &str, body: &str) -> String {
    format!(
        r#"<section><h2>{}</h2><p class="note">{}</p>{body}</section>"#,
        esc(title),
        esc(note)
    )
}

fn header(report: &Report) -> String {
    let mut rows: Vec<(&str, String)> = vec![
        ("cluster", report.cluster.clone()),
        ("strategy", report.strategy.clone().unwrap_or_default()),
    ];
    if let Some(image) = &report.image {
        rows.push(("image", image.uri.clone()));
    }
    if let Some(profile) = &report.build_profile {
        rows.push(("build profile", profile.clone()));
    }
    let revision = |td: &Option<String>| {
        td.as_deref()
            .map_or("?".to_owned(), |t| short_task_definition(t).to_owned())
    };
    rows.push((
        "task definition",
        format!(
            "{} → {}",
            revision(&report.old_task_definition),
            revision(&report.new_task_definition)
        ),
    ));
    if let Some(id) = &report.deployment_id {
        rows.push(("deployment", id.clone()));
    }
    format!(
        r#"<header><h1>Deploy of <span class="service">{}</span></h1>{}</header>"#,
        esc(&report.service),
        definition_list("facts", &rows)
    )
}

fn definition_list(class: &str, rows: &[(&str, String)]) -> String {
    let mut out = format!(r#"<dl class="{class}">"#);
    for (name, value) in rows.iter().filter(|(_, v)| !v.is_empty()) {
        let _ = write!(out, "<dt>{}</dt><dd>{}</dd>", esc(name), esc(value));
    }
    out + "</dl>"
}

/// The outcome and why: reason, error, rollback, verification, gate, traffic in numbers.
fn outcome(report: &Report) -> String {
    let good = matches!(
        report.outcome.as_str(),
        "deployed" | "unchanged" | "dry_run"
    );
    let mut rows: Vec<(&str, String)> = vec![("exit code", report.exit_code.to_string())];
    if let Some(reason) = &report.reason {
        rows.push(("reason", shorten(reason)));
    }
    if let Some(error) = &report.error {
        rows.push(("error", shorten(error)));
    }
    if let Some(r) = &report.rollback {
        let answers = match r.old_build_answers {
            Some(true) => "; the old build answers again",
            Some(false) => "; the old build was NOT seen answering",
            None => "",
        };
        rows.push((
            "rollback",
            format!(
                "to {}: {}{answers}",
                short_task_definition(&r.to),
                r.outcome
            ),
        ));
    }
    rows.push(("verify", verify_line(report)));
    if let Some(gate) = &report.test_traffic_gate {
        rows.push((
            "test-traffic gate",
            format!("{}: {}", gate.result, gate.detail),
        ));
    }
    if let Some(t) = &report.traffic {
        rows.push((
            "traffic during the roll",
            format!(
                "{} requests, {} failed ({} new, {} old)",
                t.requests, t.failed, t.new, t.old
            ),
        ));
    }
    if let Some(s) = &report.superseded_by {
        rows.push(("superseded by", s.deployment_id.clone()));
    }
    if !report.stopped_tasks.is_empty() {
        rows.push(("stopped tasks", shorten(&report.stopped_tasks.join("; "))));
    }
    format!(
        r#"<section id="outcome" class="{}"><h2>Outcome: <span class="outcome-word">{}</span></h2>{}</section>"#,
        if good { "ok" } else { "bad" },
        esc(&report.outcome.replace('_', " ")),
        definition_list("facts", &rows)
    )
}

fn verify_line(report: &Report) -> String {
    match &report.verify {
        None => "not verified".to_owned(),
        Some(v) => format!(
            "{} at {}: {} new, {} old, {} errors ({} in a row required){}",
            if v.converged {
                "converged"
            } else {
                "did not converge"
            },
            v.url,
            v.new,
            v.old,
            v.errors,
            v.required,
            v.converged_after_seconds
                .map(|s| format!(", after {}", secs(s)))
                .unwrap_or_default()
        ),
    }
}

fn traffic_legend() -> String {
    legend(&[
        ("traffic-new", "new build"),
        ("traffic-old", "old build"),
        ("traffic-failed", "failed"),
    ])
}

fn health_legend() -> String {
    legend(&[
        ("th-healthy", "healthy"),
        ("th-initial", "initial"),
        ("th-draining", "draining"),
        ("th-unhealthy", "unhealthy"),
        ("th-unused", "unused / unavailable"),
    ])
}

fn legend(items: &[(&str, &str)]) -> String {
    let mut out = String::from(r#"<ul class="legend">"#);
    for (class, text) in items {
        let _ = write!(
            out,
            r#"<li><svg width="12" height="12" aria-hidden="true"><rect class="{class}" width="12" height="12"/></svg>{}</li>"#,
            esc(text)
        );
    }
    out + "</ul>"
}

/// The events as text too: a printed page has no hover.
fn event_list(report: &Report) -> String {
    const SHOWN: usize = 200;
    let events = &report.timeline.events;
    if events.is_empty() {
        return String::new();
    }
    let mut out = String::from(r#"<ol class="events">"#);
    for e in events.iter().take(SHOWN) {
        let _ = write!(
            out,
            r#"<li class="{}"><span class="at">{}</span> {}</li>"#,
            e.kind.replace('_', "-"),
            esc(&secs(e.at_seconds)),
            esc(&shorten(&e.message))
        );
    }
    if events.len() > SHOWN {
        let _ = write!(
            out,
            "<li>… {} more in the JSON report</li>",
            events.len() - SHOWN
        );
    }
    out + "</ol>"
}

/// The time budget: predicted against seen, per phase, and where the time was expected to go.
fn budget(report: &Report) -> String {
    let Some(b) = &report.budget else {
        return String::new();
    };
    let mut body = String::new();
    if let Some(why) = &b.not_predicted {
        let _ = write!(body, "<p>Not predicted: {}</p>", esc(why));
    }
    if let Some(summary) = &b.summary {
        let _ = write!(body, "<p>Predicted {}</p>", esc(summary));
    }
    if b.predicted_seconds.is_some() {
        body += &phase_table(b);
    }
    if !b.causes.is_empty() {
        body += r#"<ul class="causes">"#;
        for c in &b.causes {
            let _ = write!(
                body,
                "<li>{}: {}</li>",
                esc(&secs(c.seconds)),
                esc(&c.reason)
            );
        }
        body += "</ul>";
    }
    format!(r#"<section id="budget"><h2>Time budget of the roll</h2>{body}</section>"#)
}

fn phase_table(b: &BudgetJson) -> String {
    let mut out = String::from(
        "<table><thead><tr><th>phase (since UpdateService)</th><th>predicted</th><th>seen</th></tr></thead><tbody>",
    );
    for p in &b.phases {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(p.name),
            esc(&secs(p.predicted_seconds)),
            esc(&p.actual_seconds.map_or("—".to_owned(), secs))
        );
    }
    let total = |s: Option<f64>| s.map_or("—".to_owned(), secs);
    let _ = write!(
        out,
        "<tr class=\"total\"><td>the roll</td><td>{}</td><td>{}</td></tr></tbody></table>",
        esc(&total(b.predicted_seconds)),
        esc(&total(b.actual_seconds))
    );
    out
}

#[cfg(test)]
#[path = "report_html_tests.rs"]
mod tests;
