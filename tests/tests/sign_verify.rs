//! Signing and verification against the real registry, through the CLI: the positive paths for
//! every key format and the negative matrix, each case asserting its specific error.

use ironsign_e2e::*;

fn sign(image: &str, key: &str, cert: Option<&str>, chain: Option<&str>, extra: &[&str]) -> Run {
    let key = pki_file(key);
    let (cert, chain) = (cert.map(pki_file), chain.map(pki_file));
    let mut args = vec!["sign", "--key", key.as_str()];
    if let Some(c) = &cert {
        args.extend(["--certificate", c.as_str()]);
    }
    if let Some(c) = &chain {
        args.extend(["--certificate-chain", c.as_str()]);
    }
    args.extend_from_slice(extra);
    args.push(image);
    ironsign_env(&args, &[("IRONSIGN_PASSWORD", "test-password")])
}

fn verify(image: &str, extra: &[&str]) -> Run {
    let root = pki_file("root.pem");
    let mut args = vec!["verify", "--ca-roots", root.as_str(), "--output", "json"];
    if !extra.iter().any(|a| a.starts_with("--certificate-identity") || a.starts_with("--certificate-subject")) {
        args.extend(["--certificate-identity", "signer@example.com"]);
    }
    args.extend_from_slice(extra);
    args.push(image);
    ironsign(&args)
}

#[track_caller]
fn assert_rejected(run: Run, codes: &[&str]) {
    let run = run.code(12);
    assert_eq!(rejection_codes(&run), codes, "stderr: {}", run.stderr);
}

#[test]
fn signs_and_verifies_with_every_key_format() {
    for (key, cert) in [
        ("leaf.key", "leaf.pem"),
        ("leaf.sec1.key", "leaf.pem"),
        ("leaf.enc.key", "leaf.pem"),
        ("leaf-rsa.key", "leaf-rsa.pem"),
        ("leaf-rsa.pkcs1.key", "leaf-rsa.pem"),
        ("leaf-p384.key", "leaf-p384.pem"),
    ] {
        let (tagged, by_digest) = push_image(&unique_repo("formats"));
        sign(&tagged, key, Some(cert), Some("chain.pem"), &["-a", "build=7"]).ok();
        let result = verify(&tagged, &["-a", "build=7"]).ok().json();
        assert_eq!(result["digest"], by_digest.rsplit_once('@').unwrap().1, "{key}");
        let sig = &result["signatures"][0];
        assert_eq!(sig["matched_identity"], "signer@example.com");
        assert_eq!(sig["signer"]["chain"].as_array().unwrap().len(), 3, "leaf, intermediate, root");
        assert_eq!(sig["payload"]["optional"]["build"], "7");
        let checks: Vec<&str> = sig["checks"].as_array().unwrap().iter().map(|c| c.as_str().unwrap()).collect();
        for check in [
            "code_signing_usage",
            "validity",
            "chain_to_root",
            "identity",
            "signature",
            "payload_type",
            "digest_binding",
            "annotations",
        ] {
            assert!(checks.contains(&check), "{key}: {check} missing from {checks:?}");
        }
    }
}

#[test]
fn key_trust_and_identity_forms() {
    let (tagged, _) = push_image(&unique_repo("keytrust"));
    sign(&tagged, "leaf.key", Some("leaf.pem"), Some("chain.pem"), &[]).ok();
    let pubkey = pki_file("leaf.pub");
    let r = ironsign(&["verify", "--key", &pubkey, "--output", "json", &tagged]).ok().json();
    assert_eq!(r["signatures"][0]["signer"]["kind"], "key");
    let other = pki_file("other-leaf.pem");
    // A certificate is not a public key file: refused as bad input.
    ironsign(&["verify", "--key", &other, &tagged]).code(3);
    verify(&tagged, &["--certificate-identity-regexp", "^https://ci\\.example\\.com/"]).ok();
    verify(&tagged, &["--certificate-subject", "CN=Ironsign Test Signer,OU=Pipeline,O=Ironsign Test,C=US"]).ok();
    let chain = pki_file("chain.pem");
    ironsign(&["verify", "--certificate-chain", &chain, "--certificate-identity", "signer@example.com", &tagged]).ok();
}

#[test]
fn unsigned_image_is_no_signatures_not_none_matched() {
    let (tagged, _) = push_image(&unique_repo("unsigned"));
    let run = verify(&tagged, &[]).code(10);
    assert_eq!(run.json()["error"]["code"], "NO_SIGNATURES");
}

#[test]
fn missing_image_is_image_not_found() {
    let addr = registry(RegistryKind::Plain);
    verify(&format!("{addr}/e2e/does-not-exist:v1"), &[]).code(11);
}

#[test]
fn wrong_identity_is_rejected() {
    let (tagged, _) = push_image(&unique_repo("identity"));
    sign(&tagged, "leaf.key", Some("leaf.pem"), Some("chain.pem"), &[]).ok();
    assert_rejected(verify(&tagged, &["--certificate-identity", "someone-else@example.com"]), &["IDENTITY_MISMATCH"]);
    // Regexps are unanchored like cosign's; an anchored one must match the whole SAN.
    assert_rejected(
        verify(&tagged, &["--certificate-identity-regexp", "^signer@example\\.co$"]),
        &["IDENTITY_MISMATCH"],
    );
    assert_rejected(verify(&tagged, &["-a", "build=1"]), &["ANNOTATION_MISMATCH"]);
}

#[test]
fn certificate_and_identity_are_required_for_ca_trust() {
    let (tagged, _) = push_image(&unique_repo("noident"));
    let root = pki_file("root.pem");
    ironsign(&["verify", "--ca-roots", &root, &tagged]).code(3);
}

/// Signatures a careful signer refuses to make, forged directly into the registry.
fn forge(image_digest_ref: &str, key: &str, cert: &str, chain: &str) {
    let payload = payload_for(image_digest_ref);
    push_raw_signatures(image_digest_ref, &[(payload.clone(), signed_layer(&payload, key, Some(cert), Some(chain)))]);
}

#[test]
fn expired_and_not_yet_valid_leaves_are_rejected() {
    let (_, image) = push_image(&unique_repo("expired"));
    forge(&image, "leaf-expired.key", "leaf-expired.pem", "chain.pem");
    let run = verify(&image, &[]);
    assert!(run.stdout.contains("timestamp"), "the error says a timestamp would be needed: {}", run.stdout);
    assert_rejected(run, &["CERT_EXPIRED"]);

    let (_, image) = push_image(&unique_repo("future"));
    forge(&image, "leaf-future.key", "leaf-future.pem", "chain.pem");
    assert_rejected(verify(&image, &[]), &["CERT_NOT_YET_VALID"]);
}

#[test]
fn expired_intermediate_is_rejected_and_named() {
    let (_, image) = push_image(&unique_repo("expinter"));
    forge(&image, "leaf-under-expired.key", "leaf-under-expired.pem", "chain-expired-inter.pem");
    let run = verify(&image, &[]);
    assert!(run.stdout.contains("Expired Intermediate CA"), "names the expired CA: {}", run.stdout);
    assert_rejected(run, &["CERT_EXPIRED"]);
}

#[test]
fn usage_checks() {
    let (_, image) = push_image(&unique_repo("serverauth"));
    forge(&image, "leaf-serverauth.key", "leaf-serverauth.pem", "chain.pem");
    assert_rejected(verify(&image, &[]), &["CERT_NO_CODE_SIGNING"]);

    let (_, image) = push_image(&unique_repo("keyenc"));
    forge(&image, "leaf-keyenc.key", "leaf-keyenc.pem", "chain.pem");
    assert_rejected(verify(&image, &[]), &["CERT_NO_DIGITAL_SIGNATURE"]);

    // A leaf without EKU passes like in cosign, unless the strict mode asks for codeSigning.
    let (tagged, _) = push_image(&unique_repo("noeku"));
    sign(&tagged, "leaf-noeku.key", Some("leaf-noeku.pem"), Some("chain.pem"), &[]).ok();
    verify(&tagged, &[]).ok();
    assert_rejected(verify(&tagged, &["--require-code-signing-eku"]), &["CERT_NO_CODE_SIGNING"]);
}

#[test]
fn attacker_chains_are_never_trusted() {
    // Same names as the real root and intermediate, other keys.
    let (_, image) = push_image(&unique_repo("attacker"));
    forge(&image, "attacker-leaf.key", "attacker-leaf.pem", "attacker-chain.pem");
    assert_rejected(verify(&image, &[]), &["CERT_UNTRUSTED_CHAIN"]);

    // The real chain carried in the annotation, root included, does not make it trusted when
    // another root is configured: the embedded chain is never an anchor.
    let (tagged, _) = push_image(&unique_repo("embedded-root"));
    sign(&tagged, "leaf.key", Some("leaf.pem"), Some("chain.pem"), &[]).ok();
    let other = pki_file("other-root.pem");
    let run = ironsign(&[
        "verify",
        "--ca-roots",
        &other,
        "--certificate-identity",
        "signer@example.com",
        "-o",
        "json",
        &tagged,
    ]);
    assert_rejected(run, &["CERT_UNTRUSTED_CHAIN"]);
}

#[test]
fn an_intermediate_offered_as_root_is_refused() {
    let (tagged, _) = push_image(&unique_repo("interroot"));
    sign(&tagged, "leaf.key", Some("leaf.pem"), Some("chain.pem"), &[]).ok();
    let inter = pki_file("inter.pem");
    let run = ironsign(&[
        "verify",
        "--ca-roots",
        &inter,
        "--certificate-identity",
        "signer@example.com",
        "-o",
        "json",
        &tagged,
    ]);
    assert_eq!(run.code(3).json()["error"]["code"], "CERT_NOT_A_ROOT");
    // With only the intermediate in the annotation and a chain file ending in it: also refused.
    let run =
        ironsign(&["verify", "--certificate-chain", &inter, "--certificate-identity", "signer@example.com", &tagged]);
    run.code(3);
}

#[test]
fn tampered_payload_and_copied_signature_are_rejected() {
    // Tampered: the signed payload named the image, the stored one another digest.
    let (_, image) = push_image(&unique_repo("tamper"));
    let (_, other) = push_image(&unique_repo("tamper-other"));
    let payload = payload_for(&image);
    let annotations = signed_layer(&payload, "leaf.key", Some("leaf.pem"), Some("chain.pem"));
    let tampered = String::from_utf8(payload.clone())
        .unwrap()
        .replace(image.rsplit_once('@').unwrap().1, other.rsplit_once('@').unwrap().1)
        .into_bytes();
    push_raw_signatures(&other, &[(tampered, annotations.clone())]);
    assert_rejected(verify(&other, &[]), &["BAD_SIGNATURE"]);

    // Copied: a valid signature of `image` placed on `copy`.
    let (_, copy) = push_image(&unique_repo("copied"));
    push_raw_signatures(&copy, &[(payload, annotations)]);
    assert_rejected(verify(&copy, &[]), &["DIGEST_MISMATCH"]);
}

#[test]
fn payload_type_and_malformed_annotations() {
    let (_, image) = push_image(&unique_repo("ptype"));
    let payload = String::from_utf8(payload_for(&image))
        .unwrap()
        .replace("cosign container image signature", "something else")
        .into_bytes();
    let good = signed_layer(&payload, "leaf.key", Some("leaf.pem"), Some("chain.pem"));
    let mut garbage_cert = good.clone();
    garbage_cert.insert(
        ironsign::cosign::CERTIFICATE_ANNOTATION.into(),
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".into(),
    );
    let mut no_sig = good.clone();
    no_sig.remove(ironsign::cosign::SIGNATURE_ANNOTATION);
    let mut no_cert = good.clone();
    no_cert.remove(ironsign::cosign::CERTIFICATE_ANNOTATION);
    push_raw_signatures(
        &image,
        &[(payload.clone(), good), (payload.clone(), garbage_cert), (payload.clone(), no_sig), (payload, no_cert)],
    );
    assert_rejected(
        verify(&image, &[]),
        &["PAYLOAD_TYPE_MISMATCH", "CERT_PARSE", "MALFORMED_SIGNATURE", "MISSING_CERTIFICATE"],
    );
}

#[test]
fn signing_refuses_bad_material() {
    let (tagged, _) = push_image(&unique_repo("refuse"));
    for (key, cert, code) in [
        ("leaf.key", "leaf-rsa.pem", "CERT_KEY_MISMATCH"),
        ("leaf-expired.key", "leaf-expired.pem", "CERT_EXPIRED"),
        ("leaf-future.key", "leaf-future.pem", "CERT_NOT_YET_VALID"),
        ("leaf-serverauth.key", "leaf-serverauth.pem", "CERT_NO_CODE_SIGNING"),
    ] {
        // Without --strict-eku a certificate without codeSigning signs, with a warning
        // (dod_certificates.rs); the other refusals do not depend on it.
        let run = sign(&tagged, key, Some(cert), Some("chain.pem"), &["--strict-eku", "-o", "json"]).code(3);
        assert_eq!(run.json()["error"]["code"], code, "{key} {cert}");
    }
    // A chain that does not issue the leaf.
    let run = sign(&tagged, "leaf.key", Some("leaf.pem"), Some("other-chain.pem"), &["-o", "json"]).code(3);
    assert_eq!(run.json()["error"]["code"], "CERT_UNTRUSTED_CHAIN");
    // Wrong password for an encrypted key.
    let key = pki_file("leaf.enc.key");
    let run = ironsign_env(&["sign", "--key", &key, &tagged], &[("IRONSIGN_PASSWORD", "nope")]).code(3);
    assert!(run.stderr.contains("KEY_WRONG_PASSWORD") && !run.stderr.contains("nope"), "{}", run.stderr);
    // No SAN: signs, with a warning.
    let run = sign(&tagged, "leaf-nosan.key", Some("leaf-nosan.pem"), Some("chain.pem"), &[]).ok();
    assert!(run.stderr.contains("no subject alternative name"), "{}", run.stderr);
}

#[test]
fn resigning_is_deduplicated_and_existing_signatures_kept() {
    let (tagged, by_digest) = push_image(&unique_repo("dedupe"));
    sign(&tagged, "leaf.key", Some("leaf.pem"), Some("chain.pem"), &[]).ok();
    let again = sign(&tagged, "leaf.key", Some("leaf.pem"), Some("chain.pem"), &["-o", "json"]).ok();
    assert_eq!(again.json()["signatures"][0]["added"], false);
    sign(&tagged, "leaf-rsa.key", Some("leaf-rsa.pem"), Some("chain.pem"), &[]).ok();
    let signed = block_on(client().fetch_signatures(&ironsign::ImageReference::parse(&by_digest).unwrap())).unwrap();
    assert_eq!(signed.signatures.len(), 2);
}

#[test]
fn recursive_signs_every_platform() {
    let addr = registry(RegistryKind::Plain);
    let repo = unique_repo("multiarch");
    let (tagged, index) = push_image_to(&addr, &repo, &["--platforms", "linux/amd64,linux/arm64"]);
    sign(&tagged, "leaf.key", Some("leaf.pem"), Some("chain.pem"), &["--recursive"]).ok();
    verify(&index, &[]).ok();
    let reference = ironsign::ImageReference::parse(&index).unwrap();
    let manifest = block_on(client().get_manifest(&reference.location, reference.digest.as_ref().unwrap().as_str()))
        .unwrap()
        .unwrap();
    let parsed = ironsign::cosign::Manifest::parse(&manifest.bytes, "index").unwrap();
    assert_eq!(parsed.manifests.len(), 2);
    for child in parsed.manifests {
        verify(&format!("{addr}/{repo}@{}", child.digest), &[]).ok();
    }
}

#[test]
fn hostile_signature_manifests_are_bounded() {
    // 5000 layers: refused before any payload is fetched.
    let (_, image) = push_image(&unique_repo("layers"));
    let payload = payload_for(&image);
    // Key-only layers keep the manifest under the registry's own 4 MiB manifest limit.
    let layer = (payload.clone(), signed_layer(&payload, "leaf.key", None, None));
    push_raw_signatures(&image, &vec![layer; 5000]);
    let run = verify(&image, &[]).code(4);
    assert_eq!(run.json()["error"]["code"], "REGISTRY_TOO_MANY");

    // An oversized payload blob, with the limit lowered so the test stays small.
    let (_, image) = push_image(&unique_repo("oversized"));
    let mut big = payload_for(&image);
    big.extend(std::iter::repeat_n(b' ', 4096));
    push_raw_signatures(&image, &[(big.clone(), signed_layer(&big, "leaf.key", Some("leaf.pem"), Some("chain.pem")))]);
    let reference = ironsign::ImageReference::parse(&image).unwrap();
    let options = ironsign::RegistryOptions {
        limits: ironsign::Limits { max_blob_size: 1024, ..Default::default() },
        ..Default::default()
    };
    let c = ironsign::RegistryClient::new(options).unwrap();
    let err = block_on(c.fetch_signatures(&reference)).unwrap_err();
    assert_eq!(err.code(), "REGISTRY_TOO_LARGE", "{err}");
}

#[test]
fn oci_layout_sign_and_verify() {
    let dir = tempfile::tempdir().unwrap();
    let layout = format!("oci:{}:app", dir.path().display());
    let out = std::process::Command::new(repo_root().join("scripts/make-test-image")).arg(&layout).output().unwrap();
    assert!(out.status.success());
    sign(&layout, "leaf.key", Some("leaf.pem"), Some("chain.pem"), &[]).ok();
    let r = verify(&layout, &[]).ok().json();
    assert_eq!(r["signatures"].as_array().unwrap().len(), 1);
    // The layout holds the signature under cosign's tag name.
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("index.json")).unwrap()).unwrap();
    let names: Vec<&str> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["annotations"]["org.opencontainers.image.ref.name"].as_str())
        .collect();
    assert!(names.iter().any(|n| n.starts_with("sha256-") && n.ends_with(".sig")), "{names:?}");
    // A tampered signature payload blob in the layout is refused, not trusted and not skipped.
    let layer = r["signatures"][0]["layer_digest"].as_str().unwrap().trim_start_matches("sha256:").to_owned();
    let blob = dir.path().join("blobs/sha256").join(&layer);
    let mut bytes = std::fs::read(&blob).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x20;
    std::fs::write(&blob, bytes).unwrap();
    let run = verify(&layout, &[]).code(4);
    assert_eq!(run.json()["error"]["code"], "REGISTRY_DIGEST_MISMATCH");
}
