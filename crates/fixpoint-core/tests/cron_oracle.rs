//! The schedule module checked against croner, an independent cron
//! implementation: thousands of generated expressions, each asked for its next
//! occurrences after generated instants, and for the window opening there.
//!
//! The zones are ones without daylight saving time (UTC and fixed offsets,
//! asserted below), because cron libraries disagree about gaps and folds and
//! ours follows its own documented rule; DST is covered by the brute-force
//! oracle in `src/schedule/tests.rs`.
//!
//! # Where croner differs from Vixie cron, and what this test does about it
//!
//! - *Day-of-month and day-of-week.* Vixie cron combines them with OR when both
//!   are restricted and with AND otherwise, and a field counts as unrestricted
//!   when its text *starts with* `*` (so `*/2` is unrestricted). Croner only
//!   treats a field that is exactly `*` as unrestricted. The oracle is therefore
//!   parsed with croner's `dom_and_dow` (AND) mode whenever either day field
//!   starts with `*`, which is exactly Vixie's rule; both sides then agree on
//!   every combination, `*/2` included.
//! - *Sunday at the end of a range.* We read `FRI-SUN` and `5-0` as Friday to
//!   Sunday. Croner rewrites `-SUN` to `-7`, so it agrees on `FRI-SUN`, but it
//!   rejects `5-0` and reads `SUN-SUN` and `0-SUN` as the whole week (we read
//!   them as Sunday). Generation writes a range's end as `SUN` only when the
//!   start is Monday or later, and never writes a numeric range ending in `0`
//!   after a larger start.
//! - *Extensions.* Croner accepts `L`, `W`, `#`, `?`, `+`, seconds and years;
//!   Vixie cron (and we) do not, so none are generated. Nor are `n/step`
//!   (rejected by both) or `@midnight`, `@reboot` (croner lacks the first, both
//!   reject the second).
//! - *The search horizon.* We stop after 400 years without an occurrence
//!   (exact: the calendar repeats every 400 years), croner at the year 5000, so
//!   "never again" is compared as "both find nothing".

use chrono::{DateTime, FixedOffset};
use croner::Cron;
use croner::errors::CronError;
use croner::parser::{CronParser, Seconds, Year};
use fixpoint_core::schedule::{CronExpr, Schedule, Window, time_zone};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};

/// Generated expressions; each is checked in every zone of [`ZONES`].
const EXPRESSIONS: usize = 1_000;
/// Occurrences compared for each expression and instant.
const OCCURRENCES: usize = 8;
/// One in this many expression/zone pairs also checks `Window::next_window`.
const WINDOW_EVERY: usize = 3;

/// Zones without daylight saving time, the UTC offset (seconds) each has held
/// throughout its year range, and the years `after` is drawn from. Kathmandu
/// moved from +05:30 to +05:45 in 1986, so its range starts later.
const ZONES: [(&str, i32, (i16, i16)); 4] = [
    ("UTC", 0, (1700, 2600)),
    ("Asia/Kolkata", 5 * 3600 + 30 * 60, (1950, 2300)),
    ("Asia/Kathmandu", 5 * 3600 + 45 * 60, (1990, 2300)),
    // POSIX sign convention: Etc/GMT+5 is five hours *behind* UTC.
    ("Etc/GMT+5", -5 * 3600, (1900, 2300)),
];

#[test]
fn occurrences_and_windows_agree_with_croner_in_zones_without_dst() {
    let mut generator = Generator::new(0x5eed_c0de_2026);
    let zones: Vec<(&str, TimeZone, FixedOffset, (i16, i16))> = ZONES
        .iter()
        .map(|&(name, seconds, years)| {
            let tz = time_zone(name).expect("a zone in the bundled database");
            let offset = FixedOffset::east_opt(seconds).expect("a valid offset");
            (name, tz, offset, years)
        })
        .collect();

    let mut failures = Vec::new();
    let (mut pairs, mut compared, mut windows, mut boundary) = (0, 0, 0, 0);
    for index in 0..EXPRESSIONS {
        let text = generator.expression();
        let ours = Schedule::Cron(
            CronExpr::parse(&text).unwrap_or_else(|e| panic!("we reject `{text}`: {e}")),
        );
        let oracle = croner_for(&text);
        for (zone_index, (name, tz, offset, years)) in zones.iter().enumerate() {
            let mut after = generator.instant(*years);
            if generator.one_in(4) {
                // Exactly on an occurrence: "strictly after" must skip it.
                if let Some(&start) = oracle_starts(&oracle, offset, after, 1).first() {
                    after = start;
                    boundary += 1;
                }
            }
            assert_fixed(tz, offset, after, name);
            pairs += 1;

            let expected = oracle_starts(&oracle, offset, after, OCCURRENCES);
            let actual: Vec<Timestamp> = ours
                .occurrences(tz, after)
                .take(OCCURRENCES)
                .map(|start| start.timestamp())
                .collect();
            for &start in &actual {
                assert_fixed(tz, offset, start, name);
            }
            compared += expected.len();
            if actual != expected {
                failures.push(format!(
                    "`{text}` in {name} after {after}:\n  ours:   {}\n  croner: {}",
                    list(&actual),
                    list(&expected)
                ));
            }

            if (index * zones.len() + zone_index).is_multiple_of(WINDOW_EVERY) {
                windows += 1;
                let duration = generator.duration();
                let window = Window {
                    schedule: ours.clone(),
                    duration,
                };
                let expected =
                    oracle_opening_start(&oracle, offset, after, duration, expected.first());
                let opening = window.next_window(tz, after, &[]);
                let actual = opening.as_ref().map(|o| o.start.timestamp());
                if actual != expected {
                    failures.push(format!(
                        "`{text}` in {name}, window of {duration:#}, at {after}:\n  \
                         ours:   {actual:?}\n  croner: {expected:?}"
                    ));
                } else if let Some(opening) = opening
                    && opening.end.timestamp() != opening.start.timestamp() + duration
                {
                    failures.push(format!(
                        "`{text}` in {name}: opening {opening:?} does not last {duration:#}"
                    ));
                }
            }
        }
    }

    assert!(
        failures.is_empty(),
        "{} of {pairs} expression/time pairs disagree with croner; the first ones:\n{}",
        failures.len(),
        failures[..failures.len().min(10)].join("\n")
    );
    // The generator must keep exercising what this test is for.
    assert!(pairs >= 3_000, "only {pairs} expression/time pairs");
    assert!(
        compared >= pairs * OCCURRENCES * 9 / 10,
        "only {compared} occurrences compared: too many generated expressions never occur"
    );
    assert!(windows >= 1_000, "only {windows} windows checked");
    assert!(boundary >= 500, "only {boundary} instants on an occurrence");
}

/// A day-of-week range ending on Sunday, and a list mixing `*/step` with
/// values: the spellings where croner's reading needed aligning.
#[test]
fn the_alignments_hold_on_hand_picked_expressions() {
    let utc = time_zone("UTC").expect("UTC");
    let offset = FixedOffset::east_opt(0).expect("zero");
    let after = Timestamp::new(1_767_225_600, 0).expect("2026-01-01T00:00:00Z");
    for text in [
        "0 12 * * FRI-SUN",
        "0 12 * * 5-7",
        "30 6 */2 * MON",
        "30 6 13 * */3",
        "0 0 1,15 * FRI",
        "0 0 29 2 */7",
        "0 0 30 2 *",
        "15 4 5-25/5 jan,Jul sun-tue",
        "@weekly",
    ] {
        let ours = Schedule::Cron(CronExpr::parse(text).expect("valid"));
        let actual: Vec<Timestamp> = ours
            .occurrences(&utc, after)
            .take(OCCURRENCES)
            .map(|start| start.timestamp())
            .collect();
        let expected = oracle_starts(&croner_for(text), &offset, after, OCCURRENCES);
        assert_eq!(list(&actual), list(&expected), "`{text}`");
    }
}

/// Croner configured to read `text` the Vixie way (see the module docs).
fn croner_for(text: &str) -> Cron {
    let fields: Vec<&str> = text.split_whitespace().collect();
    let either_day_starts_with_star =
        fields.len() == 5 && (fields[2].starts_with('*') || fields[4].starts_with('*'));
    CronParser::builder()
        .seconds(Seconds::Disallowed)
        .year(Year::Disallowed)
        .dom_and_dow(either_day_starts_with_star)
        .build()
        .parse(text)
        .unwrap_or_else(|e| panic!("croner rejects `{text}`: {e}"))
}

/// Croner's first `n` occurrences strictly after `after`, as instants.
fn oracle_starts(cron: &Cron, offset: &FixedOffset, after: Timestamp, n: usize) -> Vec<Timestamp> {
    let mut from = to_chrono(after, offset);
    let mut starts = Vec::with_capacity(n);
    while starts.len() < n {
        match cron.find_next_occurrence(&from, false) {
            Ok(next) => {
                starts.push(to_jiff(&next));
                from = next;
            }
            // Croner's way of saying "never (again)": it searched to the year 5000.
            Err(CronError::TimeSearchLimitExceeded) => break,
            Err(e) => panic!("croner failed on `{}`: {e}", cron.pattern),
        }
    }
    starts
}

/// Where croner says the window opening at or after `after` starts: the
/// earliest occurrence still in progress at `after` (started at or before it,
/// less than `duration` ago), found walking croner's occurrences backwards,
/// else the next occurrence.
fn oracle_opening_start(
    cron: &Cron,
    offset: &FixedOffset,
    after: Timestamp,
    duration: SignedDuration,
    next: Option<&Timestamp>,
) -> Option<Timestamp> {
    // A schedule with no occurrence ahead has none behind either: the
    // calendar repeats.
    let next = *next?;
    let mut in_progress = None;
    let mut from = to_chrono(after, offset);
    let mut inclusive = true;
    while let Ok(previous) = cron.find_previous_occurrence(&from, inclusive) {
        let start = to_jiff(&previous);
        if start + duration <= after {
            break;
        }
        in_progress = Some(start);
        from = previous;
        inclusive = false;
    }
    Some(in_progress.unwrap_or(next))
}

/// Checks that the zone really is at the fixed offset the oracle uses.
fn assert_fixed(tz: &TimeZone, offset: &FixedOffset, at: Timestamp, name: &str) {
    assert_eq!(
        tz.to_offset(at).seconds(),
        offset.local_minus_utc(),
        "{name} is not at the assumed fixed offset at {at}"
    );
}

fn to_chrono(at: Timestamp, offset: &FixedOffset) -> DateTime<FixedOffset> {
    // jiff gives instants before 1970 a negative fraction; chrono wants it positive.
    let nanos = at.as_nanosecond();
    let second = i64::try_from(nanos.div_euclid(1_000_000_000)).expect("in range");
    let nanos = u32::try_from(nanos.rem_euclid(1_000_000_000)).expect("below a second");
    DateTime::from_timestamp(second, nanos)
        .expect("within chrono's range")
        .with_timezone(offset)
}

fn to_jiff(at: &DateTime<FixedOffset>) -> Timestamp {
    let nanos =
        i128::from(at.timestamp()) * 1_000_000_000 + i128::from(at.timestamp_subsec_nanos());
    Timestamp::from_nanosecond(nanos).expect("within jiff's range")
}

fn list(starts: &[Timestamp]) -> String {
    let starts: Vec<String> = starts.iter().map(Timestamp::to_string).collect();
    format!("[{}]", starts.join(", "))
}

/// Where a value sits in a list element.
#[derive(Debug, Clone, Copy)]
enum Role {
    Single,
    Start,
    End { start: u32 },
}

/// Seeded generation of cron expressions, instants and durations.
struct Generator(ChaCha8Rng);

/// One cron field as the generator sees it.
struct Field {
    min: u32,
    max: u32,
    /// The largest step both implementations accept: the number of values.
    span: u32,
    /// Three-letter names, the first standing for `min`.
    names: &'static [&'static str],
    /// How often (in percent) the field is exactly `*`.
    star: u32,
    /// How often (in percent) the field is exactly `*/step`.
    star_step: u32,
    day_of_week: bool,
}

const MINUTE: Field = Field {
    min: 0,
    max: 59,
    span: 60,
    names: &[],
    star: 15,
    star_step: 15,
    day_of_week: false,
};
const HOUR: Field = Field {
    min: 0,
    max: 23,
    span: 24,
    names: &[],
    star: 20,
    star_step: 15,
    day_of_week: false,
};
const DAY_OF_MONTH: Field = Field {
    min: 1,
    max: 31,
    span: 31,
    names: &[],
    star: 45,
    star_step: 10,
    day_of_week: false,
};
const MONTH: Field = Field {
    min: 1,
    max: 12,
    span: 12,
    names: &[
        "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
    ],
    star: 60,
    star_step: 5,
    day_of_week: false,
};
const DAY_OF_WEEK: Field = Field {
    min: 0,
    max: 7,
    span: 7,
    names: &["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"],
    star: 45,
    star_step: 10,
    day_of_week: true,
};

impl Generator {
    fn new(seed: u64) -> Generator {
        Generator(ChaCha8Rng::seed_from_u64(seed))
    }

    /// A number in `0..n`.
    fn below(&mut self, n: u32) -> u32 {
        u32::try_from(self.0.next_u64() % u64::from(n)).expect("below a u32")
    }

    /// A number in `min..=max`.
    fn between(&mut self, min: u32, max: u32) -> u32 {
        min + self.below(max - min + 1)
    }

    fn one_in(&mut self, n: u32) -> bool {
        self.below(n) == 0
    }

    fn expression(&mut self) -> String {
        if self.one_in(100) {
            let aliases = [
                "@yearly",
                "@annually",
                "@monthly",
                "@weekly",
                "@daily",
                "@hourly",
            ];
            return aliases[self.below(6) as usize].to_string();
        }
        [&MINUTE, &HOUR, &DAY_OF_MONTH, &MONTH, &DAY_OF_WEEK]
            .map(|field| self.field(field))
            .join(" ")
    }

    fn field(&mut self, field: &Field) -> String {
        let roll = self.below(100);
        if roll < field.star {
            return "*".to_string();
        }
        if roll < field.star + field.star_step {
            return format!("*/{}", self.between(1, field.span));
        }
        let count = 1 + self.below(3);
        let elements: Vec<String> = (0..count).map(|_| self.element(field)).collect();
        elements.join(",")
    }

    /// `n`, `a-b`, `a-b/step` or `*/step`.
    fn element(&mut self, field: &Field) -> String {
        match self.below(10) {
            0..=3 => {
                let value = self.between(field.min, field.max);
                self.value(field, value, Role::Single)
            }
            4..=8 => {
                let start = self.between(field.min, field.max);
                let end = self.between(start, field.max);
                let range = format!(
                    "{}-{}",
                    self.value(field, start, Role::Start),
                    self.value(field, end, Role::End { start })
                );
                if self.one_in(2) {
                    format!("{range}/{}", self.between(1, field.span))
                } else {
                    range
                }
            }
            _ => format!("*/{}", self.between(1, field.span)),
        }
    }

    /// `value` as a number or, sometimes, a name in random case.
    fn value(&mut self, field: &Field, value: u32, role: Role) -> String {
        let index = match (field.day_of_week, value, role) {
            // As a range's end `SUN` is 7 for us and for croner, but only
            // after a start of Monday or later do both read 7 as 7 (see the
            // module docs); a 0 there is written as a number.
            (true, 7, Role::End { start }) if start > 0 => Some(0),
            (true, 0 | 7, Role::End { .. }) | (true, 7, _) => None,
            _ => usize::try_from(value - field.min).ok(),
        };
        let name = index.and_then(|i| field.names.get(i));
        match name {
            Some(name) if self.one_in(2) => match self.below(3) {
                0 => name.to_string(),
                1 => name.to_ascii_lowercase(),
                _ => {
                    let (first, rest) = name.split_at(1);
                    format!("{first}{}", rest.to_ascii_lowercase())
                }
            },
            _ => value.to_string(),
        }
    }

    /// An instant in the given years (UTC), on a whole minute, a whole second
    /// or anywhere.
    fn instant(&mut self, (first_year, last_year): (i16, i16)) -> Timestamp {
        let start = year_start(first_year);
        let end = year_start(last_year);
        let span = u64::try_from(end - start).expect("years in order");
        let mut second = start + i64::try_from(self.0.next_u64() % span).expect("fits");
        let mut nanos = 0;
        match self.below(3) {
            0 => second -= second.rem_euclid(60),
            1 => {}
            _ => nanos = i32::try_from(self.below(1_000_000_000)).expect("below a second"),
        }
        Timestamp::new(second, nanos).expect("in range")
    }

    /// A window length from a minute to six hours, in whole minutes or not.
    fn duration(&mut self) -> SignedDuration {
        if self.one_in(2) {
            SignedDuration::from_mins(i64::from(self.between(1, 360)))
        } else {
            SignedDuration::from_secs(i64::from(self.between(1, 6 * 3600)))
        }
    }
}

/// The first second of `year`, UTC.
fn year_start(year: i16) -> i64 {
    jiff::civil::date(year, 1, 1)
        .to_zoned_datetime(TimeZone::UTC)
        .expect("in range")
        .timestamp()
        .as_second()
}
