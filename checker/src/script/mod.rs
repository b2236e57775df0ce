//! Scripted tests in etcd-io/raft's datadriven style, run on the model AND
//! the implementation: one script language ([`driver`]), two backends
//! ([`spec_backend`]: `raft-spec`'s own actions and `next_state`;
//! [`impl_backend`]: raft-core nodes in memory), one transcript. Every
//! case's expected output is checked against both, and the two must agree.
//!
//! A file (`checker/tests/testdata/*.txt`, see [`file`]) is a sequence of
//! cases, each a command, `----`, and the output up to a blank line;
//! comment lines (`#`) between cases are kept. With `REWRITE=1` the test
//! writes the outputs into the files instead of comparing (review the
//! diff); a case whose two backends disagree fails either way. A file may
//! start with `# only: impl` or `# only: spec` (and the reason) when one
//! side has no notion of what it tests; keep such files rare.
//!
//! Commands (node ids are 1..=N):
//! - `start N [batch=K]`       nodes 1..=N, at most K entries per AppendEntries
//! - `campaign ID`             election timeout at ID
//! - `heartbeat ID`            heartbeat timeout at ID
//! - `propose ID VALUE`        client proposal at ID
//! - `deliver [FROM->TO]`      deliver the messages in flight now (matching), oldest first
//! - `deliver-newest FROM->TO` deliver only the newest matching message (reordering)
//! - `stabilize [ROUNDS]`      deliver rounds until nothing is in flight; fails after
//!   ROUNDS rounds (default 1000) with what is still in flight
//! - `keep-campaigning ID`     ID's election timer fires before every later round
//! - `drop FROM->TO`           drop in-flight messages (`*` matches any node)
//! - `isolate ID` / `heal`     cut ID off from everyone / reconnect everyone
//! - `crash ID` / `restart ID` lose volatile state / come back from durable state
//! - `status`                  every node's role, term, vote, commit, log, progress
//!
//! A command that fails prints `error: ...` as (the end of) its output.

pub mod driver;
pub mod file;
pub mod impl_backend;
pub mod spec_backend;
#[cfg(test)]
mod tests;

use std::path::Path;

use driver::{Backend, Driver};
use file::ScriptFile;
use impl_backend::ImplBackend;
use spec_backend::SpecBackend;

/// Why a script fails. (A command's own error, say a node id out of range,
/// is not one: it is printed in the transcript as `error: ...`, which the
/// expected output then holds.)
#[derive(Debug, thiserror::Error)]
pub enum ScriptError {
    #[error("{name}: {error}")]
    Parse {
        name: String,
        error: file::ParseError,
    },
    #[error("{name}: `# only: {side}`: expected `# only: spec` or `# only: impl`")]
    UnknownSide { name: String, side: String },
    #[error("{at}: the model and the implementation print different transcripts\n{diff}")]
    Disagree { at: String, diff: String },
    #[error("{at} has no `----` and expected output; run with REWRITE=1 to fill it in")]
    NoExpectedOutput { at: String },
    #[error("{at}: the output differs from the expected (REWRITE=1 rewrites it; review the diff)\n{diff}")]
    Differs { at: String, diff: String },
    #[error("{}: {error}", .path.display())]
    Io {
        path: std::path::PathBuf,
        error: std::io::Error,
    },
    #[error("{}: no *.txt scripts", .0.display())]
    NoScripts(std::path::PathBuf),
    /// Each failing file's first failure.
    #[error("{}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n\n"))]
    Files(Vec<ScriptError>),
}

/// Which backends a file runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sides {
    Both,
    SpecOnly,
    ImplOnly,
}

impl Sides {
    fn of(name: &str, file: &ScriptFile) -> Result<Sides, ScriptError> {
        match file.only() {
            None => Ok(Sides::Both),
            Some("spec") => Ok(Sides::SpecOnly),
            Some("impl") => Ok(Sides::ImplOnly),
            Some(other) => Err(ScriptError::UnknownSide {
                name: name.to_string(),
                side: other.to_string(),
            }),
        }
    }
}

/// A unified diff of two transcripts.
fn diff(old: &[String], new: &[String], old_name: &str, new_name: &str) -> String {
    let text = |lines: &[String]| -> String { lines.iter().map(|l| format!("{l}\n")).collect() };
    let (old, new) = (text(old), text(new));
    similar::TextDiff::from_lines(&old, &new)
        .unified_diff()
        .context_radius(3)
        .header(old_name, new_name)
        .to_string()
}

/// The outputs of a script's cases, or the first case that fails: its
/// backends disagree or it differs from its expected output (unless
/// `rewrite`). `name` labels the report (`path:line`).
pub fn run(name: &str, text: &str, rewrite: bool) -> Result<Vec<Vec<String>>, ScriptError> {
    run_on(
        name,
        text,
        rewrite,
        SpecBackend::default(),
        ImplBackend::default(),
    )
}

/// [`run`] over the given backends (tests plant faults in one).
fn run_on(
    name: &str,
    text: &str,
    rewrite: bool,
    spec: impl Backend,
    imp: impl Backend,
) -> Result<Vec<Vec<String>>, ScriptError> {
    let parse_error = |error| ScriptError::Parse {
        name: name.to_string(),
        error,
    };
    let file = ScriptFile::parse(text).map_err(parse_error)?;
    let sides = Sides::of(name, &file)?;
    let mut spec = Driver::new(spec);
    let mut imp = Driver::new(imp);
    let mut outputs = Vec::new();
    for case in file.cases() {
        let at = format!("{name}:{}: `{}`", case.line, case.command);
        let actual = match sides {
            Sides::Both => {
                let (s, i) = (spec.run(&case.command), imp.run(&case.command));
                if s != i {
                    return Err(ScriptError::Disagree {
                        at,
                        diff: diff(&s, &i, "model", "implementation"),
                    });
                }
                i
            }
            Sides::SpecOnly => spec.run(&case.command),
            Sides::ImplOnly => imp.run(&case.command),
        };
        if !rewrite {
            let Some(expected) = &case.expected else {
                return Err(ScriptError::NoExpectedOutput { at });
            };
            if *expected != actual {
                return Err(ScriptError::Differs {
                    at,
                    diff: diff(expected, &actual, "expected", "actual"),
                });
            }
        }
        outputs.push(actual);
    }
    Ok(outputs)
}

/// Runs one file; with `rewrite`, writes its outputs back into it.
pub fn run_file(path: &Path, rewrite: bool) -> Result<(), ScriptError> {
    let name = path.display().to_string();
    let io = |error| ScriptError::Io {
        path: path.to_path_buf(),
        error,
    };
    let text = std::fs::read_to_string(path).map_err(io)?;
    let outputs = run(&name, &text, rewrite)?;
    if rewrite {
        let file = ScriptFile::parse(&text).map_err(|error| ScriptError::Parse { name, error })?;
        let new = file.render(&outputs);
        if new != text {
            std::fs::write(path, new).map_err(io)?;
        }
    }
    Ok(())
}

/// Runs every `*.txt` in `dir` (sorted by name); `Err` reports each file's
/// first failure. Returns how many files ran.
pub fn walk(dir: &Path, rewrite: bool) -> Result<usize, ScriptError> {
    let entries = std::fs::read_dir(dir).map_err(|error| ScriptError::Io {
        path: dir.to_path_buf(),
        error,
    })?;
    let mut paths: Vec<_> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .collect();
    paths.sort();
    if paths.is_empty() {
        return Err(ScriptError::NoScripts(dir.to_path_buf()));
    }
    let failures: Vec<ScriptError> = paths
        .iter()
        .filter_map(|p| run_file(p, rewrite).err())
        .collect();
    if failures.is_empty() {
        Ok(paths.len())
    } else {
        Err(ScriptError::Files(failures))
    }
}
