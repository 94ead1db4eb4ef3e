//! The small value types policy fields are written in: durations, percentages,
//! counts-or-percentages, dates, expiry instants and glob patterns.
//!
//! Each parses from the text a person writes in YAML, prints back the same
//! text, and describes itself to JSON Schema (and so to editors and CRDs).

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer, de};

macro_rules! string_value {
    ($ty:ident, $expecting:literal) => {
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl de::Visitor<'_> for V {
                    type Value = $ty;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str($expecting)
                    }
                    fn visit_str<E: de::Error>(self, s: &str) -> Result<$ty, E> {
                        s.parse().map_err(E::custom)
                    }
                }
                d.deserialize_str(V)
            }
        }

        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
    };
}

/// A span of time written as a number and a unit, or several: `90m`, `24h`,
/// `2d`, `1w`, `1d12h`. Units: `w` (7 days), `d` (24 hours), `h`, `m`, `s`.
/// Plan arithmetic happens on UTC instants, where a day is always 24 hours;
/// wall-clock concerns (windows) are evaluated in their own time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration {
    seconds: i64,
}

impl Duration {
    pub const ZERO: Duration = Duration { seconds: 0 };

    pub fn from_secs(seconds: i64) -> Self {
        Duration { seconds }
    }

    pub fn as_secs(self) -> i64 {
        self.seconds
    }

    pub fn to_signed_duration(self) -> jiff::SignedDuration {
        jiff::SignedDuration::from_secs(self.seconds)
    }

    pub fn saturating_add(self, other: Duration) -> Duration {
        Duration {
            seconds: self.seconds.saturating_add(other.seconds),
        }
    }
}

impl FromStr for Duration {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = |why: &str| {
            format!(
                "invalid duration `{s}`: {why}; write a number and a unit such as 90m, 24h, 2d or 1w"
            )
        };
        let text = s.trim();
        if text == "0" {
            return Ok(Duration::ZERO);
        }
        if text.is_empty() {
            return Err(bad("it is empty"));
        }
        let mut seconds: i64 = 0;
        let mut digits = String::new();
        for c in text.chars() {
            if c.is_ascii_digit() {
                digits.push(c);
                continue;
            }
            let unit: i64 = match c {
                'w' => 7 * 86_400,
                'd' => 86_400,
                'h' => 3_600,
                'm' => 60,
                's' => 1,
                _ => return Err(bad(&format!("unknown unit `{c}`"))),
            };
            if digits.is_empty() {
                return Err(bad(&format!("unit `{c}` has no number before it")));
            }
            let n: i64 = digits.parse().map_err(|_| bad("the number is too large"))?;
            seconds = n
                .checked_mul(unit)
                .and_then(|v| seconds.checked_add(v))
                .filter(|v| *v <= 100 * 366 * 86_400)
                .ok_or_else(|| bad("longer than a hundred years"))?;
            digits.clear();
        }
        if !digits.is_empty() {
            return Err(bad("the last number has no unit"));
        }
        Ok(Duration { seconds })
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.seconds == 0 {
            return f.write_str("0d");
        }
        // Days and smaller units only: `14d` reads as people write deadlines, `2w` does not.
        let mut rest = self.seconds;
        for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] {
            if rest >= size {
                write!(f, "{}{unit}", rest / size)?;
                rest %= size;
            }
        }
        Ok(())
    }
}

string_value!(Duration, "a duration such as 90m, 24h, 2d or 1w");

impl JsonSchema for Duration {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "description": "A duration: numbers with units w, d, h, m, s, e.g. 90m, 24h, 2d, 1d12h.",
            "pattern": "^(0|([0-9]+[wdhms])+)$"
        })
    }
}

/// A percentage from 0% to 100%, written with its sign: `95%`, `99.5%`.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Percent(f64);

impl Percent {
    pub fn new(value: f64) -> Option<Self> {
        (0.0..=100.0).contains(&value).then_some(Percent(value))
    }

    pub fn value(self) -> f64 {
        self.0
    }

    /// This percentage as a fraction of one.
    pub fn fraction(self) -> f64 {
        self.0 / 100.0
    }
}

impl FromStr for Percent {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let number = s.trim().strip_suffix('%').ok_or_else(|| {
            format!("invalid percentage `{s}`: write a number followed by %, such as 95%")
        })?;
        let value: f64 = number
            .trim()
            .parse()
            .ok()
            .filter(|v: &f64| v.is_finite())
            .ok_or_else(|| format!("invalid percentage `{s}`: `{number}` is not a number"))?;
        Percent::new(value)
            .ok_or_else(|| format!("percentage `{s}` is out of range: expected 0% to 100%"))
    }
}

impl fmt::Display for Percent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}%", self.0)
    }
}

string_value!(Percent, "a percentage such as 95%");

impl JsonSchema for Percent {
    fn schema_name() -> Cow<'static, str> {
        "Percent".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "description": "A percentage from 0% to 100%, e.g. 95% or 99.5%.",
            "pattern": "^[0-9]+(\\.[0-9]+)?%$"
        })
    }
}

/// A number of machines, or a percentage of a group: `5` or `10%`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CountOrPercent {
    Count(u32),
    Percent(Percent),
}

impl CountOrPercent {
    /// The number of machines this allows out of `total`; a percentage rounds
    /// down but never below one machine (a limit of 0 would stop everything).
    pub fn of(self, total: u32) -> u32 {
        match self {
            CountOrPercent::Count(n) => n,
            CountOrPercent::Percent(p) => {
                let n = (f64::from(total) * p.fraction()).floor();
                // Bounded by total, so the cast cannot truncate.
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                let n = n as u32;
                n.max(1)
            }
        }
    }
}

impl fmt::Display for CountOrPercent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CountOrPercent::Count(n) => write!(f, "{n}"),
            CountOrPercent::Percent(p) => p.fmt(f),
        }
    }
}

impl FromStr for CountOrPercent {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        if s.trim_end().ends_with('%') {
            return s.parse().map(CountOrPercent::Percent);
        }
        s.trim().parse().map(CountOrPercent::Count).map_err(|_| {
            format!("invalid value `{s}`: expected a whole number of machines such as 5, or a percentage such as 10%")
        })
    }
}

impl<'de> Deserialize<'de> for CountOrPercent {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = CountOrPercent;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number of machines such as 5, or a percentage such as 10%")
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<CountOrPercent, E> {
                u32::try_from(n)
                    .map(CountOrPercent::Count)
                    .map_err(|_| E::custom(format!("{n} machines is more than any fleet")))
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<CountOrPercent, E> {
                u64::try_from(n)
                    .map_err(|_| E::custom(format!("{n} is negative: expected 0 or more machines")))
                    .and_then(|n| self.visit_u64(n))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<CountOrPercent, E> {
                s.parse().map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

impl Serialize for CountOrPercent {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            CountOrPercent::Count(n) => s.serialize_u32(*n),
            CountOrPercent::Percent(p) => p.serialize(s),
        }
    }
}

impl JsonSchema for CountOrPercent {
    fn schema_name() -> Cow<'static, str> {
        "CountOrPercent".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        // The same shape as Kubernetes' IntOrString, so the CRD stays structural.
        json_schema!({
            "description": "A number of machines (5) or a percentage of the group (10%).",
            "x-kubernetes-int-or-string": true,
            "anyOf": [
                {"type": "integer", "minimum": 0},
                {"type": "string", "pattern": "^[0-9]+(\\.[0-9]+)?%$"}
            ]
        })
    }
}

/// A calendar date, `2026-12-20`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date(pub jiff::civil::Date);

impl FromStr for Date {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        s.trim()
            .parse::<jiff::civil::Date>()
            .map(Date)
            .map_err(|_| format!("invalid date `{s}`: expected a calendar date such as 2026-12-20"))
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

string_value!(Date, "a date such as 2026-12-20");

impl JsonSchema for Date {
    fn schema_name() -> Cow<'static, str> {
        "Date".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "string", "format": "date", "description": "A calendar date, e.g. 2026-12-20."})
    }
}

/// When something ends: a date (`2027-03-31`, valid through the end of that
/// day, UTC) or an RFC 3339 instant (`2027-03-31T18:00:00Z`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Expiry {
    /// The first instant at which the thing no longer holds.
    pub end: jiff::Timestamp,
    text_is_date: bool,
}

impl FromStr for Expiry {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        if let Ok(ts) = t.parse::<jiff::Timestamp>() {
            return Ok(Expiry {
                end: ts,
                text_is_date: false,
            });
        }
        let bad = || {
            format!(
                "invalid expiry `{s}`: expected a date such as 2027-03-31 or an instant such as 2027-03-31T18:00:00Z"
            )
        };
        let date: jiff::civil::Date = t.parse().map_err(|_| bad())?;
        let next = date.tomorrow().map_err(|_| bad())?;
        let end = next
            .to_zoned_datetime(jiff::tz::TimeZone::UTC)
            .map_err(|_| bad())?
            .timestamp();
        Ok(Expiry {
            end,
            text_is_date: true,
        })
    }
}

impl fmt::Display for Expiry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.text_is_date {
            let day = self.end.to_zoned_datetime(jiff::tz::TimeZone::UTC).date();
            match day.yesterday() {
                Ok(d) => d.fmt(f),
                Err(_) => self.end.fmt(f),
            }
        } else {
            self.end.fmt(f)
        }
    }
}

string_value!(
    Expiry,
    "a date such as 2027-03-31 or an instant such as 2027-03-31T18:00:00Z"
);

impl JsonSchema for Expiry {
    fn schema_name() -> Cow<'static, str> {
        "Expiry".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "description": "A date (valid through the end of that day, UTC) such as 2027-03-31, or an RFC 3339 instant such as 2027-03-31T18:00:00Z.",
            "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}([Tt ].+)?$"
        })
    }
}

/// A shell-style glob: `*` any run of characters, `?` one, `[a-z]` a class.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Glob(glob::Pattern);

impl Glob {
    pub fn matches(&self, s: &str) -> bool {
        self.0.matches(s)
    }

    /// Whether `s` matches, ignoring case: for names that are case-insensitive
    /// by nature, such as DNS host names and CVE identifiers.
    pub fn matches_ignoring_case(&self, s: &str) -> bool {
        let options = glob::MatchOptions {
            case_sensitive: false,
            ..glob::MatchOptions::new()
        };
        self.0.matches_with(s, options)
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// Whether the pattern has no wildcard, so matches exactly one string.
    pub fn is_literal(&self) -> bool {
        !self.0.as_str().contains(['*', '?', '['])
    }
}

impl FromStr for Glob {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        if s.is_empty() {
            return Err("empty pattern: write a name or a glob such as `postgresql-*`".into());
        }
        glob::Pattern::new(s)
            .map(Glob)
            .map_err(|e| format!("invalid glob `{s}`: {}", e.msg))
    }
}

impl fmt::Display for Glob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.as_str())
    }
}

string_value!(Glob, "a name or a glob pattern such as `postgresql-*`");

impl JsonSchema for Glob {
    fn schema_name() -> Cow<'static, str> {
        "Glob".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "minLength": 1,
            "description": "A name, or a glob pattern: * any characters, ? one character, [a-z] a class."
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_units_and_combinations() {
        let secs = |s: &str| s.parse::<Duration>().map(Duration::as_secs);
        assert_eq!(secs("90m"), Ok(5_400));
        assert_eq!(secs("24h"), Ok(86_400));
        assert_eq!(secs("2d"), Ok(172_800));
        assert_eq!(secs("1w"), Ok(604_800));
        assert_eq!(secs("1d12h"), Ok(129_600));
        assert_eq!(secs("0"), Ok(0));
        assert_eq!(secs("0d"), Ok(0));
    }

    #[test]
    fn durations_reject_what_they_cannot_read() {
        for (text, why) in [
            ("", "it is empty"),
            ("3", "the last number has no unit"),
            ("3x", "unknown unit `x`"),
            ("d", "unit `d` has no number"),
            ("-1d", "unknown unit `-`"),
            ("99999999999999999999d", "too large"),
            ("40000d", "hundred years"),
        ] {
            let err = text.parse::<Duration>().expect_err(text);
            assert!(err.contains(why), "{text}: {err}");
        }
    }

    #[test]
    fn durations_print_in_their_largest_exact_units() {
        let show = |s: &str| s.parse::<Duration>().map(|d| d.to_string());
        assert_eq!(show("90m"), Ok("1h30m".into()));
        assert_eq!(show("14d"), Ok("14d".into()));
        assert_eq!(show("1w"), Ok("7d".into()));
        assert_eq!(show("7d"), Ok("7d".into()));
        assert_eq!(show("0"), Ok("0d".into()));
    }

    #[test]
    fn percentages_are_bounded() {
        assert_eq!("95%".parse::<Percent>().map(Percent::value), Ok(95.0));
        assert_eq!("99.5%".parse::<Percent>().map(Percent::value), Ok(99.5));
        assert!(
            "120%"
                .parse::<Percent>()
                .unwrap_err()
                .contains("out of range")
        );
        assert!(
            "95".parse::<Percent>()
                .unwrap_err()
                .contains("followed by %")
        );
        assert!(
            "NaN%"
                .parse::<Percent>()
                .unwrap_err()
                .contains("not a number")
        );
    }

    #[test]
    fn count_or_percent_of_a_group_never_rounds_to_zero() {
        let p: CountOrPercent = "10%".parse().expect("valid");
        assert_eq!(p.of(55), 5);
        assert_eq!(p.of(3), 1);
        assert_eq!(CountOrPercent::Count(4).of(100), 4);
    }

    #[test]
    fn expiry_dates_last_through_the_day() {
        let e: Expiry = "2027-03-31".parse().expect("valid");
        assert_eq!(e.end.to_string(), "2027-04-01T00:00:00Z");
        assert_eq!(e.to_string(), "2027-03-31");
        let e: Expiry = "2027-03-31T18:00:00Z".parse().expect("valid");
        assert_eq!(e.end.to_string(), "2027-03-31T18:00:00Z");
        assert!("31/03/2027".parse::<Expiry>().is_err());
    }

    #[test]
    fn globs_report_syntax_errors() {
        assert!(
            "postgresql-*"
                .parse::<Glob>()
                .expect("valid")
                .matches("postgresql-15")
        );
        assert!("[a-".parse::<Glob>().is_err());
        assert!("".parse::<Glob>().is_err());
    }
}
