//! `fixpoint version compare|sort`: version ordering from the command line.
//!
//! The ordering itself lives in `fixpoint_core::version`; this module reads
//! arguments and standard input, calls it, and prints.
//!
//! Exit codes: 0 on success, 2 when a version is invalid (or the command line
//! is, as clap reports it), 1 when standard input or output fails.

use std::cmp::Ordering;
use std::io::{self, BufWriter, Read, Write};
use std::process::ExitCode;

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Args, Subcommand};
use fixpoint_core::version::{self, Scheme, Syntax};

/// Exit code for an invalid version.
const INVALID_INPUT: u8 = 2;

#[derive(Debug, Args)]
pub struct VersionArgs {
    #[command(subcommand)]
    command: VersionCommand,
}

#[derive(Debug, Subcommand)]
enum VersionCommand {
    /// Compare two versions and print `<`, `=` or `>`.
    ///
    /// Versions that begin with `-` can follow `--`:
    /// `fixpoint version compare --scheme rpm -- -1 0`.
    Compare(CompareArgs),
    /// Sort versions read from standard input, one per line, ascending.
    ///
    /// Blank lines are skipped; versions that compare equal keep their input
    /// order. Lines may end in `\n` or `\r\n`.
    Sort(SortArgs),
}

/// The ordering rules to apply.
#[derive(Debug, Args)]
struct RulesArgs {
    /// Version scheme whose ordering rules apply: dpkg (Debian, Ubuntu), rpm
    /// (RHEL, SUSE, Fedora), semver (Semantic Versioning 2.0.0) or numeric
    /// (dotted build numbers such as Windows 10.0.19045.4291).
    #[arg(
        long,
        env = "FIXPOINT_VERSION_SCHEME",
        value_name = "SCHEME",
        value_parser = scheme_parser(),
    )]
    scheme: Scheme,

    /// Accept every version the platform's own tool accepts (`dpkg
    /// --compare-versions`, `rpm.vercmp`), not only well-formed ones, and
    /// order them as that tool does.
    #[arg(long, env = "FIXPOINT_VERSION_LENIENT")]
    lenient: bool,
}

impl RulesArgs {
    fn syntax(&self) -> Syntax {
        if self.lenient {
            Syntax::Lenient
        } else {
            Syntax::Strict
        }
    }
}

#[derive(Debug, Args)]
struct CompareArgs {
    #[command(flatten)]
    rules: RulesArgs,

    /// The left-hand version.
    #[arg(value_name = "A", allow_hyphen_values = true)]
    a: String,

    /// The right-hand version.
    #[arg(value_name = "B", allow_hyphen_values = true)]
    b: String,
}

#[derive(Debug, Args)]
struct SortArgs {
    #[command(flatten)]
    rules: RulesArgs,
}

fn scheme_parser() -> impl TypedValueParser<Value = Scheme> {
    PossibleValuesParser::new(Scheme::ALL.map(Scheme::name)).try_map(|name| name.parse::<Scheme>())
}

/// Runs `fixpoint version ...`; returns the process exit code.
pub fn run(args: VersionArgs) -> ExitCode {
    match args.command {
        VersionCommand::Compare(args) => compare(&args),
        VersionCommand::Sort(args) => sort(&args),
    }
}

fn compare(args: &CompareArgs) -> ExitCode {
    match version::compare_with(args.rules.scheme, args.rules.syntax(), &args.a, &args.b) {
        Ok(ordering) => {
            let sign = match ordering {
                Ordering::Less => "<",
                Ordering::Equal => "=",
                Ordering::Greater => ">",
            };
            write_stdout(|out| writeln!(out, "{sign}"))
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(INVALID_INPUT)
        }
    }
}

fn sort(args: &SortArgs) -> ExitCode {
    let mut input = Vec::new();
    if let Err(error) = io::stdin().lock().read_to_end(&mut input) {
        eprintln!("error: cannot read standard input: {error}");
        return ExitCode::FAILURE;
    }

    let mut lines = Vec::new();
    let mut unreadable = false;
    for (index, line) in input.split(|&byte| byte == b'\n').enumerate() {
        let line_number = index + 1;
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        match std::str::from_utf8(line) {
            Ok(text) if text.trim().is_empty() => {}
            Ok(text) => lines.push((line_number, text)),
            Err(_) => {
                eprintln!("error: line {line_number}: not valid UTF-8");
                unreadable = true;
            }
        }
    }

    let versions: Vec<&str> = lines.iter().map(|&(_, text)| text).collect();
    let sorted = match version::sort(args.rules.scheme, args.rules.syntax(), versions) {
        Ok(sorted) if !unreadable => sorted,
        Ok(_) => return ExitCode::from(INVALID_INPUT),
        Err(errors) => {
            for (index, error) in errors {
                let line_number = lines.get(index).map_or(0, |&(line_number, _)| line_number);
                eprintln!("error: line {line_number}: {error}");
            }
            return ExitCode::from(INVALID_INPUT);
        }
    };

    write_stdout(|out| {
        sorted
            .iter()
            .try_for_each(|version| writeln!(out, "{version}"))
    })
}

/// Writes to standard output through a buffer. A closed pipe (`| head`) ends
/// the output quietly; any other failure is reported.
fn write_stdout(write: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> ExitCode {
    let mut out = BufWriter::new(io::stdout().lock());
    match write(&mut out).and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) if error.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: cannot write standard output: {error}");
            ExitCode::FAILURE
        }
    }
}
