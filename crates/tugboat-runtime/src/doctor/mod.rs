//! `tug doctor`'s checks that need the Docker Engine or the resolved stack: the engine itself, and the
//! stack's binds, ports, memory and GPUs fed into the host checks of [`tugboat::doctor`]. The backup
//! repository is probed by the CLI with tugboat-backup (this crate does not link rustic).

pub mod engine;
pub mod stack;

use std::path::{Path, PathBuf};

use tugboat::doctor::{self as host, Check, Group};
use tugboat::stack::{ConfigError, Stack};

use crate::engine::Engine;

/// Every check but the backup repository's, in report order. A stack the runtime would refuse is a
/// configuration error (exit 2), as for `tug up`.
pub fn diagnose(stack: &Stack) -> Result<Vec<Check>, ConfigError> {
    let spec = crate::spec::resolve(stack)?;
    let facts = engine::Facts::gather();
    let mut checks = engine::checks(&facts);
    checks.push(host::compose::check_compose());

    let mounts = host::mounts::read_mountinfo().unwrap_or_default();
    let cgroups = host::cgroup::detect(&mounts);
    checks.extend(host::cgroup::check_cgroups(cgroups.as_ref()));
    checks.extend(host::kernel::check_kernel(
        host::kernel::read_config(),
        cgroups.as_ref().is_some_and(|c| c.version == 1),
    ));
    checks.extend(host::network::check_network(Path::new("/proc/sys/net")));

    let binds = stack::binds(&spec);
    let mut paths: Vec<(PathBuf, String)> = Vec::new();
    if let Some(root) = facts.info.as_ref().and_then(|i| i.docker_root_dir.clone()).filter(|_| facts.is_local()) {
        paths.push((PathBuf::from(root), "Docker's root dir".into()));
    }
    paths.extend(
        binds.iter().filter(|b| !b.read_only).map(|b| (b.source.clone(), format!("bind of {}", b.services.join(", ")))),
    );
    paths.extend(host::space::backup_paths(stack));
    checks.extend(host::space::check_space(&paths, &mounts));

    checks.extend(host::mounts::check_binds(&binds, &mounts));
    let expected = stack.config.host.as_ref().map(|h| h.mounts.as_slice()).unwrap_or(&[]);
    checks.extend(host::mounts::check_expected(expected, &mounts));
    if binds.is_empty() && expected.is_empty() {
        checks.push(Check::skip(
            Group::Mounts,
            "mounts",
            "the stack binds no host paths and tugboat.yml expects no mounts",
        ));
    }

    let gpu = stack::gpu_services(&spec);
    if gpu.is_empty() {
        checks.push(Check::skip(Group::Gpu, "gpu.driver", "no service reserves a GPU"));
        checks.push(Check::skip(Group::Gpu, "gpu.runtime", "no service reserves a GPU"));
    } else {
        checks.push(host::gpu::check_driver(&gpu));
        checks.push(engine::gpu_runtime(&facts, &gpu));
    }

    let mut published = stack::published(&spec);
    mark_held_by_stack(&facts, &spec.project, &mut published);
    checks.extend(host::ports::check_ports(&published, &host::ports::read_sockets()));

    checks.push(host::memory::check_memory(&stack::memory(&spec), host::memory::mem_total()));
    Ok(checks)
}

/// Ports this project's running containers already publish are the stack's own (a second `tug up` keeps them).
fn mark_held_by_stack(facts: &engine::Facts, project: &str, published: &mut [host::ports::Published]) {
    let Ok(docker) = &facts.docker else { return };
    let Ok(containers) = crate::observe::project_containers(docker, project) else { return };
    for c in containers.iter().filter(|c| c.state == "running") {
        let Ok(inspect) = docker.inspect(&c.id) else { continue };
        let ports = inspect.network_settings.and_then(|n| n.ports).unwrap_or_default();
        for (key, bindings) in ports {
            let protocol = key.split_once('/').and_then(|(_, p)| host::ports::Protocol::parse(p));
            for b in bindings.iter().flatten() {
                let port = b.host_port.as_deref().and_then(|p| p.parse::<u16>().ok());
                for p in published.iter_mut().filter(|p| Some(p.port) == port && Some(p.protocol) == protocol) {
                    p.held_by_stack = Some(c.name.clone());
                }
            }
        }
    }
}
