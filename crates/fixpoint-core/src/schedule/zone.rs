//! Time zones by IANA name, from the database compiled into the binary.
//!
//! The server, the CLI and every agent must agree on when a window opens, so
//! lookups never consult the machine's `/usr/share/zoneinfo` or `TZ`: they use
//! the copy of the IANA database that jiff bundles (the `tzdb-bundle-always`
//! feature). Updating it is a dependency update, reviewed like any other.

use std::sync::LazyLock;

use jiff::tz::{TimeZone, TimeZoneDatabase};

static BUNDLED: LazyLock<TimeZoneDatabase> = LazyLock::new(TimeZoneDatabase::bundled);

/// A time zone name the bundled database does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown time zone `{name}`; {}",
    match suggestion {
        Some(suggestion) => format!("did you mean `{suggestion}`?"),
        None => "expected an IANA name such as `Europe/Berlin` or `UTC`".to_string(),
    }
)]
pub struct UnknownTimeZone {
    /// The name as given.
    pub name: String,
    /// A known name that looks like what was meant, if there is one.
    pub suggestion: Option<String>,
}

/// Looks up an IANA time zone name (such as `Europe/Berlin`; case does not
/// matter) in the database bundled with the binary.
pub fn time_zone(name: &str) -> Result<TimeZone, UnknownTimeZone> {
    match BUNDLED.get(name) {
        // `Etc/Unknown` is jiff's placeholder for "no time zone", not a place.
        Ok(tz) if !tz.is_unknown() => Ok(tz),
        _ => Err(UnknownTimeZone {
            name: name.to_string(),
            suggestion: suggest(name),
        }),
    }
}

/// The known name closest to `name`: the same apart from spaces, hyphens and
/// underscores; or the same city without its region (`Berlin`); or within two
/// typing mistakes.
fn suggest(name: &str) -> Option<String> {
    let wanted = normalize(name);
    if wanted.is_empty() {
        return None;
    }
    let mut by_city = None;
    let mut closest: Option<(usize, String)> = None;
    for known in BUNDLED.available() {
        let known = known.as_str();
        let candidate = normalize(known);
        if candidate == wanted {
            return Some(known.to_string());
        }
        if by_city.is_none() && candidate.rsplit('/').next() == Some(wanted.as_str()) {
            by_city = Some(known.to_string());
        }
        let distance = edit_distance(&wanted, &candidate);
        if distance <= 2 && closest.as_ref().is_none_or(|(best, _)| distance < *best) {
            closest = Some((distance, known.to_string()));
        }
    }
    by_city.or(closest.map(|(_, known)| known))
}

fn normalize(name: &str) -> String {
    name.trim()
        .chars()
        .map(|c| {
            if c == ' ' || c == '-' {
                '_'
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect()
}

/// Levenshtein distance, by characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        current[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unknown(name: &str) -> String {
        match time_zone(name) {
            Ok(tz) => panic!("`{name}` should be unknown, found {tz:?}"),
            Err(error) => error.to_string(),
        }
    }

    #[test]
    fn finds_iana_names_in_any_case() {
        for (name, canonical) in [
            ("Europe/Berlin", "Europe/Berlin"),
            ("america/new_york", "America/New_York"),
            ("UTC", "UTC"),
            ("Australia/Lord_Howe", "Australia/Lord_Howe"),
        ] {
            let tz = time_zone(name).expect("a known zone");
            assert_eq!(tz.iana_name(), Some(canonical));
        }
    }

    #[test]
    fn unknown_names_get_a_suggestion_when_one_is_close() {
        assert_eq!(
            unknown("America/New York"),
            "unknown time zone `America/New York`; did you mean `America/New_York`?"
        );
        assert_eq!(
            unknown("Berlin"),
            "unknown time zone `Berlin`; did you mean `Europe/Berlin`?"
        );
        assert_eq!(
            unknown("Europe/Berln"),
            "unknown time zone `Europe/Berln`; did you mean `Europe/Berlin`?"
        );
        assert_eq!(
            unknown(" Europe/Berlin "),
            "unknown time zone ` Europe/Berlin `; did you mean `Europe/Berlin`?"
        );
    }

    #[test]
    fn unknown_names_without_a_close_match_say_what_is_expected() {
        let expected = "expected an IANA name such as `Europe/Berlin` or `UTC`";
        assert_eq!(
            unknown("machine"),
            format!("unknown time zone `machine`; {expected}")
        );
        assert_eq!(unknown(""), format!("unknown time zone ``; {expected}"));
        assert_eq!(
            unknown("Etc/Unknown"),
            format!("unknown time zone `Etc/Unknown`; {expected}")
        );
    }

    #[test]
    fn edit_distance_counts_insertions_deletions_and_substitutions() {
        assert_eq!(edit_distance("berlin", "berlin"), 0);
        assert_eq!(edit_distance("berln", "berlin"), 1);
        assert_eq!(edit_distance("bxrlin", "berlin"), 1);
        assert_eq!(edit_distance("", "utc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
