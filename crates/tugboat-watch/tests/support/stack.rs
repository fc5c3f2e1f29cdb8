//! A stack in a temporary directory: a one-service `docker-compose.yml` (compose project `probes`) and a
//! `tugboat.yml`, loaded the way `tug` loads it and compiled into checks.

use std::path::Path;

use tugboat::stack::{ConfigError, LoadOptions, Stack};
use tugboat_watch::probe::{compile, Check};

/// The compose file unless one is given: project `probes`, service `web`.
pub const COMPOSE: &str = "name: probes\nservices:\n  web:\n    image: nginx:1.27\n";

pub struct StackDir {
    dir: tempfile::TempDir,
}

impl StackDir {
    /// A stack with [`COMPOSE`] and this `tugboat.yml`.
    pub fn new(tugboat_yml: &str) -> StackDir {
        StackDir::with_compose(COMPOSE, tugboat_yml)
    }

    pub fn with_compose(compose: &str, tugboat_yml: &str) -> StackDir {
        let dir = tempfile::Builder::new().prefix("tug-probe-stack-").tempdir().expect("temp dir");
        let s = StackDir { dir };
        s.write("docker-compose.yml", compose);
        s.write("tugboat.yml", tugboat_yml);
        s
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes another file (`.env`, `ca.pem` …) into the stack directory.
    pub fn write(&self, name: &str, content: &str) -> &StackDir {
        std::fs::write(self.dir.path().join(name), content).unwrap_or_else(|e| panic!("write {name}: {e}"));
        self
    }

    #[track_caller]
    pub fn load(&self) -> Stack {
        tugboat::stack::load(self.path(), &LoadOptions::default()).unwrap_or_else(|e| panic!("the stack loads: {e}"))
    }

    /// Every check of every suite; panics with the errors when they do not compile.
    #[track_caller]
    pub fn checks(&self) -> Vec<Check> {
        compile(&self.load(), None).unwrap_or_else(|e| panic!("the checks compile: {e}"))
    }

    /// The one check called `name` (of any suite).
    #[track_caller]
    pub fn check(&self, name: &str) -> Check {
        let checks = self.checks();
        let names: Vec<String> = checks.iter().map(|c| c.id.clone()).collect();
        checks.into_iter().find(|c| c.name == name).unwrap_or_else(|| panic!("no check `{name}` in {names:?}"))
    }

    /// The error of loading and compiling, rendered (`…/tugboat.yml:7:9: checks.s[0].expect.0: …`);
    /// panics when everything compiles.
    #[track_caller]
    pub fn compile_error(&self) -> String {
        let result: Result<Vec<Check>, ConfigError> =
            tugboat::stack::load(self.path(), &LoadOptions::default()).and_then(|s| compile(&s, None));
        match result {
            Ok(checks) => panic!("expected a configuration error, but {} checks compiled", checks.len()),
            Err(e) => e.to_string(),
        }
    }
}
