-- Agents report results per instruction; a retried report carries the same
-- instruction id and must be counted once.
ALTER TABLE install_results ADD COLUMN instruction_id TEXT;
CREATE UNIQUE INDEX install_results_by_instruction ON install_results (machine_id, instruction_id);
