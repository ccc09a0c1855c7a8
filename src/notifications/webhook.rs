//! The webhook: one JSON POST, retried with exponential backoff on
//! failures that may pass (no connection, a timeout, a 5xx, a 429), never
//! on a refusal (any other status). It blocks; callers run it on its own
//! thread.

use std::io::Read;
use std::time::Duration;

use super::redact::scrub;
use super::Failure;

/// How much of an error response's body is kept for the log.
const BODY_SHOWN: u64 = 256;

/// The most the delay between attempts doubles to: 2^6 times the base.
const MAX_DOUBLINGS: u32 = 6;

/// POST `body` to `url`, at most `1 + retries` times, sleeping `backoff`,
/// then twice that, and so on, between attempts. Returns the attempts made
/// and the last failure, if it never succeeded.
pub(super) fn post(
    url: &str,
    body: &[u8],
    timeout: Duration,
    retries: u32,
    backoff: Duration,
) -> (u32, Result<(), Failure>) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        // A redirected POST would either lose its body or be refused; a
        // webhook that moved is the operator's to fix.
        .max_redirects(0)
        .user_agent(concat!("recd/", env!("CARGO_PKG_VERSION")))
        .build()
        .into();
    let mut attempts = 0;
    loop {
        attempts += 1;
        let failure = match attempt(&agent, url, body) {
            Ok(()) => return (attempts, Ok(())),
            Err(f) => f,
        };
        if attempts > retries || !failure.may_pass() {
            return (attempts, Err(failure));
        }
        let doublings = (attempts - 1).min(MAX_DOUBLINGS);
        std::thread::sleep(backoff.saturating_mul(1 << doublings));
    }
}

fn attempt(agent: &ureq::Agent, url: &str, body: &[u8]) -> Result<(), Failure> {
    let mut response = agent
        .post(url)
        .header("Content-Type", "application/json")
        .send(body)
        .map_err(|e| transport(&e, url))?;
    let code = response.status().as_u16();
    if (200..300).contains(&code) {
        return Ok(());
    }
    let mut shown = Vec::new();
    // The body only explains the status (Slack says "invalid_token"); a
    // failure to read it changes nothing.
    let _ = response
        .body_mut()
        .as_reader()
        .take(BODY_SHOWN)
        .read_to_end(&mut shown);
    Err(Failure::Status {
        code,
        body: scrub(String::from_utf8_lossy(&shown).trim(), url),
    })
}

fn transport(e: &ureq::Error, url: &str) -> Failure {
    let what = scrub(&e.to_string(), url);
    match e {
        ureq::Error::Timeout(_) => Failure::TimedOut(what),
        ureq::Error::Io(_)
        | ureq::Error::HostNotFound
        | ureq::Error::ConnectionFailed
        | ureq::Error::Protocol(_) => Failure::Transport(what),
        _ => Failure::Refused(what),
    }
}
