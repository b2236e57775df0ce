//! The datadriven file format (etcd-io/raft's `testdata/*.txt`): a command
//! line, `----`, the expected output up to a blank line. Comment (`#`) and
//! blank lines between cases are kept as they are, so a rewritten file
//! differs from the old one only in outputs.
//!
//! Our own small parser rather than the `datadriven` crate: that crate
//! parses a command's arguments into an unordered map of alphanumeric words
//! (so `propose 1 x` loses its order and `deliver 1->2` does not parse), and
//! runs each case through one closure, where each case here must run
//! through two interpreters and fail when they disagree, even on rewrite.

/// One case: the command on line `line` (1-based) and what it must print.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Case {
    pub line: usize,
    pub command: String,
    /// `None`: no `----` yet (a new command; only a rewrite fills it in).
    pub expected: Option<Vec<String>>,
}

/// A file's items in order: kept text lines and cases.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Item {
    Text(String),
    Case(Case),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScriptFile {
    pub items: Vec<Item>,
}

pub const SEPARATOR: &str = "----";

/// A line that is not part of a case: a `----` with no command before it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: `{SEPARATOR}` with no command before it")]
pub struct ParseError {
    pub line: usize,
}

impl ScriptFile {
    /// Parses a file; `Err` names the line that is not a case.
    pub fn parse(text: &str) -> Result<ScriptFile, ParseError> {
        let lines: Vec<&str> = text.lines().collect();
        let mut items = Vec::new();
        let mut i = 0;
        while i < lines.len() {
            let line = lines[i];
            if line.trim().is_empty() || line.starts_with('#') {
                items.push(Item::Text(line.to_string()));
                i += 1;
                continue;
            }
            if line == SEPARATOR {
                return Err(ParseError { line: i + 1 });
            }
            let start = i + 1;
            i += 1;
            let expected = if lines.get(i) == Some(&SEPARATOR) {
                i += 1;
                let mut out = Vec::new();
                while i < lines.len() && !lines[i].trim().is_empty() {
                    out.push(lines[i].to_string());
                    i += 1;
                }
                // The blank line that ends the case belongs to it.
                if i < lines.len() {
                    i += 1;
                }
                Some(out)
            } else {
                None
            };
            items.push(Item::Case(Case {
                line: start,
                command: line.trim().to_string(),
                expected,
            }));
        }
        Ok(ScriptFile { items })
    }

    pub fn cases(&self) -> impl Iterator<Item = &Case> {
        self.items.iter().filter_map(|item| match item {
            Item::Case(c) => Some(c),
            Item::Text(_) => None,
        })
    }

    /// The `# only: SIDE` directive, if the file has one (see
    /// [`super::Side`]).
    pub fn only(&self) -> Option<&str> {
        self.items.iter().find_map(|item| match item {
            Item::Text(t) => t
                .strip_prefix("# only:")
                .map(|rest| rest.split_whitespace().next().unwrap_or("")),
            Item::Case(_) => None,
        })
    }

    /// The file as text, each case's output replaced by `outputs[k]` (the
    /// k-th case's), or kept where `outputs` has none.
    pub fn render(&self, outputs: &[Vec<String>]) -> String {
        let mut s = String::new();
        let mut k = 0;
        for item in &self.items {
            match item {
                Item::Text(t) => {
                    s.push_str(t);
                    s.push('\n');
                }
                Item::Case(c) => {
                    let out = outputs.get(k).or(c.expected.as_ref());
                    k += 1;
                    s.push_str(&c.command);
                    s.push('\n');
                    s.push_str(SEPARATOR);
                    s.push('\n');
                    for line in out.into_iter().flatten() {
                        s.push_str(line);
                        s.push('\n');
                    }
                    s.push('\n');
                }
            }
        }
        // One newline at the end, not a blank line.
        while s.ends_with("\n\n") {
            s.pop();
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "# A comment.\nstart 3\n----\n\ncampaign 1\n----\n  1 persist term=1 vote=1\n  1 send 1->2 RequestVote term=1 last=0@0\n\n# Between cases.\n\nstatus\n----\n  1 candidate\n";

    #[test]
    fn a_file_renders_back_as_it_was() {
        let f = ScriptFile::parse(TEXT).unwrap();
        assert_eq!(f.cases().count(), 3);
        assert_eq!(f.render(&[]), TEXT);
        let status = f.cases().nth(2).unwrap();
        assert_eq!(status.line, 12);
        assert_eq!(status.expected, Some(vec!["  1 candidate".to_string()]));
    }

    #[test]
    fn rewriting_replaces_outputs_and_keeps_comments() {
        let f = ScriptFile::parse(TEXT).unwrap();
        let outs = vec![vec![], vec!["  new".to_string()], vec![]];
        let text = f.render(&outs);
        assert!(text.contains("campaign 1\n----\n  new\n\n# Between cases.\n\nstatus\n----\n"));
    }

    /// A command with no `----` is a new case; a rewrite adds its output.
    #[test]
    fn a_command_without_a_separator_is_a_case_with_no_expectation() {
        let f = ScriptFile::parse("start 1\ncampaign 1\n----\nx\n").unwrap();
        let cases: Vec<_> = f.cases().collect();
        assert_eq!(cases[0].expected, None);
        assert_eq!(cases[1].line, 2);
        let text = f.render(&[vec!["a".into()], vec!["b".into()]]);
        assert_eq!(text, "start 1\n----\na\n\ncampaign 1\n----\nb\n");
    }

    #[test]
    fn a_separator_without_a_command_is_refused() {
        let err = ScriptFile::parse("# x\n----\n").unwrap_err();
        assert_eq!(err.to_string(), "line 2: `----` with no command before it");
    }

    #[test]
    fn the_only_directive_is_found() {
        let f = ScriptFile::parse("# only: impl (byte limits)\nstart 1\n----\n").unwrap();
        assert_eq!(f.only(), Some("impl"));
        assert_eq!(ScriptFile::parse(TEXT).unwrap().only(), None);
    }
}
