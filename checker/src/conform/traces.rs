//! `raftcheck conform --traces DIR`: every trace file of a directory replayed
//! against the implementation, bad files reported beside divergences.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde::Serialize;

use raftcheck_adapter::Implementation;

use super::replay::{self, ReplayReport};
use crate::trace::Trace;

/// A file of `conform --traces DIR` that could not be replayed.
#[derive(Clone, Debug, Serialize)]
pub struct BadFile {
    pub file: PathBuf,
    pub error: String,
}

/// `conform --traces DIR`: every file's outcome, in name order.
#[derive(Clone, Debug, Serialize)]
pub struct TracesReport {
    pub dir: PathBuf,
    /// Every `*.json` file in the directory.
    pub files: usize,
    pub replayed: Vec<ReplayReport>,
    pub bad_files: Vec<BadFile>,
    pub divergences: usize,
}

impl TracesReport {
    /// The last line: N traces, K bad files, D divergences.
    pub fn summary(&self) -> String {
        let plural =
            |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        let ok = self.bad_files.is_empty() && self.divergences == 0;
        format!(
            "{}, {}, {}: {}",
            plural(self.files, "trace", "traces"),
            plural(self.bad_files.len(), "bad file", "bad files"),
            plural(self.divergences, "divergence", "divergences"),
            if ok { "OK" } else { "FAILED" }
        )
    }

    /// 1 if a trace diverged; otherwise 2 if a file was bad; 0 if neither.
    pub fn exit_code(&self) -> ExitCode {
        if self.divergences > 0 {
            ExitCode::FAILURE
        } else if !self.bad_files.is_empty() {
            ExitCode::from(2)
        } else {
            ExitCode::SUCCESS
        }
    }

    /// Each file's outcome in name order, then the summary.
    pub fn render_text(&self) -> String {
        let mut files: Vec<(Option<&Path>, String)> = self
            .replayed
            .iter()
            .map(|r| (r.file.as_deref(), replay::render_text(r)))
            .chain(
                self.bad_files
                    .iter()
                    .map(|b| (Some(b.file.as_path()), format!("bad file: {}\n", b.error))),
            )
            .collect();
        files.sort_by(|a, b| a.0.cmp(&b.0));
        let mut out: String = files.into_iter().map(|(_, text)| text).collect();
        out.push_str(&format!("\n{}\n", self.summary()));
        out
    }
}

/// Replays every `*.json` in `dir`, in name order. A bad file is recorded
/// and the rest still checked; only an unreadable or empty directory is an
/// error.
pub fn check_traces_dir<I: Implementation>(
    imp: &I,
    dir: &Path,
    loosen: &super::Loosen,
) -> crate::error::Result<TracesReport> {
    let files = crate::files::json_files(dir)?;
    if files.is_empty() {
        return Err(crate::error::Error::NoTraceFiles(dir.to_path_buf()));
    }
    let mut report = TracesReport {
        dir: dir.to_path_buf(),
        files: files.len(),
        replayed: Vec::with_capacity(files.len()),
        bad_files: Vec::new(),
        divergences: 0,
    };
    for file in files {
        let replayed = Trace::load(&file)
            .map_err(crate::error::Error::from)
            .and_then(|trace| replay::replay_trace(imp, &trace, Some(&file), loosen));
        match replayed {
            Ok(r) => {
                report.divergences += usize::from(!r.ok());
                report.replayed.push(r);
            }
            Err(e) => report.bad_files.push(BadFile {
                file,
                error: format!("{e:#}"),
            }),
        }
    }
    Ok(report)
}
