//! Recurring maintenance-window schedules, and when they occur in a time zone.
//!
//! ```text
//!  MaintenanceWindow spec ──▶ Schedule (CronExpr | MonthlyNthWeekday) ─┐
//!                             duration, freezes ──────────────────────┴▶ Window
//!  time zone name ──▶ time_zone() ──▶ TimeZone (jiff's bundled database)
//!
//!  Schedule::occurrences(tz, after) ──▶ start instants, ascending
//!  Window::next_window(tz, after, freezes) ──▶ Opening { start, end }  (plan)
//!  Window::every_occurrence_frozen / max_gap  ──▶ diagnostics          (policy validation)
//! ```
//!
//! A schedule names *local* date-times (wall-clock readings such as "02:30 on
//! the second Tuesday"); the time zone turns them into instants. Everything
//! here is pure: the current time is the `after` argument, and time zones come
//! from the database compiled into the binary, so results do not depend on the
//! machine that computes them.
//!
//! # Daylight saving time
//!
//! One rule covers both transitions: **an occurrence at local time T starts at
//! the first instant at which the zone's wall clock reads T or later.**
//!
//! - *Gap* (spring forward). In Europe/Berlin on 2026-03-29 the clock jumps from
//!   02:00 to 03:00, so 02:30 never appears; the first instant the clock reads
//!   02:30 or later is the jump itself, and the 02:30 occurrence starts at 03:00
//!   CEST. It is not skipped: a monthly window that happens to fall on the
//!   transition Sunday would otherwise vanish for a whole month, and every
//!   deadline computed from it would slip. Nor is it moved by the length of the
//!   gap to 03:30, which is what RFC 5545 and jiff's `compatible`
//!   disambiguation do for a single event: for a schedule that would run 02:30
//!   after 03:15, out of order. Under the wall-clock rule occurrences keep the
//!   order of their local times, and several times inside one gap
//!   (`*/15 2 * * *`) become a single start at the jump, which is also what
//!   Vixie cron does with the jobs of a skipped hour.
//! - *Fold* (fall back). In Europe/Berlin on 2026-10-25 the clock reads 02:00 to
//!   02:59 twice; the 02:30 occurrence starts once, at the first (CEST) reading.
//!   The second pass through the hour starts nothing.
//!
//! # How far the search looks
//!
//! Finding the next occurrence walks local dates forward, skipping whole months
//! that cannot match. It gives up after [`SEARCH_HORIZON_YEARS`] (400) years
//! without an occurrence and reports that the schedule never occurs (again).
//! 400 years is exact rather than a heuristic: the Gregorian calendar repeats
//! every 400 years, which are exactly 20,871 weeks, so if no date matches in 400
//! consecutive years none ever will. The 28-year cycle often quoted only holds
//! between 1901 and 2099; `0 0 29 2 */7` (Vixie: February 29 *and* a Sunday)
//! occurs in 2088 and then not until 2128. A schedule that never occurs, such as
//! `0 0 30 2 *`, costs one pass over 400 Februaries: microseconds.

mod cron;
mod monthly;
mod window;
mod zone;

use std::fmt;

use jiff::civil::{Date, DateTime};
use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::{SignedDuration, Timestamp, ToSpan, ZonedDateTime};

pub use cron::{CronError, CronExpr, CronField, CronProblem};
pub use monthly::{MonthlyNthWeekday, Nth};
pub use window::{Freeze, Opening, Window};
pub use zone::{UnknownTimeZone, time_zone};

/// How many years without an occurrence mean a schedule never occurs; see the
/// module documentation for why 400 is exact.
pub const SEARCH_HORIZON_YEARS: i16 = 400;

/// When a maintenance window opens.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Schedule {
    /// A five-field cron expression, such as `0 1 * * SAT,SUN`.
    Cron(CronExpr),
    /// A weekday of the month plus an offset, such as Patch Tuesday + 4 days.
    MonthlyNthWeekday(MonthlyNthWeekday),
}

impl Schedule {
    /// The first start strictly after `after`, in `tz`; `None` when the
    /// schedule never occurs again (see [`SEARCH_HORIZON_YEARS`]).
    pub fn next_after(&self, tz: &TimeZone, after: Timestamp) -> Option<ZonedDateTime> {
        self.occurrences(tz, after).next()
    }

    /// Every start strictly after `after`, in `tz`, in strictly increasing order.
    ///
    /// The iterator ends when no occurrence follows within
    /// [`SEARCH_HORIZON_YEARS`] of the previous one (or of `after`), or at the
    /// end of the calendar jiff supports (year 9999).
    pub fn occurrences<'a>(&'a self, tz: &'a TimeZone, after: Timestamp) -> Occurrences<'a> {
        let mut occurrences = Occurrences {
            schedule: self,
            tz,
            floor: after,
            from: None,
            last_day: Date::MIN,
        };
        occurrences.restart_after(after);
        occurrences
    }

    /// The first local date-time at or after `from` the schedule names.
    fn first_at_or_after(&self, from: DateTime, last_day: Date) -> Option<DateTime> {
        match self {
            Schedule::Cron(cron) => cron.first_at_or_after(from, last_day),
            Schedule::MonthlyNthWeekday(monthly) => monthly.first_at_or_after(from, last_day),
        }
    }
}

impl From<CronExpr> for Schedule {
    fn from(cron: CronExpr) -> Schedule {
        Schedule::Cron(cron)
    }
}

impl From<MonthlyNthWeekday> for Schedule {
    fn from(monthly: MonthlyNthWeekday) -> Schedule {
        Schedule::MonthlyNthWeekday(monthly)
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Schedule::Cron(cron) => write!(f, "cron `{cron}`"),
            Schedule::MonthlyNthWeekday(monthly) => monthly.fmt(f),
        }
    }
}

/// The starts of a [`Schedule`] in a time zone, ascending; see
/// [`Schedule::occurrences`].
#[derive(Debug, Clone)]
pub struct Occurrences<'a> {
    schedule: &'a Schedule,
    tz: &'a TimeZone,
    /// Everything yielded from now on is strictly after this instant.
    floor: Timestamp,
    /// Where the search for the next local date-time resumes; `None` once exhausted.
    from: Option<DateTime>,
    /// The search gives up after this local date.
    last_day: Date,
}

impl Occurrences<'_> {
    /// Continues with the first start strictly after `after`, if that is later
    /// than where the iterator is; never goes back.
    pub fn skip_to_after(&mut self, after: Timestamp) {
        if after > self.floor {
            self.restart_after(after);
        }
    }

    fn restart_after(&mut self, after: Timestamp) {
        // Every local date-time before the wall-clock reading at `after` starts
        // at or before `after` (the rule is monotonic), so the search can begin
        // at that reading.
        let from = self.tz.to_datetime(after);
        self.floor = after;
        self.from = Some(from);
        self.last_day = search_end(from.date());
    }
}

impl Occurrences<'_> {
    /// The next start as an instant (no time zone attached).
    fn next_instant(&mut self) -> Option<Timestamp> {
        loop {
            let from = self.from?;
            let Some(local) = self.schedule.first_at_or_after(from, self.last_day) else {
                self.from = None;
                return None;
            };
            self.from = local.checked_add(SignedDuration::from_nanos(1)).ok();
            // Local times within a day of the ends of the calendar may have no
            // instant; there are at most a day's worth of them to pass over.
            let Some(start) = first_instant_showing(self.tz, local) else {
                continue;
            };
            // Skips local times that start no later than the previous
            // occurrence: several times inside one gap, and a search that began
            // in the second pass through a fold.
            if start > self.floor {
                self.floor = start;
                self.last_day = search_end(local.date());
                return Some(start);
            }
        }
    }
}

impl Iterator for Occurrences<'_> {
    type Item = ZonedDateTime;

    fn next(&mut self) -> Option<ZonedDateTime> {
        let start = self.next_instant()?;
        Some(start.to_zoned_datetime(self.tz.clone()))
    }
}

/// The last local date a search starting on `from` looks at.
fn search_end(from: Date) -> Date {
    from.saturating_add(i64::from(SEARCH_HORIZON_YEARS).years())
}

/// The first instant at which the wall clock in `tz` reads `local` or later:
/// `local` itself when it occurs once, its first occurrence in a fold, and the
/// end of the gap (the transition) when it falls in one. `None` only outside
/// the range of instants jiff supports.
fn first_instant_showing(tz: &TimeZone, local: DateTime) -> Option<Timestamp> {
    match tz.to_ambiguous_timestamp(local).offset() {
        AmbiguousOffset::Unambiguous { offset } => offset.to_timestamp(local).ok(),
        AmbiguousOffset::Fold { before, .. } => before.to_timestamp(local).ok(),
        AmbiguousOffset::Gap { before, after } => {
            // Read with the later offset, `local` is an instant before the
            // transition; the transition is the next one after it.
            let before_gap = after.to_timestamp(local).ok()?;
            match tz.following(before_gap).next() {
                Some(transition) => Some(transition.timestamp()),
                // Cannot happen for a real gap; the later reading is the best fallback.
                None => before.to_timestamp(local).ok(),
            }
        }
    }
}

#[cfg(test)]
mod tests;
