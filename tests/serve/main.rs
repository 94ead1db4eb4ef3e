//! `fixpoint serve` as a user runs it: the real binary on a loopback port, a
//! policy directory the test edits, a real HTTP client.
//!
//! [`support`] starts servers and plays agents; each other module is one topic
//! of the server's behaviour.

mod support;

mod agent;
mod files;
mod health;
mod policy;
