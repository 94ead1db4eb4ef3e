//! "The nth weekday of the month, plus some days, at a time of day": the
//! schedule vendors' monthly release days are written in.
//!
//! Microsoft publishes on the second Tuesday of the month ("Patch Tuesday"),
//! and windows are commonly set relative to it: "the Saturday after Patch
//! Tuesday" is `Second Tuesday + 4 days`. Cron cannot say this (`0 2 8-14 * TUE`
//! means "the 8th to the 14th, or any Tuesday"), hence this schedule.

use std::fmt;

use jiff::civil::{Date, DateTime, Time, Weekday};
use jiff::{SignedDuration, ToSpan};

/// Which occurrence of a weekday within its month.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Nth {
    /// The first, always between the 1st and the 7th.
    First,
    /// The second, always between the 8th and the 14th.
    Second,
    /// The third.
    Third,
    /// The fourth.
    Fourth,
    /// The fifth; months without one have no occurrence.
    Fifth,
    /// The last, which is the fourth or the fifth.
    Last,
}

impl Nth {
    /// `1..=5` as [`Nth::First`]..[`Nth::Fifth`]; anything else is `None`.
    pub fn from_number(n: u8) -> Option<Nth> {
        Some(match n {
            1 => Nth::First,
            2 => Nth::Second,
            3 => Nth::Third,
            4 => Nth::Fourth,
            5 => Nth::Fifth,
            _ => return None,
        })
    }

    /// The argument [`Date::nth_weekday_of_month`] takes: 1..=5, or -1 for last.
    fn to_jiff(self) -> i8 {
        match self {
            Nth::First => 1,
            Nth::Second => 2,
            Nth::Third => 3,
            Nth::Fourth => 4,
            Nth::Fifth => 5,
            Nth::Last => -1,
        }
    }
}

impl fmt::Display for Nth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Nth::First => "first",
            Nth::Second => "second",
            Nth::Third => "third",
            Nth::Fourth => "fourth",
            Nth::Fifth => "fifth",
            Nth::Last => "last",
        })
    }
}

/// The `nth` `weekday` of every month, moved by `offset_days`, at local time `at`.
///
/// The offset is applied after finding the weekday, so it may carry the
/// occurrence into the next (or previous) month: Patch Tuesday 2026-03-10 plus
/// 25 days is 2026-04-04. Each month yields at most one occurrence, and months
/// without the weekday (only possible for [`Nth::Fifth`]) yield none.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MonthlyNthWeekday {
    /// Which occurrence of the weekday.
    pub nth: Nth,
    /// The weekday.
    pub weekday: Weekday,
    /// Days to add (or, when negative, subtract) after finding the weekday.
    pub offset_days: i32,
    /// The local time of day the occurrence starts.
    pub at: Time,
}

impl MonthlyNthWeekday {
    /// Microsoft's Patch Tuesday (the second Tuesday) plus `offset_days`, at `at`.
    pub fn patch_tuesday(offset_days: i32, at: Time) -> MonthlyNthWeekday {
        MonthlyNthWeekday {
            nth: Nth::Second,
            weekday: Weekday::Tuesday,
            offset_days,
            at,
        }
    }

    /// The date this schedule derives from the given month, after the offset
    /// (so possibly in another month); `None` when the month has no such
    /// weekday or the date is outside the calendar jiff supports.
    pub fn date_in_month(&self, year: i16, month: i8) -> Option<Date> {
        self.date_from_month(Date::new(year, month, 1).ok()?)
    }

    fn offset(&self) -> SignedDuration {
        SignedDuration::from_hours(i64::from(self.offset_days) * 24)
    }

    /// Like [`MonthlyNthWeekday::date_in_month`] for the month containing `first`.
    fn date_from_month(&self, first: Date) -> Option<Date> {
        let weekday = first
            .nth_weekday_of_month(self.nth.to_jiff(), self.weekday)
            .ok()?;
        weekday.checked_add(self.offset()).ok()
    }

    /// The first local date-time at or after `from` that the schedule names,
    /// looking no further than the end of `last_day`.
    pub(super) fn first_at_or_after(&self, from: DateTime, last_day: Date) -> Option<DateTime> {
        // An occurrence derived from month M falls on or after M's first day
        // plus the offset, so months before the one containing
        // `from - offset` can only produce dates before `from`.
        let mut month = from
            .date()
            .checked_sub(self.offset())
            .ok()?
            .first_of_month();
        loop {
            if month.checked_add(self.offset()).ok()? > last_day {
                return None;
            }
            if let Some(date) = self.date_from_month(month) {
                let candidate = date.to_datetime(self.at);
                if candidate >= from {
                    return (date <= last_day).then_some(candidate);
                }
            }
            month = month.checked_add(1.month()).ok()?;
        }
    }
}

impl fmt::Display for MonthlyNthWeekday {
    /// `second Tuesday of the month + 4 days at 02:00`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {:?} of the month", self.nth, self.weekday)?;
        match self.offset_days {
            0 => {}
            1 => f.write_str(" + 1 day")?,
            -1 => f.write_str(" - 1 day")?,
            n if n < 0 => write!(f, " - {} days", n.unsigned_abs())?,
            n => write!(f, " + {n} days")?,
        }
        write!(f, " at {:02}:{:02}", self.at.hour(), self.at.minute())?;
        if self.at.second() != 0 || self.at.subsec_nanosecond() != 0 {
            write!(f, ":{:02}", self.at.second())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::{date, time};

    fn patch_tuesday(offset_days: i32) -> MonthlyNthWeekday {
        MonthlyNthWeekday::patch_tuesday(offset_days, time(2, 0, 0, 0))
    }

    #[test]
    fn patch_tuesday_is_the_second_tuesday() {
        let schedule = patch_tuesday(0);
        for (year, month, day) in [
            (2026, 1, 13),
            (2026, 2, 10),
            (2026, 3, 10),
            (2026, 4, 14),
            (2026, 5, 12),
            (2026, 6, 9),
            (2026, 7, 14),
            (2026, 8, 11),
            (2026, 9, 8),
            (2026, 10, 13),
            (2026, 11, 10),
            (2026, 12, 8),
            (2027, 1, 12),
        ] {
            assert_eq!(
                schedule.date_in_month(year, month),
                Some(date(year, month, day))
            );
        }
    }

    #[test]
    fn an_offset_may_cross_the_end_of_the_month_and_the_year() {
        // Patch Tuesday 2026-03-10 + 25 days, 2026-12-08 + 24 days.
        assert_eq!(
            patch_tuesday(25).date_in_month(2026, 3),
            Some(date(2026, 4, 4))
        );
        assert_eq!(
            patch_tuesday(24).date_in_month(2026, 12),
            Some(date(2027, 1, 1))
        );
        // The last Friday of October 2026 is the 30th; + 3 days is Monday 2 November.
        let after_last_friday = MonthlyNthWeekday {
            nth: Nth::Last,
            weekday: Weekday::Friday,
            offset_days: 3,
            at: time(22, 0, 0, 0),
        };
        assert_eq!(
            after_last_friday.date_in_month(2026, 10),
            Some(date(2026, 11, 2))
        );
    }

    #[test]
    fn a_negative_offset_moves_back_into_the_previous_month() {
        // The first Monday of June 2026 is the 1st; the Saturday before is 30 May.
        let schedule = MonthlyNthWeekday {
            nth: Nth::First,
            weekday: Weekday::Monday,
            offset_days: -2,
            at: time(1, 0, 0, 0),
        };
        assert_eq!(schedule.date_in_month(2026, 6), Some(date(2026, 5, 30)));
    }

    #[test]
    fn a_fifth_weekday_exists_only_in_some_months() {
        let fifth_friday = MonthlyNthWeekday {
            nth: Nth::Fifth,
            weekday: Weekday::Friday,
            offset_days: 0,
            at: Time::midnight(),
        };
        assert_eq!(fifth_friday.date_in_month(2026, 1), Some(date(2026, 1, 30)));
        assert_eq!(fifth_friday.date_in_month(2026, 2), None);
        assert_eq!(fifth_friday.date_in_month(2026, 5), Some(date(2026, 5, 29)));
        assert_eq!(fifth_friday.date_in_month(2026, 6), None);
    }

    #[test]
    fn last_is_the_fourth_or_the_fifth() {
        let last_sunday = MonthlyNthWeekday {
            nth: Nth::Last,
            weekday: Weekday::Sunday,
            offset_days: 0,
            at: Time::midnight(),
        };
        assert_eq!(last_sunday.date_in_month(2026, 2), Some(date(2026, 2, 22)));
        assert_eq!(last_sunday.date_in_month(2026, 3), Some(date(2026, 3, 29)));
    }

    #[test]
    fn first_at_or_after_walks_months_in_order() {
        let schedule = patch_tuesday(4);
        let last_day = date(2030, 1, 1);
        let next = |from: DateTime| schedule.first_at_or_after(from, last_day);
        // Patch Tuesday 2026-11-10, + 4 = Saturday 2026-11-14.
        assert_eq!(
            next(date(2026, 11, 1).at(0, 0, 0, 0)),
            Some(date(2026, 11, 14).at(2, 0, 0, 0))
        );
        assert_eq!(
            next(date(2026, 11, 14).at(2, 0, 0, 0)),
            Some(date(2026, 11, 14).at(2, 0, 0, 0))
        );
        assert_eq!(
            next(date(2026, 11, 14).at(2, 0, 0, 1)),
            Some(date(2026, 12, 12).at(2, 0, 0, 0))
        );
        assert_eq!(
            schedule.first_at_or_after(date(2026, 11, 15).at(0, 0, 0, 0), date(2026, 12, 11)),
            None
        );
    }

    #[test]
    fn first_at_or_after_finds_occurrences_from_the_previous_month() {
        // Second Tuesday + 25 days: March's occurrence lands on 4 April.
        let schedule = patch_tuesday(25);
        let found = schedule.first_at_or_after(date(2026, 4, 1).at(0, 0, 0, 0), date(2030, 1, 1));
        assert_eq!(found, Some(date(2026, 4, 4).at(2, 0, 0, 0)));
    }

    #[test]
    fn offsets_beyond_the_calendar_find_nothing_instead_of_panicking() {
        for offset_days in [i32::MIN, i32::MAX] {
            let schedule = patch_tuesday(offset_days);
            assert_eq!(
                schedule.first_at_or_after(date(2026, 1, 1).at(0, 0, 0, 0), date(9999, 12, 31)),
                None
            );
            assert_eq!(schedule.date_in_month(2026, 1), None);
        }
    }

    #[test]
    fn nth_from_number_accepts_one_to_five() {
        assert_eq!(Nth::from_number(0), None);
        assert_eq!(Nth::from_number(2), Some(Nth::Second));
        assert_eq!(Nth::from_number(5), Some(Nth::Fifth));
        assert_eq!(Nth::from_number(6), None);
    }

    #[test]
    fn display_reads_as_english() {
        assert_eq!(
            patch_tuesday(0).to_string(),
            "second Tuesday of the month at 02:00"
        );
        assert_eq!(
            patch_tuesday(1).to_string(),
            "second Tuesday of the month + 1 day at 02:00"
        );
        assert_eq!(
            patch_tuesday(-3).to_string(),
            "second Tuesday of the month - 3 days at 02:00"
        );
    }
}
