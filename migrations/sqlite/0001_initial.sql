-- Fixpoint's schema, SQLite dialect. Keep in step with ../postgres/0001_initial.sql:
-- the same tables, columns and keys; only types differ (TEXT/INTEGER/BLOB here).
-- Instants are stored as Unix seconds (INTEGER) in UTC; documents as JSON text.

-- Catalog -------------------------------------------------------------------------------------

-- One row per configured feed: what the last sync saw, for conditional requests and display.
CREATE TABLE catalog_sources (
    name             TEXT PRIMARY KEY,
    kind             TEXT NOT NULL,             -- apt | csaf | cvrf | osv
    location         TEXT NOT NULL,             -- URL or path the source reads
    etag             TEXT,
    last_modified    TEXT,
    content_sha256   TEXT,                      -- of what was last imported
    release_date     INTEGER,                   -- APT: Date of the last accepted InRelease (replay guard)
    last_attempt_at  INTEGER,
    last_success_at  INTEGER,
    last_error       TEXT,
    advisories       INTEGER NOT NULL DEFAULT 0
);

-- Validators of every feed URL last imported, for conditional requests. Written in the
-- same transaction as the import, so a failed import is fetched in full next time.
CREATE TABLE http_cache (
    url            TEXT PRIMARY KEY,
    etag           TEXT,
    last_modified  TEXT,
    accepted_date  INTEGER                     -- APT InRelease: its Date when accepted (replay guard)
);

-- Advisories as each source describes them; a sync replaces one source's rows.
CREATE TABLE advisories (
    source       TEXT NOT NULL,
    advisory_id  TEXT NOT NULL,
    patch_id     TEXT NOT NULL,
    document     TEXT NOT NULL,                 -- the Advisory as JSON
    PRIMARY KEY (source, advisory_id, patch_id)
);
CREATE INDEX advisories_by_patch ON advisories (patch_id);

-- Patches: every advisory about one fix, merged. Recomputed from `advisories`.
CREATE TABLE patches (
    id              TEXT PRIMARY KEY,
    vendor          TEXT NOT NULL,
    product         TEXT NOT NULL,
    title           TEXT,
    classification  TEXT NOT NULL,
    severity        TEXT NOT NULL,
    released_at     INTEGER,
    max_cvss        REAL,
    known_exploited INTEGER NOT NULL DEFAULT 0,
    document        TEXT NOT NULL              -- the Patch as JSON
);
CREATE INDEX patches_by_product ON patches (product);
CREATE INDEX patches_by_released ON patches (released_at);
CREATE INDEX patches_by_severity ON patches (severity);

CREATE TABLE patch_cves (
    patch_id  TEXT NOT NULL,
    cve       TEXT NOT NULL,
    PRIMARY KEY (patch_id, cve)
);
CREATE INDEX patch_cves_by_cve ON patch_cves (cve);

-- Which packages a patch fixes, for applicability by package name.
CREATE TABLE patch_packages (
    patch_id  TEXT NOT NULL,
    platform  TEXT NOT NULL,
    package   TEXT NOT NULL,
    fixed     TEXT,
    PRIMARY KEY (patch_id, platform, package)
);
CREATE INDEX patch_packages_by_package ON patch_packages (package, platform);

CREATE TABLE patch_supersedence (
    patch_id    TEXT NOT NULL,
    supersedes  TEXT NOT NULL,
    PRIMARY KEY (patch_id, supersedes)
);
CREATE INDEX patch_supersedence_by_old ON patch_supersedence (supersedes);

-- Fleet (for the server to come) ----------------------------------------------------------------

-- Inventories are stored once per distinct content: machines built from one image share a row.
CREATE TABLE inventories (
    sha256      TEXT PRIMARY KEY,
    document    BLOB NOT NULL,
    first_seen  INTEGER NOT NULL
);

CREATE TABLE machines (
    id               TEXT PRIMARY KEY,
    hostname         TEXT NOT NULL,
    credential_hash  TEXT NOT NULL,
    enrolled_at      INTEGER NOT NULL,
    last_check_in    INTEGER,
    inventory_sha256 TEXT REFERENCES inventories (sha256),
    facts            TEXT NOT NULL DEFAULT '{}'  -- labels, OS, site, directory facts as JSON
);
CREATE INDEX machines_by_hostname ON machines (hostname);
CREATE INDEX machines_by_inventory ON machines (inventory_sha256);

CREATE TABLE check_ins (
    machine_id        TEXT NOT NULL,
    at                INTEGER NOT NULL,
    inventory_sha256  TEXT,
    PRIMARY KEY (machine_id, at)
);

-- Results agents report for installs and removals.
CREATE TABLE install_results (
    machine_id  TEXT NOT NULL,
    patch_id    TEXT NOT NULL,
    release_id  TEXT,
    at          INTEGER NOT NULL,
    outcome     TEXT NOT NULL,                  -- succeeded | failed | skipped
    detail      TEXT,
    PRIMARY KEY (machine_id, patch_id, at)
);
CREATE INDEX install_results_by_patch ON install_results (patch_id, release_id);

-- Policy and plans ------------------------------------------------------------------------------

-- Every policy revision attempted: the applied ones are the audit trail of who changed what when.
CREATE TABLE policy_revisions (
    revision     TEXT PRIMARY KEY,              -- commit id, or content hash for a plain directory
    author       TEXT,
    committed_at INTEGER,
    attempted_at INTEGER NOT NULL,
    applied      INTEGER NOT NULL,
    diagnostics  TEXT NOT NULL DEFAULT '[]'
);

-- Content-addressed releases: the exact patch set a ring was promoted with.
CREATE TABLE releases (
    id          TEXT PRIMARY KEY,               -- hash of the sorted patch ids
    rollout     TEXT NOT NULL,
    patches     TEXT NOT NULL,                  -- JSON array of patch ids
    created_at  INTEGER NOT NULL
);

-- The plan per distinct inventory (and policy revision), stored as a document.
CREATE TABLE plans (
    inventory_sha256  TEXT NOT NULL,
    revision          TEXT NOT NULL,
    computed_at       INTEGER NOT NULL,
    document          TEXT NOT NULL,
    PRIMARY KEY (inventory_sha256, revision)
);

CREATE TABLE compliance_snapshots (
    at        INTEGER PRIMARY KEY,
    document  TEXT NOT NULL
);

CREATE TABLE audit_events (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    at       INTEGER NOT NULL,
    actor    TEXT NOT NULL,
    action   TEXT NOT NULL,
    subject  TEXT NOT NULL,
    detail   TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_events_by_at ON audit_events (at);
