//! Batch verification through the library (`ironsign::batch::verify_many`): one client, one
//! verifier, one result per image in order, a bad image reported alone; and the verifier's cache of
//! validated certificate paths, which must never let through what uncached verification refuses:
//! a certificate outside its validity window, a stale CRL, a revoked leaf or another root.

use ironsign::batch::{self, BatchOptions, SignatureScope};
use ironsign::{Error, ImageReference, Policy, TrustRoot, VerificationError, Verifier};
use ironsign_e2e::*;
use std::time::{Duration, SystemTime};

const IDENTITY: &str = "signer@example.com";

fn signed_image(test: &str) -> String {
    let (_, pinned) = push_image(&unique_repo(test));
    ironsign(&[
        "sign",
        "--key",
        &pki_file("leaf.key"),
        "--certificate",
        &pki_file("leaf.pem"),
        "--certificate-chain",
        &pki_file("chain.pem"),
        &pinned,
    ])
    .ok();
    pinned
}

fn trust(root: &str) -> TrustRoot {
    TrustRoot::from_pem(&std::fs::read(pki_file(root)).unwrap(), None).unwrap()
}

fn policy() -> Policy {
    Policy::identity(ironsign::Identity::san(IDENTITY))
}

/// The rejection codes of a NO_MATCHING_SIGNATURE error.
fn rejections(err: &Error) -> Vec<&'static str> {
    match err {
        Error::Verification(VerificationError::NoMatchingSignature { rejections, .. }) => {
            rejections.iter().map(|r| r.reason.code()).collect()
        }
        other => panic!("not NO_MATCHING_SIGNATURE: {other:?}"),
    }
}

#[test]
fn a_batch_reports_the_bad_image_and_verifies_the_others() {
    let good: Vec<String> = (0..5).map(|i| signed_image(&format!("batch-good-{i}"))).collect();
    let (_, unsigned) = push_image(&unique_repo("batch-unsigned"));
    let missing = format!("{}/{}:absent", registry(RegistryKind::Plain), unique_repo("batch-missing"));
    let mut names: Vec<&str> = good.iter().map(String::as_str).collect();
    names.insert(2, &unsigned);
    names.insert(4, &missing);
    let references: Vec<ImageReference> = names.iter().map(|n| ImageReference::parse(n).unwrap()).collect();
    let verifier = Verifier::new(trust("root.pem"));
    let options = BatchOptions { max_concurrency: 3, scope: SignatureScope::Sufficient };
    let results = block_on(batch::verify_many(&client(), &verifier, &references, &policy(), &options));
    assert_eq!(results.len(), names.len());
    for (name, result) in names.iter().zip(&results) {
        match *name {
            n if n == unsigned => assert_eq!(result.as_ref().unwrap_err().code(), "NO_SIGNATURES"),
            n if n == missing => assert_eq!(result.as_ref().unwrap_err().code(), "IMAGE_NOT_FOUND"),
            n => {
                let verified = result.as_ref().unwrap_or_else(|e| panic!("{n}: {e}"));
                assert_eq!(
                    verified.result.digest,
                    references[names.iter().position(|x| x == name).unwrap()].digest.clone().unwrap()
                );
                assert_eq!(verified.result.signatures[0].matched_identity.as_deref(), Some(IDENTITY));
            }
        }
    }
    // Another root: every image fails, none is let through by what the first verifier cached.
    let attacker = Verifier::new(trust("attacker-root.pem"));
    let good_refs: Vec<ImageReference> = good.iter().map(|n| ImageReference::parse(n).unwrap()).collect();
    for result in block_on(batch::verify_many(&client(), &attacker, &good_refs, &policy(), &options)) {
        assert_eq!(rejections(&result.unwrap_err()), ["CERT_UNTRUSTED_CHAIN"]);
    }
}

#[test]
fn a_cached_path_holds_only_within_its_validity_window() {
    let image = ImageReference::parse(&signed_image("path-window")).unwrap();
    let verifier = Verifier::new(trust("root.pem"));
    let at = |t: SystemTime| {
        block_on(batch::verify_image_at(&client(), &verifier, &image, &policy(), SignatureScope::Sufficient, t))
    };
    let now = SystemTime::now();
    at(now).unwrap();
    at(now).unwrap();
    // Past the leaf's notAfter and before its notBefore: refused as without a cache.
    let later = now + Duration::from_secs(60 * 365 * 86_400);
    assert_eq!(rejections(&at(later).unwrap_err()), ["CERT_EXPIRED"]);
    assert_eq!(
        rejections(&at(SystemTime::UNIX_EPOCH + Duration::from_secs(86_400)).unwrap_err()),
        ["CERT_NOT_YET_VALID"]
    );
    // And a clone of the verifier (which shares the cache) agrees.
    let clone = verifier.clone();
    let err = block_on(batch::verify_image_at(&client(), &clone, &image, &policy(), SignatureScope::All, later));
    assert_eq!(rejections(&err.unwrap_err()), ["CERT_EXPIRED"]);
    at(now).unwrap();
}

#[test]
fn a_cached_path_never_outlives_its_crl_nor_reaches_a_verifier_with_other_trust() {
    let dir = tempfile::tempdir().unwrap();
    let image = ImageReference::parse(&signed_image("path-crl")).unwrap();
    // A CRL of the leaf's issuer that does not list it, valid for one hour.
    let clean = dir.path().join("clean.crl");
    make_crl(dir.path(), "inter", &["leaf-rsa"], None, &clean);
    let with_crl = trust("root.pem").with_crls(&std::fs::read(&clean).unwrap(), "clean.crl").unwrap();
    let verifier = Verifier::new(with_crl);
    let at = |v: &Verifier, t: SystemTime| {
        block_on(batch::verify_image_at(&client(), v, &image, &policy(), SignatureScope::Sufficient, t))
    };
    let now = SystemTime::now();
    at(&verifier, now).unwrap();
    // Two hours on the CRL is stale: the cached path is refused as a fresh build would be.
    let err = at(&verifier, now + Duration::from_secs(2 * 3600)).unwrap_err();
    assert_eq!(rejections(&err), ["CERT_UNTRUSTED_CHAIN"]);
    assert!(err.to_string().contains("stale") || format!("{err:?}").contains("nextUpdate"), "{err:?}");

    // The same trust plus a newer CRL revoking the leaf: a new verifier, which cached nothing,
    // refuses.
    let revoked = dir.path().join("revoked.crl");
    make_crl_numbered(dir.path(), "inter", &["leaf"], None, 2, &revoked);
    let revoking = Verifier::new(verifier.trust().clone().with_crls(&std::fs::read(&revoked).unwrap(), "r").unwrap());
    assert_eq!(rejections(&at(&revoking, now).unwrap_err()), ["CERT_REVOKED"]);
    // The first verifier still accepts (its CRL does not list the leaf).
    at(&verifier, now).unwrap();
}
