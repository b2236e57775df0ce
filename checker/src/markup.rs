//! Escaping text for HTML and XML (the explorer page, the gate's JUnit).

/// `s` as HTML or XML character data or an attribute value: the five
/// special characters escaped, and control characters other than newline
/// and tab (which XML 1.0 forbids) dropped.
pub fn escape(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_control() || matches!(c, '\n' | '\t'))
        .map(|c| match c {
            '&' => "&amp;".to_string(),
            '<' => "&lt;".to_string(),
            '>' => "&gt;".to_string(),
            '"' => "&quot;".to_string(),
            '\'' => "&apos;".to_string(),
            c => c.to_string(),
        })
        .collect()
}
