//! libgit2's network timeouts, set once for the process.
//!
//! Without them libgit2 waits forever: a remote that accepts the connection and then says
//! nothing (a hung server, a black-holing firewall) would hold the reconcile loop's fetch,
//! and so the whole policy pipeline, indefinitely. libgit2 has two settings, both process-wide
//! C globals read each time a connection is opened: how long to wait for a TCP connect, and
//! how long any single read or write may block (the SSH transport hands the latter to
//! libssh2 as its session timeout, so it covers HTTP, HTTPS and SSH alike).
//!
//! git2 can set them only through `unsafe fn`s, because nothing synchronises the write with
//! a libgit2 thread that is reading them. The workspace forbids unsafe code; this crate exists
//! so the one call that needs it sits in one small, reviewed place, while every other crate
//! keeps `forbid(unsafe_code)`.

use std::ffi::c_int;
use std::sync::OnceLock;
use std::time::Duration;

/// How long libgit2 waits on the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// For a TCP connection to be established.
    pub connect: Duration,
    /// For any one read or write on an established connection: a remote that sends nothing
    /// for this long is given up on. Not a limit on the whole transfer, which may take as
    /// long as it keeps moving.
    pub io: Duration,
}

static IN_FORCE: OnceLock<Timeouts> = OnceLock::new();

/// Sets libgit2's timeouts, the first time it is called in the process; every later call
/// changes nothing. Returns the timeouts in force.
///
/// Call it before the process uses libgit2 from more than one thread: `fixpoint serve` does
/// so before it starts its runtime, and the git source calls it again (then a no-op) before
/// each fetch, so a library user who forgot still gets timeouts.
///
/// A duration is rounded down to whole milliseconds, raised to at least one (zero would
/// mean "wait forever" to libgit2) and capped at `i32::MAX` milliseconds (about 24 days).
pub fn set_once(wanted: Timeouts) -> Timeouts {
    *IN_FORCE.get_or_init(|| {
        let connect = millis(wanted.connect);
        let io = millis(wanted.io);
        #[allow(unsafe_code)]
        // SAFETY: the functions write two `int` globals that libgit2 reads when it opens a
        // connection; they touch no other state and cannot fail (git2 returns `Ok`
        // unconditionally). `OnceLock` makes this the only write in the process, and callers
        // make it before libgit2 is used concurrently (see above), so no libgit2 thread reads
        // the globals while they change.
        let set = unsafe {
            (
                git2::opts::set_server_connect_timeout_in_milliseconds(connect),
                git2::opts::set_server_timeout_in_milliseconds(io),
            )
        };
        // Both are infallible; should a future git2 make them fail, libgit2 keeps its default
        // (no timeout), which is what `in_force` then reports.
        Timeouts {
            connect: if set.0.is_ok() {
                duration(connect)
            } else {
                Duration::ZERO
            },
            io: if set.1.is_ok() {
                duration(io)
            } else {
                Duration::ZERO
            },
        }
    })
}

/// The timeouts set by [`set_once`], if it has been called; `None`: libgit2's defaults (no
/// timeouts at all).
pub fn in_force() -> Option<Timeouts> {
    IN_FORCE.get().copied()
}

fn millis(d: Duration) -> c_int {
    c_int::try_from(d.as_millis()).unwrap_or(c_int::MAX).max(1)
}

fn duration(ms: c_int) -> Duration {
    Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_call_sets_libgit2s_timeouts_and_later_calls_change_nothing() {
        let first = Timeouts {
            connect: Duration::from_millis(1_500),
            io: Duration::ZERO,
        };
        let set = set_once(first);
        assert_eq!(set.connect, Duration::from_millis(1_500));
        assert_eq!(set.io, Duration::from_millis(1), "zero is raised to 1 ms");
        let again = set_once(Timeouts {
            connect: Duration::from_secs(9),
            io: Duration::from_secs(9),
        });
        assert_eq!(again, set);
        assert_eq!(in_force(), Some(set));
        #[allow(unsafe_code)]
        // SAFETY: reads of the two globals; this test is the only code using libgit2 here.
        let (connect, io) = unsafe {
            (
                git2::opts::get_server_connect_timeout_in_milliseconds()
                    .expect("reading the connect timeout"),
                git2::opts::get_server_timeout_in_milliseconds().expect("reading the timeout"),
            )
        };
        assert_eq!((connect, io), (1_500, 1), "what libgit2 itself reports");
    }
}
