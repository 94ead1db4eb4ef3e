//! Exclusions: which risk acceptance, if any, keeps a patch off a machine.
//!
//! ```text
//!  Machine + Patch + PolicySet + now ──exclusions_for──▶ Exclusions { active, expired }
//! ```
//!
//! An exclusion applies to a (machine, patch) pair when the machine is in its
//! machine scope (its `groups`, when given, and its selector fields, when
//! given: both must match) and the patch is in its patch scope (any of its
//! package globs, ids or CVE globs). It applies until `until.end`; from then on
//! it no longer holds the patch back, but it is still reported as expired so
//! the console can say "this patch is due again because exclusion X ended".

use jiff::Timestamp;

use crate::catalog::Patch;
use crate::fleet::Machine;
use crate::plan::approval::{cves_match, packages_match};
use crate::plan::groups::in_scope;
use crate::policy::{Document, ExclusionSpec, Expiry, PatchScope, PolicySet};

/// One exclusion that matches a machine and a patch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Excluded<'p> {
    /// The `Exclusion` document's name.
    pub name: &'p str,
    /// When it ends by itself; `None`: when someone removes it.
    pub until: Option<Expiry>,
    pub reason: &'p str,
    pub owner: &'p str,
    pub ticket: Option<&'p str>,
}

impl<'p> Excluded<'p> {
    fn of(doc: &'p Document<ExclusionSpec>) -> Excluded<'p> {
        Excluded {
            name: doc.name(),
            until: doc.spec.until,
            reason: &doc.spec.reason,
            owner: &doc.spec.owner,
            ticket: doc.spec.ticket.as_deref(),
        }
    }
}

/// What the exclusions of a policy set say about one machine and one patch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Exclusions<'p> {
    /// The exclusion holding the patch back, if any. When several do, the one
    /// that lasts longest (no `until` lasts longest; ties go to the first in
    /// file order), since the patch stays excluded until that one ends.
    pub active: Option<Excluded<'p>>,
    /// Matching exclusions that have expired, in file order: they hold nothing back.
    pub expired: Vec<Excluded<'p>>,
}

impl Exclusions<'_> {
    pub fn is_excluded(&self) -> bool {
        self.active.is_some()
    }
}

/// The exclusions of `set` that match `machine` and `patch`, at `now`. An
/// exclusion whose `until` is at or before `now` has expired.
pub fn exclusions_for<'p>(
    machine: &Machine,
    patch: &Patch,
    set: &'p PolicySet,
    now: Timestamp,
) -> Exclusions<'p> {
    let mut found = Exclusions::default();
    for doc in &set.exclusions {
        if !patch_in_scope(patch, &doc.spec.patches) || !in_scope(machine, &doc.spec.machines, set)
        {
            continue;
        }
        let this = Excluded::of(doc);
        if this.until.is_some_and(|u| u.end <= now) {
            found.expired.push(this);
            continue;
        }
        let lasts_longer = match (&found.active, this.until) {
            (None, _) => true,
            (Some(active), mine) => ends_later(mine, active.until),
        };
        if lasts_longer {
            found.active = Some(this);
        }
    }
    found
}

/// Whether an exclusion ending at `a` strictly outlasts one ending at `b`.
fn ends_later(a: Option<Expiry>, b: Option<Expiry>) -> bool {
    match (a, b) {
        (None, Some(_)) => true,
        (Some(a), Some(b)) => a.end > b.end,
        (_, None) => false,
    }
}

/// Whether `patch` is in `scope`: its product or a package it fixes matches a
/// package glob, its id is listed, or one of its CVEs matches a CVE glob
/// (ignoring case). An empty scope (validation rejects it) holds no patch.
pub fn patch_in_scope(patch: &Patch, scope: &PatchScope) -> bool {
    packages_match(patch, &scope.packages)
        || scope.ids.iter().any(|id| id == patch.id.as_str())
        || cves_match(patch, &scope.cves)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::fixtures::*;

    const HEADER: &str = "apiVersion: fixpoint.dev/v1alpha1\nkind: Exclusion\n";

    fn exclusion(name: &str, spec: &str) -> String {
        format!(
            "{HEADER}metadata: {{name: {name}}}\nspec:\n  reason: vendor support\n  owner: erp-team\n{spec}---\n"
        )
    }

    const ERP_GROUP: &str = "apiVersion: fixpoint.dev/v1alpha1\nkind: MachineGroup\nmetadata: {name: erp}\nspec: {match: {labels: {app: erp}}}\n---\n";

    fn erp() -> Machine {
        machine().label("app", "erp").site("fra")
    }

    fn postgres() -> Patch {
        patch("postgresql-15/15.9-0+deb12u1")
            .product("postgresql-15")
            .fixes("libpq5")
            .cve("CVE-2024-10979", 8.8)
    }

    #[test]
    fn an_exclusion_holds_back_matching_patches_on_matching_machines() {
        let set = policy(&exclusion(
            "legacy-erp",
            "  machines: {labels: {app: erp}}\n  patches: {packages: ['postgresql-*']}\n  until: 2027-03-31\n  ticket: RISK-7\n",
        ));
        let found = exclusions_for(&erp(), &postgres(), &set, now());
        assert_eq!(
            found.active,
            Some(Excluded {
                name: "legacy-erp",
                until: Some("2027-03-31".parse().expect("date")),
                reason: "vendor support",
                owner: "erp-team",
                ticket: Some("RISK-7"),
            })
        );
        assert!(found.expired.is_empty());
        assert!(!exclusions_for(&machine(), &postgres(), &set, now()).is_excluded());
        assert!(!exclusions_for(&erp(), &patch("openssl/1"), &set, now()).is_excluded());
    }

    #[test]
    fn an_expired_exclusion_holds_nothing_back_but_is_reported() {
        let set = policy(&exclusion(
            "old",
            "  machines: {labels: {app: erp}}\n  patches: {packages: ['postgresql-*']}\n  until: 2026-11-25T12:00:00Z\n",
        ));
        let found = exclusions_for(&erp(), &postgres(), &set, now());
        assert_eq!(found.active, None);
        assert_eq!(
            found.expired.iter().map(|e| e.name).collect::<Vec<_>>(),
            ["old"]
        );
        let before = exclusions_for(&erp(), &postgres(), &set, at("2026-11-25T11:59:59Z"));
        assert!(before.is_excluded());
    }

    #[test]
    fn patches_are_in_scope_by_fixed_package_id_or_cve_glob() {
        let scope = |yaml: &str| {
            policy(&exclusion(
                "x",
                &format!("  machines: {{labels: {{app: erp}}}}\n  patches: {yaml}\n"),
            ))
            .exclusions[0]
                .spec
                .patches
                .clone()
        };
        assert!(patch_in_scope(&postgres(), &scope("{packages: [libpq5]}")));
        assert!(patch_in_scope(
            &postgres(),
            &scope("{ids: ['postgresql-15/15.9-0+deb12u1']}")
        ));
        assert!(!patch_in_scope(
            &postgres(),
            &scope("{ids: ['postgresql-15/15.8']}")
        ));
        assert!(patch_in_scope(
            &postgres(),
            &scope("{cves: ['cve-2024-*']}")
        ));
        assert!(!patch_in_scope(
            &postgres(),
            &scope("{cves: ['CVE-2025-*']}")
        ));
        assert!(!patch_in_scope(&postgres(), &PatchScope::default()));
    }

    #[test]
    fn a_machine_scope_with_groups_and_a_selector_needs_both() {
        let set = policy(&format!(
            "{ERP_GROUP}{}",
            exclusion(
                "fra-erp",
                "  machines: {groups: [erp], sites: [fra]}\n  patches: {packages: ['postgresql-*']}\n",
            )
        ));
        assert!(exclusions_for(&erp(), &postgres(), &set, now()).is_excluded());
        let elsewhere = machine().label("app", "erp").site("ams");
        assert!(!exclusions_for(&elsewhere, &postgres(), &set, now()).is_excluded());
        let not_erp = machine().site("fra");
        assert!(!exclusions_for(&not_erp, &postgres(), &set, now()).is_excluded());
    }

    #[test]
    fn of_several_exclusions_the_one_that_lasts_longest_is_reported() {
        let set = policy(&format!(
            "{}{}{}",
            exclusion(
                "short",
                "  machines: {labels: {app: erp}}\n  patches: {packages: ['postgresql-*']}\n  until: 2026-12-31\n",
            ),
            exclusion(
                "open-ended",
                "  machines: {labels: {app: erp}}\n  patches: {cves: ['CVE-2024-10979']}\n",
            ),
            exclusion(
                "long",
                "  machines: {labels: {app: erp}}\n  patches: {packages: [libpq5]}\n  until: 2027-06-30\n",
            ),
        ));
        let found = exclusions_for(&erp(), &postgres(), &set, now());
        assert_eq!(found.active.map(|e| e.name), Some("open-ended"));
        let dated = PolicySet {
            exclusions: vec![set.exclusions[0].clone(), set.exclusions[2].clone()],
            ..set.clone()
        };
        let found = exclusions_for(&erp(), &postgres(), &dated, now());
        assert_eq!(found.active.map(|e| e.name), Some("long"));
    }
}
