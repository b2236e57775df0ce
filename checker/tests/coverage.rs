//! Rule coverage: the engine's counts are the rules each transition took,
//! and small bounds fire every rule.

use std::collections::{HashSet, VecDeque};

use raft_spec::coverage::{Rule, RuleSet};
use raft_spec::flat::{FlatModel, FlatState};
use raft_spec::{Config, NetworkKind, Profile};
use raftcheck::check::{self, CheckOptions, CheckReport};
use raftcheck_engine::StopWhen;
use stateright::Model;

fn check(cfg: &Config) -> CheckReport {
    let opts = CheckOptions {
        threads: 2,
        stop_when: StopWhen::Exhausted,
        ..CheckOptions::default()
    };
    check::run(cfg, &opts).unwrap().report
}

fn count(r: &CheckReport, rule: Rule) -> u64 {
    let rows = r.coverage.as_ref().expect("the engine counts rules");
    rows.iter()
        .find(|c| c.rule == rule.name())
        .unwrap()
        .transitions
}

/// The engine's per-rule counts (threads, chunks, merging) equal a plain
/// one-thread breadth-first walk over the same canonical states that counts
/// each transition's rules itself.
#[test]
fn engine_counts_equal_a_plain_walk() {
    let cfg = Profile::Quick.config();
    let model = FlatModel::new(cfg.clone()).unwrap();
    let mut counts = vec![0u64; Rule::ALL.len()];
    let init = model.init_states()[0].representative();
    let mut seen = HashSet::from([raftcheck_engine::fingerprint(&init)]);
    let mut queue = VecDeque::from([init]);
    let mut actions = Vec::new();
    while let Some(s) = queue.pop_front() {
        model.actions(&s, &mut actions);
        for a in actions.drain(..) {
            let mut next = s;
            let mut fired = RuleSet::default();
            if !model.next_state_covered(&s, a, &mut next, &mut fired) {
                continue;
            }
            for i in fired.indices() {
                counts[i] += 1;
            }
            let canonical: FlatState = next.representative();
            if seen.insert(raftcheck_engine::fingerprint(&canonical))
                && model.within_boundary(&canonical)
            {
                queue.push_back(canonical);
            }
        }
    }
    let report = check(&cfg);
    let engine: Vec<u64> = Rule::ALL.iter().map(|r| count(&report, *r)).collect();
    assert_eq!(engine, counts);
    assert!(counts[Rule::GrantVote as usize] > 0);
}

/// The depth where a rule first fires agrees with the properties: the
/// first leader is elected where become-leader first fires.
#[test]
fn first_depths_agree_with_the_properties() {
    let r = check(&Profile::Quick.config());
    let rows = r.coverage.as_ref().unwrap();
    let first = |rule: Rule| {
        rows.iter()
            .find(|c| c.rule == rule.name())
            .unwrap()
            .first_depth
    };
    let elected = r
        .properties
        .iter()
        .find(|p| p.name == "a leader is elected")
        .unwrap()
        .depth;
    assert_eq!(first(Rule::BecomeLeader), elected);
    assert_eq!(first(Rule::StartElection), Some(1));
}

/// Every rule fires at small bounds: quick (no crash), a crash run and a
/// duplicating network. No rule of docs/rules.md is dead code.
#[test]
fn every_rule_fires_at_small_bounds() {
    let crash = Config {
        max_term: 1,
        max_log_len: 1,
        max_crashes: 1,
        max_in_flight: 3,
        ..Profile::Quick.config()
    };
    let duplicating = Config {
        max_term: 1,
        max_log_len: 1,
        network: NetworkKind::LossyDuplicating,
        ..Profile::Quick.config()
    };
    // raft-rs's variant: every rule of its options, in two small runs
    // (three in flight for a delayed vote request, a third entry for a
    // second batch to pipeline).
    let raft_rs_votes = Config {
        max_log_len: 1,
        max_in_flight: 3,
        variant: raft_spec::Variant::RAFT_RS,
        ..Profile::Quick.config()
    };
    let raft_rs_log = Config {
        max_log_len: 3,
        variant: raft_spec::Variant::RAFT_RS,
        ..Profile::Quick.config()
    };
    let runs = [
        check(&Profile::Quick.config()),
        check(&crash),
        check(&duplicating),
        check(&raft_rs_votes),
        check(&raft_rs_log),
    ];
    // quick fires every rule its bounds allow; the two others exist for
    // the rules quick excludes (their log of one entry leaves rules that
    // need two uncovered, as the report then says).
    let uncovered: Vec<_> = raftcheck::coverage::uncovered(runs[0].coverage.as_ref().unwrap())
        .map(|c| c.rule)
        .collect();
    assert!(uncovered.is_empty(), "quick: {uncovered:?}");
    assert!(
        raftcheck::coverage::uncovered(runs[1].coverage.as_ref().unwrap())
            .any(|c| c.rule == "client-request")
    );
    for rule in Rule::ALL {
        assert!(
            runs.iter().any(|r| count(r, *rule) > 0),
            "{} never fires",
            rule.name()
        );
        // The rules of raft-rs's options fire under raft-rs's variant.
        if rule
            .excluded_by_variant(&raft_spec::Variant::PAPER)
            .is_some()
        {
            assert!(
                runs[3..].iter().any(|r| count(r, *rule) > 0),
                "{} never fires under raft-rs",
                rule.name()
            );
        }
    }
    let text = check::render_text(&runs[0], "test");
    assert!(text.contains("crash                           Restart"));
    assert!(text.contains("excluded: no crash budget"));
    assert!(text.contains("every rule the bounds allow fired"));
}
