//! The labels Docker Compose v2 puts on what it creates — so `docker compose ps`, `logs` and `down` see
//! tug's containers as their own — plus tug's own.

pub const PROJECT: &str = "com.docker.compose.project";
pub const SERVICE: &str = "com.docker.compose.service";
pub const NUMBER: &str = "com.docker.compose.container-number";
pub const CONFIG_HASH: &str = "com.docker.compose.config-hash";
pub const ONEOFF: &str = "com.docker.compose.oneoff";
pub const WORKING_DIR: &str = "com.docker.compose.project.working_dir";
pub const CONFIG_FILES: &str = "com.docker.compose.project.config_files";
pub const DEPENDS_ON: &str = "com.docker.compose.depends_on";
/// The image id the container was created from: a rebuilt or re-pulled tag recreates it.
pub const IMAGE: &str = "com.docker.compose.image";
pub const NETWORK: &str = "com.docker.compose.network";
pub const VOLUME: &str = "com.docker.compose.volume";
/// Compose records its version; tug records its own under its own key instead of pretending.
pub const VERSION: &str = "com.docker.compose.version";
/// Set on everything tug created: the tug version.
pub const TUG: &str = "org.tugboat.runtime";

pub fn tug_version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}
