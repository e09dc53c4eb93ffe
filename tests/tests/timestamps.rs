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
            // cosign's switch for the same thing: honoured, the timestamp is checked.
            "--use-signed-timestamps",
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

/// Writes a `.att` manifest with exactly these DSSE layers (envelope, annotations), as a hostile
/// signer could.
fn push_raw_attestations(image: &str, layers: &[(Vec<u8>, BTreeMap<String, String>)]) {
    use ironsign::cosign::{self, LayerSpec};
    let reference = ironsign::ImageReference::parse(image).unwrap();
    let digest = reference.digest.clone().unwrap();
    block_on(async {
        let c = client();
        let mut specs = Vec::new();
        for (envelope, annotations) in layers {
            let d = c.put_blob(&reference.location, envelope).await.unwrap();
            let media_type = cosign::DSSE_MEDIA_TYPE.into();
            specs.push(LayerSpec {
                media_type,
                digest: d,
                size: envelope.len() as u64,
                annotations: annotations.clone(),
            });
        }
        let config = cosign::signature_config(&specs);
        c.put_blob(&reference.location, &config).await.unwrap();
        let manifest = cosign::signature_manifest(&config, &specs);
        c.put_manifest(&reference.location, &digest.attachment_tag("att"), &manifest, cosign::OCI_MANIFEST)
            .await
            .unwrap();
    });
}

/// The `.att` layers of an image: (envelope, annotations).
fn attestation_layers(image: &str) -> Vec<(Vec<u8>, BTreeMap<String, String>)> {
    let reference = ironsign::ImageReference::parse(image).unwrap();
    block_on(async {
        let signed = client().fetch_attestations(&reference).await.unwrap();
        signed.signatures.into_iter().map(|l| (l.payload, l.annotations)).collect()
    })
}

fn verify_attestation(image: &str, root: &str, tsa_chain: &str) -> Run {
    let args = ["verify-attestation", "--type", "custom", "--ca-roots", root, "--certificate-identity", IDENTITY];
    let mut args = args.to_vec();
    args.extend(["--timestamp-certificate-chain", tsa_chain, "-o", "json", image]);
    ironsign(&args)
}

/// The attack of issue 13 item 2: a certificate that has expired signs a new attestation and
/// borrows an old token, putting the bytes that token is over into the signature annotation
/// (which nothing verifies for an attestation). The token must date nothing.
#[test]
fn a_timestamp_copied_onto_an_attestation_dates_nothing() {
    let tsa = Tsa::start();
    let dir = tempfile::tempdir().unwrap();
    let predicate = dir.path().join("predicate.json");
    std::fs::write(&predicate, r#"{"hello":"world"}"#).unwrap();
    let (key, cert, chain) = (pki_file("leaf-lapsed.key"), pki_file("leaf-lapsed.pem"), pki_file("chain-lapsed.pem"));
    let root = pki_file("lapsed-root.pem");
    let tsa_chain = pki_file("tsa-ecdsa-chain.pem");
    let old_tsa = tsa.url("ecdsa", Some("-100d"));

    // 100 days ago, while the certificate was valid: a timestamped attestation, which verifies.
    let (_, old) = push_image(&unique_repo("tsa-att-old"));
    let mut args = vec!["attest", "--key", &key, "--certificate", &cert, "--certificate-chain", &chain];
    args.extend(["--timestamp-server-url", &old_tsa, "--type", "custom", "--predicate", predicate.to_str().unwrap()]);
    args.push(&old);
    ironsign_at("-100d", &args).ok();
    let result = verify_attestation(&old, &root, &tsa_chain).ok().json();
    assert_eq!(result["attestations"][0]["checks"][1], "timestamp", "{result}");
    let (old_envelope, old_annotations) = attestation_layers(&old).remove(0);
    // And an old token over arbitrary bytes (as over any signature timestamped back then).
    let other_bytes = b"some other signature".to_vec();
    let other_token = block_on(ironsign::TimestampClient::new(&old_tsa, &[]).unwrap().timestamp(&other_bytes)).unwrap();

    // Today the expired certificate signs a new attestation, for another image.
    let (_, image) = push_image(&unique_repo("tsa-att-forged"));
    let reference = ironsign::ImageReference::parse(&image).unwrap();
    let statement = ironsign::intoto::Statement::for_image(
        ironsign::intoto::StatementVersion::V01,
        &reference.repository_name(),
        reference.digest.as_ref().unwrap(),
        "https://cosign.sigstore.dev/attestation/v1",
        serde_json::json!({"Data": "forged"}),
    )
    .to_json();
    let signer = ironsign::KeyPairSigner::from_file(Path::new(&key), None).unwrap();
    let envelope =
        ironsign::dsse::Envelope::sign(ironsign::dsse::INTOTO_PAYLOAD_TYPE, &statement, &signer).unwrap().to_json();
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let forged = |covered: &[u8], token: String| {
        let mut a = old_annotations.clone();
        a.insert(SIGNATURE_ANNOTATION.into(), b64(covered));
        a.insert(RFC3161_ANNOTATION.into(), token);
        a
    };
    let cases = [
        (
            "the old attestation's token, its envelope in the annotation",
            forged(&old_envelope, old_annotations[RFC3161_ANNOTATION].clone()),
        ),
        ("the old attestation's token, annotation empty", forged(b"", old_annotations[RFC3161_ANNOTATION].clone())),
        (
            "another old token, the bytes it is over in the annotation",
            forged(&other_bytes, ironsign::tsa::annotation_value(&other_token)),
        ),
    ];
    for (case, annotations) in cases {
        push_raw_attestations(&image, &[(envelope.clone(), annotations)]);
        let run = verify_attestation(&image, &root, &tsa_chain).code(12);
        assert_eq!(rejection_codes(&run), ["TIMESTAMP_IMPRINT_MISMATCH"], "{case}: {}", run.stdout);
    }
    // Without any token the expired certificate is refused as expired.
    let mut bare = old_annotations.clone();
    bare.remove(RFC3161_ANNOTATION);
    bare.insert(SIGNATURE_ANNOTATION.into(), String::new());
    push_raw_attestations(&image, &[(envelope.clone(), bare)]);
    assert_eq!(rejection_codes(&verify_attestation(&image, &root, &tsa_chain).code(12)), ["CERT_EXPIRED"]);
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

/// A token whose TSA policy is an OID under `2.999` (first subidentifier 1079, valid per X.690
/// §8.19; openssl issues it) is timestamped and verified, and its policy reported.
#[test]
fn a_token_with_any_valid_policy_oid_verifies() {
    let tsa = Tsa::start();
    let (key, cert, chain, root) =
        (pki_file("leaf.key"), pki_file("leaf.pem"), pki_file("chain.pem"), pki_file("root.pem"));
    let (_, image) = push_image(&unique_repo("tsa-policy"));
    let url = format!("{}?policy=2.999.1", tsa.url("ecdsa", None));
    ironsign(&sign_args(&key, &cert, &chain, &url, &image)).ok();
    let result = verify(&image, &root, Some(&pki_file("tsa-ecdsa-chain.pem"))).ok().json();
    assert_eq!(result["signatures"][0]["timestamp"]["policy"], "2.999.1", "{result}");
}

/// CRLs are judged fresh at the current time, not at a timestamp's: a CRL that was current when
/// the signature was timestamped but is stale now says nothing about revocation today.
#[test]
fn crls_must_be_fresh_now_even_for_a_timestamped_signature() {
    let tsa = Tsa::start();
    let dir = tempfile::tempdir().unwrap();
    let (key, cert, chain) = (pki_file("leaf-lapsed.key"), pki_file("leaf-lapsed.pem"), pki_file("chain-lapsed.pem"));
    let root = pki_file("lapsed-root.pem");
    let tsa_chain = pki_file("tsa-ecdsa-chain.pem");
    let (_, image) = push_image(&unique_repo("tsa-crl"));
    ironsign_at("-100d", &sign_args(&key, &cert, &chain, &tsa.url("ecdsa", Some("-100d")), &image)).ok();
    let verify_with = |crl: &Path| {
        let args = ["verify", "--ca-roots", &root, "--certificate-identity", IDENTITY, "-o", "json"];
        let mut args = args.to_vec();
        args.extend(["--timestamp-certificate-chain", &tsa_chain, "--crl", crl.to_str().unwrap(), &image]);
        ironsign(&args)
    };
    // Issued 50 days ago, valid one hour: after the timestamp, long stale now.
    let stale = dir.path().join("stale.pem");
    make_crl(dir.path(), "lapsed-inter", &[], Some("-50d"), &stale);
    let run = verify_with(&stale).code(12);
    assert_eq!(rejection_codes(&run), ["CERT_UNTRUSTED_CHAIN"]);
    assert!(run.stderr.contains("nextUpdate"), "{}", run.stderr);
    // A current CRL: clean passes (at the timestamp's time), listing the leaf revokes.
    let clean = dir.path().join("clean.pem");
    make_crl(dir.path(), "lapsed-inter", &[], None, &clean);
    let result = verify_with(&clean).ok().json();
    assert_eq!(result["signatures"][0]["checks"][0], "timestamp");
    let revoked = dir.path().join("revoked.pem");
    make_crl(dir.path(), "lapsed-inter", &["leaf-lapsed"], None, &revoked);
    assert_eq!(rejection_codes(&verify_with(&revoked).code(12)), ["CERT_REVOKED"]);
}
