//! Reading machines: a real dpkg status database (tests/fixtures/dpkg, see its
//! PROVENANCE.md) and the example fleet snapshot (examples/fleet), the format
//! documented in docs/fleet-snapshot.md.

use std::sync::OnceLock;

use fixpoint_core::catalog::Platform;
use fixpoint_core::fleet::{Fleet, InstalledPackage, Inventory, parse_dpkg_status};

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../");

fn read(path: &str) -> Vec<u8> {
    let full = format!("{ROOT}{path}");
    std::fs::read(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}

fn installed() -> &'static [InstalledPackage] {
    static INSTALLED: OnceLock<Vec<InstalledPackage>> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        parse_dpkg_status(&read("tests/fixtures/dpkg/status-bookworm")).expect("the fixture parses")
    })
}

fn package(name: &str) -> &'static InstalledPackage {
    installed()
        .iter()
        .find(|p| p.name == name)
        .unwrap_or_else(|| panic!("{name} is not installed"))
}

#[test]
fn the_real_status_database_lists_765_installed_packages() {
    let packages = installed();
    assert_eq!(packages.len(), 765);
    let all = packages.iter().filter(|p| p.architecture == "all").count();
    let amd64 = packages
        .iter()
        .filter(|p| p.architecture == "amd64")
        .count();
    assert_eq!((all, amd64), (150, 615));
    // 625 stanzas name a Source (618 other than the package itself), 66 with a version of their own.
    let other_source = packages.iter().filter(|p| p.source != p.name).count();
    let other_version = packages
        .iter()
        .filter(|p| p.source_version != p.version)
        .count();
    assert_eq!(other_version, 66);
    assert_eq!(other_source, 618);
}

#[test]
fn sources_come_from_the_source_field_with_or_without_a_version() {
    let bash = package("bash");
    assert_eq!(
        (
            bash.version.as_str(),
            bash.source.as_str(),
            bash.source_version.as_str()
        ),
        ("5.2.15-2+b8", "bash", "5.2.15-2")
    );
    let brotli = package("libbrotli1");
    assert_eq!(
        (
            brotli.version.as_str(),
            brotli.source.as_str(),
            brotli.source_version.as_str()
        ),
        ("1.0.9-2+b6", "brotli", "1.0.9-2")
    );
    let libc = package("libc6");
    assert_eq!(
        (
            libc.version.as_str(),
            libc.source.as_str(),
            libc.source_version.as_str()
        ),
        ("2.36-9+deb12u14", "glibc", "2.36-9+deb12u14")
    );
    let jq = package("jq");
    assert_eq!(
        (
            jq.version.as_str(),
            jq.source.as_str(),
            jq.source_version.as_str()
        ),
        ("1.6-2.1+deb12u1", "jq", "1.6-2.1+deb12u1")
    );
    assert_eq!(package("ca-certificates").architecture, "all");
}

#[test]
fn the_fixture_inventory_hash_is_pinned() {
    // Pins the canonical form: changing it changes every stored inventory's key.
    let inventory = Inventory::new(Platform::new("debian", Some("12")), installed().to_vec())
        .expect("a valid inventory");
    assert_eq!(
        inventory.hash().as_str(),
        "dd457d23dc035ab64f9dfcccd6278091078f2673e2048cc47dd4e7f6062cf880"
    );
    let mut reversed = installed().to_vec();
    reversed.reverse();
    let again = Inventory::new(Platform::new("debian", Some("12")), reversed).expect("valid");
    assert_eq!(again.hash(), inventory.hash());
}

#[test]
fn the_example_snapshot_has_four_machines_on_two_images() {
    let fleet = Fleet::from_snapshot(&read("examples/fleet/snapshot.json"))
        .expect("the example snapshot is valid");
    assert_eq!(fleet.machines().len(), 4);
    assert_eq!(fleet.inventories().len(), 2);
    let web: Vec<_> = fleet
        .machines()
        .iter()
        .filter(|m| m.labels.get("role").map(String::as_str) == Some("web"))
        .map(|m| &m.inventory)
        .collect();
    assert_eq!(web.len(), 3);
    assert!(web.iter().all(|h| *h == web[0]));
    assert_eq!(
        Fleet::from_snapshot(&fleet.to_snapshot()).expect("round trip"),
        fleet
    );
    // The file is what the writer produces, so it stays canonical.
    assert_eq!(
        String::from_utf8(fleet.to_snapshot()).expect("UTF-8"),
        String::from_utf8(read("examples/fleet/snapshot.json")).expect("UTF-8")
    );
}

mod properties {
    use super::*;
    use fixpoint_core::fleet::parse_os_release;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn no_bytes_make_the_readers_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse_dpkg_status(&bytes);
            let _ = Fleet::from_snapshot(&bytes);
            let _ = parse_os_release(&String::from_utf8_lossy(&bytes));
        }

        #[test]
        fn a_damaged_status_database_is_an_error_or_a_value_never_a_panic(
            at in 0usize..694_590,
            byte in any::<u8>(),
        ) {
            static STATUS: OnceLock<Vec<u8>> = OnceLock::new();
            let mut bytes = STATUS
                .get_or_init(|| read("tests/fixtures/dpkg/status-bookworm"))
                .clone();
            let at = at % bytes.len();
            bytes[at] = byte;
            let _ = parse_dpkg_status(&bytes);
        }

        #[test]
        fn the_hash_does_not_depend_on_the_order_of_packages(seed in any::<u64>()) {
            let mut shuffled = installed().to_vec();
            // A Fisher–Yates shuffle driven by a small LCG from the seed.
            let mut state = seed | 1;
            for i in (1..shuffled.len()).rev() {
                state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                let j = usize::try_from(state >> 33).unwrap_or(0) % (i + 1);
                shuffled.swap(i, j);
            }
            let platform = Platform::new("debian", Some("12"));
            let a = Inventory::new(platform.clone(), installed().to_vec()).expect("valid");
            let b = Inventory::new(platform, shuffled).expect("valid");
            prop_assert_eq!(a.hash(), b.hash());
        }
    }
}
