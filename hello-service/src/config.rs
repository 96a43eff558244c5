//! Runtime configuration from the environment, checked up front so a bad value stops the
//! process at once with a one-line message naming the variable (exit code 2).

use std::collections::HashMap;
use std::ffi::OsString;
use std::fmt;
use std::time::Duration;

use crate::DEFAULT_GREETING;

/// Everything the server reads from its environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `GREETING`: the text before the name in `/hello/{name}`.
    pub greeting: String,
    /// `PORT`: the TCP port to listen on, on all interfaces.
    pub port: u16,
    /// `SHUTDOWN_TIMEOUT_SECS`: how long in-flight requests may take to finish after SIGTERM.
    pub shutdown_timeout: Duration,
    /// `RUST_LOG`: the log filter (`info` by default; `info,access=off` silences access lines).
    pub log_filter: String,
    /// `HELLO_FAULT_STATUS`: a server error (500–599) `/hello/{name}` answers with while
    /// `/ping` stays healthy — a build that passes its health check and fails its users, to
    /// rehearse a failed verification and its rollback. Unset: no fault.
    pub fault_status: Option<u16>,
}

/// The port the server listens on when `PORT` is unset.
pub const DEFAULT_PORT: u16 = 8080;
/// Under ECS's default 30 s `stopTimeout`, so the drain ends before SIGKILL.
pub const DEFAULT_SHUTDOWN_TIMEOUT_SECS: u64 = 20;
/// The log filter when `RUST_LOG` is unset.
pub const DEFAULT_LOG_FILTER: &str = "info";

/// A configuration variable that has a value the server cannot use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The environment variable at fault.
    pub variable: &'static str,
    /// What was wrong and what is expected.
    pub problem: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid {}: {}", self.variable, self.problem)
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Reads the configuration from the process environment. A variable that is set but not
    /// valid UTF-8 is an error, not "unset".
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_os_lookup(|name| std::env::var_os(name))
    }

    /// Reads the configuration through `lookup` of raw (possibly non-UTF-8) values.
    pub fn from_os_lookup(lookup: impl Fn(&str) -> Option<OsString>) -> Result<Self, ConfigError> {
        let mut values = HashMap::new();
        for variable in VARIABLES {
            if let Some(raw) = lookup(variable) {
                values.insert(variable, utf8(variable, raw)?);
            }
        }
        Self::from_lookup(|name| values.get(name).cloned())
    }

    /// Reads the configuration through `lookup` (the environment, or a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let greeting = match lookup("GREETING") {
            None => DEFAULT_GREETING.to_owned(),
            Some(g) if g.trim().is_empty() => {
                return Err(ConfigError {
                    variable: "GREETING",
                    problem: "it is empty; unset it to use the default greeting".into(),
                });
            }
            Some(g) => g,
        };
        let port = match lookup("PORT") {
            None => DEFAULT_PORT,
            Some(raw) => parse_port(&raw)?,
        };
        let shutdown_timeout = match lookup("SHUTDOWN_TIMEOUT_SECS") {
            None => Duration::from_secs(DEFAULT_SHUTDOWN_TIMEOUT_SECS),
            Some(raw) => match raw.trim().parse::<u64>() {
                Ok(secs) if secs <= 3600 => Duration::from_secs(secs),
                _ => {
                    return Err(ConfigError {
                        variable: "SHUTDOWN_TIMEOUT_SECS",
                        problem: format!(
                            "expected whole seconds from 0 to 3600, got {raw:?}; keep it under the container's stopTimeout (ECS default 30)"
                        ),
                    });
                }
            },
        };
        let log_filter = lookup("RUST_LOG").unwrap_or_else(|| DEFAULT_LOG_FILTER.to_owned());
        let fault_status = match lookup("HELLO_FAULT_STATUS") {
            None => None,
            Some(raw) => Some(parse_fault_status(&raw)?),
        };
        Ok(Config {
            greeting,
            port,
            shutdown_timeout,
            log_filter,
            fault_status,
        })
    }
}

/// The variables the server reads.
const VARIABLES: [&str; 5] = [
    "GREETING",
    "PORT",
    "SHUTDOWN_TIMEOUT_SECS",
    "RUST_LOG",
    "HELLO_FAULT_STATUS",
];

/// A variable's value as text, or an error naming it.
pub fn utf8(variable: &'static str, raw: OsString) -> Result<String, ConfigError> {
    raw.into_string().map_err(|raw| ConfigError {
        variable,
        problem: format!("it is not valid UTF-8 ({} bytes)", raw.len()),
    })
}

/// Parses a `PORT` value (1–65535).
pub fn parse_port(raw: &str) -> Result<u16, ConfigError> {
    match raw.trim().parse::<u16>() {
        Ok(port) if port > 0 => Ok(port),
        _ => Err(ConfigError {
            variable: "PORT",
            problem: format!("expected a TCP port number from 1 to 65535, got {raw:?}"),
        }),
    }
}

/// Parses a `HELLO_FAULT_STATUS` value (a server error, 500–599).
fn parse_fault_status(raw: &str) -> Result<u16, ConfigError> {
    match raw.trim().parse::<u16>() {
        Ok(status) if (500..=599).contains(&status) => Ok(status),
        _ => Err(ConfigError {
            variable: "HELLO_FAULT_STATUS",
            problem: format!(
                "expected a server error status from 500 to 599, got {raw:?}; unset it for no fault"
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn defaults_when_nothing_is_set() {
        let cfg = config(&[]).unwrap();
        assert_eq!(cfg.greeting, "Hello AWS ECS!");
        assert_eq!(cfg.port, 8080);
        assert_eq!(cfg.shutdown_timeout, Duration::from_secs(20));
        assert_eq!(cfg.log_filter, "info");
        assert_eq!(cfg.fault_status, None);
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (vars, variable) in [
            (&[("PORT", "not-a-port")][..], "PORT"),
            (&[("PORT", "0")][..], "PORT"),
            (&[("PORT", "65536")][..], "PORT"),
            (
                &[("SHUTDOWN_TIMEOUT_SECS", "-1")][..],
                "SHUTDOWN_TIMEOUT_SECS",
            ),
            (
                &[("SHUTDOWN_TIMEOUT_SECS", "5000")][..],
                "SHUTDOWN_TIMEOUT_SECS",
            ),
            (&[("GREETING", "  ")][..], "GREETING"),
            (&[("HELLO_FAULT_STATUS", "200")][..], "HELLO_FAULT_STATUS"),
            (&[("HELLO_FAULT_STATUS", "boom")][..], "HELLO_FAULT_STATUS"),
        ] {
            let err = config(vars).unwrap_err();
            assert_eq!(err.variable, variable, "{vars:?}");
            assert!(
                err.to_string()
                    .starts_with(&format!("invalid {variable}: ")),
                "{err}"
            );
        }
    }

    #[test]
    fn values_that_are_not_utf8_are_errors_naming_their_variable() {
        use std::os::unix::ffi::OsStringExt;
        for variable in VARIABLES {
            let err = Config::from_os_lookup(|name| {
                (name == variable).then(|| OsString::from_vec(b"caf\xe9".to_vec()))
            })
            .unwrap_err();
            assert_eq!(err.variable, variable);
            assert_eq!(
                err.to_string(),
                format!("invalid {variable}: it is not valid UTF-8 (4 bytes)")
            );
        }
        let ok = Config::from_os_lookup(|name| (name == "GREETING").then(|| "Hej".into()));
        assert_eq!(ok.unwrap().greeting, "Hej");
    }

    #[test]
    fn overrides_are_read() {
        let cfg = config(&[
            ("GREETING", "Hi"),
            ("PORT", " 9000 "),
            ("SHUTDOWN_TIMEOUT_SECS", "3"),
            ("HELLO_FAULT_STATUS", "503"),
        ])
        .unwrap();
        assert_eq!(cfg.fault_status, Some(503));
        assert_eq!((cfg.greeting.as_str(), cfg.port), ("Hi", 9000));
        assert_eq!(cfg.shutdown_timeout, Duration::from_secs(3));
    }
}
