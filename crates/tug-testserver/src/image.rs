//! Test support: the static binary and a `FROM scratch` build context for it. Nothing can be pulled
//! from a registry on the test machines, so tests build their images from this.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

pub const TARGET: &str = "x86_64-unknown-linux-gnu";

/// The Dockerfile of the test image (the binary sits next to it as `tug-testserver`).
pub const DOCKERFILE: &str = "FROM scratch\n\
COPY tug-testserver /\n\
ENTRYPOINT [\"/tug-testserver\"]\n\
HEALTHCHECK --interval=1s CMD [\"/tug-testserver\",\"health\"]\n";

/// The workspace root (this crate lives at crates/tug-testserver).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("..")
}

/// Builds `tug-testserver` as a static binary (glibc, `+crt-static`) into `<workspace>/target/static`
/// and returns its path. Built once per process; cargo's own lock serializes concurrent processes.
pub fn build_static_binary() -> Result<PathBuf, String> {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BUILT.get_or_init(build_uncached).clone()
}

fn build_uncached() -> Result<PathBuf, String> {
    let root = workspace_root();
    let target_dir = root.join("target").join("static");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(&cargo)
        .args(["build", "--release", "--target", TARGET, "-p", "tug-testserver", "--target-dir"])
        .arg(&target_dir)
        .current_dir(&root)
        .env("RUSTFLAGS", "-C target-feature=+crt-static")
        // This one would take precedence over RUSTFLAGS.
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_RUSTFLAGS")
        .output()
        .map_err(|e| format!("running {}: {e}", Path::new(&cargo).display()))?;
    if !output.status.success() {
        return Err(format!(
            "cargo build of the static tug-testserver failed ({}):\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let binary = target_dir.join(TARGET).join("release").join("tug-testserver");
    if !binary.is_file() {
        return Err(format!("cargo build succeeded but {} does not exist", binary.display()));
    }
    Ok(binary)
}

/// Writes a build context for the test image into `dir`: the static binary and [`DOCKERFILE`].
pub fn write_image_context(dir: &Path) -> Result<(), String> {
    let binary = build_static_binary()?;
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let dest = dir.join("tug-testserver");
    std::fs::copy(&binary, &dest).map_err(|e| format!("copy {} to {}: {e}", binary.display(), dest.display()))?;
    let dockerfile = dir.join("Dockerfile");
    std::fs::write(&dockerfile, DOCKERFILE).map_err(|e| format!("{}: {e}", dockerfile.display()))
}
