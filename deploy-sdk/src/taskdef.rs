//! A new task-definition revision: the current one with new images (and env), every other
//! registrable field copied as is, read-only fields dropped.

use std::collections::BTreeMap;
use std::fmt;

use aws_sdk_ecs::operation::register_task_definition::builders::RegisterTaskDefinitionFluentBuilder;
use aws_sdk_ecs::types::{KeyValuePair, Tag, TaskDefinition, TaskDefinitionField};

use crate::error::{Error, Result};
use crate::imagedefs::ImageDefinition;

/// What to change in a task definition: images and environment variables per container.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerChanges {
    /// Container name → image URI.
    pub images: BTreeMap<String, String>,
    /// Container name → variables to set (added, or replacing the same name).
    pub env: BTreeMap<String, BTreeMap<String, String>>,
}

impl ContainerChanges {
    /// Changes the image of `container`.
    pub fn image(mut self, container: impl Into<String>, image: impl Into<String>) -> Self {
        self.images.insert(container.into(), image.into());
        self
    }

    /// Sets `key=value` in the environment of `container`.
    pub fn env(
        mut self,
        container: impl Into<String>,
        key: impl Into<String>,
        value: impl Into<String>,
    ) -> Self {
        self.env
            .entry(container.into())
            .or_default()
            .insert(key.into(), value.into());
        self
    }

    /// Sets an environment variable from `KEY=VALUE` text (as given on a command line).
    pub fn env_assignment(self, container: impl Into<String>, assignment: &str) -> Result<Self> {
        let (key, value) = parse_env_assignment(assignment)?;
        Ok(self.env(container, key, value))
    }

    /// The image changes of an `imagedefinitions.json` (CodePipeline's ECS action format).
    pub fn from_image_definitions(definitions: &[ImageDefinition]) -> Self {
        definitions
            .iter()
            .fold(ContainerChanges::default(), |changes, d| {
                changes.image(&d.name, &d.image_uri)
            })
    }

    /// Names of every container these changes touch.
    pub fn containers(&self) -> impl Iterator<Item = &str> {
        let mut names: Vec<&str> = self
            .images
            .keys()
            .chain(self.env.keys())
            .map(String::as_str)
            .collect();
        names.sort_unstable();
        names.dedup();
        names.into_iter()
    }
}

/// Splits `KEY=VALUE`; the key must be a valid environment variable name.
pub fn parse_env_assignment(assignment: &str) -> Result<(String, String)> {
    let invalid = |problem: &str| Error::InvalidInput {
        what: format!("environment variable {assignment:?}"),
        problem: format!("{problem} (expected KEY=VALUE, e.g. GREETING=hi)"),
    };
    let (key, value) = assignment
        .split_once('=')
        .ok_or_else(|| invalid("no '='"))?;
    let valid_key = !key.is_empty()
        && !key.starts_with(|c: char| c.is_ascii_digit())
        && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !valid_key {
        return Err(invalid(
            "the name must be letters, digits and '_', not starting with a digit",
        ));
    }
    Ok((key.to_owned(), value.to_owned()))
}

/// One difference between the current and the new revision. `Display` and `Debug` show the
/// values of environment variables whose names look secret as `****`.
#[derive(Clone, PartialEq, Eq)]
pub struct FieldChange {
    /// The container.
    pub container: String,
    /// `image` or `env KEY`.
    pub field: String,
    /// The current value (`None`: not set).
    pub from: Option<String>,
    /// The new value.
    pub to: String,
}

impl FieldChange {
    /// A value as it may be printed: masked for an `env` field whose name looks secret.
    fn shown<'a>(&self, value: &'a str) -> &'a str {
        match self.field.strip_prefix("env ") {
            Some(name) if crate::secret::looks_secret(name) => crate::secret::MASK,
            _ => value,
        }
    }
}

impl fmt::Display for FieldChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let to = self.shown(&self.to);
        match &self.from {
            Some(from) => write!(
                f,
                "container {}: {}: {} -> {to}",
                self.container,
                self.field,
                self.shown(from)
            ),
            None => write!(
                f,
                "container {}: {}: (unset) -> {to}",
                self.container, self.field
            ),
        }
    }
}

impl fmt::Debug for FieldChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FieldChange")
            .field("container", &self.container)
            .field("field", &self.field)
            .field("from", &self.from.as_deref().map(|v| self.shown(v)))
            .field("to", &self.shown(&self.to))
            .finish()
    }
}

/// A task definition as DescribeTaskDefinition returned it, with its tags.
#[derive(Debug, Clone, PartialEq)]
pub struct CurrentRevision {
    /// The definition.
    pub task_definition: TaskDefinition,
    /// Its tags.
    pub tags: Vec<Tag>,
}

impl CurrentRevision {
    /// The ARN (`arn:aws:ecs:…:task-definition/family:revision`).
    pub fn arn(&self) -> &str {
        self.task_definition
            .task_definition_arn()
            .unwrap_or_default()
    }

    /// Names of the containers it defines.
    pub fn container_names(&self) -> Vec<String> {
        self.task_definition
            .container_definitions()
            .iter()
            .filter_map(|c| c.name.clone())
            .collect()
    }

    /// The image of `container`, if it has one.
    pub fn image_of(&self, container: &str) -> Option<&str> {
        self.task_definition
            .container_definitions()
            .iter()
            .find(|c| c.name.as_deref() == Some(container))
            .and_then(|c| c.image.as_deref())
    }
}

/// `DescribeTaskDefinition` with tags.
pub async fn describe(ecs: &aws_sdk_ecs::Client, task_definition: &str) -> Result<CurrentRevision> {
    let out = ecs
        .describe_task_definition()
        .task_definition(task_definition)
        .include(TaskDefinitionField::Tags)
        .send()
        .await
        .map_err(|e| Error::from_sdk("ecs:DescribeTaskDefinition", e))?;
    let task_definition = out.task_definition.ok_or_else(|| {
        Error::incomplete_answer(
            "ecs:DescribeTaskDefinition",
            format!("no task definition returned for {task_definition}"),
        )
    })?;
    Ok(CurrentRevision {
        task_definition,
        tags: out.tags.unwrap_or_default(),
    })
}

/// The revision to register: `current` with `changes` applied.
#[derive(Debug, Clone, PartialEq)]
pub struct NewRevision {
    /// What runs now.
    pub current: CurrentRevision,
    /// The same definition with the changes applied (read-only fields still present; they are
    /// not sent).
    pub desired: TaskDefinition,
    /// What differs; empty when the current revision already has every change.
    pub changes: Vec<FieldChange>,
}

impl NewRevision {
    /// Applies `changes` to `current`. Fails if a container named in `changes` does not exist.
    pub fn plan(current: CurrentRevision, changes: &ContainerChanges) -> Result<NewRevision> {
        let available = current.container_names();
        if let Some(missing) = changes
            .containers()
            .find(|name| !available.iter().any(|a| a == name))
        {
            return Err(Error::ContainerNotFound {
                container: missing.to_owned(),
                task_definition: current.arn().to_owned(),
                available,
            });
        }
        let mut desired = current.task_definition.clone();
        let mut diff = Vec::new();
        for container in desired.container_definitions.iter_mut().flatten() {
            let name = container.name.clone().unwrap_or_default();
            if let Some(image) = changes.images.get(&name)
                && container.image.as_deref() != Some(image.as_str())
            {
                diff.push(FieldChange {
                    container: name.clone(),
                    field: "image".into(),
                    from: container.image.clone(),
                    to: image.clone(),
                });
                container.image = Some(image.clone());
            }
            for (key, value) in changes.env.get(&name).into_iter().flatten() {
                let env = container.environment.get_or_insert_with(Vec::new);
                let existing = env
                    .iter_mut()
                    .find(|kv| kv.name.as_deref() == Some(key.as_str()));
                let from = existing.as_ref().and_then(|kv| kv.value.clone());
                if from.as_deref() == Some(value.as_str()) {
                    continue;
                }
                match existing {
                    Some(kv) => kv.value = Some(value.clone()),
                    None => env.push(KeyValuePair::builder().name(key).value(value).build()),
                }
                diff.push(FieldChange {
                    container: name.clone(),
                    field: format!("env {key}"),
                    from,
                    to: value.clone(),
                });
            }
        }
        Ok(NewRevision {
            current,
            desired,
            changes: diff,
        })
    }

    /// Whether registering would change anything.
    pub fn is_change(&self) -> bool {
        !self.changes.is_empty()
    }

    /// The `RegisterTaskDefinition` call for the desired revision: every registrable field of
    /// the current one, with the changes; read-only fields (ARN, revision, status,
    /// requiresAttributes, compatibilities, registeredAt/By, …) are not sent.
    // inferenceAccelerators is deprecated (Elastic Inference is retired), but a revision that
    // has them keeps them: whether ECS still takes them is for ECS to say, not for a copy to
    // decide silently.
    #[allow(deprecated)]
    pub fn register_request(
        &self,
        ecs: &aws_sdk_ecs::Client,
    ) -> RegisterTaskDefinitionFluentBuilder {
        let td = &self.desired;
        ecs.register_task_definition()
            .set_family(td.family.clone())
            .set_task_role_arn(td.task_role_arn.clone())
            .set_execution_role_arn(td.execution_role_arn.clone())
            .set_network_mode(td.network_mode.clone())
            .set_container_definitions(Some(td.container_definitions().to_vec()))
            .set_volumes(list(td.volumes()))
            .set_placement_constraints(list(td.placement_constraints()))
            .set_requires_compatibilities(list(td.requires_compatibilities()))
            .set_cpu(td.cpu.clone())
            .set_memory(td.memory.clone())
            .set_tags(list(&self.current.tags))
            .set_pid_mode(td.pid_mode.clone())
            .set_ipc_mode(td.ipc_mode.clone())
            .set_proxy_configuration(td.proxy_configuration.clone())
            .set_inference_accelerators(list(td.inference_accelerators()))
            .set_ephemeral_storage(td.ephemeral_storage.clone())
            .set_runtime_platform(td.runtime_platform.clone())
            .set_enable_fault_injection(td.enable_fault_injection)
    }

    /// Registers the desired revision and returns its ARN.
    pub async fn register(&self, ecs: &aws_sdk_ecs::Client) -> Result<String> {
        let out = self
            .register_request(ecs)
            .send()
            .await
            .map_err(|e| Error::from_sdk("ecs:RegisterTaskDefinition", e))?;
        out.task_definition()
            .and_then(|td| td.task_definition_arn())
            .map(str::to_owned)
            .ok_or_else(|| {
                Error::incomplete_answer(
                    "ecs:RegisterTaskDefinition",
                    "the response has no task definition ARN",
                )
            })
    }
}

/// A list field as the request wants it: absent when empty.
fn list<T: Clone>(items: &[T]) -> Option<Vec<T>> {
    (!items.is_empty()).then(|| items.to_vec())
}

#[cfg(test)]
mod every_field;

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ecs::types::ContainerDefinition;

    fn current() -> CurrentRevision {
        let td = TaskDefinition::builder()
            .task_definition_arn("arn:aws:ecs:us-east-1:123456789012:task-definition/hello:7")
            .family("hello")
            .container_definitions(
                ContainerDefinition::builder()
                    .name("hello-ecs")
                    .image("repo:old")
                    .environment(KeyValuePair::builder().name("GREETING").value("hi").build())
                    .build(),
            )
            .container_definitions(
                ContainerDefinition::builder()
                    .name("sidecar")
                    .image("envoy:1")
                    .build(),
            )
            .build();
        CurrentRevision {
            task_definition: td,
            tags: vec![],
        }
    }

    #[test]
    fn swaps_only_the_named_image() {
        let plan = NewRevision::plan(
            current(),
            &ContainerChanges::default().image("hello-ecs", "repo@sha256:new"),
        )
        .unwrap();
        let images: Vec<_> = plan
            .desired
            .container_definitions()
            .iter()
            .map(|c| c.image.clone().unwrap())
            .collect();
        assert_eq!(images, ["repo@sha256:new", "envoy:1"]);
        assert_eq!(plan.changes.len(), 1);
        assert_eq!(
            plan.changes[0].to_string(),
            "container hello-ecs: image: repo:old -> repo@sha256:new"
        );
    }

    #[test]
    fn values_of_secret_looking_env_names_are_masked_in_the_plan() {
        let changes = ContainerChanges::default()
            .env("hello-ecs", "GREETING", "hello there")
            .env("hello-ecs", "Api_Token", "tok-123")
            .env("sidecar", "DB_PASSWORD", "hunter2");
        let plan = NewRevision::plan(current(), &changes).unwrap();
        let shown: Vec<String> = plan.changes.iter().map(|c| c.to_string()).collect();
        assert_eq!(
            shown,
            [
                "container hello-ecs: env Api_Token: (unset) -> ****",
                "container hello-ecs: env GREETING: hi -> hello there",
                "container sidecar: env DB_PASSWORD: (unset) -> ****",
            ]
        );
        let debug = format!("{:?}", plan.changes);
        assert!(
            !debug.contains("tok-123") && !debug.contains("hunter2"),
            "{debug}"
        );
        // The revision itself carries the real values.
        assert_eq!(plan.changes[0].to, "tok-123");
    }

    #[test]
    fn unchanged_images_and_env_mean_nothing_to_register() {
        let same = ContainerChanges::default()
            .image("hello-ecs", "repo:old")
            .env("hello-ecs", "GREETING", "hi");
        assert!(!NewRevision::plan(current(), &same).unwrap().is_change());
        let env_change = ContainerChanges::default()
            .image("hello-ecs", "repo:old")
            .env("hello-ecs", "GREETING", "yo");
        let plan = NewRevision::plan(current(), &env_change).unwrap();
        assert_eq!(plan.changes.len(), 1);
        assert_eq!(plan.changes[0].field, "env GREETING");
        let added = NewRevision::plan(
            current(),
            &ContainerChanges::default().env("sidecar", "X", "1"),
        )
        .unwrap();
        assert_eq!(added.changes[0].from, None);
        let sidecar = &added.desired.container_definitions()[1];
        assert_eq!(sidecar.environment()[0].name(), Some("X"));
    }

    #[test]
    fn unknown_container_lists_the_real_ones() {
        let err = NewRevision::plan(
            current(),
            &ContainerChanges::default().image("hello-server", "x"),
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("\"hello-server\"") && text.contains("hello-ecs, sidecar"),
            "{text}"
        );
    }

    #[test]
    fn env_assignments_are_checked() {
        assert_eq!(
            parse_env_assignment("PORT=not-a-port").unwrap(),
            ("PORT".into(), "not-a-port".into())
        );
        assert_eq!(
            parse_env_assignment("EMPTY=").unwrap(),
            ("EMPTY".into(), String::new())
        );
        assert_eq!(parse_env_assignment("A=b=c").unwrap().1, "b=c");
        for bad in ["NOVALUE", "=x", "1X=y", "BAD-NAME=1"] {
            assert!(parse_env_assignment(bad).is_err(), "{bad}");
        }
    }
}
