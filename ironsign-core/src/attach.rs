//! Attaching attestations and SBOMs to an image, stored exactly as cosign stores them.
//!
//! * An attestation is a DSSE envelope over an in-toto statement, appended as one layer of the
//!   image's `sha256-<hex>.att` manifest (cosign.md §2): media type
//!   `application/vnd.dsse.envelope.v1+json`, layer annotation `predicateType`, an empty
//!   `dev.cosignproject.cosign/signature`, and the certificate and chain annotations. Appending
//!   is race-safe like signing (see [`crate::sign`]); `replace` drops the attestations of the
//!   same predicate type in the same write, as cosign's `--replace` (ReplaceOp) does.
//! * An SBOM is the single layer of the `sha256-<hex>.sbom` manifest, with cosign's media type
//!   for its format (cosign.md §3). Like cosign, attaching overwrites any previous SBOM. The file
//!   is streamed to the registry, never held in memory.

use crate::cosign::{self, AttachmentKind, LayerSpec};
use crate::dsse::{self, Envelope};
use crate::error::Error;
use crate::intoto::{Statement, StatementVersion};
use crate::reference::{Digest, ImageReference};
use crate::registry::RegistryClient;
use crate::sbom::SbomFormat;
use crate::sign::{SigningMaterial, append_layer};
use serde::Serialize;
use std::path::Path;

/// Options of [`attest_image`].
#[derive(Debug, Clone, Default)]
pub struct AttestOptions {
    /// Replace the image's attestations of the same predicate type.
    pub replace: bool,
    /// The statement layout to write (cosign writes v0.1).
    pub statement_version: StatementVersion,
    /// How to store the attestation: the legacy `.att` tag (the default) or a Sigstore bundle
    /// referrer as cosign v3 writes (see [`crate::referrers`]; `replace` does not apply to it).
    pub format: cosign::SignatureFormat,
}

/// What [`attest_image`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AttestReport {
    /// The reference as given.
    pub reference: String,
    /// The attested image digest.
    pub digest: Digest,
    /// The attachment tag written: `sha256-<hex>.att`, or for a bundle the referrers fallback tag
    /// `sha256-<hex>` (empty when the registry's referrers API lists it).
    pub tag: String,
    /// The envelope layer digest (for a bundle: the bundle blob's digest).
    pub layer_digest: Digest,
    /// How it was stored.
    pub format: cosign::SignatureFormat,
    /// The referrer manifest digest, for a bundle.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub referrer: Option<Digest>,
    /// The predicate type.
    pub predicate_type: String,
    /// Warnings about the signing material.
    pub warnings: Vec<String>,
}

/// The statement [`attest_image`] signs for `digest` (useful to inspect or to sign elsewhere).
pub fn statement_for(
    reference: &ImageReference,
    digest: &Digest,
    predicate_type: &str,
    predicate: serde_json::Value,
    version: StatementVersion,
) -> Statement {
    Statement::for_image(version, &reference.repository_name(), digest, predicate_type, predicate)
}

/// Attests an image: resolves the reference to a digest once, signs an in-toto statement binding
/// `predicate` to that digest, and appends the envelope to the image's `.att` manifest.
pub async fn attest_image(
    client: &RegistryClient,
    reference: &ImageReference,
    material: &SigningMaterial,
    predicate_type: &str,
    predicate: serde_json::Value,
    options: &AttestOptions,
) -> Result<AttestReport, Error> {
    let resolved = client.resolve(reference).await?;
    let digest = resolved.digest.clone();
    let statement = statement_for(reference, &digest, predicate_type, predicate, options.statement_version);
    if options.format == cosign::SignatureFormat::SigstoreBundle {
        let subject = crate::bundle::Subject { media_type: resolved.media_type, size: resolved.size, digest };
        let pushed = crate::referrers::push_statement_bundle(
            client,
            &reference.location,
            &subject,
            &statement.to_json(),
            predicate_type,
            material,
        )
        .await?;
        return Ok(AttestReport {
            reference: reference.to_string(),
            digest: subject.digest,
            tag: pushed.fallback_tag.unwrap_or_default(),
            layer_digest: pushed.bundle,
            predicate_type: predicate_type.to_owned(),
            warnings: material.warnings(),
            format: cosign::SignatureFormat::SigstoreBundle,
            referrer: Some(pushed.manifest),
        });
    }
    let envelope = Envelope::sign(dsse::INTOTO_PAYLOAD_TYPE, &statement.to_json(), material.signer().as_ref())?;
    let blob = envelope.to_json();
    // cosign writes the signature key empty on attestations: the signature is in the envelope.
    let mut annotations = material.annotations(String::new());
    annotations.insert(cosign::PREDICATE_TYPE_ANNOTATION.to_owned(), predicate_type.to_owned());
    // cosign timestamps the whole envelope of an attestation (cosign.md §6.2 step 3).
    material.add_timestamp(&mut annotations, &blob).await?;
    let layer = LayerSpec {
        media_type: cosign::DSSE_MEDIA_TYPE.into(),
        digest: Digest::sha256(&blob),
        size: blob.len() as u64,
        annotations,
    };
    // Envelopes carry a fresh signature each time, so only the identical blob is a duplicate.
    let duplicate = |existing: &LayerSpec, new: &LayerSpec, _: &[u8]| {
        existing.digest == new.digest && existing.annotations == new.annotations
    };
    let same_type = |_: &LayerSpec, existing: &[u8]| predicate_type_of(existing).as_deref() == Some(predicate_type);
    let replace: Option<&crate::sign::ReplaceCheck<'_>> = if options.replace { Some(&same_type) } else { None };
    append_layer(client, &reference.location, &digest, AttachmentKind::Attestation, &layer, &blob, &duplicate, replace)
        .await?;
    Ok(AttestReport {
        reference: reference.to_string(),
        tag: digest.attachment_tag(AttachmentKind::Attestation.suffix()),
        digest,
        layer_digest: layer.digest,
        predicate_type: predicate_type.to_owned(),
        warnings: material.warnings(),
        format: cosign::SignatureFormat::LegacyTag,
        referrer: None,
    })
}

/// The predicate type an envelope's statement claims (unverified: for filtering and replacing).
pub fn predicate_type_of(envelope: &[u8]) -> Option<String> {
    let envelope = Envelope::parse(envelope).ok()?;
    let payload = envelope.payload_bytes().ok()?;
    #[derive(serde::Deserialize)]
    struct Head {
        #[serde(rename = "predicateType")]
        predicate_type: String,
    }
    serde_json::from_slice::<Head>(&payload).ok().map(|h| h.predicate_type)
}

/// What [`attach_sbom`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AttachReport {
    /// The reference as given.
    pub reference: String,
    /// The image digest.
    pub digest: Digest,
    /// The attachment tag written.
    pub tag: String,
    /// The SBOM blob digest.
    pub layer_digest: Digest,
    /// Its size in bytes.
    pub size: u64,
    /// Its media type.
    pub media_type: String,
}

/// Attaches an SBOM file in `format` (see [`crate::sbom::detect_file`]) to the image's `.sbom`
/// tag, replacing any previous one. The file is streamed, never held in memory.
pub async fn attach_sbom(
    client: &RegistryClient,
    reference: &ImageReference,
    sbom: &Path,
    format: SbomFormat,
) -> Result<AttachReport, Error> {
    let digest = client.resolve(reference).await?.digest;
    let (layer_digest, size) = client.put_blob_file(&reference.location, sbom).await?;
    let layer = LayerSpec {
        media_type: format.media_type().into(),
        digest: layer_digest.clone(),
        size,
        annotations: Default::default(),
    };
    let layers = [layer];
    let config = cosign::signature_config(&layers);
    client.put_blob(&reference.location, &config).await?;
    let manifest = cosign::signature_manifest(&config, &layers);
    let tag = digest.attachment_tag(AttachmentKind::Sbom.suffix());
    client.put_manifest(&reference.location, &tag, &manifest, cosign::OCI_MANIFEST).await?;
    Ok(AttachReport {
        reference: reference.to_string(),
        digest,
        tag,
        layer_digest,
        size,
        media_type: format.media_type().into(),
    })
}
