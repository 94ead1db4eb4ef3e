//! Which machines a selector, a machine scope or a named group picks, and
//! which rollout ring a machine is in.
//!
//! ```text
//!  Machine ─┬─ selector_matches(&Selector) ───────────▶ bool
//!           ├─ in_group(name, &PolicySet) ─────────────▶ bool   (`all` is every machine)
//!           ├─ in_scope(&MachineScope, &PolicySet) ────▶ bool   (groups AND selector)
//!           ├─ groups_of(&PolicySet) ──────────────────▶ [group name]
//!           └─ ring_of(&Rollout, &PolicySet) ──────────▶ (index, &Ring) of the first ring that takes it
//! ```
//!
//! The rules, as the policy types document them: every field a selector gives
//! must match (AND); within a list any entry may match (OR), so an empty list
//! matches nothing. Labels, OS versions and sites are compared exactly; the OS
//! family, host names and directory names ignore case, as those systems do.
//! Nested directory groups are the directory sync's business: it lists every
//! group a computer is in, directly or not, in [`DirectoryFacts::groups`].

use crate::fleet::{DirectoryFacts, Machine};
use crate::policy::{
    ALL_GROUP, DirectorySelector, Document, MachineScope, OsFamily, OsSelector, PolicySet, Ring,
    RolloutSpec, Selector,
};

/// Whether `machine` is picked by `selector`. An empty selector picks every machine.
pub fn selector_matches(machine: &Machine, selector: &Selector) -> bool {
    selector
        .labels
        .iter()
        .all(|(k, v)| machine.labels.get(k) == Some(v))
        && selector
            .os
            .as_ref()
            .is_none_or(|os| os_matches(machine, os))
        && selector
            .hostnames
            .as_ref()
            .is_none_or(|globs| hostname_matches(&machine.hostname, globs))
        && selector
            .directory
            .as_ref()
            .is_none_or(|dir| directory_matches(&machine.directory, dir))
        && selector.sites.as_ref().is_none_or(|sites| {
            machine
                .site
                .as_ref()
                .is_some_and(|site| sites.contains(site))
        })
}

/// Whether `machine` is in the group named `name`: the built-in `all`, or a
/// `MachineGroup` of `set`. An unknown group (validation reports it) has no machines.
pub fn in_group(machine: &Machine, name: &str, set: &PolicySet) -> bool {
    name == ALL_GROUP
        || set
            .group(name)
            .is_some_and(|g| selector_matches(machine, &g.spec.selector))
}

/// Whether `machine` is in an exclusion's machine scope: in one of its `groups`
/// (when given) and picked by its selector fields (when given).
pub fn in_scope(machine: &Machine, scope: &MachineScope, set: &PolicySet) -> bool {
    scope
        .groups
        .as_ref()
        .is_none_or(|groups| groups.iter().any(|g| in_group(machine, g, set)))
        && selector_matches(machine, &scope.selector())
}

/// The names of the `MachineGroup`s `machine` is in, in file order. The built-in
/// `all` is not listed: every machine is in it.
pub fn groups_of<'p>(machine: &Machine, set: &'p PolicySet) -> Vec<&'p str> {
    set.groups
        .iter()
        .filter(|g| selector_matches(machine, &g.spec.selector))
        .map(Document::name)
        .collect()
}

/// The ring of `rollout` that `machine` is in, with its index: the first ring
/// one of whose groups the machine is in. A ring listing `all` therefore takes
/// every machine no earlier ring took. `None`: no ring takes the machine, so
/// this rollout installs nothing on it.
pub fn ring_of<'r>(
    machine: &Machine,
    rollout: &'r Document<RolloutSpec>,
    set: &PolicySet,
) -> Option<(usize, &'r Ring)> {
    rollout
        .spec
        .rings
        .iter()
        .enumerate()
        .find(|(_, ring)| ring.groups.iter().any(|g| in_group(machine, g, set)))
}

fn os_matches(machine: &Machine, os: &OsSelector) -> bool {
    machine
        .os
        .family
        .trim()
        .eq_ignore_ascii_case(family_name(os.family))
        && os.versions.as_ref().is_none_or(|versions| {
            machine
                .os
                .version
                .as_deref()
                .is_some_and(|v| versions.iter().any(|want| want.trim() == v.trim()))
        })
}

/// The family's name as machines report it (and as the YAML spells it).
fn family_name(family: OsFamily) -> &'static str {
    match family {
        OsFamily::Debian => "debian",
        OsFamily::Ubuntu => "ubuntu",
        OsFamily::Rhel => "rhel",
        OsFamily::Fedora => "fedora",
        OsFamily::Suse => "suse",
        OsFamily::Windows => "windows",
        OsFamily::Macos => "macos",
    }
}

/// Host names are DNS names: case does not matter, nor does a trailing root dot.
fn hostname_matches(hostname: &str, globs: &[crate::policy::Glob]) -> bool {
    let name = hostname.trim().trim_end_matches('.');
    globs.iter().any(|g| g.matches_ignoring_case(name))
}

fn directory_matches(facts: &DirectoryFacts, selector: &DirectorySelector) -> bool {
    selector.ou.as_deref().is_none_or(|ou| {
        facts
            .ou
            .as_deref()
            .is_some_and(|machine_ou| ou_contains(ou, machine_ou))
    }) && selector
        .group
        .as_deref()
        .is_none_or(|group| facts.groups.iter().any(|g| same_group(group, g)))
}

/// Whether the entry `dn` is the organisational unit `ou` or below it: the
/// RDNs of `ou` end those of `dn`. An `ou` that is no DN contains nothing.
fn ou_contains(ou: &str, dn: &str) -> bool {
    let (Some(ou), Some(dn)) = (parse_dn(ou), parse_dn(dn)) else {
        return false;
    };
    !ou.is_empty() && dn.ends_with(&ou)
}

/// Whether a group the policy names and one the machine is in are the same:
/// equal DNs when both are DNs, otherwise equal names (a DN's name is its
/// first RDN's value, e.g. `Patch-Pilot` of `CN=Patch-Pilot,OU=Groups,…`).
fn same_group(wanted: &str, member_of: &str) -> bool {
    match (parse_dn(wanted), parse_dn(member_of)) {
        (Some(a), Some(b)) => a == b,
        (a, b) => {
            let name = |dn: Option<Vec<Rdn>>, raw: &str| match dn {
                Some(rdns) => rdns.into_iter().next().map(|r| r.value),
                None => Some(raw.trim().to_lowercase()),
            };
            match (name(a, wanted), name(b, member_of)) {
                (Some(a), Some(b)) => !a.is_empty() && a == b,
                _ => false,
            }
        }
    }
}

/// One relative distinguished name, `type=value`, normalised: the type and the
/// value lowercased (directories compare both without case) and trimmed.
#[derive(Debug, PartialEq, Eq)]
struct Rdn {
    kind: String,
    value: String,
}

/// A distinguished name's RDNs, most specific first, or `None` when `s` is not
/// a DN (some part has no `=`). Whitespace around `,` and `=` is insignificant;
/// a backslash escapes the next character, so `OU=Sales\, EMEA` is one RDN.
fn parse_dn(s: &str) -> Option<Vec<Rdn>> {
    if s.trim().is_empty() {
        return None;
    }
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                current.push(c);
                if let Some(next) = chars.next() {
                    current.push(next);
                }
            }
            ',' => parts.push(std::mem::take(&mut current)),
            _ => current.push(c),
        }
    }
    parts.push(current);
    parts
        .into_iter()
        .map(|part| {
            let (kind, value) = part.split_once('=')?;
            let (kind, value) = (kind.trim(), value.trim());
            (!kind.is_empty()).then(|| Rdn {
                kind: kind.to_lowercase(),
                value: value.to_lowercase(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::fixtures::*;

    const GROUPS: &str = "
apiVersion: fixpoint.dev/v1alpha1
kind: MachineGroup
metadata: {name: canary}
spec: {match: {labels: {ring: canary}}}
---
apiVersion: fixpoint.dev/v1alpha1
kind: MachineGroup
metadata: {name: web}
spec:
  match:
    labels: {role: web}
    os: {family: debian, versions: ['12']}
---
apiVersion: fixpoint.dev/v1alpha1
kind: MachineGroup
metadata: {name: servers}
spec: {match: {directory: {ou: 'OU=Servers, DC=corp, DC=example'}}}
";

    fn set() -> PolicySet {
        policy(GROUPS)
    }

    fn selector(yaml: &str) -> Selector {
        let doc = format!(
            "apiVersion: fixpoint.dev/v1alpha1\nkind: MachineGroup\nmetadata: {{name: g}}\nspec: {{match: {yaml}}}\n"
        );
        policy(&doc).groups[0].spec.selector.clone()
    }

    #[test]
    fn an_empty_selector_matches_every_machine() {
        assert!(selector_matches(&machine(), &Selector::default()));
    }

    #[test]
    fn every_given_field_must_match() {
        let s = selector("{labels: {role: web}, os: {family: debian}}");
        assert!(selector_matches(
            &machine().label("role", "web").os("debian", "12"),
            &s
        ));
        assert!(!selector_matches(
            &machine().label("role", "web").os("ubuntu", "24.04"),
            &s
        ));
        assert!(!selector_matches(
            &machine().label("role", "db").os("debian", "12"),
            &s
        ));
    }

    #[test]
    fn labels_match_exactly_and_all_of_them() {
        let s = selector("{labels: {role: web, env: prod}}");
        assert!(selector_matches(
            &machine().label("role", "web").label("env", "prod"),
            &s
        ));
        assert!(!selector_matches(&machine().label("role", "web"), &s));
        assert!(!selector_matches(
            &machine().label("role", "Web").label("env", "prod"),
            &s
        ));
    }

    #[test]
    fn os_versions_are_alternatives_and_need_a_reported_version() {
        let s = selector("{os: {family: ubuntu, versions: ['22.04', '24.04']}}");
        assert!(selector_matches(&machine().os("ubuntu", "24.04"), &s));
        assert!(selector_matches(&machine().os("Ubuntu", "22.04"), &s));
        assert!(!selector_matches(&machine().os("ubuntu", "20.04"), &s));
        let mut unversioned = machine().os("ubuntu", "24.04");
        unversioned.os.version = None;
        assert!(!selector_matches(&unversioned, &s));
    }

    #[test]
    fn hostnames_are_globs_that_ignore_case() {
        let s = selector("{hostnames: ['web-*.corp.example', db1]}");
        assert!(selector_matches(
            &machine().hostname("WEB-01.Corp.Example"),
            &s
        ));
        assert!(selector_matches(
            &machine().hostname("web-02.corp.example."),
            &s
        ));
        assert!(selector_matches(&machine().hostname("db1"), &s));
        assert!(!selector_matches(&machine().hostname("db2"), &s));
    }

    #[test]
    fn an_empty_list_matches_nothing() {
        assert!(!selector_matches(
            &machine().site("fra"),
            &selector("{sites: []}")
        ));
    }

    #[test]
    fn sites_are_alternatives_and_a_machine_without_a_site_is_in_none() {
        let s = selector("{sites: [fra, ams]}");
        assert!(selector_matches(&machine().site("ams"), &s));
        assert!(!selector_matches(&machine().site("lon"), &s));
        assert!(!selector_matches(&machine(), &s));
    }

    #[test]
    fn a_directory_ou_contains_its_own_machines_and_those_below_it() {
        let s = selector("{directory: {ou: 'OU=Servers,DC=corp,DC=example'}}");
        assert!(selector_matches(
            &machine().ou("OU=Servers,DC=corp,DC=example"),
            &s
        ));
        assert!(selector_matches(
            &machine().ou("ou=web , OU=servers,dc=CORP, DC = example"),
            &s
        ));
        assert!(!selector_matches(
            &machine().ou("OU=Workstations,DC=corp,DC=example"),
            &s
        ));
        // A suffix of the text is not a suffix of the DN.
        assert!(!selector_matches(
            &machine().ou("OU=WebServers,DC=corp,DC=example"),
            &s
        ));
        assert!(!selector_matches(&machine(), &s));
    }

    #[test]
    fn an_ou_with_an_escaped_comma_is_one_rdn() {
        // Built by hand: validation does not accept escaped commas yet.
        let s = Selector {
            directory: Some(DirectorySelector {
                ou: Some("OU=Sales\\, EMEA,DC=corp,DC=example".into()),
                group: None,
            }),
            ..Selector::default()
        };
        assert!(selector_matches(
            &machine().ou("OU=Laptops,OU=Sales\\, EMEA,DC=corp,DC=example"),
            &s
        ));
        assert!(!selector_matches(
            &machine().ou("OU=EMEA,DC=corp,DC=example"),
            &s
        ));
    }

    #[test]
    fn a_directory_group_matches_by_dn_or_by_name_ignoring_case() {
        let by_dn = selector("{directory: {group: 'CN=Patch-Pilot,OU=Groups,DC=corp,DC=example'}}");
        let by_name = selector("{directory: {group: patch-pilot}}");
        let member_dn = machine().group("cn=patch-pilot, ou=groups,dc=corp,dc=example");
        let member_name = machine().group("Patch-Pilot");
        assert!(selector_matches(&member_dn, &by_dn));
        assert!(selector_matches(&member_dn, &by_name));
        assert!(selector_matches(&member_name, &by_dn));
        assert!(selector_matches(&member_name, &by_name));
        let elsewhere = machine().group("CN=Patch-Pilot,OU=Lab,DC=corp,DC=example");
        assert!(!selector_matches(&elsewhere, &by_dn));
        assert!(!selector_matches(&machine().group("Patch-Broad"), &by_name));
    }

    #[test]
    fn the_all_group_has_every_machine_and_an_unknown_group_none() {
        let set = set();
        assert!(in_group(&machine(), ALL_GROUP, &set));
        assert!(!in_group(&machine().label("ring", "canary"), "nope", &set));
        assert!(in_group(&machine().label("ring", "canary"), "canary", &set));
    }

    #[test]
    fn groups_of_lists_every_matching_group_in_file_order() {
        let set = set();
        let m = machine()
            .label("role", "web")
            .os("debian", "12")
            .ou("OU=Web,OU=Servers,DC=corp,DC=example");
        assert_eq!(groups_of(&m, &set), ["web", "servers"]);
        assert!(groups_of(&machine(), &set).is_empty());
    }

    #[test]
    fn a_scope_with_groups_and_a_selector_needs_both() {
        let set = set();
        let scope = MachineScope {
            groups: Some(vec!["web".into()]),
            sites: Some(vec!["fra".into()]),
            ..MachineScope::default()
        };
        let web = machine().label("role", "web").os("debian", "12");
        assert!(in_scope(&web.clone().site("fra"), &scope, &set));
        assert!(!in_scope(&web.site("ams"), &scope, &set));
        assert!(!in_scope(&machine().site("fra"), &scope, &set));
    }

    proptest::proptest! {
        /// Directory facts come from whatever the directory sync read: no
        /// text in them, or in the policy, makes matching panic.
        #[test]
        fn directory_matching_never_panics(ou in ".{0,40}", group in ".{0,40}", fact in "[a-zA-Z=, \\\\]{0,40}") {
            let selector = DirectorySelector { ou: Some(ou), group: Some(group) };
            let facts = DirectoryFacts { ou: Some(fact.clone()), groups: vec![fact] };
            let _ = directory_matches(&facts, &selector);
        }

        /// A DN always contains itself, however it is spaced or cased.
        #[test]
        fn an_ou_contains_itself(rdns in proptest::collection::vec("(OU|DC|CN)=[a-zA-Z0-9-]{1,8}", 1..5)) {
            let dn = rdns.join(",");
            let respaced = rdns.join(" , ").to_uppercase().replace('=', " = ");
            proptest::prop_assert!(ou_contains(&dn, &respaced));
            proptest::prop_assert!(ou_contains(&respaced, &dn));
        }
    }

    const ROLLOUT: &str = "
---
apiVersion: fixpoint.dev/v1alpha1
kind: ApprovalPolicy
metadata: {name: sec}
spec: {rules: [{approveAfter: 0d}]}
---
apiVersion: fixpoint.dev/v1alpha1
kind: Rollout
metadata: {name: default}
spec:
  approval: sec
  rings:
    - {name: first, groups: [canary]}
    - {name: second, groups: [web, servers], delay: 2d}
    - {name: rest, groups: [all], delay: 7d}
";

    #[test]
    fn a_machine_is_in_the_first_ring_that_takes_it_and_all_takes_the_rest() {
        let set = policy(&format!("{GROUPS}{ROLLOUT}"));
        let rollout = &set.rollouts[0];
        let ring = |m: &Machine| ring_of(m, rollout, &set).map(|(i, r)| (i, r.name.as_str()));
        let canary_web = machine()
            .label("ring", "canary")
            .label("role", "web")
            .os("debian", "12");
        assert_eq!(ring(&canary_web), Some((0, "first")));
        assert_eq!(
            ring(&machine().ou("OU=Db,OU=Servers,DC=corp,DC=example")),
            Some((1, "second"))
        );
        assert_eq!(ring(&machine()), Some((2, "rest")));
    }

    #[test]
    fn a_machine_no_ring_takes_has_no_ring() {
        let rollout = ROLLOUT.replace("    - {name: rest, groups: [all], delay: 7d}\n", "");
        let set = policy(&format!("{GROUPS}{rollout}"));
        assert_eq!(ring_of(&machine(), &set.rollouts[0], &set), None);
    }
}
