//! `fixpoint serve` as a user runs it: the real binary on a loopback port, a
//! policy directory the test edits, a real HTTP client.
//!
//! [`support`] starts servers and plays agents; each other module is one topic
//! of the server's behaviour. Tests whose outcome depends on what the server
//! stores run once on SQLite and once on a fresh PostgreSQL database
//! ([`support::on_each_database`]); with CI=true an unreachable PostgreSQL
//! fails them.

#[path = "../support/apt_repo.rs"]
mod apt_repo;
#[path = "../support/chromium.rs"]
mod chromium;
#[path = "../support/databases.rs"]
#[allow(
    dead_code,
    reason = "the serve tests need only fresh PostgreSQL databases"
)]
mod databases;
#[path = "../support/debian_roots.rs"]
mod debian_roots;
#[path = "../support/feed_server.rs"]
mod feed_server;
#[path = "../support/forward_proxy.rs"]
mod forward_proxy;
#[path = "../support/git_http.rs"]
mod git_http;
#[path = "../support/openapi.rs"]
mod openapi_schema;
#[path = "../support/slapd.rs"]
mod slapd;
mod support;

mod agent;
mod agent_binary;
mod console;
mod console_browser;
mod console_directory;
mod console_fleet;
mod debian_machines;
mod directory;
mod durability;
mod files;
mod health;
mod openapi;
mod overload;
mod pipeline;
mod policy;
mod replicas;
mod simulate;
mod tls;
mod webhook;
