//! Registry credentials as the docker CLI stores them: `$DOCKER_CONFIG/config.json` (default
//! `~/.docker/config.json`), `auths.<registry>.auth` = base64 `user:password`. Credential helpers
//! (`credsStore`, `credHelpers`) are external programs and are not run: a pull then goes anonymous and the
//! registry's refusal names the image.

use std::path::PathBuf;

use base64::Engine as _;
use bollard::auth::DockerCredentials;

/// Docker Hub's key in `auths`.
const DOCKER_HUB: &str = "https://index.docker.io/v1/";

/// The registry part of a reference: `127.0.0.1:5000/app:1` -> `127.0.0.1:5000`; none for Docker Hub.
pub fn registry_of(reference: &str) -> Option<&str> {
    let (first, _) = reference.split_once('/')?;
    (first.contains('.') || first.contains(':') || first == "localhost").then_some(first)
}

fn config_path() -> Option<PathBuf> {
    match std::env::var_os("DOCKER_CONFIG") {
        Some(dir) => Some(PathBuf::from(dir).join("config.json")),
        None => std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker/config.json")),
    }
}

/// The stored credentials for the registry of `reference`, if any.
pub fn registry_credentials(reference: &str) -> Option<DockerCredentials> {
    let text = std::fs::read_to_string(config_path()?).ok()?;
    credentials_in(&text, reference)
}

fn credentials_in(config: &str, reference: &str) -> Option<DockerCredentials> {
    let config: serde_json::Value = serde_json::from_str(config).ok()?;
    let registry = registry_of(reference);
    let auths = config.get("auths")?.as_object()?;
    let entry = auths.iter().find(|(key, _)| match registry {
        Some(r) => key.trim_start_matches("https://").trim_start_matches("http://").trim_end_matches('/') == r,
        None => key.as_str() == DOCKER_HUB || key.as_str() == "docker.io",
    })?;
    let encoded = entry.1.get("auth")?.as_str()?;
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded).ok()?;
    let (user, password) =
        String::from_utf8(decoded).ok()?.split_once(':').map(|(u, p)| (u.to_string(), p.to_string()))?;
    Some(DockerCredentials {
        username: Some(user),
        password: Some(password),
        serveraddress: Some(registry.unwrap_or(DOCKER_HUB).to_string()),
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_is_the_first_component_only_when_it_looks_like_a_host() {
        assert_eq!(registry_of("127.0.0.1:5000/app:1"), Some("127.0.0.1:5000"));
        assert_eq!(registry_of("registry.example.com/team/app"), Some("registry.example.com"));
        assert_eq!(registry_of("localhost/app"), Some("localhost"));
        assert_eq!(registry_of("library/redis:7"), None);
        assert_eq!(registry_of("redis"), None);
    }

    #[test]
    fn credentials_come_from_the_matching_auths_entry() {
        let auth = base64::engine::general_purpose::STANDARD.encode("ci:s3cret");
        let config =
            format!(r#"{{"auths": {{"https://127.0.0.1:5000": {{"auth": "{auth}"}}, "other:1": {{"auth": "x"}}}}}}"#);
        let c = credentials_in(&config, "127.0.0.1:5000/app:1").unwrap();
        assert_eq!((c.username.as_deref(), c.password.as_deref()), (Some("ci"), Some("s3cret")));
        assert_eq!(c.serveraddress.as_deref(), Some("127.0.0.1:5000"));
        assert!(credentials_in(&config, "redis:7").is_none());
    }
}
