//! `download signature|attestation|sbom`: an image's attachments in cosign's output shapes
//! (cosign.md §7). Nothing here is verified; it is what the registry holds, bounded by
//! [`Limits`](crate::Limits) like verification.
//!
//! * Signatures: one JSON object per line, `{"Base64Signature", "Payload" (base64), "Cert",
//!   "Chain", "Bundle", "RFC3161Timestamp"}`. cosign dumps Go's `x509.Certificate` struct for
//!   `Cert` and `Chain`; ironsign writes the part of that struct consumers read, `{"Raw": <base64
//!   DER>}`, and `null` when absent.
//! * Attestations: the envelopes, one per line, as cosign v2 writes them; optionally only those
//!   whose (unverified) statement claims a predicate type.
//! * SBOM: the raw document, streamed to a file, and its media type.

use crate::attach::predicate_type_of;
use crate::cosign::{self, AttachmentKind, SignedImage};
use crate::dsse::Envelope;
use crate::error::{Error, RegistryError, VerificationError};
use crate::pki::Certificate;
use crate::reference::{Digest, ImageReference};
use crate::registry::RegistryClient;
use base64::Engine as _;
use serde::Serialize;
use serde_json::{Value, json};
use std::path::Path;

/// The part of Go's `x509.Certificate` JSON that consumers read.
fn certificate_json(c: &Certificate) -> Value {
    json!({"Raw": base64::engine::general_purpose::STANDARD.encode(c.der())})
}

/// The lines `cosign download signature` prints for these signature layers: Sigstore bundle
/// referrers first (the bundle JSON, compact), then the `.sig` layers.
pub fn signature_lines(image: &SignedImage, max_chain: usize) -> Vec<String> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let bundles = image.signatures.iter().filter(|l| l.referrer.is_some()).map(|layer| {
        serde_json::from_slice::<Value>(&layer.payload)
            .map(|v| v.to_string())
            .unwrap_or_else(|_| String::from_utf8_lossy(&layer.payload).into_owned())
    });
    let legacy = image.signatures.iter().filter(|l| l.referrer.is_none()).map(|layer| {
        let cert = layer
            .certificate_pem()
            .and_then(|p| Certificate::from_pem_or_der(p.as_bytes(), "certificate annotation").ok())
            .map(|c| certificate_json(&c))
            .unwrap_or(Value::Null);
        let chain = layer
            .chain_pem()
            .and_then(|p| Certificate::from_pem_many(p.as_bytes(), "chain annotation", max_chain).ok())
            .map(|certs| Value::Array(certs.iter().map(certificate_json).collect()))
            .unwrap_or(Value::Null);
        let bundle = layer
            .annotations
            .get(cosign::BUNDLE_ANNOTATION)
            .and_then(|b| serde_json::from_str::<Value>(b).ok())
            .unwrap_or(Value::Null);
        let timestamp = layer
            .annotations
            .get(cosign::RFC3161_ANNOTATION)
            .and_then(|b| serde_json::from_str::<Value>(b).ok())
            .unwrap_or(Value::Null);
        // Key order is the Go struct's; serde_json keeps insertion order only with
        // preserve_order, so write it by hand.
        let mut out = String::from("{\"Base64Signature\":");
        cosign::go_json_string(&mut out, layer.signature_b64().unwrap_or(""));
        out.push_str(",\"Payload\":");
        cosign::go_json_string(&mut out, &b64.encode(&layer.payload));
        for (key, value) in [("Cert", &cert), ("Chain", &chain), ("Bundle", &bundle), ("RFC3161Timestamp", &timestamp)]
        {
            out.push_str(&format!(",\"{key}\":"));
            cosign::go_json_value(&mut out, value);
        }
        out.push('}');
        out
    });
    bundles.chain(legacy).collect()
}

/// The lines `cosign download attestation [--predicate-type T]` prints: each envelope, re-encoded
/// as cosign v2 writes it. Layers that are not envelopes are skipped.
pub fn attestation_lines(image: &SignedImage, predicate_type: Option<&str>) -> Vec<String> {
    image
        .signatures
        .iter()
        .filter(|layer| predicate_type.is_none_or(|t| predicate_type_of(&layer.payload).as_deref() == Some(t)))
        .filter_map(|layer| Envelope::parse(&layer.payload).ok())
        .map(|e| String::from_utf8_lossy(&e.to_json()).into_owned())
        .collect()
}

/// An SBOM written by [`download_sbom`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SbomDownload {
    /// The image digest.
    pub digest: Digest,
    /// The layer media type.
    pub media_type: String,
    /// The SBOM blob digest (checked).
    pub layer_digest: Digest,
    /// Its size.
    pub size: u64,
}

/// Downloads the image's SBOM (the single layer of its `.sbom` manifest) into `destination`,
/// streamed and checked against its digest before it is renamed into place.
pub async fn download_sbom(
    client: &RegistryClient,
    reference: &ImageReference,
    destination: &Path,
) -> Result<SbomDownload, Error> {
    let digest = client.digest_of(reference).await?;
    let Some((_, manifest)) =
        client.get_attachment_manifest(&reference.location, &digest, AttachmentKind::Sbom).await?
    else {
        return Err(VerificationError::NoSignatures {
            image: format!("{}@{digest}", reference.repository_name()),
            kind: "SBOMs".into(),
        }
        .into());
    };
    let tag = digest.attachment_tag(AttachmentKind::Sbom.suffix());
    let [layer] = manifest.layers.as_slice() else {
        return Err(RegistryError::InvalidResponse {
            what: format!("{tag} manifest"),
            reason: format!("it has {} layers; an SBOM manifest has exactly one", manifest.layers.len()),
        }
        .into());
    };
    let limit = client.limits().max_sbom_size;
    if layer.size > limit {
        return Err(RegistryError::TooLarge { what: format!("SBOM {}", layer.digest), size: layer.size, limit }.into());
    }
    let size = client.get_blob_to_file(&reference.location, &layer.digest, layer.size, destination).await?;
    Ok(SbomDownload { digest, media_type: layer.media_type.clone(), layer_digest: layer.digest.clone(), size })
}
