//! `--image-definitions FILE`: deploy CodePipeline's `imagedefinitions.json` as its "Amazon
//! ECS" deploy action does — the current task definition cloned with each named container's
//! image swapped — then roll, watch, verify and roll back as any deploy. The file is checked
//! here, before anything connects; its container names are checked by the preflight's plan
//! (an unknown one is `ContainerNotFound`, exit 2), before anything is registered.

use std::io::Read;
use std::path::Path;

use anyhow::Result;
use deploy_sdk::imagedefs::{self, ImageDefinition, MAX_BYTES};
use deploy_sdk::registry::ImageRef;

use super::context::{Deploy, ImageToDeploy};
use super::report::ImageReport;
use crate::failure::Failure;

/// Reads and checks the file: at most 100 KB, a JSON array of `{"name", "imageUri"}`, each
/// image a valid reference. Every problem is a usage error (exit 2) naming the file.
pub fn read(path: &Path) -> Result<Vec<ImageDefinition>> {
    let problem = |what: String| Failure::usage(format!("{}: {what}", path.display()));
    let file = std::fs::File::open(path).map_err(|e| problem(format!("cannot open it: {e}")))?;
    // Read one byte past the limit, so a huge file is refused without reading it whole.
    let mut text = String::new();
    file.take(MAX_BYTES as u64 + 1)
        .read_to_string(&mut text)
        .map_err(|e| problem(format!("cannot read it as UTF-8 text: {e}")))?;
    if text.len() > MAX_BYTES {
        return Err(problem(format!(
            "over CodePipeline's limit of {MAX_BYTES} bytes for imagedefinitions.json"
        ))
        .into());
    }
    let definitions = imagedefs::parse(&text).map_err(|e| problem(e.to_string()))?;
    for definition in &definitions {
        ImageRef::parse(&definition.image_uri).map_err(|e| {
            problem(format!(
                "container {:?}: imageUri {:?} is not an image reference: {e}",
                definition.name, definition.image_uri
            ))
        })?;
    }
    Ok(definitions)
}

impl Deploy<'_> {
    /// The image of the configured container, from the file (the build id to verify is its
    /// tag); without it, the first definition's, and no version to recognise.
    pub fn image_from_definitions(&mut self, definitions: &[ImageDefinition]) -> ImageToDeploy {
        let ours = definitions
            .iter()
            .find(|d| d.name == self.settings.container);
        let shown: Vec<String> = definitions
            .iter()
            .map(|d| format!("{}={}", d.name, d.image_uri))
            .collect();
        self.say(&format!(
            "image definitions: {} (no build)",
            shown.join(", ")
        ));
        let uri = ours.unwrap_or(&definitions[0]).image_uri.clone();
        self.report.image = Some(ImageReport {
            uri: uri.clone(),
            ..ImageReport::default()
        });
        let version = ours
            .and_then(|d| ImageRef::parse(&d.image_uri).ok())
            .and_then(|image| image.tag);
        ImageToDeploy { uri, version }
    }
}

/// A service that does not exist yet (local only) is created from the configured container's
/// image: the file may name only that container.
pub fn check_for_new_service(definitions: &[ImageDefinition], container: &str) -> Result<()> {
    match definitions.iter().find(|d| d.name != container) {
        Some(other) => Err(Failure::usage(format!(
            "imagedefinitions.json names container {:?}, but the service does not exist yet and its first task definition has only {container:?}",
            other.name
        ))
        .into()),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_text(text: &str) -> Result<Vec<ImageDefinition>> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("imagedefinitions.json");
        std::fs::write(&path, text)?;
        read(&path)
    }

    fn usage_message(result: Result<Vec<ImageDefinition>>) -> String {
        let err = result.expect_err("should be refused");
        assert_eq!(crate::failure::exit_code(&err), crate::failure::USAGE);
        format!("{err:#}")
    }

    #[test]
    fn a_valid_file_is_read() {
        let defs = read_text(r#"[{"name":"hello-ecs","imageUri":"127.0.0.1:5000/hello:abc1234"}]"#)
            .unwrap();
        assert_eq!(defs[0].name, "hello-ecs");
    }

    #[test]
    fn malformed_oversized_and_bad_references_are_usage_errors() {
        let says = usage_message(read_text("{not json"));
        assert!(says.contains("expected ["), "{says}");
        let says = usage_message(read_text(&format!(
            r#"[{{"name":"a","imageUri":"r:{}"}}]"#,
            "x".repeat(MAX_BYTES)
        )));
        assert!(says.contains("limit of"), "{says}");
        let says = usage_message(read_text(r#"[{"name":"a","imageUri":"Not A Reference"}]"#));
        assert!(says.contains("not an image reference"), "{says}");
        let says = usage_message(read(Path::new("/nonexistent/imagedefinitions.json")));
        assert!(says.contains("cannot open"), "{says}");
    }

    #[test]
    fn a_new_service_takes_only_the_configured_container() {
        let defs = |name: &str| {
            vec![ImageDefinition {
                name: name.into(),
                image_uri: "r:t".into(),
            }]
        };
        assert!(check_for_new_service(&defs("hello-ecs"), "hello-ecs").is_ok());
        assert!(check_for_new_service(&defs("sidecar"), "hello-ecs").is_err());
    }
}
