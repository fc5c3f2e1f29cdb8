//! `host:` in tugboat.yml: what `tug doctor` expects of the host beyond what the compose files say.
//!
//! ```yaml
//! host:
//!   mounts:
//!     - { path: /mnt/uploads, type: cifs }        # must be a mount point, of this type, writable
//!     - { path: /mnt/backup, type: nfs, read_only: true }
//! ```

use serde::{Deserialize, Serialize};

use crate::stack::config::TugboatConfig;
use crate::stack::{ConfigError, Location, Node};

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HostExpectations {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mounts: Vec<ExpectedMount>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedMount {
    /// An absolute mount point.
    pub path: String,
    /// The filesystem type as /proc/self/mountinfo names it (`cifs`, `nfs`, `ext4`); any when absent.
    #[serde(rename = "type")]
    pub fstype: Option<String>,
    /// A read-only mount is what is wanted (otherwise a read-only one fails).
    #[serde(default)]
    pub read_only: bool,
}

/// The rules serde cannot express, at file:line.
pub fn validate(config: &TugboatConfig, root: &Node, errors: &mut Vec<ConfigError>) {
    let Some(host) = &config.host else { return };
    let items = root.get_path(&["host", "mounts"]).and_then(Node::as_seq).unwrap_or(&[]);
    let mut seen = std::collections::BTreeSet::new();
    for (i, m) in host.mounts.iter().enumerate() {
        let item = items.get(i);
        let span = item.and_then(|n| n.get("path")).or(item).map(|n| n.span.clone()).unwrap_or(root.span.clone());
        let mut fail = |message: String| {
            errors.push(ConfigError::at(Location::new(span.clone(), format!("host.mounts[{i}].path")), message));
        };
        let path = std::path::Path::new(&m.path);
        if !path.is_absolute() || path.parent().is_none() {
            fail(format!("`{}` is not a mount point: write an absolute path such as /mnt/uploads", m.path));
        } else if !seen.insert(m.path.trim_end_matches('/').to_string()) {
            fail(format!("{} is listed twice", m.path));
        }
    }
}
