//! The HTTP API (`[http] listen`): every protocol method at a `/v1` route
//! made from the one method list (`routes`), the endpoints of the system
//! recd replaces (`legacy`), bearer tokens with scopes (`auth`), TLS with
//! rustls when the config names a certificate and key.
//!
//! A request runs the same handler as on the socket, as a [`Caller`] whose
//! scopes decide what it may call; results and error codes are the
//! socket's, the code choosing the HTTP status. `retrain` streams its
//! progress as JSON lines. The socket's limits hold here too: at most
//! `daemon.max_connections` connections (one more is closed unanswered), a
//! request head within `daemon.idle_timeout_secs`, a JSON body of at most
//! `daemon.max_line_bytes` within the same time, an import of at most
//! `daemon.max_import_bytes`, and a peer that takes no byte of a reply for
//! `daemon.write_timeout_secs` loses its connection. Connections are kept
//! alive between requests; at shutdown, a request in flight is answered
//! within `daemon.shutdown_timeout_secs` and the connection closed.
//!
//! [`Caller`]: crate::server::auth::Caller

mod api;
pub mod auth;
mod body;
mod legacy;
pub mod routes;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::task::TaskTracker;

use crate::server::accept::{accept, Accepted};
use crate::server::peer::Stalled;
use crate::server::Server;

/// What every request of the API shares.
pub struct Api {
    pub server: Arc<Server>,
    pub tokens: auth::Tokens,
}

/// Why the API cannot start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("http.listen: cannot listen on {address}: {source}")]
    Bind {
        address: SocketAddr,
        source: std::io::Error,
    },
    #[error("http.{key}: {path}: {what}")]
    Tls {
        key: &'static str,
        path: String,
        what: String,
    },
}

/// The API, bound and not yet serving.
pub struct Endpoint {
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
}

impl Endpoint {
    /// Bind the configured address and read the TLS files, if any.
    pub async fn bind(config: &crate::config::Http) -> Result<Option<Endpoint>, StartError> {
        let Some(address) = config.address else {
            return Ok(None);
        };
        let tls = match (&config.tls_cert, &config.tls_key) {
            (Some(cert), Some(key)) => Some(tls_acceptor(cert, key)?),
            _ => None,
        };
        if let Some(warning) = config.loopback_warning() {
            tracing::warn!("{warning}");
        }
        let listener = TcpListener::bind(address)
            .await
            .map_err(|source| StartError::Bind { address, source })?;
        Ok(Some(Endpoint { listener, tls }))
    }

    /// The address bound (its port, when the key named port 0).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }

    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() {
            "https"
        } else {
            "http"
        }
    }

    /// Serve until `server`'s shutdown token is cancelled.
    pub async fn serve(self, server: Arc<Server>) {
        let shutdown = server.shutdown.clone();
        let limits = server.state.config.daemon.clone();
        let api = Arc::new(Api {
            tokens: auth::Tokens::new(&server.state.config.http),
            server,
        });
        let tracker = TaskTracker::new();
        let max = limits.max_connections;
        accept(&self.listener, &shutdown, max, "http", |accepted| {
            let (stream, peer, permit) = match accepted {
                Accepted::Slot(stream, peer, permit) => (stream, peer, permit),
                Accepted::Full(_, peer) => {
                    tracing::warn!(%peer, "http: connection closed, {max} already open");
                    return;
                }
            };
            let _ = stream.set_nodelay(true);
            let api = api.clone();
            let tls = self.tls.clone();
            tracker.spawn(async move {
                let stream = Stalled::new(stream, api.server.state.config.daemon.write_timeout);
                match tls {
                    None => connection(stream, peer, api).await,
                    Some(tls) => {
                        let idle = api.server.state.config.daemon.idle_timeout;
                        match tokio::time::timeout(idle, tls.accept(stream)).await {
                            Ok(Ok(s)) => connection(s, peer, api).await,
                            Ok(Err(e)) => tracing::debug!(%peer, "http: TLS handshake failed: {e}"),
                            Err(_) => tracing::debug!(%peer, "http: TLS handshake timed out"),
                        }
                    }
                }
                drop(permit);
            });
        })
        .await;
        tracker.close();
        tracker.wait().await;
    }
}

/// One connection, kept alive across requests, closed at shutdown.
async fn connection<S>(stream: S, peer: SocketAddr, api: Arc<Api>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let shutdown = api.server.shutdown.clone();
    let idle = api.server.state.config.daemon.idle_timeout;
    let grace = api.server.state.config.daemon.shutdown_timeout;
    let service = service_fn(move |req: hyper::Request<Incoming>| {
        let api = api.clone();
        async move { Ok::<_, std::convert::Infallible>(api::respond(req, api, peer).await) }
    });
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(idle)
        .max_buf_size(64 * 1024)
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    let done = tokio::select! {
        done = conn.as_mut() => done,
        _ = shutdown.cancelled() => {
            // The request in flight is answered (within the grace the
            // socket's get); an idle connection closes at once.
            conn.as_mut().graceful_shutdown();
            match tokio::time::timeout(grace, conn.as_mut()).await {
                Ok(done) => done,
                Err(_) => {
                    tracing::warn!(%peer, "http: a request still running after {grace:?}; closing");
                    Ok(())
                }
            }
        }
    };
    if let Err(e) = done {
        tracing::debug!(%peer, "http: connection ended: {e}");
    }
}

/// Whether the TLS files the config names can be served with (as the
/// start reads them); the scheme the API will speak.
pub fn check_tls(config: &crate::config::Http) -> Result<&'static str, StartError> {
    match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => tls_acceptor(cert, key).map(|_| "https"),
        _ => Ok("http"),
    }
}

/// A TLS acceptor for a PEM certificate chain and private key.
fn tls_acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, StartError> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let fail = |key: &'static str, path: &Path, what: String| StartError::Tls {
        key,
        path: path.display().to_string(),
        what,
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| fail("tls_cert", cert, e.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|e| fail("tls_cert", cert, e.to_string()))?;
    if certs.is_empty() {
        return Err(fail(
            "tls_cert",
            cert,
            "no PEM certificate in the file".into(),
        ));
    }
    let private = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| fail("tls_key", key, format!("no PEM private key read: {e}")))?;
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = tokio_rustls::rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| fail("tls_cert", cert, e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, private)
        .map_err(|e| fail("tls_key", key, format!("does not fit the certificate: {e}")))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}
