//! Production Raft: a deterministic sans-IO core ([`core`]) and, behind the
//! `sim` feature, a seeded in-memory cluster simulator ([`sim`]) that checks
//! the Raft safety properties after every step.

pub mod core;
#[cfg(feature = "sim")]
pub mod sim;

pub use crate::core::*;
pub use bytes::Bytes;
