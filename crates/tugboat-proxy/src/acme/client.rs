//! The ACME protocol (RFC 8555) over blocking HTTPS (ureq): the directory, nonces (a `badNonce` is retried
//! with the fresh nonce), the account (ES256 JWS: `jwk` for newAccount, `kid` after), an order for one
//! name, its HTTP-01 authorization, finalize with a CSR, and the certificate chain. Run it off the async
//! workers (`spawn_blocking`). Nothing here logs keys or request bodies.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair as _, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde_json::{json, Value};

use crate::config::AcmeConfig;

/// Each HTTP exchange with the CA, and each wait for a status to settle.
const HTTP_TIMEOUT: Duration = Duration::from_secs(30);
const SETTLE_TIMEOUT: Duration = Duration::from_secs(90);
const POLL: Duration = Duration::from_millis(250);
const BAD_NONCE_RETRIES: usize = 5;

/// HTTP-01 key authorizations by token, answered by the plain listeners while an order is pending.
pub(crate) type Challenges = Arc<Mutex<HashMap<String, String>>>;

/// What an issuance produced: the PEM chain (leaf first) and the PEM PKCS#8 key of the certificate.
pub(crate) struct Issued {
    pub chain_pem: String,
    pub key_pem: String,
}

/// The account key: ES256 (P-256), kept as PKCS#8 PEM.
pub(crate) struct AccountKey {
    pair: EcdsaKeyPair,
    rng: SystemRandom,
}

impl AccountKey {
    /// A new key and its PEM (for the caller to store).
    pub(crate) fn generate() -> Result<(AccountKey, String), String> {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
            .map_err(|e| format!("generate the account key: {e}"))?;
        let pem = key.serialize_pem();
        Ok((AccountKey::from_pem(&pem)?, pem))
    }

    pub(crate) fn from_pem(pem: &str) -> Result<AccountKey, String> {
        let key = rcgen::KeyPair::from_pem(pem).map_err(|e| format!("the account key: {e}"))?;
        let rng = SystemRandom::new();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &key.serialize_der(), &rng)
            .map_err(|e| format!("the account key is not a P-256 key: {e}"))?;
        Ok(AccountKey { pair, rng })
    }

    /// The public key as a JWK, members in lexicographic order (RFC 7638: what the thumbprint hashes).
    fn jwk(&self) -> Value {
        // An uncompressed point: 0x04 || x || y, 32 bytes each.
        let point = self.pair.public_key().as_ref();
        let (x, y) = point.get(1..).unwrap_or_default().split_at(point.len().saturating_sub(1) / 2);
        json!({ "crv": "P-256", "kty": "EC", "x": URL_SAFE_NO_PAD.encode(x), "y": URL_SAFE_NO_PAD.encode(y) })
    }

    fn thumbprint(&self) -> String {
        let digest = ring::digest::digest(&ring::digest::SHA256, self.jwk().to_string().as_bytes());
        URL_SAFE_NO_PAD.encode(digest.as_ref())
    }

    fn sign(&self, data: &[u8]) -> Result<Vec<u8>, String> {
        self.pair.sign(&self.rng, data).map(|s| s.as_ref().to_vec()).map_err(|_| "JWS signing failed".to_string())
    }
}

struct Reply {
    status: u16,
    location: Option<String>,
    nonce: Option<String>,
    body: Vec<u8>,
}

impl Reply {
    fn json(&self) -> Result<Value, String> {
        serde_json::from_slice(&self.body).map_err(|e| format!("the CA's answer is not JSON: {e}"))
    }

    /// The RFC 7807 problem of an error answer, in words.
    fn problem(&self, what: &str) -> String {
        let problem: Value = serde_json::from_slice(&self.body).unwrap_or(Value::Null);
        let kind = problem["type"].as_str().unwrap_or("");
        let detail = problem["detail"].as_str().unwrap_or("");
        format!("{what}: HTTP {} {kind} {detail}", self.status).trim_end().to_string()
    }
}

/// One session with the CA: the directory, the account, the nonce in hand.
pub(crate) struct Acme {
    agent: ureq::Agent,
    new_nonce: String,
    new_account: String,
    new_order: String,
    key: AccountKey,
    kid: Option<String>,
    nonce: Option<String>,
}

impl Acme {
    /// Reads the directory (trusting `ca_file`'s certificates when given, else the public roots).
    pub(crate) fn connect(config: &AcmeConfig, key: AccountKey) -> Result<Acme, String> {
        let mut builder = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(HTTP_TIMEOUT))
            .user_agent(concat!("tugboat-proxy/", env!("CARGO_PKG_VERSION")));
        if let Some(path) = &config.ca_file {
            let pem = std::fs::read(path).map_err(|e| format!("ca_file {}: {e}", path.display()))?;
            let mut certs = Vec::new();
            for item in ureq::tls::parse_pem(&pem) {
                match item {
                    Ok(ureq::tls::PemItem::Certificate(c)) => certs.push(c),
                    Ok(_) => {}
                    Err(e) => return Err(format!("ca_file {}: {e}", path.display())),
                }
            }
            if certs.is_empty() {
                return Err(format!("ca_file {}: no PEM certificate", path.display()));
            }
            builder = builder.tls_config(
                ureq::tls::TlsConfig::builder().root_certs(ureq::tls::RootCerts::new_with_certs(&certs)).build(),
            );
        }
        let agent = builder.build().new_agent();
        let reply = exchange(agent.get(&config.directory).call(), &config.directory)?;
        if reply.status != 200 {
            return Err(reply.problem(&format!("directory {}", config.directory)));
        }
        let dir = reply.json()?;
        let url =
            |name: &str| dir[name].as_str().map(str::to_string).ok_or_else(|| format!("the directory has no {name}"));
        Ok(Acme {
            new_nonce: url("newNonce")?,
            new_account: url("newAccount")?,
            new_order: url("newOrder")?,
            agent,
            key,
            kid: None,
            nonce: None,
        })
    }

    fn fresh_nonce(&mut self) -> Result<String, String> {
        if let Some(nonce) = self.nonce.take() {
            return Ok(nonce);
        }
        let reply = exchange(self.agent.head(&self.new_nonce).call(), &self.new_nonce)?;
        reply.nonce.ok_or_else(|| format!("{}: no Replay-Nonce", self.new_nonce))
    }

    /// A signed POST (`payload` None: POST-as-GET), retried with a new nonce on `badNonce`.
    fn post(&mut self, url: &str, payload: Option<&Value>, accept: Option<&str>) -> Result<Reply, String> {
        let payload = payload.map(|p| URL_SAFE_NO_PAD.encode(p.to_string())).unwrap_or_default();
        for _ in 0..=BAD_NONCE_RETRIES {
            let nonce = self.fresh_nonce()?;
            let mut protected = json!({ "alg": "ES256", "nonce": nonce, "url": url });
            match &self.kid {
                Some(kid) => protected["kid"] = json!(kid),
                None => protected["jwk"] = self.key.jwk(),
            }
            let protected = URL_SAFE_NO_PAD.encode(protected.to_string());
            let signature = URL_SAFE_NO_PAD.encode(self.key.sign(format!("{protected}.{payload}").as_bytes())?);
            let body = json!({ "protected": protected, "payload": payload, "signature": signature }).to_string();
            let mut request = self.agent.post(url).header("Content-Type", "application/jose+json");
            if let Some(accept) = accept {
                request = request.header("Accept", accept);
            }
            let reply = exchange(request.send(body.as_str()), url)?;
            self.nonce.clone_from(&reply.nonce);
            let bad_nonce = reply.status == 400
                && serde_json::from_slice::<Value>(&reply.body)
                    .is_ok_and(|p| p["type"] == "urn:ietf:params:acme:error:badNonce");
            if !bad_nonce {
                return Ok(reply);
            }
        }
        Err(format!("{url}: the CA refused {} nonces in a row (badNonce)", BAD_NONCE_RETRIES + 1))
    }

    /// Finds or creates the account of this key (newAccount answers an existing one with its URL).
    pub(crate) fn account(&mut self, email: Option<&str>) -> Result<(), String> {
        let mut payload = json!({ "termsOfServiceAgreed": true });
        if let Some(email) = email {
            payload["contact"] = json!([format!("mailto:{email}")]);
        }
        self.kid = None;
        let url = self.new_account.clone();
        let reply = self.post(&url, Some(&payload), None)?;
        if !matches!(reply.status, 200 | 201) {
            return Err(reply.problem("newAccount"));
        }
        self.kid = Some(reply.location.ok_or("newAccount: no account URL (Location)")?);
        Ok(())
    }

    /// Orders a certificate for `domain`, answers its HTTP-01 challenge through `challenges`, finalizes
    /// with a new P-256 key and downloads the chain.
    pub(crate) fn issue(&mut self, domain: &str, challenges: &Challenges) -> Result<Issued, String> {
        let url = self.new_order.clone();
        let payload = json!({ "identifiers": [{ "type": "dns", "value": domain }] });
        let reply = self.post(&url, Some(&payload), None)?;
        if reply.status != 201 {
            return Err(reply.problem("newOrder"));
        }
        let order_url = reply.location.clone().ok_or("newOrder: no order URL (Location)")?;
        let order = reply.json()?;
        for authz in order["authorizations"].as_array().cloned().unwrap_or_default() {
            let authz = authz.as_str().ok_or("newOrder: an authorization is not a URL")?;
            self.authorize(authz, challenges)?;
        }
        let order = self.settle(&order_url, &["pending"])?;
        if order["status"] != "ready" {
            return Err(format!("order for {domain}: status {} after its authorizations", order["status"]));
        }
        let cert_key = rcgen::KeyPair::generate().map_err(|e| format!("generate the certificate key: {e}"))?;
        let params = rcgen::CertificateParams::new(vec![domain.to_string()]).map_err(|e| format!("CSR: {e}"))?;
        let csr = params.serialize_request(&cert_key).map_err(|e| format!("CSR: {e}"))?;
        let finalize = order["finalize"].as_str().ok_or("the order has no finalize URL")?.to_string();
        let reply = self.post(&finalize, Some(&json!({ "csr": URL_SAFE_NO_PAD.encode(csr.der()) })), None)?;
        if reply.status != 200 {
            return Err(reply.problem("finalize"));
        }
        let order = self.settle(&order_url, &["ready", "processing"])?;
        let cert_url = match (order["status"].as_str(), order["certificate"].as_str()) {
            (Some("valid"), Some(url)) => url.to_string(),
            _ => return Err(format!("order for {domain}: status {} after finalize", order["status"])),
        };
        let reply = self.post(&cert_url, None, Some("application/pem-certificate-chain"))?;
        if reply.status != 200 {
            return Err(reply.problem("certificate download"));
        }
        let chain_pem = String::from_utf8(reply.body).map_err(|_| "the certificate chain is not PEM text")?;
        Ok(Issued { chain_pem, key_pem: cert_key.serialize_pem() })
    }

    fn authorize(&mut self, url: &str, challenges: &Challenges) -> Result<(), String> {
        let reply = self.post(url, None, None)?;
        if reply.status != 200 {
            return Err(reply.problem("authorization"));
        }
        let authz = reply.json()?;
        let name = authz["identifier"]["value"].as_str().unwrap_or("?").to_string();
        match authz["status"].as_str() {
            Some("valid") => return Ok(()),
            Some("pending") => {}
            other => return Err(format!("authorization for {name}: status {}", other.unwrap_or("?"))),
        }
        let challenge = authz["challenges"]
            .as_array()
            .and_then(|list| list.iter().find(|c| c["type"] == "http-01"))
            .ok_or_else(|| format!("authorization for {name}: the CA offers no http-01 challenge"))?;
        let token = challenge["token"].as_str().ok_or("http-01 challenge without a token")?.to_string();
        let challenge_url = challenge["url"].as_str().ok_or("http-01 challenge without a URL")?.to_string();
        if token.is_empty() || !token.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            return Err("http-01 token is not base64url".into());
        }
        let key_authorization = format!("{token}.{}", self.key.thumbprint());
        lock(challenges).insert(token.clone(), key_authorization);
        // The answer is withdrawn however this ends.
        let result = (|| {
            let reply = self.post(&challenge_url, Some(&json!({})), None)?;
            if reply.status != 200 {
                return Err(reply.problem("challenge"));
            }
            let authz = self.settle(url, &["pending"])?;
            if authz["status"] == "valid" {
                return Ok(());
            }
            let detail = authz["challenges"]
                .as_array()
                .and_then(|list| list.iter().find(|c| c["type"] == "http-01"))
                .map(|c| c["error"]["detail"].as_str().unwrap_or("").to_string())
                .unwrap_or_default();
            Err(format!("authorization for {name}: {} {detail}", authz["status"]).trim_end().to_string())
        })();
        lock(challenges).remove(&token);
        result
    }

    /// Polls (POST-as-GET) until the object's status is none of `waiting`.
    fn settle(&mut self, url: &str, waiting: &[&str]) -> Result<Value, String> {
        let deadline = Instant::now() + SETTLE_TIMEOUT;
        loop {
            let reply = self.post(url, None, None)?;
            if reply.status != 200 {
                return Err(reply.problem(url));
            }
            let value = reply.json()?;
            let status = value["status"].as_str().unwrap_or("");
            if !waiting.contains(&status) {
                return Ok(value);
            }
            if Instant::now() >= deadline {
                return Err(format!("{url}: still {status} after {}s", SETTLE_TIMEOUT.as_secs()));
            }
            std::thread::sleep(POLL);
        }
    }
}

fn lock(challenges: &Challenges) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
    challenges.lock().unwrap_or_else(PoisonError::into_inner)
}

fn exchange(result: Result<ureq::http::Response<ureq::Body>, ureq::Error>, url: &str) -> Result<Reply, String> {
    let mut response = result.map_err(|e| format!("{url}: {e}"))?;
    let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    let (location, nonce) = (header("location"), header("replay-nonce"));
    let status = response.status().as_u16();
    let body = response.body_mut().read_to_vec().map_err(|e| format!("{url}: reading the answer: {e}"))?;
    Ok(Reply { status, location, nonce, body })
}
