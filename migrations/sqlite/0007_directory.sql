-- Directory sync (LDAP, Active Directory): the computers each directory source read last,
-- and each source's sync state. Keep in step with ../postgres/0007_directory.sql.
-- A sync replaces a source's computers in one transaction, so a failed sync leaves the
-- previous ones in place.

CREATE TABLE directory_sources (
    name             TEXT PRIMARY KEY,
    location         TEXT NOT NULL,             -- URL and base DN
    last_attempt_at  INTEGER,
    last_success_at  INTEGER,
    last_error       TEXT,
    computers        INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE directory_computers (
    source           TEXT NOT NULL,
    dn               TEXT NOT NULL,
    name             TEXT NOT NULL,
    dns_host_name    TEXT,
    os               TEXT,
    os_version       TEXT,
    ou               TEXT NOT NULL,
    group_dns        TEXT NOT NULL,             -- JSON array of group DNs, nested included
    last_logon       INTEGER,                   -- Unix seconds
    disabled         INTEGER NOT NULL DEFAULT 0,     -- 1 when userAccountControl has ACCOUNTDISABLE
    PRIMARY KEY (source, dn)
);

CREATE INDEX directory_computers_dns ON directory_computers (dns_host_name);
