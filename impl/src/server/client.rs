//! A raftkv client: tries the given endpoints, follows redirects to the
//! leader and retries while a leader is being elected.

use std::io;
use std::time::{Duration, Instant};

use serde_json::Value;
use thiserror::Error;

use super::http::{percent_encode, HttpClient};

#[derive(Debug, Error)]
pub enum ClientError {
    #[error("no endpoint answered within {0:?}: {1}")]
    Unavailable(Duration, String),
    #[error("server answered {status}: {body}")]
    Status { status: u16, body: Value },
    #[error("undecodable answer: {0}")]
    Decode(String),
}

pub struct KvClient {
    endpoints: Vec<String>,
    next: usize,
    http: HttpClient,
    /// How long to keep retrying through elections and dead nodes.
    pub retry_for: Duration,
}

/// The `host:port` of an `http://host:port/path` Location.
fn location_authority(location: &str) -> Option<&str> {
    let rest = location.strip_prefix("http://")?;
    Some(rest.split('/').next().unwrap_or(rest))
}

impl KvClient {
    pub fn new(endpoints: Vec<String>) -> Self {
        let first = endpoints.first().cloned().unwrap_or_default();
        KvClient {
            endpoints,
            next: 1,
            http: HttpClient::new(first, Duration::from_secs(10)),
            retry_for: Duration::from_secs(10),
        }
    }

    fn rotate(&mut self) {
        if !self.endpoints.is_empty() {
            let addr = self.endpoints[self.next % self.endpoints.len()].clone();
            self.next += 1;
            self.http.set_addr(addr);
        }
    }

    /// One API call with retries on connection errors, 503s and redirects.
    /// Returns the final status and JSON body (2xx, 404, 409, 4xx, 504).
    pub fn call(
        &mut self,
        method: &str,
        path: &str,
        body: &[u8],
    ) -> Result<(u16, Value), ClientError> {
        let start = Instant::now();
        let mut last = String::new();
        while start.elapsed() < self.retry_for {
            match self.http.request(method, path, body) {
                Err(e) => {
                    last = format!("{}: {e}", self.http.addr());
                    if e.kind() == io::ErrorKind::TimedOut || e.kind() == io::ErrorKind::WouldBlock
                    {
                        return Err(ClientError::Unavailable(start.elapsed(), last));
                    }
                    self.rotate();
                    std::thread::sleep(Duration::from_millis(20));
                }
                Ok(resp) => {
                    let json: Value = serde_json::from_slice(&resp.body).unwrap_or(Value::Null);
                    match resp.status {
                        307 => match resp.location.as_deref().and_then(location_authority) {
                            Some(addr) => self.http.set_addr(addr.to_string()),
                            None => self.rotate(),
                        },
                        503 => {
                            last = format!("{}: {json}", self.http.addr());
                            std::thread::sleep(Duration::from_millis(20));
                        }
                        status => return Ok((status, json)),
                    }
                }
            }
        }
        Err(ClientError::Unavailable(start.elapsed(), last))
    }

    fn ok(&mut self, method: &str, path: &str, body: &[u8]) -> Result<Value, ClientError> {
        match self.call(method, path, body)? {
            (200, v) => Ok(v),
            (status, body) => Err(ClientError::Status { status, body }),
        }
    }

    pub fn put(&mut self, key: &str, value: &str) -> Result<Value, ClientError> {
        let body = serde_json::json!({ "value": value }).to_string();
        self.ok(
            "PUT",
            &format!("/v1/kv/{}", percent_encode(key)),
            body.as_bytes(),
        )
    }

    /// A linearizable read (`stale`: a local read at whichever node answers).
    pub fn get(&mut self, key: &str, stale: bool) -> Result<Option<String>, ClientError> {
        let q = if stale { "?stale=true" } else { "" };
        match self.call("GET", &format!("/v1/kv/{}{q}", percent_encode(key)), b"")? {
            (200, v) => Ok(v["value"].as_str().map(str::to_string)),
            (404, _) => Ok(None),
            (status, body) => Err(ClientError::Status { status, body }),
        }
    }

    pub fn delete(&mut self, key: &str) -> Result<Value, ClientError> {
        self.ok("DELETE", &format!("/v1/kv/{}", percent_encode(key)), b"")
    }

    /// Compare-and-set: `Ok(true)` if it took effect.
    pub fn cas(
        &mut self,
        key: &str,
        expected: Option<&str>,
        value: Option<&str>,
    ) -> Result<(bool, Value), ClientError> {
        let body = serde_json::json!({ "expected": expected, "value": value }).to_string();
        match self.call(
            "POST",
            &format!("/v1/cas/{}", percent_encode(key)),
            body.as_bytes(),
        )? {
            (200, v) => Ok((true, v)),
            (409, v) => Ok((false, v)),
            (status, body) => Err(ClientError::Status { status, body }),
        }
    }

    /// `GET /v1/status` of one endpoint (no retries, no redirects).
    pub fn status_of(addr: &str, timeout: Duration) -> Result<super::Status, ClientError> {
        let mut http = HttpClient::new(addr, timeout);
        let resp = http
            .request("GET", "/v1/status", b"")
            .map_err(|e| ClientError::Unavailable(timeout, format!("{addr}: {e}")))?;
        serde_json::from_slice(&resp.body).map_err(|e| ClientError::Decode(e.to_string()))
    }
}
