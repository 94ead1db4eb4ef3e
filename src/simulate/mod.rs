//! `fixpoint simulate`: a fleet of virtual agents against a real server, to
//! measure what the agent API sustains.
//!
//! ```text
//!  dpkg status files ─▶ inventory::Generator ─▶ facts and inventories per machine number
//!  agents file (id, credential, machine) ◀─ enrollment (workload) or seed (store::bulk)
//!  load::drive(workload, plan) ─▶ connections (client) ─▶ servers ─▶ summary::Summary
//! ```
//!
//! - [`inventory`]: realistic inventories drawn from real dpkg status files, most
//!   machines sharing one of a few images, deterministic per seed.
//! - [`client`]: one raw HTTP/1.1 connection per virtual client, so that the load
//!   generator costs the machine as little as it can.
//! - [`load`]: the engine. Open-loop (each request is planned at its time and its
//!   latency counts from that time, so a slow server cannot hide its queue: no
//!   coordinated omission), closed-loop (maximum throughput) or a thundering herd
//!   (every agent once, starts spread over a window, 503s retried after their
//!   `Retry-After`).
//! - [`workload`]: what one request of each scenario sends and how its answer counts.
//! - [`summary`]: percentiles, throughput and the report, as text or JSON.
//! - [`bare`]: the ceiling, an endpoint that parses a check-in and answers with no storage.
//! - [`memory`]: the server's resident memory, sampled from `/proc`.
//! - [`agents`]: the agents file (JSON lines of id, credential and machine number).

pub mod agents;
pub mod bare;
pub mod client;
pub mod inventory;
pub mod load;
pub mod memory;
pub mod summary;
pub mod workload;
