-- The console: what each applied policy revision changed in the plan, and
-- compliance snapshots for the trend report.
ALTER TABLE policy_revisions ADD COLUMN plan_changes TEXT;

-- One row per snapshot of the fleet's compliance, written by the reconcile
-- loop when the figures change and at least hourly. It replaces the
-- placeholder of the first migration (one JSON document a row), which
-- nothing ever wrote.
DROP TABLE compliance_snapshots;
CREATE TABLE compliance_snapshots (
    at           BIGINT PRIMARY KEY,
    machines     BIGINT NOT NULL,
    compliant    BIGINT NOT NULL,
    drifting     BIGINT NOT NULL,
    overdue      BIGINT NOT NULL,
    drift_pairs  BIGINT NOT NULL
);
