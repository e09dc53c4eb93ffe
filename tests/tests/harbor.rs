//! Issue 16: Harbor's rules for cosign attachments, applied to everything ironsign pushes.
//!
//! Harbor cannot be built or run here (its module is not served), so these tests run against
//! Harbor's rules as `ironsign::harbor` encodes them from Harbor's sources (pinned to
//! `ironsign::harbor::RULES_RELEASE`, each rule citing its file): not against a running Harbor.
//! What is real: every manifest is pushed by ironsign itself (sign, attest, attach sbom, bundles,
//! copy, load) to go-containerregistry's registry, which has the referrers API as Harbor does
//! since 2.8, through `scripts/fault-proxy`, which records each manifest PUT (path, content type,
//! bytes) exactly as Harbor's middlewares would receive it.

use ironsign::harbor::{self, AccessoryType, HarborRelease, ManifestPush};
use ironsign::{Digest, ImageReference};
use ironsign_e2e::*;
use serde_json::{Value, json};
use std::io::{Read as _, Write as _};

/// `scripts/fault-proxy` in front of a plain-HTTP test registry, stopped (by PID) when dropped.
struct RecordingProxy {
    child: std::process::Child,
    addr: String,
}

impl RecordingProxy {
    fn start(upstream: &str) -> Self {
        use std::io::BufRead as _;
        let mut child = std::process::Command::new(repo_root().join("scripts/fault-proxy"))
            .arg(upstream)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("scripts/fault-proxy");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("address");
        RecordingProxy { child, addr: line.trim().to_owned() }
    }

    fn control(&self, method: &str, path: &str, body: &str) -> String {
        let mut s = std::net::TcpStream::connect(&self.addr).expect("proxy");
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
            self.addr,
            body.len()
        )
        .expect("control request");
        let mut out = String::new();
        s.read_to_string(&mut out).expect("control answer");
        out.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default()
    }

    /// The manifest PUTs seen: (repository, reference, content type, body).
    fn manifest_pushes(&self) -> Vec<(String, String, String, Vec<u8>)> {
        let log: Value = serde_json::from_str(&self.control("GET", "/__faults__/log", "")).expect("log");
        log.as_array()
            .expect("list")
            .iter()
            .filter(|e| e["method"] == "PUT" && e["body"].is_string())
            .map(|e| {
                let path = e["path"].as_str().unwrap().strip_prefix("/v2/").unwrap();
                let (repository, reference) = path.rsplit_once("/manifests/").unwrap();
                (
                    repository.to_owned(),
                    reference.to_owned(),
                    e["content_type"].as_str().unwrap_or_default().to_owned(),
                    e["body"].as_str().unwrap().as_bytes().to_vec(),
                )
            })
            .collect()
    }
}

impl Drop for RecordingProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn signing() -> Vec<String> {
    ["--key", "leaf.key", "--certificate", "leaf.pem", "--certificate-chain", "chain.pem"]
        .iter()
        .enumerate()
        .map(|(i, a)| if i % 2 == 1 { pki_file(a) } else { (*a).to_owned() })
        .collect()
}

fn ironsign_with(args: &[&str], extra: &[String]) -> Run {
    let mut all: Vec<&str> = args.to_vec();
    let image = all.pop().expect("an image last");
    all.extend(extra.iter().map(String::as_str));
    all.push(image);
    ironsign(&all).ok()
}

fn judge(pushes: &[(String, String, String, Vec<u8>)], repository: &str, image: &Digest) -> harbor::HarborAssessment {
    let in_repo: Vec<ManifestPush<'_>> = pushes
        .iter()
        .filter(|(r, ..)| r == repository)
        .map(|(repository, reference, content_type, body)| ManifestPush { repository, reference, content_type, body })
        .collect();
    harbor::assess(repository, image, &in_repo)
}

/// Every manifest ironsign pushes, judged by Harbor's rules; and which Harbor releases show the
/// image signed: with cosign's legacy `.sig`, every release since 2.5; with Sigstore bundles only,
/// 2.15 and later.
#[test]
fn every_manifest_ironsign_pushes_meets_harbors_rules() {
    let proxy = RecordingProxy::start(&registry(RegistryKind::Referrers));
    let repo = unique_repo("harbor");
    let tagged = format!("{}/{repo}:v1", proxy.addr);
    let image = push_unique_image(&client(), &tagged);
    let digest = ImageReference::parse(&image).unwrap().digest.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let sbom = dir.path().join("sbom.spdx.json");
    std::fs::write(&sbom, br#"{"spdxVersion":"SPDX-2.3","SPDXID":"SPDXRef-DOCUMENT","name":"app"}"#).unwrap();
    let report = repo_root().join("examples/quickstart/trivy-report.json");
    let s = signing();

    ironsign_with(&["sign", &image], &s);
    ironsign_with(&["attest", "--type", "vuln", "--predicate", report.to_str().unwrap(), &image], &s);
    ironsign(&["attach", "sbom", "--sbom", sbom.to_str().unwrap(), "--type", "spdx", &image]).ok();
    ironsign_with(&["sign", "--bundle-format", &image], &s);
    ironsign_with(
        &["attest", "--bundle-format", "--type", "vuln", "--predicate", report.to_str().unwrap(), &image],
        &s,
    );
    let copied_repo = format!("{repo}-copy");
    ironsign(&["copy", &tagged, &format!("{}/{copied_repo}:v1", proxy.addr)]).ok();
    let layout = dir.path().join("layout");
    ironsign(&["save", "--dir", layout.to_str().unwrap(), &tagged]).ok();
    let loaded_repo = format!("{repo}-loaded");
    ironsign(&["load", "--dir", layout.to_str().unwrap(), &format!("{}/{loaded_repo}:v1", proxy.addr)]).ok();
    // An image signed in bundle form only.
    let bundles_only = push_unique_image(&client(), &format!("{}/{repo}-bundles:v1", proxy.addr));
    ironsign_with(&["sign", "--bundle-format", &bundles_only], &s);

    let pushes = proxy.manifest_pushes();
    let since_2_5: Vec<HarborRelease> = HarborRelease::all().collect();
    for repository in [&repo, &copied_repo, &loaded_repo] {
        let a = judge(&pushes, repository, &digest);
        eprintln!("{}", serde_json::to_string_pretty(&a).unwrap());
        assert_eq!(a.signed_in, since_2_5, "{repository}: {a:#?}");
        let mut kinds = std::collections::BTreeSet::new();
        for p in &a.pushes {
            let reference = match p.reference.split_once('@') {
                Some((_, digest)) => digest,
                None => p.reference.rsplit_once(':').unwrap().1,
            };
            let kind = if reference.ends_with(".sig") {
                // A legacy signature: Harbor's signature.cosign accessory of the image, everywhere.
                assert_eq!(p.signature_of_image_in, since_2_5, "{p:#?}");
                "sig"
            } else if reference.ends_with(".att") || reference.ends_with(".sbom") {
                // Separate artifacts in every release: listed, scanned, kept when the image goes.
                assert!(p.accessories.is_empty() && p.signature_of_image_in.is_empty(), "{p:#?}");
                if reference.ends_with(".att") { "att" } else { "sbom" }
            } else if reference.starts_with("sha256:") && p.accessories.iter().any(|x| x.subject == digest) {
                // A Sigstore bundle referrer (signature or attestation): a signature from 2.15
                // only, a generic subject accessory in 2.8 to 2.14.
                assert_eq!(p.signature_of_image_in, vec![HarborRelease::SIGSTORE_BUNDLE], "{p:#?}");
                let push = pushes.iter().find(|(r, rf, ..)| r == repository && rf == reference).unwrap();
                let at_2_14 = ManifestPush { repository, reference, content_type: &push.2, body: &push.3 };
                assert_eq!(harbor::accessories(&at_2_14, HarborRelease(14))[0].kind, AccessoryType::Subject);
                "bundle"
            } else {
                // The image itself (by tag or digest): an ordinary artifact.
                assert!(p.accessories.is_empty(), "{p:#?}");
                "image"
            };
            kinds.insert(kind);
        }
        assert_eq!(kinds.into_iter().collect::<Vec<_>>(), ["att", "bundle", "image", "sbom", "sig"], "{repository}");
    }
    let bundles_digest = ImageReference::parse(&bundles_only).unwrap().digest.unwrap();
    let a = judge(&pushes, &format!("{repo}-bundles"), &bundles_digest);
    assert_eq!(a.signed_since(), Some(HarborRelease::SIGSTORE_BUNDLE), "{a:#?}");
}

/// Harbor's referrers API also lists the `.sig` manifests it links by tag, which have no
/// `subject`: ironsign's referrers reader drops them (reproduced here by adding such an entry to a
/// real registry's referrers answer).
#[test]
fn referrers_listed_without_a_subject_are_ignored() {
    let upstream = registry(RegistryKind::Referrers);
    let proxy = RecordingProxy::start(&upstream);
    let repo = unique_repo("harbor-referrers");
    let image = push_unique_image(&client(), &format!("{}/{repo}:v1", proxy.addr));
    let digest = ImageReference::parse(&image).unwrap().digest.unwrap();
    ironsign_with(&["sign", &image], &signing());
    ironsign_with(&["sign", "--bundle-format", &image], &signing());
    let sig = block_on(async {
        let location = ImageReference::parse(&image).unwrap().location;
        client().head_manifest(&location, &digest.attachment_tag("sig")).await.unwrap().expect(".sig")
    });
    let entry = json!({"mediaType": sig.media_type, "digest": sig.digest.to_string(), "size": 1});
    let rules = json!([{"method": "GET", "path": "/referrers/", "fault": "edit",
                        "append": {"field": "manifests", "items": [entry]}}]);
    proxy.control("PUT", "/__faults__", &rules.to_string());

    let location = ImageReference::parse(&image).unwrap().location;
    let listed = block_on(async { client().get_referrers(&location, &digest, 100).await.unwrap() });
    assert_eq!(listed.descriptors.len(), 1, "the bundle only: {listed:?}");
    assert_ne!(listed.descriptors[0].digest, sig.digest);
    // And what reads referrers agrees: the tree lists one referrer, verify and copy succeed.
    let tree = ironsign(&["tree", "-o", "json", &image]).ok().json();
    assert_eq!(tree["referrers"]["entries"].as_array().map(Vec::len), Some(1), "{tree}");
    let public = pki_file("leaf.pub");
    ironsign(&["verify", "--key", &public, &image]).ok();
    let copy = format!("{}/{repo}-copy:v1", proxy.addr);
    ironsign(&["copy", &format!("{}/{repo}:v1", proxy.addr), &copy]).ok();
}

/// `ironsign gc --registry-flavor harbor`: a `.sig` Harbor links to its existing image is left
/// for Harbor to delete with the image; `.att` and `.sbom`, which Harbor never deletes with their
/// image, are collected. Unknown flavors and image layouts are refused.
#[test]
fn gc_harbor_flavor_leaves_linked_signatures_to_harbor() {
    let addr = registry(RegistryKind::Plain);
    let repo = unique_repo("harbor-gc");
    let tagged = format!("{addr}/{repo}:v1");
    let image = push_unique_image(&client(), &tagged);
    let dir = tempfile::tempdir().unwrap();
    let sbom = dir.path().join("sbom.spdx.json");
    std::fs::write(&sbom, br#"{"spdxVersion":"SPDX-2.3","SPDXID":"SPDXRef-DOCUMENT","name":"app"}"#).unwrap();
    let report = repo_root().join("examples/quickstart/trivy-report.json");
    ironsign_with(&["sign", &image], &signing());
    ironsign_with(&["attest", "--type", "vuln", "--predicate", report.to_str().unwrap(), &image], &signing());
    ironsign(&["attach", "sbom", "--sbom", sbom.to_str().unwrap(), "--type", "spdx", &image]).ok();
    // The tag moves on: the signed image is untagged (Harbor's GC would delete it and its `.sig`).
    push_unique_image(&client(), &tagged);
    let repository = format!("{addr}/{repo}");

    let plan = |flavor: &str| {
        let p =
            ironsign(&["gc", "--include-untagged", "--registry-flavor", flavor, "-o", "json", &repository]).ok().json();
        let tags = |list: &str| -> Vec<(String, String)> {
            let mut v: Vec<(String, String)> = p["repositories"][0][list]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| {
                    let tag = e["tag"].as_str().unwrap();
                    let reason = e["reason"].as_str().unwrap();
                    (tag.rsplit_once('.').map_or("", |(_, s)| s).to_owned(), reason.to_owned())
                })
                .collect();
            v.sort();
            v
        };
        (p["registry_flavor"].clone(), tags("orphans"), tags("kept"))
    };
    let (flavor, orphans, kept) = plan("generic");
    assert_eq!(flavor, "generic");
    assert_eq!(orphans.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(), ["att", "sbom", "sig"]);
    assert!(kept.is_empty(), "{kept:?}");
    let (flavor, orphans, kept) = plan("harbor");
    assert_eq!(flavor, "harbor");
    assert_eq!(orphans.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(), ["att", "sbom"]);
    assert_eq!(kept, [("sig".to_owned(), "harbor_deletes_with_image".to_owned())]);

    // Deleting honours the flavor: the `.sig` stays, the others go.
    ironsign(&["gc", "--include-untagged", "--registry-flavor", "harbor", "--delete", &repository]).ok();
    let digest = ImageReference::parse(&image).unwrap().digest.unwrap();
    let location = ImageReference::parse(&image).unwrap().location;
    let tags = block_on(async { client().list_tags(&location, 100).await.unwrap() });
    assert!(tags.contains(&digest.attachment_tag("sig")), "{tags:?}");
    assert!(
        !tags.contains(&digest.attachment_tag("att")) && !tags.contains(&digest.attachment_tag("sbom")),
        "{tags:?}"
    );

    // Once the image itself is gone, a `.sig` still there was never linked by Harbor: collected.
    block_on(async { client().delete_manifest(&location, &digest).await.unwrap() });
    let (_, orphans, kept) = plan("harbor");
    assert_eq!(orphans, [("sig".to_owned(), "subject_missing".to_owned())]);
    assert!(kept.is_empty(), "{kept:?}");

    // Fail closed: an unknown flavor, and a layout, which no Harbor serves.
    let bogus = ironsign(&["gc", "--registry-flavor", "quay", &repository]).code(3);
    assert!(bogus.stderr.contains("registry_flavor"), "{bogus:?}");
    let layout = format!("oci:{}", dir.path().join("layout").display());
    ironsign(&["save", "--dir", dir.path().join("layout").to_str().unwrap(), &tagged]).ok();
    let refused = ironsign(&["gc", "--registry-flavor", "harbor", "-o", "json", &layout]);
    assert_ne!(refused.code, 0, "{refused:?}");
    assert!(refused.stdout.contains("not a Harbor repository"), "{refused:?}");
}
