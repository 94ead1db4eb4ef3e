//! `fixpoint-agent`: the program on every managed machine.
//!
//! ```text
//! settings (flags > env > config file) ──► scanner (below --root) ──► Scan {facts, inventory}
//!                                          │
//! data dir: agent.json (identity, last ack) ──► check_in ──► client ──► server
//!                                          │ instructions
//!                       executor: instructions.json, files/, journal.jsonl
//!                         due by its own clock ──► installer (dpkg) ──► report
//!                                          │
//!              the next wake-up: check-in, or an instruction's window opening
//! ```

mod check_in;
mod client;
mod command;
mod config;
mod due;
mod executor;
mod files;
mod installer;
mod journal;
mod scanner;
mod schedule;
mod state;
#[cfg(test)]
mod testing;

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use jiff::Timestamp;

use crate::client::{ClientError, ClientOptions, ServerClient};
use crate::config::{Args, Command, Settings};
use crate::executor::Executor;
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
    let settings = Settings::resolve(args)?;
    let scanner = scanner::for_root(&settings.root)?;
    if let Command::Scan = args.command {
        let mut scan = scanner.scan()?;
        scan.facts.labels.extend(settings.labels.clone());
        let json = serde_json::to_string_pretty(&scan.to_json()).context("printing the scan")?;
        println!("{json}");
        return Ok(());
    }
    // The configuration first: a missing --server must not leave a data directory behind.
    let server = settings.server()?;
    let data = DataDir::lock(&settings.data_dir)?;
    let client = ServerClient::new(
        server,
        &ClientOptions {
            ca_file: settings.ca_file.as_deref(),
            proxy: settings.proxy.as_deref(),
        },
    )?;
    let mut executor = Executor::open(
        &data,
        &settings.root,
        scanner.as_ref(),
        installer::for_root(&settings.root),
        &settings.reboot_command,
    )?;
    // One thread is plenty: the agent does one thing at a time and idles between.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        match args.command {
            Command::CheckIn => {
                let outcome =
                    check_in::check_in(&data, scanner.as_ref(), &client, &settings.labels, || {
                        settings.enrollment_token()
                    })
                    .await?;
                let now = Timestamp::now();
                executor.accept(&outcome.response.etag, &outcome.response.instructions, now)?;
                let reported = executor.report(&client, &outcome.credential, now).await?;
                println!("{outcome}; reported {reported} results");
                Ok(())
            }
            Command::Run => {
                run_forever(&settings, &data, scanner.as_ref(), &client, &mut executor).await
            }
            Command::Scan => Ok(()),
        }
    })
}

/// The longest the agent sleeps without looking at the clock again (a clock
/// that jumps, a suspended machine): once every quarter hour costs nothing.
const LONGEST_NAP: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// Checks in when the server says (or backs off after a failure), carries
/// out instructions when they are due by its own clock, reports results,
/// until SIGTERM or Ctrl-C. While the server is unreachable it goes on with
/// the instructions it has, and reports once it is back.
async fn run_forever(
    settings: &Settings,
    data: &DataDir,
    scanner: &dyn scanner::Scanner,
    client: &ServerClient,
    executor: &mut Executor<'_>,
) -> anyhow::Result<()> {
    let mut failures: u32 = 0;
    let stop = stop_signal();
    tokio::pin!(stop);
    tracing::info!(server = client.base(), root = %settings.root.display(), "agent started");
    let recovered = executor.recover(Timestamp::now())?;
    if !recovered.is_empty() {
        tracing::info!(
            count = recovered.len(),
            "recovered interrupted instructions"
        );
    }
    let mut next_check_in = Timestamp::now();
    let mut credential = data.load()?.map(|s| s.credential);
    loop {
        if Timestamp::now() >= next_check_in {
            let attempt = check_in::check_in(data, scanner, client, &settings.labels, || {
                settings.enrollment_token()
            });
            let outcome = tokio::select! {
                outcome = attempt => outcome,
                signal = &mut stop => return signal,
            };
            let wait = match outcome {
                Ok(outcome) => {
                    failures = 0;
                    tracing::info!("{outcome}");
                    let now = Timestamp::now();
                    executor.accept(&outcome.response.etag, &outcome.response.instructions, now)?;
                    credential = Some(outcome.credential.clone());
                    if let Err(e) = executor.report(client, &outcome.credential, now).await {
                        tracing::warn!("reporting results failed, kept for later: {e:#}");
                    }
                    if let Err(e) = executor.prefetch(client, &outcome.credential).await {
                        tracing::warn!("prefetching files failed: {e:#}");
                    }
                    schedule::sleep_until(Timestamp::now(), outcome.response.next_check_in)
                }
                Err(e) => {
                    failures = failures.saturating_add(1);
                    let retry_after = e
                        .chain()
                        .find_map(|c| c.downcast_ref::<ClientError>())
                        .and_then(ClientError::retry_after);
                    let wait =
                        schedule::retry_delay(failures, retry_after, schedule::random_unit());
                    tracing::warn!(
                        failures,
                        retry_in_s = wait.as_secs(),
                        "check-in failed: {e:#}"
                    );
                    wait
                }
            };
            next_check_in = Timestamp::now()
                + jiff::SignedDuration::try_from(wait)
                    .unwrap_or(jiff::SignedDuration::from_secs(60));
        }
        // Instructions run by the agent's clock, with or without the server.
        if let Some(credential) = credential.as_deref()
            && executor
                .next_due(Timestamp::now())
                .is_some_and(|t| t <= Timestamp::now())
        {
            let pass = executor.run_due(client, credential, Timestamp::now).await?;
            if !pass.finished.is_empty() {
                if let Err(e) = executor.report(client, credential, Timestamp::now()).await {
                    tracing::warn!("reporting results failed, kept for later: {e:#}");
                }
                // The machine changed: let the server see its new inventory now,
                // not at the next interval.
                next_check_in = next_check_in.min(Timestamp::now());
            }
            if !pass.finished.is_empty() || !pass.postponed.is_empty() {
                tracing::info!(
                    finished = pass.finished.len(),
                    postponed = pass.postponed.len(),
                    "instructions carried out"
                );
            }
        }
        let now = Timestamp::now();
        let wake = executor
            .next_due(now)
            .map_or(next_check_in, |t| t.min(next_check_in));
        let nap = schedule::sleep_until(now, wake).min(LONGEST_NAP);
        tokio::select! {
            () = tokio::time::sleep(nap) => {}
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
