//! Certificate rotation: find the images whose newest valid signature comes from a certificate
//! about to expire (or from a given certificate), and sign them again with new material.
//!
//! [`plan`] lists every ordinary tag of the repositories given, resolves each to its digest once,
//! verifies the digest's signatures with the caller's [`Verifier`] and [`Policy`], and takes the
//! newest signature that passed (the last one appended to the `.sig` manifest). The image is a
//! candidate when that signature's leaf expires within the window, or is the certificate named.
//! An image whose newest valid signature is already by another certificate is left alone, so a
//! plan made after [`apply`] is empty. [`apply`] appends one signature per candidate with
//! [`sign_image`](crate::sign::sign_image); old signatures stay (a verifier trusting either
//! certificate keeps accepting the image, and the policy does not change when the identity does
//! not). The policy's required annotations are written into the new signatures, so they satisfy
//! the policy the plan was made under.
//!
//! Only what the verifier accepts counts: a signature rejected under the trust given (revoked,
//! expired, another root, another identity) never makes an image due, so re-signing cannot launder
//! it. An image with no accepted signature is skipped with the rejection codes; an error that is not
//! a verdict on the image (registry, input) is an error of the plan, not a skip.

use crate::error::{Error, VerificationError};
use crate::gc::parse_attachment_tag;
use crate::pki::{Certificate, CertificateSummary};
use crate::reference::{Digest, ImageReference, Location};
use crate::registry::RegistryClient;
use crate::sign::{SignOptions, SigningMaterial, sign_image};
use crate::verify::{Policy, Verifier};
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

/// Media type of a serialised [`ResignPlan`].
pub const PLAN_MEDIA_TYPE: &str = "application/vnd.ironsign.resign-plan+json;version=0.1";

/// Which images need a new signature.
#[derive(Debug, Clone)]
pub enum RotationCriterion {
    /// The newest valid signature's leaf expires within this long.
    ExpiresWithin(Duration),
    /// The newest valid signature's leaf is this certificate.
    SignedBy(Box<Certificate>),
}

/// Options of [`plan`].
#[derive(Debug, Clone)]
pub struct ResignOptions {
    /// What makes an image a candidate.
    pub criterion: RotationCriterion,
    /// Most tags read per repository.
    pub max_tags: usize,
    /// The time expiry is measured from (and signatures verified at).
    pub now: SystemTime,
}

/// An image to sign again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResignCandidate {
    /// `repository@digest`.
    pub image: String,
    /// The tags pointing at it.
    pub tags: Vec<String>,
    /// The leaf of its newest valid signature.
    pub signer: CertificateSummary,
    /// Whole days until that leaf expires (negative once expired).
    pub expires_in_days: i64,
}

/// An image left alone, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResignSkipped {
    /// `repository@digest`.
    pub image: String,
    /// `not_due` (newest valid signature outside the criterion), `key_only` (made with a key),
    /// or the stable code of the verification error (`NO_SIGNATURES`, `NO_MATCHING_SIGNATURE`).
    pub reason: String,
    /// With `NO_MATCHING_SIGNATURE`: the code each signature was rejected with (`CERT_REVOKED`…).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rejections: Vec<&'static str>,
}

/// What [`plan`] found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResignPlan {
    /// [`PLAN_MEDIA_TYPE`].
    pub media_type: &'static str,
    /// Images to sign again.
    pub candidates: Vec<ResignCandidate>,
    /// Images left alone.
    pub skipped: Vec<ResignSkipped>,
    /// Repositories and images that could not be read or checked, with the error.
    pub errors: Vec<(String, String)>,
    /// The annotations the policy requires; [`apply`] writes them into the new signatures.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// What [`apply`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResignReport {
    /// Images signed (`repository@digest`).
    pub signed: Vec<String>,
    /// Images that failed, with the error code and message.
    pub failed: Vec<(String, String, String)>,
}

/// Scans `locations` and returns the images to sign again. `progress` is called with the number
/// of images examined so far.
pub async fn plan(
    client: &RegistryClient,
    locations: &[Location],
    verifier: &Verifier,
    policy: &Policy,
    options: &ResignOptions,
    progress: &(dyn Fn(usize) + Send + Sync),
) -> ResignPlan {
    let mut out = ResignPlan {
        media_type: PLAN_MEDIA_TYPE,
        candidates: Vec::new(),
        skipped: Vec::new(),
        errors: Vec::new(),
        annotations: policy.annotations().clone(),
    };
    let mut examined = 0;
    for location in locations {
        let tags = match client.list_tags(location, options.max_tags).await {
            Ok(t) => t,
            Err(e) => {
                out.errors.push((location.to_string(), e.to_string()));
                continue;
            }
        };
        // Ordinary tags only, each digest once.
        let mut digests: BTreeMap<Digest, Vec<String>> = BTreeMap::new();
        for tag in tags.into_iter().filter(|t| parse_attachment_tag(t).is_none()) {
            let reference = ImageReference { location: location.clone(), tag: Some(tag.clone()), digest: None };
            match client.digest_of(&reference).await {
                Ok(d) => digests.entry(d).or_default().push(tag),
                Err(e) => out.errors.push((reference.to_string(), e.to_string())),
            }
        }
        for (digest, tags) in digests {
            let reference = ImageReference { location: location.clone(), tag: None, digest: Some(digest) };
            let image = reference.to_string();
            examined += 1;
            progress(examined);
            let verified = match client.fetch_signatures(&reference).await {
                Ok(signed) => verifier.verify_at(&signed, policy, options.now),
                Err(e) => Err(e),
            };
            let result = match verified {
                Ok(r) => r,
                Err(Error::Verification(e)) => {
                    let rejections = match &e {
                        VerificationError::NoMatchingSignature { rejections, .. } => {
                            rejections.iter().map(|r| r.code).collect()
                        }
                        _ => Vec::new(),
                    };
                    out.skipped.push(ResignSkipped { image, reason: e.code().to_owned(), rejections });
                    continue;
                }
                // Not a verdict on the image: the plan is incomplete, say so.
                Err(e) => {
                    out.errors.push((image, format!("[{}] {e}", e.code())));
                    continue;
                }
            };
            let newest = result.signatures.iter().max_by_key(|s| s.index).and_then(|s| s.certificate());
            let Some(signer) = newest else {
                out.skipped.push(ResignSkipped { image, reason: "key_only".into(), rejections: Vec::new() });
                continue;
            };
            let expires_in_days = days_until(&signer.not_after, options.now);
            let due = match &options.criterion {
                RotationCriterion::ExpiresWithin(window) => {
                    expires_in_days.saturating_mul(86_400) <= window.as_secs() as i64
                }
                RotationCriterion::SignedBy(cert) => cert.summary().sha256_fingerprint == signer.sha256_fingerprint,
            };
            if due {
                out.candidates.push(ResignCandidate { image, tags, signer: signer.clone(), expires_in_days });
            } else {
                out.skipped.push(ResignSkipped { image, reason: "not_due".into(), rejections: Vec::new() });
            }
        }
    }
    out
}

fn days_until(rfc3339: &str, now: SystemTime) -> i64 {
    let Ok(t) = time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339) else {
        return 0;
    };
    let now = now.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default().as_secs() as i64;
    (t.unix_timestamp() - now).div_euclid(86_400)
}

/// Signs every candidate of `plan` with `material`, the plan's annotations added to `options`';
/// `progress` is called after each image.
pub async fn apply(
    client: &RegistryClient,
    plan: &ResignPlan,
    material: &SigningMaterial,
    options: &SignOptions,
    progress: &(dyn Fn(usize) + Send + Sync),
) -> ResignReport {
    let mut options = options.clone();
    options.annotations.extend(plan.annotations.iter().map(|(k, v)| (k.clone(), v.clone())));
    let options = &options;
    let mut report = ResignReport { signed: Vec::new(), failed: Vec::new() };
    for (i, candidate) in plan.candidates.iter().enumerate() {
        let outcome = match ImageReference::parse(&candidate.image) {
            Ok(reference) => sign_image(client, &reference, material, options).await.map(|_| ()),
            Err(e) => Err(Error::from(e)),
        };
        match outcome {
            Ok(()) => report.signed.push(candidate.image.clone()),
            Err(e) => report.failed.push((candidate.image.clone(), e.code().to_owned(), e.to_string())),
        }
        progress(i + 1);
    }
    report
}
