//! One HTTP request: its route, its caller, its params, the method's
//! handler (the same as the socket's), its reply.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use hyper::body::Incoming;
use hyper::header::{HeaderValue, ALLOW};
use hyper::{Request, Response, StatusCode};
use serde_json::json;
use tokio::io::{AsyncBufRead, AsyncWrite};
use tokio::sync::mpsc;
use tokio_util::sync::PollSender;

use super::body::{self, Body, LineWriter, Lines, Part};
use super::routes::{self, Route};
use super::{legacy, Api};
use crate::protocol::{self, Error, ErrorCode, Method};
use crate::server::auth::Caller;
use crate::server::methods::{self, Ctx, Raw};
use crate::server::peer::Body as Bytes;
use crate::server::Server;

/// The reply to one request.
pub async fn respond(req: Request<Incoming>, api: Arc<Api>, address: SocketAddr) -> Response<Body> {
    let route = routes::route(req.method(), req.uri().path());
    let caller = match &route {
        Route::NotFound(why) => {
            // As on the socket: the methods there are.
            let e = Error::new(ErrorCode::UnknownMethod, why.clone())
                .with_data(json!({ "methods": Method::names() }));
            return body::error(e);
        }
        Route::NotAllowed(allow) => {
            let mut r = body::error(Error::new(
                ErrorCode::InvalidRequest,
                format!("{} answers {allow}", req.uri().path()),
            ));
            *r.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
            r.headers_mut()
                .insert(ALLOW, HeaderValue::from_static(allow));
            return r;
        }
        _ => match api.tokens.caller(req.headers(), address) {
            Ok(caller) => caller,
            // The old system's paths answer in its shape, refusals too.
            Err(e) if matches!(route, Route::Legacy(_)) => return legacy::detail(&e),
            Err(e) => return body::error(e),
        },
    };
    match route {
        Route::Call {
            method,
            query: true,
        } => {
            let query = req.uri().query().unwrap_or("");
            match routes::from_query(method, query) {
                Ok(r) => reply(call(&api.server, caller, r, &mut tokio::io::sink(), None).await),
                Err(e) => body::error(e),
            }
        }
        Route::Call {
            method: Method::Import,
            ..
        } => import(&api.server, caller, req).await,
        Route::Call {
            method: Method::Backup,
            ..
        } => match protocol::request_of("backup", None) {
            Ok(r) => backup(&api.server, caller, r).await,
            Err(e) => body::error(e),
        },
        Route::Call { method, .. } => {
            let params = body::read_json(req, &api.server.state.config.daemon).await;
            let request = params.and_then(|p| protocol::request_of(method.name(), p));
            match request {
                Err(e) => body::error(e),
                Ok(r) if method == Method::Retrain => stream(api.server.clone(), caller, r).await,
                Ok(r) => reply(call(&api.server, caller, r, &mut tokio::io::sink(), None).await),
            }
        }
        Route::Forget(Err(sent)) => body::error(Error::new(
            ErrorCode::InvalidUser,
            format!(
                "the user id '{sent}' does not decode to UTF-8 (percent-encode its UTF-8 bytes)"
            ),
        )),
        Route::Forget(Ok(user)) => {
            match protocol::request_of("forget", Some(json!({ "user": user }))) {
                Ok(r) => reply(call(&api.server, caller, r, &mut tokio::io::sink(), None).await),
                Err(e) => body::error(e),
            }
        }
        Route::Legacy(l) => legacy::respond(l, &api.server, caller, req).await,
        Route::NotFound(_) | Route::NotAllowed(_) => unreachable!("answered above"),
    }
}

fn reply(r: Result<Raw, Error>) -> Response<Body> {
    match r {
        Ok(raw) => body::result(&raw),
        Err(e) => body::error(e),
    }
}

/// Run one request as `caller`, counted in the server's statistics
/// ([`methods::answer`], as on the socket). Progress lines go to `out`; `bytes` is what follows
/// (an import's file and its length).
pub async fn call<W: AsyncWrite + Unpin>(
    server: &Server,
    caller: Caller,
    req: protocol::Request,
    out: &mut W,
    bytes: Option<(&mut (dyn AsyncBufRead + Unpin + Send), u64)>,
) -> Result<Raw, Error> {
    call_for_file(server, caller, req, out, bytes).await.0
}

/// [`call`], with the file that follows the result (`backup`'s copy).
async fn call_for_file<W: AsyncWrite + Unpin>(
    server: &Server,
    caller: Caller,
    req: protocol::Request,
    out: &mut W,
    bytes: Option<(&mut (dyn AsyncBufRead + Unpin + Send), u64)>,
) -> (Result<Raw, Error>, Option<std::fs::File>) {
    let started = Instant::now();
    let mut empty: &[u8] = &[];
    let (reader, want) = match bytes {
        Some((r, n)) => (r, n),
        None => (&mut empty as &mut (dyn AsyncBufRead + Unpin + Send), 0),
    };
    let idle = server.state.config.daemon.idle_timeout;
    let mut ctx = Ctx {
        server,
        caller,
        id: None,
        out,
        body: Bytes::new(reader, want, idle),
        trailer: None,
    };
    let answer = methods::answer(req, &mut ctx, started).await;
    (answer, ctx.trailer.take())
}

/// `backup`: the copy of the ratings database as the body
/// (`application/octet-stream`), what `backup` says of it in the
/// `X-Recd-Backup` header (JSON).
async fn backup(server: &Server, caller: Caller, req: protocol::Request) -> Response<Body> {
    let (answer, file) = call_for_file(server, caller, req, &mut tokio::io::sink(), None).await;
    let (raw, file) = match (answer, file) {
        (Err(e), _) => return body::error(e),
        (Ok(raw), Some(file)) => (raw, file),
        (Ok(_), None) => {
            return body::error(Error::new(ErrorCode::Internal, "a backup without its copy"))
        }
    };
    let Ok(info) = HeaderValue::from_str(raw.get()) else {
        return body::error(Error::new(
            ErrorCode::Internal,
            "a backup's description is not a header",
        ));
    };
    let length = file.metadata().map(|m| m.len()).unwrap_or(0);
    let mut r = Response::new(http_body_util::BodyExt::boxed(body::FileBody::new(file)));
    let headers = r.headers_mut();
    headers.insert(
        hyper::header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    headers.insert(hyper::header::CONTENT_LENGTH, HeaderValue::from(length));
    headers.insert("x-recd-backup", info);
    r
}

/// A request whose progress streams (`retrain`): refused before it starts,
/// an error status; started, 200 and JSON lines, progress then the end.
async fn stream(server: Arc<Server>, caller: Caller, req: protocol::Request) -> Response<Body> {
    let (tx, mut rx) = mpsc::channel::<Part>(64);
    tokio::spawn(async move {
        let mut out = LineWriter(PollSender::new(tx.clone()));
        let end = call(&server, caller, req, &mut out, None).await;
        drop(out);
        let _ = tx.send(Part::End(end)).await;
    });
    match rx.recv().await {
        Some(Part::End(Err(e))) => body::error(e),
        Some(first) => {
            let mut r = Response::new(http_body_util::BodyExt::boxed(Lines::new(first, rx)));
            r.headers_mut().insert(
                hyper::header::CONTENT_TYPE,
                HeaderValue::from_static(body::JSON_LINES),
            );
            r
        }
        None => body::error(Error::new(
            ErrorCode::Internal,
            "the request ended unanswered",
        )),
    }
}

/// `import`: the body is the ratings file; its name may be in the query.
async fn import(server: &Server, caller: Caller, req: Request<Incoming>) -> Response<Body> {
    let Some(length) = body::content_length(req.headers()) else {
        return body::error(Error::new(
            ErrorCode::InvalidRequest,
            "import needs a Content-Length: send the ratings file as the body",
        ));
    };
    let max = server.state.config.daemon.max_import_bytes;
    if length > max {
        return body::error(Error::new(
            ErrorCode::BodyTooLarge,
            format!(
                "an import of {length} bytes is larger than daemon.max_import_bytes ({max}); \
                 split the file"
            ),
        ));
    }
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Query {
        name: Option<String>,
    }
    let query: Query = match serde_urlencoded::from_str(req.uri().query().unwrap_or("")) {
        Ok(q) => q,
        Err(e) => {
            return body::error(Error::new(
                ErrorCode::InvalidParams,
                format!("import: query string: {e} (it takes name)"),
            ))
        }
    };
    let params = json!({ "bytes": length, "name": query.name });
    let request = match protocol::request_of("import", Some(params)) {
        Ok(r) => r,
        Err(e) => return body::error(e),
    };
    let mut reader = body::Reader::new(req.into_body());
    let bytes: (&mut (dyn AsyncBufRead + Unpin + Send), u64) = (&mut reader, length);
    reply(call(server, caller, request, &mut tokio::io::sink(), Some(bytes)).await)
}
