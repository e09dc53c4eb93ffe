//! `copy`, `save` and `load` against the real registries, checked with ironsign, both cosign
//! releases and skopeo: digests kept, every platform and attachment carried, a re-run copies
//! nothing, referrers land in the destination's API or fallback index, tampered blobs refused.

use ironsign::cosign;
use ironsign::{Digest, ImageReference, Location};
use ironsign_e2e::*;
use std::collections::BTreeSet;
use std::path::Path;

const VULN: &str = "https://cosign.sigstore.dev/attestation/vuln/v1";
const BUNDLE_TYPE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
const PASSWORD: &str = "transfer-pw";

fn cosign(version: Cosign, args: &[&str], dir: &Path) -> Run {
    let mut cmd = std::process::Command::new(version.bin());
    cmd.args(args).current_dir(dir).env("COSIGN_PASSWORD", PASSWORD).env("HOME", dir);
    let out = cmd.output().expect("cosign");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn cosign_verify(version: Cosign, image: &str) -> Run {
    let chain = pki_file("chain.pem");
    let mut args = vec!["verify", "--allow-http-registry", "--certificate-chain", &chain];
    args.extend(["--certificate-identity", "signer@example.com", "--certificate-oidc-issuer-regexp", ".*"]);
    args.extend(["--insecure-ignore-tlog", "--insecure-ignore-sct"]);
    args.extend(version.legacy_flags(false));
    args.push(image);
    let dir = tempfile::tempdir().unwrap();
    cosign(version, &args, dir.path())
}

fn digest_of(by_digest: &str) -> Digest {
    ImageReference::parse(by_digest).unwrap().digest.unwrap()
}

fn location(reference: &str) -> Location {
    ImageReference::parse(reference).unwrap().location
}

fn exists(repo: &str, reference: &str) -> bool {
    block_on(async { client().head_manifest(&location(repo), reference).await.unwrap().is_some() })
}

fn copy_json(args: &[&str]) -> serde_json::Value {
    let mut all = vec!["copy", "--output", "json"];
    all.extend_from_slice(args);
    ironsign(&all).ok().json()
}

/// A Sigstore-bundle referrer of `subject` pushed by digest, listed (when `fallback`) in the
/// `sha256-<hex>` fallback index as ggcr writes it.
fn push_bundle_referrer(repo: &str, subject: &Digest, note: &str, fallback: bool) -> Digest {
    block_on(async {
        let c = client();
        let loc = location(repo);
        let empty = c.put_blob(&loc, b"{}").await.unwrap();
        let bundle = format!(r#"{{"mediaType":"{BUNDLE_TYPE}","note":"{note} {}"}}"#, subject.hex());
        let bundle_digest = c.put_blob(&loc, bundle.as_bytes()).await.unwrap();
        let referrer = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": cosign::OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.empty.v1+json", "size": 2, "digest": empty},
            "layers": [{"mediaType": BUNDLE_TYPE, "size": bundle.len(), "digest": bundle_digest}],
            "annotations": {"dev.sigstore.bundle.content": "dsse-envelope",
                            "dev.sigstore.bundle.predicateType": VULN},
            "subject": {"mediaType": cosign::OCI_MANIFEST, "size": 1, "digest": subject},
            "artifactType": BUNDLE_TYPE,
        });
        let bytes = serde_json::to_vec(&referrer).unwrap();
        let digest = c.put_manifest(&loc, Digest::sha256(&bytes).as_str(), &bytes, cosign::OCI_MANIFEST).await.unwrap();
        if fallback {
            let index = serde_json::json!({"schemaVersion": 2, "mediaType": cosign::OCI_INDEX, "manifests": [
                {"mediaType": cosign::OCI_MANIFEST, "size": bytes.len(), "digest": digest, "artifactType": BUNDLE_TYPE}]});
            c.put_manifest(&loc, &subject.attachment_tag(""), &serde_json::to_vec(&index).unwrap(), cosign::OCI_INDEX)
                .await
                .unwrap();
        }
        digest
    })
}

fn referrer_digests(reference: &str, subject: &Digest) -> (String, BTreeSet<Digest>) {
    let found = block_on(async { client().get_referrers(&location(reference), subject, 100).await.unwrap() });
    let source = serde_json::to_value(found.source).unwrap().as_str().unwrap().to_owned();
    (source, found.descriptors.into_iter().map(|d| d.digest).collect())
}

/// An image with a signature, an attestation, an SBOM and a bundle referrer, on the plain registry.
fn signed_image(name: &str) -> (String, String) {
    let (tagged, by_digest) = push_image(&unique_repo(name));
    sign_with_chain(&by_digest, &[]);
    attest_with_chain(&by_digest, &[]);
    attach_test_sbom(&by_digest);
    push_bundle_referrer(&by_digest, &digest_of(&by_digest), "source", true);
    (tagged, by_digest)
}

#[test]
fn copy_then_verify_on_the_destination_with_ironsign_and_cosign() {
    let (tagged, by_digest) = signed_image("copy-src");
    let subject = digest_of(&by_digest);
    let dst = format!("{}/{}", registry(RegistryKind::Plain), unique_repo("copy-dst"));
    let report = copy_json(&[&tagged, &dst]);
    assert_eq!(report["digest"], subject.as_str());
    assert_eq!(report["tag"], "v1");
    // Same registry: every blob is mounted, nothing streamed.
    assert_eq!(report["blobs"]["copied"], 0, "{report}");
    assert!(report["blobs"]["mounted"].as_u64().unwrap() > 0);
    let kinds: BTreeSet<&str> =
        report["attachments"].as_array().unwrap().iter().map(|a| a["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, BTreeSet::from(["signature", "attestation", "sbom", "referrer"]));
    let dst_digest = format!("{dst}@{subject}");
    for suffix in ["sig", "att", "sbom"] {
        assert!(exists(&dst, &subject.attachment_tag(suffix)), "{suffix} missing");
    }
    let (source, referrers) = referrer_digests(&dst, &subject);
    assert_eq!(source, "fallback_tag");
    assert_eq!(referrers.len(), 1);
    verify_with_root(&format!("{dst}:v1"), &[]).ok();
    for version in Cosign::ALL {
        cosign_verify(version, &dst_digest).ok();
    }
    let root = pki_file("root.pem");
    ironsign(&[
        "verify-attestation",
        "--ca-roots",
        &root,
        "--certificate-identity",
        "signer@example.com",
        "--type",
        "custom",
        &dst_digest,
    ])
    .ok();
    // A re-run finds everything there.
    let again = copy_json(&[&tagged, &dst]);
    assert_eq!(again["manifests"]["copied"], 0, "{again}");
    assert_eq!(again["blobs"]["copied"], 0);
    assert_eq!(again["blobs"]["mounted"], 0);
    assert_eq!(again["bytes_copied"], 0);
    assert_eq!(again["fallback_indexes_written"], 0);
}

#[test]
fn copy_to_another_registry_streams_every_platform_and_resumes() {
    let plain = registry(RegistryKind::Plain);
    let repo = unique_repo("multi-src");
    let (tagged, by_digest) = push_image_to(&plain, &repo, &["--platforms", "linux/amd64,linux/arm64"]);
    sign_with_chain(&tagged, &["--recursive"]);
    let index = digest_of(&by_digest);
    let children: Vec<Digest> = block_on(async {
        let m = client().get_manifest(&location(&tagged), index.as_str()).await.unwrap().unwrap();
        cosign::Manifest::parse(&m.bytes, "index").unwrap().manifests.into_iter().map(|d| d.digest).collect()
    });
    assert_eq!(children.len(), 2);
    let other = registry(RegistryKind::Basic);
    let dst = format!("{other}/{}", unique_repo("multi-dst"));
    let creds = ["--registry-username", BASIC_USER, "--registry-password", BASIC_PASSWORD];
    let mut args = vec![tagged.as_str(), dst.as_str()];
    args.extend(creds);
    let report = copy_json(&args);
    assert_eq!(report["manifests"]["copied"], 6, "index, 2 platforms, 3 .sig: {report}");
    assert_eq!(report["blobs"]["mounted"], 0);
    assert!(report["blobs"]["copied"].as_u64().unwrap() >= 4);
    assert!(report["bytes_copied"].as_u64().unwrap() > 0);
    let mut verify_args = vec![];
    verify_args.extend(creds);
    for child in &children {
        verify_with_root(&format!("{dst}@{child}"), &verify_args).ok();
    }
    verify_with_root(&format!("{dst}:v1"), &verify_args).ok();
    // Resumable: drop one platform's signature on the destination; a re-run copies only it.
    let dst_loc = location(&dst);
    block_on(async {
        let kc = ironsign::Keychain::anonymous().with_credential(ironsign::Credential::Basic {
            username: BASIC_USER.into(),
            password: BASIC_PASSWORD.to_owned().into(),
        });
        let c =
            ironsign::RegistryClient::new(ironsign::RegistryOptions { keychain: kc, ..Default::default() }).unwrap();
        let sig = c.head_manifest(&dst_loc, &children[0].attachment_tag("sig")).await.unwrap().unwrap();
        assert!(c.delete_manifest(&dst_loc, &sig.digest).await.unwrap());
    });
    let again = copy_json(&args);
    assert_eq!(again["manifests"]["copied"], 1, "{again}");
    assert_eq!(again["manifests"]["skipped"], 5);
    assert_eq!(again["blobs"]["copied"], 0, "the signature's blobs are still there");
}

#[test]
fn only_copies_attachments_and_force_overwrites_a_different_tag() {
    let (tagged, by_digest) = signed_image("only-src");
    let subject = digest_of(&by_digest);
    let dst = format!("{}/{}", registry(RegistryKind::Plain), unique_repo("only-dst"));
    let report = copy_json(&["--only", "sig,att", &tagged, &dst]);
    assert_eq!(report["image"], false);
    assert!(exists(&dst, &subject.attachment_tag("sig")) && exists(&dst, &subject.attachment_tag("att")));
    assert!(!exists(&dst, &subject.attachment_tag("sbom")));
    assert!(!exists(&dst, "v1") && !exists(&dst, subject.as_str()));
    // A destination tag pointing elsewhere is refused, then overwritten with --force.
    let (other, _) = push_image_to(&registry(RegistryKind::Plain), dst.split_once('/').unwrap().1, &[]);
    let refused = ironsign(&["copy", "--output", "json", &tagged, &other]).code(3);
    assert_eq!(refused.json()["error"]["code"], "INVALID_ARGUMENT");
    ironsign(&["copy", "--force", &tagged, &other]).ok();
    assert!(exists(&dst, subject.as_str()));
    ironsign(&["copy", "--only", "bogus", &tagged, &dst]).code(3);
}

#[test]
fn referrers_go_to_the_destination_api_or_its_fallback_index() {
    for kind in RegistryKind::WITH_REFERRERS_API {
        referrers_go_to_the_api_of(kind);
    }
}

fn referrers_go_to_the_api_of(kind: RegistryKind) {
    // Source without the API (fallback index) to a destination with it: no fallback tag written.
    let (tagged, by_digest) = signed_image("refs-src");
    let subject = digest_of(&by_digest);
    let dst = format!("{}/{}", registry(kind), unique_repo("refs-dst"));
    let report = copy_json(&[&tagged, &dst]);
    assert_eq!(report["fallback_indexes_written"], 0, "{kind:?}: {report}");
    let (source, referrers) = referrer_digests(&dst, &subject);
    assert_eq!(source, "api", "{kind:?}");
    assert_eq!(referrers.len(), 1, "{kind:?}");
    assert!(!exists(&dst, &subject.attachment_tag("")), "{kind:?}");
    // The legacy attachments are tags there too, and verify.
    for suffix in ["sig", "att", "sbom"] {
        assert!(exists(&dst, &subject.attachment_tag(suffix)), "{kind:?}: {suffix} missing");
    }
    verify_with_root(&format!("{dst}:v1"), &[]).ok();
    // Back from the API to a registry without it: the fallback index is written, and merged
    // with what the destination already lists.
    let back = format!("{}/{}", registry(RegistryKind::Plain), unique_repo("refs-back"));
    let existing = push_bundle_referrer(&format!("{back}@{subject}"), &subject, "already there", true);
    let report = copy_json(&[&format!("{dst}:v1"), &back]);
    assert_eq!(report["fallback_indexes_written"], 1, "{report}");
    let (source, listed) = referrer_digests(&back, &subject);
    assert_eq!(source, "fallback_tag");
    assert_eq!(listed, referrers.iter().cloned().chain([existing]).collect(), "{kind:?}");
}

#[test]
fn save_then_load_to_another_registry_then_verify() {
    let (tagged, by_digest) = signed_image("save-src");
    let subject = digest_of(&by_digest);
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    let layout_s = layout.to_str().unwrap();
    let saved = ironsign(&["save", "--output", "json", "--dir", layout_s, &tagged]).ok().json();
    assert_eq!(saved["digest"], subject.as_str());
    // The layout itself verifies, and skopeo reads it.
    verify_with_root(&format!("oci:{layout_s}:v1"), &[]).ok();
    let skopeo = run(Path::new("/usr/bin/skopeo"), &["inspect", "--raw", &format!("oci:{layout_s}:v1")], &[]).ok();
    assert_eq!(Digest::sha256(skopeo.stdout.as_bytes()), subject);
    // Load it into another registry.
    let other = registry(RegistryKind::Basic);
    let dst = format!("{other}/{}", unique_repo("load-dst"));
    let creds = ["--registry-username", BASIC_USER, "--registry-password", BASIC_PASSWORD];
    let mut args = vec!["load", "--output", "json", "--dir", layout_s, dst.as_str()];
    args.extend(creds);
    let loaded = ironsign(&args).ok().json();
    assert_eq!(loaded["digest"], subject.as_str());
    assert_eq!(loaded["tag"], "v1");
    assert_eq!(loaded["attachments"].as_array().unwrap().len(), 4, "{loaded}");
    verify_with_root(&format!("{dst}:v1"), &creds).ok();
    // The same through one tar file, into the plain registry, verified by cosign.
    let tar = dir.path().join("image.tar");
    let tar_s = tar.to_str().unwrap();
    ironsign(&["save", "--tar", tar_s, &tagged]).ok();
    let skopeo = run(Path::new("/usr/bin/skopeo"), &["inspect", "--raw", &format!("oci-archive:{tar_s}:v1")], &[]).ok();
    assert_eq!(Digest::sha256(skopeo.stdout.as_bytes()), subject);
    let dst = format!("{}/{}", registry(RegistryKind::Plain), unique_repo("load-tar"));
    ironsign(&["load", "--tar", tar_s, &format!("{dst}:restored")]).ok();
    for version in Cosign::ALL {
        cosign_verify(version, &format!("{dst}:restored")).ok();
    }
    // And into olareg: the referrer goes to its referrers API, everything verifies.
    let dst = format!("{}/{}", registry(RegistryKind::Olareg), unique_repo("load-olareg"));
    let loaded = ironsign(&["load", "--output", "json", "--tar", tar_s, &dst]).ok().json();
    assert_eq!(loaded["attachments"].as_array().unwrap().len(), 4, "{loaded}");
    assert_eq!(referrer_digests(&dst, &subject).0, "api");
    verify_with_root(&format!("{dst}:v1"), &[]).ok();
    cosign_verify(Cosign::V2, &format!("{dst}:v1")).ok();
}

#[test]
fn cosign_save_then_ironsign_load_then_cosign_verify() {
    for version in Cosign::ALL {
        let (tagged, by_digest) = signed_image("cosign-save");
        let dir = tempfile::tempdir().unwrap();
        let layout = dir.path().join("layout");
        let layout_s = layout.to_str().unwrap();
        cosign(version, &["save", "--allow-http-registry", "--dir", layout_s, &tagged], dir.path()).ok();
        let dst = format!("{}/{}", registry(RegistryKind::Plain), unique_repo("cosign-saved"));
        let loaded = ironsign(&["load", "--output", "json", "--dir", layout_s, &format!("{dst}:v9")]).ok().json();
        assert_eq!(loaded["digest"], digest_of(&by_digest).as_str(), "{version:?}");
        let kinds: BTreeSet<&str> =
            loaded["attachments"].as_array().unwrap().iter().map(|a| a["kind"].as_str().unwrap()).collect();
        assert!(kinds.contains("signature") && kinds.contains("attestation"), "{version:?}: {loaded}");
        cosign_verify(version, &format!("{dst}:v9")).ok();
        verify_with_root(&format!("{dst}:v9"), &[]).ok();
        // The same directory as a tar made by GNU tar (./-prefixed names, directory entries).
        let tar = dir.path().join("cosign.tar");
        let tar_s = tar.to_str().unwrap();
        run(Path::new("tar"), &["-C", layout_s, "-cf", tar_s, "."], &[]).ok();
        let from_tar = ironsign(&["load", "--output", "json", "--tar", tar_s, &format!("{dst}:from-tar")]).ok().json();
        assert_eq!(from_tar["digest"], digest_of(&by_digest).as_str());
        cosign_verify(version, &format!("{dst}:from-tar")).ok();
    }
}

#[test]
fn ironsign_save_then_cosign_load_then_cosign_verify() {
    let (tagged, by_digest) = signed_image("ironsign-save");
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    let layout_s = layout.to_str().unwrap();
    ironsign(&["save", "--dir", layout_s, &tagged]).ok();
    for version in Cosign::ALL {
        let dst = format!("{}/{}:loaded", registry(RegistryKind::Plain), unique_repo("cosign-load"));
        cosign(version, &["load", "--allow-http-registry", "--dir", layout_s, &dst], dir.path()).ok();
        let subject = digest_of(&by_digest);
        let dst_repo = dst.rsplit_once(':').unwrap().0;
        assert!(exists(dst_repo, subject.as_str()), "{version:?}");
        assert!(exists(dst_repo, &subject.attachment_tag("att")), "{version:?}");
        cosign_verify(version, &dst).ok();
    }
}

#[test]
fn a_tampered_blob_in_a_layout_or_tar_is_refused() {
    let (tagged, by_digest) = signed_image("tamper");
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    let layout_s = layout.to_str().unwrap();
    ironsign(&["save", "--dir", layout_s, &tagged]).ok();
    let tar = dir.path().join("image.tar");
    let tar_s = tar.to_str().unwrap();
    ironsign(&["save", "--tar", tar_s, &tagged]).ok();
    // The image's layer: the biggest blob of the image manifest.
    let layer = block_on(async {
        let m = client().get_manifest(&location(&tagged), digest_of(&by_digest).as_str()).await.unwrap().unwrap();
        cosign::Manifest::parse(&m.bytes, "image").unwrap().layers[0].digest.clone()
    });
    let blob = layout.join("blobs/sha256").join(layer.hex());
    let mut bytes = std::fs::read(&blob).unwrap();
    bytes[20] ^= 1;
    std::fs::write(&blob, &bytes).unwrap();
    let dst = format!("{}/{}", registry(RegistryKind::Plain), unique_repo("tamper-dst"));
    let refused = ironsign(&["load", "--output", "json", "--dir", layout_s, &dst]).code(4);
    let error = &refused.json()["error"];
    assert_eq!(error["code"], "REGISTRY_DIGEST_MISMATCH");
    assert_eq!(error["details"]["DigestMismatch"]["expected"], layer.as_str());
    assert!(error["message"].as_str().unwrap().contains(layer.as_str()), "{error}");
    assert!(!exists(&dst, digest_of(&by_digest).as_str()), "nothing of the image was written");
    // In the tar: flip a byte of the layer's content.
    let mut bytes = std::fs::read(&tar).unwrap();
    let name = format!("blobs/sha256/{}", layer.hex());
    let at = (0..bytes.len()).step_by(512).find(|&i| bytes[i..].starts_with(name.as_bytes())).unwrap();
    bytes[at + 512 + 20] ^= 1;
    std::fs::write(&tar, &bytes).unwrap();
    let refused = ironsign(&["load", "--output", "json", "--tar", tar_s, &dst]).code(4);
    assert_eq!(refused.json()["error"]["details"]["DigestMismatch"]["expected"], layer.as_str());
    // And saving refuses a registry that serves content not matching its digest is covered by
    // the registry client's own tests; a layout source is checked on the way out as well:
    let copy = ironsign(&["copy", "--output", "json", &format!("oci:{layout_s}:v1"), &dst]).code(4);
    assert_eq!(copy.json()["error"]["code"], "REGISTRY_DIGEST_MISMATCH");
}

/// A registry of this test's own, in a state directory it knows (to reach its storage).
struct OwnRegistry {
    state: tempfile::TempDir,
    addr: String,
}

impl OwnRegistry {
    fn start(name: &str) -> Self {
        let state = tempfile::tempdir().unwrap();
        let out = std::process::Command::new(repo_root().join("scripts/registry"))
            .args(["start", name])
            .env("IRONSIGN_STATE", state.path())
            .output()
            .expect("scripts/registry");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let addr = String::from_utf8(out.stdout).unwrap().trim().to_owned();
        OwnRegistry { state, addr }
    }

    fn blob_file(&self, name: &str, digest: &Digest) -> std::path::PathBuf {
        let hex = digest.hex();
        self.state.path().join(name).join("data/docker/registry/v2/blobs/sha256").join(&hex[..2]).join(hex).join("data")
    }
}

impl Drop for OwnRegistry {
    fn drop(&mut self) {
        let _ = std::process::Command::new(repo_root().join("scripts/registry"))
            .args(["stop-all"])
            .env("IRONSIGN_STATE", self.state.path())
            .output();
    }
}

#[test]
fn a_registry_serving_tampered_content_is_refused_mid_stream() {
    let source = OwnRegistry::start("tampering");
    let (tagged, by_digest) = push_image_to(&source.addr, "e2e/tampered", &[]);
    let layer = block_on(async {
        let m = client().get_manifest(&location(&tagged), digest_of(&by_digest).as_str()).await.unwrap().unwrap();
        cosign::Manifest::parse(&m.bytes, "image").unwrap().layers[0].digest.clone()
    });
    // The registry's storage is altered behind its back; it serves the bytes as they are.
    let file = source.blob_file("tampering", &layer);
    let mut bytes = std::fs::read(&file).unwrap();
    bytes[10] ^= 1;
    std::fs::write(&file, &bytes).unwrap();
    let dst = format!("{}/{}", registry(RegistryKind::Plain), unique_repo("from-tampered"));
    let refused = ironsign(&["copy", "--output", "json", &tagged, &dst]).code(4);
    let error = &refused.json()["error"];
    assert_eq!(error["code"], "REGISTRY_DIGEST_MISMATCH", "{error}");
    assert_eq!(error["details"]["DigestMismatch"]["expected"], layer.as_str());
    let (has_blob, has_manifest) = block_on(async {
        let c = client();
        let loc = location(&dst);
        (
            c.blob_exists(&loc, &layer).await.unwrap(),
            c.head_manifest(&loc, digest_of(&by_digest).as_str()).await.unwrap(),
        )
    });
    assert!(!has_blob, "the tampered blob was committed on the destination");
    assert!(has_manifest.is_none());
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    let refused = ironsign(&["save", "--output", "json", "--dir", layout.to_str().unwrap(), &tagged]).code(4);
    assert_eq!(refused.json()["error"]["code"], "REGISTRY_DIGEST_MISMATCH");
    assert!(!layout.join("blobs/sha256").join(layer.hex()).exists());
}
