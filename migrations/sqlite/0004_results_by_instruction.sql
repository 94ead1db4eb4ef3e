-- A result is one instruction's: two instructions for the same patch (a retry,
-- another release) may end in the same second. The key (machine, patch, time)
-- took the second result for a duplicate of the first, and it was lost; the
-- unique (machine_id, instruction_id) index is the identity that remains.
-- SQLite cannot drop a primary key, so the table is rebuilt.
CREATE TABLE install_results_new (
    machine_id      TEXT NOT NULL,
    patch_id        TEXT NOT NULL,
    release_id      TEXT,
    at              INTEGER NOT NULL,
    outcome         TEXT NOT NULL,              -- succeeded | failed | pendingReboot
    detail          TEXT,
    instruction_id  TEXT
);
INSERT INTO install_results_new (machine_id, patch_id, release_id, at, outcome, detail, instruction_id)
    SELECT machine_id, patch_id, release_id, at, outcome, detail, instruction_id FROM install_results;
DROP TABLE install_results;
ALTER TABLE install_results_new RENAME TO install_results;
CREATE INDEX install_results_by_patch ON install_results (patch_id, release_id);
CREATE UNIQUE INDEX install_results_by_instruction ON install_results (machine_id, instruction_id);
