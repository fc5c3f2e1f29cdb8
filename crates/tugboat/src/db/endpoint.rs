//! Where a database is and how to reach it: a URL, or a compose service to `docker exec` into.

use std::fmt;

use super::{DbError, Result};
use crate::secret::Secret;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    Mariadb,
    Postgres,
}

impl Engine {
    pub fn name(self) -> &'static str {
        match self {
            Engine::Mariadb => "mariadb",
            Engine::Postgres => "postgres",
        }
    }
}

/// How to reach the server.
#[derive(Clone)]
pub enum Target {
    /// A TCP address (or, with `socket`, a Unix socket directory/path) on this machine's network.
    Tcp { host: String, port: u16, socket: Option<std::path::PathBuf> },
    /// A running container: the client tools run inside it (`docker exec -i`).
    Container { container: String },
}

/// A database to connect to. `Debug` and `Display` never show the password.
#[derive(Clone)]
pub struct Endpoint {
    pub engine: Engine,
    pub target: Target,
    pub user: String,
    pub password: Option<Secret>,
    pub database: String,
}

impl Endpoint {
    /// `mysql://`, `mariadb://`, `postgres://` or `postgresql://` `user:password@host:port/database`
    /// (percent-encoded parts decoded). The password may also come from the caller afterwards.
    pub fn parse_url(url: &str) -> Result<Endpoint> {
        let bad = |reason: &str| DbError::BadUrl { url: crate::secret::mask_url_password(url), reason: reason.into() };
        let (scheme, rest) = url.split_once("://").ok_or_else(|| bad("expected scheme://…"))?;
        let engine = match scheme {
            "mysql" | "mariadb" => Engine::Mariadb,
            "postgres" | "postgresql" => Engine::Postgres,
            _ => return Err(bad("scheme must be mysql, mariadb, postgres or postgresql")),
        };
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let database = decode(path.split(['?', '#']).next().unwrap_or(""));
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        let (user, password) = match userinfo {
            Some(u) => match u.split_once(':') {
                Some((user, pw)) => (decode(user), Some(Secret::new(decode(pw)))),
                None => (decode(u), None),
            },
            None => (String::new(), None),
        };
        let default_port = if engine == Engine::Mariadb { 3306 } else { 5432 };
        let (host, port) = match hostport.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || p.parse::<u16>().is_ok() => {
                (h.trim_matches(['[', ']']).to_string(), p.parse::<u16>().map_err(|_| bad("port is not a number"))?)
            }
            _ => (hostport.trim_matches(['[', ']']).to_string(), default_port),
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        if database.is_empty() {
            return Err(bad("no database name (…/DATABASE)"));
        }
        let user = if user.is_empty() {
            if engine == Engine::Mariadb {
                "root".into()
            } else {
                "postgres".into()
            }
        } else {
            user
        };
        Ok(Endpoint { engine, target: Target::Tcp { host, port, socket: None }, user, password, database })
    }

    /// Whether both name the same database on the same server (then one must not be restored over the other).
    pub fn same_database(&self, other: &Endpoint) -> bool {
        let local = |h: &str| {
            if matches!(h, "localhost" | "127.0.0.1" | "::1") {
                "loopback".to_string()
            } else {
                h.to_ascii_lowercase()
            }
        };
        let same_server = match (&self.target, &other.target) {
            (Target::Tcp { host: a, port: p, .. }, Target::Tcp { host: b, port: q, .. }) => {
                p == q && local(a) == local(b)
            }
            (Target::Container { container: a }, Target::Container { container: b }) => a == b,
            _ => false,
        };
        self.engine == other.engine && same_server && self.database == other.database
    }

    /// The same server, another database (scratch copies, `CREATE DATABASE` targets).
    pub fn with_database(&self, database: &str) -> Endpoint {
        Endpoint { database: database.to_string(), ..self.clone() }
    }
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok());
            if let Some(b) = hex {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = self.engine.name();
        match &self.target {
            Target::Tcp { host, port, .. } => write!(f, "{scheme}://{}@{host}:{port}/{}", self.user, self.database),
            Target::Container { container } => {
                write!(f, "{scheme} in container {container} (database {}, user {})", self.database, self.user)
            }
        }
    }
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Endpoint({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls_and_hides_passwords() {
        let e = Endpoint::parse_url("mysql://backup:p%40ss@127.0.0.1:3307/lcbp3").unwrap();
        assert_eq!((e.engine, e.user.as_str(), e.database.as_str()), (Engine::Mariadb, "backup", "lcbp3"));
        assert_eq!(e.password.as_ref().unwrap().expose(), "p@ss");
        assert!(matches!(&e.target, Target::Tcp { host, port: 3307, .. } if host == "127.0.0.1"));
        assert_eq!(
            format!("{e} {e:?}"),
            "mariadb://backup@127.0.0.1:3307/lcbp3 Endpoint(mariadb://backup@127.0.0.1:3307/lcbp3)"
        );
        let p = Endpoint::parse_url("postgresql://hub@db.example.org/statehub").unwrap();
        assert!(matches!(&p.target, Target::Tcp { port: 5432, .. }));
        let err = Endpoint::parse_url("mysql://u:secret@h:x/db").unwrap_err().to_string();
        assert!(!err.contains("secret") && err.contains("port"), "{err}");
        assert!(Endpoint::parse_url("redis://h/0").is_err());
        assert!(Endpoint::parse_url("mysql://h:3306/").is_err());
    }
}
