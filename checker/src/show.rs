//! `raftcheck show`: a trace as readable steps, as a Mermaid sequence
//! diagram, or as the Markdown page saved next to each counterexample.

use raft_spec::server::Role;
use raft_spec::types::ServerId;

use crate::bounds::{self, reproduce_command};
use crate::check;
use crate::trace::{Outcome, ServerView, Step, TimeoutKind, Trace, TraceAction};

/// The trace replayed through its own model (its verdict recomputed) and
/// printed step by step.
pub fn text(trace: &Trace) -> crate::error::Result<String> {
    let (model, behaviour) = trace.replay()?;
    let title = match trace.outcome {
        _ if !trace.has_model_property(&model) => format!(
            "{} (a label, not a property of the model: no verdict)",
            trace.property
        ),
        Outcome::Violates => format!("{}: violated at the last step", trace.property),
        Outcome::Witnesses => format!("{}: first reached at the last step", trace.property),
    };
    let mut out = format!("bounds: {}\n", trace.config.summary());
    if let Some(bug) = trace.bug {
        out.push_str(&format!("bug: {bug}: {}\n", bug.info().description));
    }
    out.push('\n');
    out.push_str(&check::render_behaviour(&title, &behaviour));
    Ok(out)
}

/// A Mermaid `sequenceDiagram`: servers are participants, each message an
/// arrow at the step that sends it, every other event a note; the last step
/// (where the property is violated or reached) is highlighted.
pub fn mermaid(trace: &Trace) -> String {
    let n = trace.config.servers;
    let mut out = String::from("sequenceDiagram\n");
    for i in 0..n {
        out.push_str(&format!("    participant {}\n", ServerId(i)));
    }
    let mut before = &trace.initial;
    for (i, step) in trace.steps.iter().enumerate() {
        let last = i + 1 == trace.steps.len();
        let indent = if last { "        " } else { "    " };
        if last {
            out.push_str("    rect rgb(255, 221, 221)\n");
        }
        for line in step_lines(i + 1, step, before) {
            out.push_str(indent);
            out.push_str(&line);
            out.push('\n');
        }
        if last {
            let verb = match trace.outcome {
                Outcome::Violates => "violated",
                Outcome::Witnesses => "reached",
            };
            out.push_str(&format!(
                "{indent}Note over {},{}: {verb}: {}\n",
                ServerId(0),
                ServerId(n - 1),
                trace.property
            ));
            out.push_str("    end\n");
        }
        before = &step.servers;
    }
    out
}

/// The diagram lines of one step: a note for what happened, then its sends.
fn step_lines(number: usize, step: &Step, before: &[ServerView]) -> Vec<String> {
    let mut lines = Vec::new();
    let changes = |s: ServerId| {
        let i = s.0 as usize;
        match (before.get(i), step.servers.get(i)) {
            (Some(a), Some(b)) => change(a, b),
            _ => String::new(),
        }
    };
    let note = match step.action {
        TraceAction::Deliver { from, to, msg } => {
            format!(
                "Note over {to}: {number}. receives {msg} from {from}{}",
                changes(to)
            )
        }
        TraceAction::Drop { from, to, msg } => {
            format!("Note over {from},{to}: {number}. network drops {msg}")
        }
        TraceAction::Timeout { server, kind } => {
            let kind = match kind {
                TimeoutKind::Election => "election",
                TimeoutKind::Heartbeat => "heartbeat",
            };
            format!(
                "Note over {server}: {number}. {kind} timeout{}",
                changes(server)
            )
        }
        TraceAction::Propose { server, value } => format!(
            "Note over {server}: {number}. client proposes v{value}{}",
            changes(server)
        ),
        TraceAction::Crash { server } => format!("Note over {server}: {number}. crashes"),
        TraceAction::Recover { server } => format!(
            "Note over {server}: {number}. recovers from durable state{}",
            changes(server)
        ),
    };
    lines.push(note);
    for s in &step.sent {
        lines.push(format!("{}-){}: {}", s.from, s.to, s.msg));
    }
    lines
}

/// What changed in one server, as " → leader t1, log [1:noop]".
fn change(a: &ServerView, b: &ServerView) -> String {
    let mut parts = Vec::new();
    if a.role != b.role || a.term != b.term {
        let role = match b.role {
            Role::Follower => "follower",
            Role::Candidate => "candidate",
            Role::Leader => "leader",
        };
        parts.push(format!("{role} t{}", b.term));
    }
    if a.voted_for != b.voted_for {
        parts.push(match b.voted_for {
            Some(v) => format!("votes {v}"),
            None => "vote cleared".to_string(),
        });
    }
    if a.log != b.log {
        let entries: Vec<String> = b.entries().iter().map(|e| e.to_string()).collect();
        parts.push(format!("log [{}]", entries.join(" ")));
    }
    if a.commit_index != b.commit_index {
        parts.push(format!("commit {}", b.commit_index));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!(" → {}", parts.join(", "))
    }
}

/// The Markdown page for a catalogue trace: the wrong rule explained, the
/// diagram, and the commands that reproduce it.
pub fn markdown(trace: &Trace) -> crate::error::Result<String> {
    let bug = trace.bug.ok_or(crate::error::Error::NotACatalogueTrace)?;
    let info = bug.info();
    let mut bug_cfg = trace.config.clone();
    bug_cfg.bug = Some(bug);
    let mut out = format!("# {}\n\n", info.name);
    out.push_str(&format!("**Wrong rule:** {}.\n\n", info.description));
    out.push_str(&format!(
        "**Correct rule (Figure 2):** {}.\n\n",
        info.correct_rule
    ));
    match trace.outcome {
        Outcome::Violates => {
            out.push_str(&format!("**Property broken:** {}.\n\n", info.violates));
            out.push_str(&format!("**Why:** {}.\n\n", info.why));
            out.push_str(&format!(
                "The diagram is a shortest counterexample ({} steps) under the bounds `{}`: \
                 the last step (highlighted) breaks {}.\n\n",
                trace.steps.len(),
                trace.config.summary(),
                info.violates
            ));
        }
        Outcome::Witnesses => {
            out.push_str(&format!(
                "**Property never reached with the bug:** {} (a liveness bug).\n\n",
                info.violates
            ));
            out.push_str(&format!("**Why:** {}.\n\n", info.why));
            out.push_str(&format!(
                "With the bug on, `raftcheck` explores every state within the bounds `{}` and \
                 never reaches \"{}\". The diagram is the shortest behaviour of *correct* Raft \
                 ({} steps) that reaches it; the buggy protocol cannot take its last step.\n\n",
                bug_cfg.summary(),
                info.violates,
                trace.steps.len()
            ));
        }
    }
    out.push_str("```mermaid\n");
    out.push_str(&mermaid(trace));
    out.push_str("```\n\n");
    out.push_str("## Reproduce\n\n```sh\n");
    out.push_str(&format!(
        "raftcheck bugs --only {bug}\n{}\nraftcheck show counterexamples/{bug}.json\n\
         raftcheck show --mermaid counterexamples/{bug}.json\n\
         raftcheck explore counterexamples/{bug}.json\n",
        reproduce_command(&bug_cfg, trace.outcome)
    ));
    out.push_str("```\n");
    // Keep the flags helper's output and the trace's config in step.
    debug_assert!(bounds::flags_for(&bug_cfg).contains("--servers"));
    Ok(out)
}
