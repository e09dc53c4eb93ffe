//! Issue 15: instructions that verify by the signing public key, proven by the real consumers.
//!
//! The signer of the target pipeline signs with a DoD-shaped certificate (`scripts/gen-test-pki`'s
//! `dod-leaf.pem`: extended key usage serverAuth, clientAuth; no codeSigning), which the chain
//! verification of cosign, Kyverno, policy-controller and containers/image refuses. Two trust
//! configurations describe it: one anchored on its key (`keys:`), one on its roots and identity,
//! given the signing certificate (`instructions --certificate dod-leaf.pem`), from which the
//! generator switches every consumer to the certificate's key and says why. Images on the TLS
//! test registry: signed and attested with that certificate; signed and attested with another key
//! (whose certificate chains validly to another root); unsigned. Kyverno v1.19.1's CLI (both
//! policies), sigstore's policy-tester, containers/image (podman-policy-check) and the generated
//! cosign v2 and v3 scripts: pass, fail, fail.

use ironsign_e2e::*;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

const DOD_SAN: &str = "pipeline.example.mil";

struct Fixture {
    _dir: tempfile::TempDir,
    dir: PathBuf,
    /// Anchored on the DoD leaf's public key.
    key_config: PathBuf,
    /// Anchored on the DoD root, the intermediate and the leaf's SAN.
    chain_config: PathBuf,
    signed: String,
    other_key: String,
    unsigned: String,
}

impl Fixture {
    fn images(&self) -> [(&'static str, &str, bool); 3] {
        [("signed", &self.signed, true), ("other key", &self.other_key, false), ("unsigned", &self.unsigned, false)]
    }
}

fn sign_and_attest(image: &str, key: &str, cert: &str, chain: &str) {
    let (key, cert, chain, ca) = (pki_file(key), pki_file(cert), pki_file(chain), tls_ca());
    let signing = ["--key", &key, "--certificate", &cert, "--certificate-chain", &chain, "--registry-cacert", &ca];
    ironsign(&[&["sign"][..], &signing, &[image]].concat()).ok();
    let report = repo_root().join("examples/quickstart/trivy-report.json");
    let attest = ["attest", "--type", "vuln", "--predicate", report.to_str().unwrap()];
    ironsign(&[&attest[..], &signing, &[image]].concat()).ok();
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let addr = registry(RegistryKind::Tls);
        let repository = format!("{addr}/{}", unique_repo("by-key"));
        let client = tls_client();
        let signed = push_unique_image(&client, &format!("{repository}/signed:v1"));
        let other_key = push_unique_image(&client, &format!("{repository}/other-key:v1"));
        let unsigned = push_unique_image(&client, &format!("{repository}/unsigned:v1"));
        sign_and_attest(&signed, "dod-leaf.key", "dod-leaf.pem", "dod-chain.pem");
        sign_and_attest(&other_key, "leaf.key", "leaf.pem", "chain.pem");

        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().to_owned();
        for (from, to) in
            [("dod-leaf.pub", "signing.pub"), ("dod-root.pem", "root.pem"), ("dod-inter.pem", "inter.pem")]
        {
            std::fs::copy(pki_file(from), path.join(to)).unwrap();
        }
        let head = format!("version: 1\nname: dod\nimages: [\"{repository}/*\"]\nattestations:\n  - type: vuln\n");
        let key_config = path.join("by-key.yaml");
        std::fs::write(&key_config, format!("{head}keys:\n  - file: signing.pub\n")).unwrap();
        let chain_config = path.join("by-chain.yaml");
        std::fs::write(
            &chain_config,
            format!(
                "{head}roots:\n  - file: root.pem\nintermediates:\n  - file: inter.pem\nidentity:\n  san: {DOD_SAN}\n"
            ),
        )
        .unwrap();
        Fixture { dir: path, _dir: dir, key_config, chain_config, signed, other_key, unsigned }
    })
}

/// The two ways of describing the DoD signer, each with the arguments that make the generator
/// verify by key.
fn configurations() -> Vec<(&'static str, Vec<String>)> {
    let f = fixture();
    let arg = |p: &Path| p.to_str().unwrap().to_owned();
    vec![
        ("key anchor", vec!["--trust-config".into(), arg(&f.key_config)]),
        (
            "roots and the certificate",
            vec!["--trust-config".into(), arg(&f.chain_config), "--certificate".into(), pki_file("dod-leaf.pem")],
        ),
        // The key anchor with the certificate too (its key matches): the same policies.
        (
            "key anchor and the certificate",
            vec!["--trust-config".into(), arg(&f.key_config), "--certificate".into(), pki_file("dod-leaf.pem")],
        ),
    ]
}

/// The roots-and-certificate configuration without the required attestation.
fn without_attestations() -> Vec<String> {
    let f = fixture();
    let text = std::fs::read_to_string(&f.chain_config).unwrap().replace("attestations:\n  - type: vuln\n", "");
    let config = f.dir.join("by-chain-no-attestations.yaml");
    std::fs::write(&config, text).unwrap();
    ["--trust-config", config.to_str().unwrap(), "--certificate", &pki_file("dod-leaf.pem")].map(str::to_owned).to_vec()
}

/// `ironsign instructions FORMAT ARGS… --output-dir` into a fresh directory.
fn generate(format: &str, args: &[String], extra: &[&str]) -> (PathBuf, Run) {
    let out = fixture().dir.join(format!("out-{format}-{}", unique_repo("g").replace('/', "-")));
    let mut all = vec!["instructions", format, "--output-dir", out.to_str().unwrap()];
    all.extend(args.iter().map(String::as_str));
    all.extend_from_slice(extra);
    let run = ironsign(&all).ok();
    (out, run)
}

#[test]
fn kyverno_policies_by_key_pass_only_images_signed_by_that_key() {
    let f = fixture();
    for (what, args) in configurations() {
        let (out, _) = generate("kyverno", &args, &[]);
        let cluster_policy = out.join("kyverno-clusterpolicy.yaml");
        let text = std::fs::read_to_string(&cluster_policy).unwrap();
        assert!(text.contains("publicKeys:") && !text.contains("keyless:"), "{what}: {text}");
        assert!(text.contains("ignoreTlog: true") && text.contains("ignoreSCT: true"), "{what}: {text}");
        for (image_what, image, passes) in f.images() {
            let run = kyverno_apply(&f.dir, &cluster_policy, image, &[]);
            assert_kyverno_verdict(&run, passes, &format!("{what}: ClusterPolicy, {image_what}"));
            let reason = match image_what {
                "unsigned" => "no signatures found",
                "other key" => "invalid signature",
                _ => "",
            };
            assert!(run.stdout.contains(reason), "{what}, {image_what}: expected {reason:?}: {run:?}");
        }
        // Kyverno's ImageValidatingPolicy refuses every attestation verified offline (the finding
        // its header states): even the signed and attested image fails, for that reason.
        let image_validating = out.join("kyverno-imagevalidatingpolicy.yaml");
        let text = std::fs::read_to_string(&image_validating).unwrap();
        assert!(text.contains("Use the ClusterPolicy to\n#   require attestations"), "{what}: {text}");
        let run = kyverno_apply(&f.dir, &image_validating, &f.signed, &["-v", "6"]);
        assert_kyverno_verdict(&run, false, &format!("{what}: ImageValidatingPolicy with attestations"));
        let all = format!("{}{}", run.stdout, run.stderr);
        assert!(all.contains("cosign bundle verification failed"), "{what}: refused for that reason: {run:?}");
    }
}

#[test]
fn kyverno_image_validating_policy_by_key_works_offline_for_signatures() {
    // A key attestor with insecureIgnoreTlog skips Sigstore's TUF: the ImageValidatingPolicy,
    // which cannot work offline with a keyless attestor (tests/tests/kyverno.rs), verifies
    // signatures here. Without required attestations (see above).
    let f = fixture();
    let (out, _) = generate("kyverno", &without_attestations(), &[]);
    let image_validating = out.join("kyverno-imagevalidatingpolicy.yaml");
    let text = std::fs::read_to_string(&image_validating).unwrap();
    assert!(text.contains("data:") && !text.contains("keyless:") && !text.contains("attestation"), "{text}");
    for (what, image, passes) in f.images() {
        let run = kyverno_apply(&f.dir, &image_validating, image, &[]);
        assert_kyverno_verdict(&run, passes, &format!("ImageValidatingPolicy, {what}"));
    }
}

#[test]
fn policy_tester_applies_the_key_cluster_image_policy() {
    let f = fixture();
    let tester = tool("policy-tester", "v0.13.1");
    let ca = tls_ca();
    let mut cases = configurations();
    cases.push(("signatures only", without_attestations()));
    for (what, args) in cases {
        let (out, _) = generate("policy-controller", &args, &[]);
        // A key authority needs no TrustRoot, and none is written.
        assert!(!out.join("policy-controller-trustroot.yaml").exists(), "{what}");
        let policy = out.join("policy-controller-clusterimagepolicy.yaml");
        let text = std::fs::read_to_string(&policy).unwrap();
        assert!(text.contains("key:") && !text.contains("keyless:"), "{what}: {text}");
        for (image_what, image, expected) in f.images() {
            let run =
                run(&tester, &["--policy", policy.to_str().unwrap(), "--image", image], &[("SSL_CERT_FILE", &ca)]);
            assert_eq!(run.code == 0, expected, "{what}, {image_what}: {run:?}");
            // The other key's signature and attestation both fail; policy-controller reports the
            // attestation when one is required.
            let reason = match (image_what, what) {
                ("signed", _) => "",
                ("unsigned", "signatures only") => "no signatures found",
                (_, "signatures only") => "signature key validation failed",
                ("unsigned", _) => "no matching attestations",
                _ => "accepted signatures do not match threshold",
            };
            assert!(run.stdout.contains(reason), "{what}, {image_what}: expected {reason:?}: {run:?}");
        }
    }
}

#[test]
fn containers_image_applies_the_key_policy() {
    let f = fixture();
    let check = tool("podman-policy-check", "v5.42.0-1");
    let ca = tls_ca();
    for (what, args) in configurations() {
        let certs = f.dir.join(format!("podman-{}", unique_repo("c").replace('/', "-")));
        let (out, _) = generate("podman", &args, &["--podman-certificate-dir", certs.to_str().unwrap()]);
        std::fs::create_dir_all(&certs).unwrap();
        std::fs::copy(out.join("dod-signing-key.pub"), certs.join("dod-signing-key.pub")).unwrap();
        let policy = std::fs::read_to_string(out.join("policy.json")).unwrap();
        assert!(policy.contains("keyPath") && !policy.contains("\"pki\""), "{what}: {policy}");
        let registries_d = out.join("registries.d");
        let registries = std::fs::read_to_string(registries_d.join("dod.yaml")).unwrap();
        assert!(registries.contains("use-sigstore-attachments: true"), "{registries}");
        for (image_what, image, expected) in f.images() {
            let args = [
                "--policy",
                out.join("policy.json").to_str().unwrap(),
                "--registries.d",
                registries_d.to_str().unwrap(),
                image,
            ]
            .map(str::to_owned);
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let run = run(&check, &args, &[("SSL_CERT_FILE", &ca)]);
            assert_eq!(run.code, if expected { 0 } else { 1 }, "{what}, {image_what}: {run:?}");
            let reason = match image_what {
                "unsigned" => "no signature exists",
                "other key" => "signature verification failed",
                _ => "allowed",
            };
            assert!(run.stdout.contains(reason), "{what}, {image_what}: expected {reason:?}: {run:?}");
        }
    }
}

#[test]
fn cosign_scripts_by_key_pass_with_cosign_v2_and_v3() {
    let f = fixture();
    for (what, args) in configurations() {
        let (out, _) = generate("cosign", &args, &[]);
        for (version, script) in [(Cosign::V2, "verify-cosign-v2.sh"), (Cosign::V3, "verify-cosign-v3.sh")] {
            let text = std::fs::read_to_string(out.join(script)).unwrap();
            assert!(text.contains("--key dod-signing-key.pub") && text.contains("--insecure-ignore-tlog"), "{text}");
            // (The reason mentions --ca-roots; no command line uses it.)
            assert!(!text.contains("  --ca-roots") && text.contains("codeSigning"), "{what}: {text}");
            assert!(text.contains("verify-attestation"), "{what}: the vuln attestation is verified too: {text}");
            for (image_what, image, expected) in f.images() {
                let (passed, log) = run_cosign_script(version, &out.join(script), image);
                assert_eq!(passed, expected, "{what}, {version:?}, {image_what}: {log}");
                let reason = match image_what {
                    "unsigned" => "no signatures found",
                    "other key" => "invalid signature",
                    _ => "",
                };
                assert!(log.contains(reason), "{what}, {version:?}, {image_what}: expected {reason:?}: {log}");
            }
        }
    }
}

#[test]
fn the_page_says_why_by_key_and_who_signs() {
    let f = fixture();
    let (_, roots_and_certificate) = configurations().remove(1);
    let root =
        ironsign::Certificate::from_pem_or_der(&std::fs::read(pki_file("dod-root.pem")).unwrap(), "root").unwrap();
    let fingerprint = ironsign::instructions::colon_fingerprint(&root.summary().sha256_fingerprint);
    for (format, file) in [("markdown", "verify.md"), ("html", "verify.html")] {
        let (out, run) = generate(format, &roots_and_certificate, &[&f.signed]);
        assert!(run.stderr.contains("lacks codeSigning"), "the CLI says it switched: {run:?}");
        let page = std::fs::read_to_string(out.join(file)).unwrap();
        for expected in [
            "Why by key",
            "serverAuth, clientAuth",
            // Every consumer that requires codeSigning, and where it does.
            "TrustedCert",
            "Kyverno",
            "policy-controller",
            "verifyPKI",
            // The chain still identifies the signer for people.
            "still identifies the signer",
            DOD_SAN,
            &fingerprint,
            "--key dod-signing-key.pub",
        ] {
            assert!(page.contains(expected), "{format}: {expected:?} missing:\n{page}");
        }
        assert!(!page.contains("  --ca-roots"), "{format}: {page}");
    }
}

#[test]
fn a_certificate_that_is_not_the_signers_is_refused() {
    let f = fixture();
    let config = |p: &Path| p.to_str().unwrap().to_owned();
    let instructions = |trust: &Path, certificate: &str| {
        ironsign(&[
            "instructions",
            "kyverno",
            "--trust-config",
            &config(trust),
            "--certificate",
            &pki_file(certificate),
        ])
    };
    // Another signer's certificate beside a key anchor: its key would not be the anchor's.
    let run = instructions(&f.key_config, "leaf.pem").code(3);
    assert!(run.stderr.contains("Error [INVALID_ARGUMENT]"), "{run:?}");
    assert!(run.stderr.contains("not the configuration's key"), "{run:?}");
    // A certificate from another PKI beside roots: its key must not be pinned in every policy.
    let run = instructions(&f.chain_config, "attacker-leaf.pem");
    assert_ne!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains("Error [CERT_UNTRUSTED_CHAIN]"), "{run:?}");
    // Same PKI, same usage problem, another name: the identity decides.
    let other_name = f.dir.join("other-name.yaml");
    let text = std::fs::read_to_string(&f.chain_config).unwrap().replace(DOD_SAN, "other.example.mil");
    std::fs::write(&other_name, text).unwrap();
    let run = instructions(&other_name, "dod-leaf.pem").code(3);
    assert!(run.stderr.contains("identity mismatch"), "{run:?}");
    // A file that is not a certificate.
    let run = instructions(&f.chain_config, "dod-leaf.pub");
    assert_ne!(run.code, 0, "{run:?}");
}

#[test]
fn only_a_certificate_whose_eku_lacks_code_signing_switches_to_its_key() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(pki_file("root.pem"), dir.path().join("root.pem")).unwrap();
    std::fs::copy(pki_file("inter.pem"), dir.path().join("inter.pem")).unwrap();
    let config = dir.path().join("trust.yaml");
    std::fs::write(
        &config,
        "version: 1\nimages: [\"registry.example/team/*\"]\nroots: [{file: root.pem}]\nintermediates: [{file: inter.pem}]\nidentity: {san: signer@example.com}\n",
    )
    .unwrap();
    let config = config.to_str().unwrap();
    // codeSigning, or no extended key usage at all (Go's x509 accepts both): by chain.
    for leaf in ["leaf.pem", "leaf-noeku.pem"] {
        for format in ["cosign", "kyverno", "policy-controller", "podman", "markdown"] {
            let run =
                ironsign(&["instructions", format, "--trust-config", config, "--certificate", &pki_file(leaf)]).ok();
            assert!(
                !run.stdout.contains("Why by key") && !run.stderr.contains("lacks codeSigning"),
                "{format}: {run:?}"
            );
            let chain_based = match format {
                "cosign" | "markdown" => "--ca-roots",
                "kyverno" | "policy-controller" => "keyless:",
                _ => "caRootsPath",
            };
            assert!(run.stdout.contains(chain_based), "{leaf} {format}: {run:?}");
        }
    }
    // serverAuth only, under the same root and with the same SAN: by its key.
    let run = ironsign(&[
        "instructions",
        "kyverno",
        "--trust-config",
        config,
        "--certificate",
        &pki_file("leaf-serverauth.pem"),
    ])
    .ok();
    assert!(run.stdout.contains("publicKeys:") && !run.stdout.contains("keyless:"), "{run:?}");
    // Another identity under the same root: refused before any usage is looked at.
    let run = ironsign(&[
        "instructions",
        "kyverno",
        "--trust-config",
        config,
        "--certificate",
        &pki_file("leaf-otherid.pem"),
    ])
    .code(3);
    assert!(run.stderr.contains("identity mismatch") && run.stderr.contains("someone-else@example.com"), "{run:?}");
}

#[test]
fn a_configuration_with_both_keys_and_roots_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(pki_file("dod-leaf.pub"), dir.path().join("signing.pub")).unwrap();
    std::fs::copy(pki_file("dod-root.pem"), dir.path().join("root.pem")).unwrap();
    let config = dir.path().join("trust.yaml");
    std::fs::write(
        &config,
        format!(
            "version: 1\nimages: [\"registry.example/team/*\"]\nkeys: [{{file: signing.pub}}]\nroots: [{{file: root.pem}}]\nidentity: {{san: {DOD_SAN}}}\n"
        ),
    )
    .unwrap();
    let run = ironsign(&[
        "instructions",
        "kyverno",
        "--trust-config",
        config.to_str().unwrap(),
        "--certificate",
        &pki_file("dod-leaf.pem"),
    ])
    .code(3);
    assert!(run.stderr.contains("Error [INVALID_TRUST_CONFIG]") && run.stderr.contains("not both"), "{run:?}");
}

#[test]
fn what_a_key_based_policy_cannot_express_is_refused_not_dropped() {
    let parse = |text: &str| {
        ironsign::TrustConfig::parse(text, |file| {
            std::fs::read(pki().join(file))
                .map_err(|e| ironsign::InputError::Io { path: file.into(), reason: e.to_string() }.into())
        })
        .unwrap()
    };
    let images = "version: 1\nimages: [\"registry.example/team/*\"]\n";
    let options = ironsign::InstructionsOptions::default();
    // Two keys: cosign takes one --key and each policy names one key.
    let two = parse(&format!("{images}keys: [{{file: dod-leaf.pub}}, {{file: leaf.pub}}]\n"));
    for format in ironsign::InstructionsFormat::ALL {
        let err = ironsign::instructions::generate(format, &two, None, &options).unwrap_err();
        assert_eq!(err.code(), "INVALID_ARGUMENT", "{format:?}");
        assert!(err.to_string().contains("list one key"), "{format:?}: {err}");
    }
    // A required timestamp: carried by cosign and Kyverno, refused by policy-controller (a key
    // authority would need a TrustRoot holding only the TSA), never silently dropped.
    let tsa = parse(&format!("{images}keys: [{{file: dod-leaf.pub}}]\ntsa:\n  chain: {{file: chain.pem}}\n"));
    let text = |format| ironsign::instructions::generate(format, &tsa, None, &options).map(|i| i.to_text());
    assert!(text(ironsign::InstructionsFormat::Cosign).unwrap().contains("--use-signed-timestamps"));
    assert!(text(ironsign::InstructionsFormat::Kyverno).unwrap().contains("tsaCertChain"));
    let err = text(ironsign::InstructionsFormat::PolicyController).unwrap_err();
    assert!(err.to_string().contains("tsa") && err.to_string().contains("not generated"), "{err}");
    // The basis is reported with the files.
    let dod = parse(&format!(
        "{images}roots: [{{file: dod-root.pem}}]\nintermediates: [{{file: dod-inter.pem}}]\nidentity: {{san: {DOD_SAN}}}\n"
    ));
    let leaf =
        ironsign::Certificate::from_pem_or_der(&std::fs::read(pki_file("dod-leaf.pem")).unwrap(), "dod").unwrap();
    let options = ironsign::InstructionsOptions { signing_certificate: Some(leaf), ..Default::default() };
    let generated =
        ironsign::instructions::generate(ironsign::InstructionsFormat::Podman, &dod, None, &options).unwrap();
    match generated.verification {
        ironsign::instructions::VerificationBasis::CertificateKey { extended_key_usage, .. } => {
            assert_eq!(extended_key_usage, ["serverAuth", "clientAuth"])
        }
        other => panic!("{other:?}"),
    }
}
