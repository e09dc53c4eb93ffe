//! Revocation with CRL files (`verify --crl`): CRLs made by `openssl ca -gencrl` for the test
//! intermediate. A revoked leaf fails with CERT_REVOKED; a CRL that does not list it passes; a
//! stale CRL (dated with libfaketime) and a CRL signed by another CA fail closed; of several CRLs
//! of one issuer the newest counts. And the validity of the trust anchor a path ends at (not of
//! another root sharing its key).

use ironsign_e2e::*;
use std::path::Path;

const IDENTITY: &str = "signer@example.com";

#[test]
fn crls_revoke_fail_closed_and_pass_when_clean() {
    let dir = tempfile::tempdir().unwrap();
    let (_, image) = push_image(&unique_repo("crl"));
    ironsign(&[
        "sign",
        "--key",
        &pki_file("leaf.key"),
        "--certificate",
        &pki_file("leaf.pem"),
        "--certificate-chain",
        &pki_file("chain.pem"),
        &image,
    ])
    .ok();
    let root = pki_file("root.pem");
    let verify = |crl: &Path| {
        ironsign(&[
            "verify",
            "--ca-roots",
            &root,
            "--certificate-identity",
            IDENTITY,
            "--crl",
            crl.to_str().unwrap(),
            "-o",
            "json",
            &image,
        ])
    };

    let revoked = dir.path().join("revoked.pem");
    make_crl(dir.path(), "inter", &["leaf"], None, &revoked);
    let run = verify(&revoked).code(12);
    assert_eq!(rejection_codes(&run), ["CERT_REVOKED"]);
    assert!(run.stderr.contains("revoked"), "{}", run.stderr);

    // The intermediate revoked by the root: the leaf's path is revoked too.
    let inter_revoked = dir.path().join("inter-revoked.pem");
    make_crl(dir.path(), "root", &["inter"], None, &inter_revoked);
    assert_eq!(rejection_codes(&verify(&inter_revoked).code(12)), ["CERT_REVOKED"]);

    // A current CRL that lists other certificates: accepted.
    let clean = dir.path().join("clean.pem");
    make_crl(dir.path(), "inter", &["leaf-rsa"], None, &clean);
    verify(&clean).ok();

    // A stale CRL (nextUpdate 10 days ago): not trusted to say "not revoked".
    let stale = dir.path().join("stale.pem");
    make_crl(dir.path(), "inter", &[], Some("-10d"), &stale);
    assert_eq!(rejection_codes(&verify(&stale).code(12)), ["CERT_UNTRUSTED_CHAIN"]);

    // A CRL with the intermediate's name but signed by the attacker's key.
    let forged = dir.path().join("forged.pem");
    make_crl(dir.path(), "attacker-inter", &[], None, &forged);
    assert_eq!(rejection_codes(&verify(&forged).code(12)), ["CERT_UNTRUSTED_CHAIN"]);

    // Not a CRL at all.
    let run =
        ironsign(&["verify", "--ca-roots", &root, "--certificate-identity", IDENTITY, "--crl", &root, &image]).code(3);
    assert!(run.stderr.contains("CRL"), "{}", run.stderr);
}

/// Verifies `image` with the CRL files given (each may hold several CRLs).
fn verify_with_crls(image: &str, crls: &[&Path]) -> Run {
    let root = pki_file("root.pem");
    let mut args = vec!["verify", "--ca-roots", &root, "--certificate-identity", IDENTITY, "-o", "json"];
    for crl in crls {
        args.extend(["--crl", crl.to_str().unwrap()]);
    }
    args.push(image);
    ironsign(&args)
}

#[test]
fn the_newest_crl_of_an_issuer_counts_whatever_the_order() {
    let dir = tempfile::tempdir().unwrap();
    let (_, image) = push_image(&unique_repo("crl-newest"));
    let (key, cert, chain) = (pki_file("leaf.key"), pki_file("leaf.pem"), pki_file("chain.pem"));
    ironsign(&["sign", "--key", &key, "--certificate", &cert, "--certificate-chain", &chain, &image]).ok();
    let crl = |name: &str, revoked: &[&str], faketime: Option<&str>, number: u32| {
        let path = dir.path().join(name);
        make_crl_numbered(dir.path(), "inter", revoked, faketime, number, &path);
        path
    };
    // Both current (valid one hour from thisUpdate), 30 minutes apart, the same cRLNumber.
    let older_clean = crl("older-clean.pem", &[], Some("-30m"), 1);
    let newer_revoking = crl("newer-revoking.pem", &["leaf"], None, 1);
    let older_revoking = crl("older-revoking.pem", &["leaf"], Some("-30m"), 1);
    let newer_clean = crl("newer-clean.pem", &[], None, 1);
    for order in [[&older_clean, &newer_revoking], [&newer_revoking, &older_clean]] {
        let run = verify_with_crls(&image, &[order[0], order[1]]).code(12);
        assert_eq!(rejection_codes(&run), ["CERT_REVOKED"], "{order:?}");
    }
    // The revocation was lifted (a certificate hold released): the newer, clean CRL counts.
    for order in [[&older_revoking, &newer_clean], [&newer_clean, &older_revoking]] {
        verify_with_crls(&image, &[order[0], order[1]]).ok();
    }
    // Several CRLs in one file are sorted the same way.
    let both = dir.path().join("both.pem");
    let text = [&older_clean, &newer_revoking].map(|p| std::fs::read_to_string(p).unwrap()).concat();
    std::fs::write(&both, text).unwrap();
    assert_eq!(rejection_codes(&verify_with_crls(&image, &[&both]).code(12)), ["CERT_REVOKED"]);
    // A higher cRLNumber wins over a later thisUpdate (RFC 5280 §5.2.3: numbers only increase).
    let numbered_revoking = crl("n5-revoking.pem", &["leaf"], Some("-30m"), 5);
    let numbered_clean = crl("n4-clean.pem", &[], None, 4);
    for order in [[&numbered_revoking, &numbered_clean], [&numbered_clean, &numbered_revoking]] {
        let run = verify_with_crls(&image, &[order[0], order[1]]).code(12);
        assert_eq!(rejection_codes(&run), ["CERT_REVOKED"], "{order:?}");
    }
}

/// Runs openssl, with its clock shifted by `faketime` when given.
fn openssl_at(faketime: Option<&str>, args: &[&str]) {
    let mut env = Vec::new();
    let lib = libfaketime();
    if let Some(f) = faketime {
        env.extend([("LD_PRELOAD", lib.to_str().unwrap()), ("FAKETIME", f)]);
    }
    run(Path::new("openssl"), args, &env).ok();
}

/// A self-signed root CA named `cn` with `key`, made at `faketime` and valid for `days`.
fn make_root(dir: &Path, key: &Path, cn: &str, faketime: Option<&str>, days: &str) -> ironsign::Certificate {
    let out = dir.join(format!("{cn}-{}.pem", faketime.unwrap_or("now")));
    let subject = format!("/CN={cn}");
    // A configuration of its own, so the extensions are exactly these.
    let config = dir.join("req.cnf");
    std::fs::write(&config, "[req]\ndistinguished_name=dn\n[dn]\n").unwrap();
    let (key, path, config) = (key.to_str().unwrap(), out.to_str().unwrap(), config.to_str().unwrap());
    let mut args = vec!["req", "-config", config, "-x509", "-new", "-key", key, "-subj", &subject, "-days", days];
    args.extend(["-out", path]);
    args.extend(["-addext", "basicConstraints=critical,CA:true", "-addext", "keyUsage=critical,keyCertSign,cRLSign"]);
    openssl_at(faketime, &args);
    ironsign::Certificate::from_pem_or_der(&std::fs::read(&out).unwrap(), "root").unwrap()
}

/// A code-signing leaf for the test PKI's leaf key, issued by `issuer` (with `key`), valid from
/// 400 days ago for 800 days.
fn make_leaf(dir: &Path, issuer: &ironsign::Certificate, key: &Path, name: &str) -> String {
    let (csr, issuer_pem, out, ext) = (
        dir.join(format!("{name}.csr")),
        dir.join(format!("{name}-issuer.pem")),
        dir.join(format!("{name}.pem")),
        dir.join("leaf.ext"),
    );
    std::fs::write(&issuer_pem, issuer.to_pem()).unwrap();
    std::fs::write(
        &ext,
        "[ext]\nbasicConstraints=critical,CA:false\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=codeSigning\nsubjectAltName=email:signer@example.com\n",
    )
    .unwrap();
    let [csr, issuer_pem, out_s, ext] = [&csr, &issuer_pem, &out, &ext].map(|p| p.to_str().unwrap().to_owned());
    openssl_at(None, &["req", "-new", "-key", &pki_file("leaf.key"), "-subj", "/CN=Anchor Test Signer", "-out", &csr]);
    let mut args = vec!["x509", "-req", "-in", &csr, "-CA", &issuer_pem, "-CAkey", key.to_str().unwrap()];
    args.extend(["-set_serial", "7", "-days", "800", "-extfile", &ext, "-extensions", "ext", "-out", &out_s]);
    openssl_at(Some("-400d"), &args);
    std::fs::read_to_string(&out).unwrap()
}

/// A `.sig` layer by the test PKI's leaf key carrying `leaf_pem`, verified offline.
fn verify_offline(roots: Vec<ironsign::Certificate>, leaf_pem: &str) -> Result<(), String> {
    use ironsign::Signer as _;
    use ironsign::cosign::{self, SignatureLayer, SignedImage};
    let digest = ironsign::Digest::sha256(b"an image");
    let payload = cosign::simple_signing_payload("registry.example/app", &digest, &Default::default());
    let signer = ironsign::KeyPairSigner::from_file(&pki().join("leaf.key"), None).unwrap();
    let signature = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, signer.sign(&payload).unwrap());
    let annotations =
        [(cosign::SIGNATURE_ANNOTATION, signature), (cosign::CERTIFICATE_ANNOTATION, leaf_pem.to_owned())];
    let layer = SignatureLayer {
        media_type: cosign::SIMPLE_SIGNING_MEDIA_TYPE.into(),
        payload_digest: ironsign::Digest::sha256(&payload),
        payload,
        annotations: annotations.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
        referrer: None,
    };
    let image = SignedImage { repository: "registry.example/app".into(), digest, signatures: vec![layer] };
    let verifier = ironsign::Verifier::new(ironsign::TrustRoot::from_certificates(roots, vec![]).unwrap());
    match verifier.verify(&image, &ironsign::Policy::identity(ironsign::Identity::san(IDENTITY))) {
        Ok(_) => Ok(()),
        Err(ironsign::Error::Verification(ironsign::VerificationError::NoMatchingSignature { rejections, .. })) => {
            Err(rejections[0].reason.code().to_owned())
        }
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn root_validity_is_checked_on_the_anchor_the_path_ends_at() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("root.key");
    openssl_at(
        None,
        &["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", key.to_str().unwrap()],
    );
    // One key, three roots: "Anchor A" re-issued (an expired and a current certificate), and an
    // expired "Anchor B".
    let a_expired = make_root(dir.path(), &key, "Anchor A", Some("-400d"), "30");
    let a_current = make_root(dir.path(), &key, "Anchor A", None, "3650");
    let b_expired = make_root(dir.path(), &key, "Anchor B", Some("-400d"), "30");
    let leaf_a = make_leaf(dir.path(), &a_current, &key, "leaf-a");
    let leaf_b = make_leaf(dir.path(), &b_expired, &key, "leaf-b");

    // A path to Anchor B ends at an expired root, whatever other root shares its key.
    for roots in [vec![a_current.clone(), b_expired.clone()], vec![b_expired.clone(), a_current.clone()]] {
        assert_eq!(verify_offline(roots, &leaf_b), Err("CERT_EXPIRED".into()));
    }
    // A root re-issued under the same name and key: the current certificate is the anchor.
    for roots in [vec![a_expired.clone(), a_current.clone()], vec![a_current.clone(), a_expired.clone()]] {
        assert_eq!(verify_offline(roots, &leaf_a), Ok(()));
    }
    assert_eq!(verify_offline(vec![a_expired], &leaf_a), Err("CERT_EXPIRED".into()));
}
