//! Which directory computer is which enrolled machine: by DNS host name (ignoring case and
//! a trailing dot), then by name (the first label of the machine's host name against the
//! computer's name). A key two computers share matches neither, rather than a guess.

use std::collections::BTreeMap;

use fixpoint_core::fleet::{DirectoryFacts, Machine};

use super::DirectoryComputer;

fn fold(name: &str) -> String {
    name.trim().trim_end_matches('.').to_lowercase()
}

/// An index from a key to the one computer that has it (`None`: several have it).
fn index(
    computers: &[DirectoryComputer],
    key: impl Fn(&DirectoryComputer) -> Option<String>,
) -> BTreeMap<String, Option<&DirectoryComputer>> {
    let mut map: BTreeMap<String, Option<&DirectoryComputer>> = BTreeMap::new();
    for c in computers {
        if let Some(k) = key(c).filter(|k| !k.is_empty()) {
            map.entry(k)
                .and_modify(|slot| *slot = None)
                .or_insert(Some(c));
        }
    }
    map
}

/// For each `(machine id, host name)`, the computer it matches, if any.
pub fn match_computers<'c, 'm>(
    computers: &'c [DirectoryComputer],
    machines: impl IntoIterator<Item = (&'m str, &'m str)>,
) -> BTreeMap<&'m str, &'c DirectoryComputer> {
    let by_dns = index(computers, |c| c.dns_host_name.as_deref().map(fold));
    let by_name = index(computers, |c| Some(fold(&c.name)));
    let mut matched = BTreeMap::new();
    for (id, hostname) in machines {
        let host = fold(hostname);
        let short = host.split('.').next().unwrap_or_default();
        let found = by_dns
            .get(&host)
            .copied()
            .flatten()
            .or_else(|| by_name.get(short).copied().flatten());
        if let Some(c) = found {
            matched.insert(id, c);
        }
    }
    matched
}

/// The facts each matched machine gets: the computer's OU and its groups (nested included).
pub fn facts_by_machine(
    computers: &[DirectoryComputer],
    machines: &[Machine],
) -> BTreeMap<String, DirectoryFacts> {
    match_computers(
        computers,
        machines
            .iter()
            .map(|m| (m.id.as_str(), m.hostname.as_str())),
    )
    .into_iter()
    .map(|(id, c)| (id.to_owned(), facts_of(c)))
    .collect()
}

/// A computer's [`DirectoryFacts`].
pub fn facts_of(c: &DirectoryComputer) -> DirectoryFacts {
    DirectoryFacts {
        ou: (!c.ou.is_empty()).then(|| c.ou.clone()),
        groups: c.groups.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn computer(name: &str, dns: Option<&str>) -> DirectoryComputer {
        DirectoryComputer {
            dn: format!("CN={name},OU=Web,DC=corp,DC=example"),
            name: name.into(),
            dns_host_name: dns.map(str::to_owned),
            os: None,
            os_version: None,
            ou: "OU=Web,DC=corp,DC=example".into(),
            groups: vec!["CN=Web-Servers,OU=Groups,DC=corp,DC=example".into()],
            last_logon: None,
            disabled: false,
        }
    }

    #[test]
    fn matches_by_dns_name_then_by_first_label() {
        let computers = [
            computer("WEB1", Some("web1.corp.example")),
            computer("WEB2", None),
            computer("DB1", Some("db1.corp.example")),
        ];
        let m = match_computers(
            &computers,
            [
                ("a", "WEB1.Corp.Example."),
                ("b", "web2.elsewhere.example"),
                ("c", "db1"),
                ("d", "nothing.corp.example"),
            ],
        );
        assert_eq!(m.get("a").map(|c| c.name.as_str()), Some("WEB1"));
        assert_eq!(m.get("b").map(|c| c.name.as_str()), Some("WEB2"));
        assert_eq!(m.get("c").map(|c| c.name.as_str()), Some("DB1"));
        assert!(!m.contains_key("d"));
    }

    #[test]
    fn a_dns_name_match_wins_over_a_name_match() {
        let computers = [
            computer("HOST", Some("other.corp.example")),
            computer("OTHER", Some("host.corp.example")),
        ];
        let m = match_computers(&computers, [("a", "host.corp.example")]);
        assert_eq!(m.get("a").map(|c| c.name.as_str()), Some("OTHER"));
    }

    #[test]
    fn an_ambiguous_name_matches_nothing() {
        let computers = [computer("PC1", None), computer("pc1", None)];
        let m = match_computers(&computers, [("a", "pc1.corp.example")]);
        assert!(m.is_empty());
    }

    #[test]
    fn facts_carry_ou_and_groups() {
        let f = facts_of(&computer("WEB1", None));
        assert_eq!(f.ou.as_deref(), Some("OU=Web,DC=corp,DC=example"));
        assert_eq!(f.groups.len(), 1);
    }
}
