//! Fetching and verifying together, one image or many, with the requests a verdict needs.
//!
//! A registry answers in milliseconds where a signature verifies in microseconds, so what a
//! verification costs is its requests. [`verify_image`] reads the legacy `.sig` tag first and,
//! when one of its signatures satisfies the policy, stops there ([`SignatureScope::Sufficient`]):
//! an image signed the cosign v2 way costs the tag's resolution (none for a digest), its `.sig`
//! manifest and its payload blob. Only when no `.sig` signature passes are the Sigstore bundle
//! referrers read too, and then every signature in both formats is verified together, so the
//! verdict and the error are exactly those of [`RegistryClient::fetch_signatures`] followed by
//! [`Verifier::verify`]: reading less can only skip signatures that were not needed for a pass.
//! [`SignatureScope::All`] reads and verifies everything, for reports that list every signature.
//!
//! [`verify_many`] verifies a batch with one client (one connection pool, one token cache, the
//! scheme and referrers API of each registry learned once) and one [`Verifier`], whose cache of
//! validated certificate paths spares rebuilding the path of a signer seen before.
//!
//! Under [`SignatureScope::Sufficient`], the verifier also keeps the passes proven by a `.sig`
//! manifest, keyed by content (see `verify::results`): verifying an unchanged image again costs the
//! tag's resolution and the `.sig` manifest, whose digest proves that nothing was appended, and
//! neither its payloads nor any signature verification.

use crate::cosign::{AttachmentKind, SignedImage};
use crate::error::Error;
use crate::reference::{Digest, ImageReference};
use crate::registry::{BundlePurpose, FetchBudget, RegistryClient};
use crate::verify::attestation::AttestationResult;
use crate::verify::rego::RegoPolicy;
use crate::verify::{ContentKey, Policy, VerificationResult, Verifier};
use std::time::SystemTime;

/// Which signatures a verification reads and verifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SignatureScope {
    /// The legacy tag first; the Sigstore bundle referrers only when none of its signatures
    /// satisfies the policy. The result then lists the `.sig` signatures only.
    #[default]
    Sufficient,
    /// Every signature in both formats, each verified and listed in the result.
    All,
}

/// An image's signatures as read, and what their verification proved.
#[derive(Debug, Clone)]
pub struct VerifiedImage {
    /// What was read (the result's signature indices point into its `signatures`).
    pub signed: SignedImage,
    /// What was proven.
    pub result: VerificationResult,
}

/// How a batch runs.
#[derive(Debug, Clone, Copy)]
pub struct BatchOptions {
    /// Most images verified at once (at least 1).
    pub max_concurrency: usize,
    /// Which signatures each verification reads.
    pub scope: SignatureScope,
}

impl Default for BatchOptions {
    fn default() -> Self {
        BatchOptions { max_concurrency: 16, scope: SignatureScope::default() }
    }
}

/// Fetches the signatures of `reference` and verifies them at the current time, reading what
/// `scope` asks (see the module documentation).
pub async fn verify_image(
    client: &RegistryClient,
    verifier: &Verifier,
    reference: &ImageReference,
    policy: &Policy,
    scope: SignatureScope,
) -> Result<VerifiedImage, Error> {
    verify_image_at(client, verifier, reference, policy, scope, SystemTime::now()).await
}

/// [`verify_image`], checking certificates at `at`.
pub async fn verify_image_at(
    client: &RegistryClient,
    verifier: &Verifier,
    reference: &ImageReference,
    policy: &Policy,
    scope: SignatureScope,
    at: SystemTime,
) -> Result<VerifiedImage, Error> {
    let repository = reference.repository_name();
    let content_key = |image: &Digest, manifest: &Digest| ContentKey::new(policy, &repository, image, manifest);
    let cache = ResultCaching {
        lookup: |image: &Digest, manifest: &Digest| verifier.cached_result(&content_key(image, manifest), at),
        keep: |manifest: &Digest, signed: &SignedImage, result: &VerificationResult| {
            verifier.cache_result(content_key(&signed.digest, manifest), signed, result, policy, at)
        },
    };
    let (signed, result) = fetch_and_verify(
        client,
        reference,
        AttachmentKind::Signature,
        BundlePurpose::Signatures,
        scope,
        |image| verifier.verify_at(image, policy, at),
        Some(cache),
    )
    .await?;
    Ok(VerifiedImage { signed, result })
}

/// Fetches the attestations of `reference` and verifies those of `predicate_type` at the current
/// time, reading what `scope` asks. With Rego policies every verified statement must satisfy
/// them, so every attestation is read whatever the scope.
pub async fn verify_attestations_image(
    client: &RegistryClient,
    verifier: &Verifier,
    reference: &ImageReference,
    policy: &Policy,
    predicate_type: &str,
    rego: &[RegoPolicy],
    scope: SignatureScope,
) -> Result<AttestationResult, Error> {
    let scope = if rego.is_empty() { scope } else { SignatureScope::All };
    let at = SystemTime::now();
    let (_, result) = fetch_and_verify(
        client,
        reference,
        AttachmentKind::Attestation,
        BundlePurpose::Attestations,
        scope,
        |image| verifier.verify_attestations_at(image, policy, predicate_type, rego, at),
        NO_CACHING,
    )
    .await?;
    Ok(result)
}

/// Verifies `references` with at most `options.max_concurrency` at once, one result per
/// reference in their order: a failure is that image's, and never stops the others.
pub async fn verify_many(
    client: &RegistryClient,
    verifier: &Verifier,
    references: &[ImageReference],
    policy: &Policy,
    options: &BatchOptions,
) -> Vec<Result<VerifiedImage, Error>> {
    use futures_util::{FutureExt as _, StreamExt as _};
    let at = SystemTime::now();
    // Boxed before they are streamed: a stream over a mapping closure is not provably `Send`
    // (higher-ranked lifetimes), and the bindings run the batch on a multi-threaded runtime.
    let verifications: Vec<_> = references
        .iter()
        .map(|reference| verify_image_at(client, verifier, reference, policy, options.scope, at).boxed())
        .collect();
    futures_util::stream::iter(verifications).buffered(options.max_concurrency.max(1)).collect().await
}

/// How [`fetch_and_verify`] reuses verdicts: `lookup` (image digest, legacy manifest digest) gives
/// the one held for that content, `keep` is given a pass the legacy manifest alone proved.
struct ResultCaching<L, K> {
    lookup: L,
    keep: K,
}

type NoCaching<T> = ResultCaching<fn(&Digest, &Digest) -> Option<(SignedImage, T)>, fn(&Digest, &SignedImage, &T)>;

/// Attestations are verified in full every time.
const NO_CACHING: Option<NoCaching<AttestationResult>> = None;

/// Reads the legacy attachment of `kind`, verifies it with `verify` and, unless that passed under
/// [`SignatureScope::Sufficient`], reads the bundles of `purpose` and verifies everything together
/// (one budget bounds both reads, as in [`RegistryClient::fetch_signatures`]). With `cache`, under
/// [`SignatureScope::Sufficient`], a verdict held for the same image and legacy manifest is
/// returned before any blob is read or any signature verified, and a pass on the legacy manifest
/// is kept.
async fn fetch_and_verify<T>(
    client: &RegistryClient,
    reference: &ImageReference,
    kind: AttachmentKind,
    purpose: BundlePurpose,
    scope: SignatureScope,
    verify: impl Fn(&SignedImage) -> Result<T, Error>,
    cache: Option<
        ResultCaching<impl Fn(&Digest, &Digest) -> Option<(SignedImage, T)>, impl Fn(&Digest, &SignedImage, &T)>,
    >,
) -> Result<(SignedImage, T), Error> {
    let digest = client.digest_of(reference).await?;
    let budget = FetchBudget::new(client.limits());
    let manifest = client.read_attached_manifest(reference, &digest, kind, &budget).await?;
    let cache = cache.filter(|_| scope == SignatureScope::Sufficient);
    let manifest_digest = manifest.digest.clone();
    if let (Some(cache), Some(manifest_digest)) = (&cache, &manifest_digest)
        && let Some(held) = (cache.lookup)(&digest, manifest_digest)
    {
        return Ok(held);
    }
    let legacy = client.read_attached_blobs(&reference.location, manifest, &budget).await?;
    if scope == SignatureScope::Sufficient
        && !legacy.signatures.is_empty()
        && let Ok(result) = verify(&legacy)
    {
        if let (Some(cache), Some(manifest_digest)) = (&cache, &manifest_digest) {
            (cache.keep)(manifest_digest, &legacy, &result);
        }
        return Ok((legacy, result));
    }
    let all = client.with_bundles(reference, legacy, purpose, &budget).await?;
    let result = verify(&all)?;
    Ok((all, result))
}
