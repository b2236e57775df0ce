//! Shared harness for the process-level tests: a raftkv cluster of real
//! processes, a fault-injecting TCP proxy between peers, and a
//! linearizability checker for recorded client histories. Each test binary
//! uses a subset, hence the allowance.
#![allow(dead_code)]

pub mod cluster;
pub mod linearizability;
pub mod proxy;
pub mod workload;
