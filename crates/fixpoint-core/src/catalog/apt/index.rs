//! Index files (`Packages`, in any of its compressions) checked against the
//! `Release` that lists them, and decompressed.
//!
//! The decompressors are pure Rust, so the core builds for every agent target
//! without a C toolchain:
//! - `.xz`: `lzma-rust2`, a maintained port of XZ for Java, built without its
//!   `optimization` feature so it is entirely safe code on untrusted input.
//!   (`xz2` and `liblzma` bind the C liblzma; `lzma-rs` is pure Rust but has
//!   seen little maintenance and is several times slower.)
//! - `.gz`: `flate2` on the `zlib-rs` backend, the one rPGP already pulls in.
//! - `.lz4`: `lz4_flex` with its safe decoder; apt stores lists in the LZ4
//!   *frame* format, which is what it reads.

use std::fmt;
use std::io::Read;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::release::{IndexEntry, Release};
use super::{AptError, Result, hex};

/// The most an index may decompress to: Debian's largest `Packages` (main,
/// amd64) is about 100 MB; this leaves room and stops a decompression bomb.
pub const MAX_DECOMPRESSED_SIZE: u64 = 1 << 30;

/// The most memory an `.xz` stream may ask for (its dictionary): `xz -9` needs 64 MiB.
const XZ_MEMORY_LIMIT_KIB: u32 = 256 * 1024;

/// How an index file is compressed, by its name's extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Compression {
    None,
    Gzip,
    Xz,
    Lz4,
}

impl Compression {
    /// The compression a path's extension names, and the path without it.
    /// `.bz2`, `.lzma` and `.zst` are refused by name.
    pub fn of_path(path: &str) -> Result<(Compression, &str)> {
        for (extension, compression) in [
            (".xz", Compression::Xz),
            (".gz", Compression::Gzip),
            (".lz4", Compression::Lz4),
        ] {
            if let Some(base) = path.strip_suffix(extension) {
                return Ok((compression, base));
            }
        }
        for extension in [".bz2", ".lzma", ".zst", ".Z"] {
            if path.ends_with(extension) {
                return Err(AptError::UnsupportedCompression {
                    path: path.to_owned(),
                    extension: extension.to_owned(),
                });
            }
        }
        Ok((Compression::None, path))
    }

    pub fn extension(self) -> &'static str {
        match self {
            Compression::None => "",
            Compression::Gzip => ".gz",
            Compression::Xz => ".xz",
            Compression::Lz4 => ".lz4",
        }
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Compression::None => "uncompressed",
            Compression::Gzip => "gzip",
            Compression::Xz => "xz",
            Compression::Lz4 => "lz4",
        })
    }
}

/// The `SHA256` entry the `Release` has for exactly `path`
/// (relative to the suite, e.g. `main/binary-amd64/Packages.xz`).
pub fn index_entry<'r>(release: &'r Release, path: &str) -> Result<&'r IndexEntry> {
    release.entry(path).ok_or_else(|| AptError::NotInRelease {
        path: path.to_owned(),
    })
}

/// Checks an index file against the `Release` and returns it decompressed.
///
/// `path_in_release` is the file's path relative to the suite, and its
/// extension says how `bytes` are compressed. Two ways to verify, the first
/// that applies wins and nothing is returned unverified:
/// - the `Release` lists `path_in_release` itself: the size and SHA-256 of
///   `bytes` are checked before decompressing (and, when the `Release` also
///   lists the uncompressed path, the result is checked against that too);
/// - it lists only the uncompressed path (as for the `.lz4` copies apt keeps
///   under `/var/lib/apt/lists`, which it recompresses after verifying): the
///   decompressed bytes are checked against that entry, and decompression
///   stops as soon as they exceed its size.
///
/// Decompression stops at [`MAX_DECOMPRESSED_SIZE`] in any case.
pub fn verify_and_decompress(
    release: &Release,
    path_in_release: &str,
    bytes: &[u8],
) -> Result<Vec<u8>> {
    let (compression, plain_path) = Compression::of_path(path_in_release)?;
    let own = release.entry(path_in_release);
    let plain = match compression {
        Compression::None => None,
        _ => release.entry(plain_path),
    };
    match (own, plain) {
        (Some(entry), _) => check(entry, bytes)?,
        (None, Some(_)) => {}
        (None, None) => {
            return Err(AptError::NotInRelease {
                path: path_in_release.to_owned(),
            });
        }
    }
    if compression == Compression::None {
        return Ok(bytes.to_vec());
    }
    let limit = match plain {
        Some(entry) if entry.size > MAX_DECOMPRESSED_SIZE => {
            return Err(AptError::TooLarge {
                path: entry.path.clone(),
                limit: MAX_DECOMPRESSED_SIZE,
            });
        }
        Some(entry) => entry.size,
        None => MAX_DECOMPRESSED_SIZE,
    };
    let data = decompress(
        compression,
        bytes,
        limit,
        path_in_release,
        plain.map(|e| e.size),
    )?;
    if let Some(entry) = plain {
        check(entry, &data)?;
    }
    Ok(data)
}

/// Size first (cheap, and the clearer message for a truncated download), then SHA-256.
fn check(entry: &IndexEntry, bytes: &[u8]) -> Result<()> {
    let actual = bytes.len() as u64;
    if actual != entry.size {
        return Err(AptError::SizeMismatch {
            path: entry.path.clone(),
            expected: entry.size,
            actual,
        });
    }
    let digest = hex(&Sha256::digest(bytes));
    if digest != entry.sha256 {
        return Err(AptError::HashMismatch {
            path: entry.path.clone(),
            expected: entry.sha256.clone(),
            actual: digest,
        });
    }
    Ok(())
}

fn decompress(
    compression: Compression,
    bytes: &[u8],
    limit: u64,
    path: &str,
    expected_size: Option<u64>,
) -> Result<Vec<u8>> {
    let reader: Box<dyn Read + '_> = match compression {
        Compression::None => Box::new(bytes),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(bytes)),
        Compression::Xz => Box::new(lzma_rust2::XzReader::new_mem_limit(
            bytes,
            true,
            XZ_MEMORY_LIMIT_KIB,
        )),
        Compression::Lz4 => Box::new(lz4_flex::frame::FrameDecoder::new(bytes)),
    };
    // Reserve what the Release promises (bounded), so a 2.5 MB index is one allocation.
    let capacity = expected_size
        .unwrap_or(bytes.len() as u64 * 4)
        .min(limit)
        .min(64 << 20);
    let mut out = Vec::with_capacity(usize::try_from(capacity).unwrap_or(0));
    reader
        .take(limit.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|e| AptError::Decompress {
            path: path.to_owned(),
            compression,
            message: e.to_string(),
        })?;
    if out.len() as u64 > limit {
        return Err(AptError::TooLarge {
            path: path.to_owned(),
            limit,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compression_is_read_from_the_extension() {
        assert_eq!(
            Compression::of_path("main/binary-amd64/Packages.xz").ok(),
            Some((Compression::Xz, "main/binary-amd64/Packages"))
        );
        assert_eq!(
            Compression::of_path("main/binary-amd64/Packages").ok(),
            Some((Compression::None, "main/binary-amd64/Packages"))
        );
        assert!(matches!(
            Compression::of_path("Packages.bz2"),
            Err(AptError::UnsupportedCompression { .. })
        ));
    }
}
