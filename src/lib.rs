//! The `fixpoint` package: IO adapters around `fixpoint-core` and the admin CLI.

pub mod cli;
pub mod console;
pub mod crd;
pub mod directory;
pub mod server;
pub mod simulate;
pub mod source;
pub mod staging;
pub mod store;
pub mod sync;
