#![allow(dead_code)] // each test binary uses a part

//! A real OpenLDAP server (Debian's `slapd`) on a free loopback port, with its own
//! `slapd.conf`, an mdb database in a temporary directory and the AD-like schema in
//! tests/fixtures/ldap/ad-computer.schema, loaded with computers in nested OUs and groups
//! (nested group membership too) the way Active Directory presents them.
//!
//! The data is written with `slapadd` before slapd starts (seconds for thousands of
//! entries, where `ldapadd` over the wire takes far longer). `memberOf` is a plain attribute
//! the loader writes (no memberof overlay): a computer lists the groups it is directly in,
//! and a group lists the groups it is in.
//!
//! With [`Options::tls`] it also serves `ldaps://` on a second port and StartTLS on
//! `ldap://`, with a certificate for `localhost` and 127.0.0.1 from a throwaway certificate
//! authority ([`TestCa`]) that the `openssl` command makes for each server: a domain's own
//! CA, which the system does not trust.
//!
//! Without slapd (or, for TLS, openssl) the tests are skipped with a message, except with
//! CI=true: then they fail. slapd comes from scripts/install-test-deps (packages slapd and
//! ldap-utils, and openssl); a system slapd the package may have started is not used.

use std::fmt::Write as _;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const SLAPD: &str = "/usr/sbin/slapd";
pub const SLAPADD: &str = "/usr/sbin/slapadd";
pub const OPENSSL: &str = "/usr/bin/openssl";
pub const SUFFIX: &str = "DC=corp,DC=example";
pub const ROOT_DN: &str = "CN=admin,DC=corp,DC=example";
pub const ROOT_PASSWORD: &str = "s3cret-test-bind";
/// The service account the sync binds as (the root DN has no size limit).
pub const SYNC_DN: &str = "CN=fixpoint-sync,DC=corp,DC=example";
pub const SYNC_PASSWORD: &str = "sync-pw-never-logged";
/// A referral object below the suffix: searching with it as the base gets result 10.
pub const REFERRAL_DN: &str = "OU=Elsewhere,DC=corp,DC=example";

/// What to load and how to configure the server.
#[derive(Debug, Clone)]
pub struct Options {
    /// Computers to load (spread over the OUs [`ou_of`] gives).
    pub computers: usize,
    /// A size limit for the sync account ([`SYNC_DN`]) that holds across all pages of a
    /// paged search too (OpenLDAP's `size.prtotal` defaults to the hard limit), or none.
    pub size_limit: Option<usize>,
    /// A size limit for the sync account's searches without paging only
    /// (`size.prtotal=unlimited`): a paged search reads past it, a plain one stops at it.
    pub unpaged_size_limit: Option<usize>,
    /// Serve TLS too: `ldaps://` on a second port ([`Slapd::ldaps_url`]) and StartTLS on
    /// `ldap://`, with a certificate for `localhost` and 127.0.0.1 that a throwaway CA
    /// ([`Slapd::ca_file`]) signed. Needs openssl: check [`missing_tls`].
    pub tls: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            computers: 3000,
            size_limit: None,
            unpaged_size_limit: None,
            tls: false,
        }
    }
}

/// Whether slapd can run here; `None` when it can, else why not. With CI=true a missing
/// slapd panics instead.
pub fn missing() -> Option<String> {
    not_installed(&[SLAPD, SLAPADD], "Debian packages slapd and ldap-utils")
}

/// Whether slapd with TLS ([`Options::tls`]) can run here: slapd, and openssl to make
/// the certificates. Like [`missing`], it panics with CI=true.
pub fn missing_tls() -> Option<String> {
    missing().or_else(|| not_installed(&[OPENSSL], "Debian package openssl"))
}

fn not_installed(programs: &[&str], packages: &str) -> Option<String> {
    let reason = programs
        .iter()
        .find(|p| !Path::new(p).exists())
        .map(|p| format!("{p} is not installed ({packages})"))?;
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("required with CI=true: {reason}");
    }
    eprintln!("skipping: {reason}");
    Some(reason)
}

/// A running slapd; killed when dropped.
pub struct Slapd {
    pub port: u16,
    /// The `ldaps://` port, with [`Options::tls`].
    pub ldaps_port: Option<u16>,
    dir: PathBuf,
    config: PathBuf,
    child: Option<Child>,
    log: PathBuf,
    tls: Option<ServerTls>,
}

/// The server's certificate, its key, and the CA that signed it.
struct ServerTls {
    ca: TestCa,
    cert: PathBuf,
    key: PathBuf,
}

/// A throwaway certificate authority made with the `openssl` command: an EC P-256 key and
/// a self-signed certificate valid for two days, which issues server certificates.
#[derive(Debug, Clone)]
pub struct TestCa {
    /// The CA's certificate (PEM): what a client trusts.
    pub cert: PathBuf,
    key: PathBuf,
    serial: PathBuf,
    dir: PathBuf,
}

impl TestCa {
    /// Makes a CA named `name` (its common name) in `dir`, its files named after `name`.
    pub fn create(dir: &Path, name: &str) -> TestCa {
        std::fs::create_dir_all(dir).expect("create the CA's directory");
        let stem = name.to_lowercase().replace(' ', "-");
        let ca = TestCa {
            cert: dir.join(format!("{stem}.pem")),
            key: private_key(&dir.join(format!("{stem}.key"))),
            serial: dir.join(format!("{stem}.srl")),
            dir: dir.to_owned(),
        };
        let config = dir.join(format!("{stem}.cnf"));
        std::fs::write(
            &config,
            format!(
                "[req]\n\
                 distinguished_name = dn\n\
                 x509_extensions = ca\n\
                 prompt = no\n\
                 [dn]\n\
                 CN = {name}\n\
                 [ca]\n\
                 basicConstraints = critical, CA:TRUE\n\
                 keyUsage = critical, keyCertSign, cRLSign\n\
                 subjectKeyIdentifier = hash\n"
            ),
        )
        .expect("write the CA's openssl configuration");
        openssl(&[
            "req".as_ref(),
            "-x509".as_ref(),
            "-new".as_ref(),
            "-config".as_ref(),
            config.as_os_str(),
            "-key".as_ref(),
            ca.key.as_os_str(),
            "-sha256".as_ref(),
            "-days".as_ref(),
            "2".as_ref(),
            "-out".as_ref(),
            ca.cert.as_os_str(),
        ]);
        ca
    }

    /// A server certificate and key (PEM), files `{stem}.pem` and `{stem}.key`, for
    /// `subject_alt_names` in openssl's syntax (`DNS:localhost`, `IP:127.0.0.1`); the first
    /// name is also the subject's common name.
    pub fn issue(&self, stem: &str, subject_alt_names: &[&str]) -> (PathBuf, PathBuf) {
        let key = private_key(&self.dir.join(format!("{stem}.key")));
        let common_name = subject_alt_names
            .first()
            .and_then(|n| n.split_once(':'))
            .map_or("server", |(_, name)| name);
        let config = self.dir.join(format!("{stem}.cnf"));
        std::fs::write(
            &config,
            format!(
                "[req]\n\
                 distinguished_name = dn\n\
                 prompt = no\n\
                 [dn]\n\
                 CN = {common_name}\n\
                 [server]\n\
                 basicConstraints = critical, CA:FALSE\n\
                 keyUsage = critical, digitalSignature\n\
                 extendedKeyUsage = serverAuth\n\
                 subjectAltName = {names}\n\
                 subjectKeyIdentifier = hash\n\
                 authorityKeyIdentifier = keyid\n",
                names = subject_alt_names.join(", "),
            ),
        )
        .expect("write the server certificate's openssl configuration");
        let request = self.dir.join(format!("{stem}.csr"));
        openssl(&[
            "req".as_ref(),
            "-new".as_ref(),
            "-config".as_ref(),
            config.as_os_str(),
            "-key".as_ref(),
            key.as_os_str(),
            "-out".as_ref(),
            request.as_os_str(),
        ]);
        let cert = self.dir.join(format!("{stem}.pem"));
        openssl(&[
            "x509".as_ref(),
            "-req".as_ref(),
            "-in".as_ref(),
            request.as_os_str(),
            "-CA".as_ref(),
            self.cert.as_os_str(),
            "-CAkey".as_ref(),
            self.key.as_os_str(),
            "-CAserial".as_ref(),
            self.serial.as_os_str(),
            "-CAcreateserial".as_ref(),
            "-sha256".as_ref(),
            "-days".as_ref(),
            "2".as_ref(),
            "-extfile".as_ref(),
            config.as_os_str(),
            "-extensions".as_ref(),
            "server".as_ref(),
            "-out".as_ref(),
            cert.as_os_str(),
        ]);
        (cert, key)
    }
}

/// A new EC P-256 private key (PKCS#8 PEM) at `path`.
fn private_key(path: &Path) -> PathBuf {
    openssl(&[
        "genpkey".as_ref(),
        "-algorithm".as_ref(),
        "EC".as_ref(),
        "-pkeyopt".as_ref(),
        "ec_paramgen_curve:P-256".as_ref(),
        "-out".as_ref(),
        path.as_os_str(),
    ]);
    path.to_owned()
}

fn openssl(args: &[&std::ffi::OsStr]) {
    let output = Command::new(OPENSSL)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run openssl");
    assert!(
        output.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The OU (a DN) computer `i` is in: three sites, each with servers and workstations,
/// servers split further into Web and Db.
pub fn ou_of(i: usize) -> String {
    let site = format!("OU=Site{},OU=Computers,{SUFFIX}", i % 3 + 1);
    match i % 4 {
        0 => format!("OU=Web,OU=Servers,{site}"),
        1 => format!("OU=Db,OU=Servers,{site}"),
        _ => format!("OU=Workstations,{site}"),
    }
}

/// The computer's name (`PC00042`).
pub fn name_of(i: usize) -> String {
    format!("PC{i:05}")
}

/// Its DNS host name (`pc00042.corp.example`).
pub fn dns_of(i: usize) -> String {
    format!("pc{i:05}.corp.example")
}

pub fn group_dn(name: &str) -> String {
    format!("CN={name},OU=Groups,{SUFFIX}")
}

/// The groups computer `i` is directly in.
pub fn direct_groups_of(i: usize) -> Vec<String> {
    let mut groups = Vec::new();
    match i % 4 {
        0 => groups.push(group_dn("Web-Servers")),
        1 => groups.push(group_dn("Db-Servers")),
        _ => groups.push(group_dn("Workstations")),
    }
    if i.is_multiple_of(50) {
        groups.push(group_dn("Patch-Pilot"));
    }
    groups
}

/// Whether computer `i` is disabled (userAccountControl has ACCOUNTDISABLE, 2).
pub fn disabled(i: usize) -> bool {
    i % 100 == 7
}

/// Its lastLogonTimestamp (Windows FILETIME: 100 ns since 1601-01-01).
pub fn last_logon_of(i: usize) -> i64 {
    // 2024-01-01T00:00:00Z is 133485408000000000; one hour apart per computer.
    133_485_408_000_000_000 + i as i64 * 36_000_000_000
}

/// The LDIF of the whole directory.
pub fn ldif(computers: usize) -> String {
    let mut out = String::new();
    let entry = |out: &mut String, dn: &str, lines: &[String]| {
        writeln!(out, "dn: {dn}").expect("write");
        for line in lines {
            writeln!(out, "{line}").expect("write");
        }
        out.push('\n');
    };
    entry(
        &mut out,
        SUFFIX,
        &[
            "objectClass: dcObject".into(),
            "objectClass: organization".into(),
            "dc: corp".into(),
            "o: Corp".into(),
        ],
    );
    let ou = |out: &mut String, dn: &str| {
        let name = dn
            .split(',')
            .next()
            .and_then(|r| r.split_once('='))
            .map(|(_, v)| v)
            .expect("an RDN");
        entry(
            out,
            dn,
            &[
                "objectClass: organizationalUnit".into(),
                format!("ou: {name}"),
            ],
        );
    };
    ou(&mut out, &format!("OU=Groups,{SUFFIX}"));
    ou(&mut out, &format!("OU=Computers,{SUFFIX}"));
    for site in 1..=3 {
        let site = format!("OU=Site{site},OU=Computers,{SUFFIX}");
        ou(&mut out, &site);
        ou(&mut out, &format!("OU=Servers,{site}"));
        ou(&mut out, &format!("OU=Web,OU=Servers,{site}"));
        ou(&mut out, &format!("OU=Db,OU=Servers,{site}"));
        ou(&mut out, &format!("OU=Workstations,{site}"));
    }
    // Groups: Web-Servers and Db-Servers are in All-Servers, which is in Managed; Workstations
    // is in Managed; Patch-Pilot is in no group.
    let groups: [(&str, &[&str]); 6] = [
        ("Managed", &[]),
        ("All-Servers", &["Managed"]),
        ("Web-Servers", &["All-Servers"]),
        ("Db-Servers", &["All-Servers"]),
        ("Workstations", &["Managed"]),
        ("Patch-Pilot", &[]),
    ];
    for (name, parents) in groups {
        let mut lines = vec![
            "objectClass: group".to_owned(),
            format!("cn: {name}"),
            format!("sAMAccountName: {name}"),
        ];
        lines.extend(parents.iter().map(|p| format!("memberOf: {}", group_dn(p))));
        entry(&mut out, &group_dn(name), &lines);
    }
    for i in 0..computers {
        let name = name_of(i);
        let mut lines = vec![
            "objectClass: computer".to_owned(),
            format!("cn: {name}"),
            format!("sAMAccountName: {name}$"),
            format!("dNSHostName: {}", dns_of(i)),
            format!(
                "operatingSystem: {}",
                if i % 4 < 2 {
                    "Windows Server 2022 Standard"
                } else {
                    "Windows 11 Enterprise"
                }
            ),
            "operatingSystemVersion: 10.0 (20348)".to_owned(),
            format!(
                "userAccountControl: {}",
                if disabled(i) { 4096 | 2 } else { 4096 }
            ),
            format!("lastLogonTimestamp: {}", last_logon_of(i)),
        ];
        lines.extend(direct_groups_of(i).iter().map(|g| format!("memberOf: {g}")));
        entry(&mut out, &format!("CN={name},{}", ou_of(i)), &lines);
    }
    entry(
        &mut out,
        SYNC_DN,
        &[
            "objectClass: organizationalRole".into(),
            "objectClass: simpleSecurityObject".into(),
            "cn: fixpoint-sync".into(),
            format!("userPassword: {SYNC_PASSWORD}"),
        ],
    );
    entry(
        &mut out,
        REFERRAL_DN,
        &[
            "objectClass: referral".into(),
            "objectClass: extensibleObject".into(),
            "ou: Elsewhere".into(),
            "ref: ldap://ldap.other.example/OU=Elsewhere,DC=other,DC=example".into(),
        ],
    );
    out
}

impl Slapd {
    /// Writes the configuration and data into `dir` and starts slapd.
    pub fn start(dir: &Path, options: &Options) -> Slapd {
        let data = dir.join("data");
        std::fs::create_dir_all(&data).expect("create the slapd data directory");
        let tls = options.tls.then(|| {
            let ca = TestCa::create(&dir.join("tls"), "Fixpoint Test CA");
            let (cert, key) = ca.issue("server", &["DNS:localhost", "IP:127.0.0.1"]);
            ServerTls { ca, cert, key }
        });
        let mut slapd = Slapd {
            port: 0,
            ldaps_port: None,
            dir: dir.to_owned(),
            config: dir.join("slapd.conf"),
            child: None,
            log: dir.join("slapd.log"),
            tls,
        };
        slapd.write_config(options);
        let ldif = dir.join("data.ldif");
        std::fs::write(&ldif, self::ldif(options.computers)).expect("write the LDIF");
        let output = Command::new(SLAPADD)
            .arg("-q")
            .arg("-f")
            .arg(&slapd.config)
            .arg("-l")
            .arg(&ldif)
            .output()
            .expect("run slapadd");
        assert!(
            output.status.success(),
            "slapadd failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        slapd.restart();
        slapd
    }

    /// Rewrites the configuration with `options`' limits (the data stays) and restarts.
    /// TLS stays as [`Slapd::start`] set it.
    pub fn reconfigure(&mut self, options: &Options) {
        self.stop();
        self.write_config(options);
        self.restart();
    }

    fn write_config(&self, options: &Options) {
        let schema =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ldap/ad-computer.schema");
        let limits = match (options.size_limit, options.unpaged_size_limit) {
            (Some(n), _) => {
                format!("limits dn.exact=\"{SYNC_DN}\" size.soft={n} size.hard={n}\n")
            }
            (None, Some(n)) => format!(
                "limits dn.exact=\"{SYNC_DN}\" size.soft={n} size.hard={n} size.prtotal=unlimited\n"
            ),
            // OpenLDAP's default is 500 entries a search, paged or not.
            (None, None) => format!("limits dn.exact=\"{SYNC_DN}\" size=unlimited\n"),
        };
        // Global directives: they must come before `database`.
        let tls = self.tls.as_ref().map_or_else(String::new, |tls| {
            format!(
                "TLSCACertificateFile {}\n\
                 TLSCertificateFile {}\n\
                 TLSCertificateKeyFile {}\n",
                tls.ca.cert.display(),
                tls.cert.display(),
                tls.key.display(),
            )
        });
        std::fs::write(
            &self.config,
            format!(
                "include /etc/ldap/schema/core.schema\n\
                 include /etc/ldap/schema/cosine.schema\n\
                 include {schema}\n\
                 pidfile {dir}/slapd.pid\n\
                 argsfile {dir}/slapd.args\n\
                 {tls}\
                 modulepath /usr/lib/ldap\n\
                 moduleload back_mdb\n\
                 database mdb\n\
                 maxsize 1073741824\n\
                 suffix \"{SUFFIX}\"\n\
                 rootdn \"{ROOT_DN}\"\n\
                 rootpw {ROOT_PASSWORD}\n\
                 directory {data}\n\
                 index objectClass eq\n\
                 {limits}",
                schema = schema.display(),
                dir = self.dir.display(),
                data = self.dir.join("data").display(),
            ),
        )
        .expect("write slapd.conf");
    }

    /// Starts slapd (again, after [`Slapd::stop`]) on a new free port (two with TLS).
    pub fn restart(&mut self) {
        self.stop();
        let ports = free_ports(if self.tls.is_some() { 2 } else { 1 });
        self.port = ports[0];
        self.ldaps_port = ports.get(1).copied();
        let mut listeners = format!("ldap://127.0.0.1:{}/", self.port);
        if let Some(port) = self.ldaps_port {
            write!(listeners, " ldaps://127.0.0.1:{port}/").expect("write");
        }
        let child = Command::new(SLAPD)
            .arg("-d")
            .arg("0")
            .arg("-f")
            .arg(&self.config)
            .arg("-h")
            .arg(listeners)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&self.log).expect("create the slapd log"))
            .spawn()
            .expect("start slapd");
        self.child = Some(child);
        self.wait_until_ready();
    }

    /// Stops slapd; the port then refuses connections.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn wait_until_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                panic!("slapd exited with {status}:\n{}", self.log());
            }
            let listening = |port: u16| TcpStream::connect(("127.0.0.1", port)).is_ok();
            if listening(self.port) && self.ldaps_port.is_none_or(listening) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "slapd did not listen on port {} (ldaps: {:?}) within 20 s:\n{}",
                self.port,
                self.ldaps_port,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `ldap://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("ldap://127.0.0.1:{}", self.port)
    }

    /// `ldaps://127.0.0.1:PORT`; only with [`Options::tls`].
    pub fn ldaps_url(&self) -> String {
        let port = self
            .ldaps_port
            .expect("slapd started with Options { tls: true }");
        format!("ldaps://127.0.0.1:{port}")
    }

    /// The certificate (PEM) of the throwaway CA that signed the server's; only with
    /// [`Options::tls`].
    pub fn ca_file(&self) -> &Path {
        let tls = self
            .tls
            .as_ref()
            .expect("slapd started with Options { tls: true }");
        &tls.ca.cert
    }

    /// Gives the server a new certificate from the same CA, for `subject_alt_names`
    /// (openssl's syntax: `DNS:localhost`), and restarts it on new ports.
    pub fn reissue_certificate(&mut self, subject_alt_names: &[&str]) {
        let tls = self
            .tls
            .as_mut()
            .expect("slapd started with Options { tls: true }");
        let (cert, key) = tls.ca.issue("server", subject_alt_names);
        tls.cert = cert;
        tls.key = key;
        self.restart();
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A port that was free a moment ago (slapd binds it itself).
pub fn free_port() -> u16 {
    free_ports(1)[0]
}

/// `n` different ports that were free a moment ago: all held at once while they are picked.
pub fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("a free loopback port"))
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().expect("a bound listener's address").port())
        .collect()
}
