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
    /// How long it stays open, in elapsed time: a four-hour window opening at
    /// 01:00 on the night the clocks go back closes at 04:00 by the new clock.
    /// Zero or negative durations give openings that end as they start; policy
    /// validation is expected to reject them.
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

    /// The longest a patch released during the year after `after` may wait for
    /// an opening to start: the longest time between the starts of
    /// consecutive openings, counting `after` as a start and following the last
    /// opening of the year to the next. Frozen occurrences are skipped, so a
    /// freeze lengthens the wait across it. Elapsed time: an autumn week with
    /// the fall-back hour is an hour longer. `None` when no opening follows
    /// `after`.
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
        let mut openings = Openings::new(self, tz, after, freezes);
        let mut previous = openings.next_start()?;
        let mut longest = previous.duration_since(after);
        while previous <= year_later {
            let Some(next) = openings.next_start() else {
                break;
            };
            longest = longest.max(next.duration_since(previous));
            previous = next;
        }
        Some(longest)
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

impl Openings<'_> {
    /// The start of the next opening: the next occurrence not in a freeze.
    fn next_start(&mut self) -> Option<Timestamp> {
        loop {
            let start = self.occurrences.next_instant()?;
            match self
                .freezes
                .iter()
                .find(|&&(from, to)| from <= start && start < to)
            {
                // Nothing starts until the freeze is over. Each freeze is
                // skipped at most once, so this loop ends.
                Some(&(_, end)) => self.occurrences.skip_to_after(just_before(end)),
                None => return Some(start),
            }
        }
    }
}

impl Iterator for Openings<'_> {
    type Item = Opening;

    fn next(&mut self) -> Option<Opening> {
        let start = self.next_start()?;
        let full = start
            .checked_add(self.window.duration())
            .unwrap_or(Timestamp::MAX);
        let end = self
            .freezes
            .iter()
            .map(|&(from, _)| from)
            .filter(|&from| start < from && from < full)
            .min()
            .unwrap_or(full);
        Some(Opening {
            start: start.to_zoned_datetime(self.tz.clone()),
            end: end.to_zoned_datetime(self.tz.clone()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::{CronExpr, MonthlyNthWeekday, time_zone};
    use jiff::civil::{DateTime, date, time};

    fn zone(name: &str) -> TimeZone {
        time_zone(name).expect("the test uses known zones")
    }

    fn window(cron: &str, hours: i64) -> Window {
        let cron = CronExpr::parse(cron).expect("the test uses valid expressions");
        Window {
            schedule: Schedule::Cron(cron),
            duration: SignedDuration::from_hours(hours),
        }
    }

    fn at(tz: &TimeZone, local: DateTime) -> Timestamp {
        tz.to_timestamp(local).expect("in range")
    }

    fn freeze(from: Date, to: Date) -> Freeze {
        Freeze { from, to }
    }

    /// `start – end` of the next window, as RFC 9557 strings.
    fn next(
        window: &Window,
        tz: &TimeZone,
        after: Timestamp,
        freezes: &[Freeze],
    ) -> Option<String> {
        let opening = window.next_window(tz, after, freezes)?;
        Some(format!("{} – {}", opening.start, opening.end))
    }

    fn year_end() -> Freeze {
        freeze(date(2026, 12, 20), date(2027, 1, 4))
    }

    #[test]
    fn next_window_returns_the_opening_in_progress() {
        let berlin = zone("Europe/Berlin");
        let weekend_nights = window("0 1 * * SAT,SUN", 4);
        // Saturday 2026-06-06, 02:00.
        assert_eq!(
            next(
                &weekend_nights,
                &berlin,
                at(&berlin, date(2026, 6, 6).at(2, 0, 0, 0)),
                &[]
            )
            .as_deref(),
            Some(
                "2026-06-06T01:00:00+02:00[Europe/Berlin] – 2026-06-06T05:00:00+02:00[Europe/Berlin]"
            )
        );
    }

    #[test]
    fn next_window_after_an_opening_closes_is_the_following_one() {
        let berlin = zone("Europe/Berlin");
        let weekend_nights = window("0 1 * * SAT,SUN", 4);
        assert_eq!(
            next(
                &weekend_nights,
                &berlin,
                at(&berlin, date(2026, 6, 6).at(5, 0, 0, 0)),
                &[]
            )
            .as_deref(),
            Some(
                "2026-06-07T01:00:00+02:00[Europe/Berlin] – 2026-06-07T05:00:00+02:00[Europe/Berlin]"
            )
        );
    }

    #[test]
    fn the_duration_is_elapsed_time_across_a_transition() {
        let berlin = zone("Europe/Berlin");
        let weekend_nights = window("0 1 * * SAT,SUN", 4);
        // Sunday 2026-10-25: four hours after 01:00 CEST is 04:00 CET.
        assert_eq!(
            next(
                &weekend_nights,
                &berlin,
                at(&berlin, date(2026, 10, 24).at(12, 0, 0, 0)),
                &[]
            )
            .as_deref(),
            Some(
                "2026-10-25T01:00:00+02:00[Europe/Berlin] – 2026-10-25T04:00:00+01:00[Europe/Berlin]"
            )
        );
    }

    #[test]
    fn occurrences_starting_in_the_year_end_freeze_are_skipped() {
        let berlin = zone("Europe/Berlin");
        let weekend_nights = window("0 1 * * SAT,SUN", 4);
        let after = at(&berlin, date(2026, 12, 18).at(0, 0, 0, 0));
        let starts: Vec<String> = weekend_nights
            .openings(&berlin, after, &[year_end()])
            .take(3)
            .map(|opening| opening.start.to_string())
            .collect();
        assert_eq!(
            starts,
            [
                "2026-12-19T01:00:00+01:00[Europe/Berlin]",
                "2027-01-09T01:00:00+01:00[Europe/Berlin]",
                "2027-01-10T01:00:00+01:00[Europe/Berlin]",
            ]
        );
        let during = at(&berlin, date(2026, 12, 26).at(0, 0, 0, 0));
        assert_eq!(
            next(&weekend_nights, &berlin, during, &[year_end()]).as_deref(),
            Some(
                "2027-01-09T01:00:00+01:00[Europe/Berlin] – 2027-01-09T05:00:00+01:00[Europe/Berlin]"
            )
        );
    }

    #[test]
    fn an_opening_that_runs_into_a_freeze_ends_when_the_freeze_begins() {
        let berlin = zone("Europe/Berlin");
        let saturday_late = window("0 22 * * SAT", 4);
        let after = at(&berlin, date(2026, 12, 18).at(0, 0, 0, 0));
        assert_eq!(
            next(&saturday_late, &berlin, after, &[year_end()]).as_deref(),
            Some(
                "2026-12-19T22:00:00+01:00[Europe/Berlin] – 2026-12-20T00:00:00+01:00[Europe/Berlin]"
            )
        );
        // At 00:30 the shortened opening is over and the freeze has begun.
        let after_midnight = at(&berlin, date(2026, 12, 20).at(0, 30, 0, 0));
        assert_eq!(
            next(&saturday_late, &berlin, after_midnight, &[year_end()]).as_deref(),
            Some(
                "2027-01-09T22:00:00+01:00[Europe/Berlin] – 2027-01-10T02:00:00+01:00[Europe/Berlin]"
            )
        );
    }

    #[test]
    fn overlapping_freezes_are_skipped_together_and_empty_ones_ignored() {
        let utc = zone("UTC");
        let daily = window("0 3 * * *", 1);
        let freezes = [
            freeze(date(2026, 7, 1), date(2026, 7, 10)),
            freeze(date(2026, 7, 5), date(2026, 7, 20)),
            freeze(date(2026, 7, 21), date(2026, 7, 21)),
            freeze(date(2026, 6, 30), date(2026, 6, 1)),
        ];
        let after = at(&utc, date(2026, 6, 29).at(12, 0, 0, 0));
        let starts: Vec<String> = daily
            .openings(&utc, after, &freezes)
            .take(2)
            .map(|opening| opening.start.to_string())
            .collect();
        assert_eq!(
            starts,
            [
                "2026-06-30T03:00:00+00:00[UTC]",
                "2026-07-22T03:00:00+00:00[UTC]"
            ]
        );
    }

    #[test]
    fn a_freeze_begins_at_the_first_instant_of_its_day_even_when_midnight_is_skipped() {
        // São Paulo began daylight saving time at midnight: 2018-11-04 started at 01:00.
        let sao_paulo = zone("America/Sao_Paulo");
        let just_after_midnight = window("30 0 * * *", 2);
        let after = at(&sao_paulo, date(2018, 11, 3).at(12, 0, 0, 0));
        let freezes = [freeze(date(2018, 11, 4), date(2018, 11, 4))];
        assert_eq!(
            next(&just_after_midnight, &sao_paulo, after, &[]).as_deref(),
            Some(
                "2018-11-04T01:00:00-02:00[America/Sao_Paulo] – 2018-11-04T03:00:00-02:00[America/Sao_Paulo]"
            )
        );
        assert_eq!(
            next(&just_after_midnight, &sao_paulo, after, &freezes).as_deref(),
            Some(
                "2018-11-05T00:30:00-02:00[America/Sao_Paulo] – 2018-11-05T02:30:00-02:00[America/Sao_Paulo]"
            )
        );
    }

    #[test]
    fn a_window_whose_every_occurrence_is_frozen_is_detected() {
        let utc = zone("UTC");
        let weekend_nights = window("0 1 * * SAT,SUN", 4);
        let after = at(&utc, date(2026, 5, 1).at(0, 0, 0, 0));
        let forever = freeze(date(2026, 4, 1), date(9999, 12, 31));
        assert!(weekend_nights.every_occurrence_frozen(&utc, after, &[forever]));
        assert_eq!(weekend_nights.next_window(&utc, after, &[forever]), None);
        assert!(!weekend_nights.every_occurrence_frozen(&utc, after, &[year_end()]));
        assert!(!weekend_nights.every_occurrence_frozen(&utc, after, &[]));
        // Never occurring at all is a different diagnostic.
        assert!(!window("0 0 30 2 *", 1).every_occurrence_frozen(&utc, after, &[forever]));
    }

    #[test]
    fn max_gap_of_weekend_nights_is_six_days_plus_the_hour_given_back_in_autumn() {
        let after = |tz: &TimeZone| at(tz, date(2026, 1, 1).at(0, 0, 0, 0));
        let weekend_nights = window("0 1 * * SAT,SUN", 4);
        let (utc, berlin) = (zone("UTC"), zone("Europe/Berlin"));
        assert_eq!(
            weekend_nights.max_gap(&utc, after(&utc), &[]),
            Some(SignedDuration::from_hours(6 * 24))
        );
        assert_eq!(
            weekend_nights.max_gap(&berlin, after(&berlin), &[]),
            Some(SignedDuration::from_hours(6 * 24 + 1))
        );
    }

    #[test]
    fn max_gap_includes_the_wait_across_a_freeze() {
        let utc = zone("UTC");
        let weekend_nights = window("0 1 * * SAT,SUN", 4);
        let after = at(&utc, date(2026, 1, 1).at(0, 0, 0, 0));
        // Saturday 2026-12-19 to Saturday 2027-01-09.
        assert_eq!(
            weekend_nights.max_gap(&utc, after, &[year_end()]),
            Some(SignedDuration::from_hours(21 * 24))
        );
    }

    #[test]
    fn max_gap_of_the_saturday_after_patch_tuesday_is_five_weeks() {
        let utc = zone("UTC");
        let monthly = Window {
            schedule: MonthlyNthWeekday::patch_tuesday(4, time(2, 0, 0, 0)).into(),
            duration: SignedDuration::from_hours(6),
        };
        let after = at(&utc, date(2026, 1, 1).at(0, 0, 0, 0));
        assert_eq!(
            monthly.max_gap(&utc, after, &[]),
            Some(SignedDuration::from_hours(35 * 24))
        );
    }

    #[test]
    fn max_gap_counts_the_wait_for_a_first_opening_beyond_the_year() {
        let utc = zone("UTC");
        let after = at(&utc, date(2026, 1, 1).at(0, 0, 0, 0));
        // From 2026-01-01 to 2028-02-29: 365 + 365 + 59 days.
        assert_eq!(
            window("0 0 29 2 *", 1).max_gap(&utc, after, &[]),
            Some(SignedDuration::from_hours(789 * 24))
        );
        assert_eq!(window("0 0 30 2 *", 1).max_gap(&utc, after, &[]), None);
    }

    #[test]
    fn max_gap_of_an_every_minute_window_is_a_minute() {
        let utc = zone("UTC");
        let after = at(&utc, date(2026, 1, 1).at(0, 0, 0, 0));
        assert_eq!(
            window("* * * * *", 1).max_gap(&utc, after, &[]),
            Some(SignedDuration::from_mins(1))
        );
    }

    #[test]
    fn non_positive_durations_give_openings_that_end_as_they_start() {
        let utc = zone("UTC");
        let mut daily = window("0 3 * * *", 0);
        daily.duration = SignedDuration::from_hours(-5);
        let after = at(&utc, date(2026, 6, 1).at(3, 0, 0, 0));
        assert_eq!(
            next(&daily, &utc, after, &[]).as_deref(),
            Some("2026-06-02T03:00:00+00:00[UTC] – 2026-06-02T03:00:00+00:00[UTC]")
        );
    }

    #[test]
    fn freeze_contains_its_first_and_last_day() {
        let freeze = year_end();
        assert!(!freeze.contains(date(2026, 12, 19)));
        assert!(freeze.contains(date(2026, 12, 20)));
        assert!(freeze.contains(date(2027, 1, 4)));
        assert!(!freeze.contains(date(2027, 1, 5)));
    }
}
