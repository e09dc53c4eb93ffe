//! Writing signatures and attestations as Sigstore bundle v0.3 referrers, as cosign v3 does
//! (cosign.md §5.2), instead of appending to the legacy `.sig`/`.att` tags.
//!
//! The bundle blob and the empty config are uploaded, then the referrer manifest is pushed by
//! digest (no tag). A registry with the OCI 1.1 referrers API lists it from then on. On a registry
//! without the API (and in an image layout) the referrers tag schema applies: the OCI index tagged
//! `sha256-<hex>` gets one more descriptor, with a read-modify-write made race-safe the way
//! [`crate::sign`] appends `.sig` layers (write only if the tag did not move since it was read,
//! then confirm after waits longer than the round trip, and add again if a concurrent writer
//! dropped the entry). The index descriptors carry the artifact type and the manifest's
//! annotations (go-containerregistry writes no annotations there, cosign#4641).
//!
//! The legacy tags stay the default everywhere: Harbor recognises only the `.sig` tag as a
//! signature, and marks an image whose signatures are all bundles as unsigned (cosign.md §5.3).

use crate::bundle::{self, Bundle, Subject, VerificationMaterial};
use crate::cosign::{self, Descriptor, Manifest};
use crate::dsse::{self, Envelope};
use crate::error::{Error, RegistryError};
use crate::reference::{Digest, Location};
use crate::registry::{ReferrersSource, RegistryClient};
use crate::sign::SigningMaterial;
use std::time::Instant;

/// Most read-modify-write rounds on the fallback index before giving up.
const MAX_INDEX_ATTEMPTS: u32 = 12;

/// A bundle referrer that was pushed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushedReferrer {
    /// The referrer manifest's digest.
    pub manifest: Digest,
    /// The bundle blob's digest.
    pub bundle: Digest,
    /// How readers find it: the referrers API, or the fallback tag.
    pub listed_by: ReferrersSource,
    /// The fallback tag updated (`sha256-<hex>`), when the registry has no referrers API.
    pub fallback_tag: Option<String>,
}

/// The verification material cosign v3 puts into a bundle for this signing material: the leaf
/// `certificate` alone, an `x509CertificateChain` of the leaf and the chain's intermediates when
/// a chain was given (self-signed certificates are left out: the verifier brings the root), or the
/// public-key hint.
pub fn verification_material(material: &SigningMaterial) -> VerificationMaterial {
    match material.certificate() {
        Some(leaf) => {
            let intermediates: Vec<Vec<u8>> =
                material.chain().iter().filter(|c| !c.issued_by(c)).map(|c| c.der().to_vec()).collect();
            if intermediates.is_empty() {
                VerificationMaterial::Certificate(leaf.der().to_vec())
            } else {
                VerificationMaterial::Chain(std::iter::once(leaf.der().to_vec()).chain(intermediates).collect())
            }
        }
        None => VerificationMaterial::PublicKey { hint: bundle::public_key_hint(material.signer().public_key()) },
    }
}

/// Signs `statement` (an in-toto statement about `subject`) into a DSSE bundle and pushes it as a
/// referrer of `subject`, annotated with `predicate_type`.
pub async fn push_statement_bundle(
    client: &RegistryClient,
    location: &Location,
    subject: &Subject,
    statement: &[u8],
    predicate_type: &str,
    material: &SigningMaterial,
) -> Result<PushedReferrer, Error> {
    let envelope = Envelope::sign(dsse::INTOTO_PAYLOAD_TYPE, statement, material.signer().as_ref())?;
    let blob = Bundle::dsse(envelope, verification_material(material)).to_json();
    push_bundle(client, location, subject, &blob, predicate_type).await
}

/// Pushes a bundle blob as a referrer of `subject` (blobs first, then the manifest by digest),
/// then lists it in the fallback index when the registry has no referrers API.
pub async fn push_bundle(
    client: &RegistryClient,
    location: &Location,
    subject: &Subject,
    blob: &[u8],
    predicate_type: &str,
) -> Result<PushedReferrer, Error> {
    client.put_blob(location, bundle::EMPTY_CONFIG).await?;
    let bundle_digest = client.put_blob(location, blob).await?;
    let manifest = bundle::referrer_manifest(blob, subject, predicate_type, &bundle::created_now());
    let manifest_digest = Digest::sha256(&manifest);
    client.put_manifest(location, manifest_digest.as_str(), &manifest, cosign::OCI_MANIFEST).await?;
    let parsed = Manifest::parse(&manifest, "referrer manifest")?;
    let descriptor = Descriptor {
        media_type: cosign::OCI_MANIFEST.into(),
        size: manifest.len() as u64,
        digest: manifest_digest.clone(),
        annotations: parsed.annotations,
        platform: None,
        artifact_type: Some(bundle::BUNDLE_MEDIA_TYPE.into()),
    };
    // As go-containerregistry decides: the API is there iff it answers with an index.
    if client.has_referrers_api(location, &subject.digest).await? {
        return Ok(PushedReferrer {
            manifest: manifest_digest,
            bundle: bundle_digest,
            listed_by: ReferrersSource::Api,
            fallback_tag: None,
        });
    }
    let tag = add_to_fallback_index(client, location, &subject.digest, &descriptor).await?;
    Ok(PushedReferrer {
        manifest: manifest_digest,
        bundle: bundle_digest,
        listed_by: ReferrersSource::FallbackTag,
        fallback_tag: Some(tag),
    })
}

/// The OCI index bytes of a referrers fallback tag (ggcr's field order).
fn index_bytes(manifests: &[Descriptor]) -> Result<Vec<u8>, Error> {
    #[derive(serde::Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Index<'a> {
        schema_version: u32,
        media_type: &'a str,
        manifests: &'a [Descriptor],
    }
    serde_json::to_vec(&Index { schema_version: 2, media_type: cosign::OCI_INDEX, manifests })
        .map_err(|e| RegistryError::InvalidResponse { what: "referrers index".into(), reason: e.to_string() }.into())
}

/// The fallback index of `subject` (its digest and entries); an error when the tag holds
/// something other than an index.
async fn read_fallback_index(
    client: &RegistryClient,
    location: &Location,
    tag: &str,
) -> Result<(Option<Digest>, Vec<Descriptor>), Error> {
    let Some(fetched) = client.get_manifest(location, tag).await? else {
        return Ok((None, Vec::new()));
    };
    if !cosign::is_index(&fetched.media_type) {
        return Err(RegistryError::InvalidResponse {
            what: format!("referrers tag {tag}"),
            reason: format!("it holds a {}, not an OCI index", fetched.media_type),
        }
        .into());
    }
    let index = Manifest::parse(&fetched.bytes, &format!("referrers index {tag}"))?;
    if index.manifests.len() >= client.limits().max_layers {
        return Err(RegistryError::TooMany {
            what: format!("referrers index {tag}"),
            count: index.manifests.len() + 1,
            limit: client.limits().max_layers,
        }
        .into());
    }
    Ok((Some(fetched.digest), index.manifests))
}

/// Adds `entry` to the referrers index tagged `sha256-<hex>` of `subject`, race-safely; returns the
/// tag.
async fn add_to_fallback_index(
    client: &RegistryClient,
    location: &Location,
    subject: &Digest,
    entry: &Descriptor,
) -> Result<String, Error> {
    let tag = subject.attachment_tag("");
    let listed = |entries: &[Descriptor]| entries.iter().any(|d| d.digest == entry.digest);
    for attempt in 1..=MAX_INDEX_ATTEMPTS {
        let started = Instant::now();
        let (read_digest, mut entries) = read_fallback_index(client, location, &tag).await?;
        if listed(&entries) {
            return Ok(tag);
        }
        entries.push(entry.clone());
        let index = index_bytes(&entries)?;
        if client.head_manifest(location, &tag).await?.map(|m| m.digest) != read_digest {
            tracing::debug!(%tag, attempt, "the referrers index changed while we prepared ours; adding again");
            tokio::time::sleep(crate::sign::jitter(started.elapsed())).await;
            continue;
        }
        match client.put_manifest(location, &tag, &index, cosign::OCI_INDEX).await {
            Ok(_) => {}
            Err(Error::Registry(e)) if crate::sign::is_write_conflict(&e) && attempt < MAX_INDEX_ATTEMPTS => {
                tokio::time::sleep(crate::sign::settle_delay(started.elapsed())).await;
                continue;
            }
            Err(e) => return Err(e),
        }
        let round_trip = started.elapsed();
        let mut confirmed = true;
        for wait in 1..=2 {
            tokio::time::sleep(crate::sign::settle_delay(round_trip) * wait).await;
            if !listed(&read_fallback_index(client, location, &tag).await?.1) {
                confirmed = false;
                break;
            }
        }
        if confirmed {
            return Ok(tag);
        }
        tracing::debug!(%tag, attempt, "a concurrent writer replaced the referrers index; adding again");
        tokio::time::sleep(crate::sign::jitter(round_trip * attempt.min(4))).await;
    }
    Err(RegistryError::ConcurrentUpdate { tag, attempts: MAX_INDEX_ATTEMPTS }.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fallback_index_is_ggcr_shaped() {
        let d = Descriptor {
            media_type: cosign::OCI_MANIFEST.into(),
            size: 3,
            digest: Digest::sha256(b"m"),
            annotations: None,
            platform: None,
            artifact_type: Some(bundle::BUNDLE_MEDIA_TYPE.into()),
        };
        let bytes = String::from_utf8(index_bytes(std::slice::from_ref(&d)).unwrap()).unwrap();
        assert_eq!(
            bytes,
            format!(
                r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","size":3,"digest":"{}","artifactType":"application/vnd.dev.sigstore.bundle.v0.3+json"}}]}}"#,
                d.digest
            )
        );
    }
}
