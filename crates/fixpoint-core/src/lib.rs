//! Fixpoint's pure core.
//!
//! ```text
//!  policy files (path, bytes) ──▶ policy::load ──▶ PolicySet ─┐
//!  catalog, fleet, now ─────────────────────────────────────────┴─▶ plan (applicability so far)
//! ```
//!
//! Everything here is synchronous and deterministic: bytes and time are
//! arguments, values are results. No clock, no filesystem, no network.

pub mod catalog;
pub mod fleet;
pub mod plan;
pub mod policy;
pub mod protocol;
pub mod rating;
pub mod schedule;
pub mod version;
