//! Pure mapping from LDAP entries (a DN and attributes) to [`DirectoryComputer`]s.

use std::collections::{BTreeMap, HashMap};

use super::DirectoryComputer;

/// Seconds from 1601-01-01 (Windows FILETIME's epoch) to 1970-01-01.
const FILETIME_UNIX_OFFSET: i64 = 11_644_473_600;
/// userAccountControl's ACCOUNTDISABLE flag.
const ACCOUNTDISABLE: u64 = 2;

/// A Windows FILETIME (100 ns intervals since 1601-01-01 UTC, as AD stores
/// `lastLogonTimestamp`) as a timestamp in whole seconds (as the store keeps instants);
/// `None` for 0 ("never"), negative or out of range.
pub fn filetime_to_timestamp(filetime: i64) -> Option<jiff::Timestamp> {
    if filetime <= 0 {
        return None;
    }
    jiff::Timestamp::from_second(filetime / 10_000_000 - FILETIME_UNIX_OFFSET).ok()
}

/// The DN of an entry's parent: everything after the first RDN (an escaped `\,` is part of
/// the RDN). Empty for a DN of one RDN.
pub fn parent_dn(dn: &str) -> &str {
    let bytes = dn.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b',' => return dn[i + 1..].trim_start(),
            _ => i += 1,
        }
    }
    ""
}

/// A DN for comparing: case folded, spaces around `=` and `,` dropped. (Good enough for
/// the DNs directories return; values with escapes compare by their escaped spelling.)
pub(crate) fn dn_key(dn: &str) -> String {
    let mut out = String::with_capacity(dn.len());
    let mut escaped = false;
    let mut pending_space = false;
    for c in dn.trim().chars() {
        if escaped {
            out.extend(c.to_lowercase());
            escaped = false;
            continue;
        }
        match c {
            '\\' => {
                if pending_space {
                    out.push(' ');
                    pending_space = false;
                }
                out.push('\\');
                escaped = true;
            }
            ' ' => pending_space = true,
            ',' | '=' | '+' => {
                pending_space = false;
                out.push(c);
                // spaces right after a separator are dropped too
                continue;
            }
            _ => {
                if pending_space && !out.ends_with([',', '=', '+']) {
                    out.push(' ');
                }
                pending_space = false;
                out.extend(c.to_lowercase());
            }
        }
    }
    out
}

/// An attribute's values, looked up ignoring case (servers spell names their own way).
fn values<'a>(attrs: &'a HashMap<String, Vec<String>>, name: &str) -> &'a [String] {
    attrs
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_slice())
        .unwrap_or(&[])
}

fn first(attrs: &HashMap<String, Vec<String>>, name: &str) -> Option<String> {
    values(attrs, name)
        .first()
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// A computer entry as a [`DirectoryComputer`], its groups the entry's direct `memberOf`
/// values (see [`resolve_groups`] for nested ones). `None` when it has no usable name.
pub fn computer_from_entry(
    dn: &str,
    attrs: &HashMap<String, Vec<String>>,
) -> Option<DirectoryComputer> {
    let name = first(attrs, "cn")
        .or_else(|| first(attrs, "name"))
        .or_else(|| first(attrs, "sAMAccountName").map(|s| s.trim_end_matches('$').to_owned()))
        .filter(|n| !n.is_empty())?;
    let uac = first(attrs, "userAccountControl").and_then(|v| v.parse::<i64>().ok());
    let mut groups: Vec<String> = values(attrs, "memberOf").to_vec();
    groups.sort();
    groups.dedup();
    Some(DirectoryComputer {
        dn: dn.to_owned(),
        name,
        dns_host_name: first(attrs, "dNSHostName"),
        os: first(attrs, "operatingSystem"),
        os_version: first(attrs, "operatingSystemVersion"),
        ou: parent_dn(dn).to_owned(),
        groups,
        last_logon: first(attrs, "lastLogonTimestamp")
            .and_then(|v| v.parse::<i64>().ok())
            .and_then(filetime_to_timestamp),
        // AD writes userAccountControl as a signed 32-bit integer.
        disabled: uac.is_some_and(|v| (v as u64) & ACCOUNTDISABLE != 0),
    })
}

/// Every group each of `direct` is in, through `parents` (group DN → the groups it is
/// directly in): the transitive closure, cycles allowed. Returns the DNs as first seen,
/// sorted by their comparison key, without duplicates.
pub fn resolve_groups(direct: &[String], parents: &BTreeMap<String, Vec<String>>) -> Vec<String> {
    let by_key: BTreeMap<String, &Vec<String>> =
        parents.iter().map(|(dn, p)| (dn_key(dn), p)).collect();
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    let mut queue: Vec<String> = direct.to_vec();
    while let Some(group) = queue.pop() {
        let key = dn_key(&group);
        if seen.contains_key(&key) {
            continue;
        }
        if let Some(up) = by_key.get(&key) {
            queue.extend(up.iter().cloned());
        }
        seen.insert(key, group);
    }
    seen.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(pairs: &[(&str, &[&str])]) -> HashMap<String, Vec<String>> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.iter().map(|s| (*s).to_owned()).collect()))
            .collect()
    }

    #[test]
    fn filetime_converts_to_unix_time() {
        // 2024-01-01T00:00:00Z
        let t = filetime_to_timestamp(133_485_408_000_000_000).expect("a time");
        assert_eq!(t.to_string(), "2024-01-01T00:00:00Z");
        assert_eq!(
            filetime_to_timestamp(116_444_736_000_000_000).map(|t| t.as_second()),
            Some(0)
        );
        assert_eq!(filetime_to_timestamp(0), None);
        assert_eq!(filetime_to_timestamp(-1), None);
        // Sub-second parts are dropped.
        assert_eq!(
            filetime_to_timestamp(116_444_736_009_999_999).map(|t| t.as_second()),
            Some(0)
        );
    }

    #[test]
    fn parent_dn_skips_escaped_commas() {
        assert_eq!(
            parent_dn("CN=PC1,OU=Web,DC=corp,DC=example"),
            "OU=Web,DC=corp,DC=example"
        );
        assert_eq!(parent_dn(r"CN=Smith\, J,OU=People,DC=x"), "OU=People,DC=x");
        assert_eq!(parent_dn("DC=example"), "");
    }

    #[test]
    fn dn_keys_ignore_case_and_spaces_around_separators() {
        assert_eq!(
            dn_key("CN=Web Servers, OU=Groups,DC=Corp"),
            dn_key("cn=web servers,ou = groups,dc=corp")
        );
        assert_ne!(dn_key("CN=Web Servers,DC=x"), dn_key("CN=WebServers,DC=x"));
    }

    #[test]
    fn an_entry_maps_to_a_computer() {
        let c = computer_from_entry(
            "CN=PC7,OU=Web,OU=Servers,DC=corp,DC=example",
            &attrs(&[
                ("cn", &["PC7"]),
                ("dnshostname", &["pc7.corp.example"]),
                ("operatingSystem", &["Windows Server 2022"]),
                ("operatingSystemVersion", &["10.0 (20348)"]),
                ("userAccountControl", &["4098"]),
                ("lastLogonTimestamp", &["133485408000000000"]),
                ("memberOf", &["CN=B,DC=x", "CN=A,DC=x"]),
            ]),
        )
        .expect("a computer");
        assert_eq!(c.name, "PC7");
        assert_eq!(c.dns_host_name.as_deref(), Some("pc7.corp.example"));
        assert_eq!(c.ou, "OU=Web,OU=Servers,DC=corp,DC=example");
        assert_eq!(c.groups, ["CN=A,DC=x", "CN=B,DC=x"]);
        assert!(c.disabled);
        assert_eq!(
            c.last_logon.map(|t| t.to_string()).as_deref(),
            Some("2024-01-01T00:00:00Z")
        );
        // AD's signed 32-bit spelling, and an enabled account.
        let c = computer_from_entry(
            "CN=X,DC=x",
            &attrs(&[
                ("sAMAccountName", &["X$"]),
                ("userAccountControl", &["-2147479552"]),
            ]),
        )
        .expect("a computer");
        assert_eq!(c.name, "X");
        assert!(!c.disabled);
        assert_eq!(c.last_logon, None);
        assert!(computer_from_entry("CN=,DC=x", &attrs(&[])).is_none());
    }

    #[test]
    fn nested_groups_resolve_transitively_with_cycles() {
        let parents: BTreeMap<String, Vec<String>> = [
            ("CN=Web,DC=x", vec!["CN=Servers,DC=x".to_owned()]),
            ("CN=Servers,DC=x", vec!["cn=managed,dc=x".to_owned()]),
            ("CN=Managed,DC=x", vec!["CN=Web,DC=x".to_owned()]),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let groups = resolve_groups(&["CN=Web,DC=x".to_owned()], &parents);
        assert_eq!(groups.len(), 3, "{groups:?}");
        assert!(groups.iter().any(|g| g == "CN=Servers,DC=x"));
        assert_eq!(
            resolve_groups(&["CN=Other,DC=x".to_owned()], &parents),
            ["CN=Other,DC=x"]
        );
    }
}
