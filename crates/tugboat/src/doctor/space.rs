//! Free space and free inodes where the stack writes: Docker's root dir, the bind sources, the backup
//! sources and a local repository. One check per filesystem (naming what lies on it), so ten binds on one
//! disk are one line.
//!
//! Thresholds: fail under 1 GiB or 5 % free, warn under 5 GiB or 15 % free; inodes fail under 5 % and warn
//! under 15 % free (a filesystem that reports no inode count, such as btrfs or CIFS, is judged on bytes).

use std::path::{Path, PathBuf};

use super::mounts::{covering, resolve, MountEntry};
use super::{human_bytes, Check, Group, Status};
use crate::stack::Stack;

const GIB: u64 = 1 << 30;
pub const FAIL_BYTES: u64 = GIB;
pub const WARN_BYTES: u64 = 5 * GIB;
pub const FAIL_PERCENT: f64 = 5.0;
pub const WARN_PERCENT: f64 = 15.0;

/// What statvfs says of a filesystem, as an unprivileged user sees it (root's reserve counts as used).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Usage {
    pub total_bytes: u64,
    pub free_bytes: u64,
    pub total_inodes: u64,
    pub free_inodes: u64,
}

pub fn usage(path: &Path) -> std::io::Result<Usage> {
    let s = rustix::fs::statvfs(path).map_err(std::io::Error::from)?;
    Ok(Usage {
        total_bytes: s.f_blocks.saturating_mul(s.f_frsize),
        free_bytes: s.f_bavail.saturating_mul(s.f_frsize),
        total_inodes: s.f_files,
        free_inodes: s.f_favail,
    })
}

fn percent(free: u64, total: u64) -> f64 {
    if total == 0 {
        100.0
    } else {
        100.0 * free as f64 / total as f64
    }
}

/// The verdict on bytes and inodes together.
pub fn judge(u: &Usage) -> Status {
    let bytes = percent(u.free_bytes, u.total_bytes);
    let inodes = percent(u.free_inodes, u.total_inodes);
    if u.free_bytes < FAIL_BYTES || bytes < FAIL_PERCENT || inodes < FAIL_PERCENT {
        Status::Fail
    } else if u.free_bytes < WARN_BYTES || bytes < WARN_PERCENT || inodes < WARN_PERCENT {
        Status::Warn
    } else {
        Status::Pass
    }
}

/// The paths the stack's backups read and write: `files:` sources and a local repository.
pub fn backup_paths(stack: &Stack) -> Vec<(PathBuf, String)> {
    let Some(backup) = &stack.config.backup else { return Vec::new() };
    let dir = std::path::absolute(&stack.dir).unwrap_or_else(|_| stack.dir.clone());
    let resolve = |p: &str| PathBuf::from(crate::stack::normalize::resolve_path(p, &dir));
    let mut out: Vec<(PathBuf, String)> = backup
        .sources
        .iter()
        .filter_map(|s| s.files.as_deref().map(|f| (resolve(f), format!("backup source {}", s.display_name()))))
        .collect();
    // A URL (`rest:http://…`) has a scheme; a path may be written `local:/path`.
    let repo = backup.repository.strip_prefix("local:").unwrap_or(&backup.repository);
    if !repo.contains(':') || repo.starts_with('/') {
        out.push((resolve(repo), "the backup repository".into()));
    }
    out
}

/// One `space:MOUNT_POINT` check per filesystem holding any of `paths` (path, what it is).
pub fn check_space(paths: &[(PathBuf, String)], mounts: &[MountEntry]) -> Vec<Check> {
    // (mount point, nearest existing path on it, what lies there)
    let mut filesystems: Vec<(PathBuf, PathBuf, Vec<String>)> = Vec::new();
    for (path, what) in paths {
        let (real, _) = resolve(path);
        let existing = nearest_existing(&real);
        let mount_point =
            covering(mounts, &existing).map(|m| m.mount_point.clone()).unwrap_or_else(|| existing.clone());
        let label = format!("{what} {}", path.display());
        match filesystems.iter_mut().find(|(m, _, _)| *m == mount_point) {
            Some((_, _, whats)) => {
                if !whats.contains(&label) {
                    whats.push(label);
                }
            }
            None => filesystems.push((mount_point, existing, vec![label])),
        }
    }
    filesystems
        .into_iter()
        .map(|(mount_point, probe, whats)| {
            let id = format!("space:{}", mount_point.display());
            let holds = format!("holds {}", whats.join(", "));
            let u = match usage(&probe) {
                Ok(u) => u,
                Err(e) => return Check::skip(Group::Storage, id, format!("statvfs {}: {e}; {holds}", probe.display())),
            };
            let inodes = if u.total_inodes == 0 {
                "inodes not counted by this filesystem".to_string()
            } else {
                format!("{:.0} % of inodes free", percent(u.free_inodes, u.total_inodes))
            };
            let observed = format!(
                "{} free of {} ({:.0} %), {inodes}; {holds}",
                human_bytes(u.free_bytes),
                human_bytes(u.total_bytes),
                percent(u.free_bytes, u.total_bytes)
            );
            let fix = format!(
                "free space on {} (`docker system prune`, old logs and backups) or grow the filesystem",
                mount_point.display()
            );
            match judge(&u) {
                Status::Fail => Check::fail(Group::Storage, id, observed, fix),
                Status::Warn => Check::warn(Group::Storage, id, observed, fix),
                _ => Check::pass(Group::Storage, id, observed),
            }
        })
        .collect()
}

fn nearest_existing(path: &Path) -> PathBuf {
    path.ancestors().find(|p| p.exists()).unwrap_or(Path::new("/")).to_path_buf()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(total_gib: u64, free_mib: u64, inodes_free_percent: u64) -> Usage {
        Usage {
            total_bytes: total_gib * GIB,
            free_bytes: free_mib << 20,
            total_inodes: 1000,
            free_inodes: inodes_free_percent * 10,
        }
    }

    #[test]
    fn thresholds_on_bytes_percent_and_inodes() {
        assert_eq!(judge(&u(100, 50 * 1024, 90)), Status::Pass);
        assert_eq!(judge(&u(100, 10 * 1024, 90)), Status::Warn, "10 % free");
        assert_eq!(judge(&u(100, 4 * 1024, 90)), Status::Fail, "4 % free");
        assert_eq!(judge(&u(8, 3 * 1024, 90)), Status::Warn, "under 5 GiB");
        assert_eq!(judge(&u(8, 900, 90)), Status::Fail, "under 1 GiB");
        assert_eq!(judge(&u(100, 50 * 1024, 10)), Status::Warn, "inodes at 10 %");
        assert_eq!(judge(&u(100, 50 * 1024, 2)), Status::Fail, "inodes at 2 %");
        let no_inode_count = Usage { total_inodes: 0, free_inodes: 0, ..u(100, 50 * 1024, 0) };
        assert_eq!(judge(&no_inode_count), Status::Pass);
    }

    #[test]
    fn this_machine_root_is_measured() {
        let checks = check_space(&[(PathBuf::from("/tmp/does/not/exist/yet"), "test".into())], &[]);
        assert_eq!(checks.len(), 1);
        assert!(checks[0].observed.contains("free of"), "{checks:?}");
    }
}
