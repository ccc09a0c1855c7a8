//! What bench connections send and how their replies are scored.

use std::time::Instant;

use crate::protocol::{
    Method, PredictParams, RateParams, RecommendParams, Request, RequestLine, SimilarParams,
};
use crate::rng::Rng;

/// Whether a bench can send `method`: those [`RequestGen::request`] builds.
pub fn supported(method: Method) -> bool {
    RequestGen::new(0, &Shape::default())
        .request(method)
        .is_some()
}

/// What bench requests ask for.
#[derive(Debug, Clone, Default)]
pub struct Shape {
    /// Dataset users of the model, `ml:1` to `ml:users`, at random...
    pub users: u64,
    /// ...unless this one user.
    pub user: Option<String>,
    pub movie: u32,
    pub n: usize,
}

/// Per-method latencies in microseconds and error count.
#[derive(Default)]
pub struct Sample {
    pub micros: Vec<u32>,
    pub errors: u64,
}

/// The requests of one bench connection.
pub struct RequestGen {
    /// The connection's number.
    conn: u64,
    rng: Rng,
    id: u64,
    shape: Shape,
}

impl RequestGen {
    pub fn new(conn: u64, shape: &Shape) -> RequestGen {
        RequestGen {
            conn,
            rng: Rng::new(conn),
            id: 0,
            shape: shape.clone(),
        }
    }

    /// The next request: which of `methods` (its index), appended to `out`
    /// as a line, and the prefix its reply must start with.
    pub fn next(&mut self, methods: &[Method], out: &mut Vec<u8>) -> (usize, String) {
        let (which, request) = self.pick(methods);
        let id = self.id;
        // A request of ours always serialises.
        let _ = serde_json::to_writer(
            &mut *out,
            &RequestLine {
                id,
                request: &request,
            },
        );
        out.push(b'\n');
        // Replies are only checked for their id and a result member, so the
        // client costs as little CPU as possible on a shared machine.
        (which, format!("{{\"id\":{id},\"result\""))
    }

    /// The next request as HTTP/1.1 (`GET` with a query for the methods
    /// that read, `POST` with a JSON body for the others), appended to
    /// `out`; which of `methods` it is.
    pub fn next_http(
        &mut self,
        methods: &[Method],
        token: Option<&str>,
        out: &mut Vec<u8>,
    ) -> usize {
        use std::io::Write;
        let (which, request) = self.pick(methods);
        let method = request.method();
        let path = method.route();
        let params = match serde_json::to_value(&request) {
            Ok(serde_json::Value::Object(mut o)) => o.remove("params"),
            _ => None,
        }
        .unwrap_or_else(|| serde_json::json!({}));
        let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
        if method.scope() == crate::protocol::Scope::Read {
            let pairs: Vec<(String, String)> = params
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.clone(), v.as_str().map_or(v.to_string(), str::to_owned)))
                .collect();
            let query = serde_urlencoded::to_string(pairs).unwrap_or_default();
            let _ = write!(
                out,
                "GET {path}?{query} HTTP/1.1\r\nHost: recd\r\n{auth}\r\n"
            );
        } else {
            let body = params.to_string();
            let _ = write!(
                out,
                "POST {path} HTTP/1.1\r\nHost: recd\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
        }
        which
    }

    /// One of `methods` at random, and its request.
    fn pick(&mut self, methods: &[Method]) -> (usize, Request) {
        let which = self.rng.below(methods.len() as u64) as usize;
        self.id += 1;
        // Only supported methods reach here (`supported`); health is the
        // harmless stand-in should one not.
        (
            which,
            self.request(methods[which]).unwrap_or(Request::Health),
        )
    }

    /// The request a bench sends for `method`, if it sends one.
    fn request(&mut self, method: Method) -> Option<Request> {
        let (id, movie, n) = (self.id, self.shape.movie, self.shape.n);
        let user = |rng: &mut Rng, shape: &Shape| match &shape.user {
            Some(u) => u.clone(),
            None => format!("ml:{}", rng.below(shape.users.max(1)) + 1),
        };
        Some(match method {
            Method::Recommend => Request::Recommend(RecommendParams {
                user: user(&mut self.rng, &self.shape),
                n,
            }),
            Method::Predict => Request::Predict(PredictParams {
                user: user(&mut self.rng, &self.shape),
                movie,
            }),
            Method::Similar => Request::Similar(SimilarParams { movie, n }),
            Method::Rate => Request::Rate(RateParams {
                user: format!("bench-{}-{id}", self.conn),
                movie,
                rating: (1 + id % 5) as f64,
            }),
            Method::Health => Request::Health,
            Method::Stats
            | Method::Unrate
            | Method::Import
            | Method::Forget
            | Method::Backup
            | Method::RetrainCheck
            | Method::Retrain
            | Method::JobStatus
            | Method::JobCancel
            | Method::Reload
            | Method::Models
            | Method::Rollback
            | Method::History
            | Method::Schedule
            | Method::SchedulePause
            | Method::ScheduleResume => return None,
        })
    }
}

/// Record one request; false ends the connection.
pub fn record(
    samples: &mut [Sample],
    which: usize,
    t0: Instant,
    sent_and_read: bool,
    line: &[u8],
    expect: &str,
) -> bool {
    let s = &mut samples[which];
    s.micros
        .push(t0.elapsed().as_micros().min(u32::MAX as u128) as u32);
    if !sent_and_read || !line.starts_with(expect.as_bytes()) {
        s.errors += 1;
    }
    sent_and_read
}
