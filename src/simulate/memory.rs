//! A process's resident memory from `/proc/PID/status` (Linux): sampled during
//! a run for its peak, with the kernel's own high-water mark beside it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What was seen of one process.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProcessMemory {
    pub pid: u32,
    /// The largest resident set sampled during the run, in bytes.
    pub peak_rss_bytes: u64,
    /// The resident set at the end of the run.
    pub rss_bytes: u64,
    /// `VmHWM`: the largest resident set since the process started (the
    /// kernel's; also counts what came before the run).
    pub hwm_bytes: u64,
    /// Whether the process could be read at all.
    pub readable: bool,
}

/// `VmRSS` and `VmHWM` of `pid` ("self" for this process), in bytes.
pub fn read(pid: &str) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status.lines().find_map(|l| {
            let rest = l.strip_prefix(name)?.trim();
            let kib: u64 = rest.strip_suffix("kB")?.trim().parse().ok()?;
            Some(kib * 1024)
        })
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// Samples processes until stopped.
#[derive(Debug)]
pub struct Sampler {
    seen: Arc<Mutex<Vec<ProcessMemory>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Sampler {
    /// Starts sampling `pids` every `interval`.
    pub fn start(pids: &[u32], interval: Duration) -> Sampler {
        let seen = Arc::new(Mutex::new(
            pids.iter()
                .map(|&pid| ProcessMemory {
                    pid,
                    ..ProcessMemory::default()
                })
                .collect::<Vec<_>>(),
        ));
        let shared = Arc::clone(&seen);
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            loop {
                tick.tick().await;
                sample(&shared);
            }
        });
        Sampler { seen, task }
    }

    /// Stops, with one last sample.
    pub fn stop(self) -> Vec<ProcessMemory> {
        self.task.abort();
        sample(&self.seen);
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

fn sample(seen: &Mutex<Vec<ProcessMemory>>) {
    let mut seen = seen.lock().unwrap_or_else(|e| e.into_inner());
    for p in seen.iter_mut() {
        if let Some((rss, hwm)) = read(&p.pid.to_string()) {
            p.readable = true;
            p.peak_rss_bytes = p.peak_rss_bytes.max(rss);
            p.rss_bytes = rss;
            p.hwm_bytes = hwm;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(target_os = "linux")]
    fn this_process_has_a_resident_set_below_its_high_water_mark() {
        let (rss, hwm) = read("self").expect("/proc/self/status");
        assert!(rss > 0 && hwm >= rss, "{rss} {hwm}");
        assert_eq!(read("4294967295"), None);
    }

    #[tokio::test]
    #[cfg(target_os = "linux")]
    async fn the_sampler_keeps_the_peak_of_each_process() {
        let sampler = Sampler::start(&[std::process::id(), u32::MAX], Duration::from_millis(5));
        tokio::time::sleep(Duration::from_millis(30)).await;
        let seen = sampler.stop();
        assert!(seen[0].readable && seen[0].peak_rss_bytes >= seen[0].rss_bytes.min(1));
        assert!(seen[0].peak_rss_bytes > 0);
        assert!(!seen[1].readable);
    }
}
