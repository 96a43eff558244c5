//! botocore's API models, installed from PyPI at the version pinned in
//! `wire_shapes/requirements.txt` into `target/wire-models-venv` the way `cargo xtask lint`
//! installs its tools: created on first use (one pip call), reused while the pin is
//! unchanged, under an exclusive file lock so parallel test processes install it once.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use serde_json::Value;

/// The pinned requirements, one `name==version` a line.
const REQUIREMENTS: &str = include_str!("requirements.txt");
/// A copy of the requirements the venv was last filled from: equal means nothing to install.
const STAMP: &str = "wire-models-requirements.txt";

/// The services local-ecs speaks: botocore's name and API version.
pub const SERVICES: [(&str, &str); 4] = [
    ("ecs", "2014-11-13"),
    ("ecr", "2015-09-21"),
    ("elbv2", "2015-12-01"),
    ("cloudwatch", "2010-08-01"),
];

/// The workspace's target directory (honours CARGO_TARGET_DIR as cargo does).
fn target_dir() -> PathBuf {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace root")
        .to_path_buf();
    match std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from) {
        Some(dir) if dir.is_absolute() => dir,
        Some(dir) => workspace.join(dir),
        None => workspace.join("target"),
    }
}

/// Installs the pinned botocore unless present; returns its `botocore/data` directory.
pub fn ensure_installed() -> PathBuf {
    let venv = target_dir().join("wire-models-venv");
    std::fs::create_dir_all(&venv).expect("create the models' venv directory");
    let lock = std::fs::File::create(venv.with_extension("lock")).expect("the venv lock file");
    // Held until `lock` is dropped at the end of this function.
    lock.lock().expect("lock the models' venv");
    let stamp = venv.join(STAMP);
    if let Some(data) = data_dir(&venv)
        && std::fs::read_to_string(&stamp).is_ok_and(|s| s == REQUIREMENTS)
    {
        return data;
    }
    let started = Instant::now();
    let python = venv.join("bin").join("python");
    if !python.is_file() {
        run(Command::new("python3").args(["-m", "venv"]).arg(&venv));
    }
    let _ = std::fs::remove_file(&stamp);
    let requirements =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/wire_shapes/requirements.txt");
    run(Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
        ])
        .args(["--no-input", "--no-deps", "--requirement"])
        .arg(&requirements));
    let data = data_dir(&venv).expect("botocore/data after installing botocore");
    std::fs::write(&stamp, REQUIREMENTS).expect("write the venv stamp");
    eprintln!(
        "wire models: installed {} into {} in {:.1} s",
        REQUIREMENTS.lines().last().unwrap_or_default(),
        venv.display(),
        started.elapsed().as_secs_f64()
    );
    data
}

/// `lib/python3.*/site-packages/botocore/data` in `venv`, when there.
fn data_dir(venv: &Path) -> Option<PathBuf> {
    std::fs::read_dir(venv.join("lib"))
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("site-packages/botocore/data"))
        .find(|p| p.is_dir())
}

fn run(command: &mut Command) {
    let status = command
        .status()
        .unwrap_or_else(|e| panic!("run {command:?}: {e} (python3 with venv is required)"));
    assert!(status.success(), "{command:?} failed: {status}");
}

/// One service's `service-2.json` (`.json.gz` in recent botocore, plain JSON before).
pub fn load(data: &Path, service: &str, version: &str) -> Value {
    let dir = data.join(service).join(version);
    let gz = dir.join("service-2.json.gz");
    let text = if gz.is_file() {
        let mut text = String::new();
        flate2::read::GzDecoder::new(std::fs::File::open(&gz).expect("open the model"))
            .read_to_string(&mut text)
            .expect("gunzip the model");
        text
    } else {
        std::fs::read_to_string(dir.join("service-2.json")).expect("read the model")
    };
    serde_json::from_str(&text).expect("a JSON model")
}
