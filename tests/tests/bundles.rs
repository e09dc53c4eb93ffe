//! Sigstore bundle v0.3 referrers, cosign v3's default format, both ways and on both kinds of
//! registry: go-containerregistry's registry and olareg, which have the OCI 1.1 referrers API, and
//! distribution 2.8 (Debian's docker-registry), which has not and gets the `sha256-<hex>`
//! referrers tag. cosign v3 signs and attests in bundle form and ironsign verifies; ironsign writes
//! bundles and cosign v3 verifies; every new check fails closed.

use base64::Engine as _;
use ironsign::bundle::{self, Bundle, BundleContent, Subject, VerificationMaterial};
use ironsign::dsse::{self, Envelope};
use ironsign::{Digest, ImageReference, KeyPairSigner};
use ironsign_e2e::*;
use std::path::{Path, PathBuf};

const PASSWORD: &str = "bundles-pw";
const TYPE: &str = "https://example.com/build/v1";
const SIGN_TYPE: &str = "https://sigstore.dev/cosign/sign/v1";
/// What cosign's bundle verifier pins: the first URI SAN of the test leaf (sigstore-go takes URI,
/// then email, cosign.md §6.2).
const URI_SAN: &str = "https://ci.example.com/pipelines/signer";

/// Both kinds of registry: with the referrers API (two implementations) and without.
const BOTH: [RegistryKind; 3] = [RegistryKind::Referrers, RegistryKind::Olareg, RegistryKind::Plain];

/// cosign's inputs for a private PKI without Rekor or Fulcio: the test key in cosign's format,
/// an empty signing config (no log, no TSA), a trusted root whose "Fulcio" CA is the test chain
/// (or another one), and a predicate file.
struct CosignFiles {
    _dir: tempfile::TempDir,
    key: String,
    signing_config: String,
    trusted_root: String,
    other_trusted_root: String,
    predicate: String,
}

fn cosign(args: &[&str]) -> Run {
    run(&Cosign::V3.bin(), args, &[("COSIGN_PASSWORD", PASSWORD)])
}

fn cosign_files() -> CosignFiles {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
    let prefix = path("imported");
    cosign(&["import-key-pair", "--key", &pki_file("leaf.key"), "--output-key-prefix", &prefix]).ok();
    let signing_config = path("signing-config.json");
    cosign(&["signing-config", "create", "--out", &signing_config]).ok();
    let trusted_root = |chain: &str, out: &str| {
        let out = path(out);
        let fulcio = format!("url=https://ca.invalid,certificate-chain={}", pki_file(chain));
        cosign(&["trusted-root", "create", "--fulcio", &fulcio, "--out", &out]).ok();
        out
    };
    let predicate = path("predicate.json");
    std::fs::write(&predicate, br#"{"builder":"ci","run":42}"#).unwrap();
    CosignFiles {
        key: format!("{prefix}.key"),
        signing_config,
        trusted_root: trusted_root("chain.pem", "trusted-root.json"),
        other_trusted_root: trusted_root("other-chain.pem", "other-trusted-root.json"),
        predicate,
        _dir: dir,
    }
}

fn new_image(kind: RegistryKind, test: &str) -> String {
    push_image_to(&registry(kind), &unique_repo(test), &[]).1
}

fn digest_of(image: &str) -> Digest {
    ImageReference::parse(image).unwrap().digest.unwrap()
}

fn tags_of(image: &str) -> Vec<String> {
    let reference = ImageReference::parse(image).unwrap();
    block_on(async { client().list_tags(&reference.location, 1000).await.unwrap() })
}

fn verify_identity(image: &str, root: &str, identity: &str) -> Run {
    let root = pki_file(root);
    ironsign(&["verify", "--ca-roots", &root, "--certificate-identity", identity, "-o", "json", image])
}

fn formats(result: &serde_json::Value, field: &str) -> Vec<String> {
    result[field].as_array().unwrap().iter().map(|s| s["format"].as_str().unwrap().to_owned()).collect()
}

#[test]
fn ironsign_verifies_cosign_v3_bundles() {
    let f = cosign_files();
    let (cert, chain) = (pki_file("leaf.pem"), pki_file("chain.pem"));
    for kind in BOTH {
        let image = new_image(kind, "from-cosign-v3");
        let config = ["--allow-http-registry", "--signing-config", &f.signing_config, "-y"];
        // Certificate and chain (an x509CertificateChain bundle), with an annotation.
        let mut args = vec!["sign", "--key", &f.key, "--certificate", &cert, "--certificate-chain", &chain];
        args.extend(["-a", "team=ib"]);
        args.extend(config);
        args.push(&image);
        cosign(&args).ok();
        // Key only (a publicKey bundle) and an attestation with the certificate alone.
        let mut args = vec!["sign", "--key", &f.key];
        args.extend(config);
        args.push(&image);
        cosign(&args).ok();
        let mut args = vec!["attest", "--key", &f.key, "--certificate", &cert, "--predicate", &f.predicate];
        args.extend(["--type", TYPE]);
        args.extend(config);
        args.push(&image);
        cosign(&args).ok();
        let tags = tags_of(&image);
        assert!(!tags.iter().any(|t| t.ends_with(".sig") || t.ends_with(".att")), "{kind:?}: {tags:?}");
        let fallback = digest_of(&image).attachment_tag("");
        assert_eq!(tags.contains(&fallback), !kind.has_referrers_api(), "{kind:?}: {tags:?}");

        let r = verify_identity(&image, "root.pem", "signer@example.com").ok().json();
        assert_eq!(formats(&r, "signatures"), ["sigstore_bundle"], "{kind:?}: {r}");
        assert_eq!(r["signatures"][0]["payload"]["optional"]["team"], "ib");
        assert_eq!(r["signatures"][0]["payload"]["type"], SIGN_TYPE);
        assert!(r["signatures"][0]["referrer"].is_string());
        // The key-only bundle is there too and rejected under certificate trust.
        assert_eq!(r["rejected"][0]["code"], "MISSING_CERTIFICATE", "{r}");
        let public = pki_file("leaf.pub");
        let r = ironsign(&["verify", "--key", &public, "-a", "team=ib", "-o", "json", &image]).ok().json();
        assert_eq!(formats(&r, "signatures"), ["sigstore_bundle"], "{kind:?}: only the annotated one");
        let root = pki_file("root.pem");
        let inter = pki_file("inter.pem");
        let r = ironsign(&[
            "verify-attestation",
            "--type",
            TYPE,
            "--ca-roots",
            &root,
            // This bundle carries the leaf alone: the intermediate comes from the verifier.
            "--ca-intermediates",
            &inter,
            "--certificate-identity",
            "signer@example.com",
            "-o",
            "json",
            &image,
        ])
        .ok()
        .json();
        assert_eq!(formats(&r, "attestations"), ["sigstore_bundle"], "{kind:?}: {r}");
        assert_eq!(r["attestations"][0]["statement"]["predicate"]["run"], 42);

        // tree gives each signature bundle its status; the attestation bundle has none.
        let t = ironsign(&[
            "tree",
            "-o",
            "json",
            "--ca-roots",
            &root,
            "--certificate-identity",
            "signer@example.com",
            &image,
        ])
        .ok()
        .json();
        assert_eq!(t["verification"], serde_json::json!({"verified": 1, "rejected": 1}), "{kind:?}: {t}");
        let mut states: Vec<String> = t["referrers"]["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["status"]["state"].as_str().unwrap_or("none").to_owned())
            .collect();
        states.sort();
        assert_eq!(states, ["none", "rejected", "verified"], "{t}");

        // Fail closed: another identity, another root, another predicate type.
        let run = verify_identity(&image, "root.pem", "someone@example.com").code(12);
        assert!(rejection_codes(&run).contains(&"IDENTITY_MISMATCH".to_owned()), "{}", run.stdout);
        let run = verify_identity(&image, "other-root.pem", "signer@example.com").code(12);
        assert!(rejection_codes(&run).contains(&"CERT_UNTRUSTED_CHAIN".to_owned()), "{}", run.stdout);
        let other = ironsign(&["verify-attestation", "--type", "https://example.com/other", "--key", &public, &image]);
        other.code(12);
    }
}

#[test]
fn cosign_v3_verifies_ironsign_bundles() {
    let f = cosign_files();
    let (key, cert, chain, public) =
        (pki_file("leaf.key"), pki_file("leaf.pem"), pki_file("chain.pem"), pki_file("leaf.pub"));
    for kind in BOTH {
        let image = new_image(kind, "to-cosign-v3");
        let mut args = vec!["sign", "--bundle-format", "--key", &key, "--certificate", &cert];
        args.extend(["--certificate-chain", &chain, "-a", "team=ib", "-o", "json", &image]);
        let report = ironsign(&args).ok().json();
        assert_eq!(report["signatures"][0]["format"], "sigstore_bundle");
        let expected_tag = if kind.has_referrers_api() { String::new() } else { digest_of(&image).attachment_tag("") };
        assert_eq!(report["signatures"][0]["tag"], expected_tag.as_str(), "{kind:?}: {report}");
        ironsign(&["sign", "--registry-referrers-mode", "oci-1-1", "--key", &key, &image]).ok();
        let mut args = vec!["attest", "--bundle-format", "--key", &key, "--certificate", &cert];
        args.extend(["--certificate-chain", &chain, "--predicate", &f.predicate, "--type", TYPE, &image]);
        ironsign(&args).ok();
        let tags = tags_of(&image);
        assert!(!tags.iter().any(|t| t.ends_with(".sig") || t.ends_with(".att")), "{kind:?}: {tags:?}");

        let chain_flags = ["--allow-http-registry", "--allow-certificate-chain", "--insecure-ignore-tlog"];
        let identity = ["--certificate-identity", URI_SAN, "--certificate-oidc-issuer-regexp", ".*"];
        let verify = |command: &str, trusted_root: &str, extra: &[&str]| {
            let mut args = vec![command, "--trusted-root", trusted_root, "--insecure-ignore-sct"];
            args.extend(chain_flags);
            args.extend(identity);
            args.extend(extra);
            args.push(&image);
            cosign(&args)
        };
        let run = verify("verify", &f.trusted_root, &["-a", "team=ib"]).ok();
        assert!(run.stdout.contains(SIGN_TYPE), "{kind:?}: {}", run.stdout);
        verify("verify-attestation", &f.trusted_root, &["--type", TYPE]).ok();
        cosign(&["verify", "--key", &public, "--allow-http-registry", "--insecure-ignore-tlog", &image]).ok();
        // And cosign fails closed too: another root, another type.
        assert_ne!(verify("verify", &f.other_trusted_root, &[]).code, 0, "{kind:?}: cosign accepted another root");
        assert_ne!(verify("verify-attestation", &f.trusted_root, &["--type", "https://example.com/other"]).code, 0);
        // ironsign lists them in `tree` with their format.
        let t = ironsign(&["tree", "-o", "json", &image]).ok().json();
        let entries = t["referrers"]["entries"].as_array().unwrap();
        assert_eq!(entries.len(), 3, "{t}");
        assert!(entries.iter().all(|e| e["kind"] == "sigstore_bundle"), "{t}");
    }
}

#[test]
fn legacy_stays_the_default_and_both_formats_verify_together() {
    let key = pki_file("leaf.key");
    let public = pki_file("leaf.pub");
    for kind in BOTH {
        let image = new_image(kind, "both-formats");
        ironsign(&["sign", "--key", &key, &image]).ok();
        let tags = tags_of(&image);
        assert!(tags.contains(&digest_of(&image).attachment_tag("sig")), "{tags:?}");
        assert!(!tags.contains(&digest_of(&image).attachment_tag("")), "no referrer by default: {tags:?}");
        ironsign(&["sign", "--bundle-format", "--key", &key, &image]).ok();
        let r = ironsign(&["verify", "--all-signatures", "--key", &public, "-o", "json", &image]).ok().json();
        assert_eq!(formats(&r, "signatures"), ["legacy_tag", "sigstore_bundle"], "{kind:?}: {r}");
        // Without --all-signatures the legacy signature settles it and the bundles are not read.
        let r = ironsign(&["verify", "--key", &public, "-o", "json", &image]).ok().json();
        assert_eq!(formats(&r, "signatures"), ["legacy_tag"], "{kind:?}: {r}");
        // Contradicting flags are refused.
        ironsign(&["sign", "--bundle-format", "--registry-referrers-mode", "legacy", "--key", &key, &image]).code(3);
    }
}

/// Pushes `blob` as a bundle referrer of `image` (through the library's writer, so only the blob
/// is hostile).
fn push_raw_bundle(image: &str, blob: &[u8], predicate_type: &str) {
    let reference = ImageReference::parse(image).unwrap();
    block_on(async {
        let c = client();
        let found = c.resolve(&reference).await.unwrap();
        let subject = Subject { media_type: found.media_type, size: found.size, digest: found.digest };
        ironsign::referrers::push_bundle(&c, &reference.location, &subject, blob, predicate_type).await.unwrap();
    });
}

/// A bundle over `statement` signed with a key of the test PKI, carrying `cert` (a PKI file).
fn signed_bundle(statement: &[u8], key: &str, cert: &str) -> serde_json::Value {
    let signer = KeyPairSigner::from_file(Path::new(&pki_file(key)), None).unwrap();
    let envelope = Envelope::sign(dsse::INTOTO_PAYLOAD_TYPE, statement, &signer).unwrap();
    let der = pem::parse(std::fs::read(PathBuf::from(pki_file(cert))).unwrap()).unwrap().into_contents();
    let bundle = Bundle::dsse(envelope, VerificationMaterial::Certificate(der));
    serde_json::from_slice(&bundle.to_json()).unwrap()
}

/// `ironsign verify` with the root and the intermediate (the bundles here carry the leaf alone).
fn verify_leaf_only(image: &str) -> Run {
    let root = pki_file("root.pem");
    let inter = pki_file("inter.pem");
    ironsign(&[
        "verify",
        "--ca-roots",
        &root,
        "--ca-intermediates",
        &inter,
        "--certificate-identity",
        "signer@example.com",
        "-o",
        "json",
        image,
    ])
}

fn rejections_for(image: &str) -> Vec<String> {
    rejection_codes(&verify_leaf_only(image).code(12))
}

#[test]
fn hostile_bundles_are_rejected() {
    for kind in BOTH {
        let image = new_image(kind, "hostile-bundles");
        let digest = digest_of(&image);
        let statement = bundle::sign_statement(&digest, &Default::default());

        // Tampered: the statement swapped after signing.
        let mut tampered = signed_bundle(&statement, "leaf.key", "leaf.pem");
        let other = bundle::sign_statement(&Digest::sha256(b"elsewhere"), &Default::default());
        tampered["dsseEnvelope"]["payload"] = base64::engine::general_purpose::STANDARD.encode(&other).into();
        push_raw_bundle(&image, &serde_json::to_vec(&tampered).unwrap(), SIGN_TYPE);
        assert_eq!(rejections_for(&image), ["BAD_SIGNATURE"], "{kind:?}");

        // Signed for another image, pushed as a referrer of this one.
        let image = new_image(kind, "hostile-bundles");
        push_raw_bundle(
            &image,
            &serde_json::to_vec(&signed_bundle(&other, "leaf.key", "leaf.pem")).unwrap(),
            SIGN_TYPE,
        );
        assert_eq!(rejections_for(&image), ["SUBJECT_MISMATCH"], "{kind:?}");

        // An attestation annotated as a signature is still not a signature.
        let image = new_image(kind, "hostile-bundles");
        let statement_for = |digest: &Digest| {
            ironsign::intoto::Statement::for_image(
                ironsign::intoto::StatementVersion::V1,
                "r",
                digest,
                TYPE,
                serde_json::json!({}),
            )
            .to_json()
        };
        let attestation = signed_bundle(&statement_for(&digest_of(&image)), "leaf.key", "leaf.pem");
        push_raw_bundle(&image, &serde_json::to_vec(&attestation).unwrap(), SIGN_TYPE);
        assert_eq!(rejections_for(&image), ["PREDICATE_TYPE_MISMATCH"], "{kind:?}");

        // Transparency-log entries are not used (no log is configured): a bundle with one verifies
        // like one without, and its integrated time does not rescue an expired certificate.
        let image = new_image(kind, "hostile-bundles");
        let statement = bundle::sign_statement(&digest_of(&image), &Default::default());
        let entry = serde_json::json!({"logIndex": "1", "integratedTime": "1600000000", "kindVersion": {"kind": "dsse", "version": "0.0.1"}});
        let mut logged = signed_bundle(&statement, "leaf.key", "leaf.pem");
        logged["verificationMaterial"]["tlogEntries"] = serde_json::json!([entry]);
        push_raw_bundle(&image, &serde_json::to_vec(&logged).unwrap(), SIGN_TYPE);
        let r = verify_leaf_only(&image).ok().json();
        assert_eq!(formats(&r, "signatures"), ["sigstore_bundle"]);
        let image = new_image(kind, "hostile-bundles");
        let statement = bundle::sign_statement(&digest_of(&image), &Default::default());
        let mut expired = signed_bundle(&statement, "leaf-expired.key", "leaf-expired.pem");
        expired["verificationMaterial"]["tlogEntries"] = serde_json::json!([entry]);
        push_raw_bundle(&image, &serde_json::to_vec(&expired).unwrap(), SIGN_TYPE);
        assert_eq!(rejections_for(&image), ["CERT_EXPIRED"], "{kind:?}");

        // A chain in the bundle never anchors trust: the attacker's chain up to its own root.
        let image = new_image(kind, "hostile-bundles");
        let statement = bundle::sign_statement(&digest_of(&image), &Default::default());
        let signer = KeyPairSigner::from_file(Path::new(&pki_file("attacker-leaf.key")), None).unwrap();
        let envelope = Envelope::sign(dsse::INTOTO_PAYLOAD_TYPE, &statement, &signer).unwrap();
        let ders: Vec<Vec<u8>> = ["attacker-leaf.pem", "attacker-inter.pem", "attacker-root.pem"]
            .iter()
            .map(|f| pem::parse(std::fs::read(pki_file(f)).unwrap()).unwrap().into_contents())
            .collect();
        let attacker = Bundle::dsse(envelope, VerificationMaterial::Chain(ders));
        assert!(matches!(attacker.content, BundleContent::Dsse(_)));
        push_raw_bundle(&image, &attacker.to_json(), SIGN_TYPE);
        assert_eq!(rejections_for(&image), ["CERT_UNTRUSTED_CHAIN"], "{kind:?}");
    }
}

#[test]
fn concurrent_bundle_signers_all_land_in_the_referrers_tag() {
    // distribution 2.8 has no referrers API: every signer read-modify-writes the sha256-<hex>
    // index, and none may lose another's entry.
    const SIGNERS: usize = 6;
    let image = new_image(RegistryKind::Plain, "bundle-race");
    let key = pki_file("leaf.key");
    let threads: Vec<_> = (0..SIGNERS)
        .map(|_| {
            let (key, image) = (key.clone(), image.clone());
            std::thread::spawn(move || ironsign(&["sign", "--bundle-format", "--key", &key, &image]).ok())
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let public = pki_file("leaf.pub");
    let r = ironsign(&["verify", "--key", &public, "-o", "json", &image]).ok().json();
    assert_eq!(formats(&r, "signatures"), vec!["sigstore_bundle"; SIGNERS], "{r}");
    let t = ironsign(&["tree", "-o", "json", &image]).ok().json();
    assert_eq!(t["referrers"]["source"], "fallback_tag");
    assert_eq!(t["referrers"]["entries"].as_array().unwrap().len(), SIGNERS);
}

#[test]
fn image_layouts_get_the_referrers_tag() {
    let dir = tempfile::tempdir().unwrap();
    let layout = format!("oci:{}", dir.path().join("layout").display());
    let out = std::process::Command::new(repo_root().join("scripts/make-test-image"))
        .arg(format!("{layout}:app"))
        .output()
        .unwrap();
    assert!(out.status.success());
    let image = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let (key, public) = (pki_file("leaf.key"), pki_file("leaf.pub"));
    ironsign(&["sign", "--bundle-format", "--key", &key, &image]).ok();
    let r = ironsign(&["verify", "--key", &public, "-o", "json", &image]).ok().json();
    assert_eq!(formats(&r, "signatures"), ["sigstore_bundle"], "{r}");
    let t = ironsign(&["tree", "-o", "json", &image]).ok().json();
    assert_eq!(t["referrers"]["source"], "fallback_tag", "{t}");
}
