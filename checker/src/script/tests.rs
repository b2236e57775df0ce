use raft_core::{Message, NodeId};

use super::driver::{Backend, Driver, Effects, Proposal, Status};
use super::*;

const ELECTION: &str = include_str!("../../tests/testdata/election.txt");

/// The implementation with a planted fault: a leader's heartbeat timer
/// does nothing.
#[derive(Default)]
struct NoHeartbeats(ImplBackend);

impl Backend for NoHeartbeats {
    type Msg = Message;
    fn start(&mut self, servers: usize, batch: Option<usize>) -> Result<(), String> {
        self.0.start(servers, batch)
    }
    fn election_timeout(&mut self, n: NodeId) -> Result<Effects<Message>, String> {
        self.0.election_timeout(n)
    }
    fn heartbeat_timeout(&mut self, _: NodeId) -> Result<Effects<Message>, String> {
        Ok(Effects::default())
    }
    fn propose(&mut self, n: NodeId, value: &str) -> Result<Proposal<Message>, String> {
        self.0.propose(n, value)
    }
    fn deliver(&mut self, msg: Message) -> Result<Effects<Message>, String> {
        self.0.deliver(msg)
    }
    fn lose(&mut self, msg: Message) -> Result<(), String> {
        self.0.lose(msg)
    }
    fn crash(&mut self, n: NodeId) -> Result<(), String> {
        self.0.crash(n)
    }
    fn restart(&mut self, n: NodeId) -> Result<(), String> {
        self.0.restart(n)
    }
    fn is_crashed(&self, n: NodeId) -> bool {
        self.0.is_crashed(n)
    }
    fn status(&self, n: NodeId) -> Result<Status, String> {
        self.0.status(n)
    }
    fn endpoints(&self, msg: &Message) -> (NodeId, NodeId) {
        self.0.endpoints(msg)
    }
    fn show(&self, msg: &Message) -> String {
        self.0.show(msg)
    }
}

/// Each case is checked on both backends: where they differ the test
/// fails at that case, with both transcripts, even when rewriting.
#[test]
fn backends_that_disagree_fail_at_the_case_even_on_rewrite() {
    for rewrite in [false, true] {
        let err = run_on(
            "election.txt",
            ELECTION,
            rewrite,
            SpecBackend::default(),
            NoHeartbeats::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with(
                "election.txt:70: `heartbeat 1`: the model and the implementation print different transcripts\n"
            ),
            "{err}"
        );
        assert!(
            err.contains("\n-  1 send 1->2 AppendEntries term=1 prev=1@1 commit=1 entries=[]\n"),
            "{err}"
        );
    }
    run("election.txt", ELECTION, false).unwrap();
}

#[test]
fn a_wrong_expectation_fails_with_a_diff_naming_the_line() {
    let wrong = ELECTION.replacen("  1 persist term=1 vote=1", "  1 persist term=2 vote=1", 1);
    let err = run("election.txt", &wrong, false).unwrap_err().to_string();
    assert!(
        err.starts_with("election.txt:6: `campaign 1`: the output differs from the expected"),
        "{err}"
    );
    assert!(
        err.contains("\n-  1 persist term=2 vote=1\n+  1 persist term=1 vote=1\n"),
        "{err}"
    );
    // Rewriting takes the actual output.
    let outputs = run("election.txt", &wrong, true).unwrap();
    let fixed = ScriptFile::parse(&wrong).unwrap().render(&outputs);
    assert_eq!(fixed, ELECTION);
}

/// A new command (no `----` yet) fails until a rewrite fills in its
/// output; comments are kept.
#[test]
fn rewrite_fills_in_new_cases_and_keeps_comments() {
    let dir = std::env::temp_dir().join(format!("raftcheck-script-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("one.txt");
    std::fs::write(&path, "# One node.\nstart 1\ncampaign 1\n").unwrap();
    let err = walk(&dir, false).unwrap_err().to_string();
    assert!(
        err.ends_with("one.txt:2: `start 1` has no `----` and expected output; run with REWRITE=1 to fill it in"),
        "{err}"
    );
    assert_eq!(walk(&dir, true).unwrap(), 1);
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        text,
        "# One node.\nstart 1\n----\n\ncampaign 1\n----\n  1 persist term=1 vote=1\n  1 persist append [1@1 noop]\n  1 apply 1@1 noop\n"
    );
    assert_eq!(walk(&dir, false).unwrap(), 1);
    std::fs::remove_dir_all(&dir).unwrap();
}

fn last(driver: &mut Driver<impl Backend>, commands: &[&str]) -> String {
    let mut out = Vec::new();
    for c in commands {
        out = driver.run(c);
    }
    out.last().cloned().unwrap_or_default()
}

/// The model's bounds are as large as its config allows; a script past
/// them gets an error naming the bound, never a silently skipped step.
#[test]
fn the_model_reports_the_bounds_it_cannot_go_past() {
    let mut spec = Driver::new(SpecBackend::default());
    let mut campaigns = vec!["start 3"];
    campaigns.extend(["campaign 1"; 8]);
    assert_eq!(
        last(&mut spec, &campaigns),
        "error: an election at node 1 needs term 8, past the model's max term 7"
    );
    // The implementation goes on: such a script fails as a divergence.
    let mut imp = Driver::new(ImplBackend::default());
    assert_eq!(
        last(&mut imp, &campaigns),
        "  1 send 1->3 RequestVote term=8 last=0@0"
    );

    let mut spec = Driver::new(SpecBackend::default());
    let proposals = [
        "start 1",
        "campaign 1",
        "propose 1 a",
        "propose 1 b",
        "propose 1 c",
        "propose 1 d",
        "propose 1 e",
    ];
    assert_eq!(last(&mut spec, &proposals), "  1 apply 6@1 \"e\"");
    assert_eq!(
        spec.run("propose 1 f"),
        ["error: node 1's log holds 6 entries, the model's max log length"]
    );

    let mut spec = Driver::new(SpecBackend::default());
    assert_eq!(
        spec.run("start 6"),
        ["error: the model has at most 5 servers, not 6"]
    );
    assert_eq!(
        spec.run("start 3 batch=256"),
        ["error: the model's AppendEntries carries at most 255 entries, not 256"]
    );

    let mut spec = Driver::new(SpecBackend::default());
    assert_eq!(
        last(&mut spec, &["start 1", "crash 1", "restart 1", "crash 1"]),
        "error: the model allows 1 crashes in a run, and they are spent"
    );
}

/// A node whose election timer fires before every round keeps the cluster
/// from settling: `stabilize` fails after its bound with what is in flight,
/// rather than delivering until the machine runs out of memory.
#[test]
fn stabilize_that_cannot_settle_fails_with_a_message() {
    let mut imp = Driver::new(ImplBackend::default());
    let err = last(&mut imp, &["start 3", "keep-campaigning 3", "stabilize 50"]);
    assert!(
        err.starts_with("error: stabilize did not settle in 50 rounds: "),
        "{err}"
    );
    // Node 3 campaigned every round, 50 elections, and never counted the
    // votes of the last one.
    let left = "2 messages still in flight (oldest: 1->3 RequestVoteResponse term=50 granted";
    assert!(err.contains(left), "{err}");
    // The default bound applies without a count too.
    let mut imp = Driver::new(ImplBackend::default());
    let err = last(&mut imp, &["start 3", "keep-campaigning 3", "stabilize"]);
    assert!(err.contains("did not settle in 1000 rounds"), "{err}");
    // The model runs out of terms first.
    let mut spec = Driver::new(SpecBackend::default());
    let err = last(
        &mut spec,
        &["start 3", "keep-campaigning 3", "stabilize 50"],
    );
    assert_eq!(
        err,
        "error: an election at node 3 needs term 8, past the model's max term 7"
    );
}

/// Bad input is an error in the transcript, the same on both sides.
#[test]
fn bad_input_is_an_error_on_both_sides() {
    let script = "status\nstart 3\nstart 3\npropose 9 x\ndeliver 1-2\ndrop 1->7\nfrobnicate\ncampaign\ncampaign 1 2\nrestart 1\ncrash 1\ncrash 1\nstart 3 batch=0\n";
    let outputs = run("bad.txt", script, true).unwrap();
    let errors: Vec<&str> = outputs
        .iter()
        .map(|o| o.last().map_or("", String::as_str))
        .collect();
    assert_eq!(
        errors,
        [
            "error: no cluster yet: `start N` first",
            "",
            "error: the cluster is already started",
            "error: no node 9: the cluster has nodes 1..=3",
            "error: \"1-2\" is not FROM->TO",
            "error: no node 7: the cluster has nodes 1..=3",
            "error: unknown command \"frobnicate\"",
            "error: missing a node id",
            "error: unexpected argument \"2\" to campaign",
            "error: node 1 is running: `crash 1` first",
            "",
            "error: node 1 is already crashed",
            "error: the cluster is already started",
        ]
    );
}

/// `# only: impl` runs a file on the implementation alone (here past the
/// model's max term); without it the same file fails as a divergence.
#[test]
fn a_file_may_run_on_one_side_only() {
    let mut script = String::from("start 3\n");
    for _ in 0..8 {
        script.push_str("campaign 1\n");
    }
    let err = run("terms.txt", &script, true).unwrap_err().to_string();
    assert!(
        err.starts_with("terms.txt:9: `campaign 1`: the model and the implementation print different transcripts"),
        "{err}"
    );
    let only = format!("# only: impl (terms past the model's bound)\n{script}");
    let outputs = run("terms.txt", &only, true).unwrap();
    assert_eq!(outputs[8][0], "  1 persist term=8 vote=1");
    let err = run("terms.txt", "# only: both\nstart 1\n", true)
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "terms.txt: `# only: both`: expected `# only: spec` or `# only: impl`"
    );
}

/// A new leader's no-op past the log's capacity: the model asserts it;
/// the script reports it as an error rather than a panic.
#[test]
fn a_log_past_the_models_capacity_is_an_error() {
    let mut spec = Driver::new(SpecBackend::default());
    let mut commands = vec!["start 3", "campaign 1", "stabilize"];
    commands.extend(["propose 1 a", "propose 1 b", "propose 1 c", "propose 1 d"]);
    commands.extend(["propose 1 e", "stabilize", "campaign 2", "stabilize"]);
    commands.extend(["campaign 3", "deliver"]);
    let out = {
        for c in &commands {
            spec.run(c);
        }
        spec.run("deliver 1->3")
    };
    assert_eq!(
        out.last().unwrap(),
        "error: the model cannot take `s0 → s2 RequestVoteResponse(t3, granted)`: log capacity 7 exceeded: config validation must prevent this"
    );
}
