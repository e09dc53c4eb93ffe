//! Revocation with CRL files (`verify --crl`): CRLs made by `openssl ca -gencrl` for the test
//! intermediate. A revoked leaf fails with CERT_REVOKED; a CRL that does not list it passes; a
//! stale CRL (dated with libfaketime) and a CRL signed by another CA fail closed.

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
