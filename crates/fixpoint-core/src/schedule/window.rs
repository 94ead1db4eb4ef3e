//! Maintenance windows: a schedule, how long each opening lasts, and freezes.
//!
//! # Freezes
//!
//! A [`Freeze`] covers whole local days, `from` to `to` inclusive, in the
//! window's time zone: from the first instant of `from` to the first instant of
//! the day after `to`. A freeze means "no changes", so:
//!
//! - an occurrence that *starts* inside a freeze is skipped;
//! - an occurrence that starts before a freeze and would run into it is cut
//!   short: its opening ends when the freeze begins. (Skipping it would throw
//!   away the hours before the freeze; keeping it whole would install patches
//!   during the freeze.)
//!
//! So every [`Opening`] lies entirely outside every freeze.

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp, ToSpan, ZonedDateTime};

use super::{Schedule, first_instant_showing};

/// A recurring maintenance window.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Window {
    /// When the window opens.
    pub schedule: Schedule,
    /// How long it stays open. Zero or negative durations give openings that
    /// end as they start; policy validation is expected to reject them.
    pub duration: SignedDuration,
}

/// Days on which nothing may be installed, in the window's time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Freeze {
    /// The first frozen day.
    pub from: Date,
    /// The last frozen day (inclusive). A freeze with `to` before `from`
    /// covers no days.
    pub to: Date,
}

/// One opening of a window: installing is allowed from `start` until `end`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opening {
    /// When the window opens.
    pub start: ZonedDateTime,
    /// When it closes: `start + duration`, or earlier if a freeze begins first.
    pub end: ZonedDateTime,
}

impl Freeze {
    /// Whether `date` is one of the frozen days.
    pub fn contains(&self, date: Date) -> bool {
        self.from <= date && date <= self.to
    }

    /// The frozen instants, `[start, end)`; `None` when the freeze is empty.
    fn instants(&self, tz: &TimeZone) -> Option<(Timestamp, Timestamp)> {
        if self.to < self.from {
            return None;
        }
        let start =
            first_instant_showing(tz, self.from.to_datetime(jiff::civil::Time::midnight()))?;
        let end = self
            .to
            .tomorrow()
            .ok()
            .and_then(|day| {
                first_instant_showing(tz, day.to_datetime(jiff::civil::Time::midnight()))
            })
            .unwrap_or(Timestamp::MAX);
        Some((start, end))
    }
}

impl Window {
    /// The opening in which something may be installed at or after `after`:
    /// the one in progress at `after`, if any (its start is then before
    /// `after`), else the next one. Occurrences starting in a freeze are
    /// skipped and openings are cut short where a freeze begins (see the module
    /// documentation). `None` when no unfrozen occurrence follows.
    pub fn next_window(
        &self,
        tz: &TimeZone,
        after: Timestamp,
        freezes: &[Freeze],
    ) -> Option<Opening> {
        // Starts after `after - duration` are the ones whose full opening
        // reaches past `after`.
        let since = after.checked_sub(self.duration()).unwrap_or(Timestamp::MIN);
        let mut openings = Openings::new(self, tz, since, freezes);
        loop {
            let opening = openings.next()?;
            if opening.end.timestamp() > after {
                return Some(opening);
            }
            // Cut short by a freeze that began by `after`: every later start
            // up to that freeze is cut short there too, so resume at it.
            openings
                .occurrences
                .skip_to_after(just_before(opening.end.timestamp()));
        }
    }

    /// Every opening that starts strictly after `after`, in order, skipping
    /// frozen starts and cutting openings short at freezes.
    pub fn openings<'a>(
        &'a self,
        tz: &'a TimeZone,
        after: Timestamp,
        freezes: &'a [Freeze],
    ) -> impl Iterator<Item = Opening> + 'a {
        Openings::new(self, tz, after, freezes)
    }

    /// Whether the schedule occurs after `after` but every such occurrence
    /// starts inside a freeze: what policy validation reports as a window that
    /// can never be used. (A schedule that never occurs at all is a different
    /// diagnostic: [`Schedule::next_after`] returns `None` for it.)
    pub fn every_occurrence_frozen(
        &self,
        tz: &TimeZone,
        after: Timestamp,
        freezes: &[Freeze],
    ) -> bool {
        self.schedule.next_after(tz, after).is_some()
            && self.openings(tz, after, freezes).next().is_none()
    }

    /// The longest time between the starts of consecutive openings, for
    /// openings starting in the year after `after` (and the one following the
    /// last of them): how long a patch released at the worst moment waits for a
    /// window. Frozen occurrences are skipped, so a freeze lengthens the gap
    /// around it. `None` when fewer than two openings follow `after`.
    pub fn max_gap(
        &self,
        tz: &TimeZone,
        after: Timestamp,
        freezes: &[Freeze],
    ) -> Option<SignedDuration> {
        let year_later = after
            .to_zoned_datetime(tz.clone())
            .checked_add(1.year())
            .map(|z| z.timestamp())
            .unwrap_or(Timestamp::MAX);
        let mut openings = self.openings(tz, after, freezes);
        let mut previous = openings.next()?.start.timestamp();
        let mut longest: Option<SignedDuration> = None;
        while previous <= year_later {
            let Some(next) = openings.next() else { break };
            let next = next.start.timestamp();
            let gap = next.duration_since(previous);
            longest = Some(longest.map_or(gap, |longest| longest.max(gap)));
            previous = next;
        }
        longest
    }

    fn duration(&self) -> SignedDuration {
        self.duration.max(SignedDuration::ZERO)
    }
}

fn just_before(instant: Timestamp) -> Timestamp {
    instant
        .checked_sub(SignedDuration::from_nanos(1))
        .unwrap_or(Timestamp::MIN)
}

/// The openings of a window starting strictly after some instant.
struct Openings<'a> {
    window: &'a Window,
    tz: &'a TimeZone,
    occurrences: super::Occurrences<'a>,
    /// The non-empty freezes as instants.
    freezes: Vec<(Timestamp, Timestamp)>,
}

impl<'a> Openings<'a> {
    fn new(
        window: &'a Window,
        tz: &'a TimeZone,
        after: Timestamp,
        freezes: &[Freeze],
    ) -> Openings<'a> {
        Openings {
            window,
            tz,
            occurrences: window.schedule.occurrences(tz, after),
            freezes: freezes
                .iter()
                .filter_map(|freeze| freeze.instants(tz))
                .collect(),
        }
    }
}

impl Iterator for Openings<'_> {
    type Item = Opening;

    fn next(&mut self) -> Option<Opening> {
        loop {
            let start = self.occurrences.next()?;
            let at = start.timestamp();
            if let Some(&(_, end)) = self
                .freezes
                .iter()
                .find(|(from, to)| *from <= at && at < *to)
            {
                // Nothing starts until the freeze is over. Each freeze is
                // skipped at most once, so this loop ends.
                self.occurrences.skip_to_after(just_before(end));
                continue;
            }
            let full = at
                .checked_add(self.window.duration())
                .unwrap_or(Timestamp::MAX);
            let end = self
                .freezes
                .iter()
                .map(|&(from, _)| from)
                .filter(|&from| at < from && from < full)
                .min()
                .unwrap_or(full);
            return Some(Opening {
                start,
                end: end.to_zoned_datetime(self.tz.clone()),
            });
        }
    }
}
