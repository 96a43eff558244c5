//! `cargo xtask lint`: the infrastructure linters, pinned and installed by the task itself.
//!
//! cfn-lint on every CloudFormation template in `infra/`, checkov on those templates and the
//! Dockerfile, hadolint on the Dockerfile. They come from PyPI (versions pinned in
//! `xtask/lint-requirements.txt`) into a virtualenv under `target/`, created on first use and
//! reused while the pins are unchanged.

use std::ffi::OsStr;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Args;
use serde_json::Value;

use crate::out::{errln, outln};
use crate::util::{self, project_root};

#[derive(Debug, Args)]
pub struct LintArgs {
    /// The virtualenv holding the linters; created and filled when missing or out of date.
    #[arg(long, value_name = "DIR", default_value = "target/lint-venv")]
    venv: PathBuf,
}

/// Pinned linter versions, one `name==version` a line.
const REQUIREMENTS: &str = "xtask/lint-requirements.txt";
/// A copy of the requirements the venv was last filled from: equal means nothing to install.
const INSTALLED_STAMP: &str = "xtask-lint-requirements.txt";
/// The console scripts the requirements install; all must be present to reuse a venv.
const TOOLS: [&str; 3] = ["cfn-lint", "checkov", "hadolint"];

/// What one linter said.
struct Outcome {
    tool: &'static str,
    passed: bool,
    /// One line: what was checked and the counts.
    summary: String,
    /// The findings to show when it failed.
    findings: String,
    seconds: f64,
}

pub fn run(args: LintArgs) -> Result<()> {
    let root = project_root();
    let venv = root.join(&args.venv);
    let bin = ensure_venv(&root, &venv)?;

    let templates = templates(&root.join("infra"))?;
    let dockerfile = root.join("Dockerfile");
    if !dockerfile.is_file() {
        bail!("no Dockerfile at {}", dockerfile.display());
    }

    let outcomes = [
        cfn_lint(&bin, &root, &templates)?,
        checkov(&bin, &root, &templates, &dockerfile)?,
        hadolint(&bin, &root, &dockerfile)?,
    ];
    for o in &outcomes {
        outln!(
            "{:<9} {:<6} {} ({:.1} s)",
            o.tool,
            if o.passed { "ok" } else { "FAILED" },
            o.summary,
            o.seconds
        );
    }
    let failed: Vec<&Outcome> = outcomes.iter().filter(|o| !o.passed).collect();
    if failed.is_empty() {
        return Ok(());
    }
    for o in &failed {
        outln!("\n== {} findings\n{}", o.tool, o.findings.trim_end());
    }
    let names: Vec<&str> = failed.iter().map(|o| o.tool).collect();
    bail!("lint failed: {}", names.join(", "))
}

/// Creates the venv if needed and installs the pinned linters unless they already are;
/// returns its `bin` directory.
fn ensure_venv(root: &Path, venv: &Path) -> Result<PathBuf> {
    let requirements_path = root.join(REQUIREMENTS);
    let requirements = std::fs::read_to_string(&requirements_path)
        .with_context(|| format!("read {}", requirements_path.display()))?;
    let bin = venv.join("bin");
    let stamp = venv.join(INSTALLED_STAMP);
    let up_to_date = std::fs::read_to_string(&stamp).is_ok_and(|s| s == requirements)
        && TOOLS.iter().all(|t| bin.join(t).is_file());
    if up_to_date {
        errln!("linters: {} (pinned versions present)", venv.display());
        return Ok(bin);
    }

    let started = Instant::now();
    if !bin.join("python").is_file() {
        util::run(Command::new("python3").args(["-m", "venv"]).arg(venv)).context(
            "cannot create the linters' virtualenv: install Python 3 with venv \
             (Debian: apt-get install python3-venv) and re-run",
        )?;
    }
    // The stamp goes only after a complete install, so an interrupted one is redone.
    let _ = std::fs::remove_file(&stamp);
    util::run(
        Command::new(bin.join("python"))
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .args(["--no-input", "--requirement"])
            .arg(&requirements_path),
    )
    .with_context(|| {
        format!(
            "cannot install the linters from PyPI; if {} is broken, delete it and re-run",
            venv.display()
        )
    })?;
    for tool in TOOLS {
        if !bin.join(tool).is_file() {
            bail!(
                "{} installed without {tool}: {REQUIREMENTS} must provide {}",
                venv.display(),
                TOOLS.join(", ")
            );
        }
    }
    std::fs::write(&stamp, &requirements).with_context(|| format!("write {}", stamp.display()))?;
    errln!(
        "linters: installed into {} in {:.0} s",
        venv.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(bin)
}

/// Every CloudFormation template in `infra/`, sorted.
fn templates(infra: &Path) -> Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(infra).with_context(|| format!("read {}", infra.display()))?;
    let mut templates: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && matches!(
                    p.extension().and_then(OsStr::to_str),
                    Some("yaml" | "yml" | "json")
                )
        })
        .collect();
    templates.sort();
    if templates.is_empty() {
        bail!(
            "no CloudFormation templates (*.yaml, *.yml, *.json) in {}",
            infra.display()
        );
    }
    Ok(templates)
}

/// Runs `cmd` in the workspace root; (exit success, stdout, stderr, seconds).
fn capture(cmd: &mut Command, root: &Path) -> Result<(bool, String, String, f64)> {
    let started = Instant::now();
    let out = cmd
        .current_dir(root)
        .output()
        .with_context(|| format!("cannot start {:?}", cmd.get_program()))?;
    Ok((
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        started.elapsed().as_secs_f64(),
    ))
}

fn relative<'a>(root: &Path, path: &'a Path) -> &'a Path {
    path.strip_prefix(root).unwrap_or(path)
}

/// Errors and warnings both fail: the templates are kept at zero findings.
fn cfn_lint(bin: &Path, root: &Path, templates: &[PathBuf]) -> Result<Outcome> {
    let mut cmd = Command::new(bin.join("cfn-lint"));
    cmd.args(["--format", "parseable", "--"]);
    cmd.args(templates.iter().map(|t| relative(root, t)));
    let (success, stdout, stderr, seconds) = capture(&mut cmd, root)?;
    let findings = stdout.lines().filter(|l| !l.trim().is_empty()).count();
    Ok(Outcome {
        tool: "cfn-lint",
        passed: success && findings == 0,
        summary: format!("{} templates, {findings} findings", templates.len()),
        findings: format!("{stdout}{stderr}"),
        seconds,
    })
}

/// Fails on a failed check, on a file checkov could not parse (it would otherwise pass
/// silently), and on a skipped check without a reason.
fn checkov(bin: &Path, root: &Path, templates: &[PathBuf], dockerfile: &Path) -> Result<Outcome> {
    let mut cmd = Command::new(bin.join("checkov"));
    for file in templates.iter().map(PathBuf::as_path).chain([dockerfile]) {
        cmd.arg("--file").arg(relative(root, file));
    }
    // --skip-download: no calls to the vendor's platform (no API key is used anyway).
    cmd.args(["--framework", "cloudformation", "dockerfile"])
        .args(["--output", "json", "--compact", "--skip-download"]);
    let (success, stdout, stderr, seconds) = capture(&mut cmd, root)?;
    let json: Value = match serde_json::from_str(&stdout) {
        Ok(json) => json,
        Err(err) => {
            return Ok(Outcome {
                tool: "checkov",
                passed: false,
                summary: format!("unreadable output ({err})"),
                findings: format!("{stdout}{stderr}"),
                seconds,
            });
        }
    };
    let report = CheckovReport::from_json(&json);
    let passed = success
        && report.failed == 0
        && report.parsing_errors == 0
        && report.skipped_without_reason.is_empty()
        && report.frameworks.len() == 2;
    let mut findings = report.details.clone();
    for check in &report.skipped_without_reason {
        let _ = writeln!(
            findings,
            "{check}: skipped without a reason; give one (CloudFormation `Metadata: checkov: skip: [{{id, comment}}]`, Dockerfile `# checkov:skip=ID: reason`)"
        );
    }
    if report.frameworks.len() != 2 {
        let _ = writeln!(
            findings,
            "expected reports for cloudformation and dockerfile, got: {:?}\n{stderr}",
            report.frameworks
        );
    }
    Ok(Outcome {
        tool: "checkov",
        passed,
        summary: format!(
            "{} templates + Dockerfile: {} passed, {} failed, {} skipped with reasons, {} parsing errors",
            templates.len(),
            report.passed,
            report.failed,
            report.skipped - report.skipped_without_reason.len(),
            report.parsing_errors
        ),
        findings,
        seconds,
    })
}

/// Counts and failed checks across checkov's per-framework reports.
#[derive(Debug, Default)]
struct CheckovReport {
    frameworks: Vec<String>,
    passed: u64,
    failed: u64,
    skipped: usize,
    parsing_errors: u64,
    skipped_without_reason: Vec<String>,
    /// One entry per failed check or unparsable file.
    details: String,
}

impl CheckovReport {
    /// checkov prints one report object per framework (a list when there are several).
    fn from_json(json: &Value) -> Self {
        let reports = match json {
            Value::Array(reports) => reports.iter().collect(),
            report => vec![report],
        };
        let mut out = CheckovReport::default();
        for report in reports {
            if let Some(kind) = report["check_type"].as_str() {
                out.frameworks.push(kind.to_owned());
            }
            let summary = &report["summary"];
            out.passed += summary["passed"].as_u64().unwrap_or(0);
            out.failed += summary["failed"].as_u64().unwrap_or(0);
            out.parsing_errors += summary["parsing_errors"].as_u64().unwrap_or(0);
            let results = &report["results"];
            for check in results["failed_checks"].as_array().into_iter().flatten() {
                let lines = &check["file_line_range"];
                let _ = writeln!(
                    out.details,
                    "{} {}\n    {} {}:{}-{}",
                    check["check_id"].as_str().unwrap_or("?"),
                    check["check_name"].as_str().unwrap_or(""),
                    check["resource"].as_str().unwrap_or("?"),
                    check["file_path"]
                        .as_str()
                        .unwrap_or("?")
                        .trim_start_matches('/'),
                    lines[0],
                    lines[1],
                );
                if let Some(guide) = check["guideline"].as_str() {
                    let _ = writeln!(out.details, "    {guide}");
                }
            }
            for file in results["parsing_errors"].as_array().into_iter().flatten() {
                let _ = writeln!(out.details, "cannot parse {}", file.as_str().unwrap_or("?"));
            }
            for check in results["skipped_checks"].as_array().into_iter().flatten() {
                out.skipped += 1;
                let reason = check["check_result"]["suppress_comment"]
                    .as_str()
                    .unwrap_or("")
                    .trim();
                // checkov fills in this placeholder when a skip has no comment.
                if reason.is_empty() || reason == "No comment provided" {
                    out.skipped_without_reason.push(format!(
                        "{} on {} ({})",
                        check["check_id"].as_str().unwrap_or("?"),
                        check["resource"].as_str().unwrap_or("?"),
                        check["file_path"]
                            .as_str()
                            .unwrap_or("?")
                            .trim_start_matches('/'),
                    ));
                }
            }
        }
        out
    }
}

fn hadolint(bin: &Path, root: &Path, dockerfile: &Path) -> Result<Outcome> {
    let mut cmd = Command::new(bin.join("hadolint"));
    cmd.args(["--no-color", "--format", "tty"])
        .arg(relative(root, dockerfile));
    let (success, stdout, stderr, seconds) = capture(&mut cmd, root)?;
    let findings = stdout.lines().filter(|l| !l.trim().is_empty()).count();
    Ok(Outcome {
        tool: "hadolint",
        passed: success && findings == 0,
        summary: format!("Dockerfile, {findings} findings"),
        findings: format!("{stdout}{stderr}"),
        seconds,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_checkov_reports_and_flags_skips_without_reason() {
        let json: Value = serde_json::from_str(
            r#"[
              {"check_type": "dockerfile",
               "results": {"passed_checks": [], "failed_checks": [], "skipped_checks": [], "parsing_errors": []},
               "summary": {"passed": 10, "failed": 0, "skipped": 0, "parsing_errors": 0}},
              {"check_type": "cloudformation",
               "results": {
                 "passed_checks": [],
                 "failed_checks": [{"check_id": "CKV_AWS_2", "check_name": "Ensure ALB protocol is HTTPS",
                                    "resource": "AWS::ElasticLoadBalancingV2::Listener.HttpListener",
                                    "file_path": "/infra/01-network.yaml", "file_line_range": [240, 255],
                                    "guideline": "https://example.invalid/ckv_aws_2"}],
                 "skipped_checks": [
                   {"check_id": "CKV_AWS_91", "resource": "LB", "file_path": "/infra/01-network.yaml",
                    "check_result": {"result": "SKIPPED", "suppress_comment": "no bucket"}},
                   {"check_id": "CKV_AWS_18", "resource": "Bucket", "file_path": "/infra/05-pipeline.yaml",
                    "check_result": {"result": "SKIPPED", "suppress_comment": "No comment provided"}}],
                 "parsing_errors": ["/infra/broken.yaml"]},
               "summary": {"passed": 70, "failed": 1, "skipped": 2, "parsing_errors": 1}}
            ]"#,
        )
        .unwrap();
        let report = CheckovReport::from_json(&json);
        assert_eq!(report.frameworks, ["dockerfile", "cloudformation"]);
        assert_eq!((report.passed, report.failed, report.skipped), (80, 1, 2));
        assert_eq!(report.parsing_errors, 1);
        assert_eq!(
            report.skipped_without_reason,
            ["CKV_AWS_18 on Bucket (infra/05-pipeline.yaml)"]
        );
        assert!(report.details.contains(
            "CKV_AWS_2 Ensure ALB protocol is HTTPS\n    AWS::ElasticLoadBalancingV2::Listener.HttpListener infra/01-network.yaml:240-255"
        ));
        assert!(report.details.contains("cannot parse /infra/broken.yaml"));
    }

    #[test]
    fn a_single_framework_report_is_an_object() {
        let json: Value = serde_json::from_str(
            r#"{"check_type": "dockerfile", "results": {}, "summary": {"passed": 3, "failed": 0, "skipped": 0, "parsing_errors": 0}}"#,
        )
        .unwrap();
        let report = CheckovReport::from_json(&json);
        assert_eq!(report.frameworks, ["dockerfile"]);
        assert_eq!(report.passed, 3);
    }

    #[test]
    fn finds_only_template_files() {
        let dir = std::env::temp_dir().join(format!("xtask-lint-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for name in ["02-b.yaml", "01-a.yml", "README.md", "03-c.json"] {
            std::fs::write(dir.join(name), "").unwrap();
        }
        let found = templates(&dir).unwrap();
        let names: Vec<_> = found
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["01-a.yml", "02-b.yaml", "03-c.json"]);
        std::fs::remove_dir_all(&dir).unwrap();
        let err = templates(&dir).unwrap_err();
        assert!(format!("{err:#}").contains("read "), "{err:#}");
    }
}
