//! Transfers between image layouts (the registry paths are covered end to end in
//! tests/tests/transfer.rs).

use super::*;
use crate::registry::RegistryOptions;

fn client() -> RegistryClient {
    RegistryClient::new(RegistryOptions::default()).unwrap()
}

fn run<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
}

fn image_manifest(config: &Digest, layers: &[(&Digest, usize)], extra: serde_json::Value) -> Vec<u8> {
    let mut m = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": cosign::OCI_MANIFEST,
        "config": {"mediaType": cosign::OCI_CONFIG, "size": 2, "digest": config},
        "layers": layers.iter().map(|(d, s)| serde_json::json!({
            "mediaType": "application/vnd.oci.image.layer.v1.tar", "size": s, "digest": d})).collect::<Vec<_>>(),
    });
    if let serde_json::Value::Object(extra) = extra {
        m.as_object_mut().unwrap().extend(extra);
    }
    serde_json::to_vec(&m).unwrap()
}

struct Fixture {
    _dir: tempfile::TempDir,
    source: PathBuf,
    image: Digest,
    layer: Digest,
    signature: Digest,
    referrer: Digest,
}

/// A layout with a two-layer image tagged `v1`, a `.sig` manifest and a referrer listed in the
/// fallback index.
fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("source");
    layout::init(&source).unwrap();
    let config = Digest::sha256(b"{}");
    layout::put_blob(&source, &config, b"{}").unwrap();
    let big = vec![7u8; 600_000];
    let layer = Digest::sha256(&big);
    layout::put_blob(&source, &layer, &big).unwrap();
    let small = b"small layer".to_vec();
    let small_digest = Digest::sha256(&small);
    layout::put_blob(&source, &small_digest, &small).unwrap();
    let image_bytes =
        image_manifest(&config, &[(&layer, big.len()), (&small_digest, small.len())], serde_json::json!({}));
    let image = layout::put_manifest(&source, "v1", &image_bytes, cosign::OCI_MANIFEST).unwrap();
    let payload = b"signature payload".to_vec();
    let payload_digest = Digest::sha256(&payload);
    layout::put_blob(&source, &payload_digest, &payload).unwrap();
    let sig_bytes = image_manifest(&config, &[(&payload_digest, payload.len())], serde_json::json!({}));
    let signature =
        layout::put_manifest(&source, &image.attachment_tag("sig"), &sig_bytes, cosign::OCI_MANIFEST).unwrap();
    let bundle = b"{\"bundle\":true}".to_vec();
    let bundle_digest = Digest::sha256(&bundle);
    layout::put_blob(&source, &bundle_digest, &bundle).unwrap();
    let referrer_bytes = image_manifest(
        &config,
        &[(&bundle_digest, bundle.len())],
        serde_json::json!({"subject": {"mediaType": cosign::OCI_MANIFEST, "size": image_bytes.len(), "digest": image},
                           "annotations": {"dev.sigstore.bundle.predicateType": "https://example/p"}}),
    );
    let referrer = Digest::sha256(&referrer_bytes);
    layout::put_blob(&source, &referrer, &referrer_bytes).unwrap();
    let index = serde_json::json!({"schemaVersion": 2, "mediaType": cosign::OCI_INDEX, "manifests": [
        {"mediaType": cosign::OCI_MANIFEST, "size": referrer_bytes.len(), "digest": referrer}]});
    layout::put_manifest(&source, &image.attachment_tag(""), &serde_json::to_vec(&index).unwrap(), cosign::OCI_INDEX)
        .unwrap();
    Fixture { _dir: dir, source, image, layer, signature, referrer }
}

fn layout_ref(path: &Path, suffix: &str) -> ImageReference {
    ImageReference::parse(&format!("oci:{}{suffix}", path.display())).unwrap()
}

#[test]
fn copy_keeps_digests_and_a_rerun_copies_nothing() {
    let f = fixture();
    let c = client();
    let target = f.source.parent().unwrap().join("target");
    layout::init(&target).unwrap();
    let options = TransferOptions::default();
    let report = run(copy(&c, &layout_ref(&f.source, ":v1"), &layout_ref(&target, ""), &options)).unwrap();
    assert_eq!(report.digest, f.image);
    assert_eq!(report.tag.as_deref(), Some("v1"));
    assert_eq!(report.manifests, ManifestCounts { copied: 3, skipped: 0 });
    assert_eq!(report.blobs.copied, 5, "{report:?}");
    assert_eq!(report.fallback_indexes_written, 1);
    let kinds: Vec<&str> = report.attachments.iter().map(|a| a.kind).collect();
    assert_eq!(kinds, ["signature", "referrer"]);
    assert!(layout::blob_exists(&target, &f.layer).unwrap());
    let tags = layout::list_tags(&target).unwrap();
    assert!(tags.contains(&"v1".to_owned()) && tags.contains(&f.image.attachment_tag("sig")), "{tags:?}");
    let sig = run(c.get_manifest(&Location::Layout { path: target.clone() }, &f.image.attachment_tag("sig")))
        .unwrap()
        .unwrap();
    assert_eq!(sig.digest, f.signature);
    let refs = run(c.get_referrers(&Location::Layout { path: target.clone() }, &f.image, 10)).unwrap();
    assert_eq!(refs.descriptors.iter().map(|d| &d.digest).collect::<Vec<_>>(), [&f.referrer]);
    // Again: everything is there.
    let again = run(copy(&c, &layout_ref(&f.source, ":v1"), &layout_ref(&target, ""), &options)).unwrap();
    assert_eq!(again.manifests, ManifestCounts { copied: 0, skipped: 3 });
    assert_eq!(again.blobs, BlobCounts::default());
    assert_eq!(again.bytes_copied, 0);
    assert_eq!(again.fallback_indexes_written, 0);
}

#[test]
fn only_copies_the_named_attachments_and_not_the_image() {
    let f = fixture();
    let c = client();
    let target = f.source.parent().unwrap().join("only");
    layout::init(&target).unwrap();
    let options = TransferOptions { selection: Selection::only(&["sig"]).unwrap(), ..Default::default() };
    let report = run(copy(&c, &layout_ref(&f.source, ":v1"), &layout_ref(&target, ""), &options)).unwrap();
    assert!(!report.image && report.tag.is_none());
    assert_eq!(report.attachments.len(), 1);
    assert!(!layout::blob_exists(&target, &f.layer).unwrap());
    assert_eq!(layout::list_tags(&target).unwrap(), [f.image.attachment_tag("sig")]);
    assert!(Selection::only(&["sig", "bogus"]).is_err());
}

#[test]
fn a_tag_pointing_elsewhere_needs_force() {
    let f = fixture();
    let c = client();
    let target = f.source.parent().unwrap().join("conflict");
    layout::init(&target).unwrap();
    let other = image_manifest(&Digest::sha256(b"{}"), &[], serde_json::json!({}));
    layout::put_blob(&target, &Digest::sha256(b"{}"), b"{}").unwrap();
    layout::put_manifest(&target, "v1", &other, cosign::OCI_MANIFEST).unwrap();
    let err = run(copy(&c, &layout_ref(&f.source, ":v1"), &layout_ref(&target, ""), &TransferOptions::default()))
        .unwrap_err();
    assert_eq!(err.code(), "INVALID_ARGUMENT", "{err}");
    let forced = TransferOptions { force: true, ..Default::default() };
    run(copy(&c, &layout_ref(&f.source, ":v1"), &layout_ref(&target, ""), &forced)).unwrap();
    assert_eq!(run(c.resolve(&layout_ref(&target, ":v1"))).unwrap().digest, f.image);
}

fn tamper(layout: &Path, digest: &Digest) {
    let path = layout.join("blobs/sha256").join(digest.hex());
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[10] ^= 1;
    std::fs::write(&path, bytes).unwrap();
}

#[test]
fn a_tampered_blob_is_refused_and_not_committed() {
    let f = fixture();
    tamper(&f.source, &f.layer);
    let c = client();
    let target = f.source.parent().unwrap().join("tampered");
    layout::init(&target).unwrap();
    let err = run(copy(&c, &layout_ref(&f.source, ":v1"), &layout_ref(&target, ""), &TransferOptions::default()))
        .unwrap_err();
    match &err {
        Error::Registry(RegistryError::DigestMismatch { what, expected, .. }) => {
            assert_eq!(expected, f.layer.as_str());
            assert!(what.contains(f.layer.as_str()), "{what}");
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(!layout::blob_exists(&target, &f.layer).unwrap());
    // load refuses it too.
    let err = run(load(&c, &f.source, &layout_ref(&target, ":v2"), &TransferOptions::default())).unwrap_err();
    assert_eq!(err.code(), "REGISTRY_DIGEST_MISMATCH");
}

#[test]
fn save_writes_cosign_kinds_and_load_reads_them_back_through_a_tar() {
    let f = fixture();
    let c = client();
    let base = f.source.parent().unwrap();
    let saved = base.join("saved");
    let report = run(save(&c, &layout_ref(&f.source, ":v1"), &saved, &TransferOptions::default())).unwrap();
    assert_eq!(report.digest, f.image);
    let entries = layout::entries(&saved).unwrap();
    let kind = |d: &Digest| {
        entries.iter().find(|e| &e.digest == d).and_then(|e| e.annotations.as_ref()?.get(KIND_ANNOTATION).cloned())
    };
    assert_eq!(kind(&f.image).as_deref(), Some(KIND_IMAGE));
    assert_eq!(kind(&f.signature).as_deref(), Some(KIND_SIGNATURES));
    // Tar round trip, then load into another layout.
    let tar_file = base.join("image.tar");
    run(save_tar(&c, &layout_ref(&f.source, ":v1"), &tar_file, base, &TransferOptions::default())).unwrap();
    let loaded = base.join("loaded");
    layout::init(&loaded).unwrap();
    let report = run(load_tar(&c, &tar_file, base, &layout_ref(&loaded, ""), &TransferOptions::default())).unwrap();
    assert_eq!(report.digest, f.image);
    assert_eq!(report.tag.as_deref(), Some("v1"));
    assert_eq!(report.attachments.len(), 2);
    assert!(layout::blob_exists(&loaded, &f.layer).unwrap());
    // The scratch directories are gone.
    assert!(
        !std::fs::read_dir(base).unwrap().any(|e| e.unwrap().file_name().to_string_lossy().starts_with(".ironsign"))
    );
    // A tampered blob in the tar is refused while unpacking.
    let mut bytes = std::fs::read(&tar_file).unwrap();
    let name = format!("blobs/sha256/{}", f.layer.hex());
    let at = (0..bytes.len()).step_by(512).find(|&i| bytes[i..].starts_with(name.as_bytes())).unwrap();
    bytes[at + 512 + 100] ^= 1;
    std::fs::write(&tar_file, bytes).unwrap();
    let err = run(load_tar(&c, &tar_file, base, &layout_ref(&loaded, ":v3"), &TransferOptions::default())).unwrap_err();
    match &err {
        Error::Registry(RegistryError::DigestMismatch { expected, .. }) => assert_eq!(expected, f.layer.as_str()),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn load_reads_a_cosign_save_layout() {
    // cosign save: entries annotated with kinds and no ref names; referrers only as blobs.
    let f = fixture();
    let c = client();
    layout::update_entries(&f.source, |entries| {
        entries.retain(|e| e.digest == f.image || e.digest == f.signature);
        for e in entries.iter_mut() {
            let kind = if e.digest == f.image { KIND_IMAGE } else { KIND_SIGNATURES };
            e.annotations = Some(BTreeMap::from([(KIND_ANNOTATION.to_owned(), kind.to_owned())]));
        }
    })
    .unwrap();
    let target = f.source.parent().unwrap().join("from-cosign");
    layout::init(&target).unwrap();
    let report = run(load(&c, &f.source, &layout_ref(&target, ":app"), &TransferOptions::default())).unwrap();
    assert_eq!(report.digest, f.image);
    let found: BTreeSet<(&str, &Digest)> = report.attachments.iter().map(|a| (a.kind, &a.digest)).collect();
    assert_eq!(found, BTreeSet::from([("signature", &f.signature), ("referrer", &f.referrer)]));
    let tags = layout::list_tags(&target).unwrap();
    assert!(tags.contains(&f.image.attachment_tag("sig")) && tags.contains(&f.image.attachment_tag("")), "{tags:?}");
}
