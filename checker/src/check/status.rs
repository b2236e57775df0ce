//! A property's outcome in a run.

use serde::Serialize;

/// What a run found about one property.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// always: no state within the bounds violates it.
    Holds,
    /// always: a state violates it.
    Violated,
    /// always: none violated it, but the run stopped early.
    NoViolationSoFar,
    /// sometimes: a state within the bounds satisfies it.
    Reached,
    /// sometimes: no state within the bounds satisfies it.
    NotReached,
    /// sometimes: not reached, but the run stopped early.
    NotReachedSoFar,
    /// eventually: not checked (the engines check states, not paths).
    Unknown,
}

impl Status {
    /// The status as the JSON report spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Holds => "holds",
            Status::Violated => "violated",
            Status::NoViolationSoFar => "no-violation-so-far",
            Status::Reached => "reached",
            Status::NotReached => "not-reached",
            Status::NotReachedSoFar => "not-reached-so-far",
            Status::Unknown => "unknown",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Compares with the JSON spelling, e.g. `status == "reached"`.
impl PartialEq<&str> for Status {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}
