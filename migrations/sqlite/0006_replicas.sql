-- Several replicas: the leader stores each attempted revision's policy files
-- (JSON: path, base64 content, read problem), so that followers validate and
-- plan exactly what the leader read without reaching the git remote, and the
-- order of attempts (two can fall in one second).
ALTER TABLE policy_revisions ADD COLUMN files TEXT;
ALTER TABLE policy_revisions ADD COLUMN attempt_seq INTEGER NOT NULL DEFAULT 0;
