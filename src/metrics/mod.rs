//! The monitoring endpoint (`[metrics] listen`): `/metrics` in the
//! Prometheus text format and `/healthz` for load balancers, over HTTP/1.1
//! on a TCP address.
//!
//! It only reads: the server's counters and histograms, the daemon's state,
//! the last training run recorded. It never changes what serves, never
//! reads a request's body, and answers GET and HEAD on its two paths (404
//! elsewhere, 405 for other methods). A peer's bytes are bounded as the
//! socket's are: at most [`MAX_CONNECTIONS`] at once (one more is closed
//! unanswered), a request's head must arrive within [`HEAD_TIMEOUT`] and
//! fit in [`MAX_HEAD_BYTES`], one request per connection, and no
//! connection outlives [`CONNECTION_DEADLINE`], whatever its peer does.
//! HTTP is hyper's (parsing, limits, HEAD); `families` builds what
//! `/metrics` says, which the `prometheus` crate writes.
//!
//! It runs on the daemon's runtime beside the socket server and stops with
//! it: the shutdown token ends the accept loop and every open connection.

mod families;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::header::{HeaderValue, ALLOW, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::task::TaskTracker;

use crate::protocol::HealthStatus;
use crate::server::accept::{accept, Accepted};
use crate::server::Server;

/// Connections served at once: a few scrapers and health checks, with room
/// to spare; past it a connection is closed at once.
pub const MAX_CONNECTIONS: usize = 64;

/// How long a peer may take to send a request's head (line and headers).
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(5);

/// The largest request head read (hyper's smallest limit is 8 KiB): the
/// requests served here are one short line and a few headers.
pub const MAX_HEAD_BYTES: usize = 16 * 1024;

/// The longest a connection lasts: the head, a scrape (the database has 2 s
/// of it) and a reply the peer reads slowly.
pub const CONNECTION_DEADLINE: Duration = Duration::from_secs(30);

/// The endpoint, bound and not yet serving.
pub struct Endpoint {
    listener: TcpListener,
}

/// The address could not be bound.
#[derive(Debug, thiserror::Error)]
#[error("metrics.listen: cannot listen on {address}: {source}")]
pub struct BindError {
    pub address: SocketAddr,
    pub source: std::io::Error,
}

impl Endpoint {
    pub async fn bind(address: SocketAddr) -> Result<Endpoint, BindError> {
        let listener = TcpListener::bind(address)
            .await
            .map_err(|source| BindError { address, source })?;
        Ok(Endpoint { listener })
    }

    /// The address bound (its port, when the key named port 0).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }

    /// Serve until `server`'s shutdown token is cancelled.
    pub async fn serve(self, server: Arc<Server>) {
        let shutdown = server.shutdown.clone();
        let tracker = TaskTracker::new();
        accept(&self.listener, &shutdown, MAX_CONNECTIONS, "metrics", |accepted| match accepted {
            Accepted::Slot(stream, _, permit) => {
                let server = server.clone();
                tracker.spawn(async move {
                    connection(stream, server).await;
                    drop(permit);
                });
            }
            Accepted::Full(_, peer) => {
                tracing::debug!(%peer, "metrics: connection closed, {MAX_CONNECTIONS} already open");
            }
        })
        .await;
        tracker.close();
        tracker.wait().await;
    }
}

/// One connection: one request, answered, then closed; cut short at the
/// deadline or at shutdown.
async fn connection(stream: TcpStream, server: Arc<Server>) {
    let shutdown = server.shutdown.clone();
    let service = service_fn(move |req: Request<Incoming>| {
        let server = server.clone();
        async move { Ok::<_, Infallible>(respond(&req, &server).await) }
    });
    // One request per connection: a scrape every few seconds costs nothing
    // to reconnect on, and a connection that ends with its reply needs no
    // idle timeout, which hyper does not have.
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEAD_TIMEOUT)
        .max_buf_size(MAX_HEAD_BYTES)
        .keep_alive(false)
        .serve_connection(TokioIo::new(stream), service);
    tokio::select! {
        done = conn => {
            if let Err(e) = done {
                tracing::debug!("metrics: connection ended: {e}");
            }
        }
        _ = tokio::time::sleep(CONNECTION_DEADLINE) => {
            tracing::debug!("metrics: connection closed after {CONNECTION_DEADLINE:?}");
        }
        _ = shutdown.cancelled() => {}
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Route {
    Metrics,
    Healthz,
    NotFound,
    MethodNotAllowed,
}

fn route(method: &Method, path: &str) -> Route {
    let known = match path {
        "/metrics" => Route::Metrics,
        "/healthz" => Route::Healthz,
        _ => return Route::NotFound,
    };
    if method == Method::GET || method == Method::HEAD {
        known
    } else {
        Route::MethodNotAllowed
    }
}

/// The reply to `req` (hyper leaves the body out for HEAD).
async fn respond(req: &Request<Incoming>, server: &Server) -> Response<String> {
    match route(req.method(), req.uri().path()) {
        Route::Metrics => match families::render(server).await {
            Ok(text) => reply(StatusCode::OK, families::CONTENT_TYPE, text),
            Err(e) => {
                tracing::warn!("metrics: cannot write the metrics: {e}");
                reply(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "text/plain; charset=utf-8",
                    format!("cannot write the metrics: {e}\n"),
                )
            }
        },
        Route::Healthz => healthz(server),
        Route::NotFound => reply(
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            "not found: recd serves /metrics and /healthz\n".into(),
        ),
        Route::MethodNotAllowed => {
            let mut r = reply(
                StatusCode::METHOD_NOT_ALLOWED,
                "text/plain; charset=utf-8",
                "method not allowed: GET or HEAD\n".into(),
            );
            r.headers_mut()
                .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
            r
        }
    }
}

/// `/healthz`: 200 while a model serves (a fallback one included), 503
/// otherwise; the body is `health`'s status and the model's version.
fn healthz(server: &Server) -> Response<String> {
    let health = crate::server::methods::health(&server.state);
    let serving = matches!(health.status, HealthStatus::Ok | HealthStatus::Degraded);
    let body = Healthz {
        status: health.status,
        model: health.model.as_ref().map(|m| m.version.as_str()),
    };
    let code = if serving {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    // A status and a version always serialise.
    let text = serde_json::to_string(&body).unwrap_or_default();
    reply(code, "application/json", text + "\n")
}

/// The body of `/healthz`.
#[derive(serde::Serialize)]
struct Healthz<'a> {
    status: HealthStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    model: Option<&'a str>,
}

fn reply(code: StatusCode, content_type: &'static str, body: String) -> Response<String> {
    let mut r = Response::new(body);
    *r.status_mut() = code;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_two_paths_read_with_get_or_head() {
        for m in [Method::GET, Method::HEAD] {
            assert_eq!(route(&m, "/metrics"), Route::Metrics);
            assert_eq!(route(&m, "/healthz"), Route::Healthz);
            for path in ["/", "/metrics/", "/Metrics", "/healthz/x", "//metrics", ""] {
                assert_eq!(route(&m, path), Route::NotFound, "{path}");
            }
        }
        for m in [Method::POST, Method::PUT, Method::DELETE, Method::OPTIONS] {
            assert_eq!(route(&m, "/metrics"), Route::MethodNotAllowed);
            assert_eq!(route(&m, "/healthz"), Route::MethodNotAllowed);
            assert_eq!(route(&m, "/other"), Route::NotFound);
        }
    }
}
