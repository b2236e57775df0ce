//! The live progress line on stderr.

use std::io::{IsTerminal, Write};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::Progress;

/// Prints progress until the exploration is done. On a terminal the line is
/// redrawn in place twice a second; in a log (CI) a line is printed every
/// ten seconds.
pub fn report_until_done(progress: &Progress) {
    let tty = std::io::stderr().is_terminal();
    let every = if tty {
        Duration::from_millis(500)
    } else {
        Duration::from_secs(10)
    };
    let start = Instant::now();
    let mut last_print = Instant::now();
    while !progress.done.load(Ordering::Relaxed) {
        // Short naps: a run waits for this thread to see `done`, and the bug
        // catalogue's small searches take milliseconds.
        std::thread::sleep(Duration::from_millis(10));
        if last_print.elapsed() < every {
            continue;
        }
        last_print = Instant::now();
        let line = line(progress, start.elapsed());
        let mut err = std::io::stderr().lock();
        if tty {
            let _ = write!(err, "\r\x1b[2K{line}");
        } else {
            let _ = writeln!(err, "{line}");
        }
    }
    if tty {
        let _ = write!(std::io::stderr(), "\r\x1b[2K");
    }
}

fn line(p: &Progress, elapsed: Duration) -> String {
    let transitions = p.transitions.load(Ordering::Relaxed);
    let unique = p.unique.load(Ordering::Relaxed);
    let secs = elapsed.as_secs_f64().max(1e-9);
    format!(
        "[{:>6.1}s] states {transitions} | unique {unique} | depth {} | {:.0} unique/s",
        secs,
        p.depth.load(Ordering::Relaxed),
        unique as f64 / secs
    )
}

pub use crate::memory::peak_rss_bytes;
