//! Secrets never reach output: runs sign, attest and verify with a known key password, registry
//! password and private key, with `IRONSIGN_LOG=trace`, including failing runs (wrong key
//! password, wrong registry password), and searches every byte of stdout and stderr for them in
//! the forms they could leak in (plain, the Basic authorization header, the key's PEM lines, its
//! DER in hex). Error values' Display, Debug and JSON are searched too. Key files are mode 0600.

use base64::Engine as _;
use ironsign_e2e::*;
use std::os::unix::fs::PermissionsExt as _;

const KEY_PASSWORD: &str = "Kp-91c3e7-never-print-me";
const WRONG_REGISTRY_PASSWORD: &str = "Rp-5d20aa-wrong-and-secret";

/// Every form of a secret that must not appear.
fn forbidden() -> Vec<(String, String)> {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let mut out = vec![
        ("key password".to_owned(), KEY_PASSWORD.to_owned()),
        ("registry password".to_owned(), BASIC_PASSWORD.to_owned()),
        ("wrong registry password".to_owned(), WRONG_REGISTRY_PASSWORD.to_owned()),
        ("basic authorization".to_owned(), b64(&format!("{BASIC_USER}:{BASIC_PASSWORD}"))),
        ("wrong basic authorization".to_owned(), b64(&format!("{BASIC_USER}:{WRONG_REGISTRY_PASSWORD}"))),
    ];
    let key_pem = std::fs::read_to_string(pki().join("leaf.key")).unwrap();
    let der = pem::parse(&key_pem).unwrap().into_contents();
    out.push(("private key DER (hex)".into(), hex_string(&der)));
    for line in key_pem.lines().filter(|l| !l.starts_with("-----") && l.len() > 16) {
        out.push(("private key PEM line".into(), line.to_owned()));
    }
    out
}

fn hex_string(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[track_caller]
fn assert_clean(what: &str, text: &str) {
    for (name, secret) in forbidden() {
        assert!(!text.contains(&secret), "{what} contains the {name}:\n{text}");
    }
}

fn traced(args: &[&str], extra_env: &[(&str, &str)]) -> Run {
    let mut env = vec![("IRONSIGN_LOG", "trace"), ("RUST_BACKTRACE", "1")];
    env.extend_from_slice(extra_env);
    let run = ironsign_env(args, &env);
    assert_clean(&format!("stdout of {args:?}"), &run.stdout);
    assert_clean(&format!("stderr of {args:?}"), &run.stderr);
    assert!(run.stderr.contains("TRACE") || run.stderr.contains("DEBUG"), "trace logging is on: {}", run.stderr);
    run
}

#[test]
fn secrets_never_reach_output_or_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = |f: &str| dir.path().join(f).to_str().unwrap().to_owned();
    // An encrypted cosign key pair with a known password; the key file is 0600.
    ironsign_env(&["generate-key-pair", "--output-key-prefix", &d("signer")], &[("IRONSIGN_PASSWORD", KEY_PASSWORD)])
        .ok();
    let mode = std::fs::metadata(d("signer.key")).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the private key file is mode {mode:o}");

    // An image on the basic-auth registry.
    let addr = registry(RegistryKind::Basic);
    let image = format!("{addr}/{}:v1", unique_repo("secrets"));
    let keychain = ironsign::Keychain::anonymous().with_credential(ironsign::Credential::Basic {
        username: BASIC_USER.into(),
        password: BASIC_PASSWORD.to_owned().into(),
    });
    let options = ironsign::RegistryOptions { keychain, ..Default::default() };
    assert_clean("RegistryOptions Debug", &format!("{options:?}"));
    let client = ironsign::RegistryClient::new(options).unwrap();
    assert_clean("RegistryClient Debug", &format!("{client:?}"));
    push_minimal_image(&client, &ironsign::ImageReference::parse(&image).unwrap());

    let creds = [("IRONSIGN_REGISTRY_USERNAME", BASIC_USER), ("IRONSIGN_REGISTRY_PASSWORD", BASIC_PASSWORD)];
    let with_password = [creds[0], creds[1], ("IRONSIGN_PASSWORD", KEY_PASSWORD)];
    let (key, leaf_key, cert, chain, root) =
        (d("signer.key"), pki_file("leaf.key"), pki_file("leaf.pem"), pki_file("chain.pem"), pki_file("root.pem"));
    let predicate = d("predicate.json");
    std::fs::write(&predicate, r#"{"build":"1"}"#).unwrap();

    // Successful runs: sign with the encrypted key and with the PEM leaf key, attest, verify.
    traced(&["sign", "--key", &key, &image], &with_password).ok();
    traced(&["sign", "--key", &leaf_key, "--certificate", &cert, "--certificate-chain", &chain, &image], &creds).ok();
    traced(&["attest", "--key", &key, "--predicate", &predicate, "--type", "custom", &image], &with_password).ok();
    traced(&["verify", "--key", &d("signer.pub"), &image], &creds).ok();
    traced(&["verify", "--ca-roots", &root, "--certificate-identity", "signer@example.com", &image], &creds).ok();
    traced(&["verify-attestation", "--key", &d("signer.pub"), "--type", "custom", &image], &creds).ok();

    // Failing runs: the wrong key password, the wrong registry password, a flag-given password.
    for output in ["text", "json"] {
        let run = traced(
            &["sign", "-o", output, "--key", &key, &image],
            &[creds[0], creds[1], ("IRONSIGN_PASSWORD", "not-the-password")],
        );
        assert_ne!(run.code, 0);
        let run = traced(
            &["sign", "-o", output, "--key", &leaf_key, &image],
            &[creds[0], ("IRONSIGN_REGISTRY_PASSWORD", WRONG_REGISTRY_PASSWORD)],
        );
        assert_ne!(run.code, 0);
        let run = traced(
            &[
                "verify",
                "-o",
                output,
                "--registry-username",
                BASIC_USER,
                "--registry-password",
                WRONG_REGISTRY_PASSWORD,
                "--key",
                &d("signer.pub"),
                &image,
            ],
            &[],
        );
        assert_ne!(run.code, 0);
    }

    // Library errors: Display, Debug and JSON of a wrong-password error and of a credential.
    let encrypted = std::fs::read(&key).unwrap();
    let err = ironsign::KeyPairSigner::from_pem(&encrypted, Some(b"wrong"), "signer.key").unwrap_err();
    assert_eq!(err.code(), "KEY_WRONG_PASSWORD");
    let signer = ironsign::KeyPairSigner::from_pem(&encrypted, Some(KEY_PASSWORD.as_bytes()), "signer.key").unwrap();
    assert_clean("KeyPairSigner Debug", &format!("{signer:?}"));
    let leaf = ironsign::KeyPairSigner::from_file(&pki().join("leaf.key"), None).unwrap();
    assert_clean("KeyPairSigner Debug", &format!("{leaf:?}"));
    let credential =
        ironsign::Credential::Basic { username: BASIC_USER.into(), password: BASIC_PASSWORD.to_owned().into() };
    assert_clean("Credential Debug", &format!("{credential:?}"));
    let err = ironsign::Error::from(err);
    assert_clean("error", &format!("{err} {err:?} {}", serde_json::to_string(&err.details()).unwrap()));
}
