//! Stacks written to a temporary directory, loaded as `tug` loads them, resolved, and the create bodies
//! checked key by key; then the refusals, with their file:line:col and key path.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;

use bollard::models::{MountBindOptionsPropagationEnum, MountType, RestartPolicyNameEnum};
use tugboat::stack::{load, LoadOptions};

use super::values::{parse_duration, parse_size};
use super::*;

struct Stack(tempfile::TempDir);

fn stack(compose: &str) -> Stack {
    stack_with(compose, &[])
}

fn stack_with(compose: &str, files: &[(&str, &str)]) -> Stack {
    let d = tempfile::Builder::new().prefix("spec").tempdir().unwrap();
    std::fs::write(d.path().join("compose.yaml"), compose).unwrap();
    for (name, text) in files {
        std::fs::write(d.path().join(name), text).unwrap();
    }
    Stack(d)
}

impl Stack {
    fn load(&self) -> tugboat::stack::Stack {
        load(self.0.path(), &LoadOptions { process_env: Some(HashMap::new()), ..Default::default() }).unwrap()
    }
    fn resolve(&self) -> ProjectSpec {
        resolve(&self.load()).unwrap()
    }
    /// Each error, with the directory shown as `DIR`.
    fn errors(&self) -> Vec<String> {
        let err = resolve(&self.load()).unwrap_err();
        let dir = self.0.path().display().to_string();
        err.flatten().iter().map(|e| e.to_string().replace(&dir, "DIR")).collect()
    }
    fn dir(&self) -> String {
        self.0.path().display().to_string()
    }
}

fn svc<'a>(p: &'a ProjectSpec, name: &str) -> &'a ServiceSpec {
    p.services.iter().find(|s| s.name == name).unwrap()
}

fn hc(s: &ServiceSpec) -> &bollard::models::HostConfig {
    s.create.host_config.as_ref().unwrap()
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn basic_service_keys() {
    let d = stack(
        "name: demo\nservices:\n  web:\n    image: nginx:1.25\n    command: [\"nginx\", \"-g\", \"daemon off;\"]\n    entrypoint: \"\"\n    environment:\n      A: '1'\n      UNSET:\n      B: two\n    user: '1000:1000'\n    working_dir: /srv\n    hostname: web1\n    domainname: example.org\n    read_only: true\n    tty: true\n    stdin_open: true\n    privileged: false\n    init: true\n    cap_add: [NET_ADMIN]\n    cap_drop: [ALL]\n    security_opt: [no-new-privileges:true, systempaths=unconfined]\n    stop_signal: SIGQUIT\n    stop_grace_period: 1m30s\n    labels: {tier: front}\n    tmpfs: [/run, '/tmp:size=64m']\n    sysctls: {net.core.somaxconn: 1024}\n    extra_hosts: ['db.local:10.0.0.5']\n    dns: 8.8.8.8\n    dns_search: [example.org]\n    dns_opt: [use-vc]\n    group_add: [audio, 1001]\n    logging: {driver: json-file, options: {max-size: 10m}}\n    ipc: shareable\n    pid: host\n    uts: host\n    cgroup: private\n    cgroup_parent: /tug\n    runtime: runc\n    storage_opt: {size: 1G}\n    userns_mode: host\n    oom_score_adj: -100\n    shm_size: 64m\n    attach: false\n    develop: {watch: [{path: ., action: rebuild}]}\n    x-note: ignored\n",
    );
    let p = d.resolve();
    assert_eq!(p.project, "demo");
    let web = svc(&p, "web");
    let c = &web.create;
    assert_eq!(c.image.as_deref(), Some("nginx:1.25"));
    assert_eq!(c.cmd, Some(strings(&["nginx", "-g", "daemon off;"])));
    // An empty entrypoint resets the image's: an empty list, as Compose sends.
    assert_eq!(c.entrypoint, Some(Vec::new()));
    assert_eq!(c.env, Some(strings(&["A=1", "B=two"])));
    assert_eq!(c.user.as_deref(), Some("1000:1000"));
    assert_eq!(c.working_dir.as_deref(), Some("/srv"));
    assert_eq!((c.hostname.as_deref(), c.domainname.as_deref()), (Some("web1"), Some("example.org")));
    assert_eq!((c.tty, c.open_stdin), (Some(true), Some(true)));
    assert_eq!(c.stop_signal.as_deref(), Some("SIGQUIT"));
    assert_eq!(c.stop_timeout, Some(90));
    assert_eq!(web.stop_grace_seconds, Some(90));
    assert_eq!(c.labels.as_ref().unwrap()["tier"], "front");
    let h = hc(web);
    assert_eq!(h.readonly_rootfs, Some(true));
    assert_eq!((h.privileged, h.init), (Some(false), Some(true)));
    // Normalized as Compose does (docker/cli's EffectiveCapAddCapDrop).
    assert_eq!(h.cap_add, Some(strings(&["CAP_NET_ADMIN"])));
    assert_eq!(h.cap_drop, Some(strings(&["ALL"])));
    assert_eq!(h.security_opt, Some(strings(&["no-new-privileges:true"])));
    assert_eq!(h.masked_paths, Some(Vec::new()));
    assert_eq!(h.readonly_paths, Some(Vec::new()));
    let tmpfs = h.tmpfs.as_ref().unwrap();
    assert_eq!((tmpfs["/run"].as_str(), tmpfs["/tmp"].as_str()), ("", "size=64m"));
    assert_eq!(h.sysctls.as_ref().unwrap()["net.core.somaxconn"], "1024");
    assert_eq!(h.extra_hosts, Some(strings(&["db.local:10.0.0.5"])));
    assert_eq!(h.dns, Some(strings(&["8.8.8.8"])));
    assert_eq!(h.dns_search, Some(strings(&["example.org"])));
    assert_eq!(h.dns_options, Some(strings(&["use-vc"])));
    assert_eq!(h.group_add, Some(strings(&["audio", "1001"])));
    let log = h.log_config.as_ref().unwrap();
    assert_eq!(log.typ.as_deref(), Some("json-file"));
    assert_eq!(log.config.as_ref().unwrap()["max-size"], "10m");
    assert_eq!(h.ipc_mode.as_deref(), Some("shareable"));
    assert_eq!((h.pid_mode.as_deref(), h.uts_mode.as_deref()), (Some("host"), Some("host")));
    assert_eq!(h.cgroupns_mode, Some(bollard::models::HostConfigCgroupnsModeEnum::PRIVATE));
    assert_eq!(h.cgroup_parent.as_deref(), Some("/tug"));
    assert_eq!(h.runtime.as_deref(), Some("runc"));
    assert_eq!(h.storage_opt.as_ref().unwrap()["size"], "1G");
    assert_eq!(h.userns_mode.as_deref(), Some("host"));
    assert_eq!(h.oom_score_adj, Some(-100));
    assert_eq!(h.shm_size, Some(64 << 20));
    // No restart key: no policy (the engine's default, as Compose leaves it).
    assert_eq!(h.restart_policy, None);
    assert_eq!(web.replicas, 1);
    assert_eq!(web.pull_policy, PullPolicy::Missing);
    assert_eq!(web.healthcheck, None);
    // The default network, with the service name as its alias.
    assert_eq!(web.networks.len(), 1);
    assert_eq!(web.networks[0].key, "default");
    assert_eq!(web.networks[0].network, "demo_default");
    assert_eq!(web.networks[0].aliases, strings(&["web"]));
    assert_eq!(h.network_mode.as_deref(), Some("demo_default"));
    assert_eq!(p.networks.len(), 1);
    assert_eq!(p.networks[0].name, "demo_default");
    // Compose leaves the driver out; the engine's default is bridge.
    assert_eq!(p.networks[0].create.driver, None);
}

#[test]
fn ports_expose_and_ranges() {
    let d = stack("services:\n  web:\n    image: x\n    ports:\n      - '8080:80'\n      - '127.0.0.1:5353:53/udp'\n      - '9000-9001:9000-9001'\n      - '3000'\n      - '127.0.0.1::4000'\n      - '7000-7010:70'\n      - target: 443\n        published: '8443'\n        host_ip: '::1'\n        protocol: tcp\n        mode: host\n      - '8081:80'\n    expose: ['6000', '6001/udp']\n");
    let p = d.resolve();
    let web = svc(&p, "web");
    let exposed = web.create.exposed_ports.as_ref().unwrap();
    assert_eq!(
        exposed,
        &strings(&[
            "80/tcp", "53/udp", "9000/tcp", "9001/tcp", "3000/tcp", "4000/tcp", "70/tcp", "443/tcp", "6000", "6001/udp"
        ])
    );
    let b = hc(web).port_bindings.as_ref().unwrap();
    let one = |k: &str| -> Vec<(String, String)> {
        b[k].as_ref().unwrap().iter().map(|x| (x.host_ip.clone().unwrap(), x.host_port.clone().unwrap())).collect()
    };
    let pair = |ip: &str, port: &str| (ip.to_string(), port.to_string());
    assert_eq!(one("80/tcp"), vec![pair("", "8080"), pair("", "8081")]);
    assert_eq!(one("53/udp"), vec![pair("127.0.0.1", "5353")]);
    assert_eq!(one("9001/tcp"), vec![pair("", "9001")]);
    // Ephemeral: an empty host port, the engine picks one.
    assert_eq!(one("3000/tcp"), vec![pair("", "")]);
    assert_eq!(one("4000/tcp"), vec![pair("127.0.0.1", "")]);
    assert_eq!(one("70/tcp"), vec![pair("", "7000-7010")]);
    assert_eq!(one("443/tcp"), vec![pair("::1", "8443")]);
}

#[test]
fn volumes_binds_mounts_and_named_volumes() {
    let d = stack_with(
        "name: vols\nservices:\n  app:\n    image: x\n    volumes:\n      - ./data:/data:ro\n      - named:/var/lib\n      - /cache\n      - ./sel:/sel:z\n      - named:/sel-named:Z\n      - named:/nocopy:nocopy\n      - /mnt:/mnt:ro,rslave\n      - type: bind\n        source: ./conf\n        target: /etc/conf\n        read_only: true\n        bind: {propagation: rprivate, create_host_path: false}\n      - type: bind\n        source: ./plain\n        target: /plain\n      - type: tmpfs\n        target: /run\n        tmpfs: {size: 64m, mode: 0o1777}\n      - type: volume\n        source: ext\n        target: /ext\n    secrets: [token, {source: token, target: other}]\n    configs: [{source: conf, target: /etc/app.conf}, conf]\nvolumes:\n  named:\n    labels: {backup: 'yes'}\n  ext:\n    external: true\n  unused: {}\nsecrets:\n  token: {file: ./token.txt}\nconfigs:\n  conf: {file: ./app.conf}\n",
        &[("token.txt", "s3cret"), ("app.conf", "x=1")],
    );
    let p = d.resolve();
    let dir = d.dir();
    let app = svc(&p, "app");
    let h = hc(app);
    let binds = h.binds.as_ref().unwrap();
    assert_eq!(
        binds,
        &vec![
            format!("{dir}/data:/data:ro"),
            "vols_named:/var/lib:rw".to_string(),
            format!("{dir}/sel:/sel:rw,z"),
            "vols_named:/sel-named:rw,Z".to_string(),
            format!("{dir}/plain:/plain:rw"),
            "ext:/ext:rw".to_string(),
        ]
    );
    let mounts = h.mounts.as_ref().unwrap();
    let find = |t: &str| mounts.iter().find(|m| m.target.as_deref() == Some(t)).unwrap();
    let anon = find("/cache");
    assert_eq!((anon.typ, anon.source.as_deref()), (Some(MountType::VOLUME), None));
    let nocopy = find("/nocopy");
    assert_eq!(nocopy.source.as_deref(), Some("vols_named"));
    assert_eq!(nocopy.volume_options.as_ref().unwrap().no_copy, Some(true));
    let rslave = find("/mnt");
    assert_eq!(rslave.typ, Some(MountType::BIND));
    assert_eq!(rslave.read_only, Some(true));
    let opts = rslave.bind_options.as_ref().unwrap();
    assert_eq!(opts.propagation, Some(MountBindOptionsPropagationEnum::RSLAVE));
    assert_eq!(opts.create_mountpoint, Some(true));
    let conf = find("/etc/conf");
    assert_eq!(conf.source.as_deref(), Some(format!("{dir}/conf").as_str()));
    assert_eq!(conf.bind_options.as_ref().unwrap().propagation, Some(MountBindOptionsPropagationEnum::RPRIVATE));
    assert_eq!(conf.bind_options.as_ref().unwrap().create_mountpoint, None);
    let run = find("/run");
    assert_eq!(run.typ, Some(MountType::TMPFS));
    let t = run.tmpfs_options.as_ref().unwrap();
    assert_eq!((t.size_bytes, t.mode), (Some(64 << 20), Some(0o1777)));
    for (target, file) in [
        ("/run/secrets/token", "token.txt"),
        ("/run/secrets/other", "token.txt"),
        ("/etc/app.conf", "app.conf"),
        ("/conf", "app.conf"),
    ] {
        let m = find(target);
        assert_eq!((m.typ, m.read_only), (Some(MountType::BIND), Some(true)), "{target}");
        assert_eq!(m.source.as_deref(), Some(format!("{dir}/{file}").as_str()));
    }
    // Only the volumes the service uses, in file order, with their engine names.
    let names: Vec<(&str, &str, bool)> =
        p.volumes.iter().map(|v| (v.key.as_str(), v.name.as_str(), v.external)).collect();
    assert_eq!(names, vec![("named", "vols_named", false), ("ext", "ext", true)]);
    assert_eq!(p.volumes[0].create.labels.as_ref().unwrap()["backup"], "yes");
}

#[test]
fn healthcheck_forms() {
    let d = stack("services:\n  shell:\n    image: x\n    healthcheck:\n      test: curl -f http://localhost\n      interval: 1m30s\n      timeout: 500ms\n      start_period: 10s\n      retries: 3\n  exec:\n    image: x\n    healthcheck: {test: [CMD, pg_isready, -U, app]}\n  off:\n    image: x\n    healthcheck: {disable: true}\n  none:\n    image: x\n    healthcheck: {test: [NONE]}\n  timing:\n    image: x\n    healthcheck: {interval: 5s}\n");
    let p = d.resolve();
    let shell = svc(&p, "shell");
    let h = shell.create.healthcheck.as_ref().unwrap();
    assert_eq!(h.test, Some(strings(&["CMD-SHELL", "curl -f http://localhost"])));
    assert_eq!(h.interval, Some(90_000_000_000));
    assert_eq!(h.timeout, Some(500_000_000));
    assert_eq!(h.start_period, Some(10_000_000_000));
    assert_eq!(h.retries, Some(3));
    assert_eq!(shell.healthcheck, Some(true));
    let exec = svc(&p, "exec");
    assert_eq!(exec.create.healthcheck.as_ref().unwrap().test, Some(strings(&["CMD", "pg_isready", "-U", "app"])));
    assert_eq!(exec.healthcheck, Some(true));
    for name in ["off", "none"] {
        let s = svc(&p, name);
        assert_eq!(s.create.healthcheck.as_ref().unwrap().test, Some(strings(&["NONE"])), "{name}");
        assert_eq!(s.healthcheck, Some(false), "{name}");
    }
    // Timing only: the image's test applies, so whether there is one is unknown here.
    let timing = svc(&p, "timing");
    assert_eq!(timing.healthcheck, None);
    assert_eq!(timing.create.healthcheck.as_ref().unwrap().interval, Some(5_000_000_000));
}

#[test]
fn restart_forms() {
    let d = stack("services:\n  a: {image: x, restart: always}\n  b: {image: x, restart: 'on-failure:5'}\n  c: {image: x, restart: unless-stopped}\n  d: {image: x, restart: 'no'}\n  e:\n    image: x\n    restart: always\n    deploy: {restart_policy: {condition: on-failure, max_attempts: 3, delay: 5s}}\n  f:\n    image: x\n    deploy: {restart_policy: {condition: any}}\n");
    let p = d.resolve();
    let rp = |n: &str| {
        let r = hc(svc(&p, n)).restart_policy.clone().unwrap();
        (r.name.unwrap(), r.maximum_retry_count.unwrap())
    };
    assert_eq!(rp("a"), (RestartPolicyNameEnum::ALWAYS, 0));
    assert_eq!(rp("b"), (RestartPolicyNameEnum::ON_FAILURE, 5));
    assert_eq!(rp("c"), (RestartPolicyNameEnum::UNLESS_STOPPED, 0));
    assert_eq!(rp("d"), (RestartPolicyNameEnum::NO, 0));
    // deploy.restart_policy wins over restart, as in Compose.
    assert_eq!(rp("e"), (RestartPolicyNameEnum::ON_FAILURE, 3));
    assert_eq!(rp("f"), (RestartPolicyNameEnum::ALWAYS, 0));
}

#[test]
fn resources_devices_and_gpus() {
    let d = stack("services:\n  app:\n    image: x\n    mem_limit: 1g\n    mem_reservation: 512m\n    memswap_limit: -1\n    mem_swappiness: 10\n    cpus: 0.1\n    cpu_shares: 512\n    cpu_period: 100000\n    cpu_quota: 50000\n    cpuset: 0-1\n    cpu_rt_runtime: 950000\n    cpu_rt_period: 1000000\n    pids_limit: 100\n    oom_kill_disable: true\n    blkio_config:\n      weight: 300\n      weight_device: [{path: /dev/sda, weight: 400}]\n      device_read_bps: [{path: /dev/sda, rate: 12mb}]\n      device_write_iops: [{path: /dev/sda, rate: 30}]\n    devices: ['/dev/fuse', '/dev/snd:/dev/audio:r']\n    device_cgroup_rules: ['c 1:3 mr']\n    ulimits: {nofile: {soft: 1024, hard: 2048}, nproc: 65535}\n  limited:\n    image: x\n    mem_limit: 1g\n    cpus: 2\n    deploy:\n      replicas: 3\n      resources:\n        limits: {cpus: '1.5', memory: 2g, pids: 50}\n        reservations:\n          cpus: '0.5'\n          memory: 256M\n          devices:\n            - {driver: nvidia, count: 1, capabilities: [gpu, utility]}\n            - {driver: nvidia, device_ids: ['0', '3'], capabilities: [gpu], options: {virtualization: 'false'}}\n            - {capabilities: [gpu]}\n  gpu:\n    image: x\n    gpus: all\n  gpus:\n    image: x\n    gpus: [{driver: nvidia, count: 2}]\n");
    let p = d.resolve();
    let h = hc(svc(&p, "app"));
    assert_eq!(h.memory, Some(1 << 30));
    assert_eq!(h.memory_reservation, Some(512 << 20));
    assert_eq!(h.memory_swap, Some(-1));
    assert_eq!(h.memory_swappiness, Some(10));
    assert_eq!(h.nano_cpus, Some(100_000_000));
    assert_eq!((h.cpu_shares, h.cpu_period, h.cpu_quota), (Some(512), Some(100_000), Some(50_000)));
    assert_eq!(h.cpuset_cpus.as_deref(), Some("0-1"));
    assert_eq!((h.cpu_realtime_runtime, h.cpu_realtime_period), (Some(950_000), Some(1_000_000)));
    assert_eq!(h.pids_limit, Some(100));
    assert_eq!(h.oom_kill_disable, Some(true));
    assert_eq!(h.blkio_weight, Some(300));
    assert_eq!(h.blkio_weight_device.as_ref().unwrap()[0].weight, Some(400));
    assert_eq!(h.blkio_device_read_bps.as_ref().unwrap()[0].rate, Some(12 << 20));
    assert_eq!(h.blkio_device_write_iops.as_ref().unwrap()[0].rate, Some(30));
    let devs: Vec<(String, String, String)> = h
        .devices
        .as_ref()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d.path_on_host.clone().unwrap(),
                d.path_in_container.clone().unwrap(),
                d.cgroup_permissions.clone().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        devs,
        vec![
            ("/dev/fuse".into(), "/dev/fuse".into(), "rwm".into()),
            ("/dev/snd".into(), "/dev/audio".into(), "r".into())
        ]
    );
    assert_eq!(h.device_cgroup_rules, Some(strings(&["c 1:3 mr"])));
    let u = h.ulimits.as_ref().unwrap();
    assert_eq!((u[0].name.as_deref(), u[0].soft, u[0].hard), (Some("nofile"), Some(1024), Some(2048)));
    assert_eq!((u[1].name.as_deref(), u[1].soft, u[1].hard), (Some("nproc"), Some(65535), Some(65535)));

    let limited = svc(&p, "limited");
    assert_eq!(limited.replicas, 3);
    let h = hc(limited);
    // deploy limits win over mem_limit / cpus.
    assert_eq!(h.memory, Some(2 << 30));
    assert_eq!(h.nano_cpus, Some(1_500_000_000));
    assert_eq!(h.pids_limit, Some(50));
    assert_eq!(h.memory_reservation, Some(256 << 20));
    let reqs = h.device_requests.as_ref().unwrap();
    assert_eq!(reqs.len(), 3);
    assert_eq!(reqs[0].driver.as_deref(), Some("nvidia"));
    assert_eq!(reqs[0].count, Some(1));
    assert_eq!(reqs[0].capabilities, Some(vec![strings(&["gpu", "utility"])]));
    assert_eq!(reqs[1].device_ids, Some(strings(&["0", "3"])));
    assert_eq!(reqs[1].count, None);
    assert_eq!(reqs[1].options.as_ref().unwrap()["virtualization"], "false");
    assert_eq!(reqs[2].count, Some(-1));

    let gpu = &hc(svc(&p, "gpu")).device_requests.as_ref().unwrap()[0];
    assert_eq!((gpu.count, gpu.capabilities.clone()), (Some(-1), Some(vec![strings(&["gpu"])])));
    let gpus = &hc(svc(&p, "gpus")).device_requests.as_ref().unwrap()[0];
    assert_eq!((gpus.driver.as_deref(), gpus.count), (Some("nvidia"), Some(2)));
}

#[test]
fn networks_aliases_priority_and_modes() {
    let d = stack("name: net\nservices:\n  app:\n    image: x\n    networks:\n      front:\n        aliases: [www]\n        ipv4_address: 172.28.0.10\n      back:\n        priority: 100\n      aa: {}\n  db:\n    image: x\n    container_name: the-db\n    network_mode: host\n  side:\n    image: x\n    network_mode: service:app\n  side2:\n    image: x\n    network_mode: service:db\n    volumes_from: [app, 'db:ro', 'container:other']\n  lone:\n    image: x\n    network_mode: none\n    profiles: [never]\nnetworks:\n  front:\n    driver: bridge\n    driver_opts: {com.docker.network.bridge.name: br-front}\n    internal: true\n    attachable: true\n    enable_ipv6: false\n    labels: {zone: dmz}\n    ipam:\n      driver: default\n      config: [{subnet: 172.28.0.0/16, ip_range: 172.28.5.0/24, gateway: 172.28.0.1, aux_addresses: {host1: 172.28.1.5}}]\n  back: {name: custom-back}\n  aa: {external: true}\n  spare: {}\n");
    let p = d.resolve();
    // The inactive service is left out.
    assert!(p.services.iter().all(|s| s.name != "lone"));
    let app = svc(&p, "app");
    let keys: Vec<&str> = app.networks.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(keys, vec!["back", "aa", "front"]);
    assert_eq!(app.networks[0].network, "custom-back");
    assert_eq!(hc(app).network_mode.as_deref(), Some("custom-back"));
    assert_eq!(app.networks[2].aliases, strings(&["app", "www"]));
    assert_eq!(app.networks[2].ipv4_address.as_deref(), Some("172.28.0.10"));
    assert_eq!(hc(svc(&p, "db")).network_mode.as_deref(), Some("host"));
    assert!(svc(&p, "db").networks.is_empty());
    assert_eq!(hc(svc(&p, "side")).network_mode.as_deref(), Some("container:net-app-1"));
    let side2 = hc(svc(&p, "side2"));
    assert_eq!(side2.network_mode.as_deref(), Some("container:the-db"));
    assert_eq!(side2.volumes_from, Some(strings(&["net-app-1", "the-db:ro", "other"])));
    let nets: Vec<(&str, &str, bool)> =
        p.networks.iter().map(|n| (n.key.as_str(), n.name.as_str(), n.external)).collect();
    assert_eq!(nets, vec![("front", "net_front", false), ("back", "custom-back", false), ("aa", "aa", true)]);
    let front = &p.networks[0].create;
    assert_eq!(front.driver.as_deref(), Some("bridge"));
    assert_eq!(front.options.as_ref().unwrap()["com.docker.network.bridge.name"], "br-front");
    assert_eq!((front.internal, front.attachable, front.enable_ipv6), (Some(true), Some(true), Some(false)));
    assert_eq!(front.labels.as_ref().unwrap()["zone"], "dmz");
    let ipam = front.ipam.as_ref().unwrap();
    assert_eq!(ipam.driver.as_deref(), Some("default"));
    let c = &ipam.config.as_ref().unwrap()[0];
    assert_eq!(c.subnet.as_deref(), Some("172.28.0.0/16"));
    assert_eq!(c.ip_range.as_deref(), Some("172.28.5.0/24"));
    assert_eq!(c.gateway.as_deref(), Some("172.28.0.1"));
    assert_eq!(c.auxiliary_addresses.as_ref().unwrap()["host1"], "172.28.1.5");
}

#[test]
fn depends_on_build_pull_policy_and_scale() {
    let d = stack_with(
        "name: bld\nservices:\n  app:\n    build:\n      context: ./app\n      args: {VERSION: '1.2', BARE: null}\n      target: prod\n      labels: {org: me}\n      tags: ['registry/app:1']\n      network: host\n      shm_size: 128m\n      extra_hosts: ['mirror:10.0.0.1']\n      no_cache: true\n      pull: true\n    pull_policy: build\n    scale: 2\n    depends_on:\n      db: {condition: service_healthy, restart: true}\n      cache: {condition: service_completed_successfully, required: false}\n      init: {condition: service_started}\n  plain:\n    build: .\n    image: mine:latest\n    pull_policy: if_not_present\n  db: {image: x, pull_policy: always}\n  cache: {image: x, pull_policy: never}\n  init: {image: x}\n",
        &[],
    );
    let p = d.resolve();
    let app = svc(&p, "app");
    assert_eq!(app.image, "bld-app");
    assert_eq!(app.create.image.as_deref(), Some("bld-app"));
    assert_eq!(app.replicas, 2);
    assert_eq!(app.pull_policy, PullPolicy::Build);
    let b = app.build.as_ref().unwrap();
    assert_eq!(b.context, std::path::PathBuf::from(format!("{}/app", d.dir())));
    assert_eq!(b.dockerfile, "Dockerfile");
    assert_eq!(b.args.get("VERSION").map(String::as_str), Some("1.2"));
    assert!(!b.args.contains_key("BARE"));
    assert_eq!(b.target.as_deref(), Some("prod"));
    assert_eq!(b.labels.get("org").map(String::as_str), Some("me"));
    assert_eq!(b.tags, strings(&["registry/app:1"]));
    assert_eq!(b.network.as_deref(), Some("host"));
    assert_eq!(b.shm_size, Some(128 << 20));
    assert_eq!(b.extra_hosts, strings(&["mirror:10.0.0.1"]));
    assert!(b.no_cache && b.pull);
    assert_eq!(
        app.depends_on,
        vec![
            DependsOn { service: "db".into(), condition: Condition::ServiceHealthy, required: true, restart: true },
            DependsOn {
                service: "cache".into(),
                condition: Condition::ServiceCompletedSuccessfully,
                required: false,
                restart: false
            },
            DependsOn { service: "init".into(), condition: Condition::ServiceStarted, required: true, restart: false },
        ]
    );
    let plain = svc(&p, "plain");
    assert_eq!(plain.image, "mine:latest");
    assert_eq!(plain.build.as_ref().unwrap().context, std::path::PathBuf::from(d.dir()));
    assert_eq!(plain.pull_policy, PullPolicy::Missing);
    assert_eq!(svc(&p, "db").pull_policy, PullPolicy::Always);
    assert_eq!(svc(&p, "cache").pull_policy, PullPolicy::Never);
    let order: Vec<&str> = p.services.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(order, vec!["app", "plain", "db", "cache", "init"]);
}

#[test]
fn unsupported_key_is_located() {
    let d = stack("services:\n  web:\n    image: x\n    annotations: {a: b}\n");
    let errors = d.errors();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(
        errors[0],
        "DIR/compose.yaml:4:5: services.web.annotations: `annotations` is not supported by tug's runtime (container annotations need Docker Engine API 1.43; this engine speaks 1.41)"
    );
}

#[test]
fn several_bad_keys_are_reported_together() {
    let d = stack("services:\n  web:\n    image: x\n    links: [db]\n    healthcheck: {test: [CMD, 'true'], start_interval: 1s}\n    pull_policy: daily\n    volumes:\n      - {type: volume, source: data, target: /d, volume: {subpath: sub}}\n      - {type: npipe, source: x, target: /p}\n    mem_limit: lots\n    secrets: [env]\n    deploy: {mode: global}\n  db:\n    image: x\n    post_start: [{command: 'true'}]\n    network_mode: service:nowhere\n    ports: [{target: 80, protocol: foo}]\nvolumes: {data: {}}\nsecrets: {env: {environment: TOKEN}}\n");
    let errors = d.errors();
    let has = |needle: &str| errors.iter().any(|e| e.contains(needle));
    assert!(has("compose.yaml:4:5: services.web.links: `links` is not supported"), "{errors:#?}");
    assert!(has("services.web.healthcheck.start_interval: `start_interval` is not supported"), "{errors:#?}");
    assert!(
        has("compose.yaml:6:18: services.web.pull_policy: pull_policy `daily` is not supported by tug's runtime"),
        "{errors:#?}"
    );
    assert!(has("services.web.volumes[0].volume.subpath: `subpath` is not supported"), "{errors:#?}");
    assert!(has("services.web.volumes[1].type: `type: npipe` is not supported"), "{errors:#?}");
    assert!(has("compose.yaml:10:16: services.web.mem_limit: expected a byte size"), "{errors:#?}");
    assert!(has("secrets.env.environment: `environment` is not supported"), "{errors:#?}");
    assert!(has("services.web.deploy.mode: `mode: global` is not supported"), "{errors:#?}");
    assert!(has("services.db.post_start: `post_start` is not supported"), "{errors:#?}");
    assert!(has("services.db.network_mode: refers to undefined service `nowhere`"), "{errors:#?}");
    assert!(has("services.db.ports[0].protocol: unknown protocol"), "{errors:#?}");
    assert_eq!(errors.len(), 11, "{errors:#?}");
}

#[test]
fn inactive_services_and_unused_resources_do_not_fail() {
    let d = stack("services:\n  web: {image: x}\n  debug:\n    image: x\n    profiles: [debug]\n    links: [web]\n    networks: [dbg]\nnetworks:\n  dbg: {enable_ipv4: false}\n");
    let p = d.resolve();
    assert_eq!(p.services.len(), 1);
    let keys: Vec<&str> = p.networks.iter().map(|n| n.key.as_str()).collect();
    assert_eq!(keys, vec!["default"]);
}

#[test]
fn container_name_with_replicas_and_disagreeing_scale() {
    let d = stack("services:\n  a: {image: x, container_name: fixed, scale: 2}\n  b: {image: x, scale: 2, deploy: {replicas: 3}}\n");
    let errors = d.errors();
    assert!(
        errors
            .iter()
            .any(|e| e.contains("services.a.container_name: a fixed container name cannot be given to 2 replicas")),
        "{errors:#?}"
    );
    assert!(
        errors.iter().any(|e| e.contains("services.b.deploy.replicas: `scale: 2` and `deploy.replicas: 3` disagree")),
        "{errors:#?}"
    );
}

#[test]
fn seccomp_profile_is_inlined_and_label_files_read() {
    let d = stack_with(
        "services:\n  a:\n    image: x\n    security_opt: ['seccomp=./profile.json', 'apparmor=unconfined']\n    label_file: ./labels.env\n    labels: {b: written}\n",
        &[("profile.json", "{\n  \"defaultAction\": \"SCMP_ACT_ALLOW\",\n  \"syscalls\": [ ]\n}\n"), ("labels.env", "a=from-file\nb=from-file\n")],
    );
    let p = d.resolve();
    let a = svc(&p, "a");
    assert_eq!(
        hc(a).security_opt,
        Some(strings(&["seccomp={\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[]}", "apparmor=unconfined"]))
    );
    let labels = a.create.labels.as_ref().unwrap();
    assert_eq!((labels["a"].as_str(), labels["b"].as_str()), ("from-file", "written"));
}

/// Every service key of the vendored compose-spec schema is either handled or refused with a reason, so
/// no key can reach the runtime unread.
#[test]
fn every_schema_service_key_is_handled_or_refused() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../schemas/compose-spec.json");
    let schema: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let props = schema["definitions"]["service"]["properties"].as_object().unwrap();
    assert!(props.len() > 80);
    for key in props.keys() {
        let handled = service::HANDLED.contains(&key.as_str());
        let refused = service::REFUSED.iter().any(|(k, _)| k == key);
        assert!(handled ^ refused, "service key `{key}`: handled {handled}, refused {refused}");
    }
}

#[test]
fn sizes_and_durations() {
    assert_eq!(parse_size("512m"), Some(512 << 20));
    assert_eq!(parse_size("1gb"), Some(1 << 30));
    assert_eq!(parse_size("1.5GiB"), Some(3 << 29));
    assert_eq!(parse_size("100"), Some(100));
    assert_eq!(parse_size("64 k"), Some(64 << 10));
    assert_eq!(parse_size("12x"), None);
    assert_eq!(parse_size("m"), None);
    assert_eq!(parse_duration("1m30s"), Some(90_000_000_000));
    assert_eq!(parse_duration("1.5s"), Some(1_500_000_000));
    assert_eq!(parse_duration("100ms"), Some(100_000_000));
    assert_eq!(parse_duration("2h"), Some(7_200_000_000_000));
    assert_eq!(parse_duration("0"), Some(0));
    assert_eq!(parse_duration("10"), None);
    assert_eq!(parse_duration("1d"), None);
}

/// The example stacks resolve (their `.env` templates standing in for secrets).
#[test]
fn example_stacks_resolve() {
    let examples = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples");
    for name in ["dms", "state-hub", "docsearch"] {
        let dir = std::path::Path::new(examples).join(name);
        let options = LoadOptions { process_env: Some(HashMap::new()), template_fallback: true, ..Default::default() };
        let stack = load(&dir, &options).unwrap();
        let spec = resolve(&stack).unwrap_or_else(|e| panic!("{name}:\n{e}"));
        assert!(!spec.services.is_empty(), "{name}");
        assert!(spec.services.iter().all(|s| s.create.image.is_some()), "{name}");
    }
}

#[test]
fn implicit_dependencies_as_compose_go_adds_them() {
    let d = stack("services:\n  a: {image: x}\n  b: {image: x, ipc: 'service:a'}\n  c:\n    image: x\n    network_mode: 'service:a'\n    pid: 'service:b'\n    volumes_from: ['d:ro', 'container:zz']\n    depends_on: {a: {condition: service_healthy}}\n  d: {image: x}\n");
    let p = d.resolve();
    let deps = |name: &str| -> Vec<(String, Condition, bool, bool)> {
        svc(&p, name).depends_on.iter().map(|d| (d.service.clone(), d.condition, d.required, d.restart)).collect()
    };
    assert_eq!(deps("b"), vec![("a".into(), Condition::ServiceStarted, true, true)]);
    // The written dependency wins; `pid` and `network_mode` restart with their target, `volumes_from` does not.
    assert_eq!(
        deps("c"),
        vec![
            ("a".into(), Condition::ServiceHealthy, true, false),
            ("b".into(), Condition::ServiceStarted, true, true),
            ("d".into(), Condition::ServiceStarted, true, false),
        ]
    );
    assert!(deps("a").is_empty());
}

#[test]
fn capabilities_normalized_as_docker_cli_does() {
    let d = stack("services:\n  a: {image: x, cap_add: [net_admin, ' CAP_SYS_TIME', NET_ADMIN, chown], cap_drop: [MKNOD, CHOWN, RESET]}\n  b: {image: x, cap_add: [ALL, NET_ADMIN], cap_drop: [ALL]}\n  c: {image: x, cap_drop: [ALL, NET_RAW]}\n  e: {image: x}\n");
    let p = d.resolve();
    let caps = |name: &str| (hc(svc(&p, name)).cap_add.clone(), hc(svc(&p, name)).cap_drop.clone());
    // Added wins over dropped; sorted, no duplicates.
    assert_eq!(
        caps("a"),
        (Some(strings(&["CAP_CHOWN", "CAP_NET_ADMIN", "CAP_SYS_TIME"])), Some(strings(&["CAP_MKNOD"])))
    );
    // `ALL` in both: everything added, nothing dropped.
    assert_eq!(caps("b"), (Some(strings(&["ALL"])), None));
    assert_eq!(caps("c"), (None, Some(strings(&["ALL"]))));
    assert_eq!(caps("e"), (None, None));
}

#[test]
fn volumes_from_keeps_its_access_mode() {
    // Compose 2.40 drops `:ro` of `SERVICE:ro` (docs/runtime.md); tug passes it to the engine.
    let d = stack("name: vf\nservices:\n  a: {image: x}\n  b: {image: x, volumes_from: ['a:ro']}\n");
    assert_eq!(hc(svc(&d.resolve(), "b")).volumes_from, Some(strings(&["vf-a-1:ro"])));
}
