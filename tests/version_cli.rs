//! `fixpoint version compare|sort`, run as the built binary.

use std::io::Write;
use std::process::{Command, Stdio};

/// What one run of the binary did.
#[derive(Debug)]
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// A `fixpoint` invocation; the `FIXPOINT_VERSION_*` variables of the
/// surrounding environment are removed so that only the test's own count.
struct Fixpoint {
    command: Command,
    stdin: Vec<u8>,
}

fn fixpoint(args: &[&str]) -> Fixpoint {
    let mut command = Command::new(env!("CARGO_BIN_EXE_fixpoint"));
    command
        .args(args)
        .env_remove("FIXPOINT_VERSION_SCHEME")
        .env_remove("FIXPOINT_VERSION_LENIENT");
    Fixpoint {
        command,
        stdin: Vec::new(),
    }
}

impl Fixpoint {
    fn env(mut self, name: &str, value: &str) -> Self {
        self.command.env(name, value);
        self
    }

    fn stdin(mut self, input: impl AsRef<[u8]>) -> Self {
        self.stdin = input.as_ref().to_vec();
        self
    }

    fn run(mut self) -> Run {
        let mut child = self
            .command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the fixpoint binary starts");
        let mut stdin = child.stdin.take().expect("stdin is piped");
        let input = std::mem::take(&mut self.stdin);
        let writer = std::thread::spawn(move || stdin.write_all(&input));
        let output = child
            .wait_with_output()
            .expect("the fixpoint binary finishes");
        writer
            .join()
            .expect("the stdin writer does not panic")
            .expect("stdin takes the input");
        Run {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

fn compare(scheme: &str, a: &str, b: &str) -> Run {
    fixpoint(&["version", "compare", "--scheme", scheme, "--", a, b]).run()
}

#[test]
fn compare_prints_one_sign_and_exits_zero() {
    for (scheme, a, b, sign) in [
        ("dpkg", "1.0~rc1-1", "1.0-1", "<"),
        ("dpkg", "1.09", "1:1.9", "<"),
        ("dpkg", "1.09", "0:1.9-0", "="),
        ("rpm", "1.0^git1", "1.0", ">"),
        ("rpm", "2:1.0-1.el9", "2:1.0-1.el9", "="),
        ("semver", "1.0.0-rc.1", "1.0.0", "<"),
        ("semver", "1.0.0+a", "1.0.0+b", "="),
        ("numeric", "10.0.19045.4291", "10.0.19045.999", ">"),
        ("numeric", "1.2", "1.2.0", "="),
    ] {
        let run = compare(scheme, a, b);
        assert_eq!(run.code, Some(0), "{scheme} {a} {b}: {run:?}");
        assert_eq!(run.stdout, format!("{sign}\n"), "{scheme} {a} {b}");
        assert_eq!(run.stderr, "");
    }
}

#[test]
fn compare_takes_versions_with_tilde_without_double_dash() {
    let run = fixpoint(&["version", "compare", "--scheme", "dpkg", "1.0~rc1", "1.0"]).run();
    assert_eq!((run.code, run.stdout.as_str()), (Some(0), "<\n"), "{run:?}");
}

#[test]
fn compare_takes_flags_after_the_versions() {
    let run = fixpoint(&["version", "compare", "1.0", "1.1", "--scheme", "numeric"]).run();
    assert_eq!((run.code, run.stdout.as_str()), (Some(0), "<\n"), "{run:?}");
}

#[test]
fn compare_takes_versions_beginning_with_a_hyphen() {
    // Valid under lenient rpm: an empty version with a release.
    let after_double_dash = fixpoint(&[
        "version",
        "compare",
        "--scheme",
        "rpm",
        "--lenient",
        "--",
        "-1",
        "-2",
    ])
    .run();
    assert_eq!(
        (after_double_dash.code, after_double_dash.stdout.as_str()),
        (Some(0), "<\n")
    );
    let without = fixpoint(&[
        "version",
        "compare",
        "--scheme",
        "rpm",
        "--lenient",
        "-2",
        "-1",
    ])
    .run();
    assert_eq!(
        (without.code, without.stdout.as_str()),
        (Some(0), ">\n"),
        "{without:?}"
    );
}

#[test]
fn compare_reads_scheme_and_leniency_from_the_environment() {
    let run = fixpoint(&["version", "compare", "1.0.0-alpha", "1.0.0-beta"])
        .env("FIXPOINT_VERSION_SCHEME", "semver")
        .run();
    assert_eq!((run.code, run.stdout.as_str()), (Some(0), "<\n"), "{run:?}");

    let strict = fixpoint(&["version", "compare", "a1", "1"])
        .env("FIXPOINT_VERSION_SCHEME", "dpkg")
        .run();
    assert_eq!(strict.code, Some(2), "{strict:?}");
    let lenient = fixpoint(&["version", "compare", "a1", "1"])
        .env("FIXPOINT_VERSION_SCHEME", "dpkg")
        .env("FIXPOINT_VERSION_LENIENT", "true")
        .run();
    assert_eq!(
        (lenient.code, lenient.stdout.as_str()),
        (Some(0), ">\n"),
        "{lenient:?}"
    );
}

#[test]
fn the_scheme_flag_wins_over_the_environment() {
    let run = fixpoint(&["version", "compare", "--scheme", "numeric", "1.2", "1.2.0"])
        .env("FIXPOINT_VERSION_SCHEME", "semver")
        .run();
    assert_eq!((run.code, run.stdout.as_str()), (Some(0), "=\n"), "{run:?}");
}

#[test]
fn compare_names_an_invalid_version_and_exits_two() {
    let run = compare("dpkg", "1.0", "a:1.0");
    assert_eq!(run.code, Some(2));
    assert_eq!(run.stdout, "");
    assert_eq!(
        run.stderr,
        "error: invalid dpkg version \"a:1.0\": epoch \"a\" is not a number (expected digits before the first ':')\n"
    );
}

#[test]
fn compare_without_a_scheme_is_a_usage_error() {
    let run = fixpoint(&["version", "compare", "1", "2"]).run();
    assert_eq!(run.code, Some(2));
    assert!(run.stderr.contains("--scheme <SCHEME>"), "{}", run.stderr);
}

#[test]
fn compare_lists_the_schemes_when_given_an_unknown_one() {
    let run = compare("deb", "1", "2");
    assert_eq!(run.code, Some(2));
    assert!(
        run.stderr
            .contains("[possible values: dpkg, rpm, semver, numeric]"),
        "{}",
        run.stderr
    );
}

#[test]
fn sort_prints_versions_ascending_keeping_equal_ones_in_input_order() {
    let run = fixpoint(&["version", "sort", "--scheme", "dpkg"])
        .stdin("1.9\n\n1.0-1\n   \n1.09\n1.0~rc1-1\n0:1.9\n2:0.1\n")
        .run();
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(run.stdout, "1.0~rc1-1\n1.0-1\n1.9\n1.09\n0:1.9\n2:0.1\n");
}

#[test]
fn sort_accepts_windows_line_endings_and_a_missing_final_newline() {
    let run = fixpoint(&["version", "sort", "--scheme", "numeric"])
        .stdin("10.0.2\r\n10.0.10\r\n9")
        .run();
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(run.stdout, "9\n10.0.2\n10.0.10\n");
}

#[test]
fn sort_of_no_versions_prints_nothing() {
    let run = fixpoint(&["version", "sort", "--scheme", "rpm"])
        .stdin("\n\n")
        .run();
    assert_eq!((run.code, run.stdout.as_str()), (Some(0), ""), "{run:?}");
}

#[test]
fn sort_names_every_invalid_version_with_its_line_number_and_exits_two() {
    let run = fixpoint(&["version", "sort", "--scheme", "semver"])
        .stdin("1.0.0\n\n1.0\n2.0.0\nv3.0.0\n")
        .run();
    assert_eq!(run.code, Some(2));
    assert_eq!(run.stdout, "");
    assert_eq!(
        run.stderr,
        "error: line 3: invalid semver version \"1.0\": \"1.0\" has 2 dot-separated components; \
         expected MAJOR.MINOR.PATCH\n\
         error: line 5: invalid semver version \"v3.0.0\": major version \"v3\" contains 'v'; \
         expected digits\n"
    );
}

#[test]
fn sort_names_a_line_that_is_not_utf8() {
    let run = fixpoint(&["version", "sort", "--scheme", "rpm"])
        .stdin(b"1.0\n1.\xff\n")
        .run();
    assert_eq!(run.code, Some(2));
    assert_eq!(run.stderr, "error: line 2: not valid UTF-8\n");
}

#[test]
fn lenient_sort_accepts_what_dpkg_accepts() {
    let input = "1.0\na1\n 0.5 \n";
    let strict = fixpoint(&["version", "sort", "--scheme", "dpkg"])
        .stdin(input)
        .run();
    assert_eq!(strict.code, Some(2), "{strict:?}");
    let lenient = fixpoint(&["version", "sort", "--scheme", "dpkg", "--lenient"])
        .stdin(input)
        .run();
    assert_eq!(
        (lenient.code, lenient.stdout.as_str()),
        (Some(0), " 0.5 \n1.0\na1\n"),
        "{lenient:?}"
    );
}

#[test]
fn help_documents_each_flag_with_its_environment_variable() {
    for subcommand in ["compare", "sort"] {
        let run = fixpoint(&["version", subcommand, "--help"]).run();
        assert_eq!(run.code, Some(0));
        assert!(
            run.stdout.contains("[env: FIXPOINT_VERSION_SCHEME=]"),
            "{}",
            run.stdout
        );
        assert!(
            run.stdout.contains("[env: FIXPOINT_VERSION_LENIENT=]"),
            "{}",
            run.stdout
        );
        assert!(
            run.stdout
                .contains("[possible values: dpkg, rpm, semver, numeric]"),
            "{}",
            run.stdout
        );
    }
}
