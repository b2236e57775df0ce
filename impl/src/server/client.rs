//! A raftkv client: tries the given endpoints, follows redirects to the
//! leader and retries while a leader is being elected.
//!
//! Every write carries this client's session (a random client id and a
//! sequence number, see [`super::CLIENT_ID_HEADER`]), so a write whose
//! outcome is unknown (the connection broke after it was sent, or the
//! leader answered 504) is retried safely: the cluster applies each
//! (client, seq) at most once and answers a retry with the first result.

use std::time::{Duration, Instant};

use serde_json::Value;
use thiserror::Error;

use super::http::{percent_encode, HttpClient, RequestError};
use super::{CLIENT_ID_HEADER, SEQ_HEADER};
use crate::kv::ClientId;

#[derive(Debug, Error)]
pub enum ClientError {
    #[error("no endpoint answered within {0:?}: {1}")]
    Unavailable(Duration, String),
    #[error(
        "gave up after {0:?}; the write may or may not have taken effect \
         (read the key to find out): {1}"
    )]
    OutcomeUnknown(Duration, String),
    #[error("server answered {status}: {body}")]
    Status { status: u16, body: Value },
    #[error("undecodable answer: {0}")]
    Decode(String),
    #[error(
        "connection refused by every endpoint ({}): is the cluster running \
         there?",
        .0.join(", ")
    )]
    Refused(Vec<String>),
}

/// Check that `s` is an endpoint, `HOST:PORT` (an IPv6 host in brackets),
/// without resolving it: the value parser of every `--endpoints` entry.
pub fn parse_endpoint(s: &str) -> Result<String, String> {
    let s = s.trim();
    if s.contains("://") {
        return Err(format!(
            "{s:?}: give HOST:PORT without a scheme (e.g. 127.0.0.1:8001)"
        ));
    }
    let Some((host, port)) = s.rsplit_once(':') else {
        return Err(format!("{s:?} is not HOST:PORT (e.g. 127.0.0.1:8001)"));
    };
    let bracketed = host.starts_with('[') && host.ends_with(']') && host.len() > 2;
    if host.is_empty() || (host.contains(':') && !bracketed) || host.contains('/') {
        return Err(format!(
            "{s:?}: bad host {host:?} (an IPv6 address goes in brackets: [::1]:8001)"
        ));
    }
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok(s.to_string()),
        _ => Err(format!("{s:?}: the port must be 1 to 65535, not {port:?}")),
    }
}

pub struct KvClient {
    endpoints: Vec<String>,
    next: usize,
    http: HttpClient,
    client_id: ClientId,
    /// The sequence number of this client's last write.
    seq: u64,
    /// How long to keep retrying through elections and dead nodes.
    pub retry_for: Duration,
    /// Give up sooner, after this long, if nothing but refused connections
    /// came back from every endpoint: no cluster is running there (a node
    /// restarting refuses briefly; a whole cluster rarely does).
    pub refused_for: Duration,
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
            client_id: fastrand::u64(..),
            seq: 0,
            retry_for: Duration::from_secs(10),
            refused_for: Duration::from_secs(1),
        }
    }

    /// This client's session id (sent with every write).
    pub fn client_id(&self) -> ClientId {
        self.client_id
    }

    fn rotate(&mut self) {
        if !self.endpoints.is_empty() {
            let addr = self.endpoints[self.next % self.endpoints.len()].clone();
            self.next += 1;
            self.http.set_addr(addr);
        }
    }

    /// One API call without a session, with retries on connection errors,
    /// 503s and redirects. A `GET` is also retried when its outcome is
    /// unknown; another method is not (it could apply twice): use the
    /// write methods, which carry a session. Returns the final status and
    /// JSON body (2xx, 404, 409, 4xx, 504).
    pub fn call(
        &mut self,
        method: &str,
        path: &str,
        body: &[u8],
    ) -> Result<(u16, Value), ClientError> {
        self.send(method, path, None, body)
    }

    /// A write as the next request of this client's session: retried
    /// until answered (or `retry_for` passes), always with the same seq.
    fn write(&mut self, method: &str, path: &str, body: &[u8]) -> Result<Value, ClientError> {
        self.seq += 1;
        match self.send(method, path, Some(self.seq), body)? {
            (200, v) => Ok(v),
            (status, body) => Err(ClientError::Status { status, body }),
        }
    }

    fn send(
        &mut self,
        method: &str,
        path: &str,
        seq: Option<u64>,
        body: &[u8],
    ) -> Result<(u16, Value), ClientError> {
        let (client, seq) = (self.client_id.to_string(), seq.map(|s| s.to_string()));
        let headers: Vec<(&str, &str)> = match &seq {
            Some(seq) => vec![(CLIENT_ID_HEADER, &client), (SEQ_HEADER, seq)],
            None => Vec::new(),
        };
        // Safe to send again after an unknown outcome: a read, or a write
        // the cluster de-duplicates.
        let retry_unknown = method == "GET" || seq.is_some();
        let start = Instant::now();
        let mut last = String::new();
        let mut maybe_applied = false;
        // The endpoints that refused to connect, while nothing else came back.
        let mut refused = Some(std::collections::BTreeSet::new());
        while start.elapsed() < self.retry_for {
            match self.http.request_with(method, path, &headers, body) {
                Err(e) => {
                    last = e.to_string();
                    if e.kind() == std::io::ErrorKind::ConnectionRefused && !e.was_sent() {
                        if let Some(r) = refused.as_mut() {
                            r.insert(self.http.addr().to_string());
                            if start.elapsed() >= self.refused_for
                                && self.endpoints.iter().all(|e| r.contains(e))
                            {
                                return Err(ClientError::Refused(r.iter().cloned().collect()));
                            }
                        }
                    } else {
                        refused = None;
                    }
                    if e.was_sent() {
                        if !retry_unknown {
                            return Err(ClientError::OutcomeUnknown(start.elapsed(), last));
                        }
                        maybe_applied = true;
                    }
                    if !matches!(e, RequestError::OutcomeUnknown { .. } if e.is_timeout()) {
                        self.rotate();
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                Ok(resp) => {
                    refused = None;
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
                        504 if retry_unknown => {
                            last = format!("{}: {json}", self.http.addr());
                            maybe_applied = true;
                            // This node could not commit in time: it may be a
                            // leader cut off from its majority. Another node
                            // answers or redirects to the current leader.
                            self.rotate();
                        }
                        status => return Ok((status, json)),
                    }
                }
            }
        }
        if maybe_applied && method != "GET" {
            Err(ClientError::OutcomeUnknown(start.elapsed(), last))
        } else {
            Err(ClientError::Unavailable(start.elapsed(), last))
        }
    }

    pub fn put(&mut self, key: &str, value: &str) -> Result<Value, ClientError> {
        let body = serde_json::json!({ "value": value }).to_string();
        self.write(
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
        self.write("DELETE", &format!("/v1/kv/{}", percent_encode(key)), b"")
    }

    /// Compare-and-set: `Ok(true)` if it took effect.
    pub fn cas(
        &mut self,
        key: &str,
        expected: Option<&str>,
        value: Option<&str>,
    ) -> Result<(bool, Value), ClientError> {
        let body = serde_json::json!({ "expected": expected, "value": value }).to_string();
        match self.write(
            "POST",
            &format!("/v1/cas/{}", percent_encode(key)),
            body.as_bytes(),
        ) {
            Ok(v) => Ok((true, v)),
            Err(ClientError::Status { status: 409, body }) => Ok((false, body)),
            Err(e) => Err(e),
        }
    }

    /// `GET /v1/status` of one endpoint (no retries, no redirects).
    pub fn status_of(addr: &str, timeout: Duration) -> Result<super::Status, ClientError> {
        let mut http = HttpClient::new(addr, timeout);
        let resp = http
            .request("GET", "/v1/status", b"")
            .map_err(|e| ClientError::Unavailable(timeout, e.to_string()))?;
        serde_json::from_slice(&resp.body).map_err(|e| ClientError::Decode(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::test_http::{read_request, write_response};
    use std::io::BufReader;
    use std::net::TcpListener;

    /// A fake server that swallows the first request without answering
    /// (the client cannot know whether it was applied) and answers the
    /// rest; it reports each request's session headers.
    fn flaky_server(requests: usize) -> (String, std::thread::JoinHandle<Vec<(String, String)>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let handle = std::thread::spawn(move || {
            let mut seen = Vec::new();
            for (i, stream) in listener.incoming().take(requests).enumerate() {
                let stream = stream.unwrap();
                let req = read_request(&mut BufReader::new(stream.try_clone().unwrap())).unwrap();
                let header = |n: &str| req.header(n).unwrap_or("-").to_string();
                seen.push((header(CLIENT_ID_HEADER), header(SEQ_HEADER)));
                if i > 0 {
                    let mut w = stream;
                    write_response(&mut w, 200, br#"{"prev":null}"#, true).unwrap();
                }
            }
            seen
        });
        (addr, handle)
    }

    #[test]
    fn a_write_with_an_unknown_outcome_is_retried_with_the_same_session() {
        let (addr, server) = flaky_server(3);
        let mut client = KvClient::new(vec![addr]);
        client.put("k", "v").expect("answered on the retry");
        client.delete("k").expect("the next write");
        let seen = server.join().unwrap();
        let id = client.client_id().to_string();
        assert_eq!(
            seen,
            [
                (id.clone(), "1".to_string()),
                (id.clone(), "1".to_string()),
                (id, "2".to_string())
            ]
        );
    }

    #[test]
    fn endpoints_are_host_and_port() {
        for ok in [
            "127.0.0.1:8001",
            "localhost:1",
            "[::1]:8001",
            " node-3:65535 ",
        ] {
            assert_eq!(parse_endpoint(ok).as_deref(), Ok(ok.trim()));
        }
        for bad in [
            "",
            "nonsense",
            "127.0.0.1",
            "127.0.0.1:",
            ":8001",
            "h:0",
            "h:65536",
            "h:x",
            "::1:8001",
            "http://h:8001",
            "h/x:1",
        ] {
            let err = parse_endpoint(bad).expect_err(bad);
            assert!(err.contains(&format!("{:?}", bad.trim())), "{bad}: {err}");
        }
    }

    #[test]
    fn refused_connections_everywhere_fail_fast_naming_the_endpoints() {
        // Ports nobody listens on.
        let dead = crate::server::test_http::refused_addrs(2);
        let mut client = KvClient::new(dead.clone());
        // Were refusals retried like other errors, this would take a minute.
        client.retry_for = Duration::from_secs(60);
        let mut want = dead.clone();
        want.sort();
        match client.get("k", false) {
            Err(ClientError::Refused(tried)) => assert_eq!(tried, want),
            other => panic!("{other:?}"),
        }
        match client.put("k", "v") {
            Err(ClientError::Refused(tried)) => assert_eq!(tried, want),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn one_refusing_endpoint_does_not_stop_the_retries() {
        let dead = crate::server::test_http::refused_addrs(1).remove(0);
        let (live, server) = flaky_server(2);
        let mut client = KvClient::new(vec![dead, live]);
        client.refused_for = Duration::ZERO;
        // The dead endpoint refuses, the live one swallows the first write
        // (outcome unknown) and answers its retry.
        client.put("k", "v").expect("answered by the live endpoint");
        server.join().unwrap();
    }

    #[test]
    fn a_write_without_a_session_is_not_retried_after_an_unknown_outcome() {
        let (addr, server) = flaky_server(2);
        let mut client = KvClient::new(vec![addr.clone()]);
        let err = client.call("PUT", "/v1/kv/k", br#"{"value":"v"}"#);
        assert!(
            matches!(err, Err(ClientError::OutcomeUnknown(..))),
            "{err:?}"
        );
        // Unblock the server's second accept.
        let _ = HttpClient::new(addr, Duration::from_secs(1)).request("GET", "/", b"");
        let seen = server.join().unwrap();
        assert_eq!(seen[0], ("-".to_string(), "-".to_string()));
    }
}
