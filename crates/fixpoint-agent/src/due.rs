//! When an instruction may be carried out, by the agent's own clock: inside
//! its window (from `notBefore` until `windowEnd`), or at once after its
//! deadline. Pure: `now` is an argument.
//!
//! The agent acts on this at the moment a window opens, not at its next
//! check-in: a one-hour window is never missed because the 90-minute
//! check-in fell outside it.

use fixpoint_core::protocol::Instruction;
use jiff::Timestamp;

/// When an instruction is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    /// It may run now.
    Now,
    /// Not yet: at this instant (its window opens, or its deadline passes).
    At(Timestamp),
    /// Its window closed and it has no deadline: the server will send a new
    /// instruction for the next window.
    Missed,
}

/// When `instruction` is due at `now`.
pub fn due(instruction: &Instruction, now: Timestamp) -> Due {
    if instruction.deadline.is_some_and(|d| d <= now) {
        return Due::Now;
    }
    let opens = instruction.not_before.filter(|start| *start > now);
    let closes = instruction.window_end;
    match opens {
        None if closes.is_none_or(|end| now < end) => Due::Now,
        // The window has closed: only the deadline is left.
        None => instruction.deadline.map_or(Due::Missed, Due::At),
        Some(start) => {
            // A window that ends before it opens is no window: wait for the deadline.
            let window = closes.is_none_or(|end| start < end).then_some(start);
            match (window, instruction.deadline) {
                (Some(w), Some(d)) => Due::At(w.min(d)),
                (Some(w), None) => Due::At(w),
                (None, Some(d)) => Due::At(d),
                (None, None) => Due::Missed,
            }
        }
    }
}

/// A short description for logs and journaled results: `in its window until
/// …`, `after its deadline …`, `at once`.
pub fn why_now(instruction: &Instruction, now: Timestamp) -> String {
    match (instruction.deadline, instruction.window_end) {
        (Some(d), _) if d <= now => format!("its deadline {d} has passed"),
        (_, Some(end)) => format!("in its window, which closes at {end}"),
        _ => "at once (no window)".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use fixpoint_core::policy::RebootMode;
    use fixpoint_core::protocol::{Action, RebootInstruction};

    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().expect("timestamp")
    }

    fn instruction(
        not_before: Option<&str>,
        end: Option<&str>,
        deadline: Option<&str>,
    ) -> Instruction {
        Instruction {
            id: "i-1".into(),
            action: Action::Remove {
                package: "telnetd".into(),
                version: "0.17-44".into(),
            },
            not_before: not_before.map(at),
            window_end: end.map(at),
            deadline: deadline.map(at),
            reboot: RebootInstruction {
                mode: RebootMode::Never,
                grace_seconds: 0,
            },
            hooks: Default::default(),
        }
    }

    const NOW: &str = "2026-12-03T12:00:00Z";

    #[test]
    fn without_times_an_instruction_is_due_at_once() {
        assert_eq!(due(&instruction(None, None, None), at(NOW)), Due::Now);
    }

    #[test]
    fn a_window_that_opens_later_is_due_at_its_opening() {
        let i = instruction(
            Some("2026-12-04T02:00:00Z"),
            Some("2026-12-04T03:00:00Z"),
            None,
        );
        assert_eq!(due(&i, at(NOW)), Due::At(at("2026-12-04T02:00:00Z")));
        assert_eq!(due(&i, at("2026-12-04T02:00:00Z")), Due::Now);
        assert_eq!(due(&i, at("2026-12-04T02:59:59Z")), Due::Now);
        // The window's end is exclusive.
        assert_eq!(due(&i, at("2026-12-04T03:00:00Z")), Due::Missed);
    }

    #[test]
    fn an_open_window_is_due_now_and_a_closed_one_waits_for_the_deadline() {
        let i = instruction(
            None,
            Some("2026-12-03T13:00:00Z"),
            Some("2026-12-10T00:00:00Z"),
        );
        assert_eq!(due(&i, at(NOW)), Due::Now);
        assert_eq!(
            due(&i, at("2026-12-03T14:00:00Z")),
            Due::At(at("2026-12-10T00:00:00Z"))
        );
        assert_eq!(due(&i, at("2026-12-10T00:00:00Z")), Due::Now);
        assert_eq!(due(&i, at("2026-12-11T00:00:00Z")), Due::Now);
    }

    #[test]
    fn a_deadline_before_the_window_wins() {
        let i = instruction(
            Some("2026-12-05T02:00:00Z"),
            Some("2026-12-05T03:00:00Z"),
            Some("2026-12-04T00:00:00Z"),
        );
        assert_eq!(due(&i, at(NOW)), Due::At(at("2026-12-04T00:00:00Z")));
        let past = instruction(
            Some("2026-12-05T02:00:00Z"),
            None,
            Some("2026-12-01T00:00:00Z"),
        );
        assert_eq!(due(&past, at(NOW)), Due::Now);
    }

    #[test]
    fn a_window_ending_before_it_opens_leaves_only_the_deadline() {
        let i = instruction(
            Some("2026-12-05T02:00:00Z"),
            Some("2026-12-05T01:00:00Z"),
            None,
        );
        assert_eq!(due(&i, at(NOW)), Due::Missed);
        let i = instruction(
            Some("2026-12-05T02:00:00Z"),
            Some("2026-12-05T01:00:00Z"),
            Some("2026-12-06T00:00:00Z"),
        );
        assert_eq!(due(&i, at(NOW)), Due::At(at("2026-12-06T00:00:00Z")));
    }

    #[test]
    fn a_start_in_the_past_without_an_end_is_due_now() {
        let i = instruction(Some("2026-12-01T00:00:00Z"), None, None);
        assert_eq!(due(&i, at(NOW)), Due::Now);
    }

    #[test]
    fn the_reason_names_the_deadline_or_the_window() {
        let i = instruction(
            None,
            Some("2026-12-03T13:00:00Z"),
            Some("2026-12-01T00:00:00Z"),
        );
        assert!(why_now(&i, at(NOW)).contains("deadline"));
        let i = instruction(None, Some("2026-12-03T13:00:00Z"), None);
        assert!(why_now(&i, at(NOW)).contains("13:00:00"));
        assert!(why_now(&instruction(None, None, None), at(NOW)).contains("at once"));
    }
}
