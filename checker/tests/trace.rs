//! The trace format: round trip, re-validation by replay, explorer paths, and
//! clear errors (never panics) on malformed, truncated or foreign files.

use std::path::Path;

use raft_spec::{properties as prop, Bug, RaftModel};
use raftcheck::behaviour::Behaviour;
use raftcheck::check::{self, CheckOptions};
use raftcheck::trace::{
    first_discovery, follow_explorer_path, Outcome, ReplayError, Trace, TraceAction, TraceError,
};
use raftcheck_engine::StopWhen;

/// The shortest double-vote counterexample (a few thousand states: fast even
/// in the test profile).
fn double_vote() -> (raft_spec::Config, Behaviour) {
    let cfg = Bug::DoubleVote.config();
    let run = check::run(
        &cfg,
        &CheckOptions {
            threads: 2,
            stop_when: StopWhen::Discovered(prop::ELECTION_SAFETY),
            ..CheckOptions::default()
        },
    )
    .unwrap();
    let b = run.behaviours[prop::ELECTION_SAFETY].clone();
    (cfg, b)
}

fn trace() -> Trace {
    let (cfg, b) = double_vote();
    Trace::from_behaviour(
        &cfg,
        Some(Bug::DoubleVote),
        prop::ELECTION_SAFETY,
        Outcome::Violates,
        &b,
    )
    .unwrap()
}

#[test]
fn a_trace_round_trips_and_replays_to_the_same_behaviour() {
    let (cfg, b) = double_vote();
    let t = Trace::from_behaviour(
        &cfg,
        Some(Bug::DoubleVote),
        prop::ELECTION_SAFETY,
        Outcome::Violates,
        &b,
    )
    .unwrap();
    let json = t.to_json();
    assert!(json.starts_with("{\n  \"version\": 1,\n"), "{json}");
    let back = Trace::parse(&json, Path::new("mem.json")).unwrap();
    assert_eq!(back, t);
    let model = RaftModel::new(cfg).unwrap();
    let replayed = back.to_behaviour(&model).unwrap();
    assert_eq!(replayed, b);
    assert_eq!(
        first_discovery(&model, prop::ELECTION_SAFETY, &replayed).unwrap(),
        Some(b.1.len())
    );
}

#[test]
fn the_explorer_path_leads_to_the_last_state() {
    let (cfg, b) = double_vote();
    let t = Trace::from_behaviour(
        &cfg,
        Some(Bug::DoubleVote),
        prop::ELECTION_SAFETY,
        Outcome::Violates,
        &b,
    )
    .unwrap();
    let model = RaftModel::new(cfg).unwrap();
    assert_eq!(t.explorer_path.split('/').count(), b.1.len() + 1);
    let shown = follow_explorer_path(&model, &t.explorer_path).unwrap();
    assert_eq!(&shown, &b.1.last().unwrap().1);
    assert!(t
        .explorer_url("127.0.0.1:3000")
        .starts_with("http://127.0.0.1:3000/steps/0/"));
}

#[test]
fn a_tampered_state_or_send_is_caught_on_replay() {
    let t = trace();
    let model = RaftModel::new(t.config.clone()).unwrap();

    let mut wrong_term = t.clone();
    wrong_term.steps[0].servers[0].term += 1;
    let err = wrong_term.to_behaviour(&model).unwrap_err();
    assert!(matches!(err, ReplayError::State { step: 1, .. }), "{err}");

    let mut wrong_send = t.clone();
    let i = wrong_send
        .steps
        .iter()
        .position(|s| !s.sent.is_empty())
        .unwrap();
    wrong_send.steps[i].sent.pop();
    let err = wrong_send.to_behaviour(&model).unwrap_err();
    assert!(matches!(err, ReplayError::Sent { .. }), "{err}");

    let mut disabled = t.clone();
    disabled.steps.insert(
        0,
        disabled.steps[0].clone_with(TraceAction::Recover {
            server: raft_spec::types::ServerId(1),
        }),
    );
    let err = disabled.to_behaviour(&model).unwrap_err();
    assert_eq!(
        err.to_string(),
        "step 1 (s1 recovers) is not enabled in the model at that point"
    );
}

trait CloneWith {
    fn clone_with(&self, action: TraceAction) -> Self;
}
impl CloneWith for raftcheck::trace::Step {
    fn clone_with(&self, action: TraceAction) -> Self {
        raftcheck::trace::Step {
            action,
            ..self.clone()
        }
    }
}

fn parse_err(text: &str) -> String {
    Trace::parse(text, Path::new("counterexamples/x.json"))
        .unwrap_err()
        .to_string()
}

#[test]
fn a_wrong_version_is_refused_by_number() {
    let json = trace()
        .to_json()
        .replacen("\"version\": 1", "\"version\": 7", 1);
    assert_eq!(
        parse_err(&json),
        "trace counterexamples/x.json: trace version 7 is not supported; this raftcheck reads version 1"
    );
}

#[test]
fn a_missing_version_is_refused() {
    assert_eq!(
        parse_err("{\"steps\": []}"),
        "trace counterexamples/x.json has no \"version\" field: is it a raftcheck trace?"
    );
}

#[test]
fn a_truncated_trace_names_line_and_column() {
    let json = trace().to_json();
    let cut = &json[..json.len() / 2];
    let err = parse_err(cut);
    assert!(
        err.starts_with("trace counterexamples/x.json is not valid JSON at line "),
        "{err}"
    );
    assert!(err.contains("EOF while parsing"), "{err}");
    assert!(
        err.ends_with("(the file looks truncated: regenerate it with `raftcheck bugs --write`)")
    );
}

#[test]
fn malformed_json_names_line_and_column() {
    let err = parse_err("{\n  \"version\": 1,\n  oops\n}");
    assert_eq!(
        err,
        "trace counterexamples/x.json is not valid JSON at line 3, column 3: key must be a string at line 3 column 3"
    );
}

#[test]
fn a_trace_with_a_wrong_field_names_it() {
    let json = trace()
        .to_json()
        .replacen("\"type\": \"deliver\"", "\"type\": \"teleport\"", 1);
    let err = parse_err(&json);
    assert!(
        err.starts_with("trace counterexamples/x.json does not match the trace format at line "),
        "{err}"
    );
    assert!(err.contains("unknown variant `teleport`"), "{err}");
}

#[test]
fn a_trace_with_impossible_bounds_or_shape_is_refused() {
    let t = trace();
    let mut bad = t.clone();
    bad.config.servers = 9;
    assert_eq!(
        parse_err(&bad.to_json()),
        "trace counterexamples/x.json has impossible bounds: servers must be between 1 and 5, got 9"
    );
    let mut bad = t.clone();
    bad.steps[2].servers.pop();
    assert_eq!(
        parse_err(&bad.to_json()),
        "trace counterexamples/x.json is inconsistent: step 3 lists 2 servers but the config has 3"
    );
    let mut bad = t;
    bad.steps[0].action = TraceAction::Crash {
        server: raft_spec::types::ServerId(4),
    };
    assert_eq!(
        parse_err(&bad.to_json()),
        "trace counterexamples/x.json is inconsistent: step 1: names a server outside the cluster"
    );
}

#[test]
fn a_missing_file_is_an_io_error_naming_it() {
    let err = Trace::load("no/such/trace.json").unwrap_err();
    assert!(matches!(err, TraceError::Io { .. }));
    assert!(err
        .to_string()
        .starts_with("cannot read trace no/such/trace.json: "));
}

#[test]
fn arbitrary_bytes_never_panic() {
    let json = trace().to_json();
    // Every prefix and a sprinkling of corruptions: errors, never panics.
    for cut in (0..json.len()).step_by(97) {
        let _ = Trace::parse(&json[..cut], Path::new("x"));
    }
    for (i, c) in json.char_indices().step_by(131) {
        let mut s = json.clone();
        s.replace_range(i..i + c.len_utf8(), "9");
        if let Ok(t) = Trace::parse(&s, Path::new("x")) {
            if let Ok(model) = RaftModel::new(t.config.clone()) {
                let _ = t.to_behaviour(&model);
            }
        }
    }
}

/// The shipped double-vote counterexample, edited by `edit`, loaded back.
fn edited(edit: impl FnOnce(&mut Trace)) -> Trace {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../counterexamples/double-vote.json");
    let mut t = Trace::load(file).unwrap();
    edit(&mut t);
    Trace::parse(&t.to_json(), Path::new("edited.json")).unwrap()
}

#[test]
fn a_stored_verdict_is_recomputed_and_a_wrong_one_names_both() {
    assert!(edited(|_| {}).replay().is_ok());
    // The last step removed: every state is still the model's, but election
    // safety now holds throughout.
    let err = edited(|t| drop(t.steps.pop())).replay().err().unwrap();
    assert!(matches!(err, ReplayError::Verdict { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        "its stored verdict is wrong: the file says \"election safety\" is violated at its last \
         step (step 8) and not before, but replayed in the model \"election safety\" holds in \
         every state of the trace"
    );
    let err = edited(|t| t.steps.clear()).replay().err().unwrap();
    assert!(err.to_string().contains("holds in every state"), "{err}");
    // A "sometimes" property claimed as violated, and a witness claimed at
    // the wrong step.
    let err = edited(|t| t.property = prop::LEADER_ELECTED.into())
        .replay()
        .err()
        .unwrap();
    assert!(
        err.to_string()
            .contains("is an \"sometimes\" property, which a trace cannot have violated"),
        "{err}"
    );
    let err = edited(|t| {
        t.property = prop::LEADER_ELECTED.into();
        t.outcome = Outcome::Witnesses;
    })
    .replay()
    .err()
    .unwrap();
    assert!(
        err.to_string()
            .ends_with("\"a leader is elected\" first holds at step 4"),
        "{err}"
    );
}

#[test]
fn show_refuses_a_trace_whose_last_step_was_removed() {
    let dir = std::env::temp_dir().join(format!("raftcheck-show-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("short.json");
    std::fs::write(&file, edited(|t| drop(t.steps.pop())).to_json()).unwrap();
    for flag in [None, Some("--markdown"), Some("--mermaid")] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_raftcheck"))
            .arg("show")
            .args(flag)
            .arg(&file)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{flag:?}: {stdout}");
        assert!(!stdout.contains("breaks election safety"), "{stdout}");
        assert!(stderr.contains("stored verdict is wrong"), "{stderr}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_oversized_trace_is_refused_before_it_is_read() {
    use raftcheck::trace::MAX_TRACE_BYTES;
    let dir = std::env::temp_dir().join(format!("raftcheck-big-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("big.json");
    // A (sparse) file one byte over the cap: refused for its size, unread.
    let f = std::fs::File::create(&file).unwrap();
    f.set_len(MAX_TRACE_BYTES + 1).unwrap();
    let err = Trace::load(&file).unwrap_err();
    assert!(matches!(err, TraceError::TooLarge { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        format!(
            "trace {} is {} bytes, over the {MAX_TRACE_BYTES}-byte (16 MiB) limit for trace files",
            file.display(),
            MAX_TRACE_BYTES + 1
        )
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
