//! The plan: for every machine and every patch that applies to it, what
//! should happen and why.
//!
//! ```text
//!  Catalog ──ApplicabilityIndex::new──▶ index (by platform and package, built once)
//!  Inventory ──index.applicable_patches──▶ [Applicable { patch, Installed | Missing }]   (once per distinct inventory)
//! ```
//!
//! Only applicability exists so far; approval, rings, windows, deadlines,
//! exclusions and supersedence come next and build on it. Everything here is
//! pure and synchronous.

pub mod applicability;

pub use applicability::{ApplicabilityIndex, Applicable, MissingPackage, PatchState};
