//! docs/rules.md cannot go stale: its rules are exactly the `Rule`
//! variants; every spec function, implementation function, test, script
//! and catalogued bug it names exists; every Figure 2 receiver rule a row
//! cites is marked (`[AppendEntries receiver 3]`) in both the spec and
//! raft-core; and each action is one name, raft.tla's operator in
//! snake_case, in both.

use std::path::{Path, PathBuf};

use raft_spec::coverage::Rule;
use raft_spec::variant::OPTIONS;
use raft_spec::Bug;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Every `.rs` file under `dir`, concatenated.
fn sources(dir: &Path) -> String {
    let mut out = String::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push_str(&std::fs::read_to_string(&p).unwrap());
            }
        }
    }
    out
}

/// The names in a cell: each between backticks, or the cell's
/// comma-separated words when it has none ("-" for none).
fn names(cell: &str) -> Vec<String> {
    if cell.contains('`') {
        cell.split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_string)
            .collect()
    } else {
        cell.split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty() && s != "-")
            .collect()
    }
}

fn defines_fn(source: &str, name: &str) -> bool {
    source.contains(&format!("fn {name}(")) || source.contains(&format!("fn {name}<"))
}

/// The rows of the table whose header starts `| {first} |`, as cells (the
/// header and separator skipped).
fn rows(doc: &str, first: &str) -> Vec<Vec<String>> {
    let header = format!("| {first} |");
    doc.lines()
        .skip_while(|l| !l.starts_with(&header))
        .skip(2)
        .take_while(|l| l.starts_with("| "))
        .map(|l| {
            l.trim_matches('|')
                .split(" | ")
                .map(|c| c.trim().to_string())
                .collect()
        })
        .collect()
}

/// The receiver-rule markers a source cell cites: "RequestVote receiver 2"
/// gives `[RequestVote receiver 2]`, "AppendEntries receivers 3-4" gives
/// receivers 3 and 4.
fn receiver_markers(source: &str) -> Vec<String> {
    let mut out = Vec::new();
    for rpc in ["RequestVote", "AppendEntries"] {
        for (at, _) in source.match_indices(&format!("{rpc} receiver")) {
            let rest = source[at + rpc.len() + " receiver".len()..].trim_start_matches('s');
            let numbers: String = rest
                .trim_start()
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == '-')
                .collect();
            let (from, to) = numbers.split_once('-').unwrap_or((&numbers, &numbers));
            let (Ok(from), Ok(to)) = (from.parse::<u8>(), to.parse::<u8>()) else {
                out.push(format!("[{rpc} receiver ?{numbers}]"));
                continue;
            };
            out.extend((from..=to).map(|n| format!("[{rpc} receiver {n}]")));
        }
    }
    out
}

/// raft.tla's `HandleRequestVoteRequest` as `handle_request_vote_request`.
fn snake_case(operator: &str) -> String {
    let mut out = String::new();
    for c in operator.chars() {
        if c.is_ascii_uppercase() && !out.is_empty() {
            out.push('_');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// Problems with the doc, one line each.
fn problems(doc: &str) -> Vec<String> {
    let spec = sources(&repo().join("spec/src"));
    let core = sources(&repo().join("impl/core/src"));
    let mut out = Vec::new();
    let rows = rows(doc, "rule");
    for row in &rows {
        let [rule, tla, spec_fns, impl_fns, tests, bugs, source] = &row[..] else {
            out.push(format!("a row without 7 cells: {row:?}"));
            continue;
        };
        match Rule::from_name(rule) {
            None => out.push(format!("{rule}: not a Rule")),
            Some(r) if r.tla_operator() != tla => out.push(format!(
                "{rule}: raft.tla operator {tla}, the Rule says {}",
                r.tla_operator()
            )),
            Some(_) => {}
        }
        for f in names(spec_fns) {
            if !defines_fn(&spec, &f) {
                out.push(format!("{rule}: no `fn {f}` in spec/src"));
            }
        }
        for f in names(impl_fns) {
            if !defines_fn(&core, &f) {
                out.push(format!("{rule}: no `fn {f}` in impl/core/src"));
            }
        }
        for t in names(tests) {
            // A script (checker/tests/testdata/NAME.txt) is a test by itself.
            if t.ends_with(".txt") {
                if !repo().join(&t).is_file() {
                    out.push(format!("{rule}: no script {t}"));
                }
                continue;
            }
            let Some((file, test)) = t.split_once("::") else {
                out.push(format!(
                    "{rule}: test {t} is not FILE::NAME or a script FILE.txt"
                ));
                continue;
            };
            let text = std::fs::read_to_string(repo().join(file)).unwrap_or_default();
            if !defines_fn(&text, test) {
                out.push(format!("{rule}: no test `fn {test}` in {file}"));
            }
        }
        for b in names(bugs) {
            if Bug::from_name(&b).is_none() {
                out.push(format!("{rule}: {b} is not a catalogued bug"));
            }
        }
        for marker in receiver_markers(source) {
            if !spec.contains(&marker) {
                out.push(format!("{rule}: {marker} is not marked in spec/src"));
            }
            if !core.contains(&marker) {
                out.push(format!("{rule}: {marker} is not marked in impl/core/src"));
            }
        }
    }
    for r in Rule::ALL {
        if !rows.iter().any(|row| row[0] == r.name()) {
            out.push(format!("{}: a Rule with no row", r.name()));
        }
    }
    out.extend(action_problems(doc, &spec, &core));
    out.extend(variant_problems(doc, &spec));
    out
}

/// The variants table: one row per option of `spec/src/variant.rs`, its
/// values exactly the option's, its spec functions and tests existing.
fn variant_problems(doc: &str, spec: &str) -> Vec<String> {
    let mut out = Vec::new();
    let rows = rows(doc, "option");
    for o in OPTIONS {
        let Some(row) = rows.iter().find(|r| r[0] == o.name) else {
            out.push(format!("option {}: no row", o.name));
            continue;
        };
        let [_, values, spec_fns, _impl, tests, bugs, _source] = &row[..] else {
            out.push(format!("an option row without 7 cells: {row:?}"));
            continue;
        };
        if names(values) != o.values {
            out.push(format!(
                "option {}: values {values}, the option has {:?}",
                o.name, o.values
            ));
        }
        for f in names(spec_fns) {
            if !defines_fn(spec, &f) {
                out.push(format!("option {}: no `fn {f}` in spec/src", o.name));
            }
        }
        for t in names(tests) {
            let (file, test) = t.split_once("::").unwrap_or((&t, ""));
            let text = std::fs::read_to_string(repo().join(file)).unwrap_or_default();
            if !defines_fn(&text, test) {
                out.push(format!("option {}: no test `fn {test}` in {file}", o.name));
            }
        }
        for b in names(bugs) {
            if Bug::from_name(&b).is_none() {
                out.push(format!("option {}: {b} is not a catalogued bug", o.name));
            }
        }
    }
    out
}

/// The actions table: each action is raft.tla's operator in snake_case,
/// defined under that name in the spec and (unless the network's) in
/// raft-core, with the other functions and the rules it names existing;
/// and every rule's operator has a row.
fn action_problems(doc: &str, spec: &str, core: &str) -> Vec<String> {
    let mut out = Vec::new();
    let rows = rows(doc, "action");
    for row in &rows {
        let [action, tla, spec_fns, impl_fns, _trigger, rules] = &row[..] else {
            out.push(format!("an action row without 6 cells: {row:?}"));
            continue;
        };
        if *action != snake_case(tla) {
            out.push(format!(
                "{action}: not raft.tla's {tla} in snake_case ({})",
                snake_case(tla)
            ));
        }
        let (spec_fns, impl_fns) = (names(spec_fns), names(impl_fns));
        for f in &spec_fns {
            if !defines_fn(spec, f) {
                out.push(format!("{action}: no `fn {f}` in spec/src"));
            }
        }
        for f in &impl_fns {
            if !defines_fn(core, f) {
                out.push(format!("{action}: no `fn {f}` in impl/core/src"));
            }
        }
        // The network's actions happen outside raft-core, and inside the
        // flat model's step.
        if !impl_fns.is_empty() {
            for (side, fns) in [("spec", &spec_fns), ("implementation", &impl_fns)] {
                if !fns.contains(action) {
                    out.push(format!("{action}: the {side} does not name it `{action}`"));
                }
            }
        }
        for r in names(rules) {
            if Rule::from_name(&r).is_none() {
                out.push(format!("{action}: {r} is not a Rule"));
            }
        }
    }
    for r in Rule::ALL {
        if !rows.iter().any(|row| row[1] == r.tla_operator()) {
            out.push(format!(
                "{}: its raft.tla operator {} has no action row",
                r.name(),
                r.tla_operator()
            ));
        }
    }
    out
}

#[test]
fn the_rules_doc_matches_the_rules_and_the_source() {
    let doc = std::fs::read_to_string(repo().join("docs/rules.md")).unwrap();
    let problems = problems(&doc);
    assert!(
        problems.is_empty(),
        "docs/rules.md:\n{}",
        problems.join("\n")
    );
}

/// The check itself can fail: a renamed rule, a missing function, a missing
/// row, an unknown bug, a missing script, an unmarked receiver rule, an
/// action not named after its operator or named differently in raft-core,
/// and an operator with no action row are each reported.
#[test]
fn a_stale_doc_is_reported() {
    let doc = std::fs::read_to_string(repo().join("docs/rules.md")).unwrap();
    let stale = doc
        .replace("| grant-vote |", "| grant-a-vote |")
        .replace("| `update_term` |", "| `adopt_new_term` |")
        .replace("truncate-on-match, append", "truncate-on-mismatch, append")
        .replace("testdata/log_conflict.txt", "testdata/log_conflicts.txt")
        .replace("AppendEntries receiver 5", "AppendEntries receiver 6")
        .replace("| timeout | Timeout |", "| time_out | Timeout |")
        .replace(
            "| `handle_request_vote_response` | a Req",
            "| `on_request_vote_response` | a Req",
        )
        .replace(
            "| drop_message | DropMessage |",
            "| drop_message | LoseMessage |",
        )
        .replace(
            "| leader-stickiness | false, true |",
            "| leader-stickiness | no, yes |",
        )
        .replace(
            "| batch-limit | entries, bytes | `append_entries`, `batch_len`",
            "| batch-limit | entries, bytes | `append_entries`, `byte_len`",
        )
        .replace("| stale-term | answer", "| stale-terms | answer");
    let problems = problems(&stale).join("\n");
    for want in [
        "grant-a-vote: not a Rule",
        "grant-vote: a Rule with no row",
        "no `fn adopt_new_term` in impl/core/src",
        "truncate-on-mismatch is not a catalogued bug",
        "reject-append-log-mismatch: no script checker/tests/testdata/log_conflicts.txt",
        "advance-follower-commit: [AppendEntries receiver 6] is not marked in spec/src",
        "advance-follower-commit: [AppendEntries receiver 6] is not marked in impl/core/src",
        "time_out: not raft.tla's Timeout in snake_case (timeout)",
        "handle_request_vote_response: no `fn on_request_vote_response` in impl/core/src",
        "handle_request_vote_response: the implementation does not name it",
        "drop-message: its raft.tla operator DropMessage has no action row",
        "option leader-stickiness: values no, yes",
        "option batch-limit: no `fn byte_len` in spec/src",
        "option stale-term: no row",
    ] {
        assert!(problems.contains(want), "{want:?} not in:\n{problems}");
    }
}
