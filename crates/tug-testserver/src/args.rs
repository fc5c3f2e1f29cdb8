//! Hand-parsed flags (no clap: the binary must stay tiny and dependency-free), each also readable from
//! `TESTSERVER_<FLAG>` so a compose file's `environment:` can drive the same image.

use std::net::SocketAddr;

/// What the server does; see the crate docs for each flag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub listen: SocketAddr,
    pub version: String,
    pub unhealthy: bool,
    pub healthy_after: u64,
    pub slow_ms: u64,
    pub exit_after_ms: Option<u64>,
    pub exit_code: Option<i32>,
    pub ignore_sigterm: bool,
    /// Answer 500 to every request after the first N (deploy rollback tests).
    pub fail_after: Option<u64>,
    /// Lines written at start (log tests): TEXT to stdout, TEXT to stderr, one line of N bytes to stdout.
    pub print: Option<String>,
    pub print_stderr: Option<String>,
    pub print_bytes: Option<u64>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([0, 0, 0, 0], 8080)),
            version: "v1".to_string(),
            unhealthy: false,
            healthy_after: 0,
            slow_ms: 0,
            exit_after_ms: None,
            exit_code: None,
            ignore_sigterm: false,
            fail_after: None,
            print: None,
            print_stderr: None,
            print_bytes: None,
        }
    }
}

impl Config {
    /// `--exit-code` without `--exit-after`: exit at once (service_completed_successfully tests).
    pub fn exit_immediately(&self) -> Option<i32> {
        match (self.exit_code, self.exit_after_ms) {
            (Some(code), None) => Some(code),
            _ => None,
        }
    }
}

pub const DEFAULT_HEALTH_URL: &str = "http://127.0.0.1:8080/health";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Serve(Config),
    /// The HEALTHCHECK command: GET the URL, exit 0 on 200.
    Health {
        url: String,
    },
    Help,
}

pub const USAGE: &str = "\
usage: tug-testserver [--listen ADDR] [--version TEXT] [--unhealthy] [--healthy-after N] [--slow MS]
                      [--exit-after MS] [--exit-code CODE] [--ignore-sigterm] [--fail-after N]
                      [--print TEXT] [--print-stderr TEXT] [--print-bytes N]
       tug-testserver health [--url URL]
every flag can also be set as TESTSERVER_<FLAG> (e.g. TESTSERVER_HEALTHY_AFTER=3); flags win";

/// The flags that take a value, and the boolean ones; the env var is `TESTSERVER_` + upper-cased name.
const VALUE_FLAGS: [&str; 10] = [
    "listen",
    "version",
    "healthy-after",
    "slow",
    "exit-after",
    "exit-code",
    "fail-after",
    "print",
    "print-stderr",
    "print-bytes",
];
const BOOL_FLAGS: [&str; 2] = ["unhealthy", "ignore-sigterm"];

fn env_name(flag: &str) -> String {
    format!("TESTSERVER_{}", flag.to_ascii_uppercase().replace('-', "_"))
}

/// Parses `args` (without the program name); `env` looks up an environment variable.
pub fn parse_args(args: &[String], env: &dyn Fn(&str) -> Option<String>) -> Result<Command, String> {
    if args.first().map(String::as_str) == Some("health") {
        return parse_health(&args[1..], env);
    }
    let mut config = Config::default();
    // Environment first, so flags given on the command line override it.
    for flag in VALUE_FLAGS {
        if let Some(value) = env(&env_name(flag)) {
            apply_value(&mut config, flag, &value).map_err(|e| format!("{}: {e}", env_name(flag)))?;
        }
    }
    for flag in BOOL_FLAGS {
        if let Some(value) = env(&env_name(flag)) {
            let on = parse_bool(&value).map_err(|e| format!("{}: {e}", env_name(flag)))?;
            apply_bool(&mut config, flag, on);
        }
    }
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        if arg == "-h" || arg == "--help" {
            return Ok(Command::Help);
        }
        let Some(flag) = arg.strip_prefix("--") else {
            return Err(format!("unexpected argument {arg:?}\n{USAGE}"));
        };
        // Both `--flag value` and `--flag=value`.
        let (name, inline) = match flag.split_once('=') {
            Some((name, value)) => (name, Some(value.to_string())),
            None => (flag, None),
        };
        if BOOL_FLAGS.contains(&name) {
            let on = match inline {
                Some(value) => parse_bool(&value).map_err(|e| format!("--{name}: {e}"))?,
                None => true,
            };
            apply_bool(&mut config, name, on);
        } else if VALUE_FLAGS.contains(&name) {
            let value = match inline {
                Some(value) => value,
                None => rest.next().cloned().ok_or_else(|| format!("--{name} needs a value"))?,
            };
            apply_value(&mut config, name, &value).map_err(|e| format!("--{name}: {e}"))?;
        } else {
            return Err(format!("unknown flag {arg:?}\n{USAGE}"));
        }
    }
    Ok(Command::Serve(config))
}

fn parse_health(args: &[String], env: &dyn Fn(&str) -> Option<String>) -> Result<Command, String> {
    let mut url = env("TESTSERVER_HEALTH_URL").unwrap_or_else(|| DEFAULT_HEALTH_URL.to_string());
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        if let Some(value) = arg.strip_prefix("--url=") {
            url = value.to_string();
        } else if arg == "--url" {
            url = rest.next().cloned().ok_or("--url needs a value")?;
        } else if arg == "-h" || arg == "--help" {
            return Ok(Command::Help);
        } else {
            return Err(format!("health: unexpected argument {arg:?}\n{USAGE}"));
        }
    }
    Ok(Command::Health { url })
}

fn parse_bool(value: &str) -> Result<bool, String> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" | "" => Ok(false),
        other => Err(format!("expected true or false, got {other:?}")),
    }
}

fn apply_bool(config: &mut Config, flag: &str, on: bool) {
    match flag {
        "unhealthy" => config.unhealthy = on,
        _ => config.ignore_sigterm = on,
    }
}

fn apply_value(config: &mut Config, flag: &str, value: &str) -> Result<(), String> {
    let number = || value.trim().parse::<u64>().map_err(|_| format!("expected a number, got {value:?}"));
    match flag {
        "listen" => {
            config.listen =
                value.trim().parse().map_err(|_| format!("expected HOST:PORT (an IP address), got {value:?}"))?
        }
        "version" => config.version = value.to_string(),
        "healthy-after" => config.healthy_after = number()?,
        "slow" => config.slow_ms = number()?,
        "exit-after" => config.exit_after_ms = Some(number()?),
        "fail-after" => config.fail_after = Some(number()?),
        "print" => config.print = Some(value.to_string()),
        "print-stderr" => config.print_stderr = Some(value.to_string()),
        "print-bytes" => config.print_bytes = Some(number()?),
        _ => {
            config.exit_code =
                Some(value.trim().parse::<i32>().map_err(|_| format!("expected an exit code, got {value:?}"))?)
        }
    }
    Ok(())
}
