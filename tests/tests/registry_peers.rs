//! What other registry tools do with what ironsign writes (issue 16), each the real, pinned tool
//! (scripts/peer-tools): olareg's own garbage collection after `ironsign gc`, `oras cp -r` and
//! `regctl image copy --referrers` of a signed image, and an artifact attached with `oras attach`
//! through `ironsign copy`, `save`/`load` and `gc`.

use ironsign::{Digest, ImageReference, Location};
use ironsign_e2e::*;
use std::collections::BTreeSet;
use std::path::Path;

const NOTE_TYPE: &str = "application/vnd.example.scan-note.v1";

fn digest_of(reference: &str) -> Digest {
    ImageReference::parse(reference).unwrap().digest.unwrap()
}

fn location(reference: &str) -> Location {
    ImageReference::parse(reference).unwrap().location
}

fn exists(repo: &str, reference: &str) -> bool {
    block_on(async { client().head_manifest(&location(repo), reference).await.unwrap().is_some() })
}

fn tags(repo: &str) -> BTreeSet<String> {
    block_on(async { client().list_tags(&location(repo), 10_000).await.unwrap() }).into_iter().collect()
}

fn delete(repo: &str, digest: &Digest) {
    assert!(block_on(async { client().delete_manifest(&location(repo), digest).await.unwrap() }));
}

/// The formats (`legacy_tag`, `sigstore_bundle`) of what `verify` accepted in `field`.
fn formats(report: &serde_json::Value, field: &str) -> BTreeSet<String> {
    report[field].as_array().unwrap().iter().map(|s| s["format"].as_str().unwrap().to_owned()).collect()
}

fn verify_json(image: &str) -> serde_json::Value {
    verify_with_root(image, &["--all-signatures", "-o", "json"]).ok().json()
}

fn verify_attestation_json(image: &str) -> serde_json::Value {
    let root = pki_file("root.pem");
    let args = ["verify-attestation", "--ca-roots", &root, "--certificate-identity", "signer@example.com"];
    let mut args = args.to_vec();
    args.extend(["--type", "custom", "--all-signatures", "-o", "json", image]);
    ironsign(&args).ok().json()
}

/// An image signed and attested in both formats (legacy `.sig`/`.att` tags and Sigstore bundle
/// referrers), with an SBOM (`.sbom` tag): returns (tag reference, digest reference).
fn signed_everywhere(addr: &str, name: &str) -> (String, String) {
    let (tagged, by_digest) = push_image_to(addr, &unique_repo(name), &[]);
    sign_with_chain(&by_digest, &[]);
    sign_with_chain(&by_digest, &["--bundle-format"]);
    attest_with_chain(&by_digest, &[]);
    attest_with_chain(&by_digest, &["--bundle-format"]);
    attach_test_sbom(&by_digest);
    (tagged, by_digest)
}

/// Both formats of signature and attestation verify at `image`.
fn verifies_in_both_formats(image: &str) {
    let both: BTreeSet<String> = ["legacy_tag".to_owned(), "sigstore_bundle".to_owned()].into();
    assert_eq!(formats(&verify_json(image), "signatures"), both, "{image}");
    assert_eq!(formats(&verify_attestation_json(image), "attestations"), both, "{image}");
}

/// Runs a peer tool in its own empty HOME (no stored credentials or configuration), in `dir`.
fn peer(bin: &Path, args: &[&str], dir: &Path) -> Run {
    run_in(bin, args, dir, &[("HOME", dir.to_str().unwrap())])
}

fn oras(args: &[&str], dir: &Path) -> Run {
    peer(&oras_bin(), args, dir)
}

/// `regctl` with every loopback registry in `addrs` configured (in `dir`'s regctl configuration)
/// for plain HTTP and one request at a time: olareg v0.2.2 updates a subject's referrers index
/// by read-modify-write, so two referrers pushed at once (regctl copies them concurrently) leave
/// only one listed, the other manifest stored but unreachable (seen in 1 of 5 runs).
fn regctl(args: &[&str], addrs: &[&str], dir: &Path) -> Run {
    for addr in addrs {
        let set = ["registry", "set", addr, "--tls", "disabled", "--req-concurrent", "1", "--skip-check"];
        peer(&regctl_bin(), &set, dir).ok();
    }
    peer(&regctl_bin(), args, dir)
}

/// Attaches a note to `subject` with `oras attach`: returns the note manifest's digest.
fn oras_attach_note(subject: &str, text: &str, dir: &Path) -> Digest {
    std::fs::write(dir.join("note.txt"), text).unwrap();
    let args = ["attach", "--plain-http", "--artifact-type", NOTE_TYPE, "--format", "json", subject];
    let mut args = args.to_vec();
    args.push("note.txt:text/plain");
    let out = oras(&args, dir).ok().json();
    Digest::parse(out["digest"].as_str().unwrap()).unwrap()
}

/// The digests `oras discover` lists as referrers of `subject` with the note's artifact type.
fn oras_notes(subject: &str, dir: &Path) -> BTreeSet<Digest> {
    let args = ["discover", "--plain-http", "--format", "json", "--artifact-type", NOTE_TYPE, subject];
    let out = oras(&args, dir).ok().json();
    out["referrers"].as_array().unwrap().iter().map(|r| Digest::parse(r["digest"].as_str().unwrap()).unwrap()).collect()
}

/// `oras pull` of the note `digest` in `repo` gives `text` back.
fn oras_pulls_note(repo: &str, digest: &Digest, text: &str, dir: &Path) {
    let out = dir.join(format!("pulled-{}", digest.hex()));
    oras(&["pull", "--plain-http", "-o", out.to_str().unwrap(), &format!("{repo}@{digest}")], dir).ok();
    assert_eq!(std::fs::read_to_string(out.join("note.txt")).unwrap(), text, "{repo}@{digest}");
}

fn repo_of(reference: &str) -> String {
    let reference = ImageReference::parse(reference).unwrap();
    match reference.location {
        Location::Registry { registry, repository } => format!("{registry}/{repository}"),
        other => panic!("not a registry reference: {other:?}"),
    }
}

fn gc_json(repo: &str, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["gc", "--output", "json", "--include-untagged"];
    args.extend_from_slice(extra);
    args.push(repo);
    ironsign(&args).ok().json()
}

fn orphan_count(plan: &serde_json::Value) -> usize {
    plan["repositories"][0]["orphans"].as_array().unwrap().len()
}

/// `ironsign gc --delete` then olareg's own GC (untagged manifests, dangling referrers, unreferenced
/// blobs): every live signature, attestation, SBOM and referrer (ironsign's bundles and an oras
/// artifact) is still there and verifies; what belonged to a deleted or untagged image is gone.
#[test]
fn olareg_gc_after_ironsign_gc_keeps_every_live_attachment() {
    let olareg = OwnRegistry::start("olareg-gc", &["--olareg"]);
    let dir = tempfile::tempdir().unwrap();
    let (tagged, live) = signed_everywhere(&olareg.addr, "gc");
    let repo = repo_of(&live);
    let live_digest = digest_of(&live);
    let note = oras_attach_note(&live, "live note", dir.path());
    // A second image, signed in both formats and with an SBOM, then deleted by digest.
    let (_, dead) = push_image_to(&olareg.addr, repo.split_once('/').unwrap().1, &["--count", "1"]);
    sign_with_chain(&dead, &[]);
    sign_with_chain(&dead, &["--bundle-format"]);
    attach_named_sbom(&dead, "dead");
    let dead_digest = digest_of(&dead);
    let dead_referrers = block_on(async { client().get_referrers(&location(&repo), &dead_digest, 100).await.unwrap() });
    assert_eq!(dead_referrers.descriptors.len(), 1);
    delete(&repo, &dead_digest);
    // A third: signed, then its tag moved to another image, so it is untagged (what olareg's
    // --gc-untagged collects).
    let (_, moved) = push_image_to(&olareg.addr, repo.split_once('/').unwrap().1, &["--count", "1"]);
    sign_with_chain(&moved, &[]);
    push_image_to(&olareg.addr, repo.split_once('/').unwrap().1, &["--count", "1"]);
    let moved_digest = digest_of(&moved);
    assert!(exists(&repo, moved_digest.as_str()));

    let live_tags = ["sig", "att", "sbom"].map(|s| live_digest.attachment_tag(s));
    let orphan_tags =
        [dead_digest.attachment_tag("sig"), dead_digest.attachment_tag("sbom"), moved_digest.attachment_tag("sig")];
    let before = tags(&repo);
    for tag in live_tags.iter().chain(&orphan_tags) {
        assert!(before.contains(tag), "{tag} missing before GC: {before:?}");
    }

    // ironsign's GC deletes the orphaned tags (olareg's keeps every tag).
    let out = gc_json(&repo, &["--delete"]);
    assert_eq!(out["report"]["summary"]["failed"], 0, "{out}");
    let after_ironsign = tags(&repo);
    for tag in &orphan_tags {
        assert!(!after_ironsign.contains(tag), "{tag} still there: {out}");
    }
    // Then olareg's: the untagged image and the dead image's bundle go, with their blobs.
    olareg.collect_garbage();
    assert!(!exists(&repo, moved_digest.as_str()), "olareg's GC kept the untagged image");
    for referrer in &dead_referrers.descriptors {
        assert!(!exists(&repo, referrer.digest.as_str()), "olareg's GC kept the dangling referrer {}", referrer.digest);
    }
    // Nothing live is lost: the tags, both formats verify, the referrers are listed, the SBOM and
    // the oras note are pulled.
    let after = tags(&repo);
    for tag in &live_tags {
        assert!(after.contains(tag), "{tag} lost: {after:?}");
    }
    assert!(after.contains("v1"));
    verifies_in_both_formats(&tagged);
    let listed = block_on(async { client().get_referrers(&location(&repo), &live_digest, 100).await.unwrap() });
    let listed: BTreeSet<Digest> = listed.descriptors.into_iter().map(|d| d.digest).collect();
    assert_eq!(listed.len(), 3, "two bundles and the note: {listed:?}");
    assert!(listed.contains(&note));
    assert_eq!(oras_notes(&live, dir.path()), [note.clone()].into());
    oras_pulls_note(&repo, &note, "live note", dir.path());
    let sbom = ironsign(&["download", "sbom", &live]).ok();
    assert!(sbom.stdout.contains("SPDX-2.3"), "{}", sbom.stdout);
    // And nothing is left for ironsign's GC either.
    assert_eq!(orphan_count(&gc_json(&repo, &[])), 0);
}

/// `oras cp -r` copies the image and its referrers (the bundles) to registries with and without
/// the referrers API, where they verify; the legacy `.sig`/`.att`/`.sbom` tags are not
/// referrers, so it leaves them behind (only the bundles verify) until they are copied by tag.
#[test]
fn oras_cp_recursive_of_a_signed_image_verifies_at_the_destination() {
    let dir = tempfile::tempdir().unwrap();
    let (_, src) = signed_everywhere(&registry(RegistryKind::Olareg), "oras-src");
    let digest = digest_of(&src);
    for kind in [RegistryKind::Plain, RegistryKind::Olareg] {
        let dst = format!("{}/{}", registry(kind), unique_repo("oras-dst"));
        // One copy at a time: with oras's default of 3 parallel pushes, olareg v0.2.2's referrers
        // listing lacked the signature bundle in 2 of 6 runs (ironsign then found no signature);
        // with 1, 10 of 10 passed. That race is between oras and olareg, not what this test is
        // about.
        let args =
            ["cp", "-r", "--concurrency", "1", "--from-plain-http", "--to-plain-http", &src, &format!("{dst}:v1")];
        oras(&args, dir.path()).ok();
        let bundles_only: BTreeSet<String> = ["sigstore_bundle".to_owned()].into();
        assert_eq!(formats(&verify_json(&format!("{dst}:v1")), "signatures"), bundles_only, "{kind:?}");
        assert_eq!(formats(&verify_attestation_json(&format!("{dst}:v1")), "attestations"), bundles_only);
        if !kind.has_referrers_api() {
            assert!(tags(&dst).contains(&digest.attachment_tag("")), "oras writes the fallback tag");
        }
        for suffix in ["sig", "att", "sbom"] {
            let tag = digest.attachment_tag(suffix);
            let src_tag = format!("{}:{tag}", repo_of(&src));
            oras(&["cp", "--from-plain-http", "--to-plain-http", &src_tag, &format!("{dst}:{tag}")], dir.path()).ok();
        }
        verifies_in_both_formats(&format!("{dst}:v1"));
    }
}

/// `regctl image copy --referrers --digest-tags` carries both formats (the bundles as referrers,
/// the `sha256-<hex>.*` tags as digest tags); they verify at the destination, with and without
/// the referrers API, and the other root is still refused there.
#[test]
fn regctl_copy_with_referrers_of_a_signed_image_verifies_at_the_destination() {
    let dir = tempfile::tempdir().unwrap();
    let (src_addr, olareg) = (registry(RegistryKind::Plain), registry(RegistryKind::Olareg));
    let (_, src) = signed_everywhere(&src_addr, "regctl-src");
    for dst_addr in [&olareg, &src_addr] {
        let dst = format!("{dst_addr}/{}:v1", unique_repo("regctl-dst"));
        let args = ["image", "copy", "--referrers", "--digest-tags", &src, &dst];
        regctl(&args, &[&src_addr, &olareg], dir.path()).ok();
        verifies_in_both_formats(&dst);
        let other = pki_file("other-root.pem");
        let refused = ironsign(&["verify", "--ca-roots", &other, "--certificate-identity", "signer@example.com", &dst]);
        assert_ne!(refused.code, 0, "{dst_addr}: another root accepted");
    }
}

/// An artifact attached with `oras attach` is a referrer ironsign carries and keeps: through
/// `ironsign copy` (to the API or the fallback index), `save`/`load` and `gc --delete`, oras
/// still lists and pulls it.
#[test]
fn an_oras_attached_artifact_survives_copy_save_load_and_gc() {
    let dir = tempfile::tempdir().unwrap();
    for (src_kind, dst_kind) in
        [(RegistryKind::Plain, RegistryKind::Olareg), (RegistryKind::Olareg, RegistryKind::Plain)]
    {
        let (tagged, by_digest) = push_image_to(&registry(src_kind), &unique_repo("oras-note"), &[]);
        sign_with_chain(&by_digest, &[]);
        let text = format!("scanned {tagged}");
        let note = oras_attach_note(&by_digest, &text, dir.path());
        let subject = digest_of(&by_digest);

        // copy
        let dst = format!("{}/{}", registry(dst_kind), unique_repo("oras-note-copy"));
        ironsign(&["copy", &tagged, &dst]).ok();
        let dst_subject = format!("{dst}@{subject}");
        assert_eq!(oras_notes(&dst_subject, dir.path()), [note.clone()].into(), "{src_kind:?} -> {dst_kind:?}");
        oras_pulls_note(&dst, &note, &text, dir.path());
        verify_with_root(&dst_subject, &[]).ok();

        // save / load, into the source's kind of registry
        let layout = dir.path().join(format!("layout-{}", subject.hex()));
        ironsign(&["save", "--dir", layout.to_str().unwrap(), &tagged]).ok();
        let loaded = format!("{}/{}", registry(src_kind), unique_repo("oras-note-load"));
        ironsign(&["load", "--dir", layout.to_str().unwrap(), &loaded]).ok();
        assert_eq!(oras_notes(&format!("{loaded}@{subject}"), dir.path()), [note.clone()].into());
        oras_pulls_note(&loaded, &note, &text, dir.path());

        // gc on every copy: the note's subject is live, so it stays.
        for repo in [repo_of(&by_digest), dst.clone(), loaded.clone()] {
            let out = gc_json(&repo, &["--delete"]);
            assert_eq!(out["report"]["summary"]["deleted"], 0, "{repo}: {out}");
            assert_eq!(oras_notes(&format!("{repo}@{subject}"), dir.path()), [note.clone()].into(), "{repo}");
            oras_pulls_note(&repo, &note, &text, dir.path());
        }
    }
}
