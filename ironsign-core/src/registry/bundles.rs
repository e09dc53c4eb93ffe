//! Fetching Sigstore bundle referrers as plain data for the verifier.
//!
//! cosign v3 stores signatures and attestations as OCI 1.1 referrers of the image: a manifest
//! with one `application/vnd.dev.sigstore.bundle…` layer whose `subject` is the image
//! (cosign.md §5.2). They are found through the registry's referrers API, else the
//! `sha256-<hex>` referrers tag ([`RegistryClient::get_referrers`]); each referrer manifest and its
//! bundle blob are read (bounded, digest-checked) and handed over as [`SignatureLayer`]s whose
//! `referrer` is set. Nothing is verified here.

use super::{FetchBudget, PendingLayer, RegistryClient, join_bounded};
use crate::bundle;
use crate::cosign::{AttachmentKind, Manifest, SignatureLayer, SignedImage};
use crate::error::{Error, RegistryError};
use crate::reference::{Digest, ImageReference, Location};
use std::collections::BTreeSet;

/// How many referrer manifests are read at once.
const WORKERS: usize = 8;

/// Which bundles a fetch is for, judged on the referrer's unsigned `predicateType` annotation.
/// The annotation only ever excludes a bundle from a fetch: what is verified is the signed
/// statement's predicate type, so a lying annotation cannot make a bundle pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BundlePurpose {
    /// Image signatures: bundles annotated `https://sigstore.dev/cosign/sign/v1`, or not annotated.
    Signatures,
    /// Attestations: bundles not annotated as image signatures.
    Attestations,
}

impl BundlePurpose {
    fn wants(self, predicate_type: Option<&str>) -> bool {
        match (self, predicate_type) {
            (_, None) => true,
            (BundlePurpose::Signatures, Some(t)) => t == bundle::COSIGN_SIGN_PREDICATE_TYPE,
            (BundlePurpose::Attestations, Some(t)) => t != bundle::COSIGN_SIGN_PREDICATE_TYPE,
        }
    }
}

impl RegistryClient {
    /// The Sigstore bundle referrers of `digest` for `purpose`, each as a [`SignatureLayer`]
    /// (media type and digest of the bundle layer, the bundle blob, the referrer manifest's
    /// annotations and digest). Referrers that are not bundles, or whose `subject` is another
    /// manifest, are skipped. At most `Limits::max_layers` referrers are listed, and what is read
    /// is bounded by `Limits::max_signatures` and `Limits::max_fetched_bytes`.
    pub async fn fetch_bundles(
        &self,
        location: &Location,
        digest: &Digest,
        purpose: BundlePurpose,
    ) -> Result<Vec<SignatureLayer>, Error> {
        self.fetch_bundles_within(location, digest, purpose, &FetchBudget::new(&self.limits)).await
    }

    /// [`Self::fetch_bundles`] within what is left of `budget`: the referrer manifests are read
    /// first (each distinct one once, its bytes charged as it arrives), then the bundles wanted
    /// are counted and their declared sizes charged before any bundle blob is read.
    async fn fetch_bundles_within(
        &self,
        location: &Location,
        digest: &Digest,
        purpose: BundlePurpose,
        budget: &FetchBudget,
    ) -> Result<Vec<SignatureLayer>, Error> {
        let referrers = self.get_referrers(location, digest, self.limits.max_layers).await?;
        let manifests: BTreeSet<&Digest> = referrers
            .descriptors
            .iter()
            .filter(|d| !crate::cosign::is_index(&d.media_type))
            .map(|d| &d.digest)
            .collect();
        let fetches: Vec<_> =
            manifests.into_iter().map(|d| self.bundle_referrer(location, digest, d, purpose, budget)).collect();
        let pending: Vec<PendingLayer> = join_bounded(fetches, WORKERS).await?.into_iter().flatten().collect();
        budget.count(pending.len())?;
        self.fetch_layer_blobs(location, pending, budget).await
    }

    /// Reads a referrer manifest: its bundle layer, still to be read, when it is a bundle of
    /// `subject` for `purpose`.
    async fn bundle_referrer(
        &self,
        location: &Location,
        subject: &Digest,
        manifest_digest: &Digest,
        purpose: BundlePurpose,
        budget: &FetchBudget,
    ) -> Result<Option<PendingLayer>, Error> {
        // Listed but gone (deleted since the listing): nothing to verify.
        let Some(fetched) = self.get_manifest(location, manifest_digest.as_str()).await? else {
            return Ok(None);
        };
        budget.charge(fetched.bytes.len() as u64, || format!("referrer manifest {manifest_digest}"))?;
        let manifest = Manifest::parse_bounded(&fetched.bytes, "referrer manifest", &self.limits)?;
        let [layer] = manifest.layers.as_slice() else {
            return Ok(None);
        };
        if !bundle::is_bundle_media_type(&layer.media_type)
            || manifest.subject.as_ref().map(|s| &s.digest) != Some(subject)
        {
            return Ok(None);
        }
        let annotations = manifest.annotations.unwrap_or_default();
        if !purpose.wants(annotations.get(bundle::PREDICATE_TYPE_ANNOTATION).map(String::as_str)) {
            return Ok(None);
        }
        Ok(Some(PendingLayer { layer: layer.clone(), annotations, referrer: Some(fetched.digest) }))
    }

    /// Whether the registry answers the referrers API for `digest` (an image layout never does).
    /// An answer with more entries than the bound still proves the API is there.
    pub async fn has_referrers_api(&self, location: &Location, digest: &Digest) -> Result<bool, Error> {
        let Location::Registry { registry, repository } = location else {
            return Ok(false);
        };
        match self.remote.get_referrers(registry, repository, digest, self.limits.max_layers).await {
            Ok(super::remote::ReferrersAnswer::Api(_)) | Err(RegistryError::TooMany { .. }) => Ok(true),
            Ok(super::remote::ReferrersAnswer::Unsupported) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Fetches an image's attestations in both formats: the layers of its `.att` tag, then its
    /// Sigstore bundle referrers that are not image signatures. A tag is resolved once. Both
    /// formats together are bounded by `Limits::max_signatures` and `Limits::max_fetched_bytes`.
    pub async fn fetch_attestations(&self, reference: &ImageReference) -> Result<SignedImage, Error> {
        let digest = self.digest_of(reference).await?;
        let budget = FetchBudget::new(&self.limits);
        let image = self.fetch_attached_within(reference, &digest, AttachmentKind::Attestation, &budget).await?;
        self.with_bundles(reference, image, BundlePurpose::Attestations, &budget).await
    }

    /// Appends the bundles of `purpose` to the legacy layers already fetched, within what is left
    /// of `budget`. When reading the referrers fails (a registry that forbids or breaks the
    /// referrers endpoint) and legacy layers were found, those are verified alone, as cosign v3
    /// falls back to them: missing candidates can only make verification fail, never pass.
    /// Without legacy layers the error is reported, and so is a bound exceeded (too many or too
    /// large), always: a bound never silently narrows what is verified.
    pub(crate) async fn with_bundles(
        &self,
        reference: &ImageReference,
        mut image: SignedImage,
        purpose: BundlePurpose,
        budget: &FetchBudget,
    ) -> Result<SignedImage, Error> {
        match self.fetch_bundles_within(&reference.location, &image.digest, purpose, budget).await {
            Ok(bundles) => image.signatures.extend(bundles),
            Err(Error::Registry(e @ (RegistryError::TooLarge { .. } | RegistryError::TooMany { .. }))) => {
                return Err(e.into());
            }
            Err(e) if !image.signatures.is_empty() => {
                tracing::warn!(%reference, error = %e, "cannot read the Sigstore bundle referrers; verifying the legacy tag alone");
            }
            Err(e) => return Err(e),
        }
        Ok(image)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purposes_split_on_the_annotation() {
        let sign = Some(bundle::COSIGN_SIGN_PREDICATE_TYPE);
        let vuln = Some("https://cosign.sigstore.dev/attestation/vuln/v1");
        assert!(BundlePurpose::Signatures.wants(sign) && !BundlePurpose::Signatures.wants(vuln));
        assert!(!BundlePurpose::Attestations.wants(sign) && BundlePurpose::Attestations.wants(vuln));
        assert!(BundlePurpose::Signatures.wants(None) && BundlePurpose::Attestations.wants(None));
    }
}
