//! The patch catalog: the model of patches and advisories, and the parsers
//! that turn vendor documents (APT repositories, CSAF 2.0, CVRF, OSV) into it.
//!
//! ```text
//!  feed bytes ──▶ parser (apt | csaf | cvrf | osv) ──▶ Vec<Advisory> ──▶ Catalog::from_advisories ──▶ Catalog
//! ```
//!
//! Everything here is pure: fetching, signature-checking keyrings read from
//! disk and storage are the server's adapters.

pub mod apt;
pub mod csaf;
pub mod cvrf;
pub mod model;
pub mod osv;
mod product_tree;

pub use model::{
    Advisory, AdvisoryRef, Catalog, Cvss, Fix, PackageKind, Patch, PatchFile, PatchId, Platform,
    Vulnerability,
};
