//! A small local harness for the attestation end-to-end tests: a real registry per test, the
//! openssl test PKI, the ironsign binary and the two pinned cosign releases. (To be unified with
//! the shared harness under tests/ later.)

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_owned()
}

/// A fixture file under ironsign-cli/tests/fixtures.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

/// The test PKI (generated once per build directory) with cosign's import of the leaf key.
pub fn pki() -> &'static Path {
    static PKI: OnceLock<PathBuf> = OnceLock::new();
    PKI.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("attest-pki");
        let out = Command::new(root().join("scripts/gen-test-pki")).arg(&dir).output().unwrap();
        assert!(out.status.success(), "gen-test-pki: {}", String::from_utf8_lossy(&out.stderr));
        if !dir.join("imported.key").exists() {
            let out = Command::new(cosign_path(Cosign::V2))
                .current_dir(&dir)
                .env("COSIGN_PASSWORD", "pw")
                .args(["import-key-pair", "--key", "leaf.key", "--output-key-prefix", "imported", "-y"])
                .output()
                .unwrap();
            assert!(out.status.success(), "import-key-pair: {}", String::from_utf8_lossy(&out.stderr));
        }
        dir
    })
}

/// A file of the test PKI.
pub fn pki_file(name: &str) -> String {
    pki().join(name).display().to_string()
}

/// A throwaway registry, stopped on drop.
pub struct Registry {
    name: String,
    /// `127.0.0.1:PORT`.
    pub addr: String,
}

impl Registry {
    /// Starts one named after the test.
    pub fn start(test: &str) -> Self {
        let name = format!("attest-{test}-{}", std::process::id());
        let out = Command::new(root().join("scripts/registry")).args(["start", &name]).output().unwrap();
        assert!(out.status.success(), "registry start: {}", String::from_utf8_lossy(&out.stderr));
        let addr = String::from_utf8(out.stdout).unwrap().trim().to_owned();
        Registry { name, addr }
    }

    /// Pushes a fresh random image to `repo:tag`; returns `addr/repo@sha256:…`.
    pub fn image(&self, repo: &str) -> String {
        let out = Command::new(root().join("scripts/make-test-image"))
            .arg(format!("{}/{repo}:latest", self.addr))
            .output()
            .unwrap();
        assert!(out.status.success(), "make-test-image: {}", String::from_utf8_lossy(&out.stderr));
        let printed = String::from_utf8(out.stdout).unwrap().trim().to_owned();
        // "<ref:tag>@<digest>" -> "<ref>@<digest>"
        let (reference, digest) = printed.rsplit_once('@').unwrap();
        let repo_part = reference.rsplit_once(':').map(|(r, _)| r).unwrap_or(reference);
        format!("{repo_part}@{digest}")
    }

    /// GETs a manifest by tag or digest as JSON.
    pub fn manifest(&self, repo: &str, reference: &str) -> serde_json::Value {
        let out = Command::new("curl")
            .args(["-sf", "-H", "Accept: application/vnd.oci.image.manifest.v1+json"])
            .arg(format!("http://{}/v2/{repo}/manifests/{reference}", self.addr))
            .output()
            .unwrap();
        assert!(out.status.success(), "GET manifest {repo}:{reference}");
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = Command::new(root().join("scripts/registry")).args(["stop", &self.name]).output();
    }
}

/// The `sha256-<hex>.<suffix>` tag of an `…@sha256:<hex>` reference.
pub fn attachment_tag(image: &str, suffix: &str) -> String {
    let digest = image.rsplit_once('@').unwrap().1;
    format!("{}.{suffix}", digest.replace(':', "-"))
}

/// Runs ironsign.
pub fn ironsign<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    Command::new(env!("CARGO_BIN_EXE_ironsign")).args(args).env_remove("IRONSIGN_LOG").output().unwrap()
}

/// The pinned cosign releases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cosign {
    /// v2.6.5.
    V2,
    /// v3.1.3.
    V3,
}

/// Both pinned releases.
pub const COSIGNS: [Cosign; 2] = [Cosign::V2, Cosign::V3];

/// The binary installed by scripts/install-deps under `$IRONSIGN_TOOLS` (default
/// `$HOME/.cache/ironsign/tools`).
fn cosign_path(version: Cosign) -> PathBuf {
    let tools = std::env::var_os("IRONSIGN_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/ironsign/tools"));
    let release = match version {
        Cosign::V2 => "v2.6.5",
        Cosign::V3 => "v3.1.3",
    };
    tools.join(format!("cosign-{release}/cosign"))
}

/// Runs cosign offline (no TUF, no transparency log).
pub fn cosign(version: Cosign, args: &[&str]) -> Output {
    let home = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cosign-home");
    std::fs::create_dir_all(&home).unwrap();
    Command::new(cosign_path(version))
        .args(args)
        .env("HOME", &home)
        .env("COSIGN_PASSWORD", "pw")
        .env("TUF_ROOT", home.join("tuf"))
        .output()
        .unwrap()
}

/// The flags cosign needs to write the legacy `.att`/`.sig` format without a transparency log.
pub fn cosign_legacy_write_flags(version: Cosign) -> Vec<&'static str> {
    match version {
        Cosign::V2 => vec!["--tlog-upload=false", "-y"],
        Cosign::V3 => vec!["--new-bundle-format=false", "--use-signing-config=false", "--tlog-upload=false", "-y"],
    }
}

/// cosign's verification flags for the test PKI (private CA, no tlog, no SCT).
pub fn cosign_verify_flags(version: Cosign) -> Vec<String> {
    let mut flags = vec![
        "--certificate-chain".to_owned(),
        pki_file("chain.pem"),
        "--certificate-identity".into(),
        "signer@example.com".into(),
        "--certificate-oidc-issuer-regexp".into(),
        ".*".into(),
        "--insecure-ignore-tlog".into(),
        "--insecure-ignore-sct".into(),
        "--allow-http-registry".into(),
    ];
    if version == Cosign::V3 {
        flags.push("--new-bundle-format=false".into());
    }
    flags
}

/// ironsign's signing flags for the test PKI leaf.
pub fn sign_flags() -> Vec<String> {
    vec![
        "--key".into(),
        pki_file("leaf.key"),
        "--certificate".into(),
        pki_file("leaf.pem"),
        "--certificate-chain".into(),
        pki_file("chain.pem"),
    ]
}

/// ironsign's verification flags for the test PKI.
pub fn verify_flags() -> Vec<String> {
    vec![
        "--certificate-chain".into(),
        pki_file("chain.pem"),
        "--certificate-identity".into(),
        "signer@example.com".into(),
    ]
}

/// Asserts success, showing the output otherwise.
#[track_caller]
pub fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Asserts failure with `exit` and the error code `code` (printed as `Error [CODE]` on stderr).
#[track_caller]
pub fn fails(out: &Output, exit: i32, code: &str) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(exit), "stderr: {stderr}\nstdout: {}", String::from_utf8_lossy(&out.stdout));
    assert!(stderr.contains(&format!("Error [{code}]")), "expected {code}: {stderr}");
    stderr
}
