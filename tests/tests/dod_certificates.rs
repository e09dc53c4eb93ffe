//! Signing with a certificate whose extended key usage is serverAuth/clientAuth only (the shape of
//! a DoD PKI certificate, `scripts/gen-test-pki`'s `dod-*`): it signs with a warning naming what
//! will verify it; verification by the public key passes and chain verification refuses naming
//! the missing codeSigning, in ironsign and in the real cosign v2 and v3 alike; `--strict-eku`
//! refuses to sign and pushes nothing; `cert check` reports it.

use ironsign_e2e::*;

const DOD_SAN: &str = "pipeline.example.mil";

fn dod_sign(image: &str, extra: &[&str]) -> Run {
    let (key, cert, chain) = (pki_file("dod-leaf.key"), pki_file("dod-leaf.pem"), pki_file("dod-chain.pem"));
    let mut args = vec!["sign", "--key", &key, "--certificate", &cert, "--certificate-chain", &chain];
    args.extend_from_slice(extra);
    args.push(image);
    ironsign(&args)
}

fn cosign(version: Cosign, args: &[&str], image: &str) -> Run {
    let mut all = vec!["verify", "--allow-http-registry"];
    all.extend_from_slice(args);
    all.extend(version.legacy_flags(false));
    all.push(image);
    run(&version.bin(), &all, &[])
}

#[test]
fn a_certificate_without_code_signing_signs_with_a_warning_and_verifies_by_key_only() {
    let (tagged, by_digest) = push_image(&unique_repo("dod"));
    let signed = dod_sign(&tagged, &["-o", "json"]).ok();
    assert!(
        signed.stderr.contains("Warning [NO_CODE_SIGNING_EKU]")
            && signed.stderr.contains("[serverAuth, clientAuth] lacks codeSigning")
            && signed.stderr.contains("Kyverno and policy-controller")
            && signed.stderr.contains("verification by the public key works"),
        "the warning names what will and will not verify it: {}",
        signed.stderr
    );
    assert!(signed.json()["warnings"][0].as_str().unwrap().contains("lacks codeSigning"), "{}", signed.stdout);

    // By key: ironsign and both cosign releases accept it.
    let public = pki_file("dod-leaf.pub");
    let result = ironsign(&["verify", "--key", &public, "-o", "json", &by_digest]).ok().json();
    assert_eq!(result["signatures"][0]["signer"]["fingerprint"].as_str().map(str::len), Some(64), "{result}");
    for version in Cosign::ALL {
        cosign(version, &["--key", &public, "--insecure-ignore-tlog"], &by_digest).ok();
    }
    // Another key: refused by both.
    let other = pki_file("leaf.pub");
    let run = ironsign(&["verify", "--key", &other, "-o", "json", &by_digest]).code(12);
    assert_eq!(rejection_codes(&run), ["BAD_SIGNATURE"]);
    for version in Cosign::ALL {
        assert_ne!(cosign(version, &["--key", &other, "--insecure-ignore-tlog"], &by_digest).code, 0, "{version:?}");
    }

    // By chain (its own root, so only the usage is wrong): ironsign and cosign refuse, naming it.
    let (root, inter, chain) = (pki_file("dod-root.pem"), pki_file("dod-inter.pem"), pki_file("dod-chain.pem"));
    for trust in [vec!["--ca-roots", &root, "--ca-intermediates", &inter], vec!["--certificate-chain", &chain]] {
        let mut args = vec!["verify", "--certificate-identity", DOD_SAN, "-o", "json"];
        args.extend(&trust);
        args.push(&by_digest);
        let run = ironsign(&args).code(12);
        assert_eq!(rejection_codes(&run), ["CERT_NO_CODE_SIGNING"]);
        assert!(run.stdout.contains("not for code signing") && run.stdout.contains("serverAuth"), "{}", run.stdout);
    }
    for version in Cosign::ALL {
        let identity = ["--certificate-identity", DOD_SAN, "--certificate-oidc-issuer-regexp", ".*"];
        let ignore = ["--insecure-ignore-tlog", "--insecure-ignore-sct"];
        for trust in [vec!["--certificate-chain", &chain], vec!["--ca-roots", &root, "--ca-intermediates", &inter]] {
            let args: Vec<&str> = trust.iter().copied().chain(identity).chain(ignore).collect();
            let run = cosign(version, &args, &by_digest);
            assert_ne!(run.code, 0, "{version:?} {trust:?} accepted a certificate without codeSigning");
            assert!(run.stderr.contains("key usage"), "{version:?} {trust:?}: {}", run.stderr);
        }
    }
}

#[test]
fn attestations_take_the_same_certificate_and_strict_eku_refuses_both() {
    let (tagged, by_digest) = push_image(&unique_repo("dod-attest"));
    let dir = tempfile::tempdir().unwrap();
    let predicate = dir.path().join("predicate.json");
    std::fs::write(&predicate, r#"{"hello":"world"}"#).unwrap();
    let (key, cert, chain) = (pki_file("dod-leaf.key"), pki_file("dod-leaf.pem"), pki_file("dod-chain.pem"));
    let attest = |extra: &[&str]| {
        let mut args = vec!["attest", "--type", "custom", "--predicate", predicate.to_str().unwrap()];
        args.extend(["--key", &key, "--certificate", &cert, "--certificate-chain", &chain, "-o", "json"]);
        args.extend_from_slice(extra);
        args.push(&tagged);
        ironsign(&args)
    };

    // --strict-eku: refused with the code, before anything is pushed.
    for run in [dod_sign(&tagged, &["--strict-eku", "-o", "json"]), attest(&["--strict-eku"])] {
        let run = run.code(3);
        assert_eq!(run.json()["error"]["code"], "CERT_NO_CODE_SIGNING", "{}", run.stdout);
    }
    let public = pki_file("dod-leaf.pub");
    ironsign(&["verify", "--key", &public, "-o", "json", &by_digest]).code(10);
    let verify_attestation = || ironsign(&["verify-attestation", "--key", &public, "--type", "custom", &by_digest]);
    verify_attestation().code(10);

    // Without it: attested with the warning, verified by key.
    let run = attest(&[]).ok();
    assert!(run.stderr.contains("Warning [NO_CODE_SIGNING_EKU]"), "{}", run.stderr);
    verify_attestation().ok();
    // A codeSigning certificate is not affected by --strict-eku.
    let (key, cert, chain) = (pki_file("leaf.key"), pki_file("leaf.pem"), pki_file("chain.pem"));
    ironsign(&["sign", "--strict-eku", "--key", &key, "--certificate", &cert, "--certificate-chain", &chain, &tagged])
        .ok();
}

#[test]
fn cert_check_reports_the_missing_code_signing() {
    let (leaf, chain, key) = (pki_file("dod-leaf.pem"), pki_file("dod-chain.pem"), pki_file("dod-leaf.key"));
    let run = ironsign(&[
        "cert",
        "check",
        "--certificate",
        &leaf,
        "--certificate-chain",
        &chain,
        "--key",
        &key,
        "-o",
        "json",
    ])
    .ok();
    let findings = run.json()["findings"].as_array().unwrap().clone();
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert_eq!(findings[0]["code"], "NO_CODE_SIGNING_EKU");
    assert_eq!(findings[0]["severity"], "warning");
    assert!(findings[0]["message"].as_str().unwrap().contains("--insecure-ignore-tlog"), "{findings:?}");
    let text = ironsign(&["cert", "check", "--certificate", &leaf, "--certificate-chain", &chain, "--key", &key]).ok();
    assert!(text.stdout.contains("Warning [NO_CODE_SIGNING_EKU]"), "{}", text.stdout);
    // A codeSigning certificate has no such finding.
    let (leaf, chain, key) = (pki_file("leaf.pem"), pki_file("chain.pem"), pki_file("leaf.key"));
    let run = ironsign(&[
        "cert",
        "check",
        "--certificate",
        &leaf,
        "--certificate-chain",
        &chain,
        "--key",
        &key,
        "-o",
        "json",
    ])
    .ok();
    assert_eq!(run.json()["findings"], serde_json::json!([]));
}

/// A repository of the TLS registry (the generated cosign scripts reach registries over HTTPS)
/// holding a minimal image: its digest reference.
fn tls_image(client: &ironsign::RegistryClient, addr: &str, name: &str) -> String {
    let reference = ironsign::ImageReference::parse(&format!("{addr}/{}:v1", unique_repo(name))).unwrap();
    push_minimal_image(client, &reference);
    let digest = block_on(client.digest_of(&reference)).unwrap();
    format!("{}@{digest}", reference.repository_name())
}

fn write_config(dir: &std::path::Path, body: &str) -> std::path::PathBuf {
    let path = dir.join(format!("{}.yaml", unique_repo("trust").replace('/', "-")));
    std::fs::write(&path, body).unwrap();
    path
}

#[test]
fn a_trust_configuration_anchored_on_the_signing_key() {
    let addr = registry(RegistryKind::Tls);
    let ca = pki_file("tls-ca.pem");
    let client = ironsign::RegistryClient::new(ironsign::RegistryOptions {
        ca_certificates_pem: vec![std::fs::read(&ca).unwrap()],
        ..Default::default()
    })
    .unwrap();
    let sign = |image: &str, key: &str, cert: &str, chain: &str| {
        let (key, cert, chain) = (pki_file(key), pki_file(cert), pki_file(chain));
        let args =
            ["sign", "--registry-cacert", &ca, "--key", &key, "--certificate", &cert, "--certificate-chain", &chain];
        ironsign(&[&args[..], &[image]].concat()).ok();
    };
    let dod = tls_image(&client, &addr, "anchor-dod");
    sign(&dod, "dod-leaf.key", "dod-leaf.pem", "dod-chain.pem");
    // Signed by another key whose certificate chains validly (to a root not configured).
    let other = tls_image(&client, &addr, "anchor-other");
    sign(&other, "leaf.key", "leaf.pem", "chain.pem");
    let unsigned = tls_image(&client, &addr, "anchor-unsigned");

    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(pki_file("dod-leaf.pub"), dir.path().join("signing.pub")).unwrap();
    std::fs::copy(pki_file("root.pem"), dir.path().join("root.pem")).unwrap();
    let images = format!("images: [\"{addr}/e2e/**\"]\n");
    let config = write_config(dir.path(), &format!("version: 1\nname: dod\n{images}keys:\n  - file: signing.pub\n"));
    let verify = |config: &std::path::Path, image: &str, extra: &[&str]| {
        let mut args =
            vec!["verify", "--registry-cacert", &ca, "--trust-config", config.to_str().unwrap(), "-o", "json"];
        args.extend_from_slice(extra);
        args.push(image);
        ironsign(&args)
    };
    let result = verify(&config, &dod, &[]).ok().json();
    assert_eq!(result["signature"]["signatures"][0]["signer"]["kind"], "key", "{result}");
    assert_eq!(rejection_codes(&verify(&config, &other, &[]).code(12)), ["BAD_SIGNATURE"]);
    verify(&config, &unsigned, &[]).code(10);
    // Flags that would check what a key anchor cannot are refused, not ignored.
    let crl = dir.path().join("empty.crl");
    std::fs::write(&crl, "").unwrap();
    for extra in [vec!["--require-code-signing-eku"], vec!["--crl", crl.to_str().unwrap()]] {
        let run = verify(&config, &dod, &extra);
        assert_ne!(run.code, 0, "{extra:?} accepted");
        assert!(run.stderr.contains("keys"), "{extra:?}: {}", run.stderr);
    }

    // The anchor is roots and identity, or keys: anything else is refused, naming the field.
    for (body, field) in [
        ("keys: [{file: signing.pub}]\nidentity: {san: pipeline.example.mil}\n".into(), "identity"),
        (
            "keys: [{file: signing.pub}]\nroots: [{file: root.pem}]\nidentity: {san: signer@example.com}\n".into(),
            "keys",
        ),
        ("roots: [{file: root.pem}]\n".into(), "identity"),
        (String::new(), "roots"),
    ] {
        let config = write_config(dir.path(), &format!("version: 1\n{images}{body}"));
        let run = verify(&config, &dod, &[]).code(3);
        assert_eq!(run.json()["error"]["code"], "INVALID_TRUST_CONFIG", "{body}: {}", run.stdout);
        assert!(run.stdout.contains(&format!("{field}:")) || run.stdout.contains(field), "{body}: {}", run.stdout);
    }

    // Instructions: key-based, saying why, and the scripts pass with the real cosign.
    let out = dir.path().join("out");
    let config_arg = config.to_str().unwrap();
    ironsign(&["instructions", "cosign", "--trust-config", config_arg, "--output-dir", out.to_str().unwrap()]).ok();
    let page = ironsign(&["instructions", "markdown", "--trust-config", config_arg]).ok().stdout;
    assert!(page.contains("lacks codeSigning") && page.contains("--key dod-signing-key.pub"), "{page}");
    assert!(!page.contains("  --ca-roots") && !page.contains("  --certificate-identity"), "{page}");
    let html = ironsign(&["instructions", "html", "--trust-config", config_arg]).ok().stdout;
    assert!(html.contains("Why by key"), "{html}");
    for format in ["kyverno", "policy-controller", "podman"] {
        let run = ironsign(&["instructions", format, "--trust-config", config_arg]);
        assert_ne!(run.code, 0, "{format}");
        assert!(run.stderr.contains("anchored on keys") || run.stdout.contains("anchored on keys"), "{format}");
    }
    for (version, script) in [(Cosign::V2, "verify-cosign-v2.sh"), (Cosign::V3, "verify-cosign-v3.sh")] {
        let text = std::fs::read_to_string(out.join(script)).unwrap();
        assert!(text.contains("--key dod-signing-key.pub") && text.contains("--insecure-ignore-tlog"), "{text}");
        let bin = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(version.bin(), bin.path().join("cosign")).unwrap();
        let path = format!("{}:{}", bin.path().display(), std::env::var("PATH").unwrap_or_default());
        for (image, expected) in [(&dod, true), (&other, false), (&unsigned, false)] {
            let work = tempfile::tempdir().unwrap();
            let run = std::process::Command::new("sh")
                .arg(out.join(script))
                .arg(image)
                .current_dir(work.path())
                .env("PATH", &path)
                .env("SSL_CERT_FILE", &ca)
                .output()
                .unwrap();
            let log = format!("{}{}", String::from_utf8_lossy(&run.stdout), String::from_utf8_lossy(&run.stderr));
            assert_eq!(run.status.success(), expected, "{version:?} {image}: {log}");
        }
    }
}
