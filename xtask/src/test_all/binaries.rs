//! The test binaries `cargo test --workspace --no-run` built, read from cargo's JSON messages.

use std::path::{Path, PathBuf};

/// One test binary, and how `cargo test` would run it.
#[derive(Debug, Clone, PartialEq)]
pub struct TestBinary {
    /// `<package dir>/<test target>` for integration tests, `<package dir> unit` for a
    /// library's or binary's own tests.
    pub label: String,
    pub executable: PathBuf,
    /// The package's directory: cargo runs a test binary there.
    pub package_dir: PathBuf,
    /// An end-to-end test (the `tests` package): it deploys hello-service's local image.
    pub deploys: bool,
}

/// The package whose tests deploy for real (`cargo xtask deploy --local`).
const END_TO_END_PACKAGE_DIR: &str = "tests";

/// The test binaries among cargo's `--message-format=json` lines, in the order cargo built
/// them; lines that are not JSON (or not a test artifact) are skipped.
pub fn from_cargo_messages(stdout: &str) -> Vec<TestBinary> {
    stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter_map(|msg| test_binary(&msg))
        .collect()
}

fn test_binary(msg: &serde_json::Value) -> Option<TestBinary> {
    if msg["reason"] != "compiler-artifact" || msg["profile"]["test"] != true {
        return None;
    }
    let executable = PathBuf::from(msg["executable"].as_str()?);
    let package_dir = Path::new(msg["manifest_path"].as_str()?)
        .parent()?
        .to_path_buf();
    let dir_name = package_dir.file_name()?.to_string_lossy().into_owned();
    let target = msg["target"]["name"].as_str()?;
    let integration = msg["target"]["kind"]
        .as_array()
        .is_some_and(|kinds| kinds.iter().any(|k| k == "test"));
    let label = if integration {
        format!("{dir_name}/{target}")
    } else if msg["target"]["kind"]
        .as_array()
        .is_some_and(|kinds| kinds.iter().any(|k| k == "bin"))
    {
        format!("{dir_name} bin {target}")
    } else {
        format!("{dir_name} unit")
    };
    Some(TestBinary {
        label,
        executable,
        package_dir,
        deploys: integration && dir_name == END_TO_END_PACKAGE_DIR,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn artifact(kind: &str, name: &str, dir: &str, test: bool, exe: Option<&str>) -> String {
        serde_json::json!({
            "reason": "compiler-artifact",
            "manifest_path": format!("/w/{dir}/Cargo.toml"),
            "target": {"name": name, "kind": [kind]},
            "profile": {"test": test},
            "executable": exe,
        })
        .to_string()
    }

    #[test]
    fn test_artifacts_become_labelled_binaries_and_the_rest_is_skipped() {
        let lines = [
            artifact("lib", "serde", "serde", false, None),
            "   Compiling something (not JSON)".to_owned(),
            artifact(
                "lib",
                "deploy_sdk",
                "deploy-sdk",
                true,
                Some("/t/deploy_sdk-1"),
            ),
            artifact("test", "it", "local-ecs", true, Some("/t/it-2")),
            artifact(
                "bin",
                "local-ecs",
                "local-ecs",
                true,
                Some("/t/local_ecs-3"),
            ),
            artifact("bin", "local-ecs", "local-ecs", false, Some("/t/local-ecs")),
            artifact(
                "test",
                "deploy_local",
                "tests",
                true,
                Some("/t/deploy_local-4"),
            ),
            serde_json::json!({"reason": "build-finished", "success": true}).to_string(),
        ]
        .join("\n");
        let found = from_cargo_messages(&lines);
        let labels: Vec<_> = found.iter().map(|b| b.label.as_str()).collect();
        assert_eq!(
            labels,
            [
                "deploy-sdk unit",
                "local-ecs/it",
                "local-ecs bin local-ecs",
                "tests/deploy_local"
            ]
        );
        let deploys: Vec<_> = found.iter().map(|b| b.deploys).collect();
        assert_eq!(deploys, [false, false, false, true]);
        assert_eq!(found[1].package_dir, Path::new("/w/local-ecs"));
        assert_eq!(found[1].executable, Path::new("/t/it-2"));
    }
}
