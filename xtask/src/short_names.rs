//! Short names for the live view: a service event says something before the terminal cuts
//! it. ARNs become names ("target group hello-ecs-tg", "service deployment ejGv…"), 32-hex
//! task ids their first 8 characters (as the ECS console shows them). The JSON report keeps
//! ECS's words.

/// How many characters of a task id are shown.
const TASK_ID_CHARS: usize = 8;

/// `message` with every ARN replaced by a short name and task ids shortened.
pub fn shorten(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(at) = rest.find("arn:") {
        let (before, from) = rest.split_at(at);
        let end = from.find(ends_arn).unwrap_or(from.len());
        // A sentence's full stop or a colon before a reason is not part of the ARN.
        let end = from[..end].trim_end_matches(['.', ':']).len();
        let (arn, after) = from.split_at(end);
        match short_arn(arn) {
            Some((kind, name)) => {
                // "(target-group ARN)" → "(target group NAME)", not "target group" twice.
                let before = before
                    .strip_suffix(&format!("{} ", kind.replace(' ', "-")))
                    .or_else(|| before.strip_suffix(&format!("{kind} ")))
                    .unwrap_or(before);
                out.push_str(&shorten_task_ids(before));
                out.push_str(&format!("{kind} {name}"));
            }
            None => {
                out.push_str(&shorten_task_ids(before));
                out.push_str(arn);
            }
        }
        rest = after;
    }
    out.push_str(&shorten_task_ids(rest));
    out
}

fn ends_arn(c: char) -> bool {
    c.is_whitespace() || matches!(c, ')' | '(' | ',' | ';' | '"' | '\'' | ']' | '[')
}

/// (kind, short name) of an ARN whose resource type is known.
fn short_arn(arn: &str) -> Option<(&'static str, String)> {
    // arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE
    let resource = arn.splitn(6, ':').nth(5)?;
    let parts: Vec<&str> = resource.split('/').collect();
    let short = match parts.as_slice() {
        ["targetgroup", name, ..] => ("target group", (*name).to_owned()),
        ["loadbalancer", _, name, ..] => ("load balancer", (*name).to_owned()),
        ["listener", _, lb, ..] => ("listener of", (*lb).to_owned()),
        ["task", .., id] => ("task", short_id(id)),
        ["service-deployment", .., id] => ("service deployment", (*id).to_owned()),
        ["service-revision", .., id] => ("service revision", (*id).to_owned()),
        ["service", .., name] => ("service", (*name).to_owned()),
        ["cluster", name] => ("cluster", (*name).to_owned()),
        ["task-definition", family_revision] => ("task definition", (*family_revision).to_owned()),
        ["container-instance", .., id] => ("container instance", short_id(id)),
        _ => return None,
    };
    Some(short)
}

/// A 32-hex task id's first characters; anything else as it is.
fn short_id(id: &str) -> String {
    if is_task_id(id) {
        id[..TASK_ID_CHARS].to_owned()
    } else {
        id.to_owned()
    }
}

fn is_task_id(word: &str) -> bool {
    word.len() == 32 && word.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Every 32-hex word (a task id) cut to its first characters.
fn shorten_task_ids(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        out.push_str(&short_id(word));
        word.clear();
    };
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

/// `line` cut to `width` characters (the last one an ellipsis when cut).
pub fn fit(line: &str, width: usize) -> String {
    if line.chars().count() <= width {
        return line.to_owned();
    }
    let mut cut: String = line.chars().take(width.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    const TG: &str = "arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/hello-ecs-tg/6d0ecf831eec9f09";
    const TASK: &str =
        "arn:aws:ecs:us-east-1:000000000000:task/hello-cluster/0f3c2a9d8e7b4c1a9f0e1d2c3b4a5968";

    #[test]
    fn events_name_what_their_arns_point_at() {
        let table = [
            (
                format!("(service hello-ecs) registered 2 targets in (target-group {TG})"),
                "(service hello-ecs) registered 2 targets in (target group hello-ecs-tg)",
            ),
            (
                format!("(service hello-ecs) deregistered 1 targets in (target-group {TG})."),
                "(service hello-ecs) deregistered 1 targets in (target group hello-ecs-tg).",
            ),
            (
                "(service hello-ecs) has started 2 tasks: (task 0f3c2a9d8e7b4c1a9f0e1d2c3b4a5968) (task 1a2b3c4d5e6f70819a0b1c2d3e4f5a6b).".into(),
                "(service hello-ecs) has started 2 tasks: (task 0f3c2a9d) (task 1a2b3c4d).",
            ),
            (
                format!("stopped task {TASK}: Essential container in task exited"),
                "stopped task 0f3c2a9d: Essential container in task exited",
            ),
            (
                "judging arn:aws:ecs:us-east-1:000000000000:service-deployment/hello-cluster/hello-ecs/ejGvqq2ilnbKT9qj0vLJe now".into(),
                "judging service deployment ejGvqq2ilnbKT9qj0vLJe now",
            ),
            (
                "runs arn:aws:ecs:us-east-1:000000000000:task-definition/hello-ecs:7".into(),
                "runs task definition hello-ecs:7",
            ),
            (
                "behind arn:aws:elasticloadbalancing:us-east-1:0:loadbalancer/app/hello-lb/50dc6c495c0c9188, ok".into(),
                "behind load balancer hello-lb, ok",
            ),
            // Unknown resource types and ordinary words stay as they are.
            (
                "arn:aws:s3:::bucket/key and ecs-svc/1234567890123456789".into(),
                "arn:aws:s3:::bucket/key and ecs-svc/1234567890123456789",
            ),
            (
                "(service hello-ecs) has reached a steady state.".into(),
                "(service hello-ecs) has reached a steady state.",
            ),
        ];
        for (message, short) in table {
            assert_eq!(shorten(&message), short, "{message}");
        }
    }

    #[test]
    fn lines_fit_the_width() {
        let table = [
            ("short", 10, "short"),
            ("exactly10!", 10, "exactly10!"),
            ("eleven char", 10, "eleven ch…"),
            ("ünïcödé wörds", 5, "ünïc…"),
        ];
        for (line, width, fitted) in table {
            assert_eq!(fit(line, width), fitted);
            assert!(fit(line, width).chars().count() <= width);
        }
    }
}
