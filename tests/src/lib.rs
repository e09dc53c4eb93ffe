//! Shared harness for the end-to-end tests: the real registry started by `scripts/registry`, the
//! openssl-made PKI of `scripts/gen-test-pki`, the built `ironsign` binary and the pinned cosign
//! binaries installed by `scripts/install-deps`. Nothing is skipped when a tool is missing: the
//! test fails and says which setup step to run.

use ironsign::cosign::{self, LayerSpec};
use ironsign::{Digest, ImageReference, RegistryClient, RegistryOptions};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent").to_owned()
}

fn run_script(name: &str, args: &[&str]) -> String {
    let out = Command::new(repo_root().join("scripts").join(name))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("scripts/{name}: {e}"));
    assert!(out.status.success(), "scripts/{name} {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf-8").trim().to_owned()
}

/// The test PKI directory (made once per machine; the script is idempotent and locked).
pub fn pki() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::var_os("IRONSIGN_TEST_PKI")
            .map(PathBuf::from)
            .unwrap_or_else(|| std::env::temp_dir().join("ironsign-test-pki"));
        run_script("gen-test-pki", &[dir.to_str().expect("utf-8 path")]);
        dir
    })
}

/// A file of the test PKI.
pub fn pki_file(name: &str) -> String {
    pki().join(name).to_str().expect("utf-8 path").to_owned()
}

/// The kinds of test registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegistryKind {
    /// Anonymous, plain HTTP.
    Plain,
    /// HTTP basic auth (user `tester`, password `s3cret`).
    Basic,
    /// TLS with a certificate from the private test TLS CA.
    Tls,
    /// Anonymous, plain HTTP, with the OCI 1.1 referrers API (go-containerregistry's registry;
    /// the others are distribution 2.8, which has none and gets the referrers tag schema).
    Referrers,
    /// olareg (pinned in scripts/peer-tools): anonymous, plain HTTP, the OCI 1.1 referrers API,
    /// deletion and its own garbage collection (`scripts/registry gc`).
    Olareg,
}

impl RegistryKind {
    /// The registries with the OCI 1.1 referrers API; the others get the referrers tag schema.
    pub const WITH_REFERRERS_API: [RegistryKind; 2] = [RegistryKind::Referrers, RegistryKind::Olareg];

    /// Whether the registry answers the OCI 1.1 referrers API.
    pub fn has_referrers_api(self) -> bool {
        Self::WITH_REFERRERS_API.contains(&self)
    }
}

/// Basic-auth credentials of [`RegistryKind::Basic`].
pub const BASIC_USER: &str = "tester";
/// See [`BASIC_USER`].
pub const BASIC_PASSWORD: &str = "s3cret";

/// The address of a test registry: taken from `IRONSIGN_TEST_REGISTRY_<KIND>` when the test script
/// started it, otherwise started here (and left running for the next test run).
pub fn registry(kind: RegistryKind) -> String {
    static ADDRS: OnceLock<std::sync::Mutex<BTreeMap<String, String>>> = OnceLock::new();
    let (var, name) = match kind {
        RegistryKind::Plain => ("IRONSIGN_TEST_REGISTRY_PLAIN", "e2e-plain"),
        RegistryKind::Basic => ("IRONSIGN_TEST_REGISTRY_BASIC", "e2e-basic"),
        RegistryKind::Tls => ("IRONSIGN_TEST_REGISTRY_TLS", "e2e-tls"),
        RegistryKind::Referrers => ("IRONSIGN_TEST_REGISTRY_REFERRERS", "e2e-referrers"),
        RegistryKind::Olareg => ("IRONSIGN_TEST_REGISTRY_OLAREG", "e2e-olareg"),
    };
    if let Ok(addr) = std::env::var(var) {
        return addr;
    }
    let mut map = ADDRS.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    map.entry(name.to_owned())
        .or_insert_with(|| {
            let htpasswd = format!("{BASIC_USER}:{BASIC_PASSWORD}");
            let (cert, key) = (pki_file("registry-tls.pem"), pki_file("registry-tls.key"));
            let args: Vec<&str> = match kind {
                RegistryKind::Plain => vec!["start", name],
                RegistryKind::Basic => vec!["start", name, "--htpasswd", &htpasswd],
                RegistryKind::Tls => vec!["start", name, "--tls", &cert, &key],
                RegistryKind::Referrers => vec!["start", name, "--referrers-api"],
                RegistryKind::Olareg => vec!["start", name, "--olareg"],
            };
            run_script("registry", &args)
        })
        .clone()
}

/// Starts a registry of our own for one test (`scripts/registry start NAME ARGS…`), stopped when
/// dropped: for tests that restart or garbage-collect it.
pub struct OwnRegistry {
    name: String,
    /// `127.0.0.1:PORT`.
    pub addr: String,
}

impl OwnRegistry {
    /// Starts `name` (made unique) with `args` (e.g. `--olareg`).
    pub fn start(name: &str, args: &[&str]) -> Self {
        let name = unique_repo(name).replace('/', "-");
        let mut all = vec!["start", name.as_str()];
        all.extend_from_slice(args);
        let addr = run_script("registry", &all);
        OwnRegistry { name, addr }
    }

    /// Runs the registry's own garbage collection now (`scripts/registry gc`).
    pub fn collect_garbage(&self) {
        run_script("registry", &["gc", &self.name]);
    }
}

impl Drop for OwnRegistry {
    fn drop(&mut self) {
        let _ = Command::new(repo_root().join("scripts/registry")).args(["stop", &self.name]).output();
    }
}

/// A registry tool pinned in scripts/peer-tools and installed by scripts/install-deps:
/// `$IRONSIGN_TOOLS/<name>-<version>/<bin>`, where `variable` names the version.
pub fn peer_tool(name: &str, variable: &str, bin: &str) -> PathBuf {
    let pins = include_str!("../../scripts/peer-tools");
    let version = pins
        .lines()
        .find_map(|line| line.strip_prefix(variable)?.strip_prefix('='))
        .unwrap_or_else(|| panic!("scripts/peer-tools pins no {variable}"));
    let path = tools_dir().join(format!("{name}-{version}")).join(bin);
    assert!(path.exists(), "{} is missing: run scripts/install-deps", path.display());
    path
}

/// oras (the ORAS CLI).
pub fn oras_bin() -> PathBuf {
    peer_tool("oras", "ORAS_VERSION", "oras")
}

/// regctl (regclient's CLI).
pub fn regctl_bin() -> PathBuf {
    peer_tool("regctl", "REGCTL_VERSION", "regctl")
}

fn tools_dir() -> PathBuf {
    std::env::var_os("IRONSIGN_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/ironsign/tools"))
}

/// The `ironsign` binary of this build (scripts/test builds it before the tests).
pub fn ironsign_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe.parent().and_then(Path::parent).expect("target/<profile>/deps");
    let bin = dir.join("ironsign");
    assert!(bin.exists(), "{} is missing: run `cargo build -p ironsign-cli` first (scripts/test does)", bin.display());
    bin
}

/// The pinned cosign releases the tests run against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cosign {
    /// v2.6.5
    V2,
    /// v3.1.3
    V3,
}

impl Cosign {
    /// Both.
    pub const ALL: [Cosign; 2] = [Cosign::V2, Cosign::V3];

    /// The binary, installed by scripts/install-deps.
    pub fn bin(self) -> PathBuf {
        let tools = tools_dir();
        let version = match self {
            Cosign::V2 => "v2.6.5",
            Cosign::V3 => "v3.1.3",
        };
        let bin = tools.join(format!("cosign-{version}/cosign"));
        assert!(bin.exists(), "{} is missing: run scripts/install-deps", bin.display());
        bin
    }

    /// Flags that make this version read and write the legacy `.sig` format without a log.
    pub fn legacy_flags(self, signing: bool) -> Vec<&'static str> {
        match (self, signing) {
            (Cosign::V2, true) => vec!["--tlog-upload=false"],
            (Cosign::V2, false) => vec![],
            (Cosign::V3, true) => {
                vec!["--tlog-upload=false", "--new-bundle-format=false", "--use-signing-config=false"]
            }
            (Cosign::V3, false) => vec!["--new-bundle-format=false"],
        }
    }
}

/// A command's outcome.
#[derive(Debug)]
pub struct Run {
    /// Exit code (-1 when killed by a signal).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Run {
    fn from(out: Output) -> Self {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Asserts success and returns self.
    #[track_caller]
    pub fn ok(self) -> Self {
        assert_eq!(self.code, 0, "command failed\nstdout: {}\nstderr: {}", self.stdout, self.stderr);
        self
    }

    /// Asserts the exit code and returns self.
    #[track_caller]
    pub fn code(self, code: i32) -> Self {
        assert_eq!(self.code, code, "unexpected exit code\nstdout: {}\nstderr: {}", self.stdout, self.stderr);
        self
    }

    /// Parses stdout as JSON.
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", self.stdout))
    }
}

/// Runs `program` with `args` and extra environment.
pub fn run(program: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(program);
    cmd.args(args).env_remove("IRONSIGN_PASSWORD").env_remove("COSIGN_PASSWORD");
    for (k, v) in env {
        cmd.env(k, v);
    }
    Run::from(cmd.output().unwrap_or_else(|e| panic!("{}: {e}", program.display())))
}

/// Runs `program` with `args` in `dir` with extra environment (the key password variables
/// removed unless `env` sets them).
pub fn run_in(program: &Path, args: &[&str], dir: &Path, env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(program);
    cmd.args(args).current_dir(dir).env_remove("IRONSIGN_PASSWORD").env_remove("COSIGN_PASSWORD");
    for (k, v) in env {
        cmd.env(k, v);
    }
    Run::from(cmd.output().unwrap_or_else(|e| panic!("{}: {e}", program.display())))
}

/// cosign's `verify` of `image` as private-PKI pipelines run it: the test chain, the test leaf's
/// identity, no log, the legacy format.
pub fn cosign_verify_with_chain(version: Cosign, image: &str) -> Run {
    let chain = pki_file("chain.pem");
    let mut args = vec!["verify", "--allow-http-registry", "--certificate-chain", &chain];
    args.extend(["--certificate-identity", "signer@example.com", "--certificate-oidc-issuer-regexp", ".*"]);
    args.extend(["--insecure-ignore-tlog", "--insecure-ignore-sct"]);
    args.extend(version.legacy_flags(false));
    args.push(image);
    let dir = tempfile::tempdir().expect("temporary directory");
    run_in(&version.bin(), &args, dir.path(), &[("HOME", dir.path().to_str().expect("utf-8 path"))])
}

/// Runs ironsign.
pub fn ironsign(args: &[&str]) -> Run {
    run(&ironsign_bin(), args, &[])
}

/// Runs ironsign with environment.
pub fn ironsign_env(args: &[&str], env: &[(&str, &str)]) -> Run {
    run(&ironsign_bin(), args, env)
}

/// Pushes a new random image to the plain registry: returns (tag reference, digest reference).
pub fn push_image(repo: &str) -> (String, String) {
    push_image_to(&registry(RegistryKind::Plain), repo, &[])
}

/// Pushes a new random image (or a multi-platform index with `--platforms`) to `addr/repo:v1`.
pub fn push_image_to(addr: &str, repo: &str, extra: &[&str]) -> (String, String) {
    let target = format!("{addr}/{repo}:v1");
    let mut args = vec![target.as_str()];
    args.extend_from_slice(extra);
    let line = run_script("make-test-image", &args);
    let (tagged, digest) = line.rsplit_once('@').expect("ref@digest");
    (tagged.to_owned(), format!("{}@{digest}", tagged.rsplit_once(':').expect("tag").0))
}

/// Pushes a minimal image (an empty config, no layers) to `reference`'s tag through `client`,
/// for registries that `make-test-image` (anonymous, plain HTTP) cannot reach.
pub fn push_minimal_image(client: &RegistryClient, reference: &ImageReference) {
    let tag = reference.tag.clone().expect("a tag reference");
    block_on(async {
        let config = client.put_blob(&reference.location, b"{}").await.expect("config blob");
        let manifest = format!(
            r#"{{"schemaVersion":2,"mediaType":"{}","config":{{"mediaType":"{}","size":2,"digest":"{config}"}},"layers":[]}}"#,
            cosign::OCI_MANIFEST,
            cosign::OCI_CONFIG
        );
        client
            .put_manifest(&reference.location, &tag, manifest.as_bytes(), cosign::OCI_MANIFEST)
            .await
            .expect("manifest");
    });
}

/// A tool that scripts/install-deps built into `$IRONSIGN_TOOLS/NAME-VERSION/NAME`.
pub fn tool(name: &str, version: &str) -> PathBuf {
    let tools = std::env::var_os("IRONSIGN_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/ironsign/tools"));
    let bin = tools.join(format!("{name}-{version}/{name}"));
    assert!(bin.exists(), "{} is missing: run scripts/install-deps", bin.display());
    bin
}

/// The TLS test registry's CA, as Go programs are told about it (`SSL_CERT_FILE`).
pub fn tls_ca() -> String {
    pki_file("tls-ca.pem")
}

/// A client that trusts the TLS test registry.
pub fn tls_client() -> RegistryClient {
    let options = RegistryOptions {
        ca_certificates_pem: vec![std::fs::read(tls_ca()).expect("tls-ca.pem")],
        ..RegistryOptions::default()
    };
    RegistryClient::new(options).expect("client")
}

/// Pushes an image with a unique config to `reference` (a tag) and returns it by digest.
pub fn push_unique_image(client: &RegistryClient, reference: &str) -> String {
    let reference = ImageReference::parse(reference).expect("reference");
    let tag = reference.tag.clone().expect("tag");
    let config = format!("{{\"architecture\":\"amd64\",\"os\":\"linux\",\"comment\":\"{}\"}}", unique_repo("x"));
    block_on(async {
        let config_digest = client.put_blob(&reference.location, config.as_bytes()).await.expect("config");
        let manifest = format!(
            r#"{{"schemaVersion":2,"mediaType":"{}","config":{{"mediaType":"{}","size":{},"digest":"{config_digest}"}},"layers":[]}}"#,
            cosign::OCI_MANIFEST,
            cosign::OCI_CONFIG,
            config.len()
        );
        client
            .put_manifest(&reference.location, &tag, manifest.as_bytes(), cosign::OCI_MANIFEST)
            .await
            .expect("manifest");
        format!("{}@{}", reference.repository_name(), Digest::sha256(manifest.as_bytes()))
    })
}

/// A unique repository name for a test.
pub fn unique_repo(test: &str) -> String {
    let mut b = [0u8; 4];
    std::fs::File::open("/dev/urandom").and_then(|mut f| std::io::Read::read_exact(&mut f, &mut b)).expect("urandom");
    format!("e2e/{test}-{:08x}", u32::from_le_bytes(b))
}

/// Runs a future on a fresh runtime.
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime").block_on(f)
}

/// A client for the loopback test registries.
pub fn client() -> RegistryClient {
    RegistryClient::new(RegistryOptions::default()).expect("client")
}

/// Writes a `.sig` manifest with exactly these layers (payload, annotations), the way a hostile
/// or buggy signer could: used to build negative cases no honest signer produces.
pub fn push_raw_signatures(image: &str, layers: &[(Vec<u8>, BTreeMap<String, String>)]) {
    let reference = ImageReference::parse(image).expect("reference");
    let digest = reference.digest.clone().expect("digest reference");
    block_on(async {
        let c = client();
        let mut specs = Vec::new();
        for (payload, annotations) in layers {
            let d = c.put_blob(&reference.location, payload).await.expect("payload blob");
            specs.push(LayerSpec {
                media_type: cosign::SIMPLE_SIGNING_MEDIA_TYPE.into(),
                digest: d,
                size: payload.len() as u64,
                annotations: annotations.clone(),
            });
        }
        let config = cosign::signature_config(&specs);
        c.put_blob(&reference.location, &config).await.expect("config blob");
        let manifest = cosign::signature_manifest(&config, &specs);
        c.put_manifest(&reference.location, &digest.attachment_tag("sig"), &manifest, cosign::OCI_MANIFEST)
            .await
            .expect("manifest");
    });
}

/// Signs `payload` with a PEM key file of the test PKI and returns the layer annotations cosign
/// would write with `cert` and `chain` (file names in the PKI; `None` to omit).
pub fn signed_layer(payload: &[u8], key: &str, cert: Option<&str>, chain: Option<&str>) -> BTreeMap<String, String> {
    use base64::Engine as _;
    use ironsign::Signer as _;
    let signer = ironsign::KeyPairSigner::from_file(&pki().join(key), None).expect("key");
    let sig = signer.sign(payload).expect("sign");
    let mut a = BTreeMap::new();
    a.insert(cosign::SIGNATURE_ANNOTATION.to_owned(), base64::engine::general_purpose::STANDARD.encode(sig));
    if let Some(cert) = cert {
        a.insert(cosign::CERTIFICATE_ANNOTATION.to_owned(), std::fs::read_to_string(pki().join(cert)).expect("cert"));
        let chain = chain.map(|c| std::fs::read_to_string(pki().join(c)).expect("chain")).unwrap_or_default();
        a.insert(cosign::CHAIN_ANNOTATION.to_owned(), chain);
    }
    a
}

/// The simple signing payload for an image digest reference.
pub fn payload_for(image: &str) -> Vec<u8> {
    let reference = ImageReference::parse(image).expect("reference");
    let digest: Digest = reference.digest.clone().expect("digest");
    cosign::simple_signing_payload(&reference.repository_name(), &digest, &BTreeMap::new())
}

/// The rejection codes in a `--output json` error report.
pub fn rejection_codes(run: &Run) -> Vec<String> {
    let v = run.json();
    let rejections = v.pointer("/error/details/NoMatchingSignature/rejections").and_then(|r| r.as_array()).cloned();
    let rejections = rejections.unwrap_or_else(|| panic!("no rejections in {v}"));
    rejections.iter().map(|r| r["code"].as_str().expect("code").to_owned()).collect()
}

/// libfaketime, for running a tool with its clock shifted (installed by scripts/install-deps).
pub fn libfaketime() -> PathBuf {
    std::fs::read_dir("/usr/lib")
        .expect("/usr/lib")
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("faketime/libfaketime.so.1"))
        .find(|p| p.exists())
        .expect("libfaketime is missing: run scripts/install-deps")
}

/// A CRL issued by `ca` (a PKI name) revoking `revoked` (PKI names), with cRLNumber 1, written
/// to `out`; with `faketime`, openssl runs with that clock offset (libfaketime syntax). The CRL
/// is valid for one hour from its thisUpdate.
pub fn make_crl(dir: &Path, ca: &str, revoked: &[&str], faketime: Option<&str>, out: &Path) {
    make_crl_numbered(dir, ca, revoked, faketime, 1, out)
}

/// [`make_crl`] with this cRLNumber.
pub fn make_crl_numbered(dir: &Path, ca: &str, revoked: &[&str], faketime: Option<&str>, number: u32, out: &Path) {
    let db = tempfile::tempdir_in(dir).expect("temporary directory");
    let cnf = db.path().join("ca.cnf");
    std::fs::write(db.path().join("index.txt"), "").expect("index");
    std::fs::write(db.path().join("crlnumber"), format!("{number:02X}\n")).expect("crlnumber");
    std::fs::write(
        &cnf,
        format!(
            "[ca]\ndefault_ca=d\n[d]\ndatabase={0}/index.txt\ncrlnumber={0}/crlnumber\ndefault_md=sha256\ndefault_crl_hours=1\n",
            db.path().display()
        ),
    )
    .expect("ca.cnf");
    let openssl = |args: &[&str]| {
        let mut cmd = Command::new("openssl");
        cmd.args(args);
        if let Some(f) = faketime {
            cmd.env("LD_PRELOAD", libfaketime()).env("FAKETIME", f);
        }
        let o = cmd.output().expect("openssl");
        assert!(o.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&o.stderr));
    };
    let (ca_cert, ca_key) = (pki_file(&format!("{ca}.pem")), pki_file(&format!("{ca}.key")));
    let cnf = cnf.to_str().expect("utf-8 path");
    for name in revoked {
        let cert = pki_file(&format!("{name}.pem"));
        openssl(&["ca", "-config", cnf, "-cert", &ca_cert, "-keyfile", &ca_key, "-revoke", &cert]);
    }
    let out = out.to_str().expect("utf-8 path");
    openssl(&["ca", "-gencrl", "-config", cnf, "-cert", &ca_cert, "-keyfile", &ca_key, "-out", out]);
}

/// A local RFC 3161 timestamp authority (`scripts/tsa`: `openssl ts -reply` with the test PKI's
/// TSA keys), started for one test and stopped (by PID) when dropped.
pub struct Tsa {
    state: tempfile::TempDir,
    url: String,
}

impl Tsa {
    /// Starts one.
    pub fn start() -> Self {
        let state = tempfile::tempdir().expect("temporary directory");
        let url = run_script(
            "tsa",
            &["start", state.path().to_str().expect("utf-8 path"), pki().to_str().expect("utf-8 path")],
        );
        Tsa { state, url }
    }

    /// The URL of the TSA with key `kind` (`ecdsa` or `rsa`), dating tokens by `faketime`.
    pub fn url(&self, kind: &str, faketime: Option<&str>) -> String {
        match faketime {
            Some(f) => format!("{}/{kind}?faketime={f}", self.url),
            None => format!("{}/{kind}", self.url),
        }
    }
}

impl Drop for Tsa {
    fn drop(&mut self) {
        let _ = std::process::Command::new(repo_root().join("scripts/tsa"))
            .args(["stop", self.state.path().to_str().expect("utf-8 path")])
            .status();
    }
}

/// Runs ironsign with its clock shifted by `offset` (libfaketime syntax, e.g. `-100d`).
pub fn ironsign_at(offset: &str, args: &[&str]) -> Run {
    let lib = libfaketime();
    ironsign_env(
        args,
        &[
            ("LD_PRELOAD", lib.to_str().expect("utf-8 path")),
            ("FAKETIME", offset),
            ("FAKETIME_DONT_FAKE_MONOTONIC", "1"),
        ],
    )
}

/// `scripts/fault-proxy` in front of a plain-HTTP server (a test registry, the KMS server),
/// stopped (by PID) when dropped.
pub struct FaultProxy {
    child: std::process::Child,
    /// `HOST:PORT` of the proxy.
    pub addr: String,
}

impl FaultProxy {
    /// A proxy in front of the plain test registry.
    pub fn start() -> Self {
        Self::start_for(&registry(RegistryKind::Plain))
    }

    /// A proxy in front of `upstream` (`HOST:PORT` of a plain-HTTP server).
    pub fn start_for(upstream: &str) -> Self {
        use std::io::BufRead as _;
        let mut child = Command::new(repo_root().join("scripts/fault-proxy"))
            .arg(upstream)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("scripts/fault-proxy");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("address");
        FaultProxy { child, addr: line.trim().to_owned() }
    }

    fn control(&self, method: &str, path: &str, body: &str) -> String {
        use std::io::{Read as _, Write as _};
        let mut s = std::net::TcpStream::connect(&self.addr).expect("proxy");
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
            self.addr,
            body.len()
        )
        .expect("control request");
        let mut out = String::new();
        s.read_to_string(&mut out).expect("control answer");
        out.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default()
    }

    /// Replaces the fault rules (see the script's documentation).
    pub fn set(&self, rules: serde_json::Value) {
        self.control("PUT", "/__faults__", &rules.to_string());
    }

    /// The requests seen so far: `{"method", "path", "fault", "authorization"}`, a manifest PUT
    /// also `"content_type"` and `"body"`.
    pub fn log(&self) -> Vec<serde_json::Value> {
        let log: serde_json::Value = serde_json::from_str(&self.control("GET", "/__faults__/log", "")).expect("log");
        log.as_array().expect("list").clone()
    }

    /// How many requests a fault was applied to so far.
    pub fn faulted(&self) -> usize {
        self.log().iter().filter(|e| !e["fault"].is_null()).count()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A local AWS KMS API server (`scripts/kms-server`: moto with AWS's digest signing), on plain
/// HTTP and on HTTPS with the test PKI's `localhost` certificate, started for one test and
/// stopped (by PID) when dropped. Keys are created through the KMS API.
pub struct KmsServer {
    state: tempfile::TempDir,
    /// `http://127.0.0.1:PORT`.
    pub http: String,
    /// `localhost:PORT` of the HTTPS listener (same keys).
    pub https_host: String,
}

impl KmsServer {
    /// Starts one.
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// Starts one that signs digests as moto 5.2.5 does (hashing them again): a KMS whose
    /// signatures do not verify with its public key.
    pub fn start_with_moto_digest_signing() -> Self {
        Self::start_with(&["--moto-digest"])
    }

    fn start_with(options: &[&str]) -> Self {
        let state = tempfile::tempdir().expect("temporary directory");
        let (cert, key) = (pki_file("registry-tls.pem"), pki_file("registry-tls.key"));
        let mut args = vec!["start", state.path().to_str().expect("utf-8 path"), "--tls", &cert, &key];
        args.extend_from_slice(options);
        let out = run_script("kms-server", &args);
        let mut lines = out.lines();
        let http = lines.next().expect("HTTP address").to_owned();
        let https_host = lines.next().and_then(|l| l.strip_prefix("https://")).expect("HTTPS address").to_owned();
        KmsServer { state, http, https_host }
    }

    /// The environment of a client of this server: endpoint from `AWS_ENDPOINT_URL_KMS`, a
    /// region, static test credentials, no shared files or instance metadata.
    pub fn env(&self) -> Vec<(String, String)> {
        self.env_for(&self.http)
    }

    /// [`KmsServer::env`] with another endpoint URL (a fault proxy in front of this server).
    pub fn env_for(&self, endpoint_url: &str) -> Vec<(String, String)> {
        let missing = self.state.path().join("no-such-file").to_str().expect("utf-8 path").to_owned();
        [
            ("AWS_ENDPOINT_URL_KMS", endpoint_url),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
            ("AWS_CONFIG_FILE", &missing),
            ("AWS_SHARED_CREDENTIALS_FILE", &missing),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    /// `scripts/kms-server COMMAND URL ARGS…`: a call of the KMS API through boto3.
    fn api(&self, command: &str, args: &[&str]) -> String {
        let mut all = vec![command, self.http.as_str()];
        all.extend_from_slice(args);
        run_script("kms-server", &all)
    }

    /// Creates a SIGN_VERIFY key of `spec` (`ECC_NIST_P256`, `ECC_NIST_P384`, `RSA_3072`, …) with
    /// the alias `alias/NAME`; returns its key id.
    pub fn create_key(&self, spec: &str, alias: &str) -> String {
        self.api("create-key", &[spec, alias])
    }

    /// Disables a key.
    pub fn disable_key(&self, key_id: &str) {
        self.api("disable-key", &[key_id]);
    }

    /// Signs through the API: `message_type` `RAW` or `DIGEST`; `algorithm` a KMS SigningAlgorithm.
    pub fn sign(&self, key_id: &str, message_type: &str, algorithm: &str, message: &[u8]) -> Vec<u8> {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD;
        let out = self.api("sign", &[key_id, message_type, algorithm, &b64.encode(message)]);
        b64.decode(out).expect("base64 signature")
    }
}

impl Drop for KmsServer {
    fn drop(&mut self) {
        let _ = Command::new(repo_root().join("scripts/kms-server"))
            .args(["stop", self.state.path().to_str().expect("utf-8 path")])
            .status();
    }
}

/// A real OpenBao dev server with the transit engine (`scripts/vault-server`), started for one
/// test and stopped (by PID) when dropped.
pub struct VaultServer {
    state: tempfile::TempDir,
    /// `http://127.0.0.1:PORT`.
    pub address: String,
    /// The root token.
    pub token: String,
}

impl VaultServer {
    /// Starts one.
    pub fn start() -> Self {
        let state = tempfile::tempdir().expect("temporary directory");
        let out = run_script("vault-server", &["start", state.path().to_str().expect("utf-8 path")]);
        let (address, token) = out.split_once(' ').expect("ADDRESS TOKEN");
        VaultServer { address: address.to_owned(), token: token.to_owned(), state }
    }

    /// The environment of a client (cosign or ironsign).
    pub fn env(&self) -> Vec<(String, String)> {
        vec![("VAULT_ADDR".into(), self.address.clone()), ("VAULT_TOKEN".into(), self.token.clone())]
    }

    /// Creates a transit key of `key_type` (`ecdsa-p256`, `ecdsa-p384`, `rsa-3072`, …) through the API.
    pub fn create_key(&self, name: &str, key_type: &str) {
        let out = Command::new("curl")
            .args(["-sf", "-H", &format!("X-Vault-Token: {}", self.token), "-X", "POST", "-d"])
            .arg(format!("{{\"type\":\"{key_type}\"}}"))
            .arg(format!("{}/v1/transit/keys/{name}", self.address))
            .output()
            .expect("curl");
        assert!(out.status.success(), "creating transit key {name}: {}", String::from_utf8_lossy(&out.stderr));
    }
}

impl Drop for VaultServer {
    fn drop(&mut self) {
        let _ = Command::new(repo_root().join("scripts/vault-server"))
            .args(["stop", self.state.path().to_str().expect("utf-8 path")])
            .status();
    }
}

/// A distribution registry private to one test (its own `IRONSIGN_STATE`, so its catalog and its
/// access log hold only what the test does), stopped by `scripts/registry` when dropped.
pub struct PrivateRegistry {
    state: tempfile::TempDir,
    /// `127.0.0.1:PORT`.
    pub addr: String,
}

impl PrivateRegistry {
    /// Starts one (Debian's distribution 2.8, anonymous, plain HTTP).
    pub fn start() -> Self {
        let state = tempfile::tempdir().expect("tempdir");
        let out = Command::new(repo_root().join("scripts/registry"))
            .args(["start", "private"])
            .env("IRONSIGN_STATE", state.path())
            .output()
            .expect("scripts/registry");
        assert!(out.status.success(), "scripts/registry start: {}", String::from_utf8_lossy(&out.stderr));
        let addr = String::from_utf8(out.stdout).expect("utf-8").trim().to_owned();
        PrivateRegistry { state, addr }
    }

    /// Its log (application log and access log).
    pub fn log(&self) -> PathBuf {
        self.state.path().join("private/registry.log")
    }
}

impl Drop for PrivateRegistry {
    fn drop(&mut self) {
        // Never panic here: this also runs while a failed test unwinds.
        let _ = Command::new(repo_root().join("scripts/registry"))
            .args(["stop", "private"])
            .env("IRONSIGN_STATE", self.state.path())
            .output();
    }
}

/// Signs `image` with the test leaf, its certificate and chain (`extra`: more `sign` flags, e.g.
/// `--bundle-format`).
pub fn sign_with_chain(image: &str, extra: &[&str]) {
    let (key, cert, chain) = (pki_file("leaf.key"), pki_file("leaf.pem"), pki_file("chain.pem"));
    let mut args = vec!["sign", "--key", &key, "--certificate", &cert, "--certificate-chain", &chain];
    args.extend_from_slice(extra);
    args.push(image);
    ironsign(&args).ok();
}

/// Attests a scanner predicate of type `custom` on `image` with the test leaf, certificate and
/// chain (`extra`: more `attest` flags).
pub fn attest_with_chain(image: &str, extra: &[&str]) {
    let (key, cert, chain) = (pki_file("leaf.key"), pki_file("leaf.pem"), pki_file("chain.pem"));
    let dir = tempfile::tempdir().unwrap();
    let predicate = dir.path().join("predicate.json");
    std::fs::write(&predicate, r#"{"scanner":{"uri":"pkg:github/aquasecurity/trivy","version":"0.50.0"}}"#).unwrap();
    let p = predicate.to_str().unwrap();
    let mut args = vec!["attest", "--key", &key, "--certificate", &cert, "--certificate-chain", &chain];
    args.extend(["--type", "custom", "--predicate", p]);
    args.extend_from_slice(extra);
    args.push(image);
    ironsign(&args).ok();
}

/// Attaches a small SPDX SBOM to `image` (the `.sbom` tag).
pub fn attach_test_sbom(image: &str) {
    attach_named_sbom(image, "app");
}

/// Attaches a small SPDX SBOM of the package `name` to `image`: SBOMs of different names are
/// different manifests (the same SBOM attached to two images is one manifest under two tags).
pub fn attach_named_sbom(image: &str, name: &str) {
    let dir = tempfile::tempdir().unwrap();
    let sbom = dir.path().join("sbom.spdx.json");
    let document = serde_json::json!({"spdxVersion": "SPDX-2.3", "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT", "name": name, "documentNamespace": format!("https://example.com/{name}"),
        "creationInfo": {"created": "2024-01-01T00:00:00Z", "creators": ["Tool: test"]}, "packages": []});
    std::fs::write(&sbom, serde_json::to_vec(&document).unwrap()).unwrap();
    ironsign(&["attach", "sbom", "--sbom", sbom.to_str().unwrap(), "--type", "spdx", image]).ok();
}

/// `ironsign verify` of `image` under the test root for the test leaf's identity.
pub fn verify_with_root(image: &str, extra: &[&str]) -> Run {
    let root = pki_file("root.pem");
    let mut args = vec!["verify", "--ca-roots", &root, "--certificate-identity", "signer@example.com"];
    args.extend_from_slice(extra);
    args.push(image);
    ironsign(&args)
}

/// The Kyverno CLI release the tests run (scripts/install-deps builds it).
pub const KYVERNO_VERSION: &str = "v1.19.1";

/// A Pod running `image`, as Kyverno's CLI reads resources, written under `dir`.
pub fn kyverno_pod(dir: &Path, image: &str) -> PathBuf {
    let path = dir.join(format!("pod-{}.yaml", unique_repo("p").replace('/', "-")));
    std::fs::write(
        &path,
        format!("apiVersion: v1\nkind: Pod\nmetadata:\n  name: app\n  namespace: default\nspec:\n  containers:\n    - name: app\n      image: {image}\n"),
    )
    .unwrap();
    path
}

/// `kyverno apply POLICY --resource POD --registry` with the registry CA trusted, Sigstore's
/// public infrastructure unreachable (an air gap: Go does not proxy loopback, so only the
/// registry is reachable) and a fresh home under `dir` (no TUF cache from elsewhere).
pub fn kyverno_apply(dir: &Path, policy: &Path, image: &str, extra: &[&str]) -> Run {
    let home = dir.join(format!("home-{}", unique_repo("h").replace('/', "-")));
    std::fs::create_dir_all(&home).unwrap();
    let (ca, home) = (tls_ca(), home.display().to_string());
    let resource = kyverno_pod(dir, image);
    let mut args = vec!["apply", policy.to_str().unwrap(), "--resource", resource.to_str().unwrap(), "--registry"];
    args.extend_from_slice(extra);
    let env = [
        ("SSL_CERT_FILE", ca.as_str()),
        ("HOME", home.as_str()),
        ("HTTPS_PROXY", "http://127.0.0.1:9"),
        ("HTTP_PROXY", "http://127.0.0.1:9"),
        ("NO_PROXY", ""),
        ("KUBECONFIG", "/dev/null"),
    ];
    run(&tool("kyverno", KYVERNO_VERSION), &args, &env)
}

/// Kyverno's result counts, from its summary line `pass: N, fail: N, warn: N, error: N, skip: N`.
pub fn kyverno_counts(run: &Run) -> (u32, u32, u32) {
    let line = run
        .stdout
        .lines()
        .find(|l| l.trim_start().starts_with("pass:"))
        .unwrap_or_else(|| panic!("no result line: {run:?}"));
    let value = |name: &str| -> u32 {
        line.split(',')
            .find_map(|part| part.trim().strip_prefix(name)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {line}"))
    };
    (value("pass:"), value("fail:"), value("error:"))
}

/// Kyverno counts the verifyImages rule and the image check it generates: at least one pass and
/// no failure, or no pass and at least one failure.
pub fn assert_kyverno_verdict(run: &Run, passes: bool, what: &str) {
    let (pass, fail, error) = kyverno_counts(run);
    if passes {
        assert!(run.code == 0 && pass > 0 && fail == 0 && error == 0, "{what}: {run:?}");
    } else {
        assert!(run.code != 0 && pass == 0 && fail > 0, "{what}: {run:?}");
    }
}

/// Runs the generated cosign script `script` on `image` with `cosign` (its release first on
/// PATH) in a fresh directory: the script's output and whether it passed.
pub fn run_cosign_script(version: Cosign, script: &Path, image: &str) -> (bool, String) {
    let bin = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(version.bin(), bin.path().join("cosign")).unwrap();
    let path = format!("{}:{}", bin.path().display(), std::env::var("PATH").unwrap_or_default());
    let work = tempfile::tempdir().unwrap();
    let out = Command::new("sh")
        .arg(script)
        .arg(image)
        .current_dir(work.path())
        .env("PATH", &path)
        .env("SSL_CERT_FILE", tls_ca())
        .output()
        .expect("sh");
    let log = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), log)
}
