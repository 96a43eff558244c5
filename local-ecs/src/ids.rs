//! Identifiers and ARNs shaped like AWS's, so code written against local-ecs reads them the
//! same way it reads real ones.

use rand::Rng;

/// The account every resource belongs to.
pub const ACCOUNT_ID: &str = "000000000000";

/// The region used when a request carries no SigV4 credential scope.
pub const DEFAULT_REGION: &str = "us-east-1";

/// A 32-character lowercase hex id, the shape of ECS task ids.
pub fn task_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// A random UUID in its hyphenated form (request ids, event ids, container ARNs).
pub fn uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// `ecs-svc/` followed by 19 digits, as ECS names deployments.
pub fn deployment_id() -> String {
    let n: u64 = rand::rng().random_range(1_000_000_000_000_000_000..=9_223_372_036_854_775_807);
    format!("ecs-svc/{n}")
}

/// 21 characters of `[A-Za-z0-9_-]`, the shape of ServiceDeployment ids
/// (`service-deployment/CLUSTER/SERVICE/ejGvqq2ilnbKT9qj0vLJe`).
pub fn service_deployment_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
    let mut rng = rand::rng();
    (0..21)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect()
}

/// The id of the service revision a deployment (`ecs-svc/DIGITS`) deploys: its digits, as
/// ECS numbers them (`service-revision/CLUSTER/SERVICE/DIGITS`).
pub fn revision_id(deployment_id: &str) -> &str {
    deployment_id
        .strip_prefix("ecs-svc/")
        .unwrap_or(deployment_id)
}

/// `arn:aws:ecs:REGION:ACCOUNT:service-revision/CLUSTER/SERVICE/ID` for a service ARN
/// (`arn:aws:ecs:REGION:ACCOUNT:service/CLUSTER/SERVICE`).
pub fn revision_arn(service_arn: &str, id: &str) -> String {
    format!(
        "{}/{id}",
        service_arn.replacen(":service/", ":service-revision/", 1)
    )
}

/// `arn:aws:ecs:REGION:ACCOUNT:service-deployment/CLUSTER/SERVICE/ID` for a service ARN.
pub fn service_deployment_arn(service_arn: &str, id: &str) -> String {
    format!(
        "{}/{id}",
        service_arn.replacen(":service/", ":service-deployment/", 1)
    )
}

/// 16 lowercase hex digits: the trailing id of ELBv2 ARNs.
pub fn elb_id() -> String {
    let n: u64 = rand::rng().random();
    format!("{n:016x}")
}

/// ARN of an ECS resource (`cluster/NAME`, `task-definition/FAMILY:REV`, ...).
pub fn ecs_arn(region: &str, resource: &str) -> String {
    format!("arn:aws:ecs:{region}:{ACCOUNT_ID}:{resource}")
}

/// ARN of an ECR repository.
pub fn ecr_repository_arn(region: &str, name: &str) -> String {
    format!("arn:aws:ecr:{region}:{ACCOUNT_ID}:repository/{name}")
}

/// ARN of an ELBv2 resource (`loadbalancer/app/NAME/ID`, `targetgroup/NAME/ID`, ...).
pub fn elb_arn(region: &str, resource: &str) -> String {
    format!("arn:aws:elasticloadbalancing:{region}:{ACCOUNT_ID}:{resource}")
}

/// The last `/`-separated part of an ARN (or the whole string when it has none).
pub fn arn_tail(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// The region field of an ARN, if the string is an ARN.
pub fn arn_region(arn: &str) -> Option<&str> {
    let mut parts = arn.splitn(6, ':');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some("arn"), Some(_), Some(_), Some(region)) => Some(region),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_aws_shapes() {
        let id = deployment_id();
        let digits = id.strip_prefix("ecs-svc/").unwrap();
        assert_eq!(digits.len(), 19, "{id}");
        assert!(digits.bytes().all(|b| b.is_ascii_digit()));
        assert_eq!(task_id().len(), 32);
        let sd = service_deployment_id();
        assert_eq!(sd.len(), 21, "{sd}");
        assert!(
            sd.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        );
        assert_eq!(revision_id("ecs-svc/123"), "123");
        let service = "arn:aws:ecs:us-east-1:000000000000:service/c/web";
        assert_eq!(
            revision_arn(service, "123"),
            "arn:aws:ecs:us-east-1:000000000000:service-revision/c/web/123"
        );
        assert_eq!(
            service_deployment_arn(service, "abc"),
            "arn:aws:ecs:us-east-1:000000000000:service-deployment/c/web/abc"
        );
        assert_eq!(elb_id().len(), 16);
        assert_eq!(
            ecs_arn("eu-west-1", "cluster/dev"),
            "arn:aws:ecs:eu-west-1:000000000000:cluster/dev"
        );
        assert_eq!(arn_tail("arn:aws:ecs:r:1:task/c/abc"), "abc");
        assert_eq!(
            arn_region("arn:aws:ecs:eu-west-1:1:cluster/x"),
            Some("eu-west-1")
        );
        assert_eq!(arn_region("plain"), None);
    }
}
