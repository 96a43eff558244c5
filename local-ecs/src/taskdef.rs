//! What tasks are made of: the container definitions of a registered task definition, read
//! once from the stored document with ECS's defaults. The scheduler makes task records from
//! them; the runner starts their processes.

use serde_json::Value;

use crate::protocol::json::Input;
use crate::state::TaskDefinition;

/// One container definition.
#[derive(Debug, Clone)]
pub struct ContainerDef {
    /// The definition as registered (environment, entryPoint, command, ...).
    pub def: Value,
    /// `name`.
    pub name: String,
    /// `image`.
    pub image: String,
    /// `essential` (default true): the task stops when it exits.
    pub essential: bool,
    /// The first port mapping's `containerPort`.
    pub container_port: Option<u16>,
    /// `healthCheck.command`, unless absent or `NONE`.
    pub health_check: Option<Vec<String>>,
}

/// The container definitions of a task definition, in order.
pub fn containers(td: &TaskDefinition) -> Vec<ContainerDef> {
    td.body
        .list("containerDefinitions")
        .unwrap_or(&[])
        .iter()
        .map(|def| ContainerDef {
            def: def.clone(),
            name: def.opt_str("name").ok().flatten().unwrap_or("").to_owned(),
            image: def.opt_str("image").ok().flatten().unwrap_or("").to_owned(),
            essential: def.opt_bool("essential").ok().flatten().unwrap_or(true),
            container_port: first_container_port(def),
            health_check: health_check_command(def),
        })
        .collect()
}

fn first_container_port(def: &Value) -> Option<u16> {
    def.list("portMappings")
        .ok()?
        .first()?
        .opt_i64("containerPort")
        .ok()
        .flatten()
        .and_then(|p| u16::try_from(p).ok())
}

/// `healthCheck.command` of a container definition, unless absent or `NONE`.
pub fn health_check_command(def: &Value) -> Option<Vec<String>> {
    let command: Vec<String> = def
        .get("healthCheck")?
        .str_list("command")
        .ok()?
        .into_iter()
        .map(str::to_owned)
        .collect();
    match command.first().map(String::as_str) {
        Some("CMD") | Some("CMD-SHELL") => Some(command),
        _ => None,
    }
}
