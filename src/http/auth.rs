//! Who an HTTP request comes from: the bearer token it presents, checked
//! against the SHA-256 hashes of `[[http.tokens]]` (the config never holds
//! a token itself), or, from a loopback address without a token,
//! `http.loopback_scopes`.

use std::net::SocketAddr;

use hyper::header::AUTHORIZATION;
use hyper::HeaderMap;
use sha2::{Digest, Sha256};

use crate::config::Http;
use crate::protocol::{Error, ErrorCode, Scope};
use crate::server::auth::Caller;

/// The tokens of the config, by hash.
pub struct Tokens {
    tokens: Vec<([u8; 32], String, Vec<Scope>)>,
    loopback: Vec<Scope>,
}

impl Tokens {
    pub fn new(config: &Http) -> Tokens {
        let tokens = config
            .tokens
            .iter()
            .filter_map(|t| {
                let mut hash = [0u8; 32];
                // The config checked the 64 hex digits.
                for (i, byte) in hash.iter_mut().enumerate() {
                    *byte = u8::from_str_radix(t.sha256.get(2 * i..2 * i + 2)?, 16).ok()?;
                }
                Some((hash, t.name.clone(), t.scopes.clone()))
            })
            .collect();
        Tokens {
            tokens,
            loopback: config.loopback_scopes.clone(),
        }
    }

    /// The caller a request's headers and address make, or why it is
    /// refused (`unauthorized`).
    pub fn caller(&self, headers: &HeaderMap, address: SocketAddr) -> Result<Caller, Error> {
        let Some(value) = headers.get(AUTHORIZATION) else {
            if address.ip().to_canonical().is_loopback() && !self.loopback.is_empty() {
                return Ok(Caller::Http {
                    token: None,
                    scopes: self.loopback.clone(),
                    address,
                });
            }
            return Err(Error::new(
                ErrorCode::Unauthorized,
                "a bearer token is required (Authorization: Bearer TOKEN)",
            ));
        };
        let token = value
            .to_str()
            .ok()
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                Error::new(
                    ErrorCode::Unauthorized,
                    "the Authorization header must be 'Bearer TOKEN'",
                )
            })?;
        let hash: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        // Every hash is compared in full, whichever matches.
        let mut found = None;
        for (i, (known, ..)) in self.tokens.iter().enumerate() {
            let diff = known
                .iter()
                .zip(&hash)
                .fold(0u8, |acc, (a, b)| acc | (a ^ b));
            if diff == 0 {
                found = Some(i);
            }
        }
        let (_, name, scopes) = found.map(|i| &self.tokens[i]).ok_or_else(|| {
            Error::new(
                ErrorCode::Unauthorized,
                "the bearer token is not one of http.tokens",
            )
        })?;
        Ok(Caller::Http {
            token: Some(name.clone()),
            scopes: scopes.clone(),
            address,
        })
    }
}

/// The SHA-256 of a token, as `[[http.tokens]]` holds it.
pub fn hash(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A new token: 32 random bytes from the kernel, in hex.
pub fn generate() -> std::io::Result<String> {
    use std::io::Read;
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Token;

    fn tokens() -> Tokens {
        Tokens::new(&Http {
            tokens: vec![Token {
                name: "app".into(),
                sha256: hash("s3cret"),
                scopes: vec![Scope::Read, Scope::Rate],
            }],
            ..Http::default()
        })
    }

    fn ask(auth: Option<&str>, from: &str) -> Result<Caller, Error> {
        let mut headers = HeaderMap::new();
        if let Some(a) = auth {
            headers.insert(AUTHORIZATION, a.parse().unwrap());
        }
        tokens().caller(&headers, from.parse().unwrap())
    }

    #[test]
    fn a_known_token_gives_its_scopes_anywhere() {
        for from in ["127.0.0.1:5", "192.0.2.1:5", "[::1]:5"] {
            match ask(Some("Bearer s3cret"), from).unwrap() {
                Caller::Http { token, scopes, .. } => {
                    assert_eq!(token.as_deref(), Some("app"));
                    assert_eq!(scopes, [Scope::Read, Scope::Rate]);
                }
                other => panic!("{other:?}"),
            }
        }
        assert!(ask(Some("bearer s3cret"), "192.0.2.1:5").is_ok());
    }

    #[test]
    fn loopback_without_a_token_gets_the_loopback_scopes() {
        for from in ["127.0.0.1:5", "[::1]:5", "[::ffff:127.0.0.1]:5"] {
            let Caller::Http { token, scopes, .. } = ask(None, from).unwrap() else {
                panic!()
            };
            assert_eq!((token, scopes), (None, vec![Scope::Read]), "{from}");
        }
    }

    #[test]
    fn missing_wrong_and_malformed_tokens_are_unauthorized() {
        for (auth, from) in [
            (None, "192.0.2.1:5"),
            (Some("Bearer nope"), "127.0.0.1:5"),
            (Some("Basic czNjcmV0"), "127.0.0.1:5"),
            (Some("Bearer "), "127.0.0.1:5"),
            (Some("s3cret"), "127.0.0.1:5"),
        ] {
            let e = ask(auth, from).unwrap_err();
            assert_eq!(e.code, ErrorCode::Unauthorized, "{auth:?}");
            assert!(!e.message.contains("s3cret"));
        }
    }

    #[test]
    fn generated_tokens_are_new_each_time() {
        let (a, b) = (generate().unwrap(), generate().unwrap());
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
        assert_eq!(hash("abc").len(), 64);
    }
}
