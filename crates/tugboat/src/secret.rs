//! Secret values and how to tell them apart from ordinary configuration.

use std::borrow::Cow;
use std::fmt;

/// A value that must never be printed: `Debug` and `Display` show `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The real value, for the one place that needs it (a connection, a child process's environment).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// The replacement for a secret value, everywhere (`tug config`, audit parameters, logs).
pub const MASK: &str = "***";

/// Words that name a secret (`DB_PASSWORD`, `JWT_SECRET`, `BASIC_AUTH`, `accessToken`).
const SECRET_WORDS: &[&str] = &[
    "password",
    "passwd",
    "pass",
    "pwd",
    "secret",
    "secrets",
    "token",
    "tokens",
    "apikey",
    "credential",
    "credentials",
    "auth",
    "oauth",
    "authorization",
    "passphrase",
    "private",
];

/// Parts of a compound word that name a secret (`dbpassword`, `apitoken`, `clientsecret`).
const SECRET_PARTS: &[&str] = &["password", "passwd", "secret", "token", "credential"];

/// Words that, following a `key` word, say the value is metadata about keys, not a key.
const KEY_METADATA_WORDS: &[&str] = &[
    "count",
    "column",
    "columns",
    "cols",
    "name",
    "names",
    "id",
    "ids",
    "type",
    "fingerprint",
    "len",
    "length",
    "size",
];

/// The one rule for names that hold secrets — variable names, YAML keys, audit parameter keys — judged by
/// words (split at `_`, `-`, `.`, spaces and camelCase): a secret word (`password`, `token`, `auth`, …) or
/// a compound containing one (`dbpassword`); or a key word (`key`, `keys`, `apikey`, `sshkey`) not followed
/// by a metadata word (`key_count`, `primary_key_columns`, `access_key_id`). So `AUTHOR_NAME`,
/// `BYPASS_CACHE`, `KEEP_DAYS` and `KEYBOARD` are not secrets.
pub fn is_secret_name(name: &str) -> bool {
    let words = split_words(name);
    words.iter().enumerate().any(|(i, word)| {
        let secret = SECRET_WORDS.contains(&word.as_str()) || SECRET_PARTS.iter().any(|p| word.contains(p));
        let key_word = word.ends_with("key") || word.ends_with("keys");
        let metadata = words.get(i + 1).is_some_and(|next| KEY_METADATA_WORDS.contains(&next.as_str()));
        secret || (key_word && !metadata)
    })
}

/// Splits an identifier into lowercase words at non-alphanumerics and camelCase boundaries
/// (`apiKey` → `api`, `key`; `APIKey` → `api`, `key`; `ssh_keys` → `ssh`, `keys`).
pub fn split_words(s: &str) -> Vec<String> {
    let chars: Vec<char> = s.chars().collect();
    let mut words = Vec::new();
    let mut current = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_alphanumeric() {
            if !current.is_empty() {
                words.push(std::mem::take(&mut current));
            }
            continue;
        }
        if c.is_uppercase() && !current.is_empty() {
            let prev = i.checked_sub(1).and_then(|p| chars.get(p));
            let next_is_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
            let boundary = match prev {
                Some(p) if p.is_lowercase() || p.is_numeric() => true,
                Some(p) if p.is_uppercase() => next_is_lower,
                _ => false,
            };
            if boundary {
                words.push(std::mem::take(&mut current));
            }
        }
        current.extend(c.to_lowercase());
    }
    if !current.is_empty() {
        words.push(current);
    }
    words
}

/// Shannon entropy in bits per character.
pub fn entropy(s: &str) -> f64 {
    let mut counts = std::collections::HashMap::new();
    for c in s.chars() {
        *counts.entry(c).or_insert(0usize) += 1;
    }
    let n = s.chars().count() as f64;
    counts
        .values()
        .map(|&c| {
            let p = c as f64 / n;
            -p * p.log2()
        })
        .sum()
}

/// A long random-looking token (API keys, generated passwords): at least 20 characters, mixed classes,
/// high entropy, and not a path, URL or sentence.
pub fn looks_random(value: &str) -> bool {
    let v = value.trim();
    if v.len() < 20 || v.contains(' ') || v.contains('/') && !v.contains('+') || v.starts_with("http") {
        return false;
    }
    let classes = [
        v.chars().any(|c| c.is_ascii_lowercase()),
        v.chars().any(|c| c.is_ascii_uppercase()),
        v.chars().any(|c| c.is_ascii_digit()),
    ];
    classes.iter().filter(|c| **c).count() >= 2 && entropy(v) >= 4.0
}

/// `scheme://user:password@host` with a literal (non-`${VAR}`) password.
pub fn url_has_literal_password(url: &str) -> bool {
    let Some((_, rest)) = url.split_once("://") else { return false };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let Some((userinfo, _)) = authority.rsplit_once('@') else { return false };
    match userinfo.split_once(':') {
        Some((_, pw)) => !pw.is_empty() && !pw.starts_with('$') && pw != "***",
        None => false,
    }
}

/// Replaces the password in `scheme://user:password@host` with `***`.
pub fn mask_url_password(url: &str) -> String {
    mask_urls(url).into_owned()
}

/// Masks `user:password@` in every `scheme://` occurrence of `s`: the userinfo runs from `://` to the last
/// `@` before whitespace or a quote, so passwords containing `/`, `#` or `@` are masked whole. A user without
/// a password (`ssh://git@host`) and an already masked one are kept.
pub fn mask_urls(s: &str) -> Cow<'_, str> {
    if !s.contains("://") {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut changed = false;
    let mut rest = s;
    while let Some(pos) = rest.find("://") {
        let (before, after) = rest.split_at(pos + 3);
        out.push_str(before);
        // The URL token ends at whitespace or a quoting character.
        let end =
            after.find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>' | '`')).unwrap_or(after.len());
        let (token, tail) = after.split_at(end);
        match (token.find(':'), token.rfind('@')) {
            (Some(colon), Some(at)) if colon < at && &token[colon + 1..at] != MASK => {
                out.push_str(&token[..=colon]);
                out.push_str(MASK);
                out.push_str(&token[at..]);
                changed = true;
            }
            _ => out.push_str(token),
        }
        rest = tail;
    }
    out.push_str(rest);
    if changed {
        Cow::Owned(out)
    } else {
        Cow::Borrowed(s)
    }
}

/// Variables that hold secrets because `tugboat.yml` uses them so, whatever they are called (`REPO_PW`):
/// each `password_env`, the watch token, the password of a database URL (`mysql://u:${PW}@…`), and every
/// variable in a webhook's or the heartbeat's URL and headers (a chat hook's URL is its own token).
pub fn declared_secret_variables(config: &crate::stack::TugboatConfig) -> Vec<String> {
    let mut names: Vec<String> = config.databases.values().filter_map(|d| d.password_env.clone()).collect();
    for url in config.databases.values().filter_map(|d| d.url.as_deref()) {
        let authority = url.split_once("://").map_or(url, |(_, rest)| rest);
        if let Some((userinfo, _)) = authority.rsplit_once('@') {
            names.extend(referenced_variables(userinfo));
        }
    }
    names.extend(config.backup.iter().filter_map(|b| b.password_env.clone()));
    for provider in &config.alerts {
        names.extend(provider.smtp.iter().filter_map(|s| s.password_env.clone()));
        if let Some(webhook) = &provider.webhook {
            for text in std::iter::once(&webhook.url).chain(webhook.headers.values()) {
                names.extend(referenced_variables(text));
            }
        }
    }
    if let Some(watch) = &config.watch {
        names.extend(watch.token_env.clone());
        names.extend(watch.heartbeat.iter().flat_map(|h| referenced_variables(&h.url)));
    }
    names
}

/// The names of the `${NAME…}` references in `text`.
fn referenced_variables(text: &str) -> Vec<String> {
    text.split("${")
        .skip(1)
        .map(|rest| rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect::<String>())
        .filter(|name| !name.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_never_prints() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s} {s:?}"), "*** ***");
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn names_and_values() {
        assert!(is_secret_name("DB_PASSWORD") && is_secret_name("JWT_SECRET") && is_secret_name("OCR_SIDECAR_API_KEY"));
        assert!(!is_secret_name("KEEP_DAYS") && !is_secret_name("PATH") && !is_secret_name("KEYBOARD"));
        assert!(!is_secret_name("AUTHOR_NAME") && !is_secret_name("BYPASS_CACHE") && !is_secret_name("KEY_COUNT"));
        assert!(is_secret_name("BASIC_AUTH") && is_secret_name("db_pass") && is_secret_name("TLS_KEY"));
        assert!(looks_random("sk-9fQ2x7LmZp4Rt8Wv1Yb6Nc3"));
        assert!(!looks_random("production") && !looks_random("/var/lib/postgresql/data/pgdata"));
    }

    #[test]
    fn urls() {
        assert!(url_has_literal_password("mysql://u:pw@h:3306/db"));
        assert!(!url_has_literal_password("mysql://u:${PW}@h/db") && !url_has_literal_password("http://h/x@y"));
        assert_eq!(mask_url_password("postgres://u:pw@h:5432/db?x=1"), "postgres://u:***@h:5432/db?x=1");
    }

    #[test]
    fn split_words_handles_common_styles() {
        assert_eq!(split_words("apiKey"), ["api", "key"]);
        assert_eq!(split_words("APIKey"), ["api", "key"]);
        assert_eq!(split_words("ssh_keys"), ["ssh", "keys"]);
        assert_eq!(split_words("x-api-key"), ["x", "api", "key"]);
        assert_eq!(split_words("key2Name"), ["key2", "name"]);
        assert_eq!(split_words("KEY"), ["key"]);
    }
}
