//! Approval: whether an approval policy lets a patch ship, since when, and why.
//!
//! ```text
//!  Patch + ApprovalPolicySpec + now ──approval──▶ Approved { at, by, expedite }
//!                                                 Pending  { at: when a rule will approve it, rule }
//!                                                 Declined { reason, owner, ticket }
//! ```
//!
//! Precedence, strongest first:
//! 1. an explicit `decline` of the patch's id: declined, whatever else says;
//! 2. an explicit `approve` of the patch's id: approved;
//! 3. the first rule whose `match` the patch meets: approved `approveAfter`
//!    after the patch's release, pending until then;
//! 4. no rule matches: pending, with no date, until someone approves it.
//!
//! Two cases need a date the catalog may not have:
//! - A rule cannot date an undated patch (`released` unknown): `approveAfter`
//!   counts from a release we do not know, so the patch stays pending (`at:
//!   None`, with the rule that matched) until the catalog dates it or someone
//!   approves it explicitly. Waiting is the safe side of not knowing.
//! - An explicit approval is dated at the patch's release, or at `now` if the
//!   release is unknown or in the future, so an approval never lies ahead of
//!   the moment it was evaluated. An undated patch's approval therefore moves
//!   with `now`: ring delays counted from it do not elapse, and only rings with
//!   no delay receive it, unless the approval says `expedite`.

use jiff::Timestamp;

use crate::catalog::Patch;
use crate::policy::{ApprovalPolicySpec, Glob, PatchMatch};

/// What an approval policy says about one patch at one instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Approval {
    /// The patch may ship; rings count their delays from `at`.
    Approved {
        at: Timestamp,
        by: ApprovedBy,
        /// Skip ring delays (an explicit approval's `expedite`); gates still apply.
        expedite: bool,
    },
    /// Not approved yet.
    Pending {
        /// When rule `rule` will approve it; `None` when no rule can (no rule
        /// matches, or the patch has no release date): it waits for an explicit approval.
        at: Option<Timestamp>,
        /// The index of the rule that matched, if one did.
        rule: Option<usize>,
    },
    /// Declined explicitly: never installed while the decline stands.
    Declined {
        reason: String,
        owner: Option<String>,
        ticket: Option<String>,
    },
}

/// Why a patch is approved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApprovedBy {
    /// The policy's rule at `index` (from 0), with its name if it has one.
    Rule { index: usize, name: Option<String> },
    /// An entry of the policy's `approve` list.
    Explicit {
        reason: String,
        owner: Option<String>,
        ticket: Option<String>,
    },
}

impl Approval {
    pub fn is_approved(&self) -> bool {
        matches!(self, Approval::Approved { .. })
    }
}

/// What `policy` says about `patch` at `now`; see the module documentation for
/// the precedence and the dating rules.
pub fn approval(patch: &Patch, policy: &ApprovalPolicySpec, now: Timestamp) -> Approval {
    let id = patch.id.as_str();
    if let Some(d) = policy.decline.iter().find(|d| d.patch == id) {
        return Approval::Declined {
            reason: d.reason.clone(),
            owner: d.owner.clone(),
            ticket: d.ticket.clone(),
        };
    }
    if let Some(a) = policy.approve.iter().find(|a| a.patch == id) {
        return Approval::Approved {
            at: patch.released.map_or(now, |r| r.min(now)),
            by: ApprovedBy::Explicit {
                reason: a.reason.clone(),
                owner: a.owner.clone(),
                ticket: a.ticket.clone(),
            },
            expedite: a.expedite,
        };
    }
    let Some((index, rule)) = policy
        .rules
        .iter()
        .enumerate()
        .find(|(_, r)| patch_matches(patch, &r.matches))
    else {
        return Approval::Pending {
            at: None,
            rule: None,
        };
    };
    let approved_at = patch
        .released
        .and_then(|r| r.checked_add(rule.approve_after.to_signed_duration()).ok());
    match approved_at {
        Some(at) if at <= now => Approval::Approved {
            at,
            by: ApprovedBy::Rule {
                index,
                name: rule.name.clone(),
            },
            expedite: false,
        },
        at => Approval::Pending {
            at,
            rule: Some(index),
        },
    }
}

/// Whether `patch` meets every field `m` gives (AND); within a list, any entry
/// may match (OR). An empty match matches every patch.
///
/// - `cvssAtLeast`: the patch's highest CVSS score; a patch without one does not match.
/// - `cves`: any of the patch's CVEs matches any glob, ignoring case.
/// - `vendors`: equal ignoring case.
/// - `packages`: globs against the patch's product and every package it fixes.
/// - `sources`: any catalog source that described the patch.
pub fn patch_matches(patch: &Patch, m: &PatchMatch) -> bool {
    m.classification
        .as_ref()
        .is_none_or(|c| c.contains(&patch.classification))
        && m.severity
            .as_ref()
            .is_none_or(|s| s.contains(&patch.severity))
        && m.cvss_at_least
            .is_none_or(|min| patch.max_cvss().is_some_and(|score| score >= min))
        && m.cves.as_ref().is_none_or(|globs| cves_match(patch, globs))
        && m.known_exploited
            .is_none_or(|want| patch.known_exploited() == want)
        && m.vendors.as_ref().is_none_or(|vendors| {
            vendors
                .iter()
                .any(|v| v.trim().eq_ignore_ascii_case(patch.vendor.trim()))
        })
        && m.packages
            .as_ref()
            .is_none_or(|globs| packages_match(patch, globs))
        && m.sources
            .as_ref()
            .is_none_or(|sources| patch.advisories.iter().any(|a| sources.contains(&a.source)))
}

/// Whether any CVE the patch fixes matches any of `globs`, ignoring case. Every
/// vulnerability id is tried, not only [`Patch::cves`], so a feed that writes
/// `cve-2025-1234` in lower case still matches; validation makes the globs CVE patterns.
pub fn cves_match(patch: &Patch, globs: &[Glob]) -> bool {
    patch.vulnerabilities.iter().any(|v| {
        let id = v.id.trim();
        globs.iter().any(|g| g.matches_ignoring_case(id))
    })
}

/// Whether the patch's product, or any package it fixes, matches any of `globs`.
pub fn packages_match(patch: &Patch, globs: &[Glob]) -> bool {
    std::iter::once(patch.product.as_str())
        .chain(patch.fixes.iter().map(|f| f.package.as_str()))
        .any(|name| globs.iter().any(|g| g.matches(name)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::fixtures::*;
    use crate::rating::Severity;

    /// An approval policy from the YAML of its `spec`.
    fn approvals(spec: &str) -> ApprovalPolicySpec {
        let yaml = format!(
            "apiVersion: fixpoint.dev/v1alpha1\nkind: Settings\nmetadata: {{name: settings}}\nspec:\n  catalog:\n    sources:\n      - {{name: debian-security, type: apt, url: 'http://deb.example/debian-security', suites: [bookworm-security]}}\n---\napiVersion: fixpoint.dev/v1alpha1\nkind: ApprovalPolicy\nmetadata: {{name: a}}\nspec:\n{spec}"
        );
        policy(&yaml).approvals[0].spec.clone()
    }

    fn matcher(yaml: &str) -> PatchMatch {
        approvals(&format!(
            "  rules:\n    - {{match: {yaml}, approveAfter: 0d}}\n"
        ))
        .rules[0]
            .matches
            .clone()
    }

    const SECURITY_FIRST: &str = "  rules:
    - {name: urgent, match: {classification: [security], severity: [critical]}, approveAfter: 0d}
    - {name: security, match: {classification: [security]}, approveAfter: 3d}
";

    #[test]
    fn the_first_matching_rule_approves_after_its_delay() {
        let policy = approvals(SECURITY_FIRST);
        let critical = patch("openssl/1")
            .security(Severity::Critical)
            .released("2026-11-25");
        assert_eq!(
            approval(&critical, &policy, now()),
            Approval::Approved {
                at: at("2026-11-25"),
                by: ApprovedBy::Rule {
                    index: 0,
                    name: Some("urgent".into())
                },
                expedite: false,
            }
        );
        let moderate = patch("openssl/2")
            .security(Severity::Moderate)
            .released("2026-11-20");
        assert_eq!(
            approval(&moderate, &policy, now()),
            Approval::Approved {
                at: at("2026-11-23"),
                by: ApprovedBy::Rule {
                    index: 1,
                    name: Some("security".into())
                },
                expedite: false,
            }
        );
    }

    #[test]
    fn a_rule_whose_delay_has_not_passed_says_when_it_will_approve() {
        let policy = approvals(SECURITY_FIRST);
        let fresh = patch("openssl/3")
            .security(Severity::Low)
            .released("2026-11-24");
        assert_eq!(
            approval(&fresh, &policy, now()),
            Approval::Pending {
                at: Some(at("2026-11-27")),
                rule: Some(1)
            }
        );
    }

    #[test]
    fn the_first_rule_decides_even_when_a_later_one_is_quicker() {
        let policy = approvals(
            "  rules:\n    - {match: {packages: ['openssl']}, approveAfter: 7d}\n    - {match: {}, approveAfter: 0d}\n",
        );
        let p = patch("openssl/4").released("2026-11-24");
        assert_eq!(
            approval(&p, &policy, now()),
            Approval::Pending {
                at: Some(at("2026-12-01")),
                rule: Some(0)
            }
        );
    }

    #[test]
    fn a_patch_no_rule_matches_waits_for_an_explicit_approval() {
        let policy = approvals(SECURITY_FIRST);
        let bugfix = patch("openssl/5").released("2026-01-01");
        assert_eq!(
            approval(&bugfix, &policy, now()),
            Approval::Pending {
                at: None,
                rule: None
            }
        );
    }

    #[test]
    fn a_rule_cannot_date_an_undated_patch() {
        let policy = approvals(SECURITY_FIRST);
        let undated = patch("openssl/6").security(Severity::Critical);
        assert_eq!(
            approval(&undated, &policy, now()),
            Approval::Pending {
                at: None,
                rule: Some(0)
            }
        );
    }

    #[test]
    fn an_explicit_approval_wins_over_the_rules_and_carries_expedite() {
        let policy = approvals(&format!(
            "{SECURITY_FIRST}  approve:\n    - {{patch: openssl/7, reason: zero-day, owner: sec-team, ticket: INC-9, expedite: true}}\n"
        ));
        let p = patch("openssl/7")
            .security(Severity::Low)
            .released("2026-11-25");
        assert_eq!(
            approval(&p, &policy, now()),
            Approval::Approved {
                at: at("2026-11-25"),
                by: ApprovedBy::Explicit {
                    reason: "zero-day".into(),
                    owner: Some("sec-team".into()),
                    ticket: Some("INC-9".into())
                },
                expedite: true,
            }
        );
    }

    #[test]
    fn an_explicit_approval_is_dated_no_later_than_now() {
        let policy = approvals(
            "  rules: []\n  approve:\n    - {patch: kb/1, reason: tested}\n    - {patch: kb/2, reason: tested}\n",
        );
        let undated = patch("kb/1");
        let future = patch("kb/2").released("2026-12-01");
        for p in [undated, future] {
            let Approval::Approved { at, .. } = approval(&p, &policy, now()) else {
                panic!("{} is approved explicitly", p.id);
            };
            assert_eq!(at, now());
        }
    }

    #[test]
    fn a_decline_wins_over_an_explicit_approval_and_the_rules() {
        let policy = approvals(&format!(
            "{SECURITY_FIRST}  approve:\n    - {{patch: openssl/8, reason: tested}}\n  decline:\n    - {{patch: openssl/8, reason: breaks legacy TLS clients, ticket: CHG-1042}}\n"
        ));
        let p = patch("openssl/8")
            .security(Severity::Critical)
            .released("2026-11-01");
        assert_eq!(
            approval(&p, &policy, now()),
            Approval::Declined {
                reason: "breaks legacy TLS clients".into(),
                owner: None,
                ticket: Some("CHG-1042".into())
            }
        );
    }

    #[test]
    fn an_empty_match_matches_every_patch() {
        assert!(patch_matches(&patch("x/1"), &PatchMatch::default()));
    }

    #[test]
    fn cve_globs_match_any_cve_of_the_patch_ignoring_case() {
        let m = matcher("{cves: ['CVE-2025-*', CVE-2024-3094]}");
        assert!(patch_matches(
            &patch("x/1")
                .cve("CVE-2023-1", 5.0)
                .cve("cve-2025-1234", 5.0),
            &m
        ));
        assert!(patch_matches(&patch("x/2").cve("CVE-2024-3094", 10.0), &m));
        assert!(!patch_matches(&patch("x/3").cve("CVE-2024-30940", 1.0), &m));
        assert!(!patch_matches(&patch("x/4"), &m));
    }

    #[test]
    fn cvss_at_least_compares_the_highest_score_and_needs_one() {
        let m = matcher("{cvssAtLeast: 7.5}");
        assert!(patch_matches(
            &patch("x/1").cve("CVE-2025-1", 4.0).cve("CVE-2025-2", 7.5),
            &m
        ));
        assert!(!patch_matches(&patch("x/2").cve("CVE-2025-3", 7.4), &m));
        assert!(!patch_matches(
            &patch("x/3").exploited_cve("CVE-2025-4"),
            &m
        ));
    }

    #[test]
    fn known_exploited_selects_either_way() {
        let exploited = patch("x/1").exploited_cve("CVE-2025-1");
        let quiet = patch("x/2").cve("CVE-2025-2", 9.8);
        assert!(patch_matches(
            &exploited,
            &matcher("{knownExploited: true}")
        ));
        assert!(!patch_matches(&quiet, &matcher("{knownExploited: true}")));
        assert!(patch_matches(&quiet, &matcher("{knownExploited: false}")));
        assert!(!patch_matches(
            &exploited,
            &matcher("{knownExploited: false}")
        ));
    }

    #[test]
    fn vendors_ignore_case() {
        let m = matcher("{vendors: [debian, Microsoft]}");
        assert!(patch_matches(&patch("x/1").vendor("Debian"), &m));
        assert!(!patch_matches(&patch("x/2").vendor("Red Hat"), &m));
    }

    #[test]
    fn package_globs_match_the_product_or_any_fixed_package() {
        let m = matcher("{packages: ['libssl*']}");
        assert!(patch_matches(&patch("x/1").product("libssl3"), &m));
        assert!(patch_matches(
            &patch("x/2")
                .product("openssl")
                .fixes("openssl")
                .fixes("libssl3"),
            &m
        ));
        assert!(!patch_matches(
            &patch("x/3").product("openssl").fixes("openssl"),
            &m
        ));
    }

    #[test]
    fn sources_match_any_advisory_of_the_patch() {
        let m = matcher("{sources: [debian-security]}");
        assert!(patch_matches(
            &patch("x/1").advised_by("osv").advised_by("debian-security"),
            &m
        ));
        assert!(!patch_matches(&patch("x/2").advised_by("osv"), &m));
    }

    #[test]
    fn every_given_field_of_a_match_must_hold() {
        let m = matcher("{classification: [security], severity: [critical, important]}");
        assert!(patch_matches(
            &patch("x/1").security(Severity::Important),
            &m
        ));
        assert!(!patch_matches(
            &patch("x/2").security(Severity::Moderate),
            &m
        ));
        let mut bugfix = patch("x/3");
        bugfix.severity = Severity::Critical;
        assert!(!patch_matches(&bugfix, &m));
    }
}
