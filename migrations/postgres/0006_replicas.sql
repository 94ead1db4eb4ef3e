-- Several replicas: the leader stores each attempted revision's policy files
-- (JSON: path, base64 content, read problem), so that followers validate and
-- plan exactly what the leader read without reaching the git remote, and the
-- order of attempts (two can fall in one second).
ALTER TABLE policy_revisions ADD COLUMN files TEXT;
ALTER TABLE policy_revisions ADD COLUMN attempt_seq BIGINT NOT NULL DEFAULT 0;

-- Every agent request is authenticated by the SHA-256 of its credential: without
-- an index each lookup read the whole machines table (the agent API keeps the
-- answer in memory afterwards, but every agent's first request after a start,
-- as in a thundering herd, paid a full scan).
CREATE UNIQUE INDEX machines_by_credential ON machines (credential_hash);
