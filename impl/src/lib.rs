//! `raftkv`: a replicated key-value server on the sans-IO Raft core
//! ([`raft_core`]). This crate is the core's runtime: a write-ahead log
//! ([`storage`]), authenticated TCP peer transport ([`transport`]), the
//! key-value state machine ([`kv`]), the server with its HTTP client API
//! and client ([`server`]), the local-cluster supervisor and the bench.

pub mod bench;
pub mod kv;
pub mod server;
pub mod storage;
pub mod supervisor;
pub mod transport;
