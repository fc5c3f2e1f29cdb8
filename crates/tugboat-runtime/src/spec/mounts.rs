//! A service's `volumes`, `secrets` and `configs` -> the engine's `Binds` and `Mounts`, split as Compose v2
//! splits them (`buildContainerVolumes`): what the old bind API can express goes to `Binds` (it creates a
//! missing host path, which the mount API refuses to do), everything else to `Mounts`.

use bollard::models::{
    Mount, MountBindOptions, MountBindOptionsPropagationEnum, MountTmpfsOptions, MountType, MountVolumeOptions,
};
use tugboat::stack::{Node, Stack};

use super::values::{join, Cx};
use super::VolumeSpec;

const VOLUME_KEYS: &[&str] = &["type", "source", "target", "read_only", "bind", "volume", "tmpfs", "consistency"];

pub(super) fn volumes(
    cx: &mut Cx,
    stack: &Stack,
    n: &Node,
    path: &str,
    volumes: &[VolumeSpec],
) -> (Option<Vec<String>>, Option<Vec<Mount>>) {
    let mut binds = Vec::new();
    let mut mounts = Vec::new();
    for (i, v) in n.get("volumes").and_then(Node::as_seq).unwrap_or(&[]).iter().enumerate() {
        let p = format!("{path}.volumes[{i}]");
        cx.keys(v, &p, VOLUME_KEYS, &[("image", "image mounts need Docker Engine API 1.47")]);
        let at = |k: &str| join(&p, k);
        let kind = v.get("type").and_then(|t| cx.string(t, &at("type"))).unwrap_or_else(|| "volume".into());
        let source = v.get("source").and_then(|s| cx.string(s, &at("source"))).filter(|s| !s.is_empty());
        let Some(target) = v.get("target").and_then(|t| cx.string(t, &at("target"))) else { continue };
        let read_only = v.get("read_only").and_then(|r| cx.bool(r, &at("read_only"))).unwrap_or(false);
        let bind = v.get("bind").filter(|b| !b.is_null());
        let volume = v.get("volume").filter(|b| !b.is_null());
        let tmpfs = v.get("tmpfs").filter(|b| !b.is_null());
        for (present, name, wanted) in [(bind, "bind", "bind"), (volume, "volume", "volume"), (tmpfs, "tmpfs", "tmpfs")]
        {
            // Compose keeps a named volume's SELinux relabel under `bind` (short syntax `vol:/dst:z`).
            let allowed = kind == wanted || (name == "bind" && kind == "volume");
            if let (Some(node), false) = (present, allowed) {
                cx.at(&node.span, &at(name), format!("`{name}` options do not apply to a {kind} mount"));
            }
        }
        let selinux = bind.and_then(|b| b.get("selinux")).and_then(|s| cx.string(s, &at("bind.selinux")));
        if let (Some(sel), Some(node)) = (&selinux, bind.and_then(|b| b.get("selinux"))) {
            if sel != "z" && sel != "Z" {
                cx.at(&node.span, &at("bind.selinux"), format!("unknown SELinux option {sel:?}: use z or Z"));
            }
        }
        let mode = if read_only { "ro" } else { "rw" };
        match kind.as_str() {
            "bind" => {
                let Some(source) = source else {
                    cx.at(&v.span, &p, "a bind mount needs `source`");
                    continue;
                };
                let mut create_host_path = bind.is_none();
                let mut propagation = None;
                if let Some(b) = bind {
                    cx.keys(b, &at("bind"), &["propagation", "create_host_path", "selinux", "recursive"], &[]);
                    create_host_path = b
                        .get("create_host_path")
                        .and_then(|c| cx.bool(c, &at("bind.create_host_path")))
                        .unwrap_or(false);
                    propagation = b.get("propagation").and_then(|c| {
                        let text = cx.string(c, &at("bind.propagation"))?;
                        match text.parse::<MountBindOptionsPropagationEnum>() {
                            Ok(p) if !text.is_empty() => Some(p),
                            _ => {
                                cx.at(&c.span, &at("bind.propagation"), format!("unknown propagation {text:?}: use private, rprivate, shared, rshared, slave or rslave"));
                                None
                            }
                        }
                    });
                    if let Some(r) = b.get("recursive") {
                        if cx.string(r, &at("bind.recursive")).is_some_and(|r| r != "enabled") {
                            cx.unsupported(
                                &r.span,
                                &at("bind.recursive"),
                                "recursive",
                                "non-recursive bind mounts need Docker Engine API 1.44",
                            );
                        }
                    }
                }
                if create_host_path && propagation.is_none() {
                    let mut options = vec![mode.to_string()];
                    options.extend(selinux);
                    binds.push(format!("{source}:{target}:{}", options.join(",")));
                } else {
                    if let (Some(_), Some(node)) = (&selinux, bind.and_then(|b| b.get("selinux"))) {
                        // The mount API has no relabel option; Compose drops it there, which would leave the
                        // container unable to read the files on an SELinux host.
                        cx.unsupported(
                            &node.span,
                            &at("bind.selinux"),
                            "selinux",
                            "relabelling needs `create_host_path: true` and no `propagation`, so the bind API is used",
                        );
                    }
                    mounts.push(Mount {
                        typ: Some(MountType::BIND),
                        source: Some(source),
                        target: Some(target),
                        read_only: read_only.then_some(true),
                        bind_options: Some(MountBindOptions {
                            propagation,
                            create_mountpoint: create_host_path.then_some(true),
                            ..Default::default()
                        }),
                        ..Default::default()
                    });
                }
            }
            "volume" => {
                let mut nocopy = false;
                if let Some(vo) = volume {
                    cx.keys(
                        vo,
                        &at("volume"),
                        &["nocopy"],
                        &[("subpath", "volume subpaths need Docker Engine API 1.45")],
                    );
                    nocopy = vo.get("nocopy").and_then(|c| cx.bool(c, &at("volume.nocopy"))).unwrap_or(false);
                }
                if let Some(b) = bind {
                    cx.keys(b, &at("bind"), &["selinux"], &[]);
                }
                let Some(source) = source else {
                    // Anonymous: the engine makes a fresh volume.
                    mounts.push(Mount {
                        typ: Some(MountType::VOLUME),
                        target: Some(target),
                        read_only: read_only.then_some(true),
                        volume_options: nocopy
                            .then(|| MountVolumeOptions { no_copy: Some(true), ..Default::default() }),
                        ..Default::default()
                    });
                    continue;
                };
                let Some(spec) = volumes.iter().find(|vol| vol.key == source) else {
                    let span = v.get("source").map_or(&v.span, |s| &s.span);
                    cx.at(
                        span,
                        &at("source"),
                        format!("uses undefined volume `{source}`; declare it under top-level `volumes:`"),
                    );
                    continue;
                };
                if nocopy {
                    mounts.push(Mount {
                        typ: Some(MountType::VOLUME),
                        source: Some(spec.name.clone()),
                        target: Some(target),
                        read_only: read_only.then_some(true),
                        volume_options: Some(MountVolumeOptions { no_copy: Some(true), ..Default::default() }),
                        ..Default::default()
                    });
                } else {
                    let mut options = vec![mode.to_string()];
                    options.extend(selinux);
                    binds.push(format!("{}:{target}:{}", spec.name, options.join(",")));
                }
            }
            "tmpfs" => {
                let mut options = MountTmpfsOptions::default();
                if let Some(t) = tmpfs {
                    cx.keys(t, &at("tmpfs"), &["size", "mode"], &[]);
                    options.size_bytes = t.get("size").and_then(|s| cx.bytes(s, &at("tmpfs.size")));
                    options.mode = t.get("mode").and_then(|m| file_mode(cx, m, &at("tmpfs.mode")));
                }
                if let Some(s) = v.get("source").filter(|s| !s.is_null()) {
                    cx.at(&s.span, &at("source"), "a tmpfs mount has no `source`");
                }
                mounts.push(Mount {
                    typ: Some(MountType::TMPFS),
                    target: Some(target),
                    read_only: read_only.then_some(true),
                    tmpfs_options: (tmpfs.is_some()).then_some(options),
                    ..Default::default()
                });
            }
            other => {
                let span = v.get("type").map_or(&v.span, |t| &t.span);
                let why = match other {
                    "npipe" => "named pipes exist on Windows engines only",
                    "cluster" => "cluster volumes need swarm",
                    "image" => "image mounts need Docker Engine API 1.47",
                    _ => "unknown mount type",
                };
                cx.unsupported(span, &at("type"), &format!("type: {other}"), why);
            }
        }
    }
    files(cx, stack, n, path, "secrets", "/run/secrets/", &mut mounts);
    files(cx, stack, n, path, "configs", "/", &mut mounts);
    ((!binds.is_empty()).then_some(binds), (!mounts.is_empty()).then_some(mounts))
}

/// A tmpfs `mode` as compose-go reads it: a plain YAML number as written (go-yaml: `01777` is octal), a
/// quoted string as octal digits.
fn file_mode(cx: &mut Cx, node: &Node, path: &str) -> Option<i64> {
    let parsed = match node.to_json() {
        serde_json::Value::Number(n) => n.as_i64(),
        serde_json::Value::String(s) => i64::from_str_radix(s.trim(), 8).ok(),
        _ => None,
    };
    if parsed.is_none() {
        cx.at(&node.span, path, "expected a file mode like 1777");
    }
    parsed
}

/// `secrets` / `configs` backed by a `file:` are bind-mounted read-only, as Compose does
/// (`buildContainerSecretMounts`); the other kinds are copied in by Compose after create, which the
/// runtime does not do.
fn files(cx: &mut Cx, stack: &Stack, n: &Node, path: &str, kind: &str, base: &str, mounts: &mut Vec<Mount>) {
    let top = stack.project.root.get(kind);
    for (i, item) in n.get(kind).and_then(Node::as_seq).unwrap_or(&[]).iter().enumerate() {
        let p = format!("{path}.{kind}[{i}]");
        cx.keys(
            item,
            &p,
            &["source", "target"],
            &[
                ("uid", "the file is bind-mounted as it is on the host; its owner cannot be changed"),
                ("gid", "the file is bind-mounted as it is on the host; its group cannot be changed"),
                ("mode", "the file is bind-mounted as it is on the host; its mode cannot be changed"),
            ],
        );
        let Some(source) = item.get("source").and_then(|s| cx.string(s, &join(&p, "source"))) else {
            cx.at(&item.span, &p, "needs `source`");
            continue;
        };
        let target = item.get("target").and_then(|t| cx.string(t, &join(&p, "target")));
        let target = match target {
            None => format!("{base}{source}"),
            Some(t) if t.starts_with('/') => t,
            Some(t) => format!("{base}{t}"),
        };
        let Some(def) = top.and_then(|t| t.get(&source)) else {
            cx.at(&item.span, &p, format!("uses undefined {} `{source}`", kind.trim_end_matches('s')));
            continue;
        };
        let tp = format!("{kind}.{source}");
        let file = def.get("file").and_then(|f| cx.string(f, &join(&tp, "file")));
        let Some(file) = file else {
            let key = ["environment", "content", "external", "driver", "template_driver"]
                .into_iter()
                .find_map(|k| def.entry(k))
                .map(|(k, _)| (k.span.clone(), k.name.clone()));
            let (span, key) = key.unwrap_or((def.span.clone(), "file".into()));
            cx.unsupported(
                &span,
                &join(&tp, &key),
                &key,
                "only file-based secrets and configs are mounted (from `file:`)",
            );
            continue;
        };
        mounts.push(Mount {
            typ: Some(MountType::BIND),
            source: Some(file),
            target: Some(target),
            read_only: Some(true),
            bind_options: Some(MountBindOptions::default()),
            ..Default::default()
        });
    }
}
