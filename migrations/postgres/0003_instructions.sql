-- The instructions each machine was given, so that a report names its patch
-- and release by instruction id, also after a restart.
CREATE TABLE instructions (
    machine_id      TEXT NOT NULL,
    instruction_id  TEXT NOT NULL,
    patch_id        TEXT NOT NULL,
    release_id      TEXT,
    issued_at       BIGINT NOT NULL,
    PRIMARY KEY (machine_id, instruction_id)
);
