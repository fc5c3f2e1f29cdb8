//! Redaction of command parameters before they are written to the audit log.
//!
//! The audit log is meant to be shown around (`tug audit log`, tickets, screenshots), and it
//! cannot be edited afterwards without breaking the chain, so a secret that reaches it stays
//! there. Redaction therefore errs on the side of masking: a harmless value hidden by mistake
//! costs a little detail, a password kept by mistake cannot be taken back.
//!
//! Rules, applied recursively through objects and arrays, from the one secret policy (`crate::secret`,
//! also used by `tug config` and every message that shows a URL):
//! - The value of an object key that [`is_secret_name`](crate::secret::is_secret_name) judges secret
//!   becomes `"***"` (`password`, `apiKey`, `basic_auth`, `accessToken`; not `key_count`, `keep`,
//!   `access_key_id`).
//! - `null` and booleans under such keys are kept (they cannot hold a secret, and `auth: false`
//!   is worth seeing); anything else, including objects and arrays, becomes `"***"`.
//! - In every string, the password of a URL's userinfo is masked
//!   ([`mask_urls`](crate::secret::mask_urls)): `mysql://u:pw@host` → `mysql://u:***@host`.

use std::borrow::Cow;

use serde_json::Value;

use crate::secret::{is_secret_name as is_secret_key, mask_urls as mask_url_passwords, MASK};

/// Masks secrets in command parameters; see the module documentation for the rules.
///
/// Idempotent: redacting an already redacted value changes nothing.
pub fn redact_params(v: Value) -> Value {
    match v {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let v = if is_secret_key(&k) { mask(v) } else { redact_params(v) };
                    (k, v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(redact_params).collect()),
        Value::String(s) => match mask_url_passwords(&s) {
            Cow::Borrowed(_) => Value::String(s),
            Cow::Owned(masked) => Value::String(masked),
        },
        other => other,
    }
}

fn mask(v: Value) -> Value {
    match v {
        Value::Null | Value::Bool(_) => v,
        _ => Value::String(MASK.to_string()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secret_keys_are_masked_recursively() {
        let input = json!({
            "stack": "dms",
            "password": "hunter2",
            "DB_PASSWORD": "x",
            "passwd": 1234,
            "client_secret": "s",
            "accessToken": "t",
            "Authorization": "Bearer abc",
            "basic_auth": { "user": "u", "pass": "p" },
            "credentials": ["a", "b"],
            "nested": [
                { "api_key": "k1", "name": "svc" },
                { "apiKey": "k2" },
                { "APIKEY": "k3" },
                { "x-api-key": "k4" },
                { "private_key": "-----BEGIN", "ssh_keys": ["a", "b"], "key": "k5", "secretKey": "k6" },
            ],
            "auth_enabled": true,
            "password_unset": null,
        });
        let expected = json!({
            "stack": "dms",
            "password": "***",
            "DB_PASSWORD": "***",
            "passwd": "***",
            "client_secret": "***",
            "accessToken": "***",
            "Authorization": "***",
            "basic_auth": "***",
            "credentials": "***",
            "nested": [
                { "api_key": "***", "name": "svc" },
                { "apiKey": "***" },
                { "APIKEY": "***" },
                { "x-api-key": "***" },
                { "private_key": "***", "ssh_keys": "***", "key": "***", "secretKey": "***" },
            ],
            "auth_enabled": true,
            "password_unset": null,
        });
        assert_eq!(redact_params(input), expected);
    }

    #[test]
    fn key_metadata_and_lookalikes_are_kept() {
        let input = json!({
            "keep": { "daily": 7, "weekly": 4, "monthly": 12 },
            "key_count": 3,
            "primary_key_columns": ["id"],
            "keyColumns": ["id", "tenant"],
            "access_key_id": "AKIAEXAMPLE",
            "key_type": "ed25519",
            "keyboard": "us",
            "keyring_path": "/etc/keys",
            "monitor": "backend",
        });
        assert_eq!(redact_params(input.clone()), input);
    }

    #[test]
    fn url_passwords_are_masked_everywhere() {
        let input = json!({
            "url": "mysql://backup:s3cret@127.0.0.1:3306/lcbp3",
            "args": ["--from", "postgres://u:p%40ss@db/x", "--to=rest:https://r:pw@nas:8000/repo"],
            "cmd": "migrate mysql://a:b@h1/d pg://c:d@h2/e",
            "odd": "mysql://u:pa/ss#w@rd@host/db",
            "keep_user": "ssh://git@github.com/org/repo",
            "plain": "https://example.org/path?q=a@b.c",
            "already": "mysql://u:***@host",
            "no_url": "user:pw@host",
        });
        let expected = json!({
            "url": "mysql://backup:***@127.0.0.1:3306/lcbp3",
            "args": ["--from", "postgres://u:***@db/x", "--to=rest:https://r:***@nas:8000/repo"],
            "cmd": "migrate mysql://a:***@h1/d pg://c:***@h2/e",
            "odd": "mysql://u:***@host/db",
            "keep_user": "ssh://git@github.com/org/repo",
            "plain": "https://example.org/path?q=a@b.c",
            "already": "mysql://u:***@host",
            "no_url": "user:pw@host",
        });
        assert_eq!(redact_params(input), expected);
    }

    #[test]
    fn scalars_pass_through() {
        for v in [json!(null), json!(true), json!(1.5), json!("text"), json!([])] {
            assert_eq!(redact_params(v.clone()), v);
        }
    }

    fn json_value() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let key = prop_oneof![
            Just("password".to_string()),
            Just("apiKey".to_string()),
            Just("key_count".to_string()),
            Just("keep".to_string()),
            "[a-zA-Z_-]{0,12}",
        ];
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            "(mysql://)?[a-z:@/#]{0,16}".prop_map(Value::String),
            ".{0,12}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 32, 6, move |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::vec((key.clone(), inner), 0..4)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    fn no_secret_under_secret_keys(v: &Value) -> bool {
        match v {
            Value::Object(map) => map.iter().all(|(k, v)| {
                if is_secret_key(k) {
                    matches!(v, Value::Null | Value::Bool(_)) || v == MASK
                } else {
                    no_secret_under_secret_keys(v)
                }
            }),
            Value::Array(items) => items.iter().all(no_secret_under_secret_keys),
            _ => true,
        }
    }

    proptest::proptest! {
        #[test]
        fn redaction_is_idempotent_and_complete(v in json_value()) {
            let once = redact_params(v);
            proptest::prop_assert!(no_secret_under_secret_keys(&once), "{once}");
            proptest::prop_assert_eq!(redact_params(once.clone()), once);
        }
    }
}
