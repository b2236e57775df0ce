//! `raftcheck explore`: a web page for walking the model, opened at a saved
//! trace.
//!
//! The page is this crate's own (served with tiny_http), not stateright's
//! explorer: stateright's page reports only what its on-page checker has
//! found, so at a saved counterexample's violating state it read "Safety
//! holds", and its "Run to completion" showed another, longer
//! counterexample. Here every state on the path shows every property's
//! verdict *in that state* (evaluated by the model, not looked up), the
//! violating state is marked with the property it violates, and the
//! discovery shown is the saved trace, replayed and re-checked.
//!
//! URLs: `/steps/<path>` (a path of action indices, the trace's
//! `explorer_path`), `?at=K` to select the state after step K, and
//! `/.json/steps/<path>` for the same as JSON.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

use tiny_http::{Header, Response, StatusCode};

use raft_spec::{Config, RaftModel};

use crate::error::{Error, Result};
use crate::trace::{explorer_behaviour, follow_explorer_path, Trace};

mod page;

/// What `raftcheck explore` opens.
#[derive(Debug, Clone)]
pub enum Open {
    /// A saved trace: its path, with every property's verdict at every
    /// state, the state where its property fails marked.
    Trace(PathBuf),
    /// The model of these bounds, walked from its initial state.
    Model(Config),
}

/// `raftcheck explore`'s options.
#[derive(Debug, Clone)]
pub struct ExploreOptions {
    pub open: Open,
    /// Address to serve on (port 0: any free port).
    pub addr: SocketAddr,
}

impl Default for ExploreOptions {
    /// The `ci` profile's model on 127.0.0.1:3000.
    fn default() -> Self {
        ExploreOptions {
            open: Open::Model(raft_spec::Profile::Ci.config()),
            addr: SocketAddr::from(([127, 0, 0, 1], 3000)),
        }
    }
}

/// What to serve and which path to open first.
pub struct Target {
    pub config: Config,
    /// The saved trace and the file it came from.
    pub trace: Option<(PathBuf, Trace)>,
    /// The action-index path opened first, e.g. `0/3/1`.
    pub path: String,
}

/// Loads the trace, replays it (recomputing its verdict) and checks its
/// explorer path still leads to its last state in this build's model; or
/// takes the bounds.
pub fn target(opts: &ExploreOptions) -> Result<Target> {
    let file = match &opts.open {
        Open::Trace(file) => file,
        Open::Model(config) => {
            return Ok(Target {
                config: config.clone(),
                trace: None,
                path: "0".to_string(),
            })
        }
    };
    let trace = Trace::load(file)?;
    let (model, behaviour) = trace.replay().map_err(|error| Error::Replay {
        file: Some(file.clone()),
        error,
    })?;
    let last = behaviour.1.last().map_or(&behaviour.0, |(_, s)| s);
    if follow_explorer_path(&model, &trace.explorer_path).as_ref() != Some(last) {
        return Err(Error::StaleExplorerPath { file: file.clone() });
    }
    Ok(Target {
        config: trace.config.clone(),
        path: trace.explorer_path.clone(),
        trace: Some((file.clone(), trace)),
    })
}

/// A bound explorer, ready to serve.
pub struct Explorer {
    server: tiny_http::Server,
    model: RaftModel,
    target: Target,
    addr: SocketAddr,
}

impl Explorer {
    /// Listens on `addr`; a taken address is an error naming it.
    pub fn bind(target: Target, addr: SocketAddr) -> Result<Explorer> {
        let model = RaftModel::new(target.config.clone())?;
        let server = tiny_http::Server::http(addr).map_err(|e| Error::Listen {
            addr,
            error: e.to_string(),
        })?;
        let addr = server.server_addr().to_ip().unwrap_or(addr);
        Ok(Explorer {
            server,
            model,
            target,
            addr,
        })
    }

    /// The URL of the first page: the trace's last state.
    pub fn url(&self) -> String {
        format!("http://{}/steps/{}", self.addr, self.target.path)
    }

    /// Serves requests until the process ends.
    pub fn run(self) -> Result<()> {
        loop {
            let rq = self.server.recv().map_err(Error::Serve)?;
            let response = self.respond(rq.url());
            if let Err(e) = rq.respond(response) {
                tracing::debug!("explorer: cannot answer a request: {e}");
            }
        }
    }

    fn respond(&self, url: &str) -> Response<std::io::Cursor<Vec<u8>>> {
        let (route, query) = url.split_once('?').unwrap_or((url, ""));
        let at = query
            .split('&')
            .find_map(|kv| kv.strip_prefix("at="))
            .map(|k| k.parse::<usize>());
        let trace = self.target.trace.as_ref();
        if route == "/" {
            return Response::from_string("")
                .with_status_code(StatusCode(302))
                .with_header(header("Location", &format!("/steps/{}", self.target.path)));
        }
        let (json, path) = match route.strip_prefix("/.json/steps/") {
            Some(p) => (true, p),
            None => match route.strip_prefix("/steps/") {
                Some(p) => (false, p),
                None => return not_found(format!("no page {route}: try /steps/0")),
            },
        };
        let path = path.trim_end_matches('/');
        let behaviour = match explorer_behaviour(&self.model, path) {
            Ok(b) => b,
            Err(e) => return not_found(format!("no state at path {path:?}: {e}")),
        };
        let selected = match at {
            None => behaviour.1.len(),
            Some(Ok(k)) if k <= behaviour.1.len() => k,
            Some(_) => {
                return not_found(format!(
                    "?at= must be a step number from 0 to {}",
                    behaviour.1.len()
                ))
            }
        };
        let view = page::View::new(&self.model, trace, path, &behaviour, selected);
        if json {
            Response::from_string(view.json())
                .with_header(header("Content-Type", "application/json"))
        } else {
            Response::from_string(view.html())
                .with_header(header("Content-Type", "text/html; charset=utf-8"))
        }
    }
}

fn header(name: &str, value: &str) -> Header {
    Header::from_bytes(name.as_bytes(), value.as_bytes()).expect("ASCII header")
}

fn not_found(message: String) -> Response<std::io::Cursor<Vec<u8>>> {
    Response::from_string(message).with_status_code(StatusCode(404))
}

/// `raftcheck explore`.
pub fn run(opts: &ExploreOptions) -> Result<()> {
    let target = target(opts)?;
    let summary = target.config.summary();
    let explorer = Explorer::bind(target, opts.addr)?;
    // One write, and not fatal: a reader of the URL may close the pipe.
    let _ = writeln!(
        std::io::stdout(),
        "explorer: {}  ({summary})\npress Ctrl-C to stop",
        explorer.url()
    );
    explorer.run()
}
