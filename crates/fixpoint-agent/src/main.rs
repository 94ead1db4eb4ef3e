//! `fixpoint-agent`: the program on every managed machine.
//!
//! ```text
//! config ──► scanner (below --root) ──► Scan {facts, inventory}
//!                                          │
//! state (data dir: identity, last ack) ──► check_in ──► client ──► server
//!                                          │
//!                     schedule: next check-in or back-off ◄┘
//! ```
//!
//! This first slice scans and checks in; carrying out instructions (the
//! executor and its journal) comes next.

mod check_in;
mod client;
mod config;
mod scanner;
mod schedule;
mod state;

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;

use crate::client::{ClientError, ClientOptions, ServerClient};
use crate::config::{Args, Command};
use crate::state::DataDir;

fn main() -> ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("FIXPOINT_AGENT_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fixpoint-agent: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> anyhow::Result<()> {
    let scanner = scanner::for_root(&args.root)?;
    if let Command::Scan = args.command {
        let scan = scanner.scan()?;
        let json = serde_json::to_string_pretty(&scan.to_json()).context("printing the scan")?;
        println!("{json}");
        return Ok(());
    }
    // The configuration first: a missing --server must not leave a data directory behind.
    let server = args.server()?;
    let data = DataDir::lock(&args.data_dir)?;
    let client = ServerClient::new(
        server,
        &ClientOptions {
            ca_file: args.ca_file.as_deref(),
            proxy: args.proxy.as_deref(),
        },
    )?;
    // One thread is plenty: the agent does one thing at a time and idles between.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        match args.command {
            Command::CheckIn => {
                let outcome = check_in::check_in(&data, scanner.as_ref(), &client, || {
                    args.enrollment_token()
                })
                .await?;
                println!("{outcome}");
                Ok(())
            }
            Command::Run => run_forever(args, &data, scanner.as_ref(), &client).await,
            Command::Scan => Ok(()),
        }
    })
}

/// Checks in, sleeps until the server's next check-in (or backs off after a
/// failure), and again, until SIGTERM or Ctrl-C.
async fn run_forever(
    args: &Args,
    data: &DataDir,
    scanner: &dyn scanner::Scanner,
    client: &ServerClient,
) -> anyhow::Result<()> {
    let mut failures: u32 = 0;
    let stop = stop_signal();
    tokio::pin!(stop);
    tracing::info!(server = client.base(), root = %args.root.display(), "agent started");
    loop {
        let attempt = check_in::check_in(data, scanner, client, || args.enrollment_token());
        let wait = tokio::select! {
            outcome = attempt => match outcome {
                Ok(outcome) => {
                    failures = 0;
                    tracing::info!("{outcome}");
                    schedule::sleep_until(jiff::Timestamp::now(), outcome.response.next_check_in)
                }
                Err(e) => {
                    failures = failures.saturating_add(1);
                    let retry_after = e
                        .chain()
                        .find_map(|c| c.downcast_ref::<ClientError>())
                        .and_then(ClientError::retry_after);
                    let wait = schedule::retry_delay(failures, retry_after, schedule::random_unit());
                    tracing::warn!(failures, retry_in_s = wait.as_secs(), "check-in failed: {e:#}");
                    wait
                }
            },
            signal = &mut stop => return signal,
        };
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            signal = &mut stop => return signal,
        }
    }
}

/// Resolves (with `Ok`) on SIGTERM or Ctrl-C.
async fn stop_signal() -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).context("listening for SIGTERM")?;
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM: stopping"),
            r = tokio::signal::ctrl_c() => { r.context("listening for Ctrl-C")?; tracing::info!("interrupted: stopping") }
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c()
            .await
            .context("listening for Ctrl-C")?;
        tracing::info!("interrupted: stopping");
    }
    Ok(())
}
