//! Keys in a PKCS#11 token: a SoftHSM2 token made by `scripts/softhsm-token` holds the test
//! PKI's P-256 and RSA leaf keys and certificates. ironsign signs, attests and makes CSRs with
//! them, and the signatures verify with ironsign and both cosign releases.

use ironsign_e2e::*;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
const IDENTITY: &str = "signer@example.com";

/// The SOFTHSM2_CONF of a token in `dir` (the script is idempotent and locked).
fn token_conf(dir: &Path) -> String {
    let out = std::process::Command::new(repo_root().join("scripts/softhsm-token"))
        .args([dir.to_str().unwrap(), pki().to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "scripts/softhsm-token: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// The shared token's SOFTHSM2_CONF (made once per test process). Tests only read it: SoftHSM's
/// file store fails readers (CKR_GENERAL_ERROR) while another process writes a new key into it,
/// so a test that generates keys uses a token of its own.
fn softhsm_conf() -> &'static str {
    static CONF: OnceLock<String> = OnceLock::new();
    CONF.get_or_init(|| token_conf(&pki().join("softhsm")))
}

/// ironsign with the shared token's configuration and `env`.
fn with_token(args: &[&str], env: &[(&str, &str)]) -> Run {
    with_token_conf(softhsm_conf(), args, env)
}

/// ironsign with the token configuration `conf` and `env`.
fn with_token_conf(conf: &str, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut all = vec![("SOFTHSM2_CONF", conf)];
    all.extend_from_slice(env);
    ironsign_env(args, &all)
}

fn uri(object: &str) -> String {
    format!("pkcs11:token=ironsign;object={object}?module-path={MODULE}&pin-value=1234")
}

fn cosign_verify_chain(version: Cosign, image: &str) -> Run {
    let chain = pki_file("chain.pem");
    let mut args = vec!["verify", "--allow-http-registry", "--certificate-chain", &chain];
    args.extend(["--certificate-identity", IDENTITY, "--certificate-oidc-issuer-regexp", ".*"]);
    args.extend(["--insecure-ignore-tlog", "--insecure-ignore-sct"]);
    args.extend(version.legacy_flags(false));
    args.push(image);
    run(&version.bin(), &args, &[])
}

#[test]
fn signs_with_token_keys_and_cosign_verifies() {
    let chain = pki_file("chain.pem");
    let root = pki_file("root.pem");
    // P-256, everything in the URI; the certificate comes from the token.
    let (_, image) = push_image(&unique_repo("hsm-ec"));
    with_token(&["sign", "--key", &uri("signer"), "--certificate-chain", &chain, &image], &[]).ok();
    // RSA, addressed by id, PIN and module from the environment (cosign's names).
    let (_, rsa_image) = push_image(&unique_repo("hsm-rsa"));
    with_token(
        &["sign", "--key", "pkcs11:token=ironsign;id=%02", "--certificate-chain", &chain, &rsa_image],
        &[("COSIGN_PKCS11_PIN", "1234"), ("COSIGN_PKCS11_MODULE_PATH", MODULE)],
    )
    .ok();
    for (image, subject_key) in [(&image, "leaf.pub"), (&rsa_image, "")] {
        let result =
            ironsign(&["verify", "--ca-roots", &root, "--certificate-identity", IDENTITY, "-o", "json", image])
                .ok()
                .json();
        assert_eq!(result["signatures"][0]["matched_identity"], IDENTITY);
        for version in Cosign::ALL {
            cosign_verify_chain(version, image).ok();
        }
        if !subject_key.is_empty() {
            // Key trust too, with the public key of the token's key.
            let public = pki_file(subject_key);
            ironsign(&["verify", "--key", &public, image]).ok();
        }
    }
}

#[test]
fn attests_with_a_token_key() {
    let chain = pki_file("chain.pem");
    let root = pki_file("root.pem");
    let dir = tempfile::tempdir().unwrap();
    let predicate = dir.path().join("p.json");
    std::fs::write(&predicate, r#"{"hello":"hsm"}"#).unwrap();
    let (_, image) = push_image(&unique_repo("hsm-attest"));
    with_token(
        &[
            "attest",
            "--key",
            &uri("signer"),
            "--certificate-chain",
            &chain,
            "--type",
            "custom",
            "--predicate",
            predicate.to_str().unwrap(),
            &image,
        ],
        &[],
    )
    .ok();
    ironsign(&[
        "verify-attestation",
        "--type",
        "custom",
        "--ca-roots",
        &root,
        "--certificate-identity",
        IDENTITY,
        &image,
    ])
    .ok();
    let mut args =
        vec!["verify-attestation", "--allow-http-registry", "--type", "custom", "--certificate-chain", &chain];
    args.extend(["--certificate-identity", IDENTITY, "--certificate-oidc-issuer-regexp", ".*"]);
    args.extend(["--insecure-ignore-tlog", "--insecure-ignore-sct", &image]);
    run(&Cosign::V2.bin(), &args, &[]).ok();
}

#[test]
fn csr_with_existing_and_new_token_keys() {
    let dir = tempfile::tempdir().unwrap();
    let verify_csr = |path: &PathBuf| {
        let out = std::process::Command::new("openssl")
            .args(["req", "-verify", "-noout", "-in", path.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(out.status.success(), "openssl req -verify: {}", String::from_utf8_lossy(&out.stderr));
    };
    // The existing key (a renewal keeps it): the CSR's key is the token key's.
    let csr = dir.path().join("existing.csr");
    with_token(
        &["csr", "--key", &uri("signer"), "--from-cert", &pki_file("leaf.pem"), "--output-file", csr.to_str().unwrap()],
        &[],
    )
    .ok();
    verify_csr(&csr);
    let csr_key = std::process::Command::new("openssl")
        .args(["req", "-in", csr.to_str().unwrap(), "-noout", "-pubkey"])
        .output()
        .unwrap()
        .stdout;
    assert_eq!(String::from_utf8(csr_key).unwrap(), std::fs::read_to_string(pki_file("leaf.pub")).unwrap());
    // A new key generated in a token of this test's own (a unique label, so reruns do not collide).
    let own_token = token_conf(&dir.path().join("token"));
    let label = unique_repo("new-key").replace('/', "-");
    let csr = dir.path().join("new.csr");
    let new_uri = format!("pkcs11:token=ironsign;object={label}");
    with_token_conf(
        &own_token,
        &[
            "csr",
            "--new-key",
            &new_uri,
            "--key-type",
            "p256",
            "--common-name",
            "HSM Signer",
            "--san-email",
            IDENTITY,
            "--output-file",
            csr.to_str().unwrap(),
        ],
        &[("IRONSIGN_PKCS11_PIN", "1234"), ("IRONSIGN_PKCS11_MODULE_PATH", MODULE)],
    )
    .ok();
    verify_csr(&csr);
    // It is in the token now, and listed.
    let listed = with_token_conf(
        &own_token,
        &["pkcs11", "list-keys-uris", "--module-path", MODULE, "--token", "ironsign"],
        &[("IRONSIGN_PKCS11_PIN", "1234")],
    )
    .ok();
    assert!(listed.stdout.contains(&format!("object={label}")), "{}", listed.stdout);
    assert!(listed.stdout.contains("pkcs11:token=ironsign;slot-id="), "{}", listed.stdout);
    assert!(listed.stdout.contains("id=%02;object=signer-rsa?module-path="), "{}", listed.stdout);
    assert!(!listed.stdout.contains("1234"), "the PIN is never printed");
}

#[test]
fn token_errors_are_named() {
    let (_, image) = push_image(&unique_repo("hsm-errors"));
    let wrong_pin = format!("pkcs11:token=ironsign;object=signer?module-path={MODULE}&pin-value=0000");
    let run = with_token(&["sign", "--key", &wrong_pin, &image, "-o", "json"], &[]).code(3);
    assert_eq!(run.json()["error"]["code"], "KEY_WRONG_PASSWORD");
    let missing = format!("pkcs11:token=ironsign;object=nope?module-path={MODULE}&pin-value=1234");
    let run = with_token(&["sign", "--key", &missing, &image, "-o", "json"], &[]).code(3);
    assert_eq!(run.json()["error"]["code"], "KEY_SIGNING_FAILED");
    assert!(run.stderr.contains("no private key matches"), "{}", run.stderr);
    let run = with_token(&["sign", "--key", "pkcs11:object=signer", &image], &[]).code(3);
    assert!(run.stderr.contains("module"), "{}", run.stderr);
}
