//! What a run reports: counts, throughput, latency percentiles, the herd's
//! completion and the servers' memory; as text (a block per run and a table
//! to paste into BENCHMARKS.md) or as JSON.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use super::load::Tally;
use super::memory::ProcessMemory;

/// Latency percentiles, in milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Latency {
    /// Samples.
    pub count: u64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
    pub mean: f64,
}

impl Latency {
    /// From a histogram of microseconds.
    pub fn from_micros(h: &Histogram<u64>) -> Latency {
        if h.is_empty() {
            return Latency::default();
        }
        let ms = |us: u64| us as f64 / 1_000.0;
        Latency {
            count: h.len(),
            p50: ms(h.value_at_quantile(0.5)),
            p90: ms(h.value_at_quantile(0.9)),
            p99: ms(h.value_at_quantile(0.99)),
            p999: ms(h.value_at_quantile(0.999)),
            max: ms(h.max()),
            mean: h.mean() / 1_000.0,
        }
    }
}

/// A thundering herd's outcome.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Herd {
    pub agents: u64,
    pub succeeded: u64,
    pub failed: u64,
    /// From the start until the last agent's check-in succeeded.
    pub absorbed_seconds: f64,
    /// From each agent's first attempt to its success.
    pub time_to_success_ms: Latency,
}

/// One run: a scenario against a target.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// `enroll`, `full`, `unchanged`, `herd`, `report`.
    pub scenario: String,
    /// What the run was for, in the scenario column of the table (`cold`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// `fixpoint`, or `bare` for the baseline endpoint.
    pub target: String,
    pub servers: Vec<String>,
    /// `closed`, `rate N/s`, `herd over Ns`.
    pub pace: String,
    /// Virtual clients (connections per server).
    pub concurrency: usize,
    /// Virtual agents the jobs went to.
    pub agents: u64,
    pub requests: u64,
    pub ok: u64,
    /// Answered 503 (shed by the server).
    pub shed: u64,
    /// Retries after a 503.
    pub retries: u64,
    pub failed: u64,
    /// Failures by kind: `http 401 unauthorized`, `timeout`, …
    pub failures: BTreeMap<String, u64>,
    /// Check-ins answered `inventoryNeeded`, then sent again in full.
    pub inventory_needed: u64,
    /// Instructions in the check-ins' answers.
    pub instructions: u64,
    /// Results sent in reports, and accepted as new.
    pub results_sent: u64,
    pub results_accepted: u64,
    pub seconds: f64,
    /// Successful requests a second.
    pub throughput: f64,
    /// Of successful requests, from their planned time (open loop) or their
    /// sending (closed loop).
    pub latency_ms: Latency,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub herd: Option<Herd>,
    /// `throughput` over the bare endpoint's, when it was measured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ratio_to_baseline: Option<f64>,
    pub server_memory: Vec<ProcessMemory>,
}

impl Summary {
    /// The generic part of a summary, from a tally.
    pub fn from_tally(scenario: &str, target: &str, tally: &Tally) -> Summary {
        let seconds = tally.elapsed.as_secs_f64();
        Summary {
            scenario: scenario.to_owned(),
            target: target.to_owned(),
            requests: tally.requests,
            ok: tally.ok,
            shed: tally.shed,
            retries: tally.retries,
            failed: tally.failed(),
            failures: tally.failures.clone(),
            seconds,
            throughput: if seconds > 0.0 {
                tally.ok as f64 / seconds
            } else {
                0.0
            },
            latency_ms: Latency::from_micros(&tally.latency),
            herd: tally.completion.as_ref().map(|completion| Herd {
                agents: 0,
                succeeded: completion.len(),
                failed: tally.failed(),
                absorbed_seconds: tally.last_success.map_or(0.0, |d| d.as_secs_f64()),
                time_to_success_ms: Latency::from_micros(completion),
            }),
            ..Summary::default()
        }
    }

    /// The scenario, and its label if it has one: `unchanged (cold)`.
    pub fn name(&self) -> String {
        match &self.label {
            Some(label) => format!("{} ({label})", self.scenario),
            None => self.scenario.clone(),
        }
    }

    /// A block of text for people.
    pub fn text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{} against {} ({}): {}, {} clients, {} agents, {:.1} s",
            self.name(),
            self.target,
            self.servers.join(", "),
            self.pace,
            self.concurrency,
            self.agents,
            self.seconds
        );
        let _ = writeln!(
            out,
            "  requests {}: {} ok, {} shed (503), {} retries, {} failed",
            self.requests, self.ok, self.shed, self.retries, self.failed
        );
        for (kind, n) in &self.failures {
            let _ = writeln!(out, "    {n} × {kind}");
        }
        let _ = write!(out, "  throughput {:.0}/s", self.throughput);
        if let Some(ratio) = self.ratio_to_baseline {
            let _ = write!(out, " ({:.3} of the bare endpoint)", ratio);
        }
        out.push('\n');
        let l = &self.latency_ms;
        let _ = writeln!(
            out,
            "  latency ms: p50 {:.2}  p90 {:.2}  p99 {:.2}  p99.9 {:.2}  max {:.2}  (mean {:.2})",
            l.p50, l.p90, l.p99, l.p999, l.max, l.mean
        );
        if self.inventory_needed > 0 {
            let _ = writeln!(
                out,
                "  {} check-ins answered inventoryNeeded and sent again in full",
                self.inventory_needed
            );
        }
        if self.instructions > 0 || self.results_sent > 0 {
            let _ = writeln!(
                out,
                "  {} instructions received; {} results reported, {} accepted as new",
                self.instructions, self.results_sent, self.results_accepted
            );
        }
        if let Some(h) = &self.herd {
            let t = &h.time_to_success_ms;
            let _ = writeln!(
                out,
                "  herd: {} of {} agents checked in, {} failed; the last after {:.1} s; \
                 time to success p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
                h.succeeded, h.agents, h.failed, h.absorbed_seconds, t.p50, t.p99, t.max
            );
        }
        for m in &self.server_memory {
            if m.readable {
                let _ = writeln!(
                    out,
                    "  server pid {}: peak RSS {} during the run (high-water mark {})",
                    m.pid,
                    mib(m.peak_rss_bytes),
                    mib(m.hwm_bytes)
                );
            } else {
                let _ = writeln!(
                    out,
                    "  server pid {}: /proc/{}/status unreadable",
                    m.pid, m.pid
                );
            }
        }
        out
    }
}

fn mib(bytes: u64) -> String {
    format!("{:.0} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// The runs as a Markdown table.
pub fn table(runs: &[Summary]) -> String {
    let mut out = String::from(
        "| scenario | target | pace | clients | agents | requests | ok | 503 | retries | failed \
         | /s | vs bare | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | server peak RSS |\n\
         |---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n",
    );
    for r in runs {
        let l = &r.latency_ms;
        let rss: u64 = r.server_memory.iter().map(|m| m.peak_rss_bytes).sum();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.0} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {} |",
            r.name(),
            r.target,
            r.pace,
            r.concurrency,
            r.agents,
            r.requests,
            r.ok,
            r.shed,
            r.retries,
            r.failed,
            r.throughput,
            r.ratio_to_baseline
                .map_or_else(|| "–".to_owned(), |x| format!("{x:.3}")),
            l.p50,
            l.p90,
            l.p99,
            l.p999,
            l.max,
            if rss > 0 { mib(rss) } else { "–".to_owned() },
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn histogram(values: impl IntoIterator<Item = u64>) -> Histogram<u64> {
        let mut h = Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("histogram");
        for v in values {
            h.record(v).expect("in range");
        }
        h
    }

    #[test]
    fn percentiles_are_read_from_the_histogram_in_milliseconds() {
        // 1 ms to 1000 ms, one sample each.
        let h = histogram((1..=1_000).map(|ms| ms * 1_000));
        let l = Latency::from_micros(&h);
        assert_eq!(l.count, 1_000);
        let near = |a: f64, b: f64| (a - b).abs() <= b * 0.001 + 0.001;
        assert!(near(l.p50, 500.0), "{l:?}");
        assert!(near(l.p90, 900.0), "{l:?}");
        assert!(near(l.p99, 990.0), "{l:?}");
        assert!(near(l.p999, 999.0), "{l:?}");
        assert!(near(l.max, 1_000.0), "{l:?}");
        assert!(near(l.mean, 500.5), "{l:?}");
        assert_eq!(Latency::from_micros(&histogram([])), Latency::default());
    }

    #[test]
    fn a_summary_adds_up_its_tally_and_prints_it() {
        let tally = Tally {
            requests: 110,
            ok: 100,
            shed: 8,
            retries: 8,
            failures: BTreeMap::from([
                ("http 401 unauthorized".to_owned(), 1),
                ("timeout".to_owned(), 1),
            ]),
            elapsed: Duration::from_secs(4),
            latency: histogram((1..=100).map(|ms| ms * 100)),
            completion: Some(histogram((1..=100).map(|ms| ms * 1_000))),
            last_success: Some(Duration::from_millis(3_500)),
        };
        let mut s = Summary::from_tally("herd", "fixpoint", &tally);
        assert_eq!(s.failed, 2);
        assert!((s.throughput - 25.0).abs() < 1e-9);
        let herd = s.herd.clone().expect("a herd");
        assert_eq!((herd.succeeded, herd.failed), (100, 2));
        assert!((herd.absorbed_seconds - 3.5).abs() < 1e-9);
        s.ratio_to_baseline = Some(0.25);
        s.pace = "herd over 1 s".into();
        s.label = Some("after a restart".into());
        let text = s.text();
        assert!(
            text.contains("requests 110: 100 ok, 8 shed (503), 8 retries, 2 failed"),
            "{text}"
        );
        assert!(text.contains("1 × http 401 unauthorized"), "{text}");
        assert!(
            text.contains("throughput 25/s (0.250 of the bare endpoint)"),
            "{text}"
        );
        let table = table(&[s.clone()]);
        assert_eq!(table.lines().count(), 3, "{table}");
        assert!(
            table.contains("| herd (after a restart) | fixpoint | herd over 1 s |"),
            "{table}"
        );
        let json = serde_json::to_value(&s).expect("json");
        assert_eq!(json["latencyMs"]["count"], 100);
        assert_eq!(json["ratioToBaseline"], 0.25);
        assert_eq!(json["herd"]["succeeded"], 100);
    }
}
