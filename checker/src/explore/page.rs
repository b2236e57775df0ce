//! The explorer's page (and its JSON): a path of states, every property's
//! verdict at each, the selected state in full, and the next actions.

use serde_json::json;
use stateright::Model;

use raft_spec::{RaftModel, State};

use crate::behaviour::Behaviour;
use crate::markup;
use crate::trace::{verdicts, Outcome, PropertyVerdict, Trace};

/// One state on the path.
struct Row {
    /// 0: the initial state; k: after step k.
    step: usize,
    action: Option<String>,
    state: State,
    verdicts: Vec<PropertyVerdict>,
}

/// An enabled action from the last state on the path.
struct Next {
    /// Its index among the enabled actions (the path's next component).
    index: usize,
    action: String,
    /// What it leads to: `None` if the model ignores it.
    verdicts: Option<Vec<PropertyVerdict>>,
}

/// Everything one page shows.
pub struct View<'a> {
    model: &'a RaftModel,
    trace: Option<&'a (std::path::PathBuf, Trace)>,
    path: &'a str,
    rows: Vec<Row>,
    next: Vec<Next>,
    selected: usize,
}

impl<'a> View<'a> {
    pub fn new(
        model: &'a RaftModel,
        trace: Option<&'a (std::path::PathBuf, Trace)>,
        path: &'a str,
        behaviour: &Behaviour,
        selected: usize,
    ) -> View<'a> {
        let (init, steps) = behaviour;
        let row = |step, action, state: &State| Row {
            step,
            action,
            verdicts: verdicts(model, state),
            state: state.clone(),
        };
        let mut rows = vec![row(0, None, init)];
        for (k, (a, s)) in steps.iter().enumerate() {
            rows.push(row(k + 1, Some(RaftModel::describe_action(a)), s));
        }
        let last = steps.last().map_or(init, |(_, s)| s);
        let mut actions = Vec::new();
        model.actions(last, &mut actions);
        let next = actions
            .into_iter()
            .enumerate()
            .map(|(index, a)| Next {
                index,
                action: RaftModel::describe_action(&a),
                verdicts: model.next_state(last, a).map(|s| verdicts(model, &s)),
            })
            .collect();
        View {
            model,
            trace,
            path,
            rows,
            next,
            selected,
        }
    }

    /// The discovery: the saved trace's verdict, as replayed (the trace was
    /// re-checked when it was loaded). `None` without a trace.
    fn discovery(&self) -> Option<String> {
        let (file, trace) = self.trace?;
        let n = trace.steps.len();
        let what = if !trace.has_model_property(self.model) {
            format!(
                "a behaviour labelled \"{}\" ({n} steps; not a property of the model, so no verdict)",
                trace.property
            )
        } else {
            match trace.outcome {
                Outcome::Violates => format!(
                    "counterexample: always \"{}\" is VIOLATED at step {n} (and holds at every state before)",
                    trace.property
                ),
                Outcome::Witnesses => format!(
                    "example: sometimes \"{}\" is first reached at step {n}",
                    trace.property
                ),
            }
        };
        let bug = trace.bug.map_or(String::new(), |b| {
            format!("; bug {b}: {}", b.info().description)
        });
        Some(format!("Saved {what}: {} ({n} steps{bug})", file.display()))
    }

    pub fn json(&self) -> String {
        let verdicts_json = |v: &[PropertyVerdict]| serde_json::to_value(v).unwrap_or_default();
        let value = json!({
            "config": self.model.cfg.summary(),
            "path": self.path,
            "discovery": self.discovery(),
            "trace_path": self.trace.map(|(_, t)| t.explorer_path.clone()),
            "selected": self.selected,
            "states": self.rows.iter().map(|r| json!({
                "step": r.step,
                "action": r.action,
                "verdicts": verdicts_json(&r.verdicts),
                "violates": violated(&r.verdicts),
                "servers": raft_spec::render::states(&r.state),
            })).collect::<Vec<_>>(),
            "next": self.next.iter().map(|n| json!({
                "index": n.index,
                "action": n.action,
                "ignored": n.verdicts.is_none(),
                "violates": n.verdicts.as_deref().map(violated),
            })).collect::<Vec<_>>(),
        });
        serde_json::to_string_pretty(&value).unwrap_or_default()
    }

    pub fn html(&self) -> String {
        let mut out = String::from(HEAD);
        out.push_str(&format!(
            "<h1>raftcheck explorer</h1>\n<p class=\"bounds\">bounds: <code>{}</code></p>\n",
            markup::escape(&self.model.cfg.summary())
        ));
        out.push_str("<section id=\"discovery\">\n");
        match (self.discovery(), self.trace) {
            (Some(d), Some((_, t))) => {
                out.push_str(&format!("<p><b>{}</b></p>\n", markup::escape(&d)));
                if t.explorer_path != self.path {
                    out.push_str(&format!(
                        "<p>This path is not the saved one: <a href=\"/steps/{}\">open the saved trace</a>.</p>\n",
                        t.explorer_path
                    ));
                }
            }
            _ => out.push_str(
                "<p>No saved trace: the verdicts below are each property evaluated in each state \
                 of this path; no search was made. Save a shortest counterexample with \
                 <code>raftcheck check --save FILE</code> and open it with \
                 <code>raftcheck explore FILE</code>.</p>\n",
            ),
        }
        out.push_str(
            "<p class=\"note\">Each cell is the property evaluated in that state by the model. \
             This page does not search the state space: <code>raftcheck check</code> does.</p>\n\
             </section>\n",
        );
        self.path_table(&mut out);
        self.selected_state(&mut out);
        self.next_actions(&mut out);
        out.push_str("</body>\n</html>\n");
        out
    }

    /// The path: one row per state, one column per property.
    fn path_table(&self, out: &mut String) {
        out.push_str("<h2>Path</h2>\n<table id=\"path\">\n<tr><th>step</th><th>action</th>");
        for v in &self.rows[0].verdicts {
            out.push_str(&format!(
                "<th>{} {}</th>",
                v.expectation,
                markup::escape(v.name)
            ));
        }
        out.push_str("</tr>\n");
        for (i, r) in self.rows.iter().enumerate() {
            let violates = violated(&r.verdicts);
            let reaches = first_reached(
                i.checked_sub(1).map(|p| &self.rows[p].verdicts[..]),
                &r.verdicts,
            );
            let mut class = Vec::new();
            if !violates.is_empty() {
                class.push("violating");
            }
            if r.step == self.selected {
                class.push("selected");
            }
            out.push_str(&format!(
                "<tr id=\"step-{}\" class=\"{}\"><td>{}</td><td><a href=\"/steps/{}?at={}\">{}</a>{}</td>",
                r.step,
                class.join(" "),
                r.step,
                self.path,
                r.step,
                markup::escape(r.action.as_deref().unwrap_or("initial state")),
                marks(&violates, &reaches),
            ));
            for v in &r.verdicts {
                out.push_str(&format!(
                    "<td class=\"{}\">{}</td>",
                    if v.discovered() { v.expectation } else { "" },
                    v.summary()
                ));
            }
            out.push_str("</tr>\n");
        }
        out.push_str("</table>\n");
    }

    fn selected_state(&self, out: &mut String) {
        let r = &self.rows[self.selected];
        let title = match &r.action {
            None => "State 0: the initial state".to_string(),
            Some(a) => format!("State {} (after {})", r.step, a),
        };
        out.push_str(&format!(
            "<section id=\"state\">\n<h2>{}</h2>\n",
            markup::escape(&title)
        ));
        let violates = violated(&r.verdicts);
        if violates.is_empty() {
            out.push_str("<p class=\"verdict\">Every safety property holds in this state.</p>\n");
        } else {
            for name in violates {
                out.push_str(&format!(
                    "<p class=\"verdict violating\">✗ This state violates always {}.</p>\n",
                    markup::escape(name)
                ));
            }
        }
        out.push_str("<ul class=\"properties\">\n");
        for v in &r.verdicts {
            out.push_str(&format!(
                "<li>{} {}: <b>{}</b></li>\n",
                v.expectation,
                markup::escape(v.name),
                v.summary()
            ));
        }
        out.push_str(&format!(
            "</ul>\n<pre class=\"servers\">{}</pre>\n</section>\n",
            markup::escape(&raft_spec::render::states(&r.state))
        ));
    }

    fn next_actions(&self, out: &mut String) {
        out.push_str("<section id=\"next\">\n<h2>Next actions</h2>\n<ul>\n");
        for n in &self.next {
            match &n.verdicts {
                None => out.push_str(&format!(
                    "<li class=\"ignored\">{} (ignored by the model)</li>\n",
                    markup::escape(&n.action)
                )),
                Some(v) => {
                    let violates = violated(v);
                    let mark = if violates.is_empty() {
                        String::new()
                    } else {
                        format!(
                            " <span class=\"mark\">✗ violates {}</span>",
                            markup::escape(&violates.join(", "))
                        )
                    };
                    out.push_str(&format!(
                        "<li><a href=\"/steps/{}/{}\">{}</a>{mark}</li>\n",
                        self.path,
                        n.index,
                        markup::escape(&n.action)
                    ));
                }
            }
        }
        out.push_str("</ul>\n</section>\n");
    }
}

/// The row's marks: what the state violates, and what it first reaches.
fn marks(violates: &[&str], reaches: &[&str]) -> String {
    let mut out = String::new();
    if !violates.is_empty() {
        out.push_str(&format!(
            " <span class=\"mark\">✗ violates {}</span>",
            markup::escape(&violates.join(", "))
        ));
    }
    if !reaches.is_empty() {
        out.push_str(&format!(
            " <span class=\"reach\">✓ reaches {}</span>",
            markup::escape(&reaches.join(", "))
        ));
    }
    out
}

/// The "sometimes" properties that hold here but not in the state before.
fn first_reached(before: Option<&[PropertyVerdict]>, now: &[PropertyVerdict]) -> Vec<&'static str> {
    now.iter()
        .zip(
            before
                .into_iter()
                .flatten()
                .map(Some)
                .chain(std::iter::repeat(None)),
        )
        .filter(|(p, b)| p.expectation == "sometimes" && p.holds && !b.is_some_and(|b| b.holds))
        .map(|(p, _)| p.name)
        .collect()
}

/// The "always" properties a state violates.
fn violated(v: &[PropertyVerdict]) -> Vec<&'static str> {
    v.iter()
        .filter(|p| p.expectation == "always" && !p.holds)
        .map(|p| p.name)
        .collect()
}

/// HTML-escapes text (states and actions contain no markup, but a page
/// must not depend on that).
const HEAD: &str = r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>raftcheck explorer</title>
<style>
body { font-family: sans-serif; margin: 1em 2em; }
code, pre, td { font-family: monospace; }
table { border-collapse: collapse; font-size: 85%; }
th, td { border: 1px solid #ccc; padding: 2px 6px; text-align: left; }
th { font-weight: normal; background: #eee; max-width: 9em; }
tr.violating { background: #fdd; }
tr.selected td:first-child { font-weight: bold; border-left: 4px solid #333; }
td.always { color: #b00; font-weight: bold; }
td.sometimes { color: #070; }
.mark, .verdict.violating { color: #b00; font-weight: bold; }
.reach { color: #070; }
#discovery { background: #f4f4f4; padding: 0.2em 1em; }
.note { color: #555; font-size: 90%; }
li.ignored { color: #888; }
</style>
</head>
<body>
"#;
