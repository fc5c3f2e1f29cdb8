//! The routes file: loaded at start (a restarted proxy serves at once), rewritten atomically on every
//! change (temp file, fsync, rename, fsync of the directory) before the admin API answers.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::config::Route;
use crate::ProxyError;

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PersistedState {
    #[serde(default)]
    pub routes: Vec<Route>,
    /// Services in maintenance mode and their page (so an upgrade or restart keeps the page up).
    #[serde(default)]
    pub maintenance: BTreeMap<String, String>,
}

/// The saved state; None when there is no file yet.
pub fn load(path: &Path) -> Result<Option<PersistedState>, ProxyError> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(ProxyError::io(format!("read {}", path.display()), e)),
    };
    let mut state: PersistedState =
        serde_json::from_str(&text).map_err(|e| ProxyError::Config(format!("{}: {e}", path.display())))?;
    for route in &mut state.routes {
        route
            .validate()
            .map_err(|e| ProxyError::Config(format!("{}: route {}: {e}", path.display(), route.service)))?;
    }
    Ok(Some(state))
}

pub fn save(path: &Path, state: &PersistedState) -> Result<(), ProxyError> {
    let io = |what: &str, e| ProxyError::io(format!("{what} {}", path.display()), e);
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    fs::create_dir_all(dir).map_err(|e| io("create the directory of", e))?;
    let mut text = serde_json::to_string_pretty(state).map_err(|e| ProxyError::Config(e.to_string()))?;
    text.push('\n');
    let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{file_name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut file = OpenOptions::new().write(true).create(true).truncate(true).open(&tmp)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        fs::rename(&tmp, path)?;
        // The rename itself is durable only once the directory is synced.
        File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(|e| io("write", e))
}
