//! Policy files from a directory on disk (`fixpoint validate DIR`, `fixpoint catalog`).

use std::io::Read;
use std::path::Path;

use anyhow::Context;
use fixpoint_core::policy;

use super::PolicyFile;

/// Reads every `.yaml`/`.yml` file below `dir`, in path order. Hidden directories
/// (`.git`) are skipped; symbolic links are followed, and a loop is reported, not
/// followed forever. Each file is read up to one byte past the size limit, so a
/// huge file costs no more than that.
pub fn read_tree(dir: &Path) -> anyhow::Result<Vec<PolicyFile>> {
    let meta = std::fs::metadata(dir)
        .with_context(|| format!("cannot read policy directory {}", dir.display()))?;
    if !meta.is_dir() {
        anyhow::bail!("{} is not a directory", dir.display());
    }
    let mut files = Vec::new();
    let walker = walkdir::WalkDir::new(dir)
        .follow_links(true)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || !e.file_name().to_string_lossy().starts_with('.'));
    for entry in walker {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                let display = e
                    .path()
                    .map_or_else(|| dir.display().to_string(), |p| p.display().to_string());
                let problem = if e.loop_ancestor().is_some() {
                    "symbolic link loop; not followed".to_owned()
                } else {
                    format!(
                        "cannot read: {}",
                        e.io_error()
                            .map_or_else(|| e.to_string(), ToString::to_string)
                    )
                };
                files.push(PolicyFile {
                    display,
                    bytes: Vec::new(),
                    problem: Some(problem),
                });
                continue;
            }
        };
        let path = entry.path();
        let is_yaml = path.extension().is_some_and(|x| x == "yaml" || x == "yml");
        if !is_yaml || entry.file_type().is_dir() {
            continue;
        }
        let display = path.display().to_string();
        if !entry.file_type().is_file() {
            files.push(PolicyFile {
                display,
                bytes: Vec::new(),
                problem: Some("not a regular file".into()),
            });
            continue;
        }
        let limit = u64::try_from(policy::load::MAX_FILE_BYTES)
            .unwrap_or(u64::MAX)
            .saturating_add(1);
        let mut bytes = Vec::new();
        match std::fs::File::open(path).and_then(|f| f.take(limit).read_to_end(&mut bytes)) {
            Ok(_) => files.push(PolicyFile {
                display,
                bytes,
                problem: None,
            }),
            Err(e) => files.push(PolicyFile {
                display,
                bytes: Vec::new(),
                problem: Some(format!("cannot read: {e}")),
            }),
        }
    }
    Ok(files)
}
