//! Harbor's rules for cosign's attachments, encoded from Harbor's sources (goharbor/harbor, read at
//! the tag [`RULES_RELEASE`] and at each release named below): not a running Harbor, which cannot
//! be built here. Pure: it judges manifest pushes (repository, reference, content type, body) as
//! Harbor's registry middlewares would, and says which Harbor releases show an image as signed.
//!
//! What Harbor records when a manifest is pushed (`src/server/registry/route.go` runs both
//! middlewares on every manifest PUT):
//! * `src/server/middleware/cosign/cosign.go` (since 2.5): a push **by tag** whose path matches
//!   `^/v2/<repo>/manifests/sha256-<64 hex>.sig$` and whose manifest references (config or layer) a
//!   `application/vnd.dev.cosign.simplesigning.v1+json` descriptor becomes a `signature.cosign`
//!   accessory of `sha256:<hex>` **in the same repository**. A signature stored elsewhere
//!   (`COSIGN_REPOSITORY`) or pushed by digest is an ordinary artifact.
//! * `src/server/middleware/subject/subject.go` (since 2.8): a manifest with a `subject` becomes an
//!   accessory of it, typed by `artifactType` (else the config media type):
//!   `application/vnd.dev.cosign.artifact.sig.v1+json` is `signature.cosign` from 2.11, and the
//!   Sigstore bundle `application/vnd.dev.sigstore.bundle.v0.3+json` only from 2.15.0 (commit
//!   "feat(cosign): Support Cosign v3 Bundle signature format"); anything else is the generic
//!   `subject.accessory`, which Harbor does not show as a signature.
//! * Nothing else is an accessory: `.att` and `.sbom` tags (and the referrers fallback index
//!   `sha256-<hex>`) are separate artifacts, listed, scanned and kept when their image is deleted
//!   (`src/controller/artifact/controller.go`, `deleteDeeply` removes only accessories).
//! * "Signed" (the UI's icon, and the project's cosign content-trust policy in
//!   `src/server/middleware/contenttrust/contentrust.go`) means: an accessory of type
//!   `signature.cosign`. Harbor verifies nothing: on 2.15 an attestation bundle counts too.
//! * Harbor's referrers API (`src/server/registry/referrers.go`) lists every accessory of the
//!   digest, including `.sig` manifests, which have no `subject`.

use crate::bundle::BUNDLE_MEDIA_TYPE;
use crate::cosign::{DOCKER_MANIFEST, Manifest, OCI_MANIFEST, SIMPLE_SIGNING_MEDIA_TYPE};
use crate::reference::Digest;
use serde::Serialize;

/// The Harbor release whose sources these rules were read from.
pub const RULES_RELEASE: &str = "v2.15.2";
/// The config (OCI 1.1) media type of cosign's experimental referrer signatures.
pub const COSIGN_ARTIFACT_SIG_MEDIA_TYPE: &str = "application/vnd.dev.cosign.artifact.sig.v1+json";

/// A Harbor 2.x minor release (serialised as `"2.15"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HarborRelease(pub u8);

impl Serialize for HarborRelease {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl HarborRelease {
    /// The first release with cosign accessories (`.sig` tags).
    pub const COSIGN_TAGS: HarborRelease = HarborRelease(5);
    /// The first release that links manifests with a `subject` (and serves the referrers API).
    pub const SUBJECT: HarborRelease = HarborRelease(8);
    /// The first release that types cosign's OCI 1.1 signature config as a signature.
    pub const COSIGN_ARTIFACT_SIG: HarborRelease = HarborRelease(11);
    /// The first release that types Sigstore bundle referrers as signatures.
    pub const SIGSTORE_BUNDLE: HarborRelease = HarborRelease(15);
    /// The releases judged: 2.5 (the first with cosign accessories) to 2.15.
    pub fn all() -> impl Iterator<Item = HarborRelease> {
        (5..=15).map(HarborRelease)
    }
}

impl std::fmt::Display for HarborRelease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "2.{}", self.0)
    }
}

/// The accessory types Harbor records for what cosign and ironsign write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum AccessoryType {
    /// `signature.cosign`: shown as signed; deleted with its subject.
    #[serde(rename = "signature.cosign")]
    CosignSignature,
    /// `subject.accessory`: attached (deleted with its subject) but not a signature.
    #[serde(rename = "subject.accessory")]
    Subject,
    /// Another typed accessory (`signature.notation`, `sbom.harbor`, `accelerator.nydus`).
    #[serde(rename = "other")]
    Other,
}

/// One manifest push, as Harbor's middlewares see it.
#[derive(Debug, Clone, Copy)]
pub struct ManifestPush<'a> {
    /// The repository (`team/app`, without the registry).
    pub repository: &'a str,
    /// The tag or digest of the PUT.
    pub reference: &'a str,
    /// The request's `Content-Type`.
    pub content_type: &'a str,
    /// The manifest bytes.
    pub body: &'a [u8],
}

/// An accessory link Harbor records for a push.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Accessory {
    /// Its type.
    #[serde(rename = "type")]
    pub kind: AccessoryType,
    /// The repository of the subject (always the push's own).
    pub repository: String,
    /// The subject's digest.
    pub subject: Digest,
}

/// `sha256-<64 lowercase hex>.sig` → the subject digest (Harbor's `cosignRe`).
fn legacy_signature_subject(reference: &str) -> Option<Digest> {
    let hex = reference.strip_prefix("sha256-")?.strip_suffix(".sig")?;
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        return None;
    }
    Digest::parse(&format!("sha256:{hex}")).ok()
}

/// The accessories Harbor `release` records for `push` (empty: an ordinary artifact). A body
/// that is not a manifest records nothing (Harbor's middlewares fail on it).
pub fn accessories(push: &ManifestPush<'_>, release: HarborRelease) -> Vec<Accessory> {
    let mut out = Vec::new();
    let Ok(manifest) = Manifest::parse(push.body, "manifest") else { return out };
    let link = |kind, subject| Accessory { kind, repository: push.repository.to_owned(), subject };
    // cosign.go: a tag push only; `distribution.UnmarshalManifest` reads image manifests, whose
    // references are the config and the layers.
    if release >= HarborRelease::COSIGN_TAGS
        && (push.content_type == OCI_MANIFEST || push.content_type == DOCKER_MANIFEST)
        && let Some(subject) = legacy_signature_subject(push.reference)
        && manifest.config.iter().chain(&manifest.layers).any(|d| d.media_type == SIMPLE_SIGNING_MEDIA_TYPE)
    {
        out.push(link(AccessoryType::CosignSignature, subject));
    }
    // subject.go
    if release >= HarborRelease::SUBJECT
        && let Some(subject) = &manifest.subject
    {
        let from_type = manifest
            .artifact_type
            .as_deref()
            .filter(|t| !t.is_empty())
            .or(manifest.config.as_ref().map(|c| c.media_type.as_str()))
            .unwrap_or_default();
        let kind = match from_type {
            COSIGN_ARTIFACT_SIG_MEDIA_TYPE if release >= HarborRelease::COSIGN_ARTIFACT_SIG => {
                AccessoryType::CosignSignature
            }
            BUNDLE_MEDIA_TYPE if release >= HarborRelease::SIGSTORE_BUNDLE => AccessoryType::CosignSignature,
            "application/vnd.cncf.notary.signature" | "application/vnd.goharbor.harbor.sbom.v1"
                if release >= HarborRelease::COSIGN_ARTIFACT_SIG =>
            {
                AccessoryType::Other
            }
            _ => AccessoryType::Subject,
        };
        out.push(link(kind, subject.digest.clone()));
    }
    out
}

/// How Harbor treats one push, in every release judged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PushVerdict {
    /// `repository:tag` or `repository@digest`.
    pub reference: String,
    /// The releases that record it as a `signature.cosign` accessory of the image.
    pub signature_of_image_in: Vec<HarborRelease>,
    /// The accessories the newest release judged records (empty: a separate artifact, listed
    /// and scanned on its own and kept when the image is deleted).
    pub accessories: Vec<Accessory>,
}

/// Which Harbor releases show an image as signed, given everything pushed for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HarborAssessment {
    /// [`RULES_RELEASE`].
    pub rules_release: &'static str,
    /// The image's repository.
    pub repository: String,
    /// The image's digest.
    pub image: Digest,
    /// The releases that show it signed.
    pub signed_in: Vec<HarborRelease>,
    /// Every push, judged.
    pub pushes: Vec<PushVerdict>,
}

impl HarborAssessment {
    /// The oldest release that shows the image signed (every later one does too).
    pub fn signed_since(&self) -> Option<HarborRelease> {
        self.signed_in.first().copied()
    }
}

/// Judges `pushes` for the image `repository@image` in every release from 2.5 to 2.15.
pub fn assess(repository: &str, image: &Digest, pushes: &[ManifestPush<'_>]) -> HarborAssessment {
    let is_signature =
        |a: &Accessory| a.kind == AccessoryType::CosignSignature && a.repository == repository && &a.subject == image;
    let verdicts: Vec<PushVerdict> = pushes
        .iter()
        .map(|p| {
            let separator = if p.reference.starts_with("sha256:") { '@' } else { ':' };
            PushVerdict {
                reference: format!("{}{separator}{}", p.repository, p.reference),
                signature_of_image_in: HarborRelease::all()
                    .filter(|r| accessories(p, *r).iter().any(is_signature))
                    .collect(),
                accessories: accessories(p, HarborRelease::SIGSTORE_BUNDLE),
            }
        })
        .collect();
    let signed_in =
        HarborRelease::all().filter(|r| verdicts.iter().any(|v| v.signature_of_image_in.contains(r))).collect();
    HarborAssessment {
        rules_release: RULES_RELEASE,
        repository: repository.to_owned(),
        image: image.clone(),
        signed_in,
        pushes: verdicts,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Hex letters, so the upper-case near-miss tag below differs from the real one.
    const IMAGE: &str = "sha256:abcdef11111111111111111111111111111111111111111111111111111111ab";

    fn sig_manifest(layer_type: &str) -> Vec<u8> {
        format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","size":2,"digest":"{IMAGE}"}},"layers":[{{"mediaType":"{layer_type}","size":2,"digest":"{IMAGE}"}}]}}"#
        )
        .into_bytes()
    }

    fn referrer(artifact_type: &str) -> Vec<u8> {
        format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"application/vnd.oci.empty.v1+json","size":2,"digest":"{IMAGE}"}},"layers":[],"subject":{{"mediaType":"{OCI_MANIFEST}","size":2,"digest":"{IMAGE}"}},"artifactType":"{artifact_type}"}}"#
        )
        .into_bytes()
    }

    fn push<'a>(reference: &'a str, body: &'a [u8]) -> ManifestPush<'a> {
        ManifestPush { repository: "team/app", reference, content_type: OCI_MANIFEST, body }
    }

    fn image() -> Digest {
        Digest::parse(IMAGE).unwrap()
    }

    #[test]
    fn a_legacy_signature_is_a_signature_only_by_tag_in_its_own_repository_with_a_simple_signing_layer() {
        let tag = image().attachment_tag("sig");
        let body = sig_manifest(SIMPLE_SIGNING_MEDIA_TYPE);
        assert_eq!(assess("team/app", &image(), &[push(&tag, &body)]).signed_since(), Some(HarborRelease(5)));
        // Pushed by digest, into another repository, with another layer type, or a near-miss tag.
        let by_digest = Digest::sha256(&body).to_string();
        let dsse = sig_manifest(crate::cosign::DSSE_MEDIA_TYPE);
        let upper = tag.to_uppercase().replace("SHA256-", "sha256-").replace(".SIG", ".sig");
        for (reference, body, repository) in [
            (by_digest.as_str(), body.as_slice(), "team/app"),
            (tag.as_str(), body.as_slice(), "team/signatures"),
            (tag.as_str(), dsse.as_slice(), "team/app"),
            (upper.as_str(), body.as_slice(), "team/app"),
            (&tag[..tag.len() - 1], body.as_slice(), "team/app"),
        ] {
            let p = ManifestPush { repository, reference, content_type: OCI_MANIFEST, body };
            assert_eq!(assess("team/app", &image(), &[p]).signed_since(), None, "{repository} {reference}");
        }
        // An index is no signature, whatever its tag.
        let p = ManifestPush { content_type: crate::cosign::OCI_INDEX, ..push(&tag, &body) };
        assert_eq!(assess("team/app", &image(), &[p]).signed_since(), None);
    }

    #[test]
    fn bundle_referrers_are_signatures_from_harbor_2_15_and_generic_accessories_before() {
        let body = referrer(BUNDLE_MEDIA_TYPE);
        let digest = Digest::sha256(&body).to_string();
        let a = assess("team/app", &image(), &[push(&digest, &body)]);
        assert_eq!(a.signed_in, vec![HarborRelease(15)]);
        assert_eq!(accessories(&push(&digest, &body), HarborRelease(14))[0].kind, AccessoryType::Subject);
        assert!(accessories(&push(&digest, &body), HarborRelease(7)).is_empty(), "no subject handling before 2.8");
        let cosign_oci = referrer(COSIGN_ARTIFACT_SIG_MEDIA_TYPE);
        let a = assess("team/app", &image(), &[push(&digest, &cosign_oci)]);
        assert_eq!(a.signed_since(), Some(HarborRelease(11)));
    }

    #[test]
    fn attestation_and_sbom_tags_are_never_accessories() {
        let att = image().attachment_tag("att");
        let sbom = image().attachment_tag("sbom");
        let body = sig_manifest(crate::cosign::DSSE_MEDIA_TYPE);
        for r in HarborRelease::all() {
            assert!(accessories(&push(&att, &body), r).is_empty());
            assert!(accessories(&push(&sbom, &sig_manifest(SIMPLE_SIGNING_MEDIA_TYPE)), r).is_empty());
        }
    }
}
