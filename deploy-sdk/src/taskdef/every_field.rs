//! The copy carries every registrable field: a task definition with every field set goes
//! through [`NewRevision::register_request`], and the request's fields (read from the
//! builder's `Debug`, so a field a newer SDK adds shows up here without anyone listing it)
//! must all be set, to the definition's values. A new field of `RegisterTaskDefinition` that
//! the copy does not carry fails this test; so does a new field of `TaskDefinition` nobody
//! has classified as registrable or read-only.

// inferenceAccelerators is deprecated and still copied: see `register_request`.
#![allow(deprecated)]

use std::collections::BTreeMap;

use aws_sdk_ecs::types::{
    Attribute, Compatibility, ContainerDefinition, EphemeralStorage, InferenceAccelerator, IpcMode,
    KeyValuePair, NetworkMode, PidMode, ProxyConfiguration, ProxyConfigurationType,
    RuntimePlatform, Tag, TaskDefinition, TaskDefinitionPlacementConstraint,
    TaskDefinitionPlacementConstraintType, TaskDefinitionStatus, Volume,
};
use aws_smithy_types::DateTime;

use super::{CurrentRevision, NewRevision};

/// Fields of `TaskDefinition` that ECS sets and RegisterTaskDefinition does not take.
const READ_ONLY: &[&str] = &[
    "task_definition_arn",
    "revision",
    "status",
    "requires_attributes",
    "compatibilities",
    "registered_at",
    "deregistered_at",
    "delete_requested_at",
    "registered_by",
];

/// Request fields that come from elsewhere than the `TaskDefinition` itself.
const NOT_IN_THE_DEFINITION: &[&str] = &[
    // DescribeTaskDefinition returns the tags beside the definition (include=TAGS).
    "tags",
];

/// Request fields deliberately not copied, each with the reason. Empty: everything is copied.
const DELIBERATELY_NOT_COPIED: &[&str] = &[];

/// A task definition with every field set (add a new field here when the SDK adds one).
fn every_field_set() -> TaskDefinition {
    TaskDefinition::builder()
        .task_definition_arn("arn:aws:ecs:eu-west-1:123456789012:task-definition/hello:7")
        .container_definitions(
            ContainerDefinition::builder()
                .name("hello-ecs")
                .image("repo:old")
                .environment(KeyValuePair::builder().name("GREETING").value("hi").build())
                .build(),
        )
        .family("hello")
        .task_role_arn("arn:aws:iam::123456789012:role/task")
        .execution_role_arn("arn:aws:iam::123456789012:role/execution")
        .network_mode(NetworkMode::Awsvpc)
        .revision(7)
        .volumes(Volume::builder().name("scratch").build())
        .status(TaskDefinitionStatus::Active)
        .requires_attributes(
            Attribute::builder()
                .name("com.amazonaws.ecs.capability.docker-remote-api.1.18")
                .build()
                .unwrap(),
        )
        .placement_constraints(
            TaskDefinitionPlacementConstraint::builder()
                .r#type(TaskDefinitionPlacementConstraintType::MemberOf)
                .expression("attribute:ecs.availability-zone == eu-west-1a")
                .build(),
        )
        .compatibilities(Compatibility::Ec2)
        .runtime_platform(
            RuntimePlatform::builder()
                .cpu_architecture("ARM64".into())
                .operating_system_family("LINUX".into())
                .build(),
        )
        .requires_compatibilities(Compatibility::Ec2)
        .cpu("256")
        .memory("512")
        .inference_accelerators(
            InferenceAccelerator::builder()
                .device_name("device_1")
                .device_type("eia2.medium")
                .build()
                .unwrap(),
        )
        .pid_mode(PidMode::Task)
        .ipc_mode(IpcMode::Task)
        .proxy_configuration(
            ProxyConfiguration::builder()
                .r#type(ProxyConfigurationType::Appmesh)
                .container_name("envoy")
                .properties(
                    KeyValuePair::builder()
                        .name("AppPorts")
                        .value("8080")
                        .build(),
                )
                .build()
                .unwrap(),
        )
        .registered_at(DateTime::from_secs(1_800_000_000))
        .deregistered_at(DateTime::from_secs(1_800_000_100))
        .delete_requested_at(DateTime::from_secs(1_800_000_200))
        .registered_by("arn:aws:iam::123456789012:user/deployer")
        .ephemeral_storage(EphemeralStorage::builder().size_in_gib(30).build())
        .enable_fault_injection(true)
        .build()
}

/// The top-level fields of a `{:#?}` print, with the text of their values.
fn fields(pretty_debug: &str) -> BTreeMap<String, String> {
    let mut fields = BTreeMap::new();
    let mut current: Option<(String, String)> = None;
    // The first line opens the struct, the last closes it.
    for line in pretty_debug.lines().skip(1).filter(|l| *l != "}") {
        let top_level = line.starts_with("    ") && !line.starts_with("     ");
        match line.strip_prefix("    ").and_then(|l| l.split_once(": ")) {
            Some((name, value)) if top_level => {
                fields.extend(current.take());
                current = Some((name.to_owned(), value.to_owned()));
            }
            _ => {
                if let Some((_, value)) = &mut current {
                    value.push('\n');
                    value.push_str(line);
                }
            }
        }
    }
    fields.extend(current);
    fields
}

fn is_set(value: &str) -> bool {
    value.trim_end_matches(',') != "None"
}

#[test]
fn the_copy_carries_every_registrable_field() {
    let definition = every_field_set();
    let current = CurrentRevision {
        task_definition: definition.clone(),
        tags: vec![Tag::builder().key("team").value("web").build()],
    };
    let plan = NewRevision::plan(current, &Default::default()).unwrap();
    let config = aws_sdk_ecs::Config::builder()
        .behavior_version(aws_sdk_ecs::config::BehaviorVersion::latest())
        .region(aws_sdk_ecs::config::Region::new("eu-west-1"))
        .build();
    let request = plan.register_request(&aws_sdk_ecs::Client::from_conf(config));
    let sent = fields(&format!("{:#?}", request.as_input()));
    let defined = fields(&format!("{definition:#?}"));
    // The parser sees the fields (18 and 26 in aws-sdk-ecs 1.157).
    assert!(
        sent.len() >= 18 && defined.len() >= 26,
        "{sent:?} {defined:?}"
    );

    for (name, value) in &defined {
        assert!(
            is_set(value),
            "the fixture leaves TaskDefinition.{name} unset: set it in every_field_set()"
        );
        assert!(
            sent.contains_key(name) || READ_ONLY.contains(&name.as_str()),
            "TaskDefinition.{name} is neither a RegisterTaskDefinition field nor listed as \
             read-only: copy it in register_request, or add it to READ_ONLY"
        );
    }
    for (name, value) in &sent {
        if DELIBERATELY_NOT_COPIED.contains(&name.as_str()) {
            continue;
        }
        assert!(
            is_set(value),
            "RegisterTaskDefinition.{name} is not set by register_request: copy it from the \
             current revision (or list it in DELIBERATELY_NOT_COPIED with the reason)"
        );
        match defined.get(name) {
            Some(original) => assert_eq!(value, original, "{name} is copied as it was"),
            None => assert!(
                NOT_IN_THE_DEFINITION.contains(&name.as_str()),
                "RegisterTaskDefinition.{name} has no TaskDefinition field of that name: say \
                 where it comes from in NOT_IN_THE_DEFINITION"
            ),
        }
    }
}
