//! Occurrences in real time zones: daylight saving, leap years, never-occurring
//! schedules, and the search bound.

use jiff::civil::{Date, DateTime, Time, Weekday, date, time};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;

use super::*;

fn zone(name: &str) -> TimeZone {
    time_zone(name).expect("the test uses known zones")
}

fn cron(expr: &str) -> Schedule {
    Schedule::Cron(CronExpr::parse(expr).expect("the test uses valid expressions"))
}

/// The instant the wall clock in `tz` first reads `local`.
fn local(tz: &TimeZone, local: DateTime) -> Timestamp {
    first_instant_showing(tz, local).expect("in range")
}

/// The first `n` starts after `after`, as `2026-03-29T03:00:00+02:00[Europe/Berlin]`.
fn starts(schedule: &Schedule, tz: &TimeZone, after: Timestamp, n: usize) -> Vec<String> {
    schedule
        .occurrences(tz, after)
        .take(n)
        .map(|z| z.to_string())
        .collect()
}

#[test]
fn a_daily_0230_in_berlin_starts_at_0300_on_the_spring_forward_day() {
    let berlin = zone("Europe/Berlin");
    let after = local(&berlin, date(2026, 3, 27).at(12, 0, 0, 0));
    assert_eq!(
        starts(&cron("30 2 * * *"), &berlin, after, 3),
        [
            "2026-03-28T02:30:00+01:00[Europe/Berlin]",
            "2026-03-29T03:00:00+02:00[Europe/Berlin]",
            "2026-03-30T02:30:00+02:00[Europe/Berlin]",
        ]
    );
}

#[test]
fn a_daily_0230_in_berlin_starts_once_on_the_fall_back_day_at_the_first_reading() {
    let berlin = zone("Europe/Berlin");
    let after = local(&berlin, date(2026, 10, 24).at(12, 0, 0, 0));
    assert_eq!(
        starts(&cron("30 2 * * *"), &berlin, after, 2),
        [
            "2026-10-25T02:30:00+02:00[Europe/Berlin]",
            "2026-10-26T02:30:00+01:00[Europe/Berlin]",
        ]
    );
}

#[test]
fn new_york_springs_forward_on_2026_03_08_and_falls_back_on_2026_11_01() {
    let new_york = zone("America/New_York");
    let march = local(&new_york, date(2026, 3, 7).at(12, 0, 0, 0));
    assert_eq!(
        starts(&cron("30 2 * * *"), &new_york, march, 2),
        [
            "2026-03-08T03:00:00-04:00[America/New_York]",
            "2026-03-09T02:30:00-04:00[America/New_York]",
        ]
    );
    // In New York the repeated hour is 01:00-01:59.
    let november = local(&new_york, date(2026, 10, 31).at(12, 0, 0, 0));
    assert_eq!(
        starts(&cron("30 1 * * *"), &new_york, november, 2),
        [
            "2026-11-01T01:30:00-04:00[America/New_York]",
            "2026-11-02T01:30:00-05:00[America/New_York]",
        ]
    );
}

#[test]
fn several_times_inside_one_gap_become_a_single_start_at_the_jump() {
    let berlin = zone("Europe/Berlin");
    let after = local(&berlin, date(2026, 3, 29).at(0, 0, 0, 0));
    assert_eq!(
        starts(&cron("*/15 2,3 * * *"), &berlin, after, 5),
        [
            "2026-03-29T03:00:00+02:00[Europe/Berlin]",
            "2026-03-29T03:15:00+02:00[Europe/Berlin]",
            "2026-03-29T03:30:00+02:00[Europe/Berlin]",
            "2026-03-29T03:45:00+02:00[Europe/Berlin]",
            "2026-03-30T02:00:00+02:00[Europe/Berlin]",
        ]
    );
}

#[test]
fn the_second_pass_through_a_fold_starts_nothing() {
    let berlin = zone("Europe/Berlin");
    let after = local(&berlin, date(2026, 10, 25).at(1, 0, 0, 0));
    assert_eq!(
        starts(&cron("*/30 * * * *"), &berlin, after, 5),
        [
            "2026-10-25T01:30:00+02:00[Europe/Berlin]",
            "2026-10-25T02:00:00+02:00[Europe/Berlin]",
            "2026-10-25T02:30:00+02:00[Europe/Berlin]",
            "2026-10-25T03:00:00+01:00[Europe/Berlin]",
            "2026-10-25T03:30:00+01:00[Europe/Berlin]",
        ]
    );
}

#[test]
fn a_search_that_begins_in_the_second_pass_of_a_fold_continues_after_it() {
    let berlin = zone("Europe/Berlin");
    // 02:10 CET, the second reading of 02:10.
    let after: Timestamp = "2026-10-25T01:10:00Z".parse().expect("valid");
    assert_eq!(
        berlin.to_datetime(after),
        date(2026, 10, 25).at(2, 10, 0, 0)
    );
    assert_eq!(
        starts(&cron("30 2 * * *"), &berlin, after, 1),
        ["2026-10-26T02:30:00+01:00[Europe/Berlin]"]
    );
    assert_eq!(
        starts(&cron("*/30 * * * *"), &berlin, after, 1),
        ["2026-10-25T03:00:00+01:00[Europe/Berlin]"]
    );
}

#[test]
fn lord_howe_moves_its_clocks_by_half_an_hour() {
    let lord_howe = zone("Australia/Lord_Howe");
    // 2026-10-04: 02:00 becomes 02:30.
    let october = local(&lord_howe, date(2026, 10, 3).at(12, 0, 0, 0));
    assert_eq!(
        starts(&cron("15 2 * * *"), &lord_howe, october, 2),
        [
            "2026-10-04T02:30:00+11:00[Australia/Lord_Howe]",
            "2026-10-05T02:15:00+11:00[Australia/Lord_Howe]",
        ]
    );
    // 2026-04-05: 02:00 becomes 01:30, so 01:30-01:59 happens twice.
    let april = local(&lord_howe, date(2026, 4, 4).at(12, 0, 0, 0));
    assert_eq!(
        starts(&cron("45 1 * * *"), &lord_howe, april, 2),
        [
            "2026-04-05T01:45:00+11:00[Australia/Lord_Howe]",
            "2026-04-06T01:45:00+10:30[Australia/Lord_Howe]",
        ]
    );
}

#[test]
fn next_after_is_strictly_after() {
    let utc = zone("UTC");
    let schedule = cron("0 1 * * *");
    let one_am = local(&utc, date(2026, 6, 1).at(1, 0, 0, 0));
    assert_eq!(
        starts(&schedule, &utc, one_am, 1),
        ["2026-06-02T01:00:00+00:00[UTC]"]
    );
    let just_before = one_am - SignedDuration::from_nanos(1);
    assert_eq!(
        starts(&schedule, &utc, just_before, 1),
        ["2026-06-01T01:00:00+00:00[UTC]"]
    );
}

#[test]
fn weekend_nights_start_at_0100_on_saturdays_and_sundays() {
    let berlin = zone("Europe/Berlin");
    let after = local(&berlin, date(2026, 6, 1).at(0, 0, 0, 0));
    assert_eq!(
        starts(&cron("0 1 * * SAT,SUN"), &berlin, after, 4),
        [
            "2026-06-06T01:00:00+02:00[Europe/Berlin]",
            "2026-06-07T01:00:00+02:00[Europe/Berlin]",
            "2026-06-13T01:00:00+02:00[Europe/Berlin]",
            "2026-06-14T01:00:00+02:00[Europe/Berlin]",
        ]
    );
}

#[test]
fn restricted_day_of_month_and_day_of_week_start_on_either() {
    let utc = zone("UTC");
    let after = local(&utc, date(2026, 1, 1).at(0, 0, 0, 0));
    // Fridays, and the 13th (a Tuesday in January 2026).
    assert_eq!(
        starts(&cron("0 2 13 * FRI"), &utc, after, 4),
        [
            "2026-01-02T02:00:00+00:00[UTC]",
            "2026-01-09T02:00:00+00:00[UTC]",
            "2026-01-13T02:00:00+00:00[UTC]",
            "2026-01-16T02:00:00+00:00[UTC]",
        ]
    );
}

#[test]
fn february_30_and_other_impossible_dates_never_occur() {
    let utc = zone("UTC");
    let after = local(&utc, date(2026, 1, 1).at(0, 0, 0, 0));
    for expr in [
        "0 0 30 2 *",
        "0 0 30,31 2 *",
        "0 0 31 4,6,9,11 *",
        "* * 31 FEB-APR/2 *",
    ] {
        assert_eq!(cron(expr).next_after(&utc, after), None, "{expr}");
    }
}

#[test]
fn february_29_occurs_only_in_leap_years() {
    let utc = zone("UTC");
    let after = local(&utc, date(2026, 1, 1).at(0, 0, 0, 0));
    assert_eq!(
        starts(&cron("0 0 29 2 *"), &utc, after, 3),
        [
            "2028-02-29T00:00:00+00:00[UTC]",
            "2032-02-29T00:00:00+00:00[UTC]",
            "2036-02-29T00:00:00+00:00[UTC]",
        ]
    );
    // 2100 is not a leap year.
    let after = local(&utc, date(2097, 1, 1).at(0, 0, 0, 0));
    assert_eq!(
        starts(&cron("0 0 29 2 *"), &utc, after, 1),
        ["2104-02-29T00:00:00+00:00[UTC]"]
    );
}

#[test]
fn february_29_on_a_sunday_is_found_even_40_years_away() {
    // Vixie: `*/7` starts with `*`, so day-of-month AND day-of-week, and
    // `*/7` over 0-7 is Sunday. After 2088 the next is 2128, past 2100.
    let utc = zone("UTC");
    let after = local(&utc, date(2088, 3, 1).at(0, 0, 0, 0));
    assert_eq!(
        starts(&cron("0 0 29 2 */7"), &utc, after, 1),
        ["2128-02-29T00:00:00+00:00[UTC]"]
    );
}

#[test]
fn no_calendar_pattern_goes_longer_than_the_search_horizon_without_a_date() {
    // The longest run of years without a given month-day on a given weekday,
    // over two full 400-year cycles. 28 years would not be enough; 400 is.
    let mut longest = (0, (0, 0, 0));
    for month in 1..=12 {
        for day in 1..=31 {
            for weekday in [
                Weekday::Sunday,
                Weekday::Monday,
                Weekday::Tuesday,
                Weekday::Wednesday,
                Weekday::Thursday,
                Weekday::Friday,
                Weekday::Saturday,
            ] {
                let years: Vec<i16> = (1600..2400)
                    .filter(|&year| {
                        Date::new(year, month, day).is_ok_and(|d| d.weekday() == weekday)
                    })
                    .collect();
                for pair in years.windows(2) {
                    let pattern = (month, day, weekday.to_sunday_zero_offset());
                    longest = longest.max((pair[1] - pair[0], pattern));
                }
            }
        }
    }
    let (years, (month, day, _)) = longest;
    assert_eq!(
        (years, month, day),
        (40, 2, 29),
        "February 29 on a given weekday, across 2100"
    );
    assert!(longest.0 < SEARCH_HORIZON_YEARS);
}

#[test]
fn monthly_schedules_occur_in_the_time_zone_in_order() {
    let berlin = zone("Europe/Berlin");
    let saturday_after_patch_tuesday =
        Schedule::from(MonthlyNthWeekday::patch_tuesday(4, time(2, 0, 0, 0)));
    let after = local(&berlin, date(2026, 10, 1).at(0, 0, 0, 0));
    assert_eq!(
        starts(&saturday_after_patch_tuesday, &berlin, after, 3),
        [
            "2026-10-17T02:00:00+02:00[Europe/Berlin]",
            "2026-11-14T02:00:00+01:00[Europe/Berlin]",
            "2026-12-12T02:00:00+01:00[Europe/Berlin]",
        ]
    );
}

#[test]
fn patch_tuesday_plus_20_days_lands_in_the_next_month() {
    let utc = zone("UTC");
    let schedule = Schedule::from(MonthlyNthWeekday::patch_tuesday(20, time(2, 0, 0, 0)));
    let after = local(&utc, date(2026, 12, 1).at(0, 0, 0, 0));
    // 2026-12-08 + 20, 2027-01-12 + 20, 2027-02-09 + 20.
    assert_eq!(
        starts(&schedule, &utc, after, 3),
        [
            "2026-12-28T02:00:00+00:00[UTC]",
            "2027-02-01T02:00:00+00:00[UTC]",
            "2027-03-01T02:00:00+00:00[UTC]",
        ]
    );
}

#[test]
fn a_fifth_weekday_schedule_skips_months_without_one() {
    let utc = zone("UTC");
    let fifth_friday = Schedule::from(MonthlyNthWeekday {
        nth: Nth::Fifth,
        weekday: Weekday::Friday,
        offset_days: 0,
        at: time(22, 0, 0, 0),
    });
    let after = local(&utc, date(2026, 1, 1).at(0, 0, 0, 0));
    assert_eq!(
        starts(&fifth_friday, &utc, after, 5),
        [
            "2026-01-30T22:00:00+00:00[UTC]",
            "2026-05-29T22:00:00+00:00[UTC]",
            "2026-07-31T22:00:00+00:00[UTC]",
            "2026-10-30T22:00:00+00:00[UTC]",
            "2027-01-29T22:00:00+00:00[UTC]",
        ]
    );
}

#[test]
fn a_last_sunday_schedule_meets_both_berlin_transitions() {
    let berlin = zone("Europe/Berlin");
    let last_sunday = Schedule::from(MonthlyNthWeekday {
        nth: Nth::Last,
        weekday: Weekday::Sunday,
        offset_days: 0,
        at: time(2, 30, 0, 0),
    });
    let after = local(&berlin, date(2026, 3, 1).at(0, 0, 0, 0));
    let all = starts(&last_sunday, &berlin, after, 8);
    assert_eq!(all[0], "2026-03-29T03:00:00+02:00[Europe/Berlin]");
    assert_eq!(all[7], "2026-10-25T02:30:00+02:00[Europe/Berlin]");
}

#[test]
fn skip_to_after_moves_forward_and_never_back() {
    let utc = zone("UTC");
    let schedule = cron("0 * * * *");
    let mut occurrences = schedule.occurrences(&utc, local(&utc, date(2026, 1, 1).at(0, 0, 0, 0)));
    occurrences.skip_to_after(local(&utc, date(2026, 1, 1).at(5, 30, 0, 0)));
    assert_eq!(
        occurrences.next().map(|z| z.to_string()).as_deref(),
        Some("2026-01-01T06:00:00+00:00[UTC]")
    );
    occurrences.skip_to_after(local(&utc, date(2026, 1, 1).at(0, 0, 0, 0)));
    assert_eq!(
        occurrences.next().map(|z| z.to_string()).as_deref(),
        Some("2026-01-01T07:00:00+00:00[UTC]")
    );
}

#[test]
fn the_ends_of_time_end_the_search_without_panicking() {
    let schedules = [
        cron("* * * * *"),
        cron("0 0 29 2 *"),
        Schedule::from(MonthlyNthWeekday::patch_tuesday(-40, time(23, 59, 0, 0))),
        Schedule::from(MonthlyNthWeekday::patch_tuesday(i32::MAX, Time::midnight())),
    ];
    for tz in [
        zone("UTC"),
        zone("Pacific/Kiritimati"),
        zone("America/New_York"),
    ] {
        for schedule in &schedules {
            assert_eq!(schedule.next_after(&tz, Timestamp::MAX), None, "{schedule}");
            let _ = schedule.next_after(&tz, Timestamp::MIN);
            let late = local(&tz, date(9999, 12, 30).at(0, 0, 0, 0));
            assert!(schedule.occurrences(&tz, late).count() <= 2 * 24 * 60);
        }
    }
}

// Property tests against a brute-force oracle.

/// One cron field: `*`, `n`, `a,b`, `a-b`, `*/s` or `a-b/s`.
fn field(min: u32, max: u32) -> impl Strategy<Value = String> {
    let value = min..=max;
    let range = (min..=max, min..=max).prop_map(|(a, b)| (a.min(b), a.max(b)));
    prop_oneof![
        Just("*".to_string()),
        value.clone().prop_map(|n| n.to_string()),
        (value.clone(), value).prop_map(|(a, b)| format!("{a},{b}")),
        range.clone().prop_map(|(a, b)| format!("{a}-{b}")),
        (1..=(max - min + 1).min(7)).prop_map(|s| format!("*/{s}")),
        (range, 1..=5u32).prop_map(|((a, b), s)| format!("{a}-{b}/{s}")),
    ]
}

fn cron_text() -> impl Strategy<Value = String> {
    (
        field(0, 59),
        field(0, 23),
        field(1, 31),
        field(1, 12),
        field(0, 7),
    )
        .prop_map(|(m, h, dom, mon, dow)| format!("{m} {h} {dom} {mon} {dow}"))
}

/// Like [`cron_text`], but mostly every day and mostly in the small hours,
/// where transitions happen.
fn cron_text_near_transitions() -> impl Strategy<Value = String> {
    let hours = prop_oneof![3 => field(0, 3), 1 => field(0, 23)];
    let every_or =
        |strategy: BoxedStrategy<String>| prop_oneof![3 => Just("*".to_string()), 1 => strategy];
    (
        field(0, 59),
        hours,
        every_or(field(1, 31).boxed()),
        every_or(field(1, 12).boxed()),
        every_or(field(0, 7).boxed()),
    )
        .prop_map(|(m, h, dom, mon, dow)| format!("{m} {h} {dom} {mon} {dow}"))
}

/// Zones with one-hour, half-hour and no transitions, and one whose clocks
/// changed at midnight.
const ZONES: [&str; 6] = [
    "Europe/Berlin",
    "America/New_York",
    "Australia/Lord_Howe",
    "UTC",
    "Asia/Kolkata",
    "America/Sao_Paulo",
];

/// Starts in `(after, until]` computed instant by instant, independently of
/// the search: an instant T (on a whole minute) starts an occurrence when some
/// local time the expression names lies in `(highest reading before T, reading at T]`.
fn oracle(expr: &CronExpr, tz: &TimeZone, after: Timestamp, until: Timestamp) -> Vec<Timestamp> {
    let minute = SignedDuration::from_mins(1);
    let first =
        Timestamp::from_second(after.as_second().div_euclid(60) * 60 + 60).expect("in range");
    let mut highest = (1..=180)
        .map(|back| tz.to_datetime(first - minute * back))
        .max()
        .expect("non-empty");
    let mut found = Vec::new();
    let mut instant = first;
    while instant <= until {
        let reading = tz.to_datetime(instant);
        let mut named = highest.checked_add(minute).expect("in range");
        while named <= reading {
            if expr.matches(named) {
                found.push(instant);
                break;
            }
            named = named.checked_add(minute).expect("in range");
        }
        highest = highest.max(reading);
        instant += minute;
    }
    found
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn occurrences_near_transitions_agree_with_the_brute_force_oracle(
        text in cron_text_near_transitions(),
        zone_index in 0..ZONES.len(),
        year in 2000i16..2040,
        day_of_year in 1i16..=365,
        hours in 0i64..96,
    ) {
        let tz = zone(ZONES[zone_index]);
        let expr = CronExpr::parse(&text).expect("generated expressions are valid");
        let schedule = Schedule::Cron(expr.clone());
        // Start at a random moment of the year, or near the year's first transition.
        let day = date(year, 1, 1).with().day_of_year(day_of_year).build().expect("valid day");
        let start = local(&tz, day.to_datetime(Time::midnight()));
        let start = match tz.following(start).next() {
            Some(transition) if day_of_year % 2 == 0 => transition.timestamp(),
            _ => start,
        };
        let after = start - SignedDuration::from_hours(48) + SignedDuration::from_mins(hours * 60 + 7);
        let until = after + SignedDuration::from_hours(72);
        let expected = oracle(&expr, &tz, after, until);
        let actual: Vec<Timestamp> = schedule
            .occurrences(&tz, after)
            .map(|z| z.timestamp())
            .take_while(|&t| t <= until)
            .collect();
        prop_assert_eq!(actual, expected, "`{}` in {} after {}", text, ZONES[zone_index], after);
    }

    #[test]
    fn occurrences_increase_strictly_and_name_times_the_expression_names(
        text in cron_text(),
        zone_index in 0..ZONES.len(),
        seconds in 0i64..4_102_444_800, // 1970 to 2100
    ) {
        let tz = zone(ZONES[zone_index]);
        let expr = CronExpr::parse(&text).expect("generated expressions are valid");
        let schedule = Schedule::Cron(expr.clone());
        let after = Timestamp::from_second(seconds).expect("in range");
        let mut previous = after;
        for start in schedule.occurrences(&tz, after).take(50) {
            prop_assert!(start.timestamp() > previous, "{} not after {}", start, previous);
            previous = start.timestamp();
            // Either the expression names the wall-clock reading, or the start
            // is the end of a gap that swallowed a time it names.
            let at_transition = tz
                .preceding(start.timestamp() + SignedDuration::from_nanos(1))
                .next()
                .is_some_and(|t| t.timestamp() == start.timestamp());
            prop_assert!(expr.matches(start.datetime()) || at_transition, "`{}` started at {}", text, start);
        }
    }
}
