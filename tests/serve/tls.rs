//! HTTPS with rustls: the server answers with the configured certificate, and
//! a key that does not match it stops the server at start-up.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::Serve;

fn openssl(dir: &Path, args: &[&str]) {
    let output = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl runs");
    assert!(
        output.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A test CA (`ca.pem`) and a server certificate it issued for 127.0.0.1
/// (`cert.pem`, `key.pem`), made with the openssl command; the paths of the
/// certificate and key.
fn certificate(dir: &Path) -> (PathBuf, PathBuf) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=Fixpoint Test CA",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=fixpoint.test",
            "-keyout",
            "key.pem",
            "-out",
            "server.csr",
        ],
    );
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .expect("write");
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "server.ext",
            "-out",
            "cert.pem",
        ],
    );
    (dir.join("cert.pem"), dir.join("key.pem"))
}

#[test]
fn https_is_served_with_the_configured_certificate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert, key) = certificate(dir.path());
    let s = Serve::new()
        .args(&[
            "--tls-cert",
            cert.to_str().expect("utf-8"),
            "--tls-key",
            key.to_str().expect("utf-8"),
        ])
        .start();
    let base = s.url("");
    assert!(base.starts_with("https://127.0.0.1:"), "{base}");
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let pem = std::fs::read(dir.path().join("ca.pem")).expect("the CA certificate");
    runtime.block_on(async {
        let trusting = reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(&pem).expect("a PEM certificate")])
            .build()
            .expect("client");
        let response = trusting
            .get(format!("{base}/healthz"))
            .send()
            .await
            .expect("an HTTPS answer");
        assert_eq!(response.status(), 200);
        assert_eq!(response.text().await.expect("body"), "ok\n");
        // A client that does not trust the certificate gets no answer.
        let other = reqwest::Client::new()
            .get(format!("{base}/healthz"))
            .send()
            .await;
        assert!(other.is_err(), "{other:?}");
        // Nor does plain HTTP on the same port.
        let plain = reqwest::Client::new()
            .get(base.replacen("https://", "http://", 1) + "/healthz")
            .send()
            .await;
        assert!(plain.is_err() || plain.is_ok_and(|r| !r.status().is_success()));
    });
}

#[test]
fn a_key_that_does_not_match_the_certificate_stops_the_server_with_the_file_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert, _) = certificate(dir.path());
    let other = dir.path().join("other");
    std::fs::create_dir_all(&other).expect("mkdir");
    let (_, wrong_key) = certificate(&other);
    let output = Command::new(env!("CARGO_BIN_EXE_fixpoint"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .arg("--tls-cert")
        .arg(&cert)
        .arg("--tls-key")
        .arg(&wrong_key)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&wrong_key.display().to_string()),
        "{stderr}"
    );
}
