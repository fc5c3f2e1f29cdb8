//! Mounts the stack expects: each bind source exists (or will be created), is writable, and lies on the
//! filesystem it should. The classic failure is a share that is not mounted: `/mnt/uploads` is then a
//! plain directory on the root disk, the container writes there, and nothing reaches the NAS. So a bind
//! source under `/mnt` or `/media` whose covering mount is the root filesystem fails, and `host.mounts`
//! in tugboat.yml can say exactly which mount points must be there, of which type.

use std::path::{Component, Path, PathBuf};

use super::expect::ExpectedMount;
use super::{Check, Group};

/// One line of `/proc/self/mountinfo`.
#[derive(Debug, Clone, PartialEq)]
pub struct MountEntry {
    pub mount_point: PathBuf,
    pub fstype: String,
    /// `/dev/vda`, `//nas/share`, `tmpfs`.
    pub source: String,
    /// The per-mount options (`rw,relatime`).
    pub options: Vec<String>,
    /// The filesystem's own options (for cgroup v1: the controllers).
    pub super_options: Vec<String>,
}

impl MountEntry {
    pub fn read_only(&self) -> bool {
        self.options.iter().any(|o| o == "ro")
    }

    /// `/mnt/uploads (cifs //nas/uploads)`.
    pub fn describe(&self) -> String {
        format!("{} ({} {})", self.mount_point.display(), self.fstype, self.source)
    }
}

/// Parses mountinfo (proc(5)): `ID PARENT MAJ:MIN ROOT MOUNT_POINT OPTIONS [OPTIONAL…] - FSTYPE SOURCE SUPER`.
/// Paths escape space, tab, newline and backslash as octal (`\040`).
pub fn parse_mountinfo(text: &str) -> Vec<MountEntry> {
    text.lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let left: Vec<&str> = left.split(' ').collect();
            let mut right = right.split(' ');
            let fstype = right.next()?.to_string();
            let source = unescape(right.next()?);
            let super_options = right.next().unwrap_or("").split(',').map(str::to_string).collect();
            Some(MountEntry {
                mount_point: PathBuf::from(unescape(left.get(4)?)),
                fstype,
                source,
                options: left.get(5)?.split(',').map(str::to_string).collect(),
                super_options,
            })
        })
        .collect()
}

fn unescape(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes.get(i + 1..i + 4).filter(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)));
        if let (b'\\', Some(digits)) = (bytes[i], octal) {
            if let Ok(v) = u8::from_str_radix(&String::from_utf8_lossy(digits), 8) {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// This process's mounts (its mount namespace).
pub fn read_mountinfo() -> std::io::Result<Vec<MountEntry>> {
    Ok(parse_mountinfo(&std::fs::read_to_string("/proc/self/mountinfo")?))
}

/// The mount a path lies on: the longest mount point above it (the later of equal ones: it is on top).
pub fn covering<'a>(mounts: &'a [MountEntry], path: &Path) -> Option<&'a MountEntry> {
    mounts
        .iter()
        .enumerate()
        .filter(|(_, m)| path.starts_with(&m.mount_point))
        .max_by_key(|(i, m)| (m.mount_point.components().count(), *i))
        .map(|(_, m)| m)
}

/// The path with symlinks resolved as far as it exists, and whether all of it exists. A path that does not
/// exist yet will be created under its nearest existing ancestor, on that ancestor's filesystem.
pub fn resolve(path: &Path) -> (PathBuf, bool) {
    let mut missing: Vec<&std::ffi::OsStr> = Vec::new();
    let mut at = path;
    loop {
        if let Ok(real) = std::fs::canonicalize(at) {
            let exists = missing.is_empty();
            let full = missing.iter().rev().fold(real, |p, part| p.join(part));
            return (full, exists);
        }
        match (at.file_name(), at.parent()) {
            (Some(name), Some(parent)) => {
                missing.push(name);
                at = parent;
            }
            _ => return (path.to_path_buf(), false),
        }
    }
}

/// Whether this process may write there (access(2): the mode, the owner and a read-only mount).
pub fn writable(path: &Path) -> bool {
    rustix::fs::access(path, rustix::fs::Access::WRITE_OK).is_ok()
}

/// `/mnt/X` or `/media/X` (the first two components), when the path lies under one.
fn removable_root(path: &Path) -> Option<PathBuf> {
    let mut parts = path.components();
    match (parts.next(), parts.next(), parts.next()) {
        (Some(Component::RootDir), Some(Component::Normal(top)), Some(Component::Normal(name)))
            if top == "mnt" || top == "media" =>
        {
            Some(Path::new("/").join(top).join(name))
        }
        _ => None,
    }
}

/// A bind mount of the stack, from the engine create bodies tug up would send.
#[derive(Debug, Clone, PartialEq)]
pub struct Bind {
    pub source: PathBuf,
    pub read_only: bool,
    /// Short syntax (the bind API): the engine creates a missing source as an empty root-owned directory.
    /// Long syntax without `create_host_path` refuses a missing one.
    pub created_if_missing: bool,
    pub services: Vec<String>,
}

/// One `bind:SOURCE` check per bind source.
pub fn check_binds(binds: &[Bind], mounts: &[MountEntry]) -> Vec<Check> {
    binds.iter().map(|b| check_bind(b, mounts)).collect()
}

fn check_bind(bind: &Bind, mounts: &[MountEntry]) -> Check {
    let src = bind.source.display().to_string();
    let id = format!("bind:{src}");
    let by = format!("(bound by {})", bind.services.join(", "));
    let (real, exists) = resolve(&bind.source);
    let Some(mount) = covering(mounts, &real) else {
        return Check::skip(Group::Mounts, id, format!("no mount covers {} in /proc/self/mountinfo", real.display()));
    };
    // Under /mnt/X, a covering mount above /mnt (the root filesystem) means X is not mounted.
    if let Some(root) = removable_root(&real) {
        let top = root.parent().unwrap_or(&root);
        if top.starts_with(&mount.mount_point) && mount.mount_point != top {
            return Check::fail(
                Group::Mounts,
                id,
                format!(
                    "{src} is on {}: nothing is mounted at {}, so containers would write to that disk {by}",
                    mount.describe(),
                    root.display()
                ),
                format!(
                    "mount the share at {} (`mount {}`, with an /etc/fstab entry so it returns after a reboot) before `tug up`",
                    root.display(),
                    root.display()
                ),
            );
        }
    }
    if !exists {
        let fix = format!("create it before `tug up`: `mkdir -p {src}` (owned by the user the service runs as)");
        return if bind.created_if_missing {
            Check::warn(
                Group::Mounts,
                id,
                format!(
                    "{src} does not exist: `tug up` creates it as an empty root-owned directory on {} {by}",
                    mount.describe()
                ),
                fix,
            )
        } else {
            Check::fail(
                Group::Mounts,
                id,
                format!("{src} does not exist, and a long-syntax bind without create_host_path is refused {by}"),
                format!("{fix}, or set `bind: {{create_host_path: true}}`"),
            )
        };
    }
    if !bind.read_only {
        if mount.read_only() {
            return Check::fail(
                Group::Mounts,
                id,
                format!("{src} is on a read-only mount, {} {by}", mount.describe()),
                format!("remount {} read-write, or mark the bind `:ro`", mount.mount_point.display()),
            );
        }
        if !writable(&real) {
            return Check::warn(
                Group::Mounts,
                id,
                format!("{src} is not writable by uid {} {by}", rustix::process::getuid().as_raw()),
                format!("check its owner and mode (`ls -ld {src}`): the service writes there"),
            );
        }
    }
    let mode = if bind.read_only { "read-only bind" } else { "writable" };
    Check::pass(Group::Mounts, id, format!("{src} exists ({mode}), on {} {by}", mount.describe()))
}

/// `nfs` accepts `nfs4`, `cifs` accepts `smb3`: the kernel names a mount by its protocol version.
fn same_type(expected: &str, actual: &str) -> bool {
    let e = expected.to_ascii_lowercase();
    actual == e || (e == "nfs" && actual == "nfs4") || (e == "cifs" && actual == "smb3")
}

/// One `mount:PATH` check per `host.mounts` entry: mounted there, of the type expected, writable.
pub fn check_expected(expected: &[ExpectedMount], mounts: &[MountEntry]) -> Vec<Check> {
    expected
        .iter()
        .map(|e| {
            let id = format!("mount:{}", e.path);
            let (real, exists) = resolve(Path::new(&e.path));
            let mounted = mounts.iter().rev().find(|m| m.mount_point == real);
            let fix_mount = format!("mount it: `mount {}` (and an /etc/fstab entry for reboots)", e.path);
            match (exists, mounted) {
                (false, _) => Check::fail(Group::Mounts, id, format!("{} does not exist", e.path), fix_mount),
                (true, None) => {
                    let on =
                        covering(mounts, &real).map(MountEntry::describe).unwrap_or_else(|| "an unknown mount".into());
                    Check::fail(
                        Group::Mounts,
                        id,
                        format!("nothing is mounted at {}: it is a directory on {on}", e.path),
                        fix_mount,
                    )
                }
                (true, Some(m)) => match &e.fstype {
                    Some(t) if !same_type(t, &m.fstype) => Check::fail(
                        Group::Mounts,
                        id,
                        format!("{} is a {} mount ({}); tugboat.yml expects {t}", e.path, m.fstype, m.source),
                        format!("mount the {t} share at {}, or correct host.mounts type", e.path),
                    ),
                    _ if m.read_only() && !e.read_only => Check::fail(
                        Group::Mounts,
                        id,
                        format!("{} is mounted read-only ({} {})", e.path, m.fstype, m.source),
                        format!("remount it read-write: `mount -o remount,rw {}`", e.path),
                    ),
                    _ => Check::pass(Group::Mounts, id, format!("{} is mounted: {} {}", e.path, m.fstype, m.source)),
                },
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// From a Debian host with a CIFS share, a Docker overlay and a path with a space.
    const SAMPLE: &str = "\
22 28 0:20 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
28 1 254:1 / / rw,relatime shared:1 - ext4 /dev/mapper/vg-root rw,errors=remount-ro
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
90 28 0:45 / /mnt/uploads rw,relatime shared:60 - cifs //nas.lan/uploads rw,vers=3.1.1,cache=strict,username=dms,uid=1000
91 28 0:46 / /mnt/backup ro,relatime shared:61 - nfs4 nas.lan:/backup ro,vers=4.2
92 28 8:17 / /media/usb\\040disk rw,nosuid - vfat /dev/sdb1 rw,fmask=0022
";

    #[test]
    fn mountinfo_lines_are_read_with_their_escapes_and_optional_fields() {
        let m = parse_mountinfo(SAMPLE);
        assert_eq!(m.len(), 7);
        assert_eq!(m[4].mount_point, PathBuf::from("/mnt/uploads"));
        assert_eq!((m[4].fstype.as_str(), m[4].source.as_str()), ("cifs", "//nas.lan/uploads"));
        assert!(m[5].read_only() && !m[4].read_only());
        assert_eq!(m[3].super_options, vec!["rw", "memory"]);
        assert_eq!(m[6].mount_point, PathBuf::from("/media/usb disk"));
    }

    #[test]
    fn the_covering_mount_is_the_longest_prefix_by_component() {
        let m = parse_mountinfo(SAMPLE);
        let at = |p: &str| covering(&m, Path::new(p)).unwrap().mount_point.display().to_string();
        assert_eq!(at("/mnt/uploads/2026/a.pdf"), "/mnt/uploads");
        assert_eq!(at("/mnt/uploads2/x"), "/");
        assert_eq!(at("/srv"), "/");
    }

    #[test]
    fn expected_mounts_must_be_there_of_their_type_and_writable() {
        let m = parse_mountinfo(SAMPLE);
        let exp = |path: &str, t: Option<&str>| ExpectedMount {
            path: path.into(),
            fstype: t.map(str::to_string),
            read_only: false,
        };
        // The sample's mount points do not exist on the test machine: only the pure parts are exercised here
        // (the CLI tests mount real tmpfs filesystems).
        assert!(same_type("nfs", "nfs4") && same_type("CIFS", "cifs") && !same_type("cifs", "ext4"));
        let checks = check_expected(&[exp("/no/such/mount", Some("cifs"))], &m);
        assert_eq!(checks[0].status, super::super::Status::Fail);
        assert!(checks[0].observed.contains("does not exist"), "{checks:?}");
    }

    #[test]
    fn paths_under_mnt_or_media_have_a_removable_root() {
        assert_eq!(removable_root(Path::new("/mnt/uploads/x")), Some(PathBuf::from("/mnt/uploads")));
        assert_eq!(removable_root(Path::new("/media/usb")), Some(PathBuf::from("/media/usb")));
        assert_eq!(removable_root(Path::new("/mnt")), None);
        assert_eq!(removable_root(Path::new("/srv/mnt/x")), None);
    }
}
