//! The plan: for every machine and every patch that applies to it, what
//! should happen and why.
//!
//! ```text
//!  Catalog ──ApplicabilityIndex::new──▶ index (by platform and package, built once)
//!  Inventory ──index.applicable_patches──▶ [Applicable { patch, Installed | Missing }]   (once per distinct inventory)
//!  Patch + ApprovalPolicy + now ──approval──▶ Approved { at, by } | Pending { at } | Declined   (once per patch)
//!  Machine + PolicySet ──groups::ring_of / groups_of──▶ its ring, its groups                    (once per machine)
//!  Machine + Patch + PolicySet + now ──exclusions_for──▶ the exclusion holding it back, expired ones
//!  PolicySet + Catalog + Fleet + now ──compute──▶ Plan (a state and reason per machine-patch pair,
//!                                               releases per ring, compliance)
//!  Plan + Plan ──diff──▶ PlanDiff (what a policy change alters: the pull-request preview)
//! ```
//!
//! [The `compute` module](mod@compute) documents the whole decision. Everything here is pure and
//! synchronous: `now` is an argument.

pub mod applicability;
pub mod approval;
pub mod compute;
pub mod diff;
pub mod exclusions;
#[cfg(test)]
mod fixtures;
pub mod groups;
pub mod model;
pub mod render;

pub use applicability::{ApplicabilityIndex, Applicable, MissingPackage, PatchState};
pub use approval::{Approval, ApprovedBy, approval};
pub use compute::{Planner, Replanned, compute};
pub use exclusions::{Excluded, Exclusions, exclusions_for};
pub use groups::{groups_of, in_group, ring_of};
pub use model::*;
