//! `verify --trust-config` and `verify-attestation --trust-config` with flags beside them: flags
//! that can only make verification stricter (`--crl`, `--require-code-signing-eku`, `-a`) are
//! honoured, flags that would replace the configuration's trust are refused naming the flag; the
//! configuration's own `crls` are checked and its `tsa` section makes a timestamp required, as
//! the generated admission policies require one. Also: with both CAs and keys configured, an
//! identity policy applies to key-only signatures too.

use ironsign_e2e::*;
use std::path::{Path, PathBuf};

const IDENTITY: &str = "signer@example.com";

/// Writes `trust.yaml` in `dir`: the test root and intermediate, the test identity, every
/// repository of the plain registry under `e2e/`, then `extra` (YAML lines).
fn write_config(dir: &Path, extra: &str) -> PathBuf {
    let text = format!(
        "version: 1\nimages: [\"{}/e2e/**\"]\nroots:\n  - file: {}\nintermediates:\n  - file: {}\nidentity:\n  san: {IDENTITY}\n{extra}",
        registry(RegistryKind::Plain),
        pki_file("root.pem"),
        pki_file("inter.pem"),
    );
    let path = dir.join("trust.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Signs `image` with the test leaf `leaf` (its key and certificate) and the test chain.
fn sign_with(leaf: &str, image: &str, extra: &[&str]) {
    let (key, cert, chain) =
        (pki_file(&format!("{leaf}.key")), pki_file(&format!("{leaf}.pem")), pki_file("chain.pem"));
    let mut args = vec!["sign", "--key", &key, "--certificate", &cert, "--certificate-chain", &chain];
    args.extend_from_slice(extra);
    args.push(image);
    ironsign(&args).ok();
}

/// Attests `image` (predicate type custom) with the test leaf `leaf`.
fn attest_with(leaf: &str, image: &str, dir: &Path, extra: &[&str]) {
    let predicate = dir.join("predicate.json");
    std::fs::write(&predicate, r#"{"hello":"world"}"#).unwrap();
    let (key, cert, chain) =
        (pki_file(&format!("{leaf}.key")), pki_file(&format!("{leaf}.pem")), pki_file("chain.pem"));
    let mut args = vec!["attest", "--type", "custom", "--predicate", predicate.to_str().unwrap()];
    args.extend(["--key", &key, "--certificate", &cert, "--certificate-chain", &chain]);
    args.extend_from_slice(extra);
    args.push(image);
    ironsign(&args).ok();
}

fn verify_config(config: &Path, extra: &[&str], image: &str) -> Run {
    let mut args = vec!["verify", "--trust-config", config.to_str().unwrap(), "-o", "json"];
    args.extend_from_slice(extra);
    args.push(image);
    ironsign(&args)
}

fn verify_attestation_config(config: &Path, extra: &[&str], image: &str) -> Run {
    let mut args = vec!["verify-attestation", "--type", "custom", "--trust-config", config.to_str().unwrap()];
    args.extend(["-o", "json"]);
    args.extend_from_slice(extra);
    args.push(image);
    ironsign(&args)
}

#[test]
fn a_revoked_signer_fails_through_a_trust_config() {
    let dir = tempfile::tempdir().unwrap();
    let (_, image) = push_image(&unique_repo("tc-crl"));
    sign_with("leaf", &image, &[]);
    attest_with("leaf", &image, dir.path(), &[]);
    let revoked = dir.path().join("revoked.pem");
    make_crl(dir.path(), "inter", &["leaf"], None, &revoked);
    let revoked = revoked.to_str().unwrap();
    let plain = write_config(dir.path(), "");

    verify_config(&plain, &[], &image).ok();
    verify_attestation_config(&plain, &[], &image).ok();
    // --crl beside --trust-config: honoured (it was dropped silently).
    assert_eq!(rejection_codes(&verify_config(&plain, &["--crl", revoked], &image).code(12)), ["CERT_REVOKED"]);
    let run = verify_attestation_config(&plain, &["--crl", revoked], &image).code(12);
    assert_eq!(rejection_codes(&run), ["CERT_REVOKED"]);

    // The configuration's own CRLs: a file, or inline PEM.
    let in_file = write_config(dir.path(), &format!("crls:\n  - file: {revoked}\n"));
    assert_eq!(rejection_codes(&verify_config(&in_file, &[], &image).code(12)), ["CERT_REVOKED"]);
    assert_eq!(rejection_codes(&verify_attestation_config(&in_file, &[], &image).code(12)), ["CERT_REVOKED"]);
    let pem = std::fs::read_to_string(revoked).unwrap().replace('\n', "\n      ");
    let inline = write_config(dir.path(), &format!("crls:\n  - pem: |\n      {pem}\n"));
    assert_eq!(rejection_codes(&verify_config(&inline, &[], &image).code(12)), ["CERT_REVOKED"]);
    // A configured CRL that is not one fails closed, naming the entry.
    let bad = write_config(dir.path(), &format!("crls:\n  - file: {}\n", pki_file("root.pem")));
    let run = verify_config(&bad, &[], &image).code(3);
    assert!(run.stderr.contains("crls[0]"), "{}", run.stderr);
}

#[test]
fn flags_beside_a_trust_config_are_honoured_or_refused() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "");
    let (_, image) = push_image(&unique_repo("tc-flags"));
    sign_with("leaf-noeku", &image, &["-a", "env=prod"]);
    attest_with("leaf-noeku", &image, dir.path(), &[]);

    verify_config(&config, &[], &image).ok();
    // --require-code-signing-eku: honoured by both commands.
    let run = verify_config(&config, &["--require-code-signing-eku"], &image).code(12);
    assert_eq!(rejection_codes(&run), ["CERT_NO_CODE_SIGNING"]);
    let run = verify_attestation_config(&config, &["--require-code-signing-eku"], &image).code(12);
    assert_eq!(rejection_codes(&run), ["CERT_NO_CODE_SIGNING"]);
    // -a: honoured by both commands (verify refused it, verify-attestation applied it).
    verify_config(&config, &["-a", "env=prod"], &image).ok();
    assert_eq!(rejection_codes(&verify_config(&config, &["-a", "env=dev"], &image).code(12)), ["ANNOTATION_MISMATCH"]);
    let run = verify_attestation_config(&config, &["-a", "env=dev"], &image).code(12);
    assert_eq!(rejection_codes(&run), ["ANNOTATION_MISMATCH"]);

    // Flags that would replace the configuration's trust: refused, naming the flag.
    let (root, inter, chain, key) =
        (pki_file("root.pem"), pki_file("inter.pem"), pki_file("chain.pem"), pki_file("leaf.pub"));
    let tsa_chain = pki_file("tsa-ecdsa-chain.pem");
    let replacing: [(&str, &str); 9] = [
        ("--key", &key),
        ("--ca-roots", &root),
        ("--ca-intermediates", &inter),
        ("--certificate-chain", &chain),
        ("--timestamp-certificate-chain", &tsa_chain),
        ("--certificate-identity", IDENTITY),
        ("--certificate-identity-regexp", ".*"),
        ("--certificate-subject", "CN=x"),
        ("--certificate-subject-regexp", ".*"),
    ];
    for (flag, value) in replacing {
        for run in
            [verify_config(&config, &[flag, value], &image), verify_attestation_config(&config, &[flag, value], &image)]
        {
            let run = run.code(3);
            assert!(run.stderr.contains(flag), "{flag}: {}", run.stderr);
        }
    }
}

#[test]
fn a_trust_config_with_a_tsa_requires_timestamps() {
    let tsa = Tsa::start();
    let url = tsa.url("ecdsa", None);
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        &format!("tsa:\n  chain:\n    file: {}\nattestations:\n  - type: custom\n", pki_file("tsa-ecdsa-chain.pem")),
    );

    // Signed and attested with timestamps: passes, with the timestamp checked.
    let (_, stamped) = push_image(&unique_repo("tc-tsa"));
    sign_with("leaf", &stamped, &["--timestamp-server-url", &url]);
    attest_with("leaf", &stamped, dir.path(), &["--timestamp-server-url", &url]);
    let result = verify_config(&config, &[], &stamped).ok().json();
    assert_eq!(result["signature"]["signatures"][0]["checks"][0], "timestamp", "{result}");
    assert!(result["attestations"][0]["attestations"][0]["timestamp"].is_object(), "{result}");
    verify_attestation_config(&config, &[], &stamped).ok();

    // No timestamp on the signature: refused, as the generated policies refuse it.
    let (_, unstamped) = push_image(&unique_repo("tc-tsa-none"));
    sign_with("leaf", &unstamped, &[]);
    attest_with("leaf", &unstamped, dir.path(), &["--timestamp-server-url", &url]);
    assert_eq!(rejection_codes(&verify_config(&config, &[], &unstamped).code(12)), ["TIMESTAMP_MISSING"]);

    // A timestamped signature but an attestation without one: refused too.
    let (_, half) = push_image(&unique_repo("tc-tsa-half"));
    sign_with("leaf", &half, &["--timestamp-server-url", &url]);
    attest_with("leaf", &half, dir.path(), &[]);
    assert_eq!(rejection_codes(&verify_config(&config, &[], &half).code(12)), ["TIMESTAMP_MISSING"]);
    assert_eq!(rejection_codes(&verify_attestation_config(&config, &[], &half).code(12)), ["TIMESTAMP_MISSING"]);

    // A timestamp from another TSA than the configured one: refused.
    let rsa_config =
        write_config(dir.path(), &format!("tsa:\n  chain:\n    file: {}\n", pki_file("tsa-rsa-chain.pem")));
    assert_eq!(rejection_codes(&verify_config(&rsa_config, &[], &stamped).code(12)), ["TIMESTAMP_UNTRUSTED"]);
}

#[test]
fn an_identity_policy_applies_to_key_only_signatures() {
    let (_, image) = push_image(&unique_repo("key-and-ca"));
    ironsign(&["sign", "--key", &pki_file("leaf.key"), &image]).ok();
    let reference = ironsign::ImageReference::parse(&image).unwrap();
    let signed = block_on(async { client().fetch_signatures(&reference).await.unwrap() });
    let read = |name: &str| std::fs::read(pki().join(name)).unwrap();
    let roots = ironsign::Certificate::from_pem_many(&read("root.pem"), "root", 10).unwrap();
    let inters = ironsign::Certificate::from_pem_many(&read("inter.pem"), "inter", 10).unwrap();
    let key = ironsign::PublicKey::from_pem(&read("leaf.pub"), "leaf.pub").unwrap();
    let both = ironsign::TrustRoot::from_certificates(roots, inters).unwrap().with_public_keys(vec![key.clone()]);
    let verifier = ironsign::Verifier::new(both);

    // An identity is required: the key-only signature carries none.
    let policy = ironsign::Policy::identity(ironsign::verify::Identity::san(IDENTITY));
    let err = verifier.verify(&signed, &policy).unwrap_err();
    let ironsign::Error::Verification(ironsign::VerificationError::NoMatchingSignature { rejections, .. }) = &err
    else {
        panic!("{err:?}");
    };
    assert_eq!(rejections[0].code, "IDENTITY_MISMATCH", "{err}");
    // Explicitly any identity: the key decides.
    verifier.verify(&signed, &ironsign::Policy::dangerous_any_identity()).unwrap();
    // Key trust alone: as before.
    ironsign::Verifier::new(ironsign::TrustRoot::default().with_public_keys(vec![key]))
        .verify(&signed, &ironsign::Policy::key_only())
        .unwrap();

    // The CLI refuses the combination (certificate trust always needs an identity there).
    let run = ironsign(&[
        "verify",
        "--key",
        &pki_file("leaf.pub"),
        "--ca-roots",
        &pki_file("root.pem"),
        "--certificate-identity",
        IDENTITY,
        &image,
    ])
    .code(3);
    assert!(run.stderr.contains("--key"), "{}", run.stderr);
}
