//! ARNs, as far as this crate reads them.

/// The last `/`-separated segment of an ARN: a task's id, a task definition's
/// `family:revision`. A string without `/` is returned whole.
pub(crate) fn tail(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tails() {
        for (arn, want) in [
            (
                "arn:aws:ecs:us-east-1:1:task/dev-cluster/0123456789abcdef",
                "0123456789abcdef",
            ),
            ("arn:aws:ecs:us-east-1:1:task-definition/hello:7", "hello:7"),
            ("hello:7", "hello:7"),
            ("", ""),
        ] {
            assert_eq!(tail(arn), want, "{arn}");
        }
    }
}
