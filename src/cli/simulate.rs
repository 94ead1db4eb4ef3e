//! `fixpoint simulate`: a fleet of virtual agents against real servers, to
//! measure what the agent API sustains (see [`crate::simulate`]).
//!
//! ```text
//! fixpoint simulate seed --data-dir DIR --machines 100000 --agents agents.jsonl
//! fixpoint simulate run --server http://127.0.0.1:8080 --agents agents.jsonl \
//!     --scenario unchanged --concurrency 64 --duration 20s --baseline --server-pid PID
//! fixpoint simulate run --server URL --agents agents.jsonl --scenario herd --herd-window 60s
//! ```

use std::io::{BufRead, IsTerminal};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use fixpoint_core::catalog::Platform;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use super::{Database, Format};
use crate::simulate::agents::{self, AgentRecord};
use crate::simulate::client::Endpoint;
use crate::simulate::inventory::{Generator, GeneratorConfig};
use crate::simulate::load::{self, Pace, Plan, RetryPolicy};
use crate::simulate::memory::{self, Sampler};
use crate::simulate::summary::{self, Summary};
use crate::simulate::workload::{self, CheckIns, Enrollments, Fleet, Reports};

#[derive(Debug, clap::Args)]
pub struct SimulateArgs {
    #[command(subcommand)]
    command: SimulateCommand,
}

#[derive(Debug, clap::Subcommand)]
enum SimulateCommand {
    /// Run virtual agents against servers: enrollment, check-ins with full or unchanged
    /// inventories, a thundering herd, reports; print throughput, latency percentiles,
    /// errors and the servers' memory.
    Run(Box<RunArgs>),
    /// Enroll machines directly in the database, as if each had enrolled and checked in
    /// once, and write their agents file: a million machines in minutes.
    Seed(SeedArgs),
    /// The ceiling: a server with one route that parses a check-in and answers, with no
    /// storage (`run --baseline` starts one).
    #[command(hide = true)]
    BareServer(BareArgs),
    /// The runs of several `run --format json` reports as one Markdown table (for
    /// scripts/simulate).
    #[command(hide = true)]
    Table(TableArgs),
}

#[derive(Debug, clap::Args)]
struct TableArgs {
    /// Reports written by `fixpoint simulate run --format json`.
    #[arg(required = true)]
    reports: Vec<PathBuf>,
}

/// What a run does, in the order given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Scenario {
    /// Enroll machines through the API until the agents file holds --machines agents.
    Enroll,
    /// Check-ins with the full inventory.
    Full,
    /// Check-ins with only the inventory's hash, as every check-in after the first.
    Unchanged,
    /// Every agent checks in once, starts spread over --herd-window (as after a server
    /// restart); a 503 is retried after its Retry-After.
    Herd,
    /// Reports of the results of the instructions the check-ins of this run received.
    Report,
}

impl Scenario {
    fn name(self) -> &'static str {
        match self {
            Scenario::Enroll => "enroll",
            Scenario::Full => "full",
            Scenario::Unchanged => "unchanged",
            Scenario::Herd => "herd",
            Scenario::Report => "report",
        }
    }
}

/// The fleet's inventories. `seed` and `run` must be given the same values for the
/// inventories an agent sends to be those seeded.
#[derive(Debug, Clone, clap::Args)]
struct FleetArgs {
    /// Everything random (inventories, which machine has which) derives from it.
    #[arg(long, env = "FIXPOINT_SIMULATE_SEED", default_value_t = 1)]
    seed: u64,
    /// Packages in every inventory: real ones, padded with packages derived from them.
    #[arg(long, env = "FIXPOINT_SIMULATE_FULL_PACKAGES", default_value_t = 1_500)]
    full_packages: usize,
    /// Images: identical inventories that most machines share.
    #[arg(long, env = "FIXPOINT_SIMULATE_IMAGES", default_value_t = 8)]
    images: usize,
    /// Distinct inventories in all, images included; one machine in six has a variant
    /// of an image.
    #[arg(long, env = "FIXPOINT_SIMULATE_INVENTORIES", default_value_t = 1_000)]
    inventories: usize,
    /// A dpkg status file to draw packages from (repeatable; e.g. the var/lib/dpkg/status
    /// of Debian roots) [default: a real Debian 12 machine's, built in].
    #[arg(long = "dpkg-status", value_name = "FILE")]
    dpkg_status: Vec<PathBuf>,
    /// The inventories' platform, `family:version`.
    #[arg(long, default_value = crate::simulate::inventory::DEFAULT_PLATFORM)]
    platform: String,
}

impl FleetArgs {
    fn generator(&self) -> anyhow::Result<Generator> {
        let statuses = if self.dpkg_status.is_empty() {
            vec![crate::simulate::inventory::BOOKWORM_STATUS.to_vec()]
        } else {
            self.dpkg_status
                .iter()
                .map(|p| std::fs::read(p).with_context(|| format!("reading {}", p.display())))
                .collect::<anyhow::Result<_>>()?
        };
        Generator::new(
            GeneratorConfig {
                seed: self.seed,
                packages: self.full_packages,
                images: self.images,
                inventories: self.inventories,
                platform: Platform(self.platform.clone()),
            },
            &statuses,
        )
    }
}

#[derive(Debug, clap::Args)]
struct RunArgs {
    /// A server, http://HOST:PORT; repeat it (or separate with commas) for replicas, which
    /// get the requests in turn.
    #[arg(
        long = "server",
        env = "FIXPOINT_SIMULATE_SERVER",
        value_delimiter = ',',
        required = true
    )]
    servers: Vec<String>,
    /// The enrollment token, for the `enroll` scenario.
    #[arg(long, env = "FIXPOINT_ENROLLMENT_TOKEN", hide_env_values = true)]
    enrollment_token: Option<String>,
    /// The agents file (JSON lines of id, credential and machine number): read at the start,
    /// and agents enrolled are added to it. Without it enrolled agents live only for the run.
    #[arg(long, env = "FIXPOINT_SIMULATE_AGENTS")]
    agents: Option<PathBuf>,
    /// The fleet's size: `enroll` enrolls until there are this many agents, the other
    /// scenarios use the first this many [default: all agents].
    #[arg(long, env = "FIXPOINT_SIMULATE_MACHINES")]
    machines: Option<u64>,
    /// The scenarios to run, in order (repeat, or separate with commas).
    #[arg(
        long = "scenario",
        value_enum,
        value_delimiter = ',',
        default_value = "unchanged"
    )]
    scenarios: Vec<Scenario>,
    /// Open loop: this many requests a second, each measured from its planned time.
    /// Without it, each client sends its next request when the last is answered
    /// (closed loop, maximum throughput).
    #[arg(long, env = "FIXPOINT_SIMULATE_RATE")]
    rate: Option<f64>,
    /// Virtual clients, each with one connection per server: the most requests in flight
    /// [default: 64 closed loop, 256 open loop, 1000 herd].
    #[arg(long, env = "FIXPOINT_SIMULATE_CONCURRENCY")]
    concurrency: Option<usize>,
    /// How long each scenario sends requests, e.g. 30s (not the herd, which lasts until
    /// every agent has checked in).
    #[arg(long, env = "FIXPOINT_SIMULATE_DURATION", value_parser = parse_duration)]
    duration: Option<Duration>,
    /// Requests of each scenario [default: one per agent, without --duration].
    #[arg(long, env = "FIXPOINT_SIMULATE_REQUESTS", conflicts_with = "duration")]
    requests: Option<u64>,
    /// The herd's first check-ins are spread evenly over this window (0s: all at once).
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    herd_window: Duration,
    /// A Retry-After longer than this waits this long, plus up to a quarter of jitter.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    max_backoff: Duration,
    /// A herd agent without a successful check-in this long after the start has failed
    /// [default: the window and 2 minutes].
    #[arg(long, value_parser = parse_duration)]
    herd_deadline: Option<Duration>,
    /// A request without an answer this long has failed.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    timeout: Duration,
    /// A server process whose memory (/proc/PID/status) is sampled during each scenario
    /// (repeatable, for replicas).
    #[arg(long = "server-pid", value_name = "PID")]
    server_pids: Vec<u32>,
    /// First measure the ceiling: the same unchanged check-ins, closed loop, against a
    /// bare endpoint that only parses them; throughputs are then also given as a ratio
    /// of its.
    #[arg(long)]
    baseline: bool,
    /// A label for the runs, shown beside the scenario's name (e.g. `cold`).
    #[arg(long)]
    label: Option<String>,
    /// Text (a block per scenario and a Markdown table) or JSON.
    #[arg(long, env = "FIXPOINT_FORMAT", value_enum, default_value_t = Format::Text)]
    format: Format,
    #[command(flatten)]
    fleet: FleetArgs,
}

#[derive(Debug, clap::Args)]
struct SeedArgs {
    /// Machines to enroll: sim-0000000 and on, with fresh credentials (an existing machine
    /// of that id gets the new one).
    #[arg(long, env = "FIXPOINT_SIMULATE_MACHINES")]
    machines: u64,
    /// The agents file to write (replaced).
    #[arg(long, env = "FIXPOINT_SIMULATE_AGENTS")]
    agents: PathBuf,
    /// Machines a transaction.
    #[arg(long, default_value_t = 20_000)]
    batch: usize,
    #[command(flatten)]
    fleet: FleetArgs,
    #[command(flatten)]
    database: Database,
}

#[derive(Debug, clap::Args)]
struct BareArgs {
    /// Address to listen on (port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Runtime worker threads [default: one per core].
    #[arg(long)]
    threads: Option<usize>,
}

/// `200ms`, `30s`, `1m`, `1h 30m` (jiff's friendly format, or ISO 8601).
fn parse_duration(text: &str) -> Result<Duration, String> {
    let d: jiff::SignedDuration = text
        .trim()
        .parse()
        .map_err(|e| format!("expected a duration such as 200ms, 30s or 2m: {e}"))?;
    Duration::try_from(d).map_err(|_| format!("{text:?}: a duration cannot be negative"))
}

pub fn run(args: SimulateArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        SimulateCommand::Run(args) => runtime(None)?.block_on(run_scenarios(*args)),
        SimulateCommand::Seed(args) => runtime(None)?.block_on(seed(args)),
        SimulateCommand::BareServer(args) => {
            runtime(args.threads)?
                .block_on(crate::simulate::bare::serve(args.listen, interrupted()))?;
            Ok(ExitCode::SUCCESS)
        }
        SimulateCommand::Table(args) => {
            let mut runs = Vec::new();
            for path in &args.reports {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?;
                let report: Report = serde_json::from_str(&text)
                    .with_context(|| format!("{}: not a simulate report", path.display()))?;
                runs.extend(report.runs);
            }
            print!("{}", summary::table(&runs));
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn runtime(threads: Option<usize>) -> anyhow::Result<tokio::runtime::Runtime> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = threads {
        builder.worker_threads(n.max(1));
    }
    builder.enable_all().build().context("starting the runtime")
}

/// Completes on SIGTERM or Ctrl-C.
async fn interrupted() {
    #[cfg(unix)]
    {
        let term = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {},
            () = term => {},
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}

/// A progress bar on the terminal, or a hidden one when the output is not for a
/// person at a terminal.
fn progress(format: Format, what: &str) -> ProgressBar {
    if format == Format::Json
        || !std::io::stdout().is_terminal()
        || !std::io::stderr().is_terminal()
    {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(0);
    if let Ok(style) = ProgressStyle::with_template(
        "{prefix:>10} [{elapsed_precise}] {wide_bar} {percent:>3}% {msg}",
    ) {
        bar.set_style(style);
    }
    bar.set_prefix(what.to_owned());
    bar
}

/// The bare endpoint, started as a child process and killed when dropped.
#[derive(Debug)]
struct BareChild {
    child: std::process::Child,
    url: String,
}

impl BareChild {
    fn start() -> anyhow::Result<BareChild> {
        let exe =
            std::env::current_exe().context("finding this program to start the bare endpoint")?;
        let mut child = std::process::Command::new(exe)
            .args(["simulate", "bare-server", "--listen", "127.0.0.1:0"])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .context("starting the bare endpoint")?;
        let mut line = String::new();
        if let Some(stdout) = child.stdout.take() {
            let _ = std::io::BufReader::new(stdout).read_line(&mut line);
        }
        match line.trim().strip_prefix("fixpoint: listening on ") {
            Some(url) => Ok(BareChild {
                url: url.to_owned(),
                child,
            }),
            None => {
                let _ = child.kill();
                let _ = child.wait();
                anyhow::bail!("the bare endpoint did not start (it printed {line:?})")
            }
        }
    }
}

impl Drop for BareChild {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The whole run's output as JSON.
#[derive(Debug, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Report {
    runs: Vec<Summary>,
    /// This process's own high-water mark of resident memory.
    simulator_peak_rss_bytes: u64,
}

/// Pacing and size of one scenario.
#[derive(Debug)]
struct Shape {
    plan: Plan,
    pace: String,
}

impl RunArgs {
    fn shape(&self, scenario: Scenario, agents: u64) -> anyhow::Result<Shape> {
        if scenario == Scenario::Herd {
            let deadline = self
                .herd_deadline
                .unwrap_or(self.herd_window + Duration::from_secs(120));
            anyhow::ensure!(
                deadline > self.herd_window,
                "--herd-deadline must be longer than --herd-window"
            );
            return Ok(Shape {
                plan: Plan {
                    jobs: agents,
                    pace: Pace::Spread(self.herd_window),
                    concurrency: self.concurrency.unwrap_or(1_000),
                    duration: None,
                    retry: Some(RetryPolicy {
                        max_backoff: self.max_backoff,
                        deadline,
                        seed: self.fleet.seed,
                    }),
                    timeout: self.timeout,
                },
                pace: format!("herd over {}", seconds(self.herd_window)),
            });
        }
        let (pace, label, concurrency) = match self.rate {
            Some(rate) => {
                anyhow::ensure!(rate.is_finite() && rate > 0.0, "--rate must be above zero");
                (Pace::Rate(rate), format!("open loop {rate}/s"), 256)
            }
            None => (Pace::Closed, "closed loop".to_owned(), 64),
        };
        let jobs = match (self.requests, self.duration, scenario) {
            (_, _, Scenario::Enroll) => agents,
            (Some(n), _, _) => n,
            (None, Some(_), _) => u64::MAX,
            (None, None, _) => agents,
        };
        Ok(Shape {
            plan: Plan {
                jobs,
                pace,
                concurrency: self.concurrency.unwrap_or(concurrency),
                duration: if scenario == Scenario::Enroll {
                    None
                } else {
                    self.duration
                },
                retry: None,
                timeout: self.timeout,
            },
            pace: label,
        })
    }
}

fn seconds(d: Duration) -> String {
    format!("{} s", d.as_secs_f64())
}

/// Runs a workload with the memory sampler on, and sums it up.
async fn measure<W: load::Workload>(
    workload: Arc<W>,
    shape: Shape,
    endpoints: &[Arc<Endpoint>],
    pids: &[u32],
    format: Format,
    scenario: &str,
    target: &str,
) -> anyhow::Result<Summary> {
    let bar = progress(format, scenario);
    let sampler = Sampler::start(pids, Duration::from_millis(250));
    let concurrency = load::clients(&shape.plan);
    let jobs = shape.plan.jobs;
    let tally = load::drive(workload, shape.plan, endpoints, &bar).await;
    let memory = sampler.stop();
    bar.finish_and_clear();
    let tally = tally?;
    let mut summary = Summary::from_tally(scenario, target, &tally);
    summary.servers = endpoints.iter().map(|e| e.url.clone()).collect();
    summary.pace = shape.pace;
    summary.concurrency = concurrency;
    summary.server_memory = memory;
    if let Some(herd) = &mut summary.herd {
        herd.agents = jobs;
    }
    Ok(summary)
}

/// Builds the hashes (and payloads) of the fleet's inventories before a
/// measured run, on the blocking pool.
async fn prepare(fleet: &Arc<Fleet>, payloads: bool) -> anyhow::Result<()> {
    let fleet = Arc::clone(fleet);
    tokio::task::spawn_blocking(move || {
        fleet
            .generator
            .prepare(fleet.agents.iter().map(|a| a.machine), payloads)
    })
    .await
    .context("building the inventories")?
}

fn take(counter: &std::sync::atomic::AtomicU64) -> u64 {
    counter.swap(0, std::sync::atomic::Ordering::Relaxed)
}

async fn run_scenarios(args: RunArgs) -> anyhow::Result<ExitCode> {
    let endpoints: Vec<Arc<Endpoint>> = args
        .servers
        .iter()
        .map(|s| Endpoint::parse(s).map(Arc::new))
        .collect::<anyhow::Result<_>>()?;
    let generator = Arc::new(args.fleet.generator()?);
    let mut all = match &args.agents {
        Some(path) => agents::read(path)?,
        None => Vec::new(),
    };
    let mut runs: Vec<Summary> = Vec::new();
    let mut baseline: Option<f64> = None;
    let print = |s: &Summary| {
        if args.format == Format::Text {
            println!("{}", s.text());
        }
    };

    if args.baseline {
        let fleet_size = args
            .machines
            .unwrap_or(all.len() as u64)
            .max(if all.is_empty() { 1_000 } else { 1 });
        // Credentials do not matter there; the inventories are the fleet's.
        let agents: Vec<AgentRecord> = (0..fleet_size)
            .map(|n| AgentRecord {
                id: format!("bare-{n}"),
                credential: "bare".to_owned(),
                machine: all
                    .get(usize::try_from(n).unwrap_or(usize::MAX))
                    .map_or(n, |a| a.machine),
            })
            .collect();
        let bare = tokio::task::spawn_blocking(BareChild::start)
            .await
            .context("starting the bare endpoint")??;
        let bare_endpoint = vec![Arc::new(Endpoint::parse(&bare.url)?)];
        let mut shape = args.shape(Scenario::Unchanged, fleet_size)?;
        // The ceiling is a maximum: always closed loop.
        shape.plan.pace = Pace::Closed;
        shape.plan.concurrency = args.concurrency.unwrap_or(64);
        shape.pace = "closed loop".to_owned();
        let fleet = Arc::new(Fleet::new(agents, Arc::clone(&generator)));
        prepare(&fleet, false).await?;
        let pid = bare.child.id();
        let mut summary = measure(
            Arc::new(CheckIns {
                fleet,
                inventory: workload::Inventory::Unchanged,
            }),
            shape,
            &bare_endpoint,
            &[pid],
            args.format,
            "unchanged",
            "bare",
        )
        .await?;
        drop(bare);
        summary.agents = fleet_size;
        summary.ratio_to_baseline = Some(1.0);
        baseline = Some(summary.throughput);
        print(&summary);
        runs.push(summary);
    }

    let mut fleet: Option<Arc<Fleet>> = None;
    for &scenario in &args.scenarios {
        let mut summary = if scenario == Scenario::Enroll {
            let Some(target) = args.machines else {
                anyhow::bail!("the enroll scenario needs --machines: the fleet's size");
            };
            let Some(token) = args.enrollment_token.clone() else {
                anyhow::bail!("the enroll scenario needs --enrollment-token");
            };
            let count = target.saturating_sub(all.len() as u64);
            let first = all.iter().map(|a| a.machine + 1).max().unwrap_or(0);
            let enrollments = Arc::new(Enrollments {
                generator: Arc::clone(&generator),
                token,
                first,
                enrolled: std::sync::Mutex::new(Vec::new()),
            });
            let shape = args.shape(scenario, count)?;
            let mut summary = if count == 0 {
                Summary {
                    scenario: "enroll".into(),
                    target: "fixpoint".into(),
                    servers: endpoints.iter().map(|e| e.url.clone()).collect(),
                    pace: shape.pace,
                    ..Summary::default()
                }
            } else {
                measure(
                    Arc::clone(&enrollments),
                    shape,
                    &endpoints,
                    &args.server_pids,
                    args.format,
                    "enroll",
                    "fixpoint",
                )
                .await?
            };
            let enrolled = enrollments.take();
            if let Some(path) = &args.agents {
                agents::write(path, &enrolled, true)?;
            }
            all.extend(enrolled);
            fleet = None;
            summary.agents = count;
            summary
        } else {
            let fleet = match &fleet {
                Some(f) => Arc::clone(f),
                None => {
                    let size = args.machines.map_or(all.len(), |n| {
                        usize::try_from(n).unwrap_or(usize::MAX).min(all.len())
                    });
                    anyhow::ensure!(
                        size > 0,
                        "no agents to run {}: enroll some (--scenario enroll --machines N \
                         --enrollment-token …) or seed them (fixpoint simulate seed), with --agents",
                        scenario.name()
                    );
                    if let Some(n) = args.machines {
                        anyhow::ensure!(
                            all.len() as u64 >= n,
                            "--machines {n}, but there are only {} agents",
                            all.len()
                        );
                    }
                    let mut f = Fleet::new(all[..size].to_vec(), Arc::clone(&generator));
                    f.keep_instructions = args.scenarios.contains(&Scenario::Report);
                    let f = Arc::new(f);
                    fleet = Some(Arc::clone(&f));
                    f
                }
            };
            let agents = fleet.agents.len() as u64;
            let shape = args.shape(scenario, agents)?;
            if scenario != Scenario::Report {
                prepare(&fleet, scenario == Scenario::Full).await?;
            }
            let mut summary = match scenario {
                Scenario::Report => {
                    measure(
                        Arc::new(Reports {
                            fleet: Arc::clone(&fleet),
                        }),
                        shape,
                        &endpoints,
                        &args.server_pids,
                        args.format,
                        scenario.name(),
                        "fixpoint",
                    )
                    .await?
                }
                _ => {
                    measure(
                        Arc::new(CheckIns {
                            fleet: Arc::clone(&fleet),
                            inventory: if scenario == Scenario::Full {
                                workload::Inventory::Full
                            } else {
                                workload::Inventory::Unchanged
                            },
                        }),
                        shape,
                        &endpoints,
                        &args.server_pids,
                        args.format,
                        scenario.name(),
                        "fixpoint",
                    )
                    .await?
                }
            };
            let c = &fleet.counters;
            summary.agents = agents;
            summary.inventory_needed = take(&c.inventory_needed);
            summary.instructions = take(&c.instructions);
            summary.results_sent = take(&c.results_sent);
            summary.results_accepted = take(&c.results_accepted);
            summary
        };
        summary.label.clone_from(&args.label);
        // The baseline is a check-in endpoint: compared with check-ins at full speed.
        if matches!(scenario, Scenario::Full | Scenario::Unchanged) {
            summary.ratio_to_baseline = baseline
                .filter(|b| *b > 0.0)
                .map(|b| summary.throughput / b);
        }
        print(&summary);
        runs.push(summary);
    }

    let failed = runs.iter().any(|r| r.target == "fixpoint" && r.failed > 0);
    let report = Report {
        simulator_peak_rss_bytes: memory::read("self").map_or(0, |(_, hwm)| hwm),
        runs,
    };
    match args.format {
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&report).context("the report serializes")?
        ),
        Format::Text => {
            println!("{}", summary::table(&report.runs));
            println!(
                "simulator peak RSS {:.0} MiB",
                report.simulator_peak_rss_bytes as f64 / (1024.0 * 1024.0)
            );
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// `fixpoint simulate seed`.
async fn seed(args: SeedArgs) -> anyhow::Result<ExitCode> {
    use crate::store::SeededMachine;
    anyhow::ensure!(args.batch >= 1, "--batch must be at least 1");
    let started = Instant::now();
    let store = args.database.open().await?;
    let generator = Arc::new(args.fleet.generator()?);
    let now = jiff::Timestamp::now();

    // The inventories the machines use, built on the blocking pool (they are hashed).
    let g = Arc::clone(&generator);
    let machines = args.machines;
    let inventories = tokio::task::spawn_blocking(move || {
        g.prepare(0..machines, false)?;
        let used: std::collections::BTreeSet<usize> =
            (0..machines).map(|m| g.inventory_of(m)).collect();
        used.into_iter()
            .map(|i| g.inventory(i))
            .collect::<anyhow::Result<Vec<_>>>()
    })
    .await
    .context("building the inventories")??;
    store
        .put_inventories(&inventories, now)
        .await
        .context("storing the inventories")?;

    let bar = progress(Format::Text, "seed");
    bar.set_length(args.machines);
    let mut written = 0u64;
    let batch = u64::try_from(args.batch).unwrap_or(u64::MAX);
    let mut first = 0;
    while first < args.machines {
        let end = (first + batch).min(args.machines);
        let mut records = Vec::with_capacity(usize::try_from(end - first).unwrap_or(0));
        let mut seeded = Vec::with_capacity(records.capacity());
        let mut random = vec![0u8; 32 * usize::try_from(end - first).unwrap_or(0)];
        getrandom::fill(&mut random).map_err(|e| anyhow::anyhow!("the random source: {e}"))?;
        for (n, bytes) in (first..end).zip(random.chunks(32)) {
            let id = format!("sim-{n:07}");
            let credential: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            seeded.push(SeededMachine {
                machine: generator.machine(&id, n)?,
                credential_hash: agents::credential_hash(&credential),
            });
            records.push(AgentRecord {
                id,
                credential,
                machine: n,
            });
        }
        store
            .seed_machines(&seeded, now)
            .await
            .with_context(|| format!("seeding machines {first} to {}", end - 1))?;
        agents::write(&args.agents, &records, first > 0)?;
        written += end - first;
        bar.set_position(written);
        first = end;
    }
    bar.finish_and_clear();
    store.close().await;
    println!(
        "seeded {} machines with {} distinct inventories of {} packages in {:.1} s; agents in {}",
        args.machines,
        inventories.len(),
        generator.config().packages,
        started.elapsed().as_secs_f64(),
        args.agents.display()
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn durations_are_read_in_friendly_units() {
        assert_eq!(parse_duration("200ms"), Ok(Duration::from_millis(200)));
        assert_eq!(parse_duration("60s"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn a_run_takes_several_servers_and_scenarios_in_order() {
        let cli = super::super::Cli::try_parse_from([
            "fixpoint",
            "simulate",
            "run",
            "--server",
            "http://127.0.0.1:1,http://127.0.0.1:2",
            "--server",
            "http://127.0.0.1:3",
            "--scenario",
            "enroll,full",
            "--scenario",
            "herd",
            "--herd-window",
            "1s",
        ])
        .expect("valid");
        let super::super::Command::Simulate(SimulateArgs {
            command: SimulateCommand::Run(run),
        }) = cli.command
        else {
            panic!("a run");
        };
        assert_eq!(run.servers.len(), 3);
        assert_eq!(
            run.scenarios,
            [Scenario::Enroll, Scenario::Full, Scenario::Herd]
        );
        let herd = run.shape(Scenario::Herd, 10).expect("shape");
        assert_eq!(herd.plan.pace, Pace::Spread(Duration::from_secs(1)));
        assert_eq!(
            herd.plan.retry.map(|r| r.deadline),
            Some(Duration::from_secs(121))
        );
        let full = run.shape(Scenario::Full, 10).expect("shape");
        assert_eq!((full.plan.jobs, full.plan.pace), (10, Pace::Closed));
    }
}
