//! Carrying out instructions: the last instructions the server sent
//! (`instructions.json`, kept so the agent goes on following them while the
//! server is unreachable), their files prefetched before their window opens,
//! each run when [`due`] says so by the agent's own clock, every step
//! journaled ([`Journal`]) so that nothing runs twice and every result is
//! reported until the server acknowledges it.
//!
//! ```text
//!  check-in ──accept──▶ instructions.json ──prefetch──▶ files/<sha256>
//!                             │ due(now)
//!                             ▼
//!  journal: started ──▶ preInstall hooks ──▶ dpkg --install ──▶ postInstall hooks
//!           ──▶ rescan: every target at its version? ──▶ finished(result)
//!  after the batch: reboot command, when a rollout's mode asks for it
//!  report ──▶ server ──▶ journal: acknowledged
//! ```

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use fixpoint_core::fleet::{Inventory, Outcome};
use fixpoint_core::policy::RebootMode;
use fixpoint_core::protocol::{
    Action, HookCommand, Instruction, InstructionResult, Instructions, MAX_LOG_TAIL, MAX_RESULTS,
    PackageTarget, Report, log_tail,
};
use fixpoint_core::version;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::client::ServerClient;
use crate::command::{self, Ran};
use crate::due::{Due, due, why_now};
use crate::files::FileCache;
use crate::installer::Installer;
use crate::journal::{Entry, Journal};
use crate::scanner::Scanner;
use crate::state::DataDir;

const INSTRUCTIONS_FILE: &str = "instructions.json";
/// A package tool run longer than this is killed and counted as failed.
const INSTALL_LIMIT: Duration = Duration::from_secs(60 * 60);
/// The reboot command must hand over within this.
const REBOOT_LIMIT: Duration = Duration::from_secs(5 * 60);
/// A step that could not run (files not downloadable, the package tool busy)
/// is tried again after this, while the instruction is still due.
pub const RETRY: SignedDuration = SignedDuration::from_mins(5);

/// `instructions.json`: the last instructions and their ETag.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Held {
    etag: String,
    received: Option<Timestamp>,
    instructions: Instructions,
}

/// How one instruction's attempt ended.
enum Step {
    Done {
        result: InstructionResult,
        /// The rollout's mode asks for a restart now, with this grace.
        reboot: Option<i64>,
    },
    /// Not now (why); again at `retry` if still due.
    Postponed(String),
}

/// What a pass of [`Executor::run_due`] did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Pass {
    pub finished: Vec<(String, Outcome)>,
    pub postponed: Vec<String>,
    /// The reboot command ran (its exit code).
    pub rebooted: Option<Option<i32>>,
}

/// Carries out instructions for one machine.
#[derive(Debug)]
pub struct Executor<'a> {
    data: &'a DataDir,
    root: PathBuf,
    scanner: &'a dyn Scanner,
    installer: Box<dyn Installer>,
    reboot_command: String,
    journal: Journal,
    files: FileCache,
    held: Held,
    /// Instructions postponed until then (in memory: after a restart they are simply tried).
    retry_at: BTreeMap<String, Timestamp>,
}

impl<'a> Executor<'a> {
    pub fn open(
        data: &'a DataDir,
        root: &Path,
        scanner: &'a dyn Scanner,
        installer: Box<dyn Installer>,
        reboot_command: &str,
    ) -> anyhow::Result<Executor<'a>> {
        let journal = Journal::open(data.path())?;
        let files = FileCache::open(data.path())?;
        let path = data.file(INSTRUCTIONS_FILE);
        let held = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).with_context(|| {
                format!(
                    "{} is not valid (delete it: the next check-in brings the instructions again)",
                    path.display()
                )
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Held::default(),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        Ok(Executor {
            data,
            root: root.to_owned(),
            scanner,
            installer,
            reboot_command: reboot_command.to_owned(),
            journal,
            files,
            held,
            retry_at: BTreeMap::new(),
        })
    }

    /// Takes the instructions of a check-in: kept on disk (when they
    /// changed) so the agent follows them while the server is away.
    pub fn accept(
        &mut self,
        etag: &str,
        instructions: &Instructions,
        now: Timestamp,
    ) -> anyhow::Result<()> {
        if self.held.etag != etag || self.held.instructions != *instructions {
            self.held = Held {
                etag: etag.to_owned(),
                received: Some(now),
                instructions: instructions.clone(),
            };
            let mut json =
                serde_json::to_vec_pretty(&self.held).context("serialising the instructions")?;
            json.push(b'\n');
            self.data.write_atomically(INSTRUCTIONS_FILE, &json)?;
            let ids: Vec<&str> = self
                .held
                .instructions
                .items
                .iter()
                .map(|i| i.id.as_str())
                .collect();
            tracing::info!(etag, instructions = ids.len(), "new instructions");
            self.retry_at.retain(|id, _| ids.contains(&id.as_str()));
        }
        let keep: HashSet<&str> = self
            .held
            .instructions
            .items
            .iter()
            .map(|i| i.id.as_str())
            .collect();
        self.journal.compact(now, &keep)
    }

    /// Instructions without a result yet.
    fn pending(&self) -> impl Iterator<Item = &Instruction> {
        self.held
            .instructions
            .items
            .iter()
            .filter(|i| !self.journal.finished(&i.id))
    }

    /// When the next pending instruction is due (now or later), `None` when none is.
    pub fn next_due(&self, now: Timestamp) -> Option<Timestamp> {
        self.pending()
            .filter_map(|i| {
                let at = match due(i, now) {
                    Due::Now => now,
                    Due::At(t) => t,
                    Due::Missed => return None,
                };
                Some(self.retry_at.get(&i.id).map_or(at, |r| at.max(*r)))
            })
            .min()
    }

    /// Downloads the files of every pending install, before its window
    /// opens; deletes files no pending instruction needs. A failure is
    /// logged and tried again at the next check-in or when the install is due.
    pub async fn prefetch(&self, client: &ServerClient, credential: &str) -> anyhow::Result<()> {
        let mut wanted: HashSet<&str> = HashSet::new();
        for i in self.pending() {
            let Action::Install { files, .. } = &i.action else {
                continue;
            };
            for f in files {
                wanted.insert(&f.sha256);
                if let Err(e) = self.files.fetch(client, credential, f).await {
                    tracing::warn!(instruction = %i.id, "prefetch: {e}");
                }
            }
        }
        let removed = self.files.retain(&wanted)?;
        if removed > 0 {
            tracing::debug!(removed, "deleted files no instruction needs");
        }
        Ok(())
    }

    /// Finishes attempts a crash or kill interrupted: the package tool's own
    /// recovery first, then each attempt goes on from where the machine is
    /// (an install already complete is recorded as done, not run again).
    pub fn recover(&mut self, now: Timestamp) -> anyhow::Result<Vec<String>> {
        let interrupted = self.journal.interrupted();
        if interrupted.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<String> = interrupted.iter().map(|(id, _)| id.clone()).collect();
        tracing::warn!(?ids, "instructions were interrupted: recovering");
        let ran = self.installer.recover(INSTALL_LIMIT);
        if !ran.success() {
            tracing::warn!(exit_code = ?ran.exit_code, "{} recovery failed: {}", self.installer.name(), ran.log.trim());
        }
        for (id, started) in interrupted {
            if let Some(instruction) = self
                .held
                .instructions
                .items
                .iter()
                .find(|i| i.id == id)
                .cloned()
            {
                // Finished already by the recovery (or before the crash)? Then say so now,
                // whether or not the instruction is still due.
                let scan = self.scan()?;
                let mut log = Log::default();
                let step = match &instruction.action {
                    Action::Install { packages, .. }
                        if satisfied(&scan.inventory, packages).is_ok() =>
                    {
                        log.line("interrupted, and complete after recovery: every package is at its fixed version");
                        Some(self.installed(&instruction, &scan.facts, log, None, now))
                    }
                    Action::Remove { package, .. }
                        if scan.inventory.get(package).next().is_none() =>
                    {
                        log.line(&format!(
                            "interrupted, and {package} is no longer installed"
                        ));
                        Some(self.done(&instruction, Outcome::Succeeded, None, log, None, now))
                    }
                    _ => None,
                };
                if let Some(Step::Done { result, .. }) = step {
                    self.journal.finish(result)?;
                }
                continue;
            }
            {
                // The instruction is gone (instructions.json lost or replaced):
                // say what is known.
                self.journal.finish(InstructionResult {
                    instruction_id: id.clone(),
                    outcome: Outcome::Failed,
                    exit_code: None,
                    log_tail: Some(format!(
                        "interrupted (started {started}) and no longer among the instructions; \
                         {} recovery: {}",
                        self.installer.name(),
                        log_tail(ran.log.trim(), 4096)
                    )),
                    at: now,
                })?;
            }
        }
        Ok(ids)
    }

    /// Runs every pending instruction that is due at `now`, in order, then
    /// the reboot command once if a rollout's mode asks for it.
    pub async fn run_due(
        &mut self,
        client: &ServerClient,
        credential: &str,
        now: impl Fn() -> Timestamp,
    ) -> anyhow::Result<Pass> {
        let mut pass = Pass::default();
        let mut reboot: Option<i64> = None;
        let due_now: Vec<Instruction> = self
            .pending()
            .filter(|i| due(i, now()) == Due::Now)
            .filter(|i| self.retry_at.get(&i.id).is_none_or(|r| *r <= now()))
            .cloned()
            .collect();
        for instruction in due_now {
            let started = now();
            tracing::info!(id = %instruction.id, "carrying out {} {}", describe(&instruction.action), why_now(&instruction, started));
            let step = match &instruction.action {
                Action::Install {
                    packages, files, ..
                } => {
                    self.install(&instruction, packages, files, client, credential, &now)
                        .await?
                }
                Action::Remove { package, version } => {
                    self.remove(&instruction, package, version, &now)?
                }
            };
            match step {
                Step::Done { result, reboot: r } => {
                    tracing::info!(id = %instruction.id, outcome = ?result.outcome, "done");
                    pass.finished.push((instruction.id.clone(), result.outcome));
                    self.journal.finish(result)?;
                    self.retry_at.remove(&instruction.id);
                    if let Some(grace) = r {
                        reboot = Some(reboot.map_or(grace, |g| g.max(grace)));
                    }
                }
                Step::Postponed(why) => {
                    let at = now() + RETRY;
                    tracing::warn!(id = %instruction.id, retry_at = %at, "postponed: {why}");
                    self.retry_at.insert(instruction.id.clone(), at);
                    pass.postponed.push(instruction.id.clone());
                }
            }
        }
        if let Some(grace) = reboot {
            pass.rebooted = Some(self.reboot(grace));
        }
        Ok(pass)
    }

    /// Sends the journal's unacknowledged results, and records what the
    /// server acknowledged. Results the server says it never gave this agent
    /// are dropped (with a warning), so they cannot block the others.
    pub async fn report(
        &mut self,
        client: &ServerClient,
        credential: &str,
        now: Timestamp,
    ) -> anyhow::Result<usize> {
        let results = self.journal.unacknowledged();
        let mut acknowledged = 0;
        for chunk in results.chunks(MAX_RESULTS) {
            let report = Report {
                results: chunk.to_vec(),
            };
            match client.report(credential, &report).await {
                Ok(_) => {
                    let ids = chunk.iter().map(|r| r.instruction_id.clone()).collect();
                    self.journal.acknowledge(ids, now)?;
                    acknowledged += chunk.len();
                }
                Err(e) if e.code() == Some("unknownInstruction") => {
                    // One at a time, to find the ones the server does not know.
                    for r in chunk {
                        let one = Report {
                            results: vec![r.clone()],
                        };
                        match client.report(credential, &one).await {
                            Ok(_) => acknowledged += 1,
                            Err(e) if e.code() == Some("unknownInstruction") => {
                                tracing::warn!(id = %r.instruction_id, "the server does not know this instruction: dropping its result ({e})");
                            }
                            Err(e) => return Err(e).context("reporting results"),
                        }
                        self.journal
                            .acknowledge(vec![r.instruction_id.clone()], now)?;
                    }
                }
                Err(e) => return Err(e).context("reporting results"),
            }
        }
        Ok(acknowledged)
    }

    fn scan(&self) -> anyhow::Result<crate::scanner::Scan> {
        self.scanner
            .scan()
            .with_context(|| format!("scanning the machine ({} scanner)", self.scanner.name()))
    }

    async fn install(
        &mut self,
        instruction: &Instruction,
        packages: &[PackageTarget],
        files: &[fixpoint_core::protocol::FileRef],
        client: &ServerClient,
        credential: &str,
        now: &impl Fn() -> Timestamp,
    ) -> anyhow::Result<Step> {
        let mut log = Log::default();
        // The files first: nothing changes on the machine without all of them.
        let mut paths = Vec::with_capacity(files.len());
        for f in files {
            match self.files.fetch(client, credential, f).await {
                Ok(path) => paths.push(path),
                Err(e) if e.transient() && still_due(instruction, now() + RETRY) => {
                    return Ok(Step::Postponed(e.to_string()));
                }
                Err(e) => {
                    log.line(&format!("cannot get the files: {e}"));
                    return Ok(self.failed(instruction, None, log, now()));
                }
            }
        }
        let interrupted = matches!(
            self.journal.entry(&instruction.id),
            Some(Entry::Started { .. })
        );
        let before = self.scan()?;
        if let Ok(()) = satisfied(&before.inventory, packages) {
            log.line(if interrupted {
                "the interrupted install had completed: every package is at its fixed version"
            } else {
                "nothing to do: every package is already at its fixed version"
            });
            return Ok(self.installed(instruction, &before.facts, log, None, now()));
        }
        if paths.is_empty() {
            log.line("the instruction lists no file to install from");
            return Ok(self.failed(instruction, None, log, now()));
        }
        self.journal.start(&instruction.id, now())?;
        for hook in &instruction.hooks.pre_install {
            let ran = self.hook(instruction, hook, "preInstall", packages);
            log.ran(&format!("preInstall: {}", hook.run), &ran);
            if !ran.success() {
                log.line("a preInstall command failed: nothing was installed");
                return Ok(self.failed(instruction, ran.exit_code, log, now()));
            }
        }
        let ran = self.installer.install(&paths, INSTALL_LIMIT);
        if self.installer.busy(&ran) && still_due(instruction, now() + RETRY) {
            return Ok(Step::Postponed(format!(
                "{} is busy: {}",
                self.installer.name(),
                ran.log.trim()
            )));
        }
        log.ran(
            &format!(
                "{} --install ({} files)",
                self.installer.name(),
                paths.len()
            ),
            &ran,
        );
        if !ran.success() {
            return Ok(self.failed(instruction, ran.exit_code, log, now()));
        }
        let installer_code = ran.exit_code;
        for hook in &instruction.hooks.post_install {
            let ran = self.hook(instruction, hook, "postInstall", packages);
            log.ran(&format!("postInstall: {}", hook.run), &ran);
            if !ran.success() {
                log.line("a postInstall command failed");
                return Ok(self.failed(instruction, ran.exit_code, log, now()));
            }
        }
        let after = self.scan()?;
        if let Err(short) = satisfied(&after.inventory, packages) {
            log.line(&format!(
                "{} succeeded, but not every package reached its fixed version: {short}",
                self.installer.name()
            ));
            return Ok(self.failed(instruction, installer_code, log, now()));
        }
        Ok(self.installed(instruction, &after.facts, log, installer_code, now()))
    }

    fn remove(
        &mut self,
        instruction: &Instruction,
        package: &str,
        version: &str,
        now: &impl Fn() -> Timestamp,
    ) -> anyhow::Result<Step> {
        let mut log = Log::default();
        let before = self.scan()?;
        if before.inventory.get(package).next().is_none() {
            log.line(&format!("{package} is not installed"));
            return Ok(self.done(instruction, Outcome::Succeeded, None, log, None, now()));
        }
        self.journal.start(&instruction.id, now())?;
        let ran = self.installer.remove(package, INSTALL_LIMIT);
        if self.installer.busy(&ran) {
            return Ok(Step::Postponed(format!(
                "{} is busy: {}",
                self.installer.name(),
                ran.log.trim()
            )));
        }
        log.ran(
            &format!("{} --remove {package} ({version})", self.installer.name()),
            &ran,
        );
        if !ran.success() {
            return Ok(self.failed(instruction, ran.exit_code, log, now()));
        }
        let after = self.scan()?;
        if let Some(left) = after.inventory.get(package).next() {
            log.line(&format!("{package} {} is still installed", left.version));
            return Ok(self.failed(instruction, ran.exit_code, log, now()));
        }
        Ok(self.done(
            instruction,
            Outcome::Succeeded,
            ran.exit_code,
            log,
            None,
            now(),
        ))
    }

    /// Installed: `pendingReboot` when the packages ask for a restart or the
    /// rollout always restarts; the restart itself when its mode allows.
    fn installed(
        &self,
        instruction: &Instruction,
        facts: &fixpoint_core::protocol::Facts,
        mut log: Log,
        exit_code: Option<i32>,
        at: Timestamp,
    ) -> Step {
        let mode = instruction.reboot.mode;
        let wanted = match mode {
            RebootMode::Always => true,
            RebootMode::IfRequired | RebootMode::Never => facts.reboot_required,
        };
        if !wanted {
            return self.done(instruction, Outcome::Succeeded, exit_code, log, None, at);
        }
        let reboot = (mode != RebootMode::Never).then_some(instruction.reboot.grace_seconds.max(0));
        log.line(match reboot {
            Some(_) => "a restart follows (the rollout's reboot mode)",
            None => {
                "a restart is required; the rollout's reboot mode is never, so it waits for one"
            }
        });
        self.done(
            instruction,
            Outcome::PendingReboot,
            exit_code,
            log,
            reboot,
            at,
        )
    }

    fn failed(
        &self,
        instruction: &Instruction,
        exit_code: Option<i32>,
        log: Log,
        at: Timestamp,
    ) -> Step {
        self.done(instruction, Outcome::Failed, exit_code, log, None, at)
    }

    fn done(
        &self,
        instruction: &Instruction,
        outcome: Outcome,
        exit_code: Option<i32>,
        log: Log,
        reboot: Option<i64>,
        at: Timestamp,
    ) -> Step {
        let text = log.0;
        Step::Done {
            result: InstructionResult {
                instruction_id: instruction.id.clone(),
                outcome,
                exit_code,
                log_tail: (!text.is_empty()).then(|| log_tail(&text, MAX_LOG_TAIL).to_owned()),
                at,
            },
            reboot,
        }
    }

    /// Runs a hook with `/bin/sh -c`, told what it runs around.
    fn hook(
        &self,
        instruction: &Instruction,
        hook: &HookCommand,
        stage: &str,
        packages: &[PackageTarget],
    ) -> Ran {
        let mut c = command::shell(&hook.run);
        let patch = match &instruction.action {
            Action::Install { patch, .. } => patch.0.as_str(),
            Action::Remove { .. } => "",
        };
        let listed: Vec<String> = packages
            .iter()
            .map(|t| match &t.version {
                Some(v) => format!("{}:{}={v}", t.name, t.arch),
                None => format!("{}:{}", t.name, t.arch),
            })
            .collect();
        c.current_dir("/")
            .env("FIXPOINT_HOOK", stage)
            .env("FIXPOINT_INSTRUCTION_ID", &instruction.id)
            .env("FIXPOINT_PATCH", patch)
            .env("FIXPOINT_PACKAGES", listed.join(" "))
            .env("FIXPOINT_ROOT", &self.root);
        command::run(c, Duration::from_secs(hook.timeout_seconds.max(1)))
    }

    /// The configured reboot command, with the grace in its environment.
    fn reboot(&self, grace_seconds: i64) -> Option<i32> {
        let minutes = (grace_seconds + 59) / 60;
        tracing::warn!(grace_seconds, command = %self.reboot_command, "restarting the machine");
        let mut c = command::shell(&self.reboot_command);
        c.current_dir("/")
            .env("FIXPOINT_REBOOT_GRACE_SECONDS", grace_seconds.to_string())
            .env("FIXPOINT_REBOOT_GRACE_MINUTES", minutes.to_string())
            .env("FIXPOINT_ROOT", &self.root);
        let ran = command::run(c, REBOOT_LIMIT);
        if !ran.success() {
            tracing::error!(exit_code = ?ran.exit_code, "the reboot command failed: {}", ran.log.trim());
        }
        ran.exit_code
    }
}

fn describe(action: &Action) -> String {
    match action {
        Action::Install {
            patch, packages, ..
        } => {
            format!("install of {} ({} packages)", patch.0, packages.len())
        }
        Action::Remove { package, .. } => format!("removal of {package}"),
    }
}

/// Still due at `at` (so postponing to then keeps it in its window).
fn still_due(instruction: &Instruction, at: Timestamp) -> bool {
    due(instruction, at) == Due::Now
}

/// Every target is installed at its fixed version or later (the binary's
/// version or, for a fix stated for the source, its source version); `Err`
/// lists the ones that are not.
pub fn satisfied(inventory: &Inventory, targets: &[PackageTarget]) -> Result<(), String> {
    let scheme = inventory.platform().scheme();
    let mut short = Vec::new();
    for t in targets {
        let installed: Vec<_> = inventory
            .get(&t.name)
            .filter(|p| t.arch.is_empty() || p.architecture == t.arch || p.architecture == "all")
            .collect();
        let Some(fixed) = &t.version else {
            if installed.is_empty() {
                short.push(format!("{} is not installed", t.name));
            }
            continue;
        };
        let at_least = |v: &str| {
            version::compare(scheme, v, fixed).is_ok_and(|o| o != std::cmp::Ordering::Less)
        };
        match installed.first() {
            None => short.push(format!("{} is not installed", t.name)),
            Some(p) if at_least(&p.version) || at_least(&p.source_version) => {}
            Some(p) => short.push(format!("{} is at {}, not {fixed}", t.name, p.version)),
        }
    }
    if short.is_empty() {
        Ok(())
    } else {
        Err(short.join("; "))
    }
}

/// The log of one attempt, what `logTail` carries.
#[derive(Debug, Default)]
struct Log(String);

impl Log {
    fn line(&mut self, text: &str) {
        self.0.push_str(text);
        self.0.push('\n');
    }

    fn ran(&mut self, what: &str, ran: &Ran) {
        self.0.push_str(&format!("$ {what}\n"));
        self.0.push_str(&ran.log);
        if !ran.log.is_empty() && !ran.log.ends_with('\n') {
            self.0.push('\n');
        }
        match ran.exit_code {
            Some(code) => self.0.push_str(&format!("[exit code {code}]\n")),
            None => self.0.push_str("[no exit code: killed or not started]\n"),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use fixpoint_core::catalog::PatchId;
    use fixpoint_core::protocol::{FileRef, InstructionHooks, RebootInstruction};
    use serde_json::json;

    use super::*;
    use crate::client::ClientOptions;
    use crate::installer::DpkgInstaller;
    use crate::scanner::DebianScanner;
    use crate::testing::{Answer, DebianRoot, HttpServer, build_deb, data_dir, sha256_hex};

    fn at(s: &str) -> Timestamp {
        s.parse().expect("timestamp")
    }

    const NOW: &str = "2026-12-03T12:00:00Z";

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
    }

    /// A machine with `fp-hello 1.0-1` installed by real dpkg, and version
    /// 1.1-1 built beside it.
    struct Machine {
        root: DebianRoot,
        _data_tmp: tempfile::TempDir,
        data: DataDir,
        scanner: DebianScanner,
        new_deb: Vec<u8>,
    }

    impl Machine {
        fn new() -> Machine {
            Machine::on(DebianRoot::new())
        }

        fn on(root: DebianRoot) -> Machine {
            let build = tempfile::tempdir().expect("tempdir");
            root.dpkg_install(&build_deb(build.path(), "fp-hello", "1.0-1", None, None));
            let new_deb = build_deb(build.path(), "fp-hello", "1.1-1", None, None);
            let (data_tmp, data_path) = data_dir();
            let data = DataDir::lock(&data_path).expect("lock");
            let scanner = DebianScanner::new(root.path());
            Machine {
                root,
                _data_tmp: data_tmp,
                data,
                scanner,
                new_deb,
            }
        }

        fn executor(&self, reboot_command: &str) -> Executor<'_> {
            Executor::open(
                &self.data,
                self.root.path(),
                &self.scanner,
                Box::new(DpkgInstaller::new(self.root.path())),
                reboot_command,
            )
            .expect("executor")
        }
    }

    fn file_ref(bytes: &[u8]) -> FileRef {
        let sha = sha256_hex(bytes);
        FileRef {
            url: format!("/api/v1/files/{sha}"),
            sha256: sha,
            size: Some(bytes.len() as u64),
        }
    }

    fn install(id: &str, file: FileRef) -> Instruction {
        Instruction {
            id: id.into(),
            action: Action::Install {
                patch: PatchId("fp-hello/1.1-1".into()),
                packages: vec![PackageTarget {
                    name: "fp-hello".into(),
                    arch: "all".into(),
                    version: Some("1.1-1".into()),
                }],
                files: vec![file],
            },
            not_before: None,
            window_end: None,
            deadline: None,
            reboot: RebootInstruction {
                mode: RebootMode::IfRequired,
                grace_seconds: 0,
            },
            hooks: InstructionHooks::default(),
        }
    }

    fn remove(id: &str, package: &str) -> Instruction {
        Instruction {
            action: Action::Remove {
                package: package.into(),
                version: "1.0-1".into(),
            },
            ..install(id, file_ref(b""))
        }
    }

    fn instructions(items: Vec<Instruction>) -> Instructions {
        Instructions {
            release: None,
            items,
        }
    }

    /// A server that serves `files` and acknowledges every report.
    fn server(files: Vec<Vec<u8>>) -> HttpServer {
        let files: BTreeMap<String, Vec<u8>> =
            files.into_iter().map(|b| (sha256_hex(&b), b)).collect();
        HttpServer::start(move |r| {
            if r.path == "/api/v1/report" {
                let report: serde_json::Value = serde_json::from_slice(&r.body).expect("json");
                let n = report["results"].as_array().map_or(0, Vec::len);
                return Answer::json(200, &json!({"accepted": n, "duplicates": 0}));
            }
            match r
                .path
                .strip_prefix("/api/v1/files/")
                .and_then(|s| files.get(s))
            {
                Some(bytes) => Answer::file(r, bytes),
                None => Answer::json(404, &json!({"error": "notFound", "detail": "no such file"})),
            }
        })
    }

    fn client(server: &HttpServer) -> ServerClient {
        ServerClient::new(&server.base, &ClientOptions::default()).expect("client")
    }

    #[test]
    fn an_install_waits_for_its_window_then_runs_once_with_real_dpkg() {
        let m = Machine::new();
        let server = server(vec![m.new_deb.clone()]);
        let client = client(&server);
        let mut ex = m.executor("false");
        let mut i = install("i-1", file_ref(&m.new_deb));
        i.not_before = Some(at("2026-12-03T14:00:00Z"));
        i.window_end = Some(at("2026-12-03T15:00:00Z"));
        ex.accept("e-1", &instructions(vec![i]), at(NOW))
            .expect("accept");
        assert_eq!(ex.next_due(at(NOW)), Some(at("2026-12-03T14:00:00Z")));
        let rt = runtime();

        // Before the window: prefetched, nothing installed.
        rt.block_on(ex.prefetch(&client, "cred")).expect("prefetch");
        let pass = rt
            .block_on(ex.run_due(&client, "cred", || at(NOW)))
            .expect("pass");
        assert_eq!(pass, Pass::default());
        assert_eq!(m.root.version_of("fp-hello").as_deref(), Some("1.0-1"));
        let downloads = server.paths().len();
        assert_eq!(downloads, 1, "prefetched once");

        // In the window: installed by dpkg, from the prefetched file.
        let pass = rt
            .block_on(ex.run_due(&client, "cred", || at("2026-12-03T14:00:05Z")))
            .expect("pass");
        assert_eq!(pass.finished, [("i-1".to_owned(), Outcome::Succeeded)]);
        assert_eq!(m.root.version_of("fp-hello").as_deref(), Some("1.1-1"));
        assert_eq!(server.paths().len(), downloads, "no second download");

        // Never twice, and not after a restart either.
        let pass = rt
            .block_on(ex.run_due(&client, "cred", || at("2026-12-03T14:10:00Z")))
            .expect("pass");
        assert!(pass.finished.is_empty());
        assert_eq!(ex.next_due(at("2026-12-03T14:10:00Z")), None);
        drop(ex);
        let mut ex = m.executor("false");
        assert!(
            ex.recover(at("2026-12-03T14:20:00Z"))
                .expect("recover")
                .is_empty()
        );
        assert_eq!(
            ex.next_due(at("2026-12-03T14:20:00Z")),
            None,
            "instructions.json kept, journal says done"
        );
        let pass = rt
            .block_on(ex.run_due(&client, "cred", || at("2026-12-03T14:20:00Z")))
            .expect("pass");
        assert!(pass.finished.is_empty());
        assert_eq!(
            m.root.installs_logged("fp-hello"),
            2,
            "the image's install and one upgrade"
        );

        // Reported once; the log tail carries dpkg's output.
        assert_eq!(
            rt.block_on(ex.report(&client, "cred", at(NOW)))
                .expect("report"),
            1
        );
        assert_eq!(
            rt.block_on(ex.report(&client, "cred", at(NOW)))
                .expect("report"),
            0
        );
        let reports: Vec<serde_json::Value> = server
            .received
            .lock()
            .expect("log")
            .iter()
            .filter(|r| r.path == "/api/v1/report")
            .map(|r| serde_json::from_slice(&r.body).expect("json"))
            .collect();
        assert_eq!(reports.len(), 1);
        let result = &reports[0]["results"][0];
        assert_eq!(result["instructionId"], "i-1");
        assert_eq!(result["outcome"], "succeeded");
        assert_eq!(result["exitCode"], 0);
        assert!(
            result["logTail"]
                .as_str()
                .is_some_and(|l| l.contains("Unpacking fp-hello (1.1-1) over (1.0-1)")),
            "{result}"
        );
    }

    #[test]
    fn a_file_with_the_wrong_hash_is_never_installed() {
        let m = Machine::new();
        let mut tampered = m.new_deb.clone();
        let middle = tampered.len() / 2;
        tampered[middle] ^= 0xff;
        // The server answers the good file's hash with the tampered bytes.
        let good = sha256_hex(&m.new_deb);
        let served = tampered.clone();
        let server = HttpServer::start(move |r| Answer::file(r, &served));
        let client = client(&server);
        let mut ex = m.executor("false");
        ex.accept(
            "e-1",
            &instructions(vec![install("i-1", file_ref(&m.new_deb))]),
            at(NOW),
        )
        .expect("accept");
        let pass = runtime()
            .block_on(ex.run_due(&client, "cred", || at(NOW)))
            .expect("pass");
        assert_eq!(pass.finished, [("i-1".to_owned(), Outcome::Failed)]);
        assert_eq!(m.root.version_of("fp-hello").as_deref(), Some("1.0-1"));
        let result = &ex.journal.unacknowledged()[0];
        let log = result.log_tail.as_deref().unwrap_or_default();
        assert!(log.contains("SHA-256") && log.contains(&good), "{log}");
        assert_eq!(result.exit_code, None, "dpkg never ran");
        let files: Vec<_> = std::fs::read_dir(m.data.file("files"))
            .expect("ls")
            .collect();
        assert!(files.is_empty(), "the bad download is deleted");
    }

    #[test]
    fn a_failing_pre_install_hook_installs_nothing_and_hooks_see_the_instruction() {
        let m = Machine::new();
        let server = server(vec![m.new_deb.clone()]);
        let client = client(&server);
        let seen = m.data.file("hook-env");
        let mut ok = install("i-ok", file_ref(&m.new_deb));
        ok.hooks = InstructionHooks {
            pre_install: vec![HookCommand {
                run: format!(
                    "echo \"$FIXPOINT_HOOK $FIXPOINT_INSTRUCTION_ID $FIXPOINT_PATCH $FIXPOINT_PACKAGES\" >> {}",
                    seen.display()
                ),
                timeout_seconds: 10,
            }],
            post_install: vec![HookCommand {
                run: format!(
                    "echo \"$FIXPOINT_HOOK $(cat $FIXPOINT_ROOT/usr/share/fp-hello/VERSION)\" >> {}",
                    seen.display()
                ),
                timeout_seconds: 10,
            }],
        };
        let mut failing = ok.clone();
        failing.id = "i-fail".into();
        failing.hooks.pre_install = vec![HookCommand {
            run: "echo stopping the app; exit 7".into(),
            timeout_seconds: 10,
        }];
        let rt = runtime();

        let mut ex = m.executor("false");
        ex.accept("e-1", &instructions(vec![failing]), at(NOW))
            .expect("accept");
        let pass = rt
            .block_on(ex.run_due(&client, "cred", || at(NOW)))
            .expect("pass");
        assert_eq!(pass.finished, [("i-fail".to_owned(), Outcome::Failed)]);
        assert_eq!(m.root.version_of("fp-hello").as_deref(), Some("1.0-1"));
        let failed = &ex.journal.unacknowledged()[0];
        assert_eq!(failed.exit_code, Some(7));
        let log = failed.log_tail.as_deref().unwrap_or_default();
        assert!(
            log.contains("stopping the app") && log.contains("nothing was installed"),
            "{log}"
        );

        ex.accept("e-2", &instructions(vec![ok]), at(NOW))
            .expect("accept");
        let pass = rt
            .block_on(ex.run_due(&client, "cred", || at(NOW)))
            .expect("pass");
        assert_eq!(pass.finished, [("i-ok".to_owned(), Outcome::Succeeded)]);
        assert_eq!(
            std::fs::read_to_string(&seen).expect("the hooks ran"),
            "preInstall i-ok fp-hello/1.1-1 fp-hello:all=1.1-1\npostInstall 1.1-1\n"
        );
    }

    #[test]
    fn a_package_dpkg_refuses_is_a_failed_result_with_dpkgs_words() {
        let m = Machine::new();
        let build = tempfile::tempdir().expect("tempdir");
        let broken = build_deb(
            build.path(),
            "fp-hello",
            "1.1-1",
            Some("Depends: fp-missing (>= 2)"),
            None,
        );
        let server = server(vec![broken.clone()]);
        let client = client(&server);
        let mut ex = m.executor("false");
        ex.accept(
            "e-1",
            &instructions(vec![install("i-1", file_ref(&broken))]),
            at(NOW),
        )
        .expect("accept");
        let pass = runtime()
            .block_on(ex.run_due(&client, "cred", || at(NOW)))
            .expect("pass");
        assert_eq!(pass.finished, [("i-1".to_owned(), Outcome::Failed)]);
        let result = &ex.journal.unacknowledged()[0];
        assert_eq!(result.exit_code, Some(1));
        let log = result.log_tail.as_deref().unwrap_or_default();
        assert!(log.contains("fp-missing"), "{log}");
    }

    #[test]
    fn a_package_pre_depending_on_another_of_the_same_instruction_is_installed_after_it() {
        // As libpam-modules pre-depends on libpam-modules-bin of the same version.
        let m = Machine::new();
        let build = tempfile::tempdir().expect("tempdir");
        m.root
            .dpkg_install(&build_deb(build.path(), "fp-bin", "1.0-1", None, None));
        let bin = build_deb(build.path(), "fp-bin", "1.1-1", None, None);
        let modules = build_deb(
            build.path(),
            "fp-hello",
            "1.1-1",
            Some("Pre-Depends: fp-bin (= 1.1-1)"),
            None,
        );
        let server = server(vec![bin.clone(), modules.clone()]);
        let client = client(&server);
        let mut ex = m.executor("false");
        let mut i = install("i-1", file_ref(&modules));
        if let Action::Install {
            files, packages, ..
        } = &mut i.action
        {
            // The file of the dependent package first, as a hash order may have it.
            files.push(file_ref(&bin));
            packages.push(PackageTarget {
                name: "fp-bin".into(),
                arch: "all".into(),
                version: Some("1.1-1".into()),
            });
        }
        ex.accept("e-1", &instructions(vec![i]), at(NOW))
            .expect("accept");
        let pass = runtime()
            .block_on(ex.run_due(&client, "cred", || at(NOW)))
            .expect("pass");
        let log = ex.journal.unacknowledged()[0]
            .log_tail
            .clone()
            .unwrap_or_default();
        assert_eq!(
            pass.finished,
            [("i-1".to_owned(), Outcome::Succeeded)],
            "{log}"
        );
        assert_eq!(m.root.version_of("fp-bin").as_deref(), Some("1.1-1"));
        assert_eq!(m.root.version_of("fp-hello").as_deref(), Some("1.1-1"));
    }

    #[test]
    fn a_removal_removes_the_package_and_an_absent_one_is_done_already() {
        let m = Machine::new();
        let server = server(Vec::new());
        let client = client(&server);
        let mut ex = m.executor("false");
        ex.accept(
            "e-1",
            &instructions(vec![
                remove("i-rm", "fp-hello"),
                remove("i-gone", "fp-never-installed"),
            ]),
            at(NOW),
        )
        .expect("accept");
        let pass = runtime()
            .block_on(ex.run_due(&client, "cred", || at(NOW)))
            .expect("pass");
        assert_eq!(
            pass.finished,
            [
                ("i-rm".to_owned(), Outcome::Succeeded),
                ("i-gone".to_owned(), Outcome::Succeeded)
            ]
        );
        assert_eq!(m.root.version_of("fp-hello"), None);
        assert!(!m.root.path().join("usr/share/fp-hello/VERSION").exists());
        let gone = ex
            .journal
            .unacknowledged()
            .into_iter()
            .find(|r| r.instruction_id == "i-gone")
            .expect("result");
        assert!(
            gone.log_tail
                .as_deref()
                .is_some_and(|l| l.contains("not installed"))
        );
    }

    #[test]
    fn the_reboot_command_runs_once_after_the_batch_with_the_longest_grace() {
        let m = Machine::new();
        let build = tempfile::tempdir().expect("tempdir");
        let other = build_deb(build.path(), "fp-other", "1.0-1", None, None);
        m.root
            .dpkg_install(&build_deb(build.path(), "fp-other", "0.9-1", None, None));
        let server = server(vec![m.new_deb.clone(), other.clone()]);
        let client = client(&server);
        let marker = m.data.file("rebooted");
        let mut ex = m.executor(&format!(
            "echo \"$FIXPOINT_REBOOT_GRACE_SECONDS $FIXPOINT_REBOOT_GRACE_MINUTES\" >> {}",
            marker.display()
        ));
        let mut first = install("i-1", file_ref(&m.new_deb));
        first.reboot = RebootInstruction {
            mode: RebootMode::Always,
            grace_seconds: 60,
        };
        let mut second = install("i-2", file_ref(&other));
        if let Action::Install {
            packages, patch, ..
        } = &mut second.action
        {
            packages[0].name = "fp-other".into();
            packages[0].version = Some("1.0-1".into());
            *patch = PatchId("fp-other/1.0-1".into());
        }
        second.reboot = RebootInstruction {
            mode: RebootMode::Always,
            grace_seconds: 250,
        };
        ex.accept("e-1", &instructions(vec![first, second]), at(NOW))
            .expect("accept");
        let pass = runtime()
            .block_on(ex.run_due(&client, "cred", || at(NOW)))
            .expect("pass");
        assert_eq!(
            pass.finished,
            [
                ("i-1".to_owned(), Outcome::PendingReboot),
                ("i-2".to_owned(), Outcome::PendingReboot)
            ]
        );
        assert_eq!(pass.rebooted, Some(Some(0)));
        assert_eq!(
            std::fs::read_to_string(&marker).expect("rebooted"),
            "250 5\n"
        );
    }

    #[test]
    fn a_required_restart_under_mode_never_is_pending_and_no_reboot_runs() {
        let m = Machine::on(DebianRoot::new().with_shell());
        let build = tempfile::tempdir().expect("tempdir");
        // Its maintainer script asks for a restart, as libc6 and the kernel's do.
        let asks = build_deb(
            build.path(),
            "fp-hello",
            "1.1-1",
            None,
            Some("#!/bin/sh\n: > /run/reboot-required\n"),
        );
        let server = server(vec![asks.clone()]);
        let client = client(&server);
        let marker = m.data.file("rebooted");
        let mut ex = m.executor(&format!("touch {}", marker.display()));
        let mut i = install("i-1", file_ref(&asks));
        i.reboot.mode = RebootMode::Never;
        ex.accept("e-1", &instructions(vec![i]), at(NOW))
            .expect("accept");
        let pass = runtime()
            .block_on(ex.run_due(&client, "cred", || at(NOW)))
            .expect("pass");
        assert_eq!(pass.finished, [("i-1".to_owned(), Outcome::PendingReboot)]);
        assert!(
            m.root.path().join("run/reboot-required").exists(),
            "the script ran inside the root"
        );
        assert_eq!(pass.rebooted, None);
        assert!(!marker.exists());
    }

    #[test]
    fn an_interrupted_install_that_completed_is_recorded_without_running_dpkg_again() {
        let m = Machine::new();
        let mut ex = m.executor("false");
        ex.accept(
            "e-1",
            &instructions(vec![install("i-1", file_ref(&m.new_deb))]),
            at(NOW),
        )
        .expect("accept");
        // The agent had journaled the start and dpkg had finished when it was killed.
        ex.journal.start("i-1", at(NOW)).expect("start");
        m.root.dpkg_install(&m.new_deb);
        drop(ex);

        let mut ex = m.executor("false");
        assert_eq!(ex.recover(at(NOW)).expect("recover"), ["i-1"]);
        assert!(ex.journal.finished("i-1"));
        assert_eq!(
            m.root.installs_logged("fp-hello"),
            2,
            "no install after the one before the kill"
        );
        let result = &ex.journal.unacknowledged()[0];
        assert_eq!(result.outcome, Outcome::Succeeded);
        assert!(
            result
                .log_tail
                .as_deref()
                .is_some_and(|l| l.contains("interrupted"))
        );
    }

    #[test]
    fn an_interrupted_install_that_did_not_complete_runs_again_when_due() {
        let m = Machine::new();
        let server = server(vec![m.new_deb.clone()]);
        let client = client(&server);
        let mut ex = m.executor("false");
        ex.accept(
            "e-1",
            &instructions(vec![install("i-1", file_ref(&m.new_deb))]),
            at(NOW),
        )
        .expect("accept");
        ex.journal.start("i-1", at(NOW)).expect("start");
        drop(ex);
        let mut ex = m.executor("false");
        assert_eq!(ex.recover(at(NOW)).expect("recover"), ["i-1"]);
        assert!(!ex.journal.finished("i-1"));
        let pass = runtime()
            .block_on(ex.run_due(&client, "cred", || at(NOW)))
            .expect("pass");
        assert_eq!(pass.finished, [("i-1".to_owned(), Outcome::Succeeded)]);
        assert_eq!(m.root.version_of("fp-hello").as_deref(), Some("1.1-1"));
    }

    #[test]
    fn while_the_server_is_away_prefetched_files_are_installed_and_results_wait() {
        let m = Machine::new();
        let server = server(vec![m.new_deb.clone()]);
        let mut i = install("i-1", file_ref(&m.new_deb));
        i.not_before = Some(at("2026-12-03T14:00:00Z"));
        i.window_end = Some(at("2026-12-03T15:00:00Z"));
        let rt = runtime();
        {
            let mut ex = m.executor("false");
            ex.accept("e-1", &instructions(vec![i]), at(NOW))
                .expect("accept");
            rt.block_on(ex.prefetch(&client(&server), "cred"))
                .expect("prefetch");
        }
        // The server is gone: nothing listens there any more.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let gone = ServerClient::new(
            &format!("http://{}", closed.local_addr().expect("addr")),
            &ClientOptions::default(),
        )
        .expect("client");
        drop(closed);
        let mut ex = m.executor("false");
        let pass = rt
            .block_on(ex.run_due(&gone, "cred", || at("2026-12-03T14:00:01Z")))
            .expect("pass");
        assert_eq!(pass.finished, [("i-1".to_owned(), Outcome::Succeeded)]);
        assert_eq!(m.root.version_of("fp-hello").as_deref(), Some("1.1-1"));
        assert!(rt.block_on(ex.report(&gone, "cred", at(NOW))).is_err());
        assert_eq!(
            ex.journal.unacknowledged().len(),
            1,
            "kept for when the server is back"
        );
        assert_eq!(
            rt.block_on(ex.report(&client(&server), "cred", at(NOW)))
                .expect("back"),
            1
        );
        assert!(ex.journal.unacknowledged().is_empty());
    }

    #[test]
    fn a_download_that_fails_for_now_is_postponed_inside_the_window_and_failed_after_it() {
        let m = Machine::new();
        let up = Arc::new(Mutex::new(false));
        let flag = Arc::clone(&up);
        let bytes = m.new_deb.clone();
        let server = HttpServer::start(move |r| {
            if *flag.lock().expect("flag") {
                Answer::file(r, &bytes)
            } else {
                Answer::json(503, &json!({"error": "unavailable", "detail": "busy"}))
            }
        });
        let client = client(&server);
        let mut i = install("i-1", file_ref(&m.new_deb));
        i.window_end = Some(at("2026-12-03T13:00:00Z"));
        let mut ex = m.executor("false");
        ex.accept("e-1", &instructions(vec![i]), at(NOW))
            .expect("accept");
        let rt = runtime();
        let pass = rt
            .block_on(ex.run_due(&client, "cred", || at(NOW)))
            .expect("pass");
        assert_eq!(pass.postponed, ["i-1"]);
        assert_eq!(ex.next_due(at(NOW)), Some(at(NOW) + RETRY));
        *up.lock().expect("flag") = true;
        let later = at(NOW) + RETRY;
        let pass = rt
            .block_on(ex.run_due(&client, "cred", || later))
            .expect("pass");
        assert_eq!(pass.finished, [("i-1".to_owned(), Outcome::Succeeded)]);

        // Near the window's end there is no time for a retry: a failed result.
        let m = Machine::new();
        *up.lock().expect("flag") = false;
        let mut i = install("i-2", file_ref(&m.new_deb));
        i.window_end = Some(at("2026-12-03T12:02:00Z"));
        let mut ex = m.executor("false");
        ex.accept("e-1", &instructions(vec![i]), at(NOW))
            .expect("accept");
        let pass = rt
            .block_on(ex.run_due(&client, "cred", || at(NOW)))
            .expect("pass");
        assert_eq!(pass.finished, [("i-2".to_owned(), Outcome::Failed)]);
        let log = ex.journal.unacknowledged()[0]
            .log_tail
            .clone()
            .unwrap_or_default();
        assert!(log.contains("503"), "{log}");
    }

    #[test]
    fn results_the_server_never_gave_are_dropped_so_the_others_get_through() {
        let m = Machine::new();
        let server = HttpServer::start(|r| {
            let report: serde_json::Value = serde_json::from_slice(&r.body).expect("json");
            let ids: Vec<&str> = report["results"]
                .as_array()
                .expect("results")
                .iter()
                .filter_map(|x| x["instructionId"].as_str())
                .collect();
            if ids.contains(&"i-stale") {
                return Answer::json(
                    400,
                    &json!({"error": "unknownInstruction", "detail": "instruction i-stale was not given to this agent"}),
                );
            }
            Answer::json(200, &json!({"accepted": ids.len(), "duplicates": 0}))
        });
        let client = client(&server);
        let mut ex = m.executor("false");
        for id in ["i-stale", "i-good"] {
            ex.journal
                .finish(InstructionResult {
                    instruction_id: id.into(),
                    outcome: Outcome::Succeeded,
                    exit_code: Some(0),
                    log_tail: None,
                    at: at(NOW),
                })
                .expect("finish");
        }
        let acknowledged = runtime()
            .block_on(ex.report(&client, "cred", at(NOW)))
            .expect("report");
        assert_eq!(acknowledged, 1);
        assert!(
            ex.journal.unacknowledged().is_empty(),
            "neither is sent again"
        );
        assert_eq!(server.paths().len(), 3, "the batch, then one by one");
    }

    #[test]
    fn satisfied_compares_binary_or_source_versions_by_the_platforms_scheme() {
        use fixpoint_core::catalog::Platform;
        use fixpoint_core::fleet::InstalledPackage;
        let inventory = Inventory::new(
            Platform::new("debian", Some("12")),
            vec![
                InstalledPackage::new("libssl3", "amd64", "3.0.15-1~deb12u1+b1")
                    .built_from("openssl", "3.0.15-1~deb12u1"),
                InstalledPackage::new("curl", "amd64", "7.88.1-10+deb12u7"),
            ],
        )
        .expect("inventory");
        let target = |name: &str, arch: &str, v: &str| PackageTarget {
            name: name.into(),
            arch: arch.into(),
            version: Some(v.into()),
        };
        assert_eq!(
            satisfied(
                &inventory,
                &[target("libssl3", "amd64", "3.0.15-1~deb12u1")]
            ),
            Ok(())
        );
        // `~` sorts before everything: 1~deb12u1 is older than 1.
        let e =
            satisfied(&inventory, &[target("libssl3", "amd64", "3.0.15-1")]).expect_err("older");
        assert!(e.contains("libssl3 is at 3.0.15-1~deb12u1+b1"), "{e}");
        let e = satisfied(&inventory, &[target("curl", "arm64", "7.88.1-10+deb12u7")])
            .expect_err("arch");
        assert!(e.contains("curl is not installed"), "{e}");
        assert_eq!(
            satisfied(&inventory, &[target("curl", "", "7.88.1-10+deb12u5")]),
            Ok(())
        );
    }
}
