//! Five-field cron expressions: parsing, and the local date-times they name.
//!
//! The grammar is the one `crontab(5)` documents for Vixie cron and its
//! descendants (cronie, the BSDs), which is also what administrators check
//! their expressions against:
//!
//! ```text
//! minute  hour  day-of-month  month  day-of-week
//! 0-59    0-23  1-31          1-12   0-7 (0 and 7 are Sunday)
//!                             JAN-DEC SUN-SAT (any case)
//! ```
//!
//! Each field is a comma-separated list of `*`, `n`, `a-b`, `*/s` or `a-b/s`.
//! A day-of-week range may end on Sunday (`FRI-SUN`, `5-7`, `5-0`): it wraps to 7.
//! The aliases `@yearly`/`@annually`, `@monthly`, `@weekly`, `@daily`/`@midnight`
//! and `@hourly` are accepted; `@reboot` is not a schedule and is rejected.
//!
//! Day-of-month and day-of-week combine the Vixie way: when *both* fields are
//! restricted, a day matches if *either* matches (`0 2 1 * MON` is "the 1st of
//! the month, and every Monday"); otherwise both must match. As in Vixie cron, a
//! field counts as unrestricted when its text starts with `*`, so `*/2` is
//! unrestricted: `0 0 */2 * MON` means "odd days that are Mondays".
//!
//! This module only knows civil (wall-clock) time; turning the date-times it
//! names into instants in a time zone is the parent module's job.

use std::fmt;
use std::str::FromStr;

use jiff::ToSpan;
use jiff::civil::{Date, DateTime, Time};

/// One of the five fields of a cron expression, in the order they are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CronField {
    /// The first field, 0-59.
    Minute,
    /// The second field, 0-23.
    Hour,
    /// The third field, 1-31.
    DayOfMonth,
    /// The fourth field, 1-12 or JAN-DEC.
    Month,
    /// The fifth field, 0-7 (0 and 7 are Sunday) or SUN-SAT.
    DayOfWeek,
}

impl CronField {
    const ALL: [CronField; 5] = [
        CronField::Minute,
        CronField::Hour,
        CronField::DayOfMonth,
        CronField::Month,
        CronField::DayOfWeek,
    ];

    /// The field's name as error messages spell it: `minute`, `hour`,
    /// `day-of-month`, `month`, `day-of-week`.
    pub fn name(self) -> &'static str {
        match self {
            CronField::Minute => "minute",
            CronField::Hour => "hour",
            CronField::DayOfMonth => "day-of-month",
            CronField::Month => "month",
            CronField::DayOfWeek => "day-of-week",
        }
    }

    /// The smallest and largest value the field accepts.
    fn bounds(self) -> (u32, u32) {
        match self {
            CronField::Minute => (0, 59),
            CronField::Hour => (0, 23),
            CronField::DayOfMonth => (1, 31),
            CronField::Month => (1, 12),
            CronField::DayOfWeek => (0, 7),
        }
    }

    /// How many distinct values the field has; also the largest useful step.
    fn span(self) -> u32 {
        match self {
            // 0 and 7 are the same day.
            CronField::DayOfWeek => 7,
            _ => {
                let (min, max) = self.bounds();
                max - min + 1
            }
        }
    }

    /// Three-letter names and the value of the first one, if the field has names.
    fn names(self) -> Option<(&'static [&'static str], u32)> {
        const MONTHS: [&str; 12] = [
            "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
        ];
        const WEEKDAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];
        match self {
            CronField::Month => Some((&MONTHS, 1)),
            CronField::DayOfWeek => Some((&WEEKDAYS, 0)),
            _ => None,
        }
    }

    /// What a value of this field looks like, for "is not a number" messages.
    fn expected(self) -> &'static str {
        match self {
            CronField::Month => "a number or a month name (JAN-DEC)",
            CronField::DayOfWeek => "a number or a weekday name (SUN-SAT)",
            _ => "a number",
        }
    }
}

impl fmt::Display for CronField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A cron expression that does not parse: what is wrong, and where.
///
/// `Display` prints only the problem (`hour 25 out of range 0-23`); the
/// position is [`CronError::column`], so a caller that knows where the
/// expression sits in a file can point at the offending character.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{problem}")]
pub struct CronError {
    column: usize,
    problem: CronProblem,
}

impl CronError {
    /// The 0-based offset, in characters, of the offending text in the input
    /// (for a missing field, the end of the input).
    pub fn column(&self) -> usize {
        self.column
    }

    /// The field the problem is in, if it is in one.
    pub fn field(&self) -> Option<CronField> {
        match &self.problem {
            CronProblem::FieldCount { .. }
            | CronProblem::UnsupportedAlias { .. }
            | CronProblem::TextAfterAlias { .. } => None,
            CronProblem::EmptyElement { field }
            | CronProblem::NotANumber { field, .. }
            | CronProblem::OutOfRange { field, .. }
            | CronProblem::Backwards { field, .. }
            | CronProblem::StepOutOfRange { field, .. }
            | CronProblem::StepWithoutRange { field, .. } => Some(*field),
        }
    }

    /// What is wrong.
    pub fn problem(&self) -> &CronProblem {
        &self.problem
    }
}

/// What is wrong with a cron expression.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CronProblem {
    /// Not five whitespace-separated fields.
    #[error("expected 5 fields (minute hour day-of-month month day-of-week), found {found}")]
    FieldCount {
        /// How many fields there were.
        found: usize,
    },
    /// An `@` alias that is not a recurring schedule, or not an alias at all.
    #[error(
        "`{alias}` is not a supported schedule; use 5 fields or one of \
         @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly"
    )]
    UnsupportedAlias {
        /// The alias as written.
        alias: String,
    },
    /// An alias followed by more text.
    #[error("`{alias}` stands alone; remove what follows it")]
    TextAfterAlias {
        /// The alias as written.
        alias: String,
    },
    /// `1,,2`, a leading or trailing comma, or an empty range end.
    #[error("{field} has an empty list element")]
    EmptyElement {
        /// The field.
        field: CronField,
    },
    /// A value that is neither a number nor one of the field's names.
    #[error("{field} `{text}` is not {}", field.expected())]
    NotANumber {
        /// The field.
        field: CronField,
        /// The value as written.
        text: String,
    },
    /// A number outside the field's range.
    #[error("{field} {value} out of range {min}-{max}")]
    OutOfRange {
        /// The field.
        field: CronField,
        /// The value as written.
        value: String,
        /// The smallest allowed value.
        min: u32,
        /// The largest allowed value.
        max: u32,
    },
    /// A range whose start is after its end, such as `22-2`.
    #[error(
        "{field} range {start}-{end} runs backwards; ranges do not wrap, \
         so write it as a list such as {start}-{max},{min}-{end}"
    )]
    Backwards {
        /// The field.
        field: CronField,
        /// The start as a number.
        start: u32,
        /// The end as a number.
        end: u32,
        /// The field's smallest value.
        min: u32,
        /// The field's largest value.
        max: u32,
    },
    /// A step of 0, or larger than the field has values.
    #[error("{field} step {step} out of range 1-{max}")]
    StepOutOfRange {
        /// The field.
        field: CronField,
        /// The step as written.
        step: String,
        /// The largest allowed step.
        max: u32,
    },
    /// A step after a single value, such as `5/10`.
    #[error(
        "{field} `{text}`: a step needs `*` or a range before the `/`, such as `*/10` or `5-59/10`"
    )]
    StepWithoutRange {
        /// The element as written.
        text: String,
        /// The field.
        field: CronField,
    },
}

/// A parsed five-field cron expression.
///
/// Equality compares the text as written: `0 0 * * 0` and `0 0 * * 7` name the
/// same times but are different expressions.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CronExpr {
    source: String,
    /// Bit n set: minute n matches.
    minutes: u64,
    /// Bit n set: hour n matches.
    hours: u64,
    /// Bit n set: day n of the month matches (bit 0 unused).
    days_of_month: u64,
    /// Bit n set: month n matches (bit 0 unused).
    months: u64,
    /// Bit n set: weekday n matches, Sunday = 0 (7 is folded into 0).
    days_of_week: u64,
    /// The day-of-month field starts with `*` (Vixie's DOM_STAR).
    dom_unrestricted: bool,
    /// The day-of-week field starts with `*` (Vixie's DOW_STAR).
    dow_unrestricted: bool,
}

impl CronExpr {
    /// Parses a five-field cron expression or one of the `@` aliases.
    pub fn parse(input: &str) -> Result<CronExpr, CronError> {
        let fields = split_fields(input);
        if let Some(&(column, first)) = fields.first()
            && first.starts_with('@')
        {
            let expanded = expand_alias(first).ok_or_else(|| CronError {
                column,
                problem: CronProblem::UnsupportedAlias {
                    alias: first.to_string(),
                },
            })?;
            if let Some(&(column, _)) = fields.get(1) {
                return Err(CronError {
                    column,
                    problem: CronProblem::TextAfterAlias {
                        alias: first.to_string(),
                    },
                });
            }
            let mut expr = CronExpr::parse(expanded)?;
            expr.source = input.trim().to_string();
            return Ok(expr);
        }
        if fields.len() != 5 {
            let column = match fields.get(5) {
                Some(&(column, _)) => column,
                None => input.chars().count(),
            };
            return Err(CronError {
                column,
                problem: CronProblem::FieldCount {
                    found: fields.len(),
                },
            });
        }
        let mut sets = [0u64; 5];
        for ((set, field), &(column, text)) in sets.iter_mut().zip(CronField::ALL).zip(&fields) {
            *set = parse_field(field, text, column)?;
        }
        let [minutes, hours, days_of_month, months, days_of_week] = sets;
        Ok(CronExpr {
            source: input.trim().to_string(),
            minutes,
            hours,
            days_of_month,
            months,
            days_of_week,
            dom_unrestricted: fields[2].1.starts_with('*'),
            dow_unrestricted: fields[4].1.starts_with('*'),
        })
    }

    /// The expression as written (surrounding whitespace removed).
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Whether the expression names this local date-time: its minute, hour and
    /// day match, and its seconds are zero.
    pub fn matches(&self, datetime: DateTime) -> bool {
        datetime.second() == 0
            && datetime.subsec_nanosecond() == 0
            && bit(self.minutes, datetime.minute())
            && bit(self.hours, datetime.hour())
            && self.matches_date(datetime.date())
    }

    /// Whether the expression names any time on this local date (month, and
    /// day-of-month and day-of-week combined by the Vixie rule).
    pub fn matches_date(&self, date: Date) -> bool {
        if !bit(self.months, date.month()) {
            return false;
        }
        let dom = bit(self.days_of_month, date.day());
        let dow = bit(self.days_of_week, date.weekday().to_sunday_zero_offset());
        if self.dom_unrestricted || self.dow_unrestricted {
            dom && dow
        } else {
            dom || dow
        }
    }

    /// The first local date-time at or after `from` that the expression names,
    /// looking no further than the end of `last_day`.
    pub(super) fn first_at_or_after(&self, from: DateTime, last_day: Date) -> Option<DateTime> {
        let mut date = from.date();
        let mut hour = u32::try_from(from.hour()).ok()?;
        let mut minute = u32::try_from(from.minute()).ok()?;
        if from.second() != 0 || from.subsec_nanosecond() != 0 {
            // Candidates are on whole minutes; 60 simply finds nothing this hour.
            minute += 1;
        }
        loop {
            if date > last_day {
                return None;
            }
            if !bit(self.months, date.month()) {
                date = date.first_of_month().checked_add(1.month()).ok()?;
                (hour, minute) = (0, 0);
                continue;
            }
            if self.matches_date(date)
                && let Some((h, m)) = self.first_time_at_or_after(hour, minute)
            {
                let time = Time::new(i8::try_from(h).ok()?, i8::try_from(m).ok()?, 0, 0).ok()?;
                return Some(date.to_datetime(time));
            }
            date = date.tomorrow().ok()?;
            (hour, minute) = (0, 0);
        }
    }

    /// The first (hour, minute) of a day at or after `hour:minute`.
    fn first_time_at_or_after(&self, hour: u32, minute: u32) -> Option<(u32, u32)> {
        let h = next_bit(self.hours, hour)?;
        if h == hour
            && let Some(m) = next_bit(self.minutes, minute)
        {
            return Some((h, m));
        }
        let h = next_bit(self.hours, hour + 1)?;
        Some((h, next_bit(self.minutes, 0)?))
    }
}

impl FromStr for CronExpr {
    type Err = CronError;

    fn from_str(s: &str) -> Result<CronExpr, CronError> {
        CronExpr::parse(s)
    }
}

impl fmt::Display for CronExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

fn bit(set: u64, n: i8) -> bool {
    u32::try_from(n).is_ok_and(|n| n < 64 && set & (1 << n) != 0)
}

/// The smallest member of `set` that is at least `from`.
fn next_bit(set: u64, from: u32) -> Option<u32> {
    let rest = set.checked_shr(from)?;
    (rest != 0).then(|| from + rest.trailing_zeros())
}

/// Whitespace-separated fields with the character column each starts at.
fn split_fields(input: &str) -> Vec<(usize, &str)> {
    let mut fields = Vec::new();
    let mut start: Option<(usize, usize)> = None; // (column, byte offset)
    for (column, (offset, c)) in input.char_indices().enumerate() {
        match (c.is_whitespace(), start) {
            (true, Some((col, begin))) => {
                fields.push((col, &input[begin..offset]));
                start = None;
            }
            (false, None) => start = Some((column, offset)),
            _ => {}
        }
    }
    if let Some((col, begin)) = start {
        fields.push((col, &input[begin..]));
    }
    fields
}

fn expand_alias(alias: &str) -> Option<&'static str> {
    Some(match alias.to_ascii_lowercase().as_str() {
        "@yearly" | "@annually" => "0 0 1 1 *",
        "@monthly" => "0 0 1 * *",
        "@weekly" => "0 0 * * 0",
        "@daily" | "@midnight" => "0 0 * * *",
        "@hourly" => "0 * * * *",
        _ => return None,
    })
}

/// Parses one field into a bit set; `column` is where the field starts.
fn parse_field(field: CronField, text: &str, column: usize) -> Result<u64, CronError> {
    let mut set = 0u64;
    let mut element_column = column;
    for element in text.split(',') {
        set |= parse_element(field, element, element_column)?;
        element_column += element.chars().count() + 1;
    }
    if field == CronField::DayOfWeek && set & (1 << 7) != 0 {
        set = (set & !(1 << 7)) | 1;
    }
    Ok(set)
}

/// Parses `*`, `n`, `a-b`, `*/s` or `a-b/s`.
fn parse_element(field: CronField, element: &str, column: usize) -> Result<u64, CronError> {
    let error = |column, problem| CronError { column, problem };
    if element.is_empty() {
        return Err(error(column, CronProblem::EmptyElement { field }));
    }
    let (range, step) = match element.split_once('/') {
        Some((range, step)) => (range, Some(step)),
        None => (element, None),
    };
    let (min, max) = field.bounds();
    let (start, end) = if range == "*" {
        (min, max)
    } else if let Some((a, b)) = range.split_once('-') {
        let start = parse_value(field, a, column)?;
        let end_column = column + a.chars().count() + 1;
        let mut end = parse_value(field, b, end_column)?;
        if field == CronField::DayOfWeek && end == 0 && start > 0 {
            // FRI-SUN: a day-of-week range may end on Sunday.
            end = 7;
        }
        if start > end {
            return Err(error(
                column,
                CronProblem::Backwards {
                    field,
                    start,
                    end,
                    min,
                    max,
                },
            ));
        }
        (start, end)
    } else {
        let value = parse_value(field, range, column)?;
        if step.is_some() {
            let problem = CronProblem::StepWithoutRange {
                field,
                text: element.to_string(),
            };
            return Err(error(column, problem));
        }
        (value, value)
    };
    let step = match step {
        None => 1,
        Some(text) => {
            let step_column = column + range.chars().count() + 1;
            if text.is_empty() {
                return Err(error(step_column, CronProblem::EmptyElement { field }));
            }
            let out_of_range = || {
                let problem = CronProblem::StepOutOfRange {
                    field,
                    step: text.to_string(),
                    max: field.span(),
                };
                error(step_column, problem)
            };
            if !text.bytes().all(|b| b.is_ascii_digit()) {
                let problem = CronProblem::NotANumber {
                    field,
                    text: text.to_string(),
                };
                return Err(error(step_column, problem));
            }
            let step: u32 = text.parse().map_err(|_| out_of_range())?;
            if step == 0 || step > field.span() {
                return Err(out_of_range());
            }
            step
        }
    };
    Ok((start..=end)
        .step_by(step as usize)
        .fold(0u64, |set, n| set | (1 << n)))
}

/// Parses a number or a name and checks it against the field's bounds.
fn parse_value(field: CronField, text: &str, column: usize) -> Result<u32, CronError> {
    let error = |problem| CronError { column, problem };
    if text.is_empty() {
        return Err(error(CronProblem::EmptyElement { field }));
    }
    let (min, max) = field.bounds();
    if text.bytes().all(|b| b.is_ascii_digit()) {
        let out_of_range = || {
            error(CronProblem::OutOfRange {
                field,
                value: text.to_string(),
                min,
                max,
            })
        };
        let value: u32 = text.parse().map_err(|_| out_of_range())?;
        return if (min..=max).contains(&value) {
            Ok(value)
        } else {
            Err(out_of_range())
        };
    }
    if let Some((names, first)) = field.names()
        && let Some(index) = names
            .iter()
            .position(|name| name.eq_ignore_ascii_case(text))
    {
        // At most 12 names, so the index fits.
        return Ok(first + index as u32);
    }
    Err(error(CronProblem::NotANumber {
        field,
        text: text.to_string(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn parses(input: &str) -> CronExpr {
        match CronExpr::parse(input) {
            Ok(expr) => expr,
            Err(error) => panic!("`{input}` should parse, got: {error}"),
        }
    }

    /// (message, column, field) of the error for `input`.
    fn rejects(input: &str) -> (String, usize, Option<CronField>) {
        match CronExpr::parse(input) {
            Ok(expr) => panic!("`{input}` should be rejected, parsed as {expr:?}"),
            Err(error) => (error.to_string(), error.column(), error.field()),
        }
    }

    fn members(set: u64) -> Vec<u32> {
        (0..64).filter(|n| set & (1 << n) != 0).collect()
    }

    #[test]
    fn accepts_the_crontab_grammar() {
        // (expression, minutes, hours, days of month, months, days of week);
        // an empty list means every value.
        type Row = (
            &'static str,
            &'static [u32],
            &'static [u32],
            &'static [u32],
            &'static [u32],
            &'static [u32],
        );
        let table: &[Row] = &[
            ("0 1 * * SAT,SUN", &[0], &[1], &[], &[], &[0, 6]),
            ("*/15 * * * *", &[0, 15, 30, 45], &[], &[], &[], &[]),
            (
                "5,10-12 2-4/2 1,15 JAN-MAR/2 MON-FRI",
                &[5, 10, 11, 12],
                &[2, 4],
                &[1, 15],
                &[1, 3],
                &[1, 2, 3, 4, 5],
            ),
            ("0 0 * * 7", &[0], &[0], &[], &[], &[0]),
            ("0 0 * * 0,7", &[0], &[0], &[], &[], &[0]),
            ("0 0 * * 5-7", &[0], &[0], &[], &[], &[0, 5, 6]),
            ("0 0 * * FRI-SUN", &[0], &[0], &[], &[], &[0, 5, 6]),
            ("0 0 * * 1-0", &[0], &[0], &[], &[], &[0, 1, 2, 3, 4, 5, 6]),
            ("0 0 * * */7", &[0], &[0], &[], &[], &[0]),
            ("0 0 * * 0-0", &[0], &[0], &[], &[], &[0]),
            ("0 0 * jan,Feb,DEC mon", &[0], &[0], &[], &[1, 2, 12], &[1]),
            ("59 23 31 12 6", &[59], &[23], &[31], &[12], &[6]),
            (
                "0-59/30 0-23/12 1-31/10 1-12/6 0-6/3",
                &[0, 30],
                &[0, 12],
                &[1, 11, 21, 31],
                &[1, 7],
                &[0, 3, 6],
            ),
            ("*/60 */24 */31 */12 */7", &[0], &[0], &[1], &[1], &[0]),
            ("  0\t2   *  *  *  ", &[0], &[2], &[], &[], &[]),
        ];
        for &(input, minutes, hours, doms, months, dows) in table {
            let expr = parses(input);
            let or_all = |wanted: &[u32], all: Vec<u32>| {
                if wanted.is_empty() {
                    all
                } else {
                    wanted.to_vec()
                }
            };
            assert_eq!(
                members(expr.minutes),
                or_all(minutes, (0..60).collect()),
                "{input}: minutes"
            );
            assert_eq!(
                members(expr.hours),
                or_all(hours, (0..24).collect()),
                "{input}: hours"
            );
            assert_eq!(
                members(expr.days_of_month),
                or_all(doms, (1..32).collect()),
                "{input}: doms"
            );
            assert_eq!(
                members(expr.months),
                or_all(months, (1..13).collect()),
                "{input}: months"
            );
            assert_eq!(
                members(expr.days_of_week),
                or_all(dows, (0..7).collect()),
                "{input}: dows"
            );
        }
    }

    #[test]
    fn aliases_expand_to_their_five_field_forms() {
        for (alias, fields) in [
            ("@yearly", "0 0 1 1 *"),
            ("@annually", "0 0 1 1 *"),
            ("@monthly", "0 0 1 * *"),
            ("@weekly", "0 0 * * 0"),
            ("@daily", "0 0 * * *"),
            ("@midnight", "0 0 * * *"),
            ("@HOURLY", "0 * * * *"),
        ] {
            let (alias_expr, expr) = (parses(alias), parses(fields));
            assert_eq!(alias_expr.as_str(), alias);
            assert_eq!(
                (alias_expr.minutes, alias_expr.hours),
                (expr.minutes, expr.hours),
                "{alias}"
            );
            assert_eq!(alias_expr.days_of_month, expr.days_of_month, "{alias}");
            assert_eq!(alias_expr.months, expr.months, "{alias}");
            assert_eq!(alias_expr.days_of_week, expr.days_of_week, "{alias}");
        }
    }

    #[test]
    fn rejections_name_the_field_the_column_and_what_was_expected() {
        use CronField::*;
        let five = "expected 5 fields (minute hour day-of-month month day-of-week)";
        let aliases = "use 5 fields or one of @yearly, @annually, @monthly, @weekly, @daily, \
                       @midnight, @hourly";
        let table: &[(&str, &str, usize, Option<CronField>)] = &[
            ("", &format!("{five}, found 0"), 0, None),
            ("   ", &format!("{five}, found 0"), 3, None),
            ("0 1 * *", &format!("{five}, found 4"), 7, None),
            ("0 0 1 * * 2026", &format!("{five}, found 6"), 10, None),
            (
                "@reboot",
                &format!("`@reboot` is not a supported schedule; {aliases}"),
                0,
                None,
            ),
            (
                "  @fortnightly",
                &format!("`@fortnightly` is not a supported schedule; {aliases}"),
                2,
                None,
            ),
            (
                "@daily 0",
                "`@daily` stands alone; remove what follows it",
                7,
                None,
            ),
            ("60 * * * *", "minute 60 out of range 0-59", 0, Some(Minute)),
            ("0 25 * * *", "hour 25 out of range 0-23", 2, Some(Hour)),
            (
                "0 0 0 * *",
                "day-of-month 0 out of range 1-31",
                4,
                Some(DayOfMonth),
            ),
            (
                "0 0 32 * *",
                "day-of-month 32 out of range 1-31",
                4,
                Some(DayOfMonth),
            ),
            ("0 0 * 13 *", "month 13 out of range 1-12", 6, Some(Month)),
            ("0 0 * 0 *", "month 0 out of range 1-12", 6, Some(Month)),
            (
                "0 0 * * 8",
                "day-of-week 8 out of range 0-7",
                8,
                Some(DayOfWeek),
            ),
            (
                "0 0,1-99999999999999999999 * * *",
                "hour 99999999999999999999 out of range 0-23",
                6,
                Some(Hour),
            ),
            ("0 JAN * * *", "hour `JAN` is not a number", 2, Some(Hour)),
            (
                "0 0 * JANUARY *",
                "month `JANUARY` is not a number or a month name (JAN-DEC)",
                6,
                Some(Month),
            ),
            (
                "0 0 * * MON-FUN",
                "day-of-week `FUN` is not a number or a weekday name (SUN-SAT)",
                12,
                Some(DayOfWeek),
            ),
            (
                "0 0 * * TUE-MON",
                "day-of-week range 2-1 runs backwards; ranges do not wrap, so write it as a list such as 2-7,0-1",
                8,
                Some(DayOfWeek),
            ),
            (
                "0 22-2 * * *",
                "hour range 22-2 runs backwards; ranges do not wrap, so write it as a list such as 22-23,0-2",
                2,
                Some(Hour),
            ),
            (
                "-1 * * * *",
                "minute has an empty list element",
                0,
                Some(Minute),
            ),
            (
                "1,,2 * * * *",
                "minute has an empty list element",
                2,
                Some(Minute),
            ),
            (
                "0 0 1, * *",
                "day-of-month has an empty list element",
                6,
                Some(DayOfMonth),
            ),
            (
                "0 0 1- * *",
                "day-of-month has an empty list element",
                6,
                Some(DayOfMonth),
            ),
            (
                "*/0 * * * *",
                "minute step 0 out of range 1-60",
                2,
                Some(Minute),
            ),
            (
                "0 */25 * * *",
                "hour step 25 out of range 1-24",
                4,
                Some(Hour),
            ),
            (
                "0 0 * * */8",
                "day-of-week step 8 out of range 1-7",
                10,
                Some(DayOfWeek),
            ),
            (
                "*/ * * * *",
                "minute has an empty list element",
                2,
                Some(Minute),
            ),
            ("*/x * * * *", "minute `x` is not a number", 2, Some(Minute)),
            (
                "*/2/3 * * * *",
                "minute `2/3` is not a number",
                2,
                Some(Minute),
            ),
            (
                "5/10 * * * *",
                "minute `5/10`: a step needs `*` or a range before the `/`, such as `*/10` or `5-59/10`",
                0,
                Some(Minute),
            ),
            (
                "0 0 * * +1",
                "day-of-week `+1` is not a number or a weekday name (SUN-SAT)",
                8,
                Some(DayOfWeek),
            ),
            (
                "0 0 ? * MON",
                "day-of-month `?` is not a number",
                4,
                Some(DayOfMonth),
            ),
            (
                "0 0 L * *",
                "day-of-month `L` is not a number",
                4,
                Some(DayOfMonth),
            ),
            ("é 0 * * *", "minute `é` is not a number", 0, Some(Minute)),
            (
                "0\u{3000}25 * * *",
                "hour 25 out of range 0-23",
                2,
                Some(Hour),
            ),
        ];
        for &(input, message, column, field) in table {
            assert_eq!(
                rejects(input),
                (message.to_string(), column, field),
                "input: `{input}`"
            );
        }
    }

    #[test]
    fn day_of_month_and_day_of_week_match_if_either_matches_when_both_are_restricted() {
        let expr = parses("0 2 13 * FRI");
        assert!(expr.matches_date(date(2026, 2, 13)), "Friday the 13th");
        assert!(expr.matches_date(date(2026, 1, 13)), "a Tuesday the 13th");
        assert!(expr.matches_date(date(2026, 1, 16)), "a Friday the 16th");
        assert!(
            !expr.matches_date(date(2026, 1, 14)),
            "a Wednesday the 14th"
        );
    }

    #[test]
    fn day_of_month_and_day_of_week_must_both_match_when_either_starts_with_a_star() {
        let odd_mondays = parses("0 0 */2 * MON");
        assert!(odd_mondays.matches_date(date(2026, 6, 1)), "Monday the 1st");
        assert!(
            !odd_mondays.matches_date(date(2026, 6, 8)),
            "Monday the 8th"
        );
        assert!(
            !odd_mondays.matches_date(date(2026, 6, 3)),
            "Wednesday the 3rd"
        );

        let fifteenth_on_even_weekdays = parses("0 0 15 * */2");
        assert!(
            fifteenth_on_even_weekdays.matches_date(date(2026, 1, 15)),
            "Thursday = 4"
        );
        assert!(
            fifteenth_on_even_weekdays.matches_date(date(2026, 2, 15)),
            "Sunday = 0"
        );
        assert!(
            !fifteenth_on_even_weekdays.matches_date(date(2026, 6, 15)),
            "Monday = 1"
        );
        assert!(
            !fifteenth_on_even_weekdays.matches_date(date(2026, 1, 13)),
            "Tuesday the 13th"
        );
    }

    #[test]
    fn a_star_day_field_leaves_the_other_in_charge() {
        let mondays = parses("0 0 * * MON");
        assert!(mondays.matches_date(date(2026, 6, 8)));
        assert!(!mondays.matches_date(date(2026, 6, 9)));
        let fifteenths = parses("0 0 15 * *");
        assert!(fifteenths.matches_date(date(2026, 6, 15)));
        assert!(!fifteenths.matches_date(date(2026, 6, 16)));
    }

    #[test]
    fn matches_checks_minute_hour_and_whole_seconds() {
        let expr = parses("30 2 * * *");
        assert!(expr.matches(date(2026, 6, 1).at(2, 30, 0, 0)));
        assert!(!expr.matches(date(2026, 6, 1).at(2, 30, 1, 0)));
        assert!(!expr.matches(date(2026, 6, 1).at(3, 30, 0, 0)));
        assert!(!expr.matches(date(2026, 6, 1).at(2, 31, 0, 0)));
    }

    #[test]
    fn first_at_or_after_finds_the_next_named_minute() {
        let expr = parses("0,30 2 * * *");
        let last_day = date(2030, 1, 1);
        let next = |dt: DateTime| expr.first_at_or_after(dt, last_day);
        assert_eq!(
            next(date(2026, 6, 1).at(2, 0, 0, 0)),
            Some(date(2026, 6, 1).at(2, 0, 0, 0))
        );
        assert_eq!(
            next(date(2026, 6, 1).at(2, 0, 0, 1)),
            Some(date(2026, 6, 1).at(2, 30, 0, 0))
        );
        assert_eq!(
            next(date(2026, 6, 1).at(2, 59, 59, 0)),
            Some(date(2026, 6, 2).at(2, 0, 0, 0))
        );
        assert_eq!(
            next(date(2026, 12, 31).at(23, 0, 0, 0)),
            Some(date(2027, 1, 1).at(2, 0, 0, 0))
        );
        assert_eq!(
            expr.first_at_or_after(date(2030, 1, 1).at(3, 0, 0, 0), last_day),
            None
        );
    }

    #[test]
    fn first_at_or_after_skips_months_that_do_not_match() {
        let expr = parses("0 0 29 2 *");
        let found = expr.first_at_or_after(date(2026, 3, 1).at(0, 0, 0, 0), date(2100, 1, 1));
        assert_eq!(found, Some(date(2028, 2, 29).at(0, 0, 0, 0)));
    }

    #[test]
    fn display_and_from_str_round_trip_the_text() {
        let expr: CronExpr = " 0 1 * * SAT,SUN ".parse().expect("valid");
        assert_eq!(expr.to_string(), "0 1 * * SAT,SUN");
        assert_eq!(CronExpr::parse(expr.as_str()), Ok(expr));
    }
}
