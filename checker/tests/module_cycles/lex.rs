//! Reading a Rust file: comments and strings blanked, tokens, the paths it uses.

use super::*;

/// The source with comments, string and char literals blanked out (newlines
/// kept, so line numbers stay right).
pub(super) fn blank_comments_and_strings(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = b.to_vec();
    let mut i = 0;
    let blank = |out: &mut Vec<u8>, from: usize, to: usize| {
        for c in &mut out[from..to] {
            if *c != b'\n' {
                *c = b' ';
            }
        }
    };
    while i < b.len() {
        if b[i..].starts_with(b"//") {
            let end = b[i..]
                .iter()
                .position(|&c| c == b'\n')
                .map_or(b.len(), |p| i + p);
            blank(&mut out, i, end);
            i = end;
        } else if b[i..].starts_with(b"/*") {
            let mut depth = 0;
            let mut j = i;
            while j < b.len() {
                if b[j..].starts_with(b"/*") {
                    depth += 1;
                    j += 2;
                } else if b[j..].starts_with(b"*/") {
                    depth -= 1;
                    j += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    j += 1;
                }
            }
            blank(&mut out, i, j.min(b.len()));
            i = j;
        } else if b[i] == b'r'
            && (i == 0 || !is_ident(b[i - 1]))
            && matches!(b.get(i + 1), Some(b'"') | Some(b'#'))
        {
            // A raw string r"..", r#".."#.
            let hashes = b[i + 1..].iter().take_while(|&&c| c == b'#').count();
            if b.get(i + 1 + hashes) != Some(&b'"') {
                i += 1;
                continue;
            }
            let mut close = vec![b'"'];
            close.resize(1 + hashes, b'#');
            let start = i + 2 + hashes;
            let end = b[start..]
                .windows(close.len())
                .position(|w| w == close.as_slice())
                .map_or(b.len(), |p| start + p + close.len());
            blank(&mut out, i, end);
            i = end;
        } else if b[i] == b'"' {
            let mut j = i + 1;
            while j < b.len() && b[j] != b'"' {
                j += if b[j] == b'\\' { 2 } else { 1 };
            }
            blank(&mut out, i, (j + 1).min(b.len()));
            i = j + 1;
        } else if b[i] == b'\'' {
            // A char literal ('x', '\n', '\u{..}'), not a lifetime ('a).
            let end = if b.get(i + 1) == Some(&b'\\') {
                b[i + 2..]
                    .iter()
                    .position(|&c| c == b'\'')
                    .map(|p| i + 3 + p)
            } else if b.get(i + 2) == Some(&b'\'') {
                Some(i + 3)
            } else {
                // A multi-byte char: find the quote within 5 bytes.
                b[i + 1..(i + 6).min(b.len())]
                    .iter()
                    .position(|&c| c == b'\'')
                    .filter(|_| b[i + 1] >= 0x80)
                    .map(|p| i + 2 + p)
            };
            match end {
                Some(end) => {
                    blank(&mut out, i, end);
                    i = end;
                }
                None => i += 1,
            }
        } else {
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub(super) fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Tok {
    Ident(String),
    Punct(String),
}

/// Identifiers and punctuation with their line; `::` is one token.
pub(super) fn tokens(src: &str) -> Vec<(Tok, usize)> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let (mut i, mut line) = (0, 1);
    while i < b.len() {
        let c = b[i];
        if c == b'\n' {
            line += 1;
            i += 1;
        } else if c.is_ascii_whitespace() {
            i += 1;
        } else if is_ident(c) {
            let start = i;
            while i < b.len() && is_ident(b[i]) {
                i += 1;
            }
            out.push((Tok::Ident(src[start..i].to_string()), line));
        } else if b[i..].starts_with(b"::") {
            out.push((Tok::Punct("::".into()), line));
            i += 2;
        } else {
            let len = src[i..].chars().next().map_or(1, char::len_utf8);
            out.push((Tok::Punct(src[i..i + len].to_string()), line));
            i += len;
        }
    }
    out
}

pub(super) fn is_punct(t: Option<&(Tok, usize)>, p: &str) -> bool {
    matches!(t, Some((Tok::Punct(q), _)) if q == p)
}

pub(super) fn ident(t: Option<&(Tok, usize)>) -> Option<&str> {
    match t {
        Some((Tok::Ident(s), _)) => Some(s),
        _ => None,
    }
}

/// The tokens without `#[cfg(test)]` items, and the names of the
/// `#[cfg(test)] mod x;` file modules.
pub(super) fn without_test_items(toks: Vec<(Tok, usize)>) -> (Vec<(Tok, usize)>, BTreeSet<String>) {
    let mut out = Vec::new();
    let mut test_files = BTreeSet::new();
    let mut i = 0;
    while i < toks.len() {
        let is_cfg_test = is_punct(toks.get(i), "#")
            && is_punct(toks.get(i + 1), "[")
            && ident(toks.get(i + 2)) == Some("cfg")
            && is_punct(toks.get(i + 3), "(")
            && ident(toks.get(i + 4)) == Some("test")
            && is_punct(toks.get(i + 5), ")")
            && is_punct(toks.get(i + 6), "]");
        if !is_cfg_test {
            out.push(toks[i].clone());
            i += 1;
            continue;
        }
        // Skip the item: to its `;` or its matching `}`.
        let mut j = i + 7;
        let is_mod = (j..toks.len())
            .take_while(|&k| !is_punct(toks.get(k), ";") && !is_punct(toks.get(k), "{"))
            .find(|&k| ident(toks.get(k)) == Some("mod"));
        let mut depth = 0;
        while j < toks.len() {
            if is_punct(toks.get(j), "{") {
                depth += 1;
            } else if is_punct(toks.get(j), "}") {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            } else if is_punct(toks.get(j), ";") && depth == 0 {
                if let Some(k) = is_mod {
                    if let Some(name) = ident(toks.get(k + 1)) {
                        test_files.insert(name.to_string());
                    }
                }
                break;
            }
            j += 1;
        }
        i = j + 1;
    }
    (out, test_files)
}

/// A path found in a file: its segments as written (first one `crate`,
/// `super`, `self` or a name) and the line.
#[derive(Debug, Clone)]
pub(super) struct Found {
    pub(super) segs: Vec<String>,
    pub(super) line: usize,
    /// A `pub use`, and the name it exports (`None` for a glob).
    pub(super) export: Option<Option<String>>,
}

/// Expands one use tree starting at `i` (after `use` or inside `{`), with
/// `prefix` already read. Returns the index after the tree.
pub(super) fn use_tree(
    toks: &[(Tok, usize)],
    mut i: usize,
    prefix: Vec<String>,
    public: bool,
    found: &mut Vec<Found>,
) -> usize {
    let mut segs = prefix;
    let line = toks.get(i).map_or(0, |t| t.1);
    if is_punct(toks.get(i), "::") {
        i += 1;
    }
    loop {
        if is_punct(toks.get(i), "{") {
            i += 1;
            while !is_punct(toks.get(i), "}") && i < toks.len() {
                i = use_tree(toks, i, segs.clone(), public, found);
                if is_punct(toks.get(i), ",") {
                    i += 1;
                }
            }
            return i + 1;
        }
        if is_punct(toks.get(i), "*") {
            let export = public.then_some(None);
            found.push(Found { segs, line, export });
            return i + 1;
        }
        let Some(name) = ident(toks.get(i)) else {
            return i;
        };
        segs.push(name.to_string());
        i += 1;
        if is_punct(toks.get(i), "::") {
            i += 1;
            continue;
        }
        let mut exported = name.to_string();
        if ident(toks.get(i)) == Some("as") {
            if let Some(alias) = ident(toks.get(i + 1)) {
                exported = alias.to_string();
            }
            i += 2;
        }
        if segs.last().map(String::as_str) == Some("self") {
            segs.pop();
        }
        let export = public.then_some(Some(exported));
        found.push(Found { segs, line, export });
        return i;
    }
}

/// Every path in a file that may name an item of the crate.
pub(super) fn paths(toks: &[(Tok, usize)]) -> Vec<Found> {
    let mut found = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        if ident(toks.get(i)) == Some("use") {
            // `pub use`, `pub(crate) use`: a re-export.
            let public = (i >= 1 && ident(toks.get(i - 1)) == Some("pub"))
                || (i >= 4
                    && ident(toks.get(i - 4)) == Some("pub")
                    && is_punct(toks.get(i - 1), ")"));
            i = use_tree(toks, i + 1, Vec::new(), public, &mut found);
            continue;
        }
        let starts = matches!(ident(toks.get(i)), Some("crate" | "super"))
            && is_punct(toks.get(i + 1), "::")
            && !(i >= 1 && is_punct(toks.get(i - 1), "::"));
        if starts {
            let line = toks[i].1;
            let mut segs = vec![ident(toks.get(i)).unwrap_or_default().to_string()];
            let mut j = i + 1;
            while is_punct(toks.get(j), "::") {
                match ident(toks.get(j + 1)) {
                    Some(s) => segs.push(s.to_string()),
                    None => break,
                }
                j += 2;
            }
            found.push(Found {
                segs,
                line,
                export: None,
            });
            i = j;
            continue;
        }
        i += 1;
    }
    found
}
