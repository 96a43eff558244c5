//! The pipeline path end to end on local-ecs: the repository's real `buildspec.yml` run by
//! `cargo xtask codebuild --local` (no Docker; the `local-deploy` profile, as the other e2e
//! tests build), `imagedefinitions.json` deployed by `cargo xtask deploy --image-definitions`
//! and answered through the load balancer, bad files refused before anything is registered,
//! and `cargo xtask pipeline --local` chaining them. One stack for the whole file.

use std::path::Path;
use std::process::Command;

use tests::{LocalStack, Run, greeting_at, root, with_stack};

/// The pipeline tests push to a repository of their own, so the first build of the commit is
/// a real one (the stack's bootstrap deploy may already have tagged the commit in the default
/// repository).
const REPOSITORY: &str = "hello-codebuild-e2e";

fn short_sha() -> String {
    let out = Command::new("git")
        .current_dir(root())
        .args(["rev-parse", "--short=7", "HEAD"])
        .output()
        .expect("git");
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .trim()
        .to_owned()
}

fn codebuild(stack: &LocalStack, out: &Path, extra: &[&str]) -> Run {
    let mut args = vec![
        "codebuild",
        "--local",
        "--repository",
        REPOSITORY,
        "--out",
        out.to_str().expect("utf-8 path"),
    ];
    args.extend_from_slice(extra);
    stack.xtask(&args)
}

/// The digest the tag holds in the pipeline's repository, if any.
fn tagged(stack: &LocalStack, tag: &str) -> Option<String> {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let clients = stack.clients().await;
        let selector = deploy_sdk::ecr::ImageSelector::Tag(tag.to_owned());
        deploy_sdk::ecr::image_digest(&clients.ecr, REPOSITORY, &selector)
            .await
            .expect("DescribeImages")
    })
}

/// The ACTIVE revisions of the service's family.
fn revisions(stack: &LocalStack) -> Vec<String> {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        stack
            .ecs()
            .await
            .list_task_definitions()
            .family_prefix("hello-ecs")
            .send()
            .await
            .expect("ListTaskDefinitions")
            .task_definition_arns()
            .to_vec()
    })
}

/// Builds the commit (or finds it built) and returns the artifacts directory.
fn build_commit(stack: &LocalStack, dir: &Path) -> Run {
    let started = std::time::Instant::now();
    let run = codebuild(stack, dir, &[]);
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    eprintln!("codebuild took {:?}:\n{}", started.elapsed(), run.stderr);
    run
}

#[test]
fn the_buildspec_pushes_the_commit_once_and_a_second_run_skips_the_build() {
    with_stack(|stack| {
        let sha = short_sha();
        let dir = tempfile::tempdir().expect("tempdir");
        let first = build_commit(stack, dir.path());
        for phase in ["INSTALL", "PRE_BUILD", "BUILD", "POST_BUILD"] {
            assert!(
                first
                    .stdout
                    .contains(&format!("codebuild: phase {phase} SUCCEEDED in ")),
                "{phase}:\n{}",
                first.stdout
            );
        }
        let digest = tagged(stack, &sha).expect("the commit's tag is in ECR after the build");
        let definitions = std::fs::read_to_string(dir.path().join("imagedefinitions.json"))
            .expect("imagedefinitions.json in the output directory");
        let parsed: serde_json::Value = serde_json::from_str(&definitions).expect("JSON");
        assert_eq!(parsed[0]["name"], "hello-ecs", "{definitions}");
        let uri = parsed[0]["imageUri"].as_str().expect("imageUri");
        assert!(uri.ends_with(&format!("/{REPOSITORY}:{sha}")), "{uri}");

        let second = build_commit(stack, dir.path());
        assert!(
            second.stdout.contains("is already in ECR") && second.stdout.contains("not rebuilt"),
            "{}",
            second.stdout
        );
        assert!(
            !second.stdout.lines().any(|l| l.starts_with("pushed ")),
            "{}",
            second.stdout
        );
        assert_eq!(tagged(stack, &sha).as_deref(), Some(digest.as_str()));
    });
}

#[test]
fn a_failing_build_command_pushes_nothing_and_fails() {
    with_stack(|stack| {
        let dir = tempfile::tempdir().expect("tempdir");
        let spec = std::fs::read_to_string(root().join("buildspec.yml")).expect("buildspec");
        // A failing command before the image is built and pushed, tagged so the test can tell.
        let failing = spec.replacen(
            "      - cargo xtask image --ecr",
            "      - echo failing on purpose && false\n      - cargo xtask image --ecr",
            1,
        );
        assert_ne!(failing, spec, "the buildspec's build command moved");
        let failing = failing.replace(
            "$REPOSITORY_URI:$IMAGE_TAG",
            "$REPOSITORY_URI:failed-$IMAGE_TAG",
        );
        let path = dir.path().join("buildspec.yml");
        std::fs::write(&path, failing).expect("write buildspec");
        let out = dir.path().join("out");
        let run = codebuild(stack, &out, &["--buildspec", path.to_str().expect("utf-8")]);
        assert_eq!(run.code, Some(1), "{}\n{}", run.stdout, run.stderr);
        assert!(
            run.stdout.contains("codebuild: phase BUILD FAILED"),
            "{}",
            run.stdout
        );
        assert!(
            run.stdout.contains("codebuild: phase POST_BUILD FAILED"),
            "{}",
            run.stdout
        );
        assert!(run.stderr.contains("nothing is pushed"), "{}", run.stderr);
        assert_eq!(tagged(stack, &format!("failed-{}", short_sha())), None);
        assert!(!out.join("imagedefinitions.json").exists());
    });
}

#[test]
fn image_definitions_deploy_and_the_new_build_answers_through_the_load_balancer() {
    with_stack(|stack| {
        let dir = tempfile::tempdir().expect("tempdir");
        build_commit(stack, dir.path());
        let file = dir.path().join("imagedefinitions.json");
        let run = stack.deploy(&[
            "--image-definitions",
            file.to_str().expect("utf-8"),
            "--env",
            "GREETING=from-the-pipeline",
        ]);
        assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
        let report = run.report();
        assert_eq!(report["outcome"], "deployed", "{report:#}");
        assert_eq!(report["registered_new_revision"], true, "{report:#}");
        let stages: Vec<&str> = report["stages"]
            .as_array()
            .expect("stages")
            .iter()
            .filter_map(|s| s["name"].as_str())
            .collect();
        assert_eq!(
            stages,
            ["roll", "verify"],
            "no build, image or push: {report:#}"
        );
        assert!(report["verify"].is_object(), "{report:#}");
        let url = report["url"].as_str().expect("url");
        assert_eq!(greeting_at(url), "from-the-pipeline");
    });
}

#[test]
fn bad_image_definitions_exit_2_and_register_nothing() {
    with_stack(|stack| {
        let up = stack.xtask(&["local", "up"]);
        assert_eq!(up.code, Some(0), "{}\n{}", up.stdout, up.stderr);
        let before = revisions(stack);
        let dir = tempfile::tempdir().expect("tempdir");
        let image = format!("127.0.0.1:1/{REPOSITORY}:{}", short_sha());
        let oversized = format!(
            r#"[{{"name":"hello-ecs","imageUri":"{image}","padding":"{}"}}]"#,
            "x".repeat(100 * 1024)
        );
        for (name, text, says) in [
            (
                "malformed",
                "[{\"name\": \"hello-ecs\",".to_owned(),
                "expected",
            ),
            ("oversized", oversized, "limit"),
            (
                "unknown-container",
                format!(r#"[{{"name":"no-such-container","imageUri":"{image}"}}]"#),
                "no-such-container",
            ),
        ] {
            let file = dir.path().join(format!("{name}.json"));
            std::fs::write(&file, text).expect("write");
            let run = stack.deploy(&["--image-definitions", file.to_str().expect("utf-8")]);
            assert_eq!(run.code, Some(2), "{name}: {}\n{}", run.stdout, run.stderr);
            assert!(
                run.report()["error"]
                    .as_str()
                    .is_some_and(|e| e.contains(says)),
                "{name}: {}",
                run.stdout
            );
        }
        assert_eq!(revisions(stack), before, "a bad file registered a revision");
    });
}

#[test]
fn the_local_pipeline_builds_deploys_and_times_its_stages() {
    with_stack(|stack| {
        let run = stack.xtask(&[
            "pipeline",
            "--local",
            "--repository",
            REPOSITORY,
            "--output",
            "json",
        ]);
        assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
        let report = run.report();
        let stages: Vec<&str> = report["stages"]
            .as_array()
            .expect("stages")
            .iter()
            .filter_map(|s| s["name"].as_str())
            .collect();
        assert_eq!(stages, ["source", "build", "deploy"], "{report:#}");
        assert!(report["deploy"]["verify"].is_object(), "{report:#}");
        assert!(
            report["deploy"]["image"]["uri"]
                .as_str()
                .is_some_and(|u| u.ends_with(&format!("/{REPOSITORY}:{}", short_sha()))),
            "{report:#}"
        );
        assert!(
            matches!(report["outcome"].as_str(), Some("deployed" | "unchanged")),
            "{report:#}"
        );
    });
}
