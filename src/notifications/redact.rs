//! Webhook URLs: whether one is usable, and the form of it that may be
//! shown. Slack-style URLs carry their secret in the path, others in the
//! query or the userinfo, so only the scheme, host and port are ever shown.

use std::fmt::Write;

use ureq::http::Uri;

/// What stands in for a part left out.
const HIDDEN: &str = "…";

/// Ok for an absolute http:// or https:// URL with a host; else what is
/// wrong, without repeating the URL (it may hold a secret).
pub(super) fn check_url(url: &str) -> Result<(), String> {
    let scheme = url.split_once("://").map(|(scheme, _)| scheme);
    match scheme {
        Some("http" | "https") => {}
        Some(s) if s.len() <= 16 && s.bytes().all(|b| b.is_ascii_alphanumeric()) => {
            return Err(format!("must be an http:// or https:// URL, not {s}://"))
        }
        _ => return Err("must be an absolute http:// or https:// URL".into()),
    }
    let uri: Uri = url.parse().map_err(|e| format!("is not a URL ({e})"))?;
    if uri.host().is_none_or(str::is_empty) {
        return Err("has no host".into());
    }
    Ok(())
}

/// A URL fit for logs and replies: the scheme, host and port kept; the
/// userinfo, path and query each replaced by "…" when present, e.g.
/// `https://hooks.slack.com/…`. Text that is not a URL gives "(not a URL)".
pub fn redact_url(url: &str) -> String {
    let Ok(uri) = url.trim().parse::<Uri>() else {
        return "(not a URL)".into();
    };
    let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) else {
        return "(not a URL)".into();
    };
    let mut out = format!("{scheme}://");
    if authority.as_str().contains('@') {
        out.push_str(HIDDEN);
        out.push('@');
    }
    out.push_str(authority.host());
    if let Some(port) = authority.port_u16() {
        let _ = write!(out, ":{port}");
    }
    if uri.query().is_some() || !matches!(uri.path(), "" | "/") {
        out.push('/');
        out.push_str(HIDDEN);
    }
    out
}

/// `message` with every appearance of `url`, or of its path and query,
/// replaced by the redacted URL: a transport error may quote either.
pub(super) fn scrub(message: &str, url: &str) -> String {
    let shown = redact_url(url);
    let mut out = message.replace(url, &shown);
    if let Ok(uri) = url.parse::<Uri>() {
        if let Some(pq) = uri.path_and_query().map(|pq| pq.as_str()) {
            if !matches!(pq, "" | "/") {
                out = out.replace(pq, &format!("/{HIDDEN}"));
            }
        }
        if let Some(authority) = uri.authority() {
            if let Some((userinfo, _)) = authority.as_str().rsplit_once('@') {
                out = out.replace(userinfo, HIDDEN);
            }
        }
    }
    out
}
