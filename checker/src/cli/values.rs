//! The command-line values of library enums (`--strategy`, `--plan`,
//! `--skip`, `--perturb`): written out here, so the library needs no clap.
//! Names are the enums' kebab-case serde names; help is their first doc
//! line, as clap's derive would give it.

use clap::builder::PossibleValue;
use clap::ValueEnum;

use crate::check::Strategy;
use crate::conform::Perturbation;
use crate::gate::{Part, Plan};

fn value(name: &'static str, help: &'static str) -> Option<PossibleValue> {
    Some(PossibleValue::new(name).help(help))
}

impl ValueEnum for Strategy {
    fn value_variants<'a>() -> &'a [Self] {
        &[
            Strategy::Bfs,
            Strategy::StaterightDfs,
            Strategy::StaterightBfs,
        ]
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        match self {
            Strategy::Bfs => value(
                "bfs",
                "This project's engine: parallel breadth-first search with symmetry reduction \
                 and fingerprint-only visited states; shortest counterexamples",
            ),
            Strategy::StaterightDfs => value(
                "stateright-dfs",
                "stateright's depth-first checker (symmetry, fingerprints)",
            ),
            Strategy::StaterightBfs => value(
                "stateright-bfs",
                "stateright's breadth-first checker (no symmetry; keeps full states)",
            ),
        }
    }
}

impl ValueEnum for Part {
    fn value_variants<'a>() -> &'a [Self] {
        &Part::ALL
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        match self {
            Part::ModelCheck => value(
                "model-check",
                "Model-check the profile: every property holds or is reached",
            ),
            Part::Coverage => value(
                "coverage",
                "Every rule the bounds allow fires in each model-check and conformance \
                 profile (docs/rules.md)",
            ),
            Part::Bugs => value(
                "bugs",
                "Every catalogued bug is caught, breaking the property it should",
            ),
            Part::Conformance => value(
                "conformance",
                "Every transition of the profile's model is taken by the implementation",
            ),
            Part::Replay => value(
                "replay",
                "Every saved counterexample replays against the implementation",
            ),
            Part::RaftRs => value(
                "raft-rs",
                "tikv/raft-rs: exhaustive, random walks and the counterexamples; a divergence is a named design difference or a failure",
            ),
            Part::StateSpace => value(
                "state-space",
                "The quick profile's state-space size equals the reviewed snapshot",
            ),
        }
    }
}

impl ValueEnum for Plan {
    fn value_variants<'a>() -> &'a [Self] {
        &[Plan::Ci, Plan::Quick]
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        match self {
            Plan::Ci => value(
                "ci",
                "CI: model check at ci-term3 and ci-term3-log3 (a third term; a third term \
                 with a third log entry), conformance at ci and quick-term3-log3",
            ),
            Plan::Quick => value(
                "quick",
                "Local iteration: model check and conformance at quick",
            ),
        }
    }
}

impl ValueEnum for Perturbation {
    fn value_variants<'a>() -> &'a [Self] {
        &Perturbation::ALL
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        match self {
            Perturbation::GrantRefusedVote => {
                value("grant-refused-vote", "A refused vote goes out as granted")
            }
            Perturbation::SkipTruncation => value(
                "skip-truncation",
                "Storage skips the truncation of a conflicting suffix",
            ),
            Perturbation::ForgetVoteOnRestart => value(
                "forget-vote-on-restart",
                "A restarted node gets its storage without the vote it cast",
            ),
            Perturbation::AckPastMessage => value(
                "ack-past-message",
                "A successful AppendEntries response acknowledges one entry more than the \
                 message carried",
            ),
            Perturbation::CommitBehind => value(
                "commit-behind",
                "The leader commit of a delivered AppendEntries is lowered by one, so the \
                 follower's commit index stays behind",
            ),
            Perturbation::WrongPeer => value(
                "wrong-peer",
                "The first message of a step goes to the wrong peer",
            ),
        }
    }
}

impl ValueEnum for crate::conform::product::Keying {
    fn value_variants<'a>() -> &'a [Self] {
        use crate::conform::product::Keying;
        &[Keying::Fingerprint, Keying::AbstractState]
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        use crate::conform::product::Keying;
        match self {
            Keying::Fingerprint => value(
                "fingerprint",
                "By the adapter's fingerprint of the node's whole state (sound)",
            ),
            Keying::AbstractState => value(
                "abstract-state",
                "By abstract state only: merges hidden state away (unsound; for comparison)",
            ),
        }
    }
}
