//! The on-disk journal of what the agent did: `journal.jsonl` in the data
//! directory, one JSON record a line, appended and synced before the agent
//! goes on. It is what makes an instruction run at most once and every result
//! reach the server:
//!
//! - `started` is written (and synced) before an instruction's first change
//!   to the machine; a `started` without a `finished` after a crash means the
//!   attempt was interrupted, and the executor recovers it instead of
//!   starting afresh;
//! - `finished` holds the result, replayed in every report until
//! - `acknowledged` says the server stored it.
//!
//! A record cut short by a crash (no final newline) was never synced, so it
//! is dropped; any other unreadable line is an error naming it, and the agent
//! carries out nothing until it is fixed: guessing could install twice.
//! Acknowledged results are kept for [`RETENTION`] (so an instruction the
//! server sends again before it has planned the result is not run again),
//! then compacted away.

use std::collections::{BTreeMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use fixpoint_core::protocol::InstructionResult;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

const JOURNAL_FILE: &str = "journal.jsonl";
/// How long an acknowledged result is remembered.
pub const RETENTION: SignedDuration = SignedDuration::from_hours(30 * 24);
/// The journal is rewritten when it holds this many more lines than entries.
const COMPACT_SLACK: usize = 256;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "event",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
enum Record {
    Started { id: String, at: Timestamp },
    Finished { result: InstructionResult },
    Acknowledged { ids: Vec<String>, at: Timestamp },
}

/// What the journal knows of one instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// Begun at `at` and not finished: interrupted, if the agent is not running it now.
    Started { at: Timestamp },
    /// Done, with its result; `acknowledged` once the server stored it.
    Finished {
        result: InstructionResult,
        acknowledged: Option<Timestamp>,
    },
}

/// The journal, open for appending.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: File,
    entries: BTreeMap<String, Entry>,
    lines: usize,
}

impl Journal {
    /// Opens (or creates) the journal in `dir` and replays it.
    pub fn open(dir: &Path) -> anyhow::Result<Journal> {
        let path = dir.join(JOURNAL_FILE);
        let mut options = OpenOptions::new();
        options.read(true).append(true).create(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options
            .open(&path)
            .with_context(|| format!("opening the journal {}", path.display()))?;
        let mut text = Vec::new();
        file.read_to_end(&mut text)
            .with_context(|| format!("reading the journal {}", path.display()))?;
        // A last line without its newline was cut by a crash before its sync.
        let complete = text.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        if complete < text.len() {
            tracing::warn!(
                path = %path.display(),
                bytes = text.len() - complete,
                "dropping the journal's last record, cut short by a crash"
            );
            file.set_len(complete as u64)
                .and_then(|()| file.sync_all())
                .with_context(|| format!("truncating {}", path.display()))?;
            file.seek(SeekFrom::End(0))
                .with_context(|| format!("seeking in {}", path.display()))?;
        }
        let mut journal = Journal {
            path,
            file,
            entries: BTreeMap::new(),
            lines: 0,
        };
        for (i, line) in text[..complete].split(|b| *b == b'\n').enumerate() {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let record: Record = serde_json::from_slice(line).with_context(|| {
                format!(
                    "{} line {}: not a journal record (the agent carries out nothing \
                     until this is fixed; move the file away to start a new journal)",
                    journal.path.display(),
                    i + 1
                )
            })?;
            journal.apply(record);
            journal.lines += 1;
        }
        Ok(journal)
    }

    fn apply(&mut self, record: Record) {
        match record {
            Record::Started { id, at } => {
                // A result, once there, stays: a stray `started` cannot undo it.
                self.entries.entry(id).or_insert(Entry::Started { at });
            }
            Record::Finished { result } => {
                self.entries.insert(
                    result.instruction_id.clone(),
                    Entry::Finished {
                        result,
                        acknowledged: None,
                    },
                );
            }
            Record::Acknowledged { ids, at } => {
                for id in ids {
                    if let Some(Entry::Finished { acknowledged, .. }) = self.entries.get_mut(&id) {
                        acknowledged.get_or_insert(at);
                    }
                }
            }
        }
    }

    fn append(&mut self, record: Record) -> anyhow::Result<()> {
        let mut line = serde_json::to_vec(&record).context("serialising a journal record")?;
        line.push(b'\n');
        self.file
            .write_all(&line)
            .and_then(|()| self.file.sync_data())
            .with_context(|| format!("appending to the journal {}", self.path.display()))?;
        self.lines += 1;
        self.apply(record);
        Ok(())
    }

    pub fn entry(&self, id: &str) -> Option<&Entry> {
        self.entries.get(id)
    }

    /// Whether `id` has a result (so it must not run again).
    pub fn finished(&self, id: &str) -> bool {
        matches!(self.entries.get(id), Some(Entry::Finished { .. }))
    }

    /// Instructions started and never finished.
    pub fn interrupted(&self) -> Vec<(String, Timestamp)> {
        self.entries
            .iter()
            .filter_map(|(id, e)| match e {
                Entry::Started { at } => Some((id.clone(), *at)),
                Entry::Finished { .. } => None,
            })
            .collect()
    }

    /// Records, durably, that `id` is about to change the machine.
    pub fn start(&mut self, id: &str, at: Timestamp) -> anyhow::Result<()> {
        if self.finished(id) {
            bail!("instruction {id} already has a result: it is not run again");
        }
        self.append(Record::Started {
            id: id.to_owned(),
            at,
        })
    }

    /// Records, durably, how an instruction ended.
    pub fn finish(&mut self, result: InstructionResult) -> anyhow::Result<()> {
        self.append(Record::Finished { result })
    }

    /// The results the server has not acknowledged yet, oldest first.
    pub fn unacknowledged(&self) -> Vec<InstructionResult> {
        let mut results: Vec<InstructionResult> = self
            .entries
            .values()
            .filter_map(|e| match e {
                Entry::Finished {
                    result,
                    acknowledged: None,
                } => Some(result.clone()),
                _ => None,
            })
            .collect();
        results.sort_by(|a, b| {
            a.at.cmp(&b.at)
                .then_with(|| a.instruction_id.cmp(&b.instruction_id))
        });
        results
    }

    /// Records that the server stored the results of `ids`.
    pub fn acknowledge(&mut self, ids: Vec<String>, at: Timestamp) -> anyhow::Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        self.append(Record::Acknowledged { ids, at })
    }

    /// Forgets results acknowledged longer than [`RETENTION`] before `now`
    /// (unless `keep` names them: the server still lists the instruction), and
    /// rewrites the file when it has grown well past what it holds: a
    /// temporary file, synced, renamed over the journal.
    pub fn compact(&mut self, now: Timestamp, keep: &HashSet<&str>) -> anyhow::Result<()> {
        let before = self.entries.len();
        self.entries.retain(|id, e| match e {
            Entry::Finished {
                acknowledged: Some(at),
                ..
            } => keep.contains(id.as_str()) || now.duration_since(*at) < RETENTION,
            _ => true,
        });
        let live_records: usize = self
            .entries
            .values()
            .map(|e| match e {
                Entry::Finished {
                    acknowledged: Some(_),
                    ..
                } => 2,
                _ => 1,
            })
            .sum();
        if self.entries.len() == before && self.lines <= live_records + COMPACT_SLACK {
            return Ok(());
        }
        let mut text = Vec::new();
        let mut lines = 0;
        for (id, e) in &self.entries {
            let mut records = Vec::with_capacity(2);
            match e {
                Entry::Started { at } => records.push(Record::Started {
                    id: id.clone(),
                    at: *at,
                }),
                Entry::Finished {
                    result,
                    acknowledged,
                } => {
                    records.push(Record::Finished {
                        result: result.clone(),
                    });
                    if let Some(at) = acknowledged {
                        records.push(Record::Acknowledged {
                            ids: vec![id.clone()],
                            at: *at,
                        });
                    }
                }
            }
            for r in records {
                text.extend(serde_json::to_vec(&r).context("serialising a journal record")?);
                text.push(b'\n');
                lines += 1;
            }
        }
        let dir = self.path.parent().unwrap_or(Path::new("."));
        let temporary = dir.join(format!("{JOURNAL_FILE}.tmp"));
        let write = || -> std::io::Result<File> {
            let mut options = OpenOptions::new();
            options.write(true).create(true).truncate(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options.open(&temporary)?;
            file.write_all(&text)?;
            file.sync_all()?;
            std::fs::rename(&temporary, &self.path)?;
            File::open(dir)?.sync_all()?;
            OpenOptions::new().read(true).append(true).open(&self.path)
        };
        self.file = write().with_context(|| format!("compacting {}", self.path.display()))?;
        self.lines = lines;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use fixpoint_core::fleet::Outcome;

    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().expect("timestamp")
    }

    fn result(id: &str, outcome: Outcome) -> InstructionResult {
        InstructionResult {
            instruction_id: id.into(),
            outcome,
            exit_code: Some(0),
            log_tail: Some("Setting up libssl3 ...".into()),
            at: at("2026-12-03T02:05:00Z"),
        }
    }

    #[test]
    fn records_survive_reopening_and_acknowledged_results_are_not_sent_again() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut j = Journal::open(dir.path()).expect("open");
        j.start("i-1", at("2026-12-03T02:00:00Z")).expect("start");
        j.finish(result("i-1", Outcome::Succeeded)).expect("finish");
        j.start("i-2", at("2026-12-03T02:06:00Z")).expect("start");
        j.finish(result("i-2", Outcome::Failed)).expect("finish");
        j.start("i-3", at("2026-12-03T02:07:00Z")).expect("start");
        drop(j);

        let mut j = Journal::open(dir.path()).expect("reopen");
        assert!(j.finished("i-1") && j.finished("i-2"));
        assert_eq!(
            j.interrupted(),
            [("i-3".to_owned(), at("2026-12-03T02:07:00Z"))]
        );
        let ids: Vec<String> = j
            .unacknowledged()
            .into_iter()
            .map(|r| r.instruction_id)
            .collect();
        assert_eq!(ids, ["i-1", "i-2"]);
        j.acknowledge(vec!["i-1".into()], at("2026-12-03T02:10:00Z"))
            .expect("ack");
        drop(j);

        let j = Journal::open(dir.path()).expect("reopen");
        let ids: Vec<String> = j
            .unacknowledged()
            .into_iter()
            .map(|r| r.instruction_id)
            .collect();
        assert_eq!(ids, ["i-2"]);
        assert!(
            j.finished("i-1"),
            "an acknowledged result still prevents a second run"
        );
    }

    #[test]
    fn a_finished_instruction_cannot_be_started_again() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut j = Journal::open(dir.path()).expect("open");
        j.start("i-1", at("2026-12-03T02:00:00Z")).expect("start");
        j.finish(result("i-1", Outcome::Succeeded)).expect("finish");
        let e = j
            .start("i-1", at("2026-12-03T03:00:00Z"))
            .expect_err("twice");
        assert!(e.to_string().contains("not run again"), "{e}");
    }

    #[test]
    fn a_record_cut_short_by_a_crash_is_dropped_and_the_journal_goes_on() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut j = Journal::open(dir.path()).expect("open");
        j.start("i-1", at("2026-12-03T02:00:00Z")).expect("start");
        drop(j);
        let path = dir.path().join(JOURNAL_FILE);
        let mut f = OpenOptions::new().append(true).open(&path).expect("open");
        f.write_all(br#"{"event":"finished","result":{"instructionId":"i-1","outc"#)
            .expect("torn write");
        drop(f);

        let mut j = Journal::open(dir.path()).expect("reopen");
        assert_eq!(
            j.interrupted().len(),
            1,
            "the torn result is not taken as a result"
        );
        j.finish(result("i-1", Outcome::Succeeded)).expect("finish");
        drop(j);
        let j = Journal::open(dir.path()).expect("reopen");
        assert!(j.finished("i-1"));
        let text = std::fs::read_to_string(&path).expect("read");
        assert_eq!(text.lines().count(), 2, "{text}");
    }

    #[test]
    fn a_damaged_line_is_an_error_naming_the_file_and_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(JOURNAL_FILE);
        std::fs::write(
            &path,
            "{\"event\":\"started\",\"id\":\"i-1\",\"at\":\"2026-12-03T02:00:00Z\"}\nnot json\n",
        )
        .expect("write");
        let e = format!("{:#}", Journal::open(dir.path()).expect_err("damaged"));
        assert!(e.contains("journal.jsonl line 2"), "{e}");
        assert_eq!(
            std::fs::read_to_string(&path)
                .expect("read")
                .lines()
                .count(),
            2,
            "nothing is lost"
        );
    }

    #[test]
    fn old_acknowledged_results_are_compacted_unless_still_instructed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut j = Journal::open(dir.path()).expect("open");
        for i in 0..300 {
            let id = format!("i-{i}");
            j.start(&id, at("2026-10-01T02:00:00Z")).expect("start");
            j.finish(result(&id, Outcome::Succeeded)).expect("finish");
            j.acknowledge(vec![id], at("2026-10-01T03:00:00Z"))
                .expect("ack");
        }
        j.start("i-new", at("2026-12-03T02:00:00Z")).expect("start");
        j.finish(result("i-new", Outcome::Succeeded))
            .expect("finish");
        let keep = HashSet::from(["i-7"]);
        j.compact(at("2026-12-03T04:00:00Z"), &keep)
            .expect("compact");
        assert!(j.finished("i-7"), "still instructed: kept");
        assert!(!j.finished("i-8"), "acknowledged two months ago: forgotten");
        assert!(j.finished("i-new"));
        assert_eq!(j.unacknowledged().len(), 1);
        j.start("i-later", at("2026-12-03T05:00:00Z"))
            .expect("appends after compaction");
        drop(j);

        let j = Journal::open(dir.path()).expect("reopen");
        assert!(j.finished("i-7") && j.finished("i-new") && !j.finished("i-8"));
        assert_eq!(j.interrupted().len(), 1);
        let text = std::fs::read_to_string(dir.path().join(JOURNAL_FILE)).expect("read");
        assert_eq!(text.lines().count(), 4, "{text}");
        assert!(!dir.path().join("journal.jsonl.tmp").exists());
    }
}
