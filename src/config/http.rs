//! The `[http]` section: the HTTP API's listener, its TLS files and who may
//! call what (bearer tokens by the SHA-256 of their secret, and what
//! loopback requests without a token may do).

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// What a caller may do, as tokens and loopback requests are granted it:
/// read what is served, write ratings, or change what the daemon serves or
/// does. Each protocol method needs one (`Method::scope`).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    strum::EnumIter,
    strum::IntoStaticStr,
    clap::ValueEnum,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Scope {
    Read,
    Rate,
    Admin,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// The `[http]` section.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Http {
    /// The key as written: "" (the default) serves no HTTP API; else an IP
    /// address and a port.
    pub listen: String,
    /// What `listen` names, resolved when the config is parsed.
    #[serde(skip)]
    pub address: Option<SocketAddr>,
    /// What a request from a loopback address without a token may call.
    pub loopback_scopes: Vec<Scope>,
    /// PEM certificate chain and private key: with both, the listener
    /// speaks HTTPS only. Required for a non-loopback address.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub tokens: Vec<Token>,
}

impl Default for Http {
    fn default() -> Http {
        Http {
            listen: String::new(),
            address: None,
            loopback_scopes: vec![Scope::Read],
            tls_cert: None,
            tls_key: None,
            tokens: Vec::new(),
        }
    }
}

/// One `[[http.tokens]]` entry.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Token {
    /// Who holds it, for the logs and the replies that refuse it.
    pub name: String,
    /// The SHA-256 of the token, 64 hex digits (`recd token` prints it).
    pub sha256: String,
    pub scopes: Vec<Scope>,
}

impl Http {
    /// What the config gives every local user and process: a loopback
    /// request needs no token, and the socket's file mode and admin group
    /// do not apply to it. Said as a warning by `check-config` and at start
    /// when it holds more than `read`.
    pub fn loopback_warning(&self) -> Option<String> {
        let address = self.address?;
        let wide: Vec<&str> = self
            .loopback_scopes
            .iter()
            .filter(|s| **s != Scope::Read)
            .map(|s| s.as_str())
            .collect();
        (!wide.is_empty()).then(|| {
            format!(
                "http.loopback_scopes: every local user and process may call the '{}' methods \
                 on {address} without a token (the socket keeps admin to root, recd's user and \
                 daemon.admin_group); use tokens instead where other users share this host",
                wide.join("' and '")
            )
        })
    }

    /// Read "" as "none", resolve `listen` and the TLS paths, and check
    /// that a listener other hosts can reach is protected.
    pub(super) fn resolve(
        &mut self,
        resolve: impl Fn(&mut PathBuf),
    ) -> Result<(), (&'static str, String)> {
        self.address = super::Metrics::address_of(&self.listen)
            .map_err(|what| ("http.listen", what.replace("no endpoint", "no HTTP API")))?;
        for path in [&mut self.tls_cert, &mut self.tls_key] {
            *path = path.take().filter(|p| !p.as_os_str().is_empty());
            if let Some(p) = path {
                resolve(p);
            }
        }
        match (&self.tls_cert, &self.tls_key) {
            (Some(_), None) => {
                return Err((
                    "http.tls_key",
                    "tls_cert is set: tls_key must name its private key".into(),
                ))
            }
            (None, Some(_)) => {
                return Err((
                    "http.tls_cert",
                    "tls_key is set: tls_cert must name its certificate".into(),
                ))
            }
            _ => {}
        }
        let mut names = std::collections::HashSet::new();
        for t in &mut self.tokens {
            t.sha256 = t.sha256.trim().to_ascii_lowercase();
            if t.name.trim().is_empty() {
                return Err(("http.tokens", "every token needs a name".into()));
            }
            if !names.insert(t.name.clone()) {
                return Err(("http.tokens", format!("two tokens are named '{}'", t.name)));
            }
            if t.sha256.len() != 64 || !t.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err((
                    "http.tokens",
                    format!(
                        "token '{}': sha256 must be the 64 hex digits of the token's SHA-256 \
                         (`recd token` prints a token and its hash), not the token itself",
                        t.name
                    ),
                ));
            }
        }
        let Some(address) = self.address else {
            return Ok(());
        };
        if !address.ip().is_loopback() {
            if self.tokens.is_empty() {
                return Err((
                    "http.tokens",
                    format!(
                        "http.listen = \"{address}\" is reachable from other hosts: \
                         configure at least one [[http.tokens]] (or listen on 127.0.0.1)"
                    ),
                ));
            }
            if self.tls_cert.is_none() {
                return Err((
                    "http.tls_cert",
                    format!(
                        "http.listen = \"{address}\" is reachable from other hosts: set \
                         tls_cert and tls_key, or listen on 127.0.0.1 behind a reverse proxy \
                         that terminates TLS (docs/http.md)"
                    ),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, ConfigError};
    use std::path::Path;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("/etc/recd"), Path::new("recd.toml"))
    }

    #[test]
    fn the_http_api_is_off_by_default_and_guarded_off_loopback() {
        let c = parse("").unwrap();
        assert_eq!(c.http.address, None);
        assert_eq!(c.http.loopback_scopes, [Scope::Read]);
        let token = "[[http.tokens]]\nname = \"a\"\nsha256 = \"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\"\nscopes = [\"read\", \"admin\"]\n";
        let c = parse(&format!(
            "[http]\nlisten = \"127.0.0.1:8000\"\nloopback_scopes = []\n{token}"
        ))
        .unwrap();
        assert_eq!(c.http.address, Some("127.0.0.1:8000".parse().unwrap()));
        assert_eq!(c.http.tokens[0].scopes, [Scope::Read, Scope::Admin]);
        assert!(c.http.loopback_scopes.is_empty());
        let err = |text: &str| parse(text).unwrap_err().to_string();
        // Reachable from other hosts: tokens and TLS, or a clear error.
        let e = err("[http]\nlisten = \"0.0.0.0:8000\"\n");
        assert!(
            e.contains("http.tokens") && e.contains("reachable from other hosts"),
            "{e}"
        );
        let e = err(&format!("[http]\nlisten = \"0.0.0.0:8000\"\n{token}"));
        assert!(
            e.contains("http.tls_cert") && e.contains("reverse proxy"),
            "{e}"
        );
        let c = parse(&format!(
            "[http]\nlisten = \"[::]:8443\"\ntls_cert = \"tls/c.pem\"\ntls_key = \"tls/k.pem\"\n{token}"
        ))
        .unwrap();
        assert_eq!(
            c.http.tls_cert.as_deref(),
            Some(Path::new("/etc/recd/tls/c.pem"))
        );
        let e = err("[http]\ntls_cert = \"c.pem\"\n");
        assert!(e.contains("http.tls_key"), "{e}");
        let e = err("[http]\nlisten = \"localhost:80\"\n");
        assert!(
            e.contains("http.listen") && e.contains("no HTTP API"),
            "{e}"
        );
        let e = err("[http]\nloopback_scopes = [\"write\"]\n");
        assert!(e.contains("unknown variant `write`"), "{e}");
        let e = err("[[http.tokens]]\nname = \"a\"\nsha256 = \"my-secret\"\nscopes = []\n");
        assert!(e.contains("not the token itself"), "{e}");
        let e = err(&format!("{token}{token}"));
        assert!(e.contains("two tokens are named 'a'"), "{e}");
    }
}
