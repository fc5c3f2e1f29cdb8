//! SBOMs read from image archives built here in Docker's `docker save` format (layers first, manifest.json
//! last, as Engine 20.10 writes it), in the OCI layout, and from the real engine (`docker import` then
//! `docker save` / `docker export`), with this machine's own dpkg database as the real-data case.

// Helpers outside #[test] functions unwrap too: a failure is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Cursor, Write};
use std::process::{Command, Stdio};

use sha2::{Digest, Sha256};
use tugboat_scan::sbom::{self, Package, PackageKind, Sbom, Source};
use tugboat_scan::Ecosystem;

enum E<'a> {
    File(&'a str, &'a [u8]),
    Dir(&'a str),
    Link(&'a str, &'a str),
}
use E::{Dir, File, Link};

fn layer(entries: &[E]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_gnu();
        h.set_mtime(0);
        match e {
            File(p, data) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(0o644);
                h.set_size(data.len() as u64);
                b.append_data(&mut h, p, *data).unwrap();
            }
            Dir(p) => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                h.set_size(0);
                b.append_data(&mut h, p, &[][..]).unwrap();
            }
            Link(p, target) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_mode(0o777);
                h.set_size(0);
                b.append_link(&mut h, p, target).unwrap();
            }
        }
    }
    b.into_inner().unwrap()
}

fn hex(data: &[u8]) -> String {
    Sha256::digest(data).iter().map(|b| format!("{b:02x}")).collect()
}

fn append(b: &mut tar::Builder<Vec<u8>>, path: &str, data: &[u8]) {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mode(0o644);
    h.set_size(data.len() as u64);
    h.set_mtime(0);
    b.append_data(&mut h, path, data).unwrap();
}

/// `docker save` as Engine 20.10 writes it: `<id>/layer.tar` for each layer, the config, then manifest.json
/// and repositories last.
fn docker_save(tag: &str, layers: &[Vec<u8>]) -> (Vec<u8>, String) {
    let mut b = tar::Builder::new(Vec::new());
    let mut paths = Vec::new();
    for l in layers {
        let id = hex(l);
        append(&mut b, &format!("{id}/VERSION"), b"1.0");
        append(&mut b, &format!("{id}/json"), b"{}");
        append(&mut b, &format!("{id}/layer.tar"), l);
        paths.push(format!("{id}/layer.tar"));
    }
    let config = br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers"}}"#;
    let cfg = hex(config);
    append(&mut b, &format!("{cfg}.json"), config);
    let manifest = serde_json::json!([{"Config": format!("{cfg}.json"), "RepoTags": [tag], "Layers": paths}]);
    append(&mut b, "manifest.json", manifest.to_string().as_bytes());
    append(&mut b, "repositories", b"{}");
    (b.into_inner().unwrap(), format!("sha256:{cfg}"))
}

fn read(tag: &str, layers: &[Vec<u8>]) -> Sbom {
    let (archive, _) = docker_save(tag, layers);
    sbom::from_image_archive(tag, Cursor::new(archive)).unwrap()
}

fn keys(s: &Sbom) -> Vec<String> {
    s.packages.iter().map(|p| format!("{}@{} {}", p.name, p.version, p.location)).collect()
}

fn sh(cmd: &str) -> String {
    let out = Command::new("sh").arg("-c").arg(cmd).output().unwrap();
    assert!(out.status.success(), "{cmd}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn this_machines_dpkg_database() {
    let status = std::fs::read("/var/lib/dpkg/status")
        .expect("this test reads the machine's /var/lib/dpkg/status: run it on a Debian or Ubuntu host");
    // /etc/os-release is a symlink to ../usr/lib/os-release here as in Debian's images: the layer keeps that.
    let os_release = std::fs::read("/usr/lib/os-release").or_else(|_| std::fs::read("/etc/os-release")).unwrap();
    let base = layer(&[
        Dir("etc"),
        Link("etc/os-release", "../usr/lib/os-release"),
        File("usr/lib/os-release", &os_release),
        File("var/lib/dpkg/status", &status),
    ]);
    let s = read("real:dpkg", &[base]);

    // dpkg's own view of what is installed (held packages, `hold ok installed`, are on disk too).
    let installed = sh("dpkg-query -W -f='${Status}\\n' | grep -cE '^(install|hold) ok installed$'");
    let installed: usize = installed.trim().parse().unwrap();
    assert!(installed > 50, "{installed} installed packages");
    assert_eq!(s.packages.len(), installed);
    assert!(s.packages.iter().all(|p| p.kind == PackageKind::Deb && p.location == "var/lib/dpkg/status"));

    let os = s.os.as_ref().unwrap();
    let id_version = sh(". /etc/os-release; echo \"$ID ${VERSION_ID:-}\"");
    let (id, version_id) = id_version.trim().split_once(' ').unwrap_or((id_version.trim(), ""));
    assert_eq!(os.id, id);
    if id == "debian" && !version_id.is_empty() {
        assert!(s.packages.iter().all(|p| p.ecosystem == Some(Ecosystem::Debian(version_id.into()))));
        assert!(s.packages.iter().all(|p| p.purl.contains(&format!("distro=debian-{version_id}"))));
    }

    // Source packages as dpkg itself reports them: libc6 is built from glibc, dpkg from itself.
    for name in ["libc6", "dpkg"] {
        let q = sh(&format!("dpkg-query -W -f='${{source:Package}}\\t${{source:Version}}\\t${{Version}}' {name}"));
        let f: Vec<&str> = q.split('\t').collect();
        let expected =
            (f[0] != name || f[1] != f[2]).then(|| Source { name: f[0].to_string(), version: f[1].to_string() });
        let p = s.packages.iter().find(|p| p.name == name).unwrap();
        assert_eq!(p.source, expected, "{name}");
        assert_eq!(p.version, f[2]);
        if let Some(src) = &expected {
            assert_eq!(p.advisory_key(), (src.name.as_str(), src.version.as_str()));
        }
    }
    assert_eq!(s.packages.iter().find(|p| p.name == "libc6").unwrap().source.as_ref().unwrap().name, "glibc");

    let doc = sbom::cyclonedx(&s);
    let libs: Vec<_> = doc["components"].as_array().unwrap().iter().filter(|c| c["type"] == "library").collect();
    assert_eq!(libs.len(), installed);
    assert!(libs.iter().all(|c| c["purl"].as_str().unwrap().starts_with("pkg:deb/")));
}

const ALPINE_OS: &[u8] = b"NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=3.19.1\nPRETTY_NAME=\"Alpine Linux v3.19\"\n";
const APK_DB: &[u8] = b"C:Q1a=\nP:musl\nV:1.2.4_git20230717-r4\nA:x86_64\no:musl\nT:the musl c library\n\n\
C:Q1b=\nP:libcrypto3\nV:3.1.4-r5\nA:x86_64\no:openssl\nF:usr/lib\nR:libcrypto.so.3\n\n\
C:Q1c=\nP:busybox\nV:1.36.1-r15\nA:x86_64\n\n";

#[test]
fn alpine_apk_database() {
    let s = read(
        "alpine:app",
        &[layer(&[File("etc/os-release", ALPINE_OS), Dir("lib/apk/db"), File("lib/apk/db/installed", APK_DB)])],
    );
    assert_eq!(s.os.as_ref().unwrap().id, "alpine");
    assert_eq!(
        keys(&s),
        [
            "musl@1.2.4_git20230717-r4 lib/apk/db/installed",
            "libcrypto3@3.1.4-r5 lib/apk/db/installed",
            "busybox@1.36.1-r15 lib/apk/db/installed"
        ]
    );
    let crypto = &s.packages[1];
    assert_eq!(crypto.kind, PackageKind::Apk);
    assert_eq!(crypto.ecosystem, Some(Ecosystem::Alpine("v3.19".into())));
    assert_eq!(crypto.advisory_key(), ("openssl", "3.1.4-r5"));
    assert_eq!(crypto.purl, "pkg:apk/alpine/libcrypto3@3.1.4-r5?arch=x86_64&distro=alpine-3.19.1&upstream=openssl");
    assert_eq!(s.packages[0].source, None);
}

const CARGO_LOCK: &[u8] = b"version = 4\n\n[[package]]\nname = \"itoa\"\nversion = \"1.0.11\"\n\
source = \"registry+https://github.com/rust-lang/crates.io-index\"\n";
const REQS: &[u8] = b"requests==2.31.0\n";

#[test]
fn whiteouts_and_opaque_dirs() {
    let lower = layer(&[
        File("etc/os-release", b"ID=debian\nVERSION_ID=\"12\"\n"),
        File("app/Cargo.lock", CARGO_LOCK),
        File("srv/api/requirements.txt", REQS),
        File(
            "opt/web/package-lock.json",
            br#"{"lockfileVersion":3,"packages":{"node_modules/lodash":{"version":"4.17.20"}}}"#,
        ),
        File("opt/web/sub/requirements.txt", b"flask==2.0.0\n"),
        File("keep/requirements.txt", b"idna==3.4\n"),
    ]);
    let upper = layer(&[
        // `.wh.NAME` removes the file; `.wh.srv` the whole directory.
        File("app/.wh.Cargo.lock", b""),
        File(".wh.srv", b""),
        // This layer's own entry in an opaque dir survives: the marker hides only the lower layers'.
        File(
            "opt/web/package-lock.json",
            br#"{"lockfileVersion":3,"packages":{"node_modules/ws":{"version":"8.0.0"}}}"#,
        ),
        File("opt/web/.wh..wh..opq", b""),
        // os-release replaced by a symlink to a file of this layer.
        Link("etc/os-release", "/usr/lib/os-release"),
        File("usr/lib/os-release", ALPINE_OS),
        File("app2/Cargo.lock", CARGO_LOCK),
    ]);
    let s = read("wh:1", &[lower.clone(), upper]);
    assert_eq!(s.os.as_ref().unwrap().id, "alpine");
    assert_eq!(
        keys(&s),
        ["itoa@1.0.11 app2/Cargo.lock", "idna@3.4 keep/requirements.txt", "ws@8.0.0 opt/web/package-lock.json"]
    );
    // The lower layer alone still has everything.
    assert_eq!(read("wh:0", &[lower]).packages.len(), 5);
}

#[test]
fn distroless_status_d() {
    let s = read(
        "distroless:1",
        &[layer(&[
            File("etc/os-release", b"PRETTY_NAME=\"Distroless\"\nID=debian\nVERSION_ID=\"12\"\n"),
            File(
                "var/lib/dpkg/status.d/base-files",
                b"Package: base-files\nVersion: 12.4+deb12u5\nArchitecture: amd64\n",
            ),
            File("var/lib/dpkg/status.d/base-files.md5sums", b"d41d8cd98f00b204e9800998ecf8427e  etc/debian_version\n"),
            File(
                "var/lib/dpkg/status.d/libssl3",
                b"Package: libssl3\nVersion: 3.0.11-1~deb12u2\nArchitecture: amd64\nSource: openssl\n",
            ),
        ])],
    );
    assert_eq!(
        keys(&s),
        [
            "base-files@12.4+deb12u5 var/lib/dpkg/status.d/base-files",
            "libssl3@3.0.11-1~deb12u2 var/lib/dpkg/status.d/libssl3"
        ]
    );
    assert_eq!(s.packages[1].advisory_key(), ("openssl", "3.0.11-1~deb12u2"));
    assert_eq!(s.packages[0].purl, "pkg:deb/debian/base-files@12.4%2Bdeb12u5?arch=amd64&distro=debian-12");
}

#[test]
fn lockfiles_of_every_kind() {
    let s = read(
        "locks:1",
        &[layer(&[
            File("app/Cargo.lock", CARGO_LOCK),
            File("web/package-lock.json", br#"{"lockfileVersion":2,"packages":{"":{"name":"web"},"node_modules/@babel/core":{"version":"7.24.0"}}}"#),
            File("web/node_modules/x/package-lock.json", br#"{"lockfileVersion":2,"packages":{"node_modules/y":{"version":"1.0.0"}}}"#),
            File("py/requirements-prod.txt", REQS),
            File("py/poetry.lock", b"[[package]]\nname = \"certifi\"\nversion = \"2023.7.22\"\n"),
            File("proc/1/Cargo.lock", CARGO_LOCK),
        ])],
    );
    let got: Vec<_> = s.packages.iter().map(|p| (p.kind.clone(), p.purl.as_str(), p.ecosystem.clone())).collect();
    assert_eq!(
        got,
        [
            (PackageKind::Crate, "pkg:cargo/itoa@1.0.11", Some(Ecosystem::CratesIo)),
            (PackageKind::PyPI, "pkg:pypi/certifi@2023.7.22", Some(Ecosystem::PyPI)),
            (PackageKind::PyPI, "pkg:pypi/requests@2.31.0", Some(Ecosystem::PyPI)),
            (PackageKind::Npm, "pkg:npm/%40babel/core@7.24.0", Some(Ecosystem::Npm)),
        ]
    );
    assert_eq!(s.os, None);
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

#[test]
fn oci_layout_with_gzip_layers_and_a_nested_index() {
    let l1 = gzip(&layer(&[File("etc/os-release", ALPINE_OS), File("lib/apk/db/installed", APK_DB)]));
    let l2 = layer(&[File("app/requirements.txt", REQS)]);
    let config = br#"{"architecture":"amd64","os":"linux"}"#;
    let desc = |media: &str, data: &[u8]| serde_json::json!({"mediaType": media, "digest": format!("sha256:{}", hex(data)), "size": data.len()});
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": desc("application/vnd.oci.image.config.v1+json", config),
        "layers": [desc("application/vnd.oci.image.layer.v1.tar+gzip", &l1), desc("application/vnd.oci.image.layer.v1.tar", &l2)],
    })
    .to_string();
    let arm = serde_json::json!({"schemaVersion": 2, "config": desc("x", b"{}"), "layers": []}).to_string();
    let mut m_arm = desc("application/vnd.oci.image.manifest.v1+json", arm.as_bytes());
    m_arm["platform"] = serde_json::json!({"os": "linux", "architecture": "arm64"});
    let mut m_amd = desc("application/vnd.oci.image.manifest.v1+json", manifest.as_bytes());
    m_amd["platform"] = serde_json::json!({"os": "linux", "architecture": "amd64"});
    let nested = serde_json::json!({"schemaVersion": 2, "manifests": [m_arm, m_amd]}).to_string();
    let index = serde_json::json!({"schemaVersion": 2, "manifests": [desc("application/vnd.oci.image.index.v1+json", nested.as_bytes())]});

    let mut b = tar::Builder::new(Vec::new());
    for blob in [&l1[..], &l2, config, manifest.as_bytes(), arm.as_bytes(), b"{}", nested.as_bytes()] {
        append(&mut b, &format!("blobs/sha256/{}", hex(blob)), blob);
    }
    append(&mut b, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#);
    append(&mut b, "index.json", index.to_string().as_bytes());
    let s = sbom::from_image_archive("oci:1", Cursor::new(b.into_inner().unwrap())).unwrap();
    assert_eq!(s.image_id, Some(format!("sha256:{}", hex(config))));
    assert_eq!(s.packages.len(), 4);
    assert_eq!(s.packages[1].advisory_key(), ("openssl", "3.1.4-r5"));
    assert_eq!(s.packages[3].purl, "pkg:pypi/requests@2.31.0");
}

#[test]
fn a_layer_shared_through_a_symlink_in_the_outer_tar() {
    // `docker save` writes a layer two images share once; the other `<id>/layer.tar` is a symlink to it.
    let l1 = layer(&[File("etc/os-release", ALPINE_OS), File("lib/apk/db/installed", APK_DB)]);
    let mut b = tar::Builder::new(Vec::new());
    append(&mut b, "aaa/layer.tar", &l1);
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    h.set_mode(0o777);
    b.append_link(&mut h, "bbb/layer.tar", "../aaa/layer.tar").unwrap();
    append(
        &mut b,
        "manifest.json",
        br#"[{"Config":"c.json","RepoTags":["other:1"],"Layers":["aaa/layer.tar"]},
        {"Config":"c.json","RepoTags":["shared:1"],"Layers":["bbb/layer.tar"]}]"#,
    );
    let s = sbom::from_image_archive("shared:1", Cursor::new(b.into_inner().unwrap())).unwrap();
    assert_eq!(s.packages.len(), 3);
    assert_eq!(s.image_id, None, "c.json is no digest");
}

#[test]
fn broken_archives_say_what_is_wrong() {
    let mut b = tar::Builder::new(Vec::new());
    append(&mut b, "something.txt", b"hello");
    let err = sbom::from_image_archive("x", Cursor::new(b.into_inner().unwrap())).unwrap_err();
    assert_eq!(err.to_string(), "image archive: no manifest.json or index.json: not a `docker save` archive");

    let mut b = tar::Builder::new(Vec::new());
    append(&mut b, "manifest.json", br#"[{"Config":"c.json","Layers":["abc/layer.tar"]}]"#);
    let err = sbom::from_image_archive("x", Cursor::new(b.into_inner().unwrap())).unwrap_err();
    assert_eq!(err.to_string(), "image archive: the manifest names abc/layer.tar, which the archive does not hold");

    let bad = layer(&[File("var/lib/dpkg/status", b"Package: x\nStatus: install ok installed\n")]);
    let (archive, _) = docker_save("x", &[bad]);
    let err = sbom::from_image_archive("x", Cursor::new(archive)).unwrap_err();
    assert_eq!(err.to_string(), "var/lib/dpkg/status: package x (line 1): no Version field");
}

/// The image is removed when the test ends, passed or failed.
struct Image(String);
impl Drop for Image {
    fn drop(&mut self) {
        let _ = Command::new("docker").args(["rmi", "-f", &self.0]).output();
    }
}
struct Container(String);
impl Drop for Container {
    fn drop(&mut self) {
        let _ = Command::new("docker").args(["rm", "-f", &self.0]).output();
    }
}

fn docker(args: &[&str], stdin: Option<&[u8]>) -> Vec<u8> {
    let mut child = Command::new("docker")
        .args(args)
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("this test needs the docker CLI and a running Docker Engine (apt-get install docker.io)");
    if let Some(data) = stdin {
        child.stdin.take().unwrap().write_all(data).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "docker {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

#[test]
fn real_engine_save_and_export() {
    let status = b"Package: libssl3\nStatus: install ok installed\nArchitecture: amd64\nSource: openssl\n\
Version: 3.0.11-1~deb12u2\n\nPackage: gone\nStatus: deinstall ok config-files\nVersion: 1\n\n\
Package: tar\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.34+dfsg-1.2\n";
    let fs = layer(&[
        Dir("etc"),
        File("etc/os-release", b"PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_ID=\"12\"\n"),
        Dir("var/lib/dpkg"),
        File("var/lib/dpkg/status", status),
    ]);
    let tag = format!("tugboat-test/sbom-{}:t", std::process::id());
    let id = String::from_utf8(docker(&["import", "-", &tag], Some(&fs))).unwrap();
    let _image = Image(tag.clone());

    // `docker save` streamed straight into the reader, as tug reads the Engine API's images/get.
    let mut save = Command::new("docker").args(["save", &tag]).stdout(Stdio::piped()).spawn().unwrap();
    let s = sbom::from_image_archive(&tag, save.stdout.take().unwrap()).unwrap();
    assert!(save.wait().unwrap().success());
    assert_eq!(s.image_id.as_deref(), Some(id.trim()));
    let expect = ["libssl3@3.0.11-1~deb12u2 var/lib/dpkg/status", "tar@1.34+dfsg-1.2 var/lib/dpkg/status"];
    assert_eq!(keys(&s), expect);
    assert_eq!(s.packages[0].ecosystem, Some(Ecosystem::Debian("12".into())));
    assert_eq!(s.packages[0].advisory_key(), ("openssl", "3.0.11-1~deb12u2"));

    // A container's filesystem export: the same packages.
    let name = format!("tugboat-test-sbom-{}", std::process::id());
    docker(&["create", "--name", &name, &tag, "/nothing"], None);
    let _container = Container(name.clone());
    let export = docker(&["export", &name], None);
    let e = sbom::from_filesystem_archive(&tag, Cursor::new(export)).unwrap();
    assert_eq!(keys(&e), expect);
    assert_eq!(e.os, s.os);
}

#[test]
fn cargo_auditable_binary() {
    let installed = Command::new("cargo").args(["install", "--list"]).output().unwrap();
    assert!(
        String::from_utf8_lossy(&installed.stdout).contains("cargo-auditable v"),
        "this test needs cargo-auditable: cargo install --locked cargo-auditable --version 0.7.7 \
         (scripts/test --install-only installs it)"
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("Cargo.toml"),
        "[package]\nname = \"tiny\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[dependencies]\nitoa = \"1\"\n\n[workspace]\n",
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("src")).unwrap();
    std::fs::write(dir.path().join("src/main.rs"), "fn main() { println!(\"{}\", itoa::Buffer::new().format(42)); }\n")
        .unwrap();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(&cargo)
        .args(["auditable", "build", "--offline", "--quiet"])
        .current_dir(dir.path())
        .env("CARGO_TARGET_DIR", dir.path().join("target"))
        .output()
        .unwrap();
    assert!(out.status.success(), "cargo auditable build: {}", String::from_utf8_lossy(&out.stderr));
    let lock = std::fs::read_to_string(dir.path().join("Cargo.lock")).unwrap();
    let itoa_version = lock
        .split("[[package]]")
        .find(|b| b.contains("name = \"itoa\""))
        .and_then(|b| b.lines().find_map(|l| l.strip_prefix("version = \"")?.strip_suffix('"')))
        .unwrap();
    let binary = std::fs::read(dir.path().join("target/debug/tiny")).unwrap();
    assert!(binary.len() > 256 << 10, "big enough to be spilled: {}", binary.len());

    let s = read(
        "rust:1",
        &[layer(&[
            File("usr/local/bin/tiny", &binary),
            File(
                "usr/local/bin/plain",
                b"\x7fELF not really an elf file at all, but long enough to be looked at .......",
            ),
        ])],
    );
    let want = Package {
        kind: PackageKind::Crate,
        name: "itoa".into(),
        version: itoa_version.into(),
        ecosystem: Some(Ecosystem::CratesIo),
        source: None,
        location: "usr/local/bin/tiny".into(),
        purl: format!("pkg:cargo/itoa@{itoa_version}"),
    };
    assert_eq!(s.packages, [want], "only itoa: not the root crate `tiny`");
}

/// Peak memory of reading a 300 MiB image stays far below its size: layers are spilled and streamed, never
/// held. Measured in a child process (this test binary, running only the child test) so that other tests'
/// allocations do not count.
#[test]
fn memory_stays_bounded_on_a_big_image() {
    let exe = std::env::current_exe().unwrap();
    let out = Command::new(exe)
        .args(["--exact", "big_image_child", "--ignored", "--nocapture", "--test-threads=1"])
        .env("TUG_SBOM_BIG_CHILD", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    let line = stdout
        .lines()
        .find_map(|l| l.split_once("peak-growth-kib=").map(|(_, v)| v))
        .unwrap_or_else(|| panic!("{stdout}"));
    let growth_kib: u64 = line.trim().parse().unwrap();
    assert!(growth_kib < 64 << 10, "peak memory grew by {growth_kib} KiB reading a 300 MiB image");
}

fn vm_hwm_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
#[ignore = "run by memory_stays_bounded_on_a_big_image in a process of its own"]
fn big_image_child() {
    if std::env::var("TUG_SBOM_BIG_CHILD").is_err() {
        return;
    }
    // The archive is written to disk by a streaming tar builder (holding it in memory would defeat the
    // measurement): 3 layers of 100 MiB of files each, and a dpkg status in the last.
    let dir = tempfile::tempdir().unwrap();
    let chunk = vec![0x5au8; 1 << 20];
    let mut layer_paths = Vec::new();
    for n in 0..3 {
        let path = dir.path().join(format!("layer{n}.tar"));
        let mut b = tar::Builder::new(std::fs::File::create(&path).unwrap());
        for f in 0..100 {
            let mut h = tar::Header::new_gnu();
            h.set_size(chunk.len() as u64);
            h.set_mode(0o644);
            b.append_data(&mut h, format!("data/{n}/{f}.bin"), &chunk[..]).unwrap();
        }
        if n == 2 {
            let st = b"Package: tar\nStatus: install ok installed\nVersion: 1.34\n";
            let mut h = tar::Header::new_gnu();
            h.set_size(st.len() as u64);
            h.set_mode(0o644);
            b.append_data(&mut h, "var/lib/dpkg/status", &st[..]).unwrap();
        }
        b.into_inner().unwrap().flush().unwrap();
        layer_paths.push(path);
    }
    let archive = dir.path().join("image.tar");
    let mut b = tar::Builder::new(std::fs::File::create(&archive).unwrap());
    let mut names = Vec::new();
    for (n, p) in layer_paths.iter().enumerate() {
        b.append_path_with_name(p, format!("{n}/layer.tar")).unwrap();
        names.push(format!("{n}/layer.tar"));
    }
    let manifest = serde_json::json!([{"Config": "c.json", "RepoTags": ["big:1"], "Layers": names}]).to_string();
    let mut h = tar::Header::new_gnu();
    h.set_size(manifest.len() as u64);
    h.set_mode(0o644);
    b.append_data(&mut h, "manifest.json", manifest.as_bytes()).unwrap();
    b.into_inner().unwrap().flush().unwrap();
    for p in &layer_paths {
        std::fs::remove_file(p).unwrap();
    }

    let before = vm_hwm_kib();
    let file = std::fs::File::open(&archive).unwrap();
    let s = sbom::from_image_archive("big:1", file).unwrap();
    assert_eq!(keys(&s), ["tar@1.34 var/lib/dpkg/status"]);
    println!("peak-growth-kib={}", vm_hwm_kib().saturating_sub(before));
}
