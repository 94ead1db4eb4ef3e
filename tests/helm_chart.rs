//! The Helm chart `charts/fixpoint`, rendered by Helm's own Go code: `scripts/helm-template`
//! drives Helm v4's SDK through helm-python-sdk (`helm_python`; scripts/install-test-deps
//! installs it), so templates, `values.schema.json` and lint behave exactly as `helm install`.
//!
//! Checked for the default values (SQLite: a StatefulSet with a claim for the data directory)
//! and for `charts/fixpoint/ci/production-values.yaml` (PostgreSQL: a Deployment of three
//! replicas, Ingress, ServiceMonitor, PodDisruptionBudget, a ReadWriteMany staging claim):
//! every document parses; the kinds are the expected ones and no RBAC object is among them;
//! the image, probes, security context and resources; every Secret of the values is referenced
//! by name and key and every `FIXPOINT_*_FILE` points into the volume that mounts it; and every
//! setting the chart passes is one `fixpoint serve --help` lists. Bad values fail the schema
//! naming the field, contradicting values fail with the chart's message, and the chart's CRDs
//! are the generated ones.
//!
//! Without helm_python the rendering tests print a note and pass, unless `CI=true`, where they
//! fail naming what is missing.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use fixpoint::cli::generated_files;
use fixpoint_core::policy::yaml::{self, Limits, Node};
use serde_json::{Map, Value, json};

const RELEASE: &str = "fixpoint";
const NAMESPACE: &str = "patching";
const PRODUCTION_VALUES: &str = "charts/fixpoint/ci/production-values.yaml";
const BAD_VALUES: &str = "tests/fixtures/helm/bad-values.yaml";
const RBAC_KINDS: [&str; 4] = ["Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"];

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

// ---------------------------------------------------------------------------
// Running Helm

/// Whether helm_python can be imported by the `python3` that runs scripts/helm-template. When
/// it cannot: a failure under `CI=true`, otherwise a note and `false` (the caller returns).
fn helm_available() -> bool {
    let imported = Command::new("python3")
        .args(["-c", "import helm_python"])
        .output()
        .is_ok_and(|o| o.status.success());
    if imported {
        return true;
    }
    let missing = "the Python package helm-python-sdk (module helm_python), which \
                   scripts/helm-template renders the chart with, is not installed: run \
                   scripts/install-test-deps or `python3 -m pip install helm-python-sdk`";
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI=true and {missing}"
    );
    eprintln!("note: skipping the Helm chart test: {missing}");
    false
}

/// `scripts/helm-template fixpoint charts/fixpoint --namespace patching ARGS`.
fn helm_template(args: &[&str]) -> Output {
    Command::new(repo().join("scripts/helm-template"))
        .arg(RELEASE)
        .arg("charts/fixpoint")
        .args(["--namespace", NAMESPACE])
        .args(args)
        .current_dir(repo())
        .output()
        .expect("runs scripts/helm-template")
}

/// The rendered documents of a successful `helm_template(args)`.
fn render(args: &[&str]) -> Rendered {
    let output = helm_template(args);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "helm-template {args:?} failed ({}):\n{stderr}",
        output.status
    );
    let stdout = String::from_utf8(output.stdout).expect("UTF-8 manifests");
    let docs = yaml_documents(&stdout, &format!("helm-template {args:?}"));
    let sources = stdout
        .lines()
        .filter(|l| l.starts_with("# Source: fixpoint/templates/"))
        .count();
    assert_eq!(sources, docs.len(), "a `# Source:` line per document");
    for doc in &docs {
        for field in ["/apiVersion", "/kind", "/metadata/name"] {
            assert!(
                doc.pointer(field).and_then(Value::as_str).is_some(),
                "{field} missing in {doc:#}"
            );
        }
        assert_eq!(
            doc.pointer("/metadata/namespace"),
            Some(&json!(NAMESPACE)),
            "{}",
            kind_name(doc)
        );
    }
    Rendered { docs }
}

/// The stderr of a `helm_template(args)` that must fail with exit code 1.
fn render_fails(args: &[&str]) -> String {
    let output = helm_template(args);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(
        output.status.code(),
        Some(1),
        "helm-template {args:?} should fail; stderr:\n{stderr}"
    );
    assert!(output.stdout.is_empty(), "nothing rendered on failure");
    stderr
}

// ---------------------------------------------------------------------------
// Reading YAML as JSON (the policy loader's parser; Kubernetes reads the same)

fn yaml_documents(text: &str, what: &str) -> Vec<Value> {
    let stream = yaml::parse_stream(text, Limits::default());
    assert!(stream.issues.is_empty(), "{what}: {:?}", stream.issues);
    stream
        .documents
        .iter()
        .filter(|d| !d.is_null())
        .map(|d| to_json(d))
        .collect()
}

fn to_json(node: &Node) -> Value {
    match &node.value {
        yaml::Value::Scalar { text, plain: true } => match text.as_str() {
            "" | "~" | "null" => Value::Null,
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => text
                .parse::<i64>()
                .map_or_else(|_| Value::String(text.clone()), |n| json!(n)),
        },
        yaml::Value::Scalar { text, plain: false } => Value::String(text.clone()),
        yaml::Value::Seq(items) => Value::Array(items.iter().map(|n| to_json(n)).collect()),
        yaml::Value::Map(entries) => {
            let mut map = Map::new();
            for entry in entries {
                let key = entry.key.as_str().expect("string keys").to_owned();
                assert!(
                    map.insert(key.clone(), to_json(&entry.value)).is_none(),
                    "duplicate key {key}"
                );
            }
            Value::Object(map)
        }
    }
}

fn values_file(path: &str) -> Value {
    let text = fs::read_to_string(repo().join(path)).expect("values file");
    let mut docs = yaml_documents(&text, path);
    assert_eq!(docs.len(), 1, "{path}");
    docs.remove(0)
}

fn chart_app_version() -> String {
    let chart = values_file("charts/fixpoint/Chart.yaml");
    str_at(&chart, "/appVersion").to_owned()
}

fn str_at<'a>(value: &'a Value, pointer: &str) -> &'a str {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no string at {pointer} in {value:#}"))
}

fn kind_name(doc: &Value) -> String {
    format!(
        "{}/{}",
        doc["kind"].as_str().unwrap_or("?"),
        doc["metadata"]["name"].as_str().unwrap_or("?")
    )
}

// ---------------------------------------------------------------------------
// The rendered release

#[derive(Debug)]
struct Rendered {
    docs: Vec<Value>,
}

impl Rendered {
    fn kinds(&self) -> BTreeSet<&str> {
        self.docs
            .iter()
            .filter_map(|d| d["kind"].as_str())
            .collect()
    }

    fn all(&self, kind: &str) -> Vec<&Value> {
        self.docs.iter().filter(|d| d["kind"] == kind).collect()
    }

    fn one(&self, kind: &str) -> &Value {
        let found = self.all(kind);
        assert_eq!(found.len(), 1, "one {kind}, found {}", found.len());
        found[0]
    }

    fn named(&self, kind: &str, name: &str) -> &Value {
        self.docs
            .iter()
            .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("no {kind} named {name} in {:?}", self.kinds()))
    }

    /// The Deployment or StatefulSet that runs the server.
    fn workload(&self) -> &Value {
        let found: Vec<&Value> = self
            .docs
            .iter()
            .filter(|d| d["kind"] == "Deployment" || d["kind"] == "StatefulSet")
            .collect();
        assert_eq!(found.len(), 1, "one workload");
        found[0]
    }

    fn pod(&self) -> &Value {
        &self.workload()["spec"]["template"]["spec"]
    }

    fn container(&self) -> &Value {
        let containers = self.pod()["containers"].as_array().expect("containers");
        assert_eq!(containers.len(), 1, "one container");
        &containers[0]
    }

    /// The container's environment: its `env` entries, and the data of the ConfigMaps of its
    /// `envFrom` as `{"value": ...}` entries.
    fn env(&self) -> BTreeMap<String, Value> {
        let mut env = BTreeMap::new();
        for source in self.container()["envFrom"].as_array().into_iter().flatten() {
            let name = str_at(source, "/configMapRef/name");
            let data = self.named("ConfigMap", name)["data"]
                .as_object()
                .expect("ConfigMap data");
            for (key, value) in data {
                assert!(value.is_string(), "{key}: ConfigMap values are strings");
                env.insert(key.clone(), json!({ "value": value }));
            }
        }
        for entry in self.container()["env"].as_array().into_iter().flatten() {
            let name = str_at(entry, "/name").to_owned();
            assert!(
                env.insert(name.clone(), entry.clone()).is_none(),
                "{name} set twice"
            );
        }
        env
    }

    fn env_value(&self, name: &str) -> String {
        let env = self.env();
        let entry = env
            .get(name)
            .unwrap_or_else(|| panic!("{name} is not set; env: {:?}", env.keys()));
        str_at(entry, "/value").to_owned()
    }

    fn volume(&self, name: &str) -> &Value {
        self.pod()["volumes"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|v| v["name"] == name)
            .unwrap_or_else(|| panic!("no volume {name}"))
    }

    /// The mount path of volume `name` in the container.
    fn mount_path(&self, name: &str) -> String {
        let mount = self.container()["volumeMounts"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|m| m["name"] == name)
            .unwrap_or_else(|| panic!("volume {name} is not mounted"));
        assert!(mount.get("subPath").is_none(), "{name}: no subPath");
        str_at(mount, "/mountPath").to_owned()
    }

    /// The volume mounted at the directory holding `file`, and the path of `file` inside it.
    fn volume_of_file(&self, file: &str) -> (&Value, String) {
        let path = Path::new(file);
        for mount in self.container()["volumeMounts"]
            .as_array()
            .into_iter()
            .flatten()
        {
            if let Ok(rest) = path.strip_prefix(str_at(mount, "/mountPath")) {
                let rest = rest.to_str().expect("UTF-8").to_owned();
                if !rest.is_empty() && !rest.contains('/') {
                    return (self.volume(str_at(mount, "/name")), rest);
                }
            }
        }
        panic!("no volume is mounted at the directory of {file}")
    }

    /// Asserts that FIXPOINT_..._FILE variable `var` names the key of `secret` (`{name, key}`
    /// from the values) in a Secret volume mounted without subPath.
    fn assert_secret_file(&self, var: &str, secret: &Value) {
        let file = self.env_value(var);
        let (volume, item_path) = self.volume_of_file(&file);
        assert_eq!(
            volume.pointer("/secret/secretName"),
            secret.get("name"),
            "{var}: {volume:#}"
        );
        let items = volume.pointer("/secret/items").expect("items");
        assert_eq!(
            items,
            &json!([{ "key": secret["key"], "path": item_path }]),
            "{var}"
        );
        self.mount_path(str_at(volume, "/name"));
    }
}

// ---------------------------------------------------------------------------
// What both renders share

fn assert_common(r: &Rendered, image: &str) {
    let kinds = r.kinds();
    for kind in ["Service", "ConfigMap", "ServiceAccount"] {
        assert!(kinds.contains(kind), "{kind} in {kinds:?}");
    }
    for kind in RBAC_KINDS {
        assert!(
            !kinds.contains(kind),
            "{kind}: the server never calls the Kubernetes API"
        );
    }

    // Identity: no token, no permissions.
    let account = r.one("ServiceAccount");
    assert_eq!(account["automountServiceAccountToken"], json!(false));
    let pod = r.pod();
    assert_eq!(pod["automountServiceAccountToken"], json!(false));
    assert_eq!(pod["serviceAccountName"], account["metadata"]["name"]);

    // The workload selects its pods, and the Service selects the same pods.
    let workload = r.workload();
    let pod_labels = workload["spec"]["template"]["metadata"]["labels"]
        .as_object()
        .expect("pod labels");
    let matches = |selector: &Value| {
        selector
            .as_object()
            .expect("a selector")
            .iter()
            .all(|(k, v)| pod_labels.get(k) == Some(v))
    };
    assert!(matches(&workload["spec"]["selector"]["matchLabels"]));
    let service = r.one("Service");
    assert!(matches(&service["spec"]["selector"]));
    assert_eq!(
        service["spec"]["ports"],
        json!([{ "name": "http", "port": 8080, "targetPort": "http", "protocol": "TCP" }])
    );

    // A changed ConfigMap rolls the pods.
    let checksum = str_at(
        &workload["spec"]["template"]["metadata"]["annotations"],
        "/checksum~1config",
    );
    assert!(
        checksum.len() == 64 && checksum.bytes().all(|b| b.is_ascii_hexdigit()),
        "{checksum}"
    );

    // The container: image, port, probes on the named port, resources.
    let c = r.container();
    assert_eq!(c["image"], json!(image));
    assert_eq!(c["command"], json!(["fixpoint"]));
    assert_eq!(c["args"], json!(["serve"]));
    assert_eq!(
        c["ports"],
        json!([{ "name": "http", "containerPort": 8080, "protocol": "TCP" }])
    );
    assert_eq!(r.env_value("FIXPOINT_LISTEN"), "0.0.0.0:8080");
    for (probe, path) in [
        ("livenessProbe", "/healthz"),
        ("readinessProbe", "/readyz"),
        ("startupProbe", "/healthz"),
    ] {
        let get = &c[probe]["httpGet"];
        assert_eq!(get["path"], json!(path), "{probe}");
        assert_eq!(get["port"], json!("http"), "{probe}");
        assert_eq!(get["scheme"], json!("HTTP"), "{probe}");
    }
    for bound in ["requests", "limits"] {
        assert!(
            c["resources"][bound]["memory"].is_string(),
            "resources.{bound}.memory"
        );
    }
    assert!(c["resources"]["requests"]["cpu"].is_string());

    // Non-root, read-only, no capabilities, the runtime's seccomp profile.
    let p = &pod["securityContext"];
    assert_eq!(p["runAsNonRoot"], json!(true));
    assert!(p["runAsUser"].as_i64().is_some_and(|u| u > 0));
    assert!(p["fsGroup"].as_i64().is_some_and(|g| g > 0));
    assert_eq!(p["seccompProfile"], json!({ "type": "RuntimeDefault" }));
    let s = &c["securityContext"];
    assert_eq!(s["runAsNonRoot"], json!(true));
    assert_eq!(s["readOnlyRootFilesystem"], json!(true));
    assert_eq!(s["allowPrivilegeEscalation"], json!(false));
    assert_eq!(s["capabilities"], json!({ "drop": ["ALL"] }));
    assert_eq!(s["seccompProfile"], json!({ "type": "RuntimeDefault" }));

    // With a read-only root, the data directory and /tmp are volumes; every mount has a
    // volume (or a claim template) and every volume is mounted.
    let mut declared: BTreeSet<&str> = pod["volumes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|v| str_at(v, "/name"))
        .collect();
    for template in workload["spec"]["volumeClaimTemplates"]
        .as_array()
        .into_iter()
        .flatten()
    {
        declared.insert(str_at(template, "/metadata/name"));
    }
    let mounted: BTreeSet<&str> = c["volumeMounts"]
        .as_array()
        .expect("volume mounts")
        .iter()
        .map(|m| str_at(m, "/name"))
        .collect();
    assert_eq!(declared, mounted);
    assert_eq!(r.mount_path("data"), r.env_value("FIXPOINT_DATA_DIR"));
    assert_eq!(r.mount_path("tmp"), "/tmp");
}

// ---------------------------------------------------------------------------
// Tests

#[test]
fn default_values_render_a_sqlite_statefulset_with_a_claim_for_the_data_directory() {
    if !helm_available() {
        return;
    }
    let r = render(&[]);
    assert_common(&r, &format!("fixpoint:{}", chart_app_version()));
    let kinds = r.kinds();
    assert_eq!(
        kinds,
        BTreeSet::from(["ConfigMap", "Service", "ServiceAccount", "StatefulSet"]),
        "no Deployment, Ingress, ServiceMonitor, PodDisruptionBudget or staging claim"
    );

    let set = r.one("StatefulSet");
    assert_eq!(set["spec"]["replicas"], json!(1));
    assert_eq!(
        set["spec"]["serviceName"],
        r.one("Service")["metadata"]["name"]
    );
    let claims = set["spec"]["volumeClaimTemplates"]
        .as_array()
        .expect("volumeClaimTemplates");
    assert_eq!(claims.len(), 1);
    assert_eq!(claims[0]["kind"], json!("PersistentVolumeClaim"));
    assert_eq!(claims[0]["metadata"]["name"], json!("data"));
    assert_eq!(claims[0]["spec"]["accessModes"], json!(["ReadWriteOnce"]));
    assert_eq!(
        claims[0]["spec"]["resources"]["requests"]["storage"],
        json!("10Gi")
    );
    assert!(
        claims[0]["spec"].get("storageClassName").is_none(),
        "the default StorageClass"
    );

    // SQLite in the data directory on the claim; staged files beside it.
    let env = r.env();
    assert!(!env.contains_key("FIXPOINT_DATABASE_URL"));
    assert_eq!(r.env_value("FIXPOINT_DATA_DIR"), "/var/lib/fixpoint");
    assert!(
        r.pod()["volumes"]
            .as_array()
            .expect("volumes")
            .iter()
            .all(|v| v["name"] != "data" && v["name"] != "staging")
    );

    // Policy from the chart's ConfigMap, mounted as the policy directory.
    assert_eq!(r.mount_path("policy"), r.env_value("FIXPOINT_POLICY_DIR"));
    let policy = r.volume("policy");
    r.named("ConfigMap", str_at(policy, "/configMap/name"));
    assert!(!env.contains_key("FIXPOINT_GIT_URL"));

    // No credentials are configured: nothing refers to a Secret.
    let secret_files: Vec<&String> = env.keys().filter(|k| k.ends_with("_FILE")).collect();
    assert!(secret_files.is_empty(), "{secret_files:?}");
    assert!(
        r.pod()["volumes"]
            .as_array()
            .expect("volumes")
            .iter()
            .all(|v| v.get("secret").is_none())
    );
}

#[test]
fn production_values_render_a_postgresql_deployment_behind_an_ingress() {
    if !helm_available() {
        return;
    }
    let values = values_file(PRODUCTION_VALUES);
    let r = render(&["-f", PRODUCTION_VALUES]);
    let image = format!(
        "{}:{}",
        str_at(&values, "/image/repository"),
        str_at(&values, "/image/tag")
    );
    assert_common(&r, &image);
    let kinds = r.kinds();
    for kind in [
        "Deployment",
        "PodDisruptionBudget",
        "Ingress",
        "ServiceMonitor",
        "PersistentVolumeClaim",
    ] {
        assert!(kinds.contains(kind), "{kind} in {kinds:?}");
    }
    assert!(!kinds.contains("StatefulSet"));

    let deployment = r.one("Deployment");
    assert_eq!(deployment["spec"]["replicas"], values["replicas"]);
    assert_eq!(deployment["spec"]["replicas"], json!(3));
    assert_eq!(
        r.pod()["imagePullSecrets"],
        values["imagePullSecrets"],
        "image pull secrets"
    );
    let pod_labels = &deployment["spec"]["template"]["metadata"]["labels"];
    let selects_the_pods = |selector: &Value| {
        selector
            .as_object()
            .expect("a selector")
            .iter()
            .all(|(k, v)| pod_labels.get(k) == Some(v))
    };

    // The database URL from its Secret; no data on the pod but the policy mirror.
    let database = &r.env()["FIXPOINT_DATABASE_URL"];
    assert_eq!(
        database.pointer("/valueFrom/secretKeyRef"),
        values.pointer("/database/postgresql/urlSecret"),
    );
    assert!(r.volume("data").get("emptyDir").is_some());

    // Every credential is a Secret of the values, by name and key, mounted as a file.
    for (var, secret) in [
        ("FIXPOINT_ENROLLMENT_TOKEN_FILE", "/enrollment/tokenSecret"),
        ("FIXPOINT_WEBHOOK_SECRET_FILE", "/webhook/secret"),
        ("FIXPOINT_CONSOLE_TOKEN_FILE", "/console/tokenSecret"),
        ("FIXPOINT_GIT_SSH_KEY", "/policy/git/ssh/keySecret"),
    ] {
        let secret = values.pointer(secret).expect("the values name the Secret");
        r.assert_secret_file(var, secret);
    }
    let secret_volumes: Vec<&str> = r.pod()["volumes"]
        .as_array()
        .expect("volumes")
        .iter()
        .filter_map(|v| v.pointer("/secret/secretName").and_then(Value::as_str))
        .collect();
    assert_eq!(
        secret_volumes,
        [
            "fixpoint-enrollment",
            "fixpoint-webhook",
            "fixpoint-console",
            "fixpoint-git-deploy-key"
        ]
    );

    // Git over SSH: the host keys and signers from the values, in a mounted ConfigMap.
    assert_eq!(
        r.env_value("FIXPOINT_GIT_URL"),
        str_at(&values, "/policy/git/url")
    );
    assert_eq!(
        r.env_value("FIXPOINT_GIT_PATH"),
        str_at(&values, "/policy/git/path")
    );
    for (var, key, value) in [
        (
            "FIXPOINT_GIT_KNOWN_HOSTS",
            "known_hosts",
            "/policy/git/ssh/knownHosts",
        ),
        (
            "FIXPOINT_GIT_ALLOWED_SIGNERS",
            "allowed_signers",
            "/policy/git/allowedSigners",
        ),
    ] {
        let (volume, file) = r.volume_of_file(&r.env_value(var));
        assert_eq!(file, key);
        let map = r.named("ConfigMap", str_at(volume, "/configMap/name"));
        assert_eq!(
            map["data"][key],
            values.pointer(value).expect("in the values").clone()
        );
    }
    assert!(!r.env().contains_key("FIXPOINT_POLICY_DIR"));

    // Staged files on one ReadWriteMany claim every replica mounts where the server keeps
    // them: <data dir>/staging.
    let claim = r.one("PersistentVolumeClaim");
    assert_eq!(claim["spec"]["accessModes"], json!(["ReadWriteMany"]));
    assert_eq!(
        claim["spec"]["resources"]["requests"]["storage"],
        values["staging"]["persistence"]["size"]
    );
    assert_eq!(
        claim["spec"]["storageClassName"],
        values["staging"]["persistence"]["storageClassName"]
    );
    assert_eq!(
        claim["metadata"]["annotations"]["helm.sh/resource-policy"],
        json!("keep")
    );
    assert_eq!(
        r.volume("staging")["persistentVolumeClaim"]["claimName"],
        claim["metadata"]["name"]
    );
    assert_eq!(
        r.mount_path("staging"),
        format!("{}/staging", r.env_value("FIXPOINT_DATA_DIR"))
    );
    assert_eq!(r.env_value("FIXPOINT_STAGING_BANDWIDTH"), "50000000");

    // Several replicas: a disruption budget over the same pods.
    let budget = r.one("PodDisruptionBudget");
    assert_eq!(budget["spec"]["maxUnavailable"], json!(1));
    assert!(selects_the_pods(&budget["spec"]["selector"]["matchLabels"]));

    // The Ingress sends the host, with TLS, to the Service's named port.
    let service = r.one("Service");
    let ingress = r.one("Ingress");
    assert_eq!(ingress["spec"]["ingressClassName"], json!("nginx"));
    assert_eq!(ingress["spec"]["tls"], values["ingress"]["tls"]);
    let rule = &ingress["spec"]["rules"][0];
    assert_eq!(rule["host"], json!("fixpoint.example.com"));
    assert_eq!(
        rule["http"]["paths"][0]["backend"]["service"],
        json!({ "name": service["metadata"]["name"], "port": { "name": "http" } })
    );

    // The ServiceMonitor scrapes /metrics on the Service's port, with the labels Prometheus
    // selects by.
    let monitor = r.one("ServiceMonitor");
    assert_eq!(monitor["apiVersion"], json!("monitoring.coreos.com/v1"));
    let endpoint = &monitor["spec"]["endpoints"][0];
    assert_eq!(endpoint["port"], json!("http"));
    assert_eq!(endpoint["path"], json!("/metrics"));
    assert_eq!(
        monitor["metadata"]["labels"]["release"],
        json!("kube-prometheus-stack")
    );
    let service_labels = &service["metadata"]["labels"];
    for (k, v) in monitor["spec"]["selector"]["matchLabels"]
        .as_object()
        .expect("matchLabels")
    {
        assert_eq!(
            service_labels.get(k),
            Some(v),
            "the ServiceMonitor selects the Service"
        );
    }
}

/// Every variable and flag the chart gives the server is one `fixpoint serve` accepts.
#[test]
fn the_chart_passes_only_settings_that_fixpoint_serve_accepts() {
    if !helm_available() {
        return;
    }
    let help = Command::new(env!("CARGO_BIN_EXE_fixpoint"))
        .args(["serve", "--help"])
        .output()
        .expect("runs fixpoint serve --help");
    assert!(help.status.success());
    // Clap wraps long lines; compare with the whitespace collapsed.
    let help = String::from_utf8(help.stdout)
        .expect("UTF-8 help")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let accepted = |name: &str| {
        // Clap lists a flag's variable as `[env: NAME=...]`, or `[env: NAME]` when it hides
        // values; FIXPOINT_LOG is the filter the --log-format text names.
        help.contains(&format!("[env: {name}="))
            || help.contains(&format!("[env: {name}]"))
            || (name == "FIXPOINT_LOG" && help.contains("levels with FIXPOINT_LOG"))
    };
    let renders = [
        render(&[]),
        render(&["-f", PRODUCTION_VALUES]),
        render(&[
            "--set",
            "policy.source=git,policy.git.url=https://git.example.com/policy.git",
            "--set",
            "policy.git.token.secret.name=git,policy.git.token.username=oauth2",
            "--set",
            "console.basicAuth.user=admin,console.basicAuth.passwordSecret.name=console",
            "--set",
            "console.trustedHeader.userHeader=X-Forwarded-User",
            "--set",
            "console.trustedHeader.groupsHeader=X-Forwarded-Groups",
            "--set",
            "console.trustedHeader.allowGroups={ops,sre},console.trustedHeader.allowUsers={alice}",
            "--set",
            "tls.secretName=fixpoint-tls,server.catalogSync=false",
        ]),
        render(&[
            "--set",
            "policy.source=git,policy.git.url=ssh://git@git.example.com/policy.git",
            "--set",
            "policy.git.ssh.keySecret.name=key,policy.git.ssh.knownHostsSecret.name=key",
            "--set",
            "policy.git.ssh.passphraseSecret.name=passphrase",
        ]),
    ];
    assert_eq!(
        renders[2].env_value("FIXPOINT_CONSOLE_ALLOW_GROUPS"),
        "ops,sre"
    );
    assert_eq!(
        renders[2].container()["readinessProbe"]["httpGet"]["scheme"],
        json!("HTTPS"),
        "the pods serve HTTPS with tls.secretName"
    );
    let mut seen = BTreeSet::new();
    for r in &renders {
        for name in r.env().keys() {
            assert!(name.starts_with("FIXPOINT_"), "{name}");
            assert!(
                accepted(name),
                "{name} is not a variable of `fixpoint serve`:\n{help}"
            );
            seen.insert(name.clone());
        }
        for arg in r.container()["args"].as_array().expect("args") {
            let arg = arg.as_str().expect("string args");
            if let Some(flag) = arg.strip_prefix("--") {
                let flag = flag.split('=').next().unwrap_or(flag);
                assert!(help.contains(&format!("--{flag}")), "--{flag}:\n{help}");
            }
        }
    }
    // The renders reach the chart's settings (a misspelt variable would have been caught).
    for name in [
        "FIXPOINT_DATABASE_URL",
        "FIXPOINT_POLICY_DIR",
        "FIXPOINT_GIT_BRANCH",
        "FIXPOINT_GIT_TOKEN_FILE",
        "FIXPOINT_GIT_SSH_KEY_PASSPHRASE",
        "FIXPOINT_GIT_KNOWN_HOSTS",
        "FIXPOINT_GIT_USERNAME",
        "FIXPOINT_CONSOLE_USER",
        "FIXPOINT_CONSOLE_PASSWORD_FILE",
        "FIXPOINT_CONSOLE_AUTH_HEADER",
        "FIXPOINT_CONSOLE_GROUPS_HEADER",
        "FIXPOINT_CONSOLE_ALLOW_USERS",
        "FIXPOINT_CONSOLE_ALLOW_GROUPS",
        "FIXPOINT_TLS_CERT",
        "FIXPOINT_TLS_KEY",
        "FIXPOINT_CATALOG_SYNC",
        "FIXPOINT_STAGING_HORIZON",
        "FIXPOINT_STAGING_CONCURRENCY",
        "FIXPOINT_STAGING_RETENTION",
        "FIXPOINT_MAX_AGENT_REQUESTS",
        "FIXPOINT_RECONCILE_INTERVAL",
        "FIXPOINT_LOG",
        "FIXPOINT_LOG_FORMAT",
    ] {
        assert!(seen.contains(name), "{name} never rendered");
    }
}

#[test]
fn bad_values_fail_the_schema_naming_each_bad_field() {
    if !helm_available() {
        return;
    }
    let stderr = render_fails(&["-f", BAD_VALUES]);
    assert!(stderr.contains("/replicas"), "{stderr}");
    assert!(stderr.contains("minimum"), "{stderr}");
    assert!(stderr.contains("'replicaCount' not allowed"), "{stderr}");
    for (set, field) in [
        ("image.pullPolicy=Sometimes", "/image/pullPolicy"),
        ("database.mode=mysql", "/database/mode"),
        ("staging.horizon=two days", "/staging/horizon"),
        ("service.tyep=ClusterIP", "'tyep' not allowed"),
        (
            "enrollment.tokenSecret.name=Not_A_Name",
            "/enrollment/tokenSecret/name",
        ),
    ] {
        let stderr = render_fails(&["--set", set]);
        assert!(stderr.contains(field), "--set {set}: {stderr}");
    }
}

#[test]
fn contradicting_values_fail_with_the_charts_message() {
    if !helm_available() {
        return;
    }
    let stderr = render_fails(&["--set", "replicas=2"]);
    assert!(
        stderr.contains(
            "SQLite mode (database.mode=sqlite) runs exactly one replica, but replicas is 2"
        ),
        "{stderr}"
    );
    for (sets, message) in [
        (
            "database.mode=postgresql",
            "needs database.postgresql.urlSecret.name",
        ),
        (
            "database.mode=postgresql,database.postgresql.urlSecret.name=db",
            "needs a staging volume every replica shares",
        ),
        (
            "policy.source=git",
            "policy.source=git needs policy.git.url",
        ),
        (
            "policy.source=git,policy.git.url=git@example.com:p.git,policy.git.ssh.keySecret.name=k",
            "needs the server's host keys",
        ),
        (
            "console.basicAuth.user=admin",
            "console.basicAuth.user needs console.basicAuth.passwordSecret.name",
        ),
        (
            "console.trustedHeader.userHeader=X-Forwarded-User",
            "needs an allow-list",
        ),
    ] {
        let stderr = render_fails(&["--set", sets]);
        assert!(stderr.contains(message), "--set {sets}: {stderr}");
    }
}

#[test]
fn helm_lint_finds_no_errors_or_warnings() {
    if !helm_available() {
        return;
    }
    for args in [vec!["--lint"], vec!["--lint", "-f", PRODUCTION_VALUES]] {
        let output = helm_template(&args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{args:?}: {stderr}");
        assert!(
            stderr.contains("linted 1 chart(s), no failures"),
            "{stderr}"
        );
        assert!(
            !stderr.contains("[ERROR]") && !stderr.contains("[WARNING]"),
            "{args:?}: {stderr}"
        );
    }
}

/// The chart ships the CRDs `fixpoint generate` writes to crds/, byte for byte.
#[test]
fn the_charts_crds_are_the_generated_ones() {
    let generated: BTreeMap<String, String> = generated_files()
        .expect("the policy types generate their files")
        .into_iter()
        .filter_map(|f| {
            f.path
                .strip_prefix("crds/")
                .map(|name| (name.to_owned(), f.contents.clone()))
        })
        .collect();
    assert!(!generated.is_empty());
    let dir = repo().join("charts/fixpoint/crds");
    let mut shipped = BTreeMap::new();
    for entry in fs::read_dir(&dir).expect("charts/fixpoint/crds") {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .expect("a name")
            .to_string_lossy()
            .into_owned();
        shipped.insert(name, fs::read_to_string(&path).expect("readable CRD"));
    }
    let names = |m: &BTreeMap<String, String>| m.keys().cloned().collect::<Vec<_>>();
    assert_eq!(
        names(&shipped),
        names(&generated),
        "charts/fixpoint/crds/ holds other files than crds/; copy them: \
         `cp crds/*.yaml charts/fixpoint/crds/` (after `cargo run -- generate`)"
    );
    for (name, contents) in &generated {
        assert!(
            shipped[name] == *contents,
            "charts/fixpoint/crds/{name} differs from the generated CRD; \
             `cp crds/*.yaml charts/fixpoint/crds/` (after `cargo run -- generate`)"
        );
    }
}

/// The image the chart deploys by default is this version of the server.
#[test]
fn the_charts_app_version_is_the_servers_version() {
    assert_eq!(chart_app_version(), env!("CARGO_PKG_VERSION"));
}
