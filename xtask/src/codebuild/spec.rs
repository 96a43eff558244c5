//! `buildspec.yml`, version 0.2: the parts CodeBuild runs (`env.shell`, `env.variables`, the
//! four phases with `commands`, `finally` and `on-failure`, `artifacts.files`). Keys this
//! runner does not act on (`cache`, `reports`, `runtime-versions`, …) are accepted and left
//! alone, as a build on AWS would use them.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_norway::Value;

/// The phases, in the order CodeBuild runs them.
pub const PHASES: [&str; 4] = ["install", "pre_build", "build", "post_build"];

/// A parsed buildspec.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Buildspec {
    /// `env.shell`: `bash` or `sh` (CodeBuild's default on Linux).
    pub shell: Shell,
    /// `env.variables`, in file order.
    pub variables: Vec<(String, String)>,
    /// Each phase present, by name.
    pub phases: BTreeMap<String, Phase>,
    /// `artifacts.files`: paths or globs relative to the source directory.
    pub artifact_files: Vec<String>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub enum Shell {
    #[default]
    Sh,
    Bash,
}

/// What a failed command does to the rest of the build.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub enum OnFailure {
    /// End the build (a failed `build` still runs `post_build`).
    #[default]
    Abort,
    /// Go on with the next phase; the build still fails.
    Continue,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Phase {
    pub commands: Vec<String>,
    /// Run after `commands`, whether they failed or not.
    pub finally: Vec<String>,
    pub on_failure: OnFailure,
}

#[derive(Deserialize)]
struct RawSpec {
    version: Value,
    #[serde(default)]
    env: RawEnv,
    #[serde(default)]
    phases: BTreeMap<String, RawPhase>,
    #[serde(default)]
    artifacts: RawArtifacts,
}

#[derive(Default, Deserialize)]
struct RawEnv {
    shell: Option<String>,
    #[serde(default)]
    variables: serde_norway::Mapping,
}

#[derive(Default, Deserialize)]
struct RawPhase {
    #[serde(default)]
    commands: Vec<String>,
    #[serde(default)]
    finally: Vec<String>,
    #[serde(rename = "on-failure")]
    on_failure: Option<String>,
}

#[derive(Default, Deserialize)]
struct RawArtifacts {
    #[serde(default)]
    files: Vec<String>,
}

/// Parses a buildspec, refusing what CodeBuild would refuse (another version, an unknown
/// phase, shell or on-failure value) with a message naming it.
pub fn parse(text: &str) -> Result<Buildspec, String> {
    let raw: RawSpec = serde_norway::from_str(text).map_err(|e| e.to_string())?;
    let version = scalar(&raw.version).unwrap_or_default();
    if version != "0.2" {
        return Err(format!(
            "version {version:?}: only buildspec version 0.2 is run"
        ));
    }
    let shell = match raw.env.shell.as_deref() {
        None | Some("sh") | Some("/bin/sh") => Shell::Sh,
        Some("bash") | Some("/bin/bash") => Shell::Bash,
        Some(other) => return Err(format!("env.shell {other:?}: expected bash or sh")),
    };
    let mut variables = Vec::new();
    for (key, value) in &raw.env.variables {
        let (Some(key), Some(value)) = (scalar(key), scalar(value)) else {
            return Err("env.variables: every name and value must be a scalar".into());
        };
        variables.push((key, value));
    }
    let mut phases = BTreeMap::new();
    for (name, raw) in raw.phases {
        if !PHASES.contains(&name.as_str()) {
            return Err(format!("phases.{name}: expected one of {PHASES:?}"));
        }
        let on_failure = match raw.on_failure.as_deref() {
            None | Some("ABORT") => OnFailure::Abort,
            Some("CONTINUE") => OnFailure::Continue,
            Some(other) => {
                return Err(format!(
                    "phases.{name}.on-failure {other:?}: expected ABORT or CONTINUE"
                ));
            }
        };
        let phase = Phase {
            commands: raw.commands,
            finally: raw.finally,
            on_failure,
        };
        phases.insert(name, phase);
    }
    Ok(Buildspec {
        shell,
        variables,
        phases,
        artifact_files: raw.artifacts.files,
    })
}

/// A YAML scalar as the text CodeBuild would export (`0.2` → "0.2", `true` → "true").
fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_parts_codebuild_runs_are_read() {
        let spec = parse(
            "version: 0.2\nenv:\n  shell: bash\n  variables:\n    B: two\n    A: 1\nphases:\n  build:\n    on-failure: CONTINUE\n    commands:\n      - echo hi\n    finally:\n      - echo bye\nartifacts:\n  files:\n    - out.json\ncache:\n  paths:\n    - target/**/*\n",
        )
        .unwrap();
        assert_eq!(spec.shell, Shell::Bash);
        assert_eq!(
            spec.variables,
            [("B".into(), "two".into()), ("A".into(), "1".into())]
        );
        let build = &spec.phases["build"];
        assert_eq!(build.commands, ["echo hi"]);
        assert_eq!(build.finally, ["echo bye"]);
        assert_eq!(build.on_failure, OnFailure::Continue);
        assert_eq!(spec.artifact_files, ["out.json"]);
    }

    #[test]
    fn what_codebuild_refuses_is_named() {
        for (text, says) in [
            ("version: 0.1\n", "version"),
            (
                "version: 0.2\nphases:\n  deploy:\n    commands: [x]\n",
                "phases.deploy",
            ),
            ("version: 0.2\nenv:\n  shell: zsh\n", "zsh"),
            (
                "version: 0.2\nphases:\n  build:\n    on-failure: RETRY-9\n",
                "on-failure",
            ),
            ("version: [0.2\n", ""),
        ] {
            let err = parse(text).unwrap_err();
            assert!(err.contains(says), "{text}: {err}");
        }
    }

    #[test]
    fn the_repository_buildspec_parses() {
        let text =
            std::fs::read_to_string(crate::util::project_root().join("buildspec.yml")).unwrap();
        let spec = parse(&text).unwrap();
        assert_eq!(spec.shell, Shell::Bash);
        assert!(spec.phases.contains_key("build"));
        assert_eq!(spec.artifact_files, ["imagedefinitions.json"]);
    }
}
