//! Secret values and how to tell them apart from ordinary configuration.

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

/// Variable names that conventionally hold secrets, judged by whole words (`DB_PASSWORD`, `JWT_SECRET`,
/// `API_KEY`, `BASIC_AUTH`), so `AUTHOR_NAME`, `BYPASS_CACHE` or `KEYBOARD` are not.
pub fn is_secret_name(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    let words: Vec<&str> = upper.split(|c: char| !c.is_ascii_alphanumeric()).filter(|w| !w.is_empty()).collect();
    let secret_word = |w: &str| {
        matches!(
            w,
            "PASSWORD"
                | "PASSWD"
                | "PASS"
                | "PWD"
                | "SECRET"
                | "SECRETS"
                | "TOKEN"
                | "TOKENS"
                | "APIKEY"
                | "CREDENTIAL"
                | "CREDENTIALS"
                | "AUTH"
                | "PASSPHRASE"
                | "PRIVATE"
        )
    };
    words.iter().any(|w| secret_word(w)) || words.last().is_some_and(|w| *w == "KEY" || *w == "KEYS")
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
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_string() };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
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
}
