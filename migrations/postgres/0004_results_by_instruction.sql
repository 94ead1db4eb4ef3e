-- A result is one instruction's: two instructions for the same patch (a retry,
-- another release) may end in the same second. The key (machine, patch, time)
-- took the second result for a duplicate of the first, and it was lost; the
-- unique (machine_id, instruction_id) index is the identity that remains.
ALTER TABLE install_results DROP CONSTRAINT install_results_pkey;
