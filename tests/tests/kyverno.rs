//! Issue 16: the Kyverno policies `ironsign instructions kyverno` generates, run by Kyverno itself.
//!
//! The tool is Kyverno v1.19.1's own CLI (`kyverno apply --registry`), built from Kyverno's module
//! by scripts/install-deps (scripts/go-tools/kyverno). `apply` runs Kyverno's engine on a Pod:
//! `VerifyAndPatchImages` maps each `verifyImages` attestor to `verifiers.Options`
//! (pkg/engine/internal/imageverifier.go, `buildCosignVerifier`) and verifies with the ClusterPolicy
//! cosign verifier (pkg/image/verifiers/cpol/cosign) against the TLS test registry, as the
//! admission controller does. Images: signed and attested under the configured PKI; unsigned;
//! signed and attested under another root with the same names and SAN; signed under the PKI with
//! a vulnerability attestation that has no scan time. ClusterPolicy: pass, fail, fail, fail.
//!
//! The generated ImageValidatingPolicy cannot be shown to pass without network access, and this
//! is the finding the test pins: its keyless attestor makes Kyverno initialise Sigstore's TUF
//! client before looking at the image (pkg/image/verifiers/ivpol/cosign/opts.go, `checkOptions`:
//! only key or certificate attestors with `insecureIgnoreTlog` skip `initTUFAndFetch`, and without
//! `tuf.mirror` the mirror is the public `tuf-repo-cdn.sigstore.dev`). In an air gap (simulated
//! here by an unreachable HTTPS proxy, which the loopback registry does not use) even the
//! correctly signed image is refused, for that reason.

use ironsign_e2e::*;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

const KYVERNO_VERSION: &str = "v1.19.1";

/// The images and the trust configuration that covers them.
struct Fixture {
    _dir: tempfile::TempDir,
    dir: PathBuf,
    config: PathBuf,
    signed: String,
    unsigned: String,
    other_root: String,
    unscanned: String,
}

fn sign_and_attest(image: &str, key: &str, cert: &str, chain: &str, predicate: &Path) {
    let (key, cert, chain, ca) = (pki_file(key), pki_file(cert), pki_file(chain), tls_ca());
    let signing = ["--key", &key, "--certificate", &cert, "--certificate-chain", &chain, "--registry-cacert", &ca];
    let mut args = vec!["sign"];
    args.extend(signing);
    args.push(image);
    ironsign(&args).ok();
    let mut args = vec!["attest", "--type", "vuln", "--predicate", predicate.to_str().unwrap()];
    args.extend(signing);
    args.push(image);
    ironsign(&args).ok();
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let addr = registry(RegistryKind::Tls);
        let repository = format!("{addr}/{}", unique_repo("kyverno"));
        let client = tls_client();
        let signed = push_unique_image(&client, &format!("{repository}/signed:v1"));
        let unsigned = push_unique_image(&client, &format!("{repository}/unsigned:v1"));
        let other_root = push_unique_image(&client, &format!("{repository}/other-root:v1"));
        let unscanned = push_unique_image(&client, &format!("{repository}/unscanned:v1"));
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().to_owned();

        let report = repo_root().join("examples/quickstart/trivy-report.json");
        sign_and_attest(&signed, "leaf.key", "leaf.pem", "chain.pem", &report);
        // Same subject names and SAN as the real PKI, different keys: only the root tells them apart.
        sign_and_attest(&other_root, "attacker-leaf.key", "attacker-leaf.pem", "attacker-chain.pem", &report);
        // A ready-made predicate without scan times: cosign and ironsign write Go's zero time.
        let no_scan_time = path.join("no-scan-time.json");
        std::fs::write(
            &no_scan_time,
            r#"{"invocation":{"uri":""},"scanner":{"uri":"pkg:github/aquasecurity/trivy@0.58.0","version":"0.58.0","result":{}}}"#,
        )
        .unwrap();
        sign_and_attest(&unscanned, "leaf.key", "leaf.pem", "chain.pem", &no_scan_time);

        std::fs::copy(pki_file("root.pem"), path.join("root.pem")).unwrap();
        let config = path.join("trust.yaml");
        std::fs::write(
            &config,
            format!(
                "version: 1\nname: test-images\nimages: [\"{repository}/*\"]\nroots:\n  - file: root.pem\nidentity:\n  san: signer@example.com\nattestations:\n  - type: vuln\n"
            ),
        )
        .unwrap();
        Fixture { dir: path, _dir: dir, config, signed, unsigned, other_root, unscanned }
    })
}

/// The generated Kyverno policies, in a fresh directory.
fn generated() -> PathBuf {
    let f = fixture();
    let out = f.dir.join(format!("out-{}", unique_repo("g").replace('/', "-")));
    ironsign(&[
        "instructions",
        "kyverno",
        "--trust-config",
        f.config.to_str().unwrap(),
        "--output-dir",
        out.to_str().unwrap(),
    ])
    .ok();
    out
}

/// A Pod running `image`, as Kyverno's CLI reads resources.
fn pod(image: &str) -> PathBuf {
    let path = fixture().dir.join(format!("pod-{}.yaml", unique_repo("p").replace('/', "-")));
    std::fs::write(
        &path,
        format!("apiVersion: v1\nkind: Pod\nmetadata:\n  name: app\n  namespace: default\nspec:\n  containers:\n    - name: app\n      image: {image}\n"),
    )
    .unwrap();
    path
}

/// `kyverno apply POLICY --resource POD --registry` with the registry CA trusted, Sigstore's
/// public infrastructure unreachable (an air gap: Go does not proxy loopback, so only the
/// registry is reachable) and a fresh home (no TUF cache from elsewhere).
fn kyverno_apply(policy: &Path, image: &str, extra: &[&str]) -> Run {
    let home = fixture().dir.join(format!("home-{}", unique_repo("h").replace('/', "-")));
    std::fs::create_dir_all(&home).unwrap();
    let (ca, home) = (tls_ca(), home.display().to_string());
    let resource = pod(image);
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
fn counts(run: &Run) -> (u32, u32, u32) {
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
fn assert_verdict(run: &Run, passes: bool, what: &str) {
    let (pass, fail, error) = counts(run);
    if passes {
        assert!(run.code == 0 && pass > 0 && fail == 0 && error == 0, "{what}: {run:?}");
    } else {
        assert!(run.code != 0 && pass == 0 && fail > 0, "{what}: {run:?}");
    }
}

#[test]
fn kyverno_cluster_policy_passes_the_signed_image_and_refuses_the_others() {
    let f = fixture();
    let policy = generated().join("kyverno-clusterpolicy.yaml");
    let cases = [
        ("signed", &f.signed, true, ""),
        ("unsigned", &f.unsigned, false, "no signatures found"),
        ("other root", &f.other_root, false, "certificate signed by unknown authority"),
    ];
    for (what, image, passes, reason) in cases {
        let run = kyverno_apply(&policy, image, &[]);
        assert_verdict(&run, passes, what);
        assert!(run.stdout.contains(reason), "{what}: expected {reason:?}: {run:?}");
    }
}

#[test]
fn kyverno_vuln_attestation_condition_refuses_a_report_without_scan_time() {
    let f = fixture();
    let policy = generated().join("kyverno-clusterpolicy.yaml");
    let run = kyverno_apply(&policy, &f.unscanned, &[]);
    assert_verdict(&run, false, "no scan time");
    assert!(
        run.stdout.contains("metadata.scanFinishedOn is the zero time"),
        "refused by the scan-time condition: {run:?}"
    );
}

#[test]
fn kyverno_image_validating_policy_needs_sigstore_tuf_even_for_a_private_pki() {
    let f = fixture();
    let policy = generated().join("kyverno-imagevalidatingpolicy.yaml");
    // The CLI prints only the policy's message; its log (-v 6) says why.
    let run = kyverno_apply(&policy, &f.signed, &["-v", "6"]);
    assert_verdict(&run, false, "an air-gapped keyless ImageValidatingPolicy");
    let all = format!("{}{}", run.stdout, run.stderr);
    assert!(
        all.contains(r#"failed to initialize TUF client (mirror=\"https://tuf-repo-cdn.sigstore.dev\")"#),
        "refused because Sigstore's TUF mirror is unreachable: {run:?}"
    );
}
