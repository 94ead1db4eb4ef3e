//! The engine: `concurrency` virtual clients, each with its own connections,
//! work through the jobs of a [`Plan`] and record what happened.
//!
//! - Open loop ([`Pace::Rate`]): job `i` is planned at `start + i / rate`, and
//!   its latency counts from that planned time. A server that stalls makes the
//!   clients late, and the lateness is in the latencies: no coordinated
//!   omission. (A client sends up to [`EARLY`] before the planned time, since
//!   timers are coarse; then the latency counts from when it sent.)
//! - Closed loop ([`Pace::Closed`]): each client sends its next request when the
//!   last is answered; the latency is the request's own. Maximum throughput.
//! - Thundering herd ([`Pace::Spread`] with a [`RetryPolicy`]): every job once,
//!   planned evenly over a window; a `503` is retried after its `Retry-After`
//!   (capped, with jitter), and a job fails only if it gets an error other than
//!   `503` or no success by the deadline.
//!
//! Latencies are of successful requests, in microseconds, in [`Histogram`]s
//! sharded so that the clients rarely wait for each other.

use std::borrow::Cow;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hdrhistogram::Histogram;
use indicatif::ProgressBar;
use tokio::time::Instant;

use super::client::{Connections, Endpoint};
use super::inventory::mix;

/// How early a client may send an open-loop request: tokio's timers tick
/// every millisecond.
pub const EARLY: Duration = Duration::from_millis(1);

/// How often a client waiting for its next job looks for retries that fell due.
const RETRY_POLL: Duration = Duration::from_millis(50);

/// The least time an open-loop run may overrun its duration (see `Run::hard_stop`);
/// short in unit tests, which wait for it in real time.
const BEHIND_GRACE: Duration = if cfg!(test) {
    Duration::from_millis(300)
} else {
    Duration::from_secs(10)
};

/// The failure kind of open-loop jobs still unsent at the hard stop.
pub const NOT_SENT: &str = "not sent: the clients fell too far behind";

/// Histogram shards; a client records into shard `client % SHARDS`.
const SHARDS: usize = 16;

/// The longest latency a histogram holds, in microseconds (longer ones count as this).
const MAX_LATENCY_US: u64 = 3_600_000_000;

/// When the jobs are sent.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pace {
    /// Each client sends its next request when its last is answered.
    Closed,
    /// Open loop at this many requests a second.
    Rate(f64),
    /// Every job once, planned evenly over the window.
    Spread(Duration),
}

/// What a `503` leads to: a retry after the `Retry-After`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// `Retry-After` longer than this waits this long (so the run ends).
    pub max_backoff: Duration,
    /// Jobs without a success this long after the start have failed.
    pub deadline: Duration,
    /// For the jitter: up to a quarter more than the wait.
    pub seed: u64,
}

/// The jobs of one run and how to send them.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Jobs (first attempts): `0..jobs`. `u64::MAX` with a `duration`.
    pub jobs: u64,
    pub pace: Pace,
    /// Virtual clients, each with one connection per server: at most this many
    /// requests in flight.
    pub concurrency: usize,
    /// No job is planned (or, closed loop, started) after this long.
    pub duration: Option<Duration>,
    /// Retries of shed requests; without, a `503` only counts.
    pub retry: Option<RetryPolicy>,
    /// A request without an answer this long fails.
    pub timeout: Duration,
}

/// How one request ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    /// `503`: the server shed it.
    Shed {
        retry_after: Option<Duration>,
    },
    /// Any other failure, by kind (`http 401`, `timeout`, …).
    Failed(Cow<'static, str>),
}

/// What one job of a scenario does.
pub trait Workload: Send + Sync + 'static {
    /// Runs job `job`; `connections.next_connection()` is the connection to send on.
    fn run(&self, connections: &mut Connections, job: u64) -> impl Future<Output = Outcome> + Send;
}

/// The failure kind of jobs that never succeeded before the deadline.
pub const GAVE_UP: &str = "no success by the deadline";

/// What a run counted.
#[derive(Debug, Clone)]
pub struct Tally {
    /// Requests answered or failed (retries included).
    pub requests: u64,
    pub ok: u64,
    /// `503`s.
    pub shed: u64,
    /// Retries scheduled after a `503`.
    pub retries: u64,
    /// Failed jobs by kind.
    pub failures: BTreeMap<String, u64>,
    /// From the start until the last client finished.
    pub elapsed: Duration,
    /// Latencies of successful requests, in microseconds.
    pub latency: Histogram<u64>,
    /// With retries: from each job's first planned time to its success, in microseconds.
    pub completion: Option<Histogram<u64>>,
    /// With retries: from the start until the last job succeeded.
    pub last_success: Option<Duration>,
}

impl Tally {
    pub fn failed(&self) -> u64 {
        self.failures.values().sum()
    }
}

/// A job to send: the first attempt or a retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Job {
    planned: Instant,
    index: u64,
    first: Instant,
    attempt: u32,
}

#[derive(Debug)]
struct Shard {
    latency: Histogram<u64>,
    completion: Histogram<u64>,
    failures: BTreeMap<String, u64>,
    retries: u64,
}

fn histogram() -> anyhow::Result<Histogram<u64>> {
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 3)
        .map_err(|e| anyhow::anyhow!("a latency histogram: {e}"))
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1)
}

/// State the clients share.
#[derive(Debug)]
struct Run {
    plan: Plan,
    start: Instant,
    next: AtomicU64,
    /// Jobs not finished (succeeded or failed), with retries.
    outstanding: AtomicU64,
    requests: AtomicU64,
    ok: AtomicU64,
    shed: AtomicU64,
    failed: AtomicU64,
    /// Microseconds from the start to the latest success.
    last_success: AtomicU64,
    retries: Mutex<BinaryHeap<Reverse<Job>>>,
    shards: Vec<Mutex<Shard>>,
}

impl Run {
    fn stop_at(&self) -> Option<Instant> {
        self.plan.duration.map(|d| self.start + d)
    }

    /// Open loop with a duration: jobs not sent by then (the clients fell that
    /// far behind a server that could not keep up) fail unsent, so that the
    /// run ends: twice the duration, and at least [`BEHIND_GRACE`] more.
    fn hard_stop(&self) -> Option<Instant> {
        match (self.plan.pace, self.plan.duration) {
            (Pace::Rate(_), Some(d)) => Some(self.start + d + d.max(BEHIND_GRACE)),
            _ => None,
        }
    }

    fn deadline(&self) -> Option<Instant> {
        self.plan.retry.map(|r| self.start + r.deadline)
    }

    fn planned(&self, i: u64, now: Instant) -> Instant {
        match self.plan.pace {
            Pace::Closed => now,
            Pace::Rate(rate) => self.start + Duration::from_secs_f64(i as f64 / rate),
            Pace::Spread(window) => {
                let jobs = self.plan.jobs.max(1) as f64;
                self.start + window.mul_f64(i as f64 / jobs)
            }
        }
    }

    fn due_retry(&self, now: Instant) -> Option<Job> {
        let mut heap = self.retries.lock().unwrap_or_else(|e| e.into_inner());
        match heap.peek() {
            Some(Reverse(job)) if job.planned <= now => heap.pop().map(|Reverse(j)| j),
            _ => None,
        }
    }

    fn next_retry(&self) -> Option<Instant> {
        let heap = self.retries.lock().unwrap_or_else(|e| e.into_inner());
        heap.peek().map(|Reverse(j)| j.planned)
    }

    fn shard(&self, client: usize) -> std::sync::MutexGuard<'_, Shard> {
        self.shards[client % SHARDS]
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// A job that cannot succeed before the deadline has failed.
    fn give_up(&self, client: usize) {
        self.failed.fetch_add(1, Ordering::Relaxed);
        *self
            .shard(client)
            .failures
            .entry(GAVE_UP.to_owned())
            .or_insert(0) += 1;
        self.finish_job();
    }

    fn finish_job(&self) {
        if self.plan.retry.is_some() {
            self.outstanding.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// Runs `plan` with `workload` against `endpoints` (round-robin), showing
/// progress on `progress`; returns the tally when every client is done.
pub async fn drive<W: Workload>(
    workload: Arc<W>,
    plan: Plan,
    endpoints: &[Arc<Endpoint>],
    progress: &ProgressBar,
) -> anyhow::Result<Tally> {
    anyhow::ensure!(plan.concurrency >= 1, "the concurrency must be at least 1");
    if let Pace::Rate(rate) = plan.pace {
        anyhow::ensure!(
            rate.is_finite() && rate > 0.0,
            "the rate must be above zero"
        );
    }
    anyhow::ensure!(
        plan.jobs < u64::MAX || plan.duration.is_some(),
        "a run needs a number of requests or a duration"
    );
    let clients = clients(&plan);
    let shards = (0..SHARDS)
        .map(|_| {
            Ok(Mutex::new(Shard {
                latency: histogram()?,
                completion: histogram()?,
                failures: BTreeMap::new(),
                retries: 0,
            }))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let connections = (0..clients)
        .map(|c| Connections::new(endpoints, c, plan.timeout))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let run = Arc::new(Run {
        outstanding: AtomicU64::new(if plan.retry.is_some() { plan.jobs } else { 0 }),
        plan,
        start: Instant::now(),
        next: AtomicU64::new(0),
        requests: AtomicU64::new(0),
        ok: AtomicU64::new(0),
        shed: AtomicU64::new(0),
        failed: AtomicU64::new(0),
        last_success: AtomicU64::new(0),
        retries: Mutex::new(BinaryHeap::new()),
        shards,
    });
    let ticker = tokio::spawn(show_progress(Arc::clone(&run), progress.clone()));
    let mut tasks = tokio::task::JoinSet::new();
    for (c, connections) in connections.into_iter().enumerate() {
        tasks.spawn(client(
            c,
            Arc::clone(&workload),
            Arc::clone(&run),
            connections,
        ));
    }
    while let Some(done) = tasks.join_next().await {
        if let Err(e) = done {
            ticker.abort();
            anyhow::bail!("a virtual client panicked: {e}");
        }
    }
    let elapsed = run.start.elapsed();
    ticker.abort();
    tally(&run, elapsed)
}

/// Virtual clients a plan runs: no more than it has jobs (a job is sent by one
/// client at a time, retries included).
pub fn clients(plan: &Plan) -> usize {
    usize::try_from(plan.jobs)
        .unwrap_or(usize::MAX)
        .min(plan.concurrency)
        .max(1)
}

fn tally(run: &Run, elapsed: Duration) -> anyhow::Result<Tally> {
    let mut latency = histogram()?;
    let mut completion = histogram()?;
    let mut failures = BTreeMap::new();
    let mut retries = 0;
    for shard in &run.shards {
        let shard = shard.lock().unwrap_or_else(|e| e.into_inner());
        latency
            .add(&shard.latency)
            .map_err(|e| anyhow::anyhow!("merging latencies: {e:?}"))?;
        completion
            .add(&shard.completion)
            .map_err(|e| anyhow::anyhow!("merging latencies: {e:?}"))?;
        for (kind, n) in &shard.failures {
            *failures.entry(kind.clone()).or_insert(0) += n;
        }
        retries += shard.retries;
    }
    let herd = run.plan.retry.is_some();
    if herd {
        // Jobs still waiting for a retry (or never started) at the deadline.
        let left = run.outstanding.load(Ordering::Acquire);
        if left > 0 {
            *failures.entry(GAVE_UP.to_owned()).or_insert(0) += left;
        }
    }
    Ok(Tally {
        requests: run.requests.load(Ordering::Relaxed),
        ok: run.ok.load(Ordering::Relaxed),
        shed: run.shed.load(Ordering::Relaxed),
        retries,
        failures,
        elapsed,
        latency,
        completion: herd.then_some(completion),
        last_success: herd.then(|| Duration::from_micros(run.last_success.load(Ordering::Relaxed))),
    })
}

async fn show_progress(run: Arc<Run>, bar: ProgressBar) {
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    loop {
        tick.tick().await;
        let ok = run.ok.load(Ordering::Relaxed);
        let seconds = run.start.elapsed().as_secs_f64().max(0.001);
        match run.plan.duration {
            Some(d) if run.plan.jobs == u64::MAX => {
                bar.set_length(d.as_millis().try_into().unwrap_or(u64::MAX));
                bar.set_position(
                    run.start
                        .elapsed()
                        .as_millis()
                        .min(d.as_millis())
                        .try_into()
                        .unwrap_or(u64::MAX),
                );
            }
            _ => {
                bar.set_length(run.plan.jobs);
                let done = if run.plan.retry.is_some() {
                    run.plan
                        .jobs
                        .saturating_sub(run.outstanding.load(Ordering::Relaxed))
                } else {
                    run.requests.load(Ordering::Relaxed)
                };
                bar.set_position(done);
            }
        }
        bar.set_message(format!(
            "{ok} ok, {:.0}/s, {} shed, {} failed",
            ok as f64 / seconds,
            run.shed.load(Ordering::Relaxed),
            run.failed.load(Ordering::Relaxed)
        ));
    }
}

/// Sleeps until `until` (less [`EARLY`] in open loop), running retries that
/// fall due meanwhile.
async fn wait_until<W: Workload>(
    c: usize,
    until: Instant,
    workload: &W,
    run: &Run,
    connections: &mut Connections,
) {
    let target = until.checked_sub(EARLY).unwrap_or(until);
    loop {
        let now = Instant::now();
        if now >= target {
            return;
        }
        if run.plan.retry.is_none() {
            tokio::time::sleep_until(target).await;
            return;
        }
        if let Some(job) = run.due_retry(now) {
            send(c, job, workload, run, connections).await;
            continue;
        }
        tokio::time::sleep_until(target.min(now + RETRY_POLL)).await;
    }
}

/// One virtual client: due retries first, then the next job, until none is left.
async fn client<W: Workload>(
    c: usize,
    workload: Arc<W>,
    run: Arc<Run>,
    mut connections: Connections,
) {
    loop {
        let now = Instant::now();
        if run.plan.retry.is_some()
            && let Some(job) = run.due_retry(now)
        {
            if run.deadline().is_some_and(|d| now >= d) {
                run.give_up(c);
                continue;
            }
            send(c, job, &*workload, &run, &mut connections).await;
            continue;
        }
        if run.plan.pace == Pace::Closed && run.stop_at().is_some_and(|s| now >= s) {
            return;
        }
        let i = run.next.fetch_add(1, Ordering::Relaxed);
        if i >= run.plan.jobs {
            // Only retries may be left.
            run.next.fetch_sub(1, Ordering::Relaxed);
            if run.plan.retry.is_none()
                || run.outstanding.load(Ordering::Acquire) == 0
                || run.deadline().is_some_and(|d| now >= d)
            {
                return;
            }
            let wake = run
                .next_retry()
                .unwrap_or(now + RETRY_POLL)
                .min(now + RETRY_POLL);
            tokio::time::sleep_until(wake).await;
            continue;
        }
        let planned = run.planned(i, now);
        if run.plan.pace != Pace::Closed && run.stop_at().is_some_and(|s| planned >= s) {
            return;
        }
        if planned > now {
            wait_until(c, planned, &*workload, &run, &mut connections).await;
        } else if run.hard_stop().is_some_and(|h| now >= h) {
            run.failed.fetch_add(1, Ordering::Relaxed);
            *run.shard(c)
                .failures
                .entry(NOT_SENT.to_owned())
                .or_insert(0) += 1;
            continue;
        }
        let job = Job {
            planned,
            index: i,
            first: planned,
            attempt: 0,
        };
        send(c, job, &*workload, &run, &mut connections).await;
    }
}

/// Sends one job and records how it ended.
async fn send<W: Workload>(
    c: usize,
    job: Job,
    workload: &W,
    run: &Run,
    connections: &mut Connections,
) {
    let sent = Instant::now();
    let outcome = workload.run(connections, job.index).await;
    let done = Instant::now();
    run.requests.fetch_add(1, Ordering::Relaxed);
    // From the planned time, unless the client sent early (see `EARLY`).
    let from = job.planned.min(sent);
    match outcome {
        Outcome::Ok => {
            run.ok.fetch_add(1, Ordering::Relaxed);
            {
                let mut shard = run.shard(c);
                shard.latency.saturating_record(micros(done - from));
                if run.plan.retry.is_some() {
                    shard.completion.saturating_record(micros(done - job.first));
                }
            }
            if run.plan.retry.is_some() {
                run.last_success
                    .fetch_max(micros(done - run.start), Ordering::Relaxed);
            }
            run.finish_job();
        }
        Outcome::Shed { retry_after } => {
            run.shed.fetch_add(1, Ordering::Relaxed);
            let Some(policy) = run.plan.retry else {
                return;
            };
            let wait = retry_after
                .unwrap_or(Duration::from_secs(1))
                .min(policy.max_backoff);
            let jitter = {
                let r = mix(policy.seed ^ job.index, u64::from(job.attempt));
                (r >> 11) as f64 / (1u64 << 53) as f64
            };
            let due = done + wait.mul_f64(1.0 + 0.25 * jitter);
            if due >= run.start + policy.deadline {
                run.give_up(c);
                return;
            }
            run.shard(c).retries += 1;
            run.retries
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(Reverse(Job {
                    planned: due,
                    index: job.index,
                    first: job.first,
                    attempt: job.attempt + 1,
                }));
        }
        Outcome::Failed(kind) => {
            run.failed.fetch_add(1, Ordering::Relaxed);
            *run.shard(c).failures.entry(kind.into_owned()).or_insert(0) += 1;
            run.finish_job();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Answers every job after `delay`; the jobs below `shed_first` are shed
    /// on their first attempt; job 3 fails.
    struct Fake {
        delay: Duration,
        shed_first: u64,
        seen: Mutex<BTreeMap<u64, u32>>,
    }

    impl Workload for Fake {
        fn run(&self, _: &mut Connections, job: u64) -> impl Future<Output = Outcome> + Send {
            let attempt = {
                let mut seen = self.seen.lock().expect("lock");
                let n = seen.entry(job).or_insert(0);
                *n += 1;
                *n
            };
            let delay = self.delay;
            let shed = job < self.shed_first && attempt == 1;
            async move {
                tokio::time::sleep(delay).await;
                if shed {
                    Outcome::Shed {
                        retry_after: Some(Duration::from_secs(30)),
                    }
                } else if job == 3 {
                    Outcome::Failed("http 400".into())
                } else {
                    Outcome::Ok
                }
            }
        }
    }

    fn endpoints() -> Vec<Arc<Endpoint>> {
        vec![Arc::new(
            Endpoint::parse("http://127.0.0.1:9").expect("endpoint"),
        )]
    }

    fn plan(jobs: u64, pace: Pace, retry: Option<RetryPolicy>) -> Plan {
        Plan {
            jobs,
            pace,
            concurrency: 4,
            duration: None,
            retry,
            timeout: Duration::from_secs(5),
        }
    }

    #[tokio::test]
    async fn an_open_loop_run_keeps_its_rate_and_counts_every_outcome() {
        let fake = Arc::new(Fake {
            delay: Duration::from_millis(2),
            shed_first: 2,
            seen: Mutex::new(BTreeMap::new()),
        });
        let started = Instant::now();
        let tally = drive(
            fake,
            plan(40, Pace::Rate(200.0), None),
            &endpoints(),
            &ProgressBar::hidden(),
        )
        .await
        .expect("runs");
        // 40 requests at 200/s take about 0.2 s.
        assert!(started.elapsed() >= Duration::from_millis(190));
        assert_eq!(tally.requests, 40);
        assert_eq!(tally.shed, 2);
        assert_eq!(tally.ok, 37);
        assert_eq!(tally.failures, BTreeMap::from([("http 400".to_owned(), 1)]));
        assert_eq!(tally.latency.len(), 37);
        assert!(tally.latency.value_at_quantile(0.5) >= 2_000);
        assert!(tally.completion.is_none());
    }

    #[tokio::test]
    async fn a_late_client_counts_its_lateness_in_the_latency() {
        // One client, 20 ms a request, planned every 5 ms: the 10th request is
        // sent about 135 ms after its planned time.
        let fake = Arc::new(Fake {
            delay: Duration::from_millis(20),
            shed_first: 0,
            seen: Mutex::new(BTreeMap::new()),
        });
        let mut p = plan(10, Pace::Rate(200.0), None);
        p.concurrency = 1;
        let tally = drive(fake, p, &endpoints(), &ProgressBar::hidden())
            .await
            .expect("runs");
        assert!(tally.latency.max() >= 150_000, "{} µs", tally.latency.max());
    }

    #[tokio::test]
    async fn a_herd_retries_shed_jobs_until_each_succeeds() {
        let fake = Arc::new(Fake {
            delay: Duration::from_millis(1),
            shed_first: 10,
            seen: Mutex::new(BTreeMap::new()),
        });
        let retry = RetryPolicy {
            max_backoff: Duration::from_millis(50),
            deadline: Duration::from_secs(10),
            seed: 1,
        };
        let tally = drive(
            Arc::clone(&fake),
            plan(20, Pace::Spread(Duration::from_millis(100)), Some(retry)),
            &endpoints(),
            &ProgressBar::hidden(),
        )
        .await
        .expect("runs");
        assert_eq!(tally.shed, 10);
        assert_eq!(tally.retries, 10);
        assert_eq!(tally.requests, 30);
        assert_eq!(tally.ok, 19);
        assert_eq!(tally.failed(), 1);
        let completion = tally.completion.expect("a herd");
        assert_eq!(completion.len(), 19);
        // A retried job took its backoff (50 ms, capped from 30 s) and more.
        assert!(completion.max() >= 50_000, "{}", completion.max());
        assert!(completion.max() < 2_000_000, "{}", completion.max());
        assert!(tally.last_success.expect("a herd") >= Duration::from_millis(50));
    }

    #[tokio::test]
    async fn a_herd_job_without_success_by_the_deadline_has_failed() {
        let fake = Arc::new(Fake {
            delay: Duration::from_millis(1),
            shed_first: 5,
            seen: Mutex::new(BTreeMap::new()),
        });
        let retry = RetryPolicy {
            max_backoff: Duration::from_secs(1),
            deadline: Duration::from_millis(300),
            seed: 1,
        };
        let tally = drive(
            fake,
            plan(8, Pace::Spread(Duration::ZERO), Some(retry)),
            &endpoints(),
            &ProgressBar::hidden(),
        )
        .await
        .expect("runs");
        // Jobs 0 to 4 are shed and their retry would come after the deadline.
        assert_eq!(tally.ok, 3);
        assert_eq!(tally.failures, BTreeMap::from([(GAVE_UP.to_owned(), 5)]));
        assert!(
            tally.elapsed < Duration::from_millis(250),
            "{:?}",
            tally.elapsed
        );
    }

    #[tokio::test]
    async fn an_open_loop_run_far_behind_its_rate_ends_and_counts_what_it_did_not_send() {
        // One client, 100 ms a request, 100 planned a second for 100 ms: after
        // the grace (300 ms in tests) the rest of the 10 fail unsent.
        let fake = Arc::new(Fake {
            delay: Duration::from_millis(100),
            shed_first: 0,
            seen: Mutex::new(BTreeMap::new()),
        });
        let mut p = plan(u64::MAX, Pace::Rate(100.0), None);
        p.concurrency = 1;
        p.duration = Some(Duration::from_millis(100));
        let tally = drive(fake, p, &endpoints(), &ProgressBar::hidden())
            .await
            .expect("runs");
        assert_eq!(tally.ok + tally.failed(), 10, "{tally:?}");
        // Job 3 is sent and fails with a 400.
        let sent = tally.requests;
        assert_eq!(sent, tally.ok + 1, "{tally:?}");
        assert!((4..=6).contains(&sent), "{sent}");
        assert_eq!(tally.failures.get(NOT_SENT), Some(&(10 - sent)));
        assert!(
            tally.elapsed < Duration::from_millis(900),
            "{:?}",
            tally.elapsed
        );
    }

    #[tokio::test]
    async fn a_closed_loop_run_stops_after_its_duration() {
        let fake = Arc::new(Fake {
            delay: Duration::from_millis(5),
            shed_first: 0,
            seen: Mutex::new(BTreeMap::new()),
        });
        let mut p = plan(u64::MAX, Pace::Closed, None);
        p.duration = Some(Duration::from_millis(200));
        let tally = drive(fake, p, &endpoints(), &ProgressBar::hidden())
            .await
            .expect("runs");
        assert!(
            tally.elapsed < Duration::from_millis(400),
            "{:?}",
            tally.elapsed
        );
        // 4 clients, 5 ms a request, 200 ms: about 160.
        assert!((60..=170).contains(&tally.requests), "{}", tally.requests);
    }
}
