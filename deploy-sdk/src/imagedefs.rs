//! `imagedefinitions.json`, the file CodePipeline's "Amazon ECS" deploy action reads:
//! a JSON array of `{"name": CONTAINER, "imageUri": URI}`, at most 100 KB.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// CodePipeline's size limit for the file.
pub const MAX_BYTES: usize = 100 * 1024;

/// One container's image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageDefinition {
    /// Container name in the task definition.
    pub name: String,
    /// Image URI (`repo:tag` or `repo@sha256:…`).
    #[serde(rename = "imageUri")]
    pub image_uri: String,
}

/// Parses the file's text, checking what the ECS action would reject.
pub fn parse(text: &str) -> Result<Vec<ImageDefinition>> {
    let invalid = |problem: String| Error::InvalidInput {
        what: "imagedefinitions.json".into(),
        problem,
    };
    if text.len() > MAX_BYTES {
        return Err(invalid(format!(
            "{} bytes, over CodePipeline's limit of {MAX_BYTES}",
            text.len()
        )));
    }
    let defs: Vec<ImageDefinition> = serde_json::from_str(text).map_err(|e| {
        invalid(format!(
            "{e} (expected [{{\"name\": \"container\", \"imageUri\": \"repo:tag\"}}])"
        ))
    })?;
    if defs.is_empty() {
        return Err(invalid(
            "the array is empty: name at least one container".into(),
        ));
    }
    for (i, d) in defs.iter().enumerate() {
        if d.name.trim().is_empty() || d.image_uri.trim().is_empty() {
            return Err(invalid(format!("entry {i} has an empty name or imageUri")));
        }
        if defs[..i].iter().any(|earlier| earlier.name == d.name) {
            return Err(invalid(format!("container {:?} is listed twice", d.name)));
        }
    }
    Ok(defs)
}

/// Reads and parses the file at `path`.
pub fn read(path: &Path) -> Result<Vec<ImageDefinition>> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.display().to_string(),
        source,
    })?;
    parse(&text)
}

/// The file's text for `definitions`.
pub fn to_json(definitions: &[ImageDefinition]) -> String {
    // Serialising plain strings cannot fail.
    serde_json::to_string_pretty(definitions).unwrap_or_default()
}

/// Writes the file at `path`.
pub fn write(path: &Path, definitions: &[ImageDefinition]) -> Result<()> {
    std::fs::write(path, to_json(definitions) + "\n").map_err(|source| Error::Io {
        path: path.display().to_string(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let defs = vec![ImageDefinition {
            name: "hello-ecs".into(),
            image_uri: "repo@sha256:abc".into(),
        }];
        let text = to_json(&defs);
        assert!(text.contains("\"imageUri\""), "{text}");
        assert_eq!(parse(&text).unwrap(), defs);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("imagedefinitions.json");
        write(&path, &defs).unwrap();
        assert_eq!(read(&path).unwrap(), defs);
    }

    #[test]
    fn rejects_what_codepipeline_rejects() {
        for (text, needle) in [
            ("{}", "expected ["),
            ("[]", "empty"),
            (r#"[{"name": "a"}]"#, "imageUri"),
            (r#"[{"name": "", "imageUri": "x"}]"#, "empty name"),
            (
                r#"[{"name": "a", "imageUri": "x"}, {"name": "a", "imageUri": "y"}]"#,
                "twice",
            ),
        ] {
            let err = parse(text).unwrap_err().to_string();
            assert!(err.contains(needle), "{text}: {err}");
        }
        let huge = format!(
            r#"[{{"name": "a", "imageUri": "{}"}}]"#,
            "x".repeat(MAX_BYTES)
        );
        assert!(parse(&huge).unwrap_err().to_string().contains("limit"));
    }
}
