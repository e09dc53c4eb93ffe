//! RFC 3161 timestamps, against the local TSA of `scripts/tsa` (`openssl ts -reply`, RSA and
//! ECDSA keys, tokens dated in the past with libfaketime) and both cosign releases: what ironsign
//! timestamps cosign verifies and the reverse, a signature made while its certificate was valid
//! still verifies after the certificate expired, and every check of the token fails closed.

use base64::Engine as _;
use der::{Decode as _, Encode as _};
use ironsign::cosign::{RFC3161_ANNOTATION, SIGNATURE_ANNOTATION};
use ironsign_e2e::*;
use std::collections::BTreeMap;
use std::path::Path;

const IDENTITY: &str = "signer@example.com";

fn sign_args<'a>(key: &'a str, cert: &'a str, chain: &'a str, tsa: &'a str, image: &'a str) -> Vec<&'a str> {
    vec![
        "sign",
        "--key",
        key,
        "--certificate",
        cert,
        "--certificate-chain",
        chain,
        "--timestamp-server-url",
        tsa,
        image,
    ]
}

fn verify(image: &str, root: &str, tsa_chain: Option<&str>) -> Run {
    let mut args = vec!["verify", "--ca-roots", root, "--certificate-identity", IDENTITY, "-o", "json"];
    if let Some(chain) = tsa_chain {
        args.extend(["--timestamp-certificate-chain", chain]);
    }
    args.push(image);
    ironsign(&args)
}

fn cosign_verify(version: Cosign, image: &str, chain: &str, tsa_chain: Option<&str>) -> Run {
    let mut args = vec!["verify", "--allow-http-registry", "--certificate-chain", chain];
    args.extend(["--certificate-identity", IDENTITY, "--certificate-oidc-issuer-regexp", ".*"]);
    args.extend(["--insecure-ignore-tlog", "--insecure-ignore-sct"]);
    if let Some(t) = tsa_chain {
        args.extend(["--timestamp-certificate-chain", t]);
    }
    args.extend(version.legacy_flags(false));
    args.push(image);
    run(&version.bin(), &args, &[])
}

/// The `.sig` layers of an image: (payload, annotations).
fn signature_layers(image: &str) -> Vec<(Vec<u8>, BTreeMap<String, String>)> {
    let reference = ironsign::ImageReference::parse(image).unwrap();
    block_on(async {
        let signed = client().fetch_signatures(&reference).await.unwrap();
        signed.signatures.into_iter().map(|l| (l.payload, l.annotations)).collect()
    })
}

#[test]
fn ironsign_timestamps_verify_in_ironsign_and_cosign() {
    let tsa = Tsa::start();
    let (key, cert, chain, root) =
        (pki_file("leaf.key"), pki_file("leaf.pem"), pki_file("chain.pem"), pki_file("root.pem"));
    for kind in ["ecdsa", "rsa"] {
        let (_, image) = push_image(&unique_repo(&format!("tsa-{kind}")));
        let url = tsa.url(kind, None);
        ironsign(&sign_args(&key, &cert, &chain, &url, &image)).ok();
        let layers = signature_layers(&image);
        let annotation = &layers[0].1[RFC3161_ANNOTATION];
        assert!(annotation.starts_with(r#"{"SignedRFC3161Timestamp":""#), "{annotation}");
        let tsa_chain = pki_file(&format!("tsa-{kind}-chain.pem"));
        let result = verify(&image, &root, Some(&tsa_chain)).ok().json();
        let signature = &result["signatures"][0];
        assert_eq!(signature["checks"][0], "timestamp", "{result}");
        assert!(signature["timestamp"]["tsa_subject"].as_str().unwrap().contains(&kind.to_uppercase()));
        // Without TSA trust the annotation is ignored, as cosign ignores it.
        let result = verify(&image, &root, None).ok().json();
        assert!(result["signatures"][0].get("timestamp").is_none());
        for version in Cosign::ALL {
            cosign_verify(version, &image, &chain, Some(&tsa_chain)).ok();
        }
    }
}

#[test]
fn cosign_timestamps_verify_in_ironsign() {
    let tsa = Tsa::start();
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("imported");
    let leaf_key = pki_file("leaf.key");
    run(
        &Cosign::V2.bin(),
        &["import-key-pair", "--key", &leaf_key, "--output-key-prefix", prefix.to_str().unwrap()],
        &[("COSIGN_PASSWORD", "pw")],
    )
    .ok();
    let imported = format!("{}.key", prefix.display());
    let (cert, chain, root) = (pki_file("leaf.pem"), pki_file("chain.pem"), pki_file("root.pem"));
    let predicate = dir.path().join("predicate.json");
    std::fs::write(&predicate, r#"{"hello":"world"}"#).unwrap();
    let url = tsa.url("ecdsa", None);
    let tsa_chain = pki_file("tsa-ecdsa-chain.pem");
    for version in Cosign::ALL {
        let (_, image) = push_image(&unique_repo("tsa-from-cosign"));
        let common =
            ["--allow-http-registry", "--key", &imported, "--certificate", &cert, "--certificate-chain", &chain];
        let mut args = vec!["sign", "-y", "--timestamp-server-url", &url];
        args.extend(common);
        args.extend(version.legacy_flags(true));
        args.push(&image);
        run(&version.bin(), &args, &[("COSIGN_PASSWORD", "pw")]).ok();
        let result = verify(&image, &root, Some(&tsa_chain)).ok().json();
        assert_eq!(result["signatures"][0]["checks"][0], "timestamp", "{version:?}: {result}");

        let mut args = vec!["attest", "-y", "--type", "custom", "--predicate", predicate.to_str().unwrap()];
        args.extend(["--timestamp-server-url", &url]);
        args.extend(common);
        args.extend(version.legacy_flags(true));
        args.push(&image);
        run(&version.bin(), &args, &[("COSIGN_PASSWORD", "pw")]).ok();
        let result = ironsign(&[
            "verify-attestation",
            "--type",
            "custom",
            "--ca-roots",
            &root,
            "--certificate-identity",
            IDENTITY,
            "--timestamp-certificate-chain",
            &tsa_chain,
            "-o",
            "json",
            &image,
        ])
        .ok()
        .json();
        assert_eq!(result["attestations"][0]["checks"][1], "timestamp", "{version:?}: {result}");
        assert!(result["attestations"][0]["timestamp"]["gen_time"].is_string());
    }
}

#[test]
fn ironsign_attestation_timestamps_verify_in_cosign() {
    let tsa = Tsa::start();
    let dir = tempfile::tempdir().unwrap();
    let predicate = dir.path().join("predicate.json");
    std::fs::write(&predicate, r#"{"hello":"world"}"#).unwrap();
    let (key, cert, chain, root) =
        (pki_file("leaf.key"), pki_file("leaf.pem"), pki_file("chain.pem"), pki_file("root.pem"));
    let (_, image) = push_image(&unique_repo("tsa-attest"));
    let url = tsa.url("rsa", None);
    let tsa_chain = pki_file("tsa-rsa-chain.pem");
    ironsign(&[
        "attest",
        "--key",
        &key,
        "--certificate",
        &cert,
        "--certificate-chain",
        &chain,
        "--timestamp-server-url",
        &url,
        "--type",
        "custom",
        "--predicate",
        predicate.to_str().unwrap(),
        &image,
    ])
    .ok();
    ironsign(&[
        "verify-attestation",
        "--type",
        "custom",
        "--ca-roots",
        &root,
        "--certificate-identity",
        IDENTITY,
        "--timestamp-certificate-chain",
        &tsa_chain,
        &image,
    ])
    .ok();
    for version in Cosign::ALL {
        let mut args = vec!["verify-attestation", "--allow-http-registry", "--type", "custom"];
        args.extend(["--certificate-chain", &chain, "--certificate-identity", IDENTITY]);
        args.extend(["--certificate-oidc-issuer-regexp", ".*", "--insecure-ignore-tlog", "--insecure-ignore-sct"]);
        args.extend(["--timestamp-certificate-chain", &tsa_chain]);
        args.extend(version.legacy_flags(false));
        args.push(&image);
        run(&version.bin(), &args, &[]).ok();
    }
}

#[test]
fn a_timestamp_keeps_a_lapsed_certificate_verifiable() {
    let tsa = Tsa::start();
    let (key, cert, chain) = (pki_file("leaf-lapsed.key"), pki_file("leaf-lapsed.pem"), pki_file("chain-lapsed.pem"));
    let root = pki_file("lapsed-root.pem");
    let tsa_chain = pki_file("tsa-ecdsa-chain.pem");

    // Signed 100 days ago, while the certificate was valid (it expired 30 days ago).
    let (_, image) = push_image(&unique_repo("tsa-lapsed"));
    ironsign_at("-100d", &sign_args(&key, &cert, &chain, &tsa.url("ecdsa", Some("-100d")), &image)).ok();
    let result = verify(&image, &root, Some(&tsa_chain)).ok().json();
    assert_eq!(result["signatures"][0]["checks"][0], "timestamp");
    for version in Cosign::ALL {
        cosign_verify(version, &image, &chain, Some(&tsa_chain)).ok();
        assert_ne!(cosign_verify(version, &image, &chain, None).code, 0, "{version:?} accepted the expired leaf");
    }
    // Without TSA trust the expired certificate fails, and the error says why.
    let run = verify(&image, &root, None).code(12);
    assert_eq!(rejection_codes(&run), ["CERT_EXPIRED"]);
    assert!(run.stderr.contains("timestamp"), "{}", run.stderr);
    assert_eq!(
        run.json()["error"]["details"]["NoMatchingSignature"]["rejections"][0]["reason"]["Certificate"]["Expired"]["timestamp_needed"],
        true
    );

    // A token dated after the certificate expired proves nothing.
    let (_, image) = push_image(&unique_repo("tsa-late"));
    ironsign_at("-100d", &sign_args(&key, &cert, &chain, &tsa.url("ecdsa", Some("-10d")), &image)).ok();
    let run = verify(&image, &root, Some(&tsa_chain)).code(12);
    assert_eq!(rejection_codes(&run), ["CERT_EXPIRED"]);
}

#[test]
fn timestamp_checks_fail_closed() {
    let tsa = Tsa::start();
    let (key, cert, chain, root) =
        (pki_file("leaf.key"), pki_file("leaf.pem"), pki_file("chain.pem"), pki_file("root.pem"));
    let (_, image) = push_image(&unique_repo("tsa-negative"));
    ironsign(&sign_args(&key, &cert, &chain, &tsa.url("ecdsa", None), &image)).ok();
    let tsa_chain = pki_file("tsa-ecdsa-chain.pem");

    // Another TSA root.
    let run = verify(&image, &root, Some(&pki_file("other-chain.pem"))).code(12);
    assert_eq!(rejection_codes(&run), ["TIMESTAMP_UNTRUSTED"]);
    // The RSA TSA's chain pins the RSA TSA certificate: the ECDSA TSA's token is refused.
    let run = verify(&image, &root, Some(&pki_file("tsa-rsa-chain.pem"))).code(12);
    assert_eq!(rejection_codes(&run), ["TIMESTAMP_UNTRUSTED"]);
    // The CA chain alone (no pinned leaf) accepts either TSA.
    verify(&image, &root, Some(&pki_file("tsa-ca-chain.pem"))).ok();

    let (_, annotations) = signature_layers(&image).remove(0);
    let token = ironsign::tsa::parse_annotation(&annotations[RFC3161_ANNOTATION]).unwrap();
    let with_token = |token: &[u8]| {
        let mut a = annotations.clone();
        a.insert(RFC3161_ANNOTATION.into(), ironsign::tsa::annotation_value(token));
        a
    };
    let check = |annotations: BTreeMap<String, String>, code: &str| {
        let (_, image) = push_image(&unique_repo("tsa-negative"));
        let payload = payload_for(&image);
        let mut annotations = annotations;
        // Re-sign for this image, keeping the (now foreign) timestamp.
        let fresh = signed_layer(&payload, "leaf.key", Some("leaf.pem"), Some("chain.pem"));
        annotations.insert(SIGNATURE_ANNOTATION.into(), fresh[SIGNATURE_ANNOTATION].clone());
        push_raw_signatures(&image, &[(payload, annotations)]);
        let run = verify(&image, &root, Some(&tsa_chain)).code(12);
        assert_eq!(rejection_codes(&run), [code], "{}", run.stdout);
    };
    // A token over another signature (the original one): wrong imprint.
    check(annotations.clone(), "TIMESTAMP_IMPRINT_MISMATCH");

    // On the original signature: a tampered token (one digit of genTime changed inside the
    // signed TSTInfo), and garbage.
    let (payload, _) = signature_layers(&image).remove(0);
    let same = |annotations: BTreeMap<String, String>, code: &str| {
        push_raw_signatures(&image, &[(payload.clone(), annotations)]);
        let run = verify(&image, &root, Some(&tsa_chain)).code(12);
        assert_eq!(rejection_codes(&run), [code], "{}", run.stdout);
    };
    let mut tampered = token.clone();
    let at = tampered.windows(2).position(|w| w == [0x18, 0x0f]).expect("genTime") + 2;
    tampered[at + 3] = if tampered[at + 3] == b'0' { b'1' } else { b'0' };
    same(with_token(&tampered), "TIMESTAMP_BAD_SIGNATURE");
    same(with_token(b"\x30\x00"), "TIMESTAMP_MALFORMED");
    // And the untouched token still verifies there.
    push_raw_signatures(&image, &[(payload.clone(), with_token(&token))]);
    verify(&image, &root, Some(&tsa_chain)).ok();

    // Tokens made by a TSA certificate without the timeStamping EKU, or with a non-critical one
    // (openssl refuses to sign with those, so they are built here); the builder itself is
    // checked with the real TSA certificate.
    let (_, image) = push_image(&unique_repo("tsa-forged"));
    let payload = payload_for(&image);
    let mut layer = signed_layer(&payload, "leaf.key", Some("leaf.pem"), Some("chain.pem"));
    let signature = base64::engine::general_purpose::STANDARD.decode(&layer[SIGNATURE_ANNOTATION]).unwrap();
    for (tsa_name, expected) in [
        ("tsa-ecdsa", None),
        ("tsa-noeku", Some("TIMESTAMP_UNTRUSTED")),
        ("tsa-noncritical", Some("TIMESTAMP_UNTRUSTED")),
    ] {
        let token =
            forge_token(&signature, &pki().join(format!("{tsa_name}.key")), &pki().join(format!("{tsa_name}.pem")));
        layer.insert(RFC3161_ANNOTATION.into(), ironsign::tsa::annotation_value(&token));
        push_raw_signatures(&image, &[(payload.clone(), layer.clone())]);
        let run = verify(&image, &root, Some(&pki_file("tsa-ca-chain.pem")));
        match expected {
            None => {
                let run = run.ok();
                assert_eq!(run.json()["signatures"][0]["checks"][0], "timestamp");
            }
            Some(code) => assert_eq!(rejection_codes(&run.code(12)), [code], "{tsa_name}"),
        }
    }
}

fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else if len < 0x100 {
        out.extend([0x81, len as u8]);
    } else {
        out.extend([0x82, (len >> 8) as u8, len as u8]);
    }
    out.extend_from_slice(content);
    out
}

fn oid(dotted: &str) -> Vec<u8> {
    der::asn1::ObjectIdentifier::new(dotted).unwrap().to_der().unwrap()
}

fn sha256(data: &[u8]) -> Vec<u8> {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data).as_ref().to_vec()
}

/// A granted TimeStampResp over `data`, signed (ECDSA P-256, SHA-256) with `key` whose
/// certificate is `cert`, dated yesterday: what a TSA with that certificate would answer.
fn forge_token(data: &[u8], key: &Path, cert: &Path) -> Vec<u8> {
    use ironsign::Signer as _;
    let cert_der = pem::parse(std::fs::read(cert).unwrap()).unwrap().into_contents();
    let parsed = x509_cert::Certificate::from_der(&cert_der).unwrap();
    let sha256_alg = tlv(0x30, &[oid("2.16.840.1.101.3.4.2.1"), vec![0x05, 0x00]].concat());
    let gen_time = {
        let t = time::OffsetDateTime::now_utc() - time::Duration::days(1);
        format!("{:04}{:02}{:02}{:02}{:02}{:02}Z", t.year(), t.month() as u8, t.day(), t.hour(), t.minute(), t.second())
    };
    let tst = tlv(
        0x30,
        &[
            vec![0x02, 0x01, 0x01],
            oid("1.3.6.1.4.1.57264.99.1"),
            tlv(0x30, &[sha256_alg.clone(), tlv(0x04, &sha256(data))].concat()),
            vec![0x02, 0x01, 0x2a],
            tlv(0x18, gen_time.as_bytes()),
        ]
        .concat(),
    );
    let attribute = |kind: &str, value: Vec<u8>| tlv(0x30, &[oid(kind), tlv(0x31, &value)].concat());
    let ess_v2 = tlv(0x30, &tlv(0x30, &tlv(0x30, &tlv(0x04, &sha256(&cert_der)))));
    let mut attrs = [
        attribute("1.2.840.113549.1.9.3", oid("1.2.840.113549.1.9.16.1.4")),
        attribute("1.2.840.113549.1.9.4", tlv(0x04, &sha256(&tst))),
        attribute("1.2.840.113549.1.9.16.2.47", ess_v2),
    ];
    attrs.sort(); // DER SET OF order
    let attrs = attrs.concat();
    let signer = ironsign::KeyPairSigner::from_file(key, None).unwrap();
    let signature = signer.sign(&tlv(0x31, &attrs)).unwrap();
    let tbs = parsed.tbs_certificate();
    let sid = tlv(0x30, &[tbs.issuer().to_der().unwrap(), tbs.serial_number().to_der().unwrap()].concat());
    let signer_info = tlv(
        0x30,
        &[
            vec![0x02, 0x01, 0x01],
            sid,
            sha256_alg.clone(),
            tlv(0xa0, &attrs),
            tlv(0x30, &oid("1.2.840.10045.4.3.2")),
            tlv(0x04, &signature),
        ]
        .concat(),
    );
    let signed_data = tlv(
        0x30,
        &[
            vec![0x02, 0x01, 0x03],
            tlv(0x31, &sha256_alg),
            tlv(0x30, &[oid("1.2.840.113549.1.9.16.1.4"), tlv(0xa0, &tlv(0x04, &tst))].concat()),
            tlv(0xa0, &cert_der),
            tlv(0x31, &signer_info),
        ]
        .concat(),
    );
    let content_info = tlv(0x30, &[oid("1.2.840.113549.1.7.2"), tlv(0xa0, &signed_data)].concat());
    tlv(0x30, &[tlv(0x30, &[0x02, 0x01, 0x00]), content_info].concat())
}
