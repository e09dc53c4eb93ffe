//! Listing (`tree`), orphan garbage collection (`gc`) and `clean` against the real registry, with
//! attachments made by ironsign and by cosign v2 (attest, attach sbom).

use ironsign::cosign::{self, Manifest};
use ironsign::gc::{self, GcOptions, KeepReason, OrphanReason, SkipReason};
use ironsign::{Digest, ImageReference, Location};
use ironsign_e2e::*;
use std::collections::BTreeSet;
use std::sync::Arc;

const VULN: &str = "https://cosign.sigstore.dev/attestation/vuln/v1";
const BUNDLE_TYPE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";

fn sign(image: &str, key: &str, cert: Option<&str>, extra: &[&str]) {
    let key = pki_file(key);
    let cert = cert.map(pki_file);
    let chain = pki_file("chain.pem");
    let mut args = vec!["sign", "--key", key.as_str()];
    if let Some(c) = &cert {
        args.extend(["--certificate", c.as_str(), "--certificate-chain", chain.as_str()]);
    }
    args.extend_from_slice(extra);
    args.push(image);
    ironsign_env(&args, &[("IRONSIGN_PASSWORD", "test-password")]).ok();
}

fn digest_of(by_digest: &str) -> Digest {
    ImageReference::parse(by_digest).unwrap().digest.unwrap()
}

fn location(repo: &str) -> Location {
    ImageReference::parse(&format!("{}/{repo}", registry(RegistryKind::Plain))).unwrap().location
}

fn tags(repo: &str) -> BTreeSet<String> {
    block_on(async { client().list_tags(&location(repo), 10_000).await.unwrap() }).into_iter().collect()
}

fn manifest_bytes(repo: &str, reference: &str) -> Vec<u8> {
    block_on(async { client().get_manifest(&location(repo), reference).await.unwrap().expect("manifest").bytes })
}

fn put_manifest(repo: &str, reference: &str, bytes: &[u8], media_type: &str) -> Digest {
    block_on(async { client().put_manifest(&location(repo), reference, bytes, media_type).await.unwrap() })
}

fn delete(repo: &str, digest: &Digest) {
    assert!(block_on(async { client().delete_manifest(&location(repo), digest).await.unwrap() }));
}

fn exists(repo: &str, reference: &str) -> bool {
    block_on(async { client().head_manifest(&location(repo), reference).await.unwrap().is_some() })
}

/// A legacy `.sbom` attachment, as `cosign attach sbom` writes it (one layer, no subject).
fn push_sbom(repo: &str, subject: &Digest, content: &[u8]) -> Digest {
    block_on(async {
        let c = client();
        let loc = location(repo);
        let blob = c.put_blob(&loc, content).await.unwrap();
        let layer = cosign::LayerSpec {
            media_type: "text/spdx+json".into(),
            digest: blob,
            size: content.len() as u64,
            annotations: Default::default(),
        };
        let config = cosign::signature_config(std::slice::from_ref(&layer));
        c.put_blob(&loc, &config).await.unwrap();
        let manifest = cosign::signature_manifest(&config, &[layer]);
        c.put_manifest(&loc, &subject.attachment_tag("sbom"), &manifest, cosign::OCI_MANIFEST).await.unwrap()
    })
}

/// A Sigstore-bundle referrer of `subject` (pushed by digest, as cosign v3 does) and the referrers
/// fallback index tagged `sha256-<hex>` listing it without annotations (as ggcr writes it).
fn push_bundle_referrer(repo: &str, subject: &Digest, subject_media_type: &str) -> Digest {
    push_bundle_referrer_to(&location(repo), subject, subject_media_type, VULN, true)
}

fn push_bundle_referrer_to(
    loc: &Location,
    subject: &Digest,
    subject_media_type: &str,
    predicate_type: &str,
    fallback: bool,
) -> Digest {
    block_on(async {
        let c = client();
        let loc = loc.clone();
        let empty = c.put_blob(&loc, b"{}").await.unwrap();
        let bundle = bundle_json(predicate_type);
        let bundle = bundle.as_slice();
        let bundle_digest = c.put_blob(&loc, bundle).await.unwrap();
        let referrer = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": cosign::OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.empty.v1+json", "size": 2, "digest": empty,
                       "artifactType": BUNDLE_TYPE},
            "layers": [{"mediaType": BUNDLE_TYPE, "size": bundle.len(), "digest": bundle_digest}],
            "annotations": {"dev.sigstore.bundle.content": "dsse-envelope",
                            "dev.sigstore.bundle.predicateType": predicate_type,
                            "org.opencontainers.image.created": "2020-01-01T00:00:00Z"},
            "subject": {"mediaType": subject_media_type, "size": 1, "digest": subject},
            "artifactType": BUNDLE_TYPE,
        });
        let bytes = serde_json::to_vec(&referrer).unwrap();
        let referrer_digest = Digest::sha256(&bytes);
        c.put_manifest(&loc, referrer_digest.as_str(), &bytes, cosign::OCI_MANIFEST).await.unwrap();
        if !fallback {
            return referrer_digest;
        }
        let index = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": cosign::OCI_INDEX,
            "manifests": [{"mediaType": cosign::OCI_MANIFEST, "size": bytes.len(), "digest": referrer_digest,
                           "artifactType": BUNDLE_TYPE}],
        });
        c.put_manifest(&loc, &subject.attachment_tag(""), &serde_json::to_vec(&index).unwrap(), cosign::OCI_INDEX)
            .await
            .unwrap();
        referrer_digest
    })
}

/// A Sigstore bundle v0.3 as cosign v3 writes it: the leaf certificate and a DSSE envelope
/// (the signature bytes are not checked by listing).
fn bundle_json(predicate_type: &str) -> Vec<u8> {
    use base64::Engine as _;
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let leaf = std::fs::read(pki().join("leaf.pem")).unwrap();
    let leaf = ironsign::Certificate::from_pem_or_der(&leaf, "leaf.pem").unwrap();
    let statement = serde_json::json!({"_type": "https://in-toto.io/Statement/v1", "subject": [],
                                       "predicateType": predicate_type, "predicate": {}});
    serde_json::to_vec(&serde_json::json!({
        "mediaType": BUNDLE_TYPE,
        "verificationMaterial": {"certificate": {"rawBytes": b64(leaf.der())}},
        "dsseEnvelope": {"payload": b64(statement.to_string().as_bytes()),
                         "payloadType": "application/vnd.in-toto+json", "signatures": [{"sig": b64(b"sig")}]},
    }))
    .unwrap()
}

fn cosign_v2(args: &[&str], dir: &std::path::Path) -> Run {
    let mut cmd = std::process::Command::new(Cosign::V2.bin());
    cmd.args(args).current_dir(dir).env("COSIGN_PASSWORD", "pw");
    let out = cmd.output().expect("cosign");
    let run = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    run.ok()
}

fn tree_json(image: &str, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["tree", "--output", "json"];
    args.extend_from_slice(extra);
    args.push(image);
    ironsign(&args).ok().json()
}

#[test]
fn tree_lists_signatures_attestations_sboms_and_statuses() {
    let repo = unique_repo("tree");
    let (tagged, by_digest) = push_image(&repo);
    sign(&by_digest, "leaf.key", Some("leaf.pem"), &[]);
    sign(&by_digest, "other-leaf.key", None, &[]);
    sign(&by_digest, "leaf-otherid.key", Some("leaf-otherid.pem"), &[]);
    // An attestation and an SBOM written by cosign v2.
    let dir = tempfile::tempdir().unwrap();
    let leaf_key = pki_file("leaf.key");
    cosign_v2(&["import-key-pair", "--key", &leaf_key, "--output-key-prefix", "imported"], dir.path());
    std::fs::write(
        dir.path().join("p.json"),
        r#"{"scanner":{"uri":"pkg:github/aquasecurity/trivy","version":"0.50.0"},"metadata":{"scanStartedOn":"2026-01-01T00:00:00Z","scanFinishedOn":"2026-01-01T00:00:01Z"}}"#,
    )
    .unwrap();
    let common = ["--allow-http-registry", "--key", "imported.key", "--tlog-upload=false", "-y"];
    let mut attest = vec!["attest", "--type", "vuln", "--predicate", "p.json"];
    attest.extend(common);
    attest.push(&by_digest);
    cosign_v2(&attest, dir.path());
    std::fs::write(dir.path().join("f.spdx.json"), r#"{"spdxVersion":"SPDX-2.3","name":"test"}"#).unwrap();
    cosign_v2(
        &["attach", "sbom", "--allow-http-registry", "--sbom", "f.spdx.json", "--type", "spdx", &by_digest],
        dir.path(),
    );

    // Without trust: what is there, nothing checked.
    let t = tree_json(&tagged, &[]);
    assert_eq!(t["media_type"], "application/vnd.ironsign.artifact-tree+json;version=0.1");
    assert_eq!(t["digest"], digest_of(&by_digest).as_str());
    let sigs = t["signatures"]["entries"].as_array().unwrap();
    assert_eq!(sigs.len(), 3);
    assert_eq!(sigs[0]["key_only"], false);
    assert_eq!(sigs[0]["signer"]["subject"], "CN=Ironsign Test Signer,OU=Pipeline,O=Ironsign Test,C=US");
    assert!(sigs[0]["signer"]["sans"].as_array().unwrap().iter().any(|s| s == "signer@example.com"));
    assert!(sigs[0]["signer"]["issuer"].as_str().unwrap().contains("Intermediate"));
    assert!(sigs[0]["signer"]["not_after"].as_str().unwrap().ends_with('Z'));
    assert_eq!(sigs[0]["signer"]["chain_length"], 2);
    assert_eq!(sigs[1]["key_only"], true);
    assert!(sigs[1].get("signer").is_none());
    assert!(sigs.iter().all(|s| s["status"]["state"] == "not_checked"));
    assert_eq!(sigs[0]["media_type"], cosign::SIMPLE_SIGNING_MEDIA_TYPE);
    let atts = t["attestations"]["entries"].as_array().unwrap();
    assert_eq!(atts.len(), 1);
    assert_eq!(atts[0]["predicate_type"], VULN);
    assert_eq!(atts[0]["predicate_type_source"], "statement");
    assert_eq!(atts[0]["media_type"], cosign::DSSE_MEDIA_TYPE);
    assert_eq!(atts[0]["key_only"], true);
    let sboms = t["sboms"]["entries"].as_array().unwrap();
    assert_eq!(sboms[0]["media_type"], "text/spdx+json");
    assert_eq!(sboms[0]["size"], 40);
    assert_eq!(t["referrers"]["source"], "none");
    assert!(t.get("verification").is_none());

    // With trust: one verified, two rejected, each with its code.
    let root = pki_file("root.pem");
    let t = tree_json(&tagged, &["--ca-roots", &root, "--certificate-identity", "signer@example.com"]);
    let sigs = t["signatures"]["entries"].as_array().unwrap();
    assert_eq!(sigs[0]["status"], serde_json::json!({"state": "verified", "matched_identity": "signer@example.com"}));
    assert_eq!(sigs[1]["status"]["state"], "rejected");
    assert_eq!(sigs[1]["status"]["code"], "MISSING_CERTIFICATE");
    assert_eq!(sigs[2]["status"]["code"], "IDENTITY_MISMATCH");
    assert_eq!(t["verification"], serde_json::json!({"verified": 1, "rejected": 2}));
    // Key trust: the key-only signature made with other-leaf verifies, the others do not.
    let other_pub = dir.path().join("other.pub");
    let other = ironsign::KeyPairSigner::from_file(&pki().join("other-leaf.key"), None).unwrap();
    std::fs::write(&other_pub, ironsign::Signer::public_key(&other).to_pem()).unwrap();
    let t = tree_json(&by_digest, &["--key", other_pub.to_str().unwrap()]);
    let states: Vec<&str> =
        t["signatures"]["entries"].as_array().unwrap().iter().map(|s| s["status"]["state"].as_str().unwrap()).collect();
    assert_eq!(states, ["rejected", "verified", "rejected"]);

    // Text output, like cosign tree.
    let text = ironsign(&["tree", "--ca-roots", &root, "--certificate-identity", "signer@example.com", &tagged]).ok();
    let out = text.stdout;
    assert!(out.starts_with(&format!("📦 Supply Chain Security Related artifacts for an image: {tagged}\n")), "{out}");
    let hex = digest_of(&by_digest).hex().to_owned();
    let base = tagged.rsplit_once(':').unwrap().0;
    assert!(out.contains(&format!("└── 🔐 Signatures for an image tag: {base}:sha256-{hex}.sig\n")), "{out}");
    assert!(out.contains(&format!("└── 💾 Attestations for an image tag: {base}:sha256-{hex}.att\n")), "{out}");
    assert!(out.contains(&format!("└── 📦 SBOMs for an image tag: {base}:sha256-{hex}.sbom\n")), "{out}");
    assert!(out.contains(&format!("   └── 🍒 {}\n", sigs[0]["digest"].as_str().unwrap())), "{out}");
    assert!(out.contains(&format!("predicate: {VULN}")), "{out}");
    assert!(out.contains("status: ✅ verified (signer@example.com)"), "{out}");
    assert!(out.contains("status: ❌ rejected [IDENTITY_MISMATCH]"), "{out}");
    assert!(out.contains("signer: key only (no certificate)"), "{out}");
}

#[test]
fn tree_lists_every_platform_and_referrers_from_the_fallback_index() {
    let repo = unique_repo("tree-multi");
    let (tagged, by_digest) =
        push_image_to(&registry(RegistryKind::Plain), &repo, &["--platforms", "linux/amd64,linux/arm64"]);
    sign(&tagged, "leaf.key", Some("leaf.pem"), &["--recursive"]);
    let index = digest_of(&by_digest);
    let referrer = push_bundle_referrer(&repo, &index, cosign::OCI_INDEX);
    let t = tree_json(&tagged, &[]);
    assert_eq!(t["manifest_media_type"], cosign::OCI_INDEX);
    assert_eq!(t["signatures"]["entries"].as_array().unwrap().len(), 1);
    let platforms = t["platforms"].as_array().unwrap();
    let names: Vec<String> = platforms
        .iter()
        .map(|p| {
            format!("{}/{}", p["platform"]["os"].as_str().unwrap(), p["platform"]["architecture"].as_str().unwrap())
        })
        .collect();
    assert_eq!(names, ["linux/amd64", "linux/arm64"]);
    for p in platforms {
        assert_eq!(p["signatures"]["entries"].as_array().unwrap().len(), 1, "{p}");
        assert!(p["reference"].as_str().unwrap().contains("@sha256:"));
        assert!(p.get("media_type").is_none());
    }
    // The fallback index carries no annotations: they come from the referrer manifest.
    let refs = &t["referrers"];
    assert_eq!(refs["source"], "fallback_tag");
    assert!(refs["fallback_tag"].as_str().unwrap().ends_with(&format!(":sha256-{}", index.hex())));
    let entry = &refs["entries"][0];
    assert_eq!(entry["digest"], referrer.as_str());
    assert_eq!(entry["kind"], "sigstore_bundle");
    assert_eq!(entry["artifact_type"], BUNDLE_TYPE);
    assert_eq!(entry["predicate_type"], VULN);
    assert_eq!(entry["layer_media_types"][0], BUNDLE_TYPE);
    assert_eq!(entry["bundle"]["content"], "dsse_envelope");
    assert_eq!(entry["bundle"]["predicate_type"], VULN);
    assert_eq!(entry["bundle"]["signer"]["subject"], "CN=Ironsign Test Signer,OU=Pipeline,O=Ironsign Test,C=US");
    assert!(entry["bundle"]["signer"]["sans"].as_array().unwrap().iter().any(|s| s == "signer@example.com"));
    let text = ironsign(&["tree", &tagged]).ok().stdout;
    assert!(text.contains(&format!("└── 🔗 {VULN} artifacts via OCI referrer: {referrer}")), "{text}");
    assert!(text.contains("└── 🖥  linux/arm64: "), "{text}");
    // --no-platforms lists the index alone.
    assert!(tree_json(&tagged, &["--no-platforms"])["platforms"].as_array().unwrap().is_empty());
}

#[test]
fn tree_failures_are_typed() {
    let repo = unique_repo("tree-neg");
    let (_, by_digest) = push_image(&repo);
    let d = digest_of(&by_digest);
    delete(&repo, &d);
    let gone = ironsign(&["tree", "--output", "json", &by_digest]).code(11);
    assert_eq!(gone.json()["error"]["code"], "IMAGE_NOT_FOUND");
    // Certificate trust without an identity is refused before any request.
    let root = pki_file("root.pem");
    ironsign(&["tree", "--ca-roots", &root, &by_digest]).code(3);
    // Nothing attached.
    let (tagged, _) = push_image(&repo);
    let out = ironsign(&["tree", &tagged]).ok().stdout;
    assert!(out.contains("No Supply Chain Security Related Artifacts found"), "{out}");
}

/// The repository of the GC test: every kind of live and orphaned attachment.
struct GcFixture {
    repo: String,
    moved_away: Digest,
    current: Digest,
    deleted: Digest,
    index: Digest,
    children: Vec<Digest>,
    referrer: Digest,
    copy_tagged: Digest,
}

fn gc_fixture(name: &str) -> GcFixture {
    let repo = unique_repo(name);
    let addr = registry(RegistryKind::Plain);
    // A mutable tag moved: A is untagged now, B is current; both signed.
    let (tagged, a) = push_image(&repo);
    sign(&a, "leaf.key", Some("leaf.pem"), &[]);
    let (_, b) = push_image(&repo);
    sign(&tagged, "leaf.key", Some("leaf.pem"), &[]);
    // An image deleted by digest after being signed, with an SBOM and a bundle referrer.
    let (_, c) = push_image_to(&addr, &repo, &["--count", "1"]);
    sign(&c, "leaf.key", Some("leaf.pem"), &[]);
    let deleted = digest_of(&c);
    push_sbom(&repo, &deleted, br#"{"spdxVersion":"SPDX-2.3","name":"deleted"}"#);
    let referrer = push_bundle_referrer(&repo, &deleted, cosign::OCI_MANIFEST);
    delete(&repo, &deleted);
    // A multi-platform index whose children are reachable only through it.
    let target = format!("{addr}/{repo}:multi");
    let line = std::process::Command::new(repo_root().join("scripts/make-test-image"))
        .args([target.as_str(), "--platforms", "linux/amd64,linux/arm64"])
        .output()
        .unwrap();
    let line = String::from_utf8(line.stdout).unwrap();
    let index = Digest::parse(line.trim().rsplit_once('@').unwrap().1).unwrap();
    sign(&target, "leaf.key", Some("leaf.pem"), &["--recursive"]);
    let m = Manifest::parse(&manifest_bytes(&repo, index.as_str()), "index").unwrap();
    let children: Vec<Digest> = m.manifests.iter().map(|d| d.digest.clone()).collect();
    // A live image tagged `sha256-<its own hex>` (what cosign copy writes): an ordinary tag.
    let (_, e) = push_image_to(&addr, &repo, &["--count", "1"]);
    let copy_tagged = digest_of(&e);
    let bytes = manifest_bytes(&repo, copy_tagged.as_str());
    put_manifest(&repo, &copy_tagged.attachment_tag(""), &bytes, cosign::OCI_MANIFEST);
    sign(&e, "leaf.key", Some("leaf.pem"), &[]);
    delete_tag_only(&repo, "v1-0", &copy_tagged);
    GcFixture {
        repo,
        moved_away: digest_of(&a),
        current: digest_of(&b),
        deleted,
        index,
        children,
        referrer,
        copy_tagged,
    }
}

/// Distribution cannot delete a tag alone: re-point `tag` elsewhere so that only the
/// `sha256-<hex>` tag keeps `digest` alive.
fn delete_tag_only(repo: &str, tag: &str, digest: &Digest) {
    let current = block_on(async { client().head_manifest(&location(repo), tag).await.unwrap() }).unwrap();
    assert_eq!(&current.digest, digest);
    // Point the tag at the index instead; the copy tag still reaches `digest`.
    let multi = manifest_bytes(repo, "multi");
    put_manifest(repo, tag, &multi, cosign::OCI_INDEX);
}

fn orphan_tags(plan: &serde_json::Value) -> BTreeSet<(String, String)> {
    plan["repositories"][0]["orphans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| (o["tag"].as_str().unwrap().to_owned(), o["reason"].as_str().unwrap().to_owned()))
        .collect()
}

#[test]
fn gc_finds_every_orphan_and_deletes_nothing_live() {
    let f = gc_fixture("gc");
    let addr = registry(RegistryKind::Plain);
    let repo_ref = format!("{addr}/{}", f.repo);
    let before = tags(&f.repo);
    let missing = "subject_missing".to_owned();

    // Dry run: the deleted image's .sig, .sbom and fallback index; nothing deleted.
    let plan = ironsign(&["gc", "--output", "json", &repo_ref]).ok().json();
    let expected: BTreeSet<(String, String)> = [
        (f.deleted.attachment_tag("sig"), missing.clone()),
        (f.deleted.attachment_tag("sbom"), missing.clone()),
        (f.deleted.attachment_tag(""), missing.clone()),
    ]
    .into();
    assert_eq!(orphan_tags(&plan), expected);
    let fallback = plan["repositories"][0]["orphans"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["kind"] == "referrers_index")
        .unwrap()
        .clone();
    assert_eq!(fallback["referrers"], serde_json::json!([f.referrer.as_str()]));
    let kept = plan["repositories"][0]["kept"].as_array().unwrap();
    let reason_of = |tag: String| kept.iter().find(|k| k["tag"] == tag.as_str()).map(|k| k["reason"].clone());
    assert_eq!(reason_of(f.moved_away.attachment_tag("sig")), Some("subject_present".into()));
    assert_eq!(reason_of(f.current.attachment_tag("sig")), Some("subject_tagged".into()));
    assert_eq!(reason_of(f.index.attachment_tag("sig")), Some("subject_tagged".into()));
    for child in &f.children {
        assert_eq!(reason_of(child.attachment_tag("sig")), Some("subject_tagged".into()), "child {child}");
    }
    assert_eq!(reason_of(f.copy_tagged.attachment_tag("sig")), Some("subject_tagged".into()));
    assert_eq!(plan["summary"]["orphans"], 3);
    assert_eq!(tags(&f.repo), before, "a dry run deletes nothing");
    let text = ironsign(&["gc", &repo_ref]).ok().stdout;
    assert!(text.contains("dry run: nothing deleted"), "{text}");

    // With --include-untagged the moved tag's old signature is an orphan too.
    let plan = ironsign(&["gc", "--output", "json", "--include-untagged", "--repository", &repo_ref]).ok().json();
    let mut expected_untagged = expected.clone();
    expected_untagged.insert((f.moved_away.attachment_tag("sig"), "subject_untagged".into()));
    assert_eq!(orphan_tags(&plan), expected_untagged);
    assert_eq!(tags(&f.repo), before);

    // --older-than: legacy attachments carry no time and are kept; the referrer says 2020.
    let plan = ironsign(&["gc", "--output", "json", "--older-than", "30d", &repo_ref]).ok().json();
    assert_eq!(orphan_tags(&plan), [(f.deleted.attachment_tag(""), missing.clone())].into());
    let plan = ironsign(&["gc", "--output", "json", "--older-than", "36500d", &repo_ref]).ok().json();
    assert!(orphan_tags(&plan).is_empty());
    let kept = plan["repositories"][0]["kept"].as_array().unwrap();
    assert!(kept.iter().any(|k| k["reason"] == "age_unknown"));
    assert!(kept.iter().any(|k| k["reason"] == "too_recent"));

    // Delete.
    let out = ironsign(&["gc", "--output", "json", "--include-untagged", "--delete", &repo_ref]).ok().json();
    assert_eq!(out["report"]["summary"]["deleted"], 5, "{out}"); // 3 tags, the referrer, the old .sig
    assert_eq!(out["report"]["summary"]["failed"], 0);
    let after = tags(&f.repo);
    for gone in [
        f.deleted.attachment_tag("sig"),
        f.deleted.attachment_tag("sbom"),
        f.deleted.attachment_tag(""),
        f.moved_away.attachment_tag("sig"),
    ] {
        assert!(!after.contains(&gone), "{gone} still there");
    }
    assert!(!exists(&f.repo, f.referrer.as_str()), "the referrer manifest is deleted with its index");
    // Everything live stays: tags, images, signatures, index children.
    let mut live: Vec<String> = vec!["v1".into(), "multi".into(), f.copy_tagged.attachment_tag("")];
    live.extend([&f.current, &f.index, &f.copy_tagged].iter().map(|d| d.attachment_tag("sig")));
    live.extend(f.children.iter().map(|d| d.attachment_tag("sig")));
    for tag in &live {
        assert!(after.contains(tag), "{tag} was deleted");
    }
    for d in [&f.current, &f.index, &f.copy_tagged, &f.moved_away].into_iter().chain(&f.children) {
        assert!(exists(&f.repo, d.as_str()), "image {d} was deleted");
    }
    // Nothing left to collect.
    let plan = ironsign(&["gc", "--output", "json", "--include-untagged", &repo_ref]).ok().json();
    assert!(orphan_tags(&plan).is_empty(), "{plan}");
}

#[test]
fn gc_rechecks_keep_an_image_pushed_during_the_scan() {
    let repo = unique_repo("gc-race");
    let loc = location(&repo);
    let mut images = Vec::new();
    for _ in 0..3 {
        let (_, d) = push_image_to(&registry(RegistryKind::Plain), &repo, &["--count", "1"]);
        sign(&d, "leaf.key", Some("leaf.pem"), &[]);
        let digest = digest_of(&d);
        images.push((digest.clone(), manifest_bytes(&repo, digest.as_str())));
        delete(&repo, &digest);
    }
    let client = client();
    let options = GcOptions::default();
    let plan = block_on(gc::scan(&client, std::slice::from_ref(&loc), &options));
    assert_eq!(plan.summary.orphans, 3);
    assert!(plan.repositories[0].orphans.iter().all(|o| o.reason == OrphanReason::SubjectMissing));

    // Image 0 is pushed again between the scan and the deletion: the second scan keeps it.
    put_manifest(&repo, "back", &images[0].1, cosign::OCI_MANIFEST);
    // Image 1 is pushed again right before its own deletion (after the second scan): the last
    // check before the DELETE keeps it.
    let (again_digest, again_bytes, repo2) = (images[1].0.clone(), images[1].1.clone(), repo.clone());
    let hook: gc::BeforeDeleteFn = Arc::new(move |o: &gc::Orphan| {
        if o.subject == again_digest {
            let (bytes, repo) = (again_bytes.clone(), repo2.clone());
            std::thread::spawn(move || put_manifest(&repo, "late", &bytes, cosign::OCI_MANIFEST)).join().unwrap();
        }
    });
    let options = GcOptions { before_delete: Some(hook), ..GcOptions::default() };
    let report = block_on(gc::execute(&client, &plan, &options));
    assert_eq!(report.summary.failed, 0, "{report:?}");
    let skipped: Vec<(Digest, SkipReason)> =
        report.skipped.iter().map(|s| (gc::parse_attachment_tag(&s.tag).unwrap().0, s.reason)).collect();
    assert!(skipped.contains(&(images[0].0.clone(), SkipReason::NoLongerOrphan)), "{skipped:?}");
    assert!(skipped.contains(&(images[1].0.clone(), SkipReason::SubjectReappeared)), "{skipped:?}");
    assert_eq!(report.deleted.len(), 1);
    assert_eq!(report.deleted[0].tag, images[2].0.attachment_tag("sig"));
    let after = tags(&repo);
    assert!(after.contains(&images[0].0.attachment_tag("sig")));
    assert!(after.contains(&images[1].0.attachment_tag("sig")));
    assert!(!after.contains(&images[2].0.attachment_tag("sig")));
    // The survivors still verify.
    let root = pki_file("root.pem");
    let back = format!("{}/{repo}@{}", registry(RegistryKind::Plain), images[0].0);
    ironsign(&["verify", "--ca-roots", &root, "--certificate-identity", "signer@example.com", &back]).ok();
}

#[test]
fn gc_keeps_an_untagged_image_that_is_tagged_again_during_the_scan() {
    let repo = unique_repo("gc-retag");
    let (tagged, a) = push_image(&repo);
    sign(&a, "leaf.key", Some("leaf.pem"), &[]);
    let a = digest_of(&a);
    let a_bytes = manifest_bytes(&repo, a.as_str());
    push_image(&repo); // moves v1
    sign(&tagged, "leaf.key", Some("leaf.pem"), &[]);
    let client = client();
    let options = GcOptions { include_untagged: true, ..GcOptions::default() };
    let plan = block_on(gc::scan(&client, &[location(&repo)], &options));
    assert_eq!(plan.repositories[0].orphans.len(), 1);
    assert_eq!(plan.repositories[0].orphans[0].reason, OrphanReason::SubjectUntagged);
    put_manifest(&repo, "rollback", &a_bytes, cosign::OCI_MANIFEST);
    let report = block_on(gc::execute(&client, &plan, &options));
    assert!(report.deleted.is_empty(), "{report:?}");
    assert_eq!(report.skipped[0].reason, SkipReason::NoLongerOrphan);
    assert!(tags(&repo).contains(&a.attachment_tag("sig")));
}

#[test]
fn gc_never_deletes_a_digest_a_live_tag_shares() {
    // Identical SBOM manifests for two images share one digest: deleting the orphan's by digest
    // would delete the live image's tag too.
    let repo = unique_repo("gc-shared");
    let (_, live) = push_image(&repo);
    let (_, dead) = push_image_to(&registry(RegistryKind::Plain), &repo, &["--count", "1"]);
    let (live, dead) = (digest_of(&live), digest_of(&dead));
    let content = br#"{"spdxVersion":"SPDX-2.3","name":"same"}"#;
    assert_eq!(push_sbom(&repo, &live, content), push_sbom(&repo, &dead, content));
    delete(&repo, &dead);
    let repo_ref = format!("{}/{repo}", registry(RegistryKind::Plain));
    let out = ironsign(&["gc", "--output", "json", "--delete", &repo_ref]).ok().json();
    assert_eq!(out["report"]["summary"]["deleted"], 0, "{out}");
    let kept = out["plan"]["repositories"][0]["kept"].as_array().unwrap();
    assert!(kept.iter().any(|k| k["tag"] == dead.attachment_tag("sbom").as_str() && k["reason"] == "shared_digest"));
    assert!(tags(&repo).contains(&live.attachment_tag("sbom")));
    let _ = KeepReason::SharedDigest;
}

#[test]
fn gc_over_the_catalog_and_argument_errors() {
    let repo = unique_repo("gc-catalog");
    let (_, d) = push_image(&repo);
    sign(&d, "leaf.key", Some("leaf.pem"), &[]);
    let d = digest_of(&d);
    delete(&repo, &d);
    let addr = registry(RegistryKind::Plain);
    let plan = ironsign(&["gc", "--output", "json", "--all-repositories", &addr]).ok().json();
    let ours = plan["repositories"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["repository"] == format!("{addr}/{repo}").as_str())
        .unwrap_or_else(|| panic!("{repo} not scanned"));
    assert_eq!(ours["orphans"][0]["tag"], d.attachment_tag("sig").as_str());
    assert!(plan["summary"]["repositories"].as_u64().unwrap() >= 1);
    assert!(tags(&repo).contains(&d.attachment_tag("sig")), "dry run");
    // Bad input: nothing to scan, a tag instead of a repository, a bad duration.
    ironsign(&["gc"]).code(3);
    ironsign(&["gc", &format!("{addr}/{repo}:v1")]).code(3);
    ironsign(&["gc", "--older-than", "soon", &format!("{addr}/{repo}")]).code(3);
    // A bound exceeded is a registry error, and nothing is deleted.
    let run = ironsign(&["gc", "--delete", "--max-tags", "0", &format!("{addr}/{repo}")]);
    assert_ne!(run.code, 0);
    assert!(run.stdout.contains("REGISTRY_TOO_MANY"), "{}", run.stdout);
    assert!(tags(&repo).contains(&d.attachment_tag("sig")));
}

#[test]
fn clean_removes_the_attachments_of_a_deleted_image() {
    let repo = unique_repo("clean");
    let (_, keep) = push_image(&repo);
    sign(&keep, "leaf.key", Some("leaf.pem"), &[]);
    let (_, gone) = push_image_to(&registry(RegistryKind::Plain), &repo, &["--count", "1"]);
    sign(&gone, "leaf.key", Some("leaf.pem"), &[]);
    let g = digest_of(&gone);
    push_sbom(&repo, &g, br#"{"spdxVersion":"SPDX-2.3","name":"gone"}"#);
    let referrer = push_bundle_referrer(&repo, &g, cosign::OCI_MANIFEST);
    delete(&repo, &g);
    // Not on a terminal and no --force: refused.
    ironsign(&["clean", &gone]).code(3);
    // Only the signature first.
    let r = ironsign(&["clean", "--force", "--type", "signature", "--output", "json", &gone]).ok().json();
    assert_eq!(r["subject_exists"], false);
    assert_eq!(r["removed"].as_array().unwrap().len(), 1);
    assert!(!tags(&repo).contains(&g.attachment_tag("sig")));
    assert!(tags(&repo).contains(&g.attachment_tag("sbom")));
    // Then everything else.
    let run = ironsign(&["clean", "--force", &gone]).ok();
    assert!(
        run.stderr.contains(&format!("Removed {}/{repo}:{}", registry(RegistryKind::Plain), g.attachment_tag("sbom"))),
        "{}",
        run.stderr
    );
    let after = tags(&repo);
    assert!(!after.contains(&g.attachment_tag("sbom")));
    assert!(!after.contains(&g.attachment_tag("")));
    assert!(!exists(&repo, referrer.as_str()));
    // The other image keeps its signature.
    assert!(after.contains(&digest_of(&keep).attachment_tag("sig")));
    let again = ironsign(&["clean", "--force", &gone]).ok();
    assert!(again.stderr.contains("Nothing attached"), "{}", again.stderr);
}

#[test]
fn tree_and_clean_use_the_referrers_api_when_the_registry_has_one() {
    for kind in RegistryKind::WITH_REFERRERS_API {
        tree_and_clean_use_the_referrers_api_of(kind);
    }
}

fn tree_and_clean_use_the_referrers_api_of(kind: RegistryKind) {
    let repo = unique_repo("referrers-api");
    let (tagged, by_digest) = push_image_to(&registry(kind), &repo, &[]);
    sign(&by_digest, "leaf.key", Some("leaf.pem"), &[]);
    let subject = digest_of(&by_digest);
    let loc = ImageReference::parse(&by_digest).unwrap().location;
    let types = [VULN, "https://spdx.dev/Document", "https://sigstore.dev/cosign/sign/v1"];
    let pushed: BTreeSet<String> = types
        .iter()
        .map(|t| push_bundle_referrer_to(&loc, &subject, cosign::OCI_MANIFEST, t, false).to_string())
        .collect();
    // Three referrers listed by the API (which names the config media type as their artifact
    // type: the manifests are read for theirs); no fallback tag exists.
    let t = tree_json(&tagged, &[]);
    assert_eq!(t["referrers"]["source"], "api", "{kind:?}: {t}");
    assert!(t["referrers"].get("fallback_tag").is_none());
    let entries = t["referrers"]["entries"].as_array().unwrap();
    let listed: BTreeSet<String> = entries.iter().map(|e| e["digest"].as_str().unwrap().to_owned()).collect();
    assert_eq!(listed, pushed);
    let predicate_types: BTreeSet<&str> = entries.iter().map(|e| e["predicate_type"].as_str().unwrap()).collect();
    assert_eq!(predicate_types, types.into_iter().collect());
    assert!(entries.iter().all(|e| e["kind"] == "sigstore_bundle" && e["artifact_type"] == BUNDLE_TYPE));
    assert_eq!(t["signatures"]["entries"].as_array().unwrap().len(), 1);
    // clean --type referrer finds them through the API and deletes them by digest.
    let r = ironsign(&["clean", "--force", "--type", "referrer", "--output", "json", &by_digest]).ok().json();
    let removed: BTreeSet<String> =
        r["removed"].as_array().unwrap().iter().map(|e| e["digest"].as_str().unwrap().to_owned()).collect();
    assert_eq!(removed, pushed, "{kind:?}");
    let t = tree_json(&tagged, &[]);
    assert_eq!(t["referrers"]["source"], "api");
    assert!(t["referrers"]["entries"].as_array().unwrap().is_empty());
    assert_eq!(t["signatures"]["entries"].as_array().unwrap().len(), 1, "the .sig stays");
}

#[test]
fn gc_and_tree_work_on_an_image_layout() {
    let dir = tempfile::tempdir().unwrap();
    let layout = format!("oci:{}", dir.path().join("layout").display());
    let make = |tag: &str| {
        let out = std::process::Command::new(repo_root().join("scripts/make-test-image"))
            .arg(format!("{layout}:{tag}"))
            .output()
            .unwrap();
        assert!(out.status.success());
        Digest::parse(String::from_utf8(out.stdout).unwrap().trim().rsplit_once('@').unwrap().1).unwrap()
    };
    let a = make("a");
    let old_b = make("b");
    sign(&format!("{layout}:a"), "leaf.key", Some("leaf.pem"), &[]);
    sign(&format!("{layout}:b"), "leaf.key", Some("leaf.pem"), &[]);
    make("b"); // moves b
    let t = tree_json(&format!("{layout}:a"), &[]);
    assert_eq!(t["signatures"]["entries"][0]["signer"]["sans"][0], "signer@example.com");
    let plan = ironsign(&["gc", "--output", "json", &layout]).ok().json();
    assert!(orphan_tags(&plan).is_empty(), "the old image's blob is still there: {plan}");
    let out = ironsign(&["gc", "--output", "json", "--include-untagged", "--delete", &layout]).ok().json();
    assert_eq!(out["report"]["deleted"][0]["tag"], old_b.attachment_tag("sig").as_str(), "{out}");
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("layout/index.json")).unwrap()).unwrap();
    let names: BTreeSet<&str> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["annotations"]["org.opencontainers.image.ref.name"].as_str())
        .collect();
    let sig_a = a.attachment_tag("sig");
    assert_eq!(names, ["a", "b", sig_a.as_str()].into_iter().collect());
}

/// An SBOM attached to a live image as an OCI 1.1 referrer, then signed the legacy way, and the
/// signature of a referrer of that SBOM: `gc --include-untagged` keeps both (their subjects are
/// reachable as referrers of a tagged image), and still collects what a moved tag left behind.
/// On distribution 2.8 the referrers are listed by fallback indexes, on the other registries by
/// their referrers API (no fallback tag is written there).
fn gc_keeps_the_attachments_of_live_referrers(kind: RegistryKind) {
    let repo = unique_repo("gc-referrers");
    let addr = registry(kind);
    let fallback = !kind.has_referrers_api();
    let (tagged, old) = push_image_to(&addr, &repo, &[]);
    sign(&old, "leaf.key", Some("leaf.pem"), &[]);
    let (_, live) = push_image_to(&addr, &repo, &[]); // moves v1: `old` is untagged now
    sign(&tagged, "leaf.key", Some("leaf.pem"), &[]);
    let loc = ImageReference::parse(&live).unwrap().location;
    let live = digest_of(&live);
    let sbom = push_bundle_referrer_to(&loc, &live, cosign::OCI_MANIFEST, "https://spdx.dev/Document", fallback);
    let sbom_ref = format!("{addr}/{repo}@{sbom}");
    sign(&sbom_ref, "leaf.key", Some("leaf.pem"), &[]);
    let signed_sbom = push_bundle_referrer_to(&loc, &sbom, cosign::OCI_MANIFEST, VULN, fallback);
    sign(&format!("{addr}/{repo}@{signed_sbom}"), "leaf.key", Some("leaf.pem"), &[]);
    let repo_ref = format!("{addr}/{repo}");
    let live_tags =
        [live.attachment_tag("sig"), sbom.attachment_tag("sig"), signed_sbom.attachment_tag("sig"), "v1".to_owned()];

    let plan = ironsign(&["gc", "--output", "json", "--include-untagged", &repo_ref]).ok().json();
    assert_eq!(
        orphan_tags(&plan),
        [(digest_of(&old).attachment_tag("sig"), "subject_untagged".to_owned())].into(),
        "{kind:?}: {plan}"
    );
    let kept = plan["repositories"][0]["kept"].as_array().unwrap();
    for tag in [sbom.attachment_tag("sig"), signed_sbom.attachment_tag("sig")] {
        assert!(
            kept.iter().any(|k| k["tag"] == tag.as_str() && k["reason"] == "subject_tagged"),
            "{kind:?}: {tag} not kept: {plan}"
        );
    }
    let out = ironsign(&["gc", "--output", "json", "--include-untagged", "--delete", &repo_ref]).ok().json();
    assert_eq!(out["report"]["summary"]["deleted"], 1, "{kind:?}: {out}");
    assert_eq!(out["report"]["deleted"][0]["tag"], digest_of(&old).attachment_tag("sig").as_str(), "{kind:?}: {out}");
    let after: BTreeSet<String> =
        block_on(async { client().list_tags(&loc, 10_000).await.unwrap() }).into_iter().collect();
    for tag in &live_tags {
        assert!(after.contains(tag), "{kind:?}: {tag} was deleted");
    }
    // go-containerregistry's registry keeps the tags of a manifest deleted by digest; distribution
    // removes them.
    if fallback {
        assert!(after.contains(&live.attachment_tag("")) && after.contains(&sbom.attachment_tag("")));
        assert!(!after.contains(&digest_of(&old).attachment_tag("sig")));
    }
    // The SBOM's signature still verifies.
    let root = pki_file("root.pem");
    ironsign(&["verify", "--ca-roots", &root, "--certificate-identity", "signer@example.com", &sbom_ref]).ok();
}

#[test]
fn gc_keeps_the_attachments_of_live_referrers_with_the_fallback_tag_schema() {
    gc_keeps_the_attachments_of_live_referrers(RegistryKind::Plain);
}

#[test]
fn gc_keeps_the_attachments_of_live_referrers_with_the_referrers_api() {
    gc_keeps_the_attachments_of_live_referrers(RegistryKind::Referrers);
}

#[test]
fn gc_keeps_the_attachments_of_live_referrers_on_olareg() {
    gc_keeps_the_attachments_of_live_referrers(RegistryKind::Olareg);
}
