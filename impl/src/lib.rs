//! Production Raft: a deterministic sans-IO core ([`core`]) and, behind the
//! `sim` feature, a seeded in-memory cluster simulator ([`sim`]) that checks
//! the Raft safety properties after every step.
//!
//! Around the core, the runtime of the `raftkv` server: a write-ahead log
//! ([`storage`]), TCP peer transport ([`transport`]), the key-value state
//! machine ([`kv`]) and the server itself ([`server`]).

pub mod core;
#[cfg(feature = "sim")]
pub mod sim;

pub mod bench;
pub mod kv;
pub mod server;
pub mod storage;
pub mod supervisor;
pub mod transport;

pub use crate::core::*;
pub use bytes::Bytes;
