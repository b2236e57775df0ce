//! docs/rules.md cannot go stale: its rules are exactly the `Rule`
//! variants, and every spec function, implementation function, test and
//! catalogued bug it names exists.

use std::path::{Path, PathBuf};

use raft_spec::coverage::Rule;
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

/// The table's rows, as cells (the header and separator skipped).
fn rows(doc: &str) -> Vec<Vec<String>> {
    doc.lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| rule ") && !l.starts_with("| ---"))
        .map(|l| {
            l.trim_matches('|')
                .split(" | ")
                .map(|c| c.trim().to_string())
                .collect()
        })
        .collect()
}

/// Problems with the doc, one line each.
fn problems(doc: &str) -> Vec<String> {
    let spec = sources(&repo().join("spec/src"));
    let core = sources(&repo().join("impl/core/src"));
    let mut out = Vec::new();
    let rows = rows(doc);
    for row in &rows {
        let [rule, tla, spec_fns, impl_fns, tests, bugs, _source] = &row[..] else {
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
    }
    for r in Rule::ALL {
        if !rows.iter().any(|row| row[0] == r.name()) {
            out.push(format!("{}: a Rule with no row", r.name()));
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

/// The check itself can fail: a renamed rule, a missing function or script, a missing
/// row and an unknown bug are each reported.
#[test]
fn a_stale_doc_is_reported() {
    let doc = std::fs::read_to_string(repo().join("docs/rules.md")).unwrap();
    let stale = doc
        .replace("| grant-vote |", "| grant-a-vote |")
        .replace("`adopt_term`", "`adopt_new_term`")
        .replace("truncate-on-match, append", "truncate-on-mismatch, append")
        .replace("testdata/vote_rules.txt", "testdata/vote_rule.txt");
    let problems = problems(&stale).join("\n");
    for want in [
        "grant-a-vote: not a Rule",
        "grant-vote: a Rule with no row",
        "no `fn adopt_new_term` in impl/core/src",
        "truncate-on-mismatch is not a catalogued bug",
        "refuse-vote-stale-term: no script checker/tests/testdata/vote_rule.txt",
    ] {
        assert!(problems.contains(want), "{want:?} not in:\n{problems}");
    }
}
