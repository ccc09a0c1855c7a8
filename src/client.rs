//! A blocking client of the daemon's socket, for `recctl` and tests.
//!
//! It sends one [`Request`] at a time and reads lines until the reply with
//! its id, handing progress lines to a callback, and returns the result as
//! the type the caller names (`protocol::result`). `call_json` speaks raw
//! JSON for tests of the wire format. Connection failures say whether the
//! daemon is not running or the caller may not connect.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::protocol::{Error, ErrorCode, Progress, Reply, Request, RequestLine};

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("cannot reach recd at {}: the daemon is not running (no socket)", .0.display())]
    NotRunning(PathBuf),
    #[error("cannot reach recd at {}: the daemon is not running (connection refused)", .0.display())]
    Refused(PathBuf),
    #[error("cannot reach recd at {}: permission denied (join the socket's group)", .0.display())]
    PermissionDenied(PathBuf),
    #[error("cannot reach recd at {}: {}", .0.display(), .1)]
    Other(PathBuf, std::io::Error),
}

/// What a call can end in besides a result.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The daemon answered with an error.
    #[error("{0}")]
    Reply(Error),
    /// The connection failed mid-call.
    #[error("connection to recd lost: {0}")]
    Io(#[from] std::io::Error),
    #[error("recd sent a line that is not a reply: {0}")]
    Protocol(String),
}

impl CallError {
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            CallError::Reply(e) => Some(e.code),
            _ => None,
        }
    }
}

pub struct Client {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
    next_id: u64,
}

/// The raw form of a request, for `call_json`.
#[derive(Serialize)]
struct RawRequest<'a> {
    method: &'a str,
    params: &'a Value,
}

impl Client {
    pub fn connect(path: &Path) -> Result<Client, ConnectError> {
        let stream = UnixStream::connect(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => ConnectError::NotRunning(path.to_owned()),
            std::io::ErrorKind::ConnectionRefused => ConnectError::Refused(path.to_owned()),
            std::io::ErrorKind::PermissionDenied => ConnectError::PermissionDenied(path.to_owned()),
            _ => ConnectError::Other(path.to_owned(), e),
        })?;
        let writer = stream
            .try_clone()
            .map_err(|e| ConnectError::Other(path.to_owned(), e))?;
        Ok(Client {
            reader: BufReader::new(stream),
            writer,
            next_id: 0,
        })
    }

    /// Send `request`; its result as `T`.
    pub fn call<T: DeserializeOwned>(&mut self, request: &Request) -> Result<T, CallError> {
        self.call_with_progress(request, &mut |_| {})
    }

    /// As [`call`](Client::call), handing each progress line to `on_progress`.
    pub fn call_with_progress<T: DeserializeOwned>(
        &mut self,
        request: &Request,
        on_progress: &mut dyn FnMut(Progress),
    ) -> Result<T, CallError> {
        let result = self.exchange(request, &mut |p| {
            if let Ok(p) = Progress::deserialize(p) {
                on_progress(p);
            }
        })?;
        serde_json::from_value(result).map_err(|e| {
            CallError::Protocol(format!("the result of {}: {e}", request.method().name()))
        })
    }

    /// Any method name with any params, the result as JSON: for tests of
    /// the wire format.
    pub fn call_json(&mut self, method: &str, params: Value) -> Result<Value, CallError> {
        self.call_json_with_progress(method, params, &mut |_| {})
    }

    pub fn call_json_with_progress(
        &mut self,
        method: &str,
        params: Value,
        on_progress: &mut dyn FnMut(&Value),
    ) -> Result<Value, CallError> {
        let request = RawRequest {
            method,
            params: &params,
        };
        self.exchange(&request, on_progress)
    }

    /// Send `request` followed by the bytes it announces
    /// ([`Request::body_bytes`], `import`'s file), read from `body`.
    pub fn call_with_body<T: DeserializeOwned>(
        &mut self,
        request: &Request,
        body: &mut dyn Read,
    ) -> Result<T, CallError> {
        let result = self.send(request, Some((request.body_bytes(), body)), &mut |_| {})?;
        serde_json::from_value(result).map_err(|e| {
            CallError::Protocol(format!("the result of {}: {e}", request.method().name()))
        })
    }

    /// Send `request`, read its result as `T`, then the `bytes(&result)`
    /// bytes that follow the reply line (`backup`'s copy) into `sink`.
    pub fn call_with_trailer<T: DeserializeOwned>(
        &mut self,
        request: &Request,
        bytes: impl Fn(&T) -> u64,
        sink: &mut dyn Write,
    ) -> Result<T, CallError> {
        let result = self.exchange(request, &mut |_| {})?;
        let result: T = serde_json::from_value(result).map_err(|e| {
            CallError::Protocol(format!("the result of {}: {e}", request.method().name()))
        })?;
        let n = bytes(&result);
        let got = std::io::copy(&mut (&mut self.reader).take(n), sink)?;
        if got != n {
            return Err(CallError::Io(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!("the daemon sent {got} of the {n} bytes its reply announced"),
            )));
        }
        Ok(result)
    }

    /// Write one request line and read until its reply.
    fn exchange<R: Serialize>(
        &mut self,
        request: &R,
        on_progress: &mut dyn FnMut(&Value),
    ) -> Result<Value, CallError> {
        self.send(request, None, on_progress)
    }

    /// Write one request line and the bytes that follow it, then read
    /// until its reply. When the daemon refuses the bytes and closes the
    /// connection, the reply that says why is still read.
    fn send<R: Serialize>(
        &mut self,
        request: &R,
        body: Option<(u64, &mut dyn Read)>,
        on_progress: &mut dyn FnMut(&Value),
    ) -> Result<Value, CallError> {
        self.next_id += 1;
        let id = self.next_id;
        let mut line = serde_json::to_vec(&RequestLine { id, request })
            .map_err(|e| CallError::Protocol(e.to_string()))?;
        line.push(b'\n');
        self.writer.write_all(&line)?;
        let mut sent = Ok(());
        if let Some((n, body)) = body {
            sent = match std::io::copy(&mut body.take(n), &mut self.writer) {
                Ok(k) if k == n => Ok(()),
                Ok(k) => Err(CallError::Io(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!("the input ended after {k} of the {n} bytes announced"),
                ))),
                Err(e) => Err(CallError::Io(e)),
            };
            if sent.is_err() {
                // The daemon sees the bytes stop; it answers once it gives up.
                let _ = self.writer.shutdown(std::net::Shutdown::Write);
            }
        }
        let reply = self.read_reply(id, on_progress);
        match (sent, reply) {
            // A refusal the daemon sent before it stopped reading says more
            // than the broken pipe it caused.
            (_, Ok(v)) => Ok(v),
            (_, Err(e @ CallError::Reply(_))) => Err(e),
            (Err(e), Err(_)) => Err(e),
            (Ok(()), Err(e)) => Err(e),
        }
    }

    fn read_reply(
        &mut self,
        id: u64,
        on_progress: &mut dyn FnMut(&Value),
    ) -> Result<Value, CallError> {
        loop {
            let mut text = String::new();
            if self.reader.read_line(&mut text)? == 0 {
                return Err(CallError::Io(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "the daemon closed the connection",
                )));
            }
            let reply: Reply = serde_json::from_str(&text)
                .map_err(|e| CallError::Protocol(format!("{e}: {}", text.trim())))?;
            if reply.id != id && !reply.id.is_null() {
                continue;
            }
            if let Some(p) = &reply.progress {
                on_progress(p);
                continue;
            }
            if let Some(e) = reply.error {
                return Err(CallError::Reply(e));
            }
            return reply.result.ok_or_else(|| {
                CallError::Protocol(format!(
                    "a reply with neither result nor error: {}",
                    text.trim()
                ))
            });
        }
    }
}
