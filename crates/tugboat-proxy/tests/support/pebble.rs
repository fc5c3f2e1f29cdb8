//! A real ACME CA for the tests: Debian's `pebble` (scripts/test installs it) on free loopback ports, its
//! own HTTPS under a private CA made here, and `pebble-challtestsrv` as its DNS server (every name is
//! 127.0.0.1, so `a.test` and `b.test` validate against the proxy). Killed on drop.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::{closed_port, DEADLINE};

pub struct Pebble {
    pub dir: tempfile::TempDir,
    /// The ACME directory URL.
    pub directory: String,
    /// The private CA of pebble's own HTTPS (the proxy's `ca_file`).
    pub ca_file: PathBuf,
    management: SocketAddr,
    pebble: Option<Child>,
    dns: Option<Child>,
}

fn spawn(program: &str, args: &[String], log: &std::path::Path, env: &[(&str, &str)]) -> Child {
    let out = std::fs::File::create(log).unwrap();
    let err = out.try_clone().unwrap();
    let mut command = Command::new(program);
    command.args(args).stdin(Stdio::null()).stdout(out).stderr(err);
    for (k, v) in env {
        command.env(k, v);
    }
    command.spawn().unwrap_or_else(|e| panic!("cannot start {program} ({e}): apt-get install pebble"))
}

impl Pebble {
    /// Starts pebble validating HTTP-01 on `http_port` (the proxy's plain listener). `validity` sets the
    /// lifetime of the certificates it issues (pebble's default: 5 years).
    pub fn start(http_port: u16, validity: Option<Duration>) -> Pebble {
        let dir = tempfile::tempdir().unwrap();
        // pebble's HTTPS: a leaf for localhost/127.0.0.1 under a CA of our own (webpki refuses a CA
        // certificate as the server's own).
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(rcgen::DnType::CommonName, "tugboat test CA");
        let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
        let leaf_key = rcgen::KeyPair::generate().unwrap();
        let leaf_params =
            rcgen::CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
        let leaf = leaf_params.signed_by(&leaf_key, &ca).unwrap();
        let ca_file = dir.path().join("ca.pem");
        std::fs::write(&ca_file, ca.pem()).unwrap();
        std::fs::write(dir.path().join("cert.pem"), leaf.pem()).unwrap();
        std::fs::write(dir.path().join("key.pem"), leaf_key.serialize_pem()).unwrap();

        let (listen, management, dns, dns_management) = (closed_port(), closed_port(), closed_port(), closed_port());
        let mut settings = serde_json::json!({
            "listenAddress": listen.to_string(),
            "managementListenAddress": management.to_string(),
            "certificate": dir.path().join("cert.pem"),
            "privateKey": dir.path().join("key.pem"),
            "httpPort": http_port,
            "tlsPort": closed_port().port(),
            "ocspResponderURL": "",
            "externalAccountBindingRequired": false,
        });
        if let Some(validity) = validity {
            settings["certificateValidityPeriod"] = validity.as_secs().into();
        }
        let config = dir.path().join("pebble.json");
        std::fs::write(&config, serde_json::json!({ "pebble": settings }).to_string()).unwrap();

        let dns_child = spawn(
            "pebble-challtestsrv",
            &[
                "-dns01".into(),
                dns.to_string(),
                "-management".into(),
                dns_management.to_string(),
                "-defaultIPv4".into(),
                "127.0.0.1".into(),
                "-defaultIPv6".into(),
                String::new(),
                "-http01".into(),
                String::new(),
                "-https01".into(),
                String::new(),
                "-tlsalpn01".into(),
                String::new(),
            ],
            &dir.path().join("challtestsrv.log"),
            &[],
        );
        let pebble_child = spawn(
            "pebble",
            &["-config".into(), config.display().to_string(), "-dnsserver".into(), dns.to_string(), "-strict".into()],
            &dir.path().join("pebble.log"),
            // Validate at once, for real (no always-valid); authorizations are never reused, so every
            // issuance answers a challenge. Pebble's 5% of refused nonces stays on: badNonce is retried.
            &[("PEBBLE_VA_NOSLEEP", "1"), ("PEBBLE_VA_ALWAYS_VALID", "0"), ("PEBBLE_AUTHZREUSE", "0")],
        );
        let pebble = Pebble {
            directory: format!("https://{listen}/dir"),
            ca_file,
            management,
            pebble: Some(pebble_child),
            dns: Some(dns_child),
            dir,
        };
        pebble.wait_ready();
        pebble
    }

    fn agent(&self) -> ureq::Agent {
        let pem = std::fs::read(&self.ca_file).unwrap();
        let certs: Vec<_> = ureq::tls::parse_pem(&pem)
            .filter_map(|item| match item.unwrap() {
                ureq::tls::PemItem::Certificate(c) => Some(c),
                _ => None,
            })
            .collect();
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(10)))
            .tls_config(
                ureq::tls::TlsConfig::builder().root_certs(ureq::tls::RootCerts::new_with_certs(&certs)).build(),
            )
            .build()
            .new_agent()
    }

    fn wait_ready(&self) {
        let agent = self.agent();
        let deadline = std::time::Instant::now() + DEADLINE;
        loop {
            if let Ok(response) = agent.get(&self.directory).call() {
                if response.status() == 200 {
                    return;
                }
            }
            assert!(std::time::Instant::now() < deadline, "pebble did not start:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("pebble.log")).unwrap_or_default()
    }

    /// The root the issued chains lead to (new at every pebble start), PEM.
    pub fn root_pem(&self) -> String {
        let mut response = self.agent().get(format!("https://{}/roots/0", self.management)).call().unwrap();
        assert_eq!(response.status(), 200);
        response.body_mut().read_to_string().unwrap()
    }

    /// Kills the CA (and its DNS server): the proxy's next attempt cannot connect.
    pub fn stop(&mut self) {
        for child in [self.pebble.take(), self.dns.take()].into_iter().flatten() {
            let mut child = child;
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Pebble {
    fn drop(&mut self) {
        self.stop();
    }
}
