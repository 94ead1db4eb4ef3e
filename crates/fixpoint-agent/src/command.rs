//! Running a program (the package tool, a hook, the reboot command) with a
//! time limit, its standard output and error together in one log, and its
//! whole process group killed when the time is up.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How a command ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ran {
    /// The exit code; `None` when killed (by the time limit or a signal) or
    /// when it could not be started.
    pub exit_code: Option<i32>,
    /// Standard output and error as they came, the last [`LOG_LIMIT`] bytes.
    pub log: String,
    pub timed_out: bool,
}

impl Ran {
    pub fn success(&self) -> bool {
        self.exit_code == Some(0)
    }
}

/// Output kept of one command: the end, where errors are.
pub const LOG_LIMIT: usize = 64 * 1024;

/// Runs `command` to its end or until `limit`, then kills its process group.
/// A command that cannot start gives an exit code of `None` and says why in
/// its log.
pub fn run(mut command: Command, limit: Duration) -> Ran {
    let shown = format!("{command:?}");
    let (reader, writer) = match std::io::pipe() {
        Ok(pair) => pair,
        Err(e) => return not_started(&shown, &e),
    };
    let writer2 = match writer.try_clone() {
        Ok(w) => w,
        Err(e) => return not_started(&shown, &e),
    };
    command.stdin(Stdio::null()).stdout(writer).stderr(writer2);
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    let mut child = match command.spawn() {
        Ok(c) => c,
        Err(e) => return not_started(&shown, &e),
    };
    // The command holds the pipe's writing ends now; ours must close for the
    // reader to see the end.
    drop(command);
    let collector = std::thread::spawn(move || collect(reader));
    let started = Instant::now();
    let mut timed_out = false;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if started.elapsed() >= limit => {
                timed_out = true;
                kill_group(child.id());
                break child.wait().ok();
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(_) => break None,
        }
    };
    // Children of the command that outlive it keep the pipe open: end the group.
    kill_group(child.id());
    let mut log = collector.join().unwrap_or_default();
    if timed_out {
        log.push_str(&format!(
            "\n[fixpoint-agent: killed after {} s, its time limit]\n",
            limit.as_secs()
        ));
    }
    Ran {
        exit_code: status.and_then(|s| s.code()),
        log,
        timed_out,
    }
}

fn not_started(shown: &str, e: &std::io::Error) -> Ran {
    Ran {
        exit_code: None,
        log: format!("[fixpoint-agent: cannot run {shown}: {e}]\n"),
        timed_out: false,
    }
}

/// Reads the pipe to its end, keeping the last [`LOG_LIMIT`] bytes.
fn collect(mut reader: std::io::PipeReader) -> String {
    let mut kept: Vec<u8> = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match reader.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                kept.extend_from_slice(&buf[..n]);
                if kept.len() > 2 * LOG_LIMIT {
                    kept.drain(..kept.len() - LOG_LIMIT);
                }
            }
        }
    }
    if kept.len() > LOG_LIMIT {
        kept.drain(..kept.len() - LOG_LIMIT);
    }
    String::from_utf8_lossy(&kept).into_owned()
}

#[cfg(unix)]
fn kill_group(pid: u32) {
    use rustix::process::{Pid, Signal, kill_process_group};
    if let Some(pid) = i32::try_from(pid).ok().and_then(Pid::from_raw) {
        // Gone already is fine.
        let _ = kill_process_group(pid, Signal::KILL);
    }
}

#[cfg(not(unix))]
fn kill_group(_pid: u32) {}

/// `/bin/sh -c <line>`.
pub fn shell(line: &str) -> Command {
    let mut c = Command::new("/bin/sh");
    c.arg("-c").arg(line);
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_and_errors_are_kept_in_order_with_the_exit_code() {
        let ran = run(
            shell("echo one; echo two >&2; exit 3"),
            Duration::from_secs(10),
        );
        assert_eq!(ran.exit_code, Some(3));
        assert_eq!(ran.log, "one\ntwo\n");
        assert!(!ran.timed_out && !ran.success());
    }

    #[test]
    fn a_command_past_its_limit_is_killed_with_its_children() {
        let dir = tempfile::tempdir().expect("tempdir");
        let marker = dir.path().join("survived");
        let line = format!("(sleep 2; touch {}) & sleep 30", marker.display());
        let started = Instant::now();
        let ran = run(shell(&line), Duration::from_millis(300));
        assert!(ran.timed_out);
        assert_eq!(ran.exit_code, None);
        assert!(ran.log.contains("killed after"), "{}", ran.log);
        assert!(started.elapsed() < Duration::from_secs(10));
        std::thread::sleep(Duration::from_millis(2500));
        assert!(!marker.exists(), "the background child was killed too");
    }

    #[test]
    fn a_missing_program_is_a_failure_that_says_so() {
        let ran = run(Command::new("/nonexistent/dpkg"), Duration::from_secs(1));
        assert_eq!(ran.exit_code, None);
        assert!(ran.log.contains("/nonexistent/dpkg"), "{}", ran.log);
    }

    #[test]
    fn only_the_end_of_a_long_log_is_kept() {
        let ran = run(
            shell("head -c 300000 /dev/zero | tr '\\0' a; echo END"),
            Duration::from_secs(10),
        );
        assert!(ran.success());
        assert_eq!(ran.log.len(), LOG_LIMIT);
        assert!(ran.log.ends_with("aEND\n"));
    }
}
