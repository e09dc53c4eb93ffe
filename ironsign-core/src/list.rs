//! Listing what is attached to an image: legacy `.sig`, `.att` and `.sbom` tags and OCI 1.1
//! referrers (the registry's referrers API, else the `sha256-<hex>` fallback index), with the
//! signer of each signature and, when trust material and a policy are given, each signature's
//! verification status. A multi-platform image lists its index's own attachments and one subtree
//! per platform manifest.
//!
//! [`list_artifacts`] does the I/O, bounded by the client's [`Limits`](crate::Limits); the
//! verification it reports is the pure [`Verifier`]'s. The result, an [`ArtifactTree`], is plain
//! serialisable data; its JSON schema is `docs/artifact-tree.schema.json`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), ironsign::Error> {
//! use ironsign::{Identity, ImageReference, ListOptions, Policy, RegistryClient, RegistryOptions, TrustRoot, Verifier};
//!
//! let client = RegistryClient::new(RegistryOptions::default())?;
//! let image = ImageReference::parse("registry.example/team/app:1.0")?;
//! let verifier = Verifier::new(TrustRoot::from_pem(&std::fs::read("root.pem").unwrap(), None)?);
//! let policy = Policy::identity(Identity::san("signer@example.com"));
//! let options = ListOptions { verification: Some((&verifier, &policy)), ..ListOptions::default() };
//! let tree = ironsign::list_artifacts(&client, &image, &options).await?;
//! println!("{}", serde_json::to_string_pretty(&tree).unwrap());
//! # Ok(()) }
//! ```

use crate::cosign::{self, AttachmentKind, Descriptor, Manifest, Platform, SignatureLayer, SignedImage};
use crate::error::{Error, RegistryError, VerificationError};
use crate::pki::Certificate;
use crate::reference::{Digest, ImageReference, Location};
use crate::registry::{ReferrersSource, RegistryClient, join_bounded};
use crate::verify::{Policy, Verifier};
use base64::Engine as _;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::SystemTime;

/// Media type of a serialised [`ArtifactTree`].
pub const TREE_MEDIA_TYPE: &str = "application/vnd.ironsign.artifact-tree+json;version=0.1";

/// Annotation of a Sigstore bundle referrer naming its predicate type (cosign.md §5.2).
pub const BUNDLE_PREDICATE_TYPE_ANNOTATION: &str = "dev.sigstore.bundle.predicateType";
/// Layer annotation of a legacy `.att` layer naming its predicate type (cosign.md §2).
pub const PREDICATE_TYPE_ANNOTATION: &str = "predicateType";

/// How many blobs are fetched at once for one attachment manifest.
const BLOB_WORKERS: usize = 8;
/// How deep nested indexes are followed.
const MAX_INDEX_DEPTH: usize = 2;

/// Options of [`list_artifacts`].
#[derive(Debug, Clone, Copy)]
pub struct ListOptions<'a> {
    /// Verify every signature with this verifier and policy and report each one's status.
    pub verification: Option<(&'a Verifier, &'a Policy)>,
    /// The time certificates are checked at (now when `None`).
    pub at: Option<SystemTime>,
    /// List the platform manifests of an index too (on by default).
    pub platforms: bool,
    /// Most referrers read per manifest.
    pub max_referrers: usize,
}

impl Default for ListOptions<'_> {
    fn default() -> Self {
        ListOptions { verification: None, at: None, platforms: true, max_referrers: 1000 }
    }
}

/// Everything attached to one manifest (an image, an index, or a platform manifest of an index).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ArtifactTree {
    /// [`TREE_MEDIA_TYPE`] on the root; absent on platform subtrees.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub media_type: Option<&'static str>,
    /// The reference as given (root) or `repository@digest` (platforms).
    pub reference: String,
    /// The repository (`registry/name`, or `oci:DIR`).
    pub repository: String,
    /// The manifest digest the attachments belong to.
    pub digest: Digest,
    /// Its media type.
    pub manifest_media_type: String,
    /// Its size in bytes.
    pub size: u64,
    /// The platform, for a manifest listed by an index.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    /// The `.sig` tag and its signature layers; `None` when there is no such tag.
    pub signatures: Option<AttachmentGroup<SignatureEntry>>,
    /// The `.att` tag and its attestation layers.
    pub attestations: Option<AttachmentGroup<AttestationEntry>>,
    /// The `.sbom` tag and its layers.
    pub sboms: Option<AttachmentGroup<SbomEntry>>,
    /// OCI 1.1 referrers (Sigstore bundles, cosign referrer signatures, others).
    pub referrers: ReferrerGroup,
    /// Counts of the signature statuses, when verification was asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verification: Option<VerificationSummary>,
    /// One subtree per manifest of an index.
    pub platforms: Vec<ArtifactTree>,
}

/// An attachment tag (`sha256-<hex>.sig|att|sbom`) and its layers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AttachmentGroup<T> {
    /// The full tag reference, `repository:sha256-<hex>.<suffix>`.
    pub tag: String,
    /// The digest of the attachment manifest.
    pub manifest_digest: Digest,
    /// Its size.
    pub manifest_size: u64,
    /// Its layers, in order.
    pub entries: Vec<T>,
}

/// Who a signature or attestation says signed it: the certificate in its annotation (unverified
/// unless the entry's status says so).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SignerInfo {
    /// Subject DN (RFC 4514).
    pub subject: String,
    /// Issuer DN (RFC 4514).
    pub issuer: String,
    /// Every SAN: emails, URIs, DNS names.
    pub sans: Vec<String>,
    /// Serial number, hex.
    pub serial: String,
    /// notBefore, RFC 3339.
    pub not_before: String,
    /// notAfter, RFC 3339.
    pub not_after: String,
    /// Hex SHA-256 of the certificate DER.
    pub sha256_fingerprint: String,
    /// How many certificates the chain annotation holds.
    pub chain_length: usize,
}

/// A signature's verification status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum EntryStatus {
    /// No trust material was given (or the entry is not a signature the verifier checks).
    NotChecked,
    /// It passed every check.
    Verified {
        /// The identity that matched the policy, when one was required.
        #[serde(skip_serializing_if = "Option::is_none")]
        matched_identity: Option<String>,
    },
    /// It failed a check.
    Rejected {
        /// The stable rejection code (`CERT_UNTRUSTED_CHAIN`, `IDENTITY_MISMATCH`, …).
        code: String,
        /// What was wrong.
        message: String,
    },
}

/// One layer of the `.sig` manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SignatureEntry {
    /// Position among the layers.
    pub index: usize,
    /// The layer (payload) digest.
    pub digest: Digest,
    /// The layer media type.
    pub media_type: String,
    /// The payload size.
    pub size: u64,
    /// True when the layer carries no certificate (a key-only signature).
    pub key_only: bool,
    /// The certificate annotation, summarised.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signer: Option<SignerInfo>,
    /// Why the certificate annotation could not be read, if it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate_error: Option<String>,
    /// The verification status.
    pub status: EntryStatus,
}

/// One layer of the `.att` manifest: a DSSE envelope holding an in-toto statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AttestationEntry {
    /// Position among the layers.
    pub index: usize,
    /// The envelope (layer) digest.
    pub digest: Digest,
    /// The layer media type.
    pub media_type: String,
    /// The envelope size.
    pub size: u64,
    /// The predicate type: from the decoded statement, else from the `predicateType` annotation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub predicate_type: Option<String>,
    /// Where `predicate_type` came from: `statement` or `annotation`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub predicate_type_source: Option<&'static str>,
    /// The statement's `_type`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub statement_type: Option<String>,
    /// True when the layer carries no certificate.
    pub key_only: bool,
    /// The certificate annotation, summarised.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signer: Option<SignerInfo>,
    /// Why the certificate annotation could not be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate_error: Option<String>,
    /// Why the envelope or statement could not be decoded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decode_error: Option<String>,
}

/// One layer of the `.sbom` manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SbomEntry {
    /// The layer digest.
    pub digest: Digest,
    /// The SBOM media type (`text/spdx+json`, `application/vnd.cyclonedx+json`, …).
    pub media_type: String,
    /// Its size.
    pub size: u64,
}

/// The referrers of a manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReferrerGroup {
    /// Where they were found.
    pub source: ReferrersSource,
    /// The fallback tag reference, when they came from it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fallback_tag: Option<String>,
    /// The fallback index digest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fallback_index_digest: Option<Digest>,
    /// The referrer manifests.
    pub entries: Vec<ReferrerEntry>,
}

/// What a referrer manifest is, from its artifact type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReferrerKind {
    /// A Sigstore bundle (`application/vnd.dev.sigstore.bundle…`), cosign v3's default output.
    SigstoreBundle,
    /// cosign's simple-signing referrer (`application/vnd.dev.cosign.artifact.sig.v1+json`).
    CosignSignature,
    /// cosign's SBOM referrer (`application/vnd.dev.cosign.artifact.sbom.v1+json`).
    CosignSbom,
    /// An in-toto attestation referrer (`application/vnd.in-toto+json`).
    Attestation,
    /// Anything else (Notation signatures, SBOMs of other tools, …).
    Other,
}

/// One referrer manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReferrerEntry {
    /// The referrer manifest digest.
    pub digest: Digest,
    /// Its media type.
    pub media_type: String,
    /// Its size.
    pub size: u64,
    /// Its artifact type: the manifest's, else cosign's `config.artifactType`, else the
    /// descriptor's, else the config media type (the empty config's type never counts).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// What it is.
    pub kind: ReferrerKind,
    /// `dev.sigstore.bundle.predicateType`, when present.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub predicate_type: Option<String>,
    /// The manifest's annotations (the descriptor's when the manifest could not be read).
    pub annotations: BTreeMap<String, String>,
    /// Its layers' media types.
    pub layer_media_types: Vec<String>,
    /// For a Sigstore bundle with one layer: what its blob says (signer, predicate type).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bundle: Option<BundleInfo>,
    /// Why the manifest could not be read, if it could not (listed but gone, too large, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// For a bundle that is an image signature (not annotated as another predicate type), its
    /// verification status when trust material was given, as for `.sig` layers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<EntryStatus>,
}

/// What a Sigstore bundle referrer's blob says about itself (unverified).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BundleInfo {
    /// The bundle's own `mediaType`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// `dsse_envelope`, `message_signature` or `unknown`.
    pub content: &'static str,
    /// The leaf certificate of its verification material.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signer: Option<SignerInfo>,
    /// The public key hint, for key-based bundles.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_key_hint: Option<String>,
    /// Why the certificate could not be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate_error: Option<String>,
    /// The predicate type of the DSSE envelope's statement.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub predicate_type: Option<String>,
    /// Why the bundle or its envelope could not be decoded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decode_error: Option<String>,
}

/// Signature statuses of one manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct VerificationSummary {
    /// Signatures that passed every check.
    pub verified: usize,
    /// Signatures that failed a check.
    pub rejected: usize,
}

impl ArtifactTree {
    /// Whether nothing at all is attached (here and on every platform).
    pub fn is_empty(&self) -> bool {
        self.signatures.is_none()
            && self.attestations.is_none()
            && self.sboms.is_none()
            && self.referrers.entries.is_empty()
            && self.platforms.iter().all(ArtifactTree::is_empty)
    }
}

/// Lists everything attached to `image` (resolved once), and to each of its platform manifests
/// when it is an index.
pub async fn list_artifacts(
    client: &RegistryClient,
    image: &ImageReference,
    options: &ListOptions<'_>,
) -> Result<ArtifactTree, Error> {
    let found = client.resolve(image).await?;
    let mut tree =
        list_one(client, &image.location, image.to_string(), &found.digest, &found.media_type, found.size, options)
            .await?;
    tree.media_type = Some(TREE_MEDIA_TYPE);
    if options.platforms && cosign::is_index(&found.media_type) {
        tree.platforms = Box::pin(list_children(client, &image.location, &found.digest, options, 1)).await?;
    }
    Ok(tree)
}

async fn list_children(
    client: &RegistryClient,
    location: &Location,
    digest: &Digest,
    options: &ListOptions<'_>,
    depth: usize,
) -> Result<Vec<ArtifactTree>, Error> {
    let fetched = client
        .get_manifest(location, digest.as_str())
        .await?
        .ok_or_else(|| RegistryError::ImageNotFound { reference: format!("{location}@{digest}") })?;
    let index = Manifest::parse(&fetched.bytes, &format!("index {digest}"))?;
    let limit = client.limits().max_layers;
    if index.manifests.len() > limit {
        return Err(
            RegistryError::TooMany { what: format!("index {digest}"), count: index.manifests.len(), limit }.into()
        );
    }
    let mut out = Vec::new();
    for child in &index.manifests {
        let reference = format!("{location}@{}", child.digest);
        let mut sub =
            list_one(client, location, reference, &child.digest, &child.media_type, child.size, options).await?;
        sub.platform = child.platform.clone();
        if cosign::is_index(&child.media_type) && depth < MAX_INDEX_DEPTH {
            sub.platforms = Box::pin(list_children(client, location, &child.digest, options, depth + 1)).await?;
        }
        out.push(sub);
    }
    Ok(out)
}

async fn list_one(
    client: &RegistryClient,
    location: &Location,
    reference: String,
    digest: &Digest,
    media_type: &str,
    size: u64,
    options: &ListOptions<'_>,
) -> Result<ArtifactTree, Error> {
    let repository = location.to_string();
    let tag_ref = |kind: AttachmentKind| format!("{repository}:{}", digest.attachment_tag(kind.suffix()));
    let (signatures, attestations, sboms, referrers) = futures_util::future::try_join4(
        client.get_attachment_manifest(location, digest, AttachmentKind::Signature),
        client.get_attachment_manifest(location, digest, AttachmentKind::Attestation),
        client.get_attachment_manifest(location, digest, AttachmentKind::Sbom),
        client.get_referrers(location, digest, options.max_referrers),
    )
    .await?;

    let mut verification = None;
    let signatures = match signatures {
        None => None,
        Some((fetched, manifest)) => {
            let mut entries: Vec<SignatureEntry> = manifest
                .layers
                .iter()
                .enumerate()
                .map(|(index, layer)| {
                    let annotations = layer.annotations.clone().unwrap_or_default();
                    let (signer, certificate_error, key_only) = signer_of(&annotations, client);
                    SignatureEntry {
                        index,
                        digest: layer.digest.clone(),
                        media_type: layer.media_type.clone(),
                        size: layer.size,
                        key_only,
                        signer,
                        certificate_error,
                        status: EntryStatus::NotChecked,
                    }
                })
                .collect();
            if let Some((verifier, policy)) = options.verification {
                let signed = SignedImage {
                    repository: location.to_string(),
                    digest: digest.clone(),
                    signatures: fetch_layers(client, location, &manifest.layers).await?,
                };
                verification = Some(apply_verification(verifier, policy, &signed, options.at, &mut entries)?);
            }
            Some(AttachmentGroup {
                tag: tag_ref(AttachmentKind::Signature),
                manifest_digest: fetched.digest,
                manifest_size: fetched.bytes.len() as u64,
                entries,
            })
        }
    };
    if options.verification.is_some() && verification.is_none() {
        verification = Some(VerificationSummary { verified: 0, rejected: 0 });
    }

    let attestations = match attestations {
        None => None,
        Some((fetched, manifest)) => {
            // Each envelope is decoded as soon as it arrives, so at most BLOB_WORKERS are in memory.
            let decodes = manifest.layers.iter().enumerate().map(|(index, layer)| async move {
                let fetched = fetch_layers(client, location, std::slice::from_ref(layer)).await?;
                Ok(attestation_entry(index, &fetched[0], client))
            });
            let entries = join_bounded(decodes, BLOB_WORKERS).await?;
            Some(AttachmentGroup {
                tag: tag_ref(AttachmentKind::Attestation),
                manifest_digest: fetched.digest,
                manifest_size: fetched.bytes.len() as u64,
                entries,
            })
        }
    };

    let sboms = sboms.map(|(fetched, manifest)| AttachmentGroup {
        tag: tag_ref(AttachmentKind::Sbom),
        manifest_digest: fetched.digest,
        manifest_size: fetched.bytes.len() as u64,
        entries: manifest
            .layers
            .iter()
            .map(|l| SbomEntry { digest: l.digest.clone(), media_type: l.media_type.clone(), size: l.size })
            .collect(),
    });

    let fetches = referrers.descriptors.iter().map(|d| async move { Ok(referrer_entry(client, location, d).await) });
    let mut entries = join_bounded(fetches, BLOB_WORKERS).await?;
    if let Some((verifier, policy)) = options.verification {
        let bundles = client.fetch_bundles(location, digest, crate::registry::BundlePurpose::Signatures).await?;
        if !bundles.is_empty() {
            let signed = SignedImage { repository: location.to_string(), digest: digest.clone(), signatures: bundles };
            let summary = verify_bundles(verifier, policy, &signed, options.at, &mut entries)?;
            let total = verification.get_or_insert(VerificationSummary { verified: 0, rejected: 0 });
            total.verified += summary.verified;
            total.rejected += summary.rejected;
        }
    }
    let referrers = ReferrerGroup {
        source: referrers.source,
        fallback_tag: (referrers.source == ReferrersSource::FallbackTag)
            .then(|| format!("{repository}:{}", digest.attachment_tag(""))),
        fallback_index_digest: referrers.fallback_index.map(|m| m.digest),
        entries,
    };

    Ok(ArtifactTree {
        media_type: None,
        reference,
        repository,
        digest: digest.clone(),
        manifest_media_type: media_type.to_owned(),
        size,
        platform: None,
        signatures,
        attestations,
        sboms,
        referrers,
        verification,
        platforms: Vec::new(),
    })
}

/// Fetches the blobs of `layers` (bounded in size and concurrency, digests checked).
async fn fetch_layers(
    client: &RegistryClient,
    location: &Location,
    layers: &[Descriptor],
) -> Result<Vec<SignatureLayer>, Error> {
    let limit = client.limits().max_blob_size;
    let fetches = layers.iter().map(|layer| async move {
        if layer.size > limit {
            return Err(Error::from(RegistryError::TooLarge {
                what: format!("layer {}", layer.digest),
                size: layer.size,
                limit,
            }));
        }
        let payload = client.get_blob(location, &layer.digest, layer.size).await?;
        Ok(SignatureLayer {
            media_type: layer.media_type.clone(),
            payload,
            payload_digest: layer.digest.clone(),
            annotations: layer.annotations.clone().unwrap_or_default(),
            referrer: None,
        })
    });
    join_bounded(fetches, BLOB_WORKERS).await
}

/// The signer a layer's certificate annotation names: (summary, parse error, key-only).
fn signer_of(
    annotations: &BTreeMap<String, String>,
    client: &RegistryClient,
) -> (Option<SignerInfo>, Option<String>, bool) {
    let Some(pem) = annotations.get(cosign::CERTIFICATE_ANNOTATION).filter(|s| !s.trim().is_empty()) else {
        return (None, None, true);
    };
    let chain_length = annotations
        .get(cosign::CHAIN_ANNOTATION)
        .filter(|s| !s.trim().is_empty())
        .and_then(|c| Certificate::from_pem_many(c.as_bytes(), "chain annotation", client.limits().max_chain).ok())
        .map_or(0, |c| c.len());
    match Certificate::from_pem_or_der(pem.as_bytes(), "certificate annotation") {
        Ok(cert) => (Some(signer_info(&cert, chain_length)), None, false),
        Err(e) => (None, Some(e.to_string()), false),
    }
}

fn signer_info(cert: &Certificate, chain_length: usize) -> SignerInfo {
    let s = cert.summary();
    SignerInfo {
        subject: s.subject.clone(),
        issuer: s.issuer.clone(),
        sans: s.sans(),
        serial: s.serial.clone(),
        not_before: s.not_before.clone(),
        not_after: s.not_after.clone(),
        sha256_fingerprint: s.sha256_fingerprint.clone(),
        chain_length,
    }
}

/// What a Sigstore bundle says about itself (nothing here is verified).
fn bundle_info(bytes: &[u8], max_chain: usize) -> BundleInfo {
    let mut info = BundleInfo {
        media_type: None,
        content: "unknown",
        signer: None,
        public_key_hint: None,
        certificate_error: None,
        predicate_type: None,
        decode_error: None,
    };
    let v: serde_json::Value = match serde_json::from_slice(bytes) {
        Ok(v) => v,
        Err(e) => {
            info.decode_error = Some(format!("not JSON: {e}"));
            return info;
        }
    };
    info.media_type = v.get("mediaType").and_then(|m| m.as_str()).map(str::to_owned);
    let material = v.get("verificationMaterial");
    let b64 = |v: Option<&serde_json::Value>| {
        v.and_then(|r| r.as_str()).and_then(|r| base64::engine::general_purpose::STANDARD.decode(r.trim()).ok())
    };
    let chain = material
        .and_then(|m| m.pointer("/x509CertificateChain/certificates"))
        .and_then(|c| c.as_array())
        .cloned()
        .unwrap_or_default();
    let leaf = material.and_then(|m| m.pointer("/certificate/rawBytes")).or_else(|| chain.first()?.get("rawBytes"));
    if let Some(raw) = leaf {
        match b64(Some(raw))
            .ok_or_else(|| "rawBytes is not base64".to_owned())
            .and_then(|der| Certificate::from_der(&der, "bundle certificate").map_err(|e| e.to_string()))
        {
            Ok(cert) => info.signer = Some(signer_info(&cert, chain.len().saturating_sub(1).min(max_chain))),
            Err(e) => info.certificate_error = Some(e),
        }
    } else if let Some(hint) = material.and_then(|m| m.pointer("/publicKey/hint")).and_then(|h| h.as_str()) {
        info.public_key_hint = Some(hint.to_owned());
    }
    if let Some(envelope) = v.get("dsseEnvelope") {
        info.content = "dsse_envelope";
        match serde_json::to_vec(envelope).map_err(|e| e.to_string()).and_then(|b| decode_statement(&b)) {
            Ok((_, p)) => info.predicate_type = p,
            Err(e) => info.decode_error = Some(e),
        }
    } else if v.get("messageSignature").is_some() {
        info.content = "message_signature";
    }
    info
}

/// Runs the pure verifier and records each signature's outcome on its entry.
fn apply_verification(
    verifier: &Verifier,
    policy: &Policy,
    signed: &SignedImage,
    at: Option<SystemTime>,
    entries: &mut [SignatureEntry],
) -> Result<VerificationSummary, Error> {
    let (verified, rejected) = match verifier.verify_at(signed, policy, at.unwrap_or_else(SystemTime::now)) {
        Ok(result) => (result.signatures, result.rejected),
        Err(Error::Verification(VerificationError::NoMatchingSignature { rejections, .. })) => (Vec::new(), rejections),
        Err(Error::Verification(VerificationError::NoSignatures { .. })) => (Vec::new(), Vec::new()),
        Err(e) => return Err(e),
    };
    let summary = VerificationSummary { verified: verified.len(), rejected: rejected.len() };
    for v in verified {
        if let Some(e) = entries.get_mut(v.index) {
            e.status = EntryStatus::Verified { matched_identity: v.matched_identity };
        }
    }
    for r in rejected {
        if let Some(e) = entries.get_mut(r.index) {
            e.status = EntryStatus::Rejected { code: r.code.to_owned(), message: r.reason.to_string() };
        }
    }
    Ok(summary)
}

/// Verifies the signature bundles among the referrers and records each outcome on its entry.
fn verify_bundles(
    verifier: &Verifier,
    policy: &Policy,
    signed: &SignedImage,
    at: Option<SystemTime>,
    entries: &mut [ReferrerEntry],
) -> Result<VerificationSummary, Error> {
    let (verified, rejected) = match verifier.verify_at(signed, policy, at.unwrap_or_else(SystemTime::now)) {
        Ok(result) => (result.signatures, result.rejected),
        Err(Error::Verification(VerificationError::NoMatchingSignature { rejections, .. })) => (Vec::new(), rejections),
        Err(e) => return Err(e),
    };
    let summary = VerificationSummary { verified: verified.len(), rejected: rejected.len() };
    let mut set = |index: usize, status: EntryStatus| {
        let referrer = signed.signatures.get(index).and_then(|l| l.referrer.as_ref());
        if let Some(e) = entries.iter_mut().find(|e| Some(&e.digest) == referrer) {
            e.status = Some(status);
        }
    };
    for v in verified {
        set(v.index, EntryStatus::Verified { matched_identity: v.matched_identity });
    }
    for r in rejected {
        set(r.index, EntryStatus::Rejected { code: r.code.to_owned(), message: r.reason.to_string() });
    }
    Ok(summary)
}

fn attestation_entry(index: usize, layer: &SignatureLayer, client: &RegistryClient) -> AttestationEntry {
    let (signer, certificate_error, key_only) = signer_of(&layer.annotations, client);
    let annotated = layer.annotations.get(PREDICATE_TYPE_ANNOTATION).filter(|s| !s.is_empty()).cloned();
    let (statement_type, from_statement, decode_error) = match decode_statement(&layer.payload) {
        Ok((t, p)) => (t, p, None),
        Err(e) => (None, None, Some(e)),
    };
    let (predicate_type, predicate_type_source) = match (from_statement, annotated) {
        (Some(p), _) => (Some(p), Some("statement")),
        (None, Some(a)) => (Some(a), Some("annotation")),
        (None, None) => (None, None),
    };
    AttestationEntry {
        index,
        digest: layer.payload_digest.clone(),
        media_type: layer.media_type.clone(),
        size: layer.payload.len() as u64,
        predicate_type,
        predicate_type_source,
        statement_type,
        key_only,
        signer,
        certificate_error,
        decode_error,
    }
}

/// Decodes a DSSE envelope (either key order) and its in-toto statement: (`_type`, `predicateType`).
/// Nothing here is verified; it only says what the envelope claims to hold.
pub fn decode_statement(envelope: &[u8]) -> Result<(Option<String>, Option<String>), String> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Envelope {
        payload: String,
        #[serde(default)]
        payload_type: Option<String>,
    }
    let env: Envelope = serde_json::from_slice(envelope).map_err(|e| format!("not a DSSE envelope: {e}"))?;
    if let Some(t) = &env.payload_type
        && t != "application/vnd.in-toto+json"
    {
        return Err(format!("payload type is {t:?}, not an in-toto statement"));
    }
    let payload = base64::engine::general_purpose::STANDARD
        .decode(env.payload.trim())
        .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(env.payload.trim()))
        .map_err(|e| format!("payload is not base64: {e}"))?;
    let statement: serde_json::Value =
        serde_json::from_slice(&payload).map_err(|e| format!("statement is not JSON: {e}"))?;
    let field = |k: &str| statement.get(k).and_then(|v| v.as_str()).map(str::to_owned);
    Ok((field("_type"), field("predicateType")))
}

fn referrer_kind(artifact_type: Option<&str>) -> ReferrerKind {
    match artifact_type {
        Some(t) if t.starts_with("application/vnd.dev.sigstore.bundle") => ReferrerKind::SigstoreBundle,
        Some("application/vnd.dev.cosign.artifact.sig.v1+json") => ReferrerKind::CosignSignature,
        Some("application/vnd.dev.cosign.artifact.sbom.v1+json") => ReferrerKind::CosignSbom,
        Some("application/vnd.in-toto+json") => ReferrerKind::Attestation,
        _ => ReferrerKind::Other,
    }
}

async fn referrer_entry(client: &RegistryClient, location: &Location, d: &Descriptor) -> ReferrerEntry {
    let mut entry = ReferrerEntry {
        digest: d.digest.clone(),
        media_type: d.media_type.clone(),
        size: d.size,
        artifact_type: d.artifact_type.clone(),
        kind: ReferrerKind::Other,
        predicate_type: None,
        annotations: d.annotations.clone().unwrap_or_default(),
        layer_media_types: Vec::new(),
        bundle: None,
        error: None,
        status: None,
    };
    let mut bundle_layer = None;
    // The fallback index written by ggcr carries no annotations (cosign#4641): read the manifest.
    match client.get_manifest(location, d.digest.as_str()).await {
        Ok(Some(fetched)) => match Manifest::parse_bounded(&fetched.bytes, "referrer manifest", client.limits()) {
            Ok(m) => {
                let config_artifact_type = m.config.as_ref().and_then(|c| c.artifact_type.clone());
                let config_media_type = m.config.as_ref().map(|c| c.media_type.clone());
                // The manifest's own artifact type first: go-containerregistry's referrers API
                // lists the config media type (the empty type, for cosign's bundles) instead.
                let empty = |t: &String| t != crate::bundle::EMPTY_CONFIG_MEDIA_TYPE;
                entry.artifact_type = m
                    .artifact_type
                    .or(config_artifact_type)
                    .or(entry.artifact_type.take().filter(empty))
                    .or(config_media_type.filter(empty));
                if let Some(a) = m.annotations {
                    entry.annotations.extend(a);
                }
                entry.layer_media_types = m.layers.iter().map(|l| l.media_type.clone()).collect();
                if let [layer] = m.layers.as_slice()
                    && layer.media_type.starts_with("application/vnd.dev.sigstore.bundle")
                {
                    bundle_layer = Some(layer.clone());
                }
            }
            Err(e) => entry.error = Some(e.to_string()),
        },
        Ok(None) => entry.error = Some("listed but the manifest does not exist".into()),
        Err(e) => entry.error = Some(e.to_string()),
    }
    entry.kind = referrer_kind(entry.artifact_type.as_deref());
    entry.predicate_type = entry.annotations.get(BUNDLE_PREDICATE_TYPE_ANNOTATION).cloned();
    if let Some(layer) = bundle_layer {
        let limit = client.limits().max_blob_size;
        entry.bundle = Some(if layer.size > limit {
            BundleInfo {
                decode_error: Some(format!("bundle is {} bytes, over {limit}", layer.size)),
                ..bundle_info(b"{}", 0)
            }
        } else {
            match client.get_blob(location, &layer.digest, layer.size).await {
                Ok(bytes) => bundle_info(&bytes, client.limits().max_chain),
                Err(e) => BundleInfo { decode_error: Some(e.to_string()), ..bundle_info(b"{}", 0) },
            }
        });
        if let Some(b) = &entry.bundle
            && entry.predicate_type.is_none()
        {
            entry.predicate_type = b.predicate_type.clone();
        }
    }
    entry
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope(statement: &str, payload_first: bool) -> Vec<u8> {
        let b64 = base64::engine::general_purpose::STANDARD.encode(statement);
        if payload_first {
            format!(r#"{{"payload":"{b64}","payloadType":"application/vnd.in-toto+json","signatures":[{{"sig":"x"}}]}}"#)
        } else {
            format!(
                r#"{{"payloadType":"application/vnd.in-toto+json","payload":"{b64}","signatures":[{{"keyid":"","sig":"x"}}]}}"#
            )
        }
        .into_bytes()
    }

    #[test]
    fn decodes_statements_in_either_key_order() {
        let v2 = r#"{"_type":"https://in-toto.io/Statement/v0.1","predicateType":"https://cosign.sigstore.dev/attestation/vuln/v1","subject":[],"predicate":{}}"#;
        let v3 = r#"{"_type":"https://in-toto.io/Statement/v0.1", "subject":[],  "predicateType":"https://spdx.dev/Document","predicate":{}}"#;
        assert_eq!(
            decode_statement(&envelope(v2, false)).unwrap().1.as_deref(),
            Some("https://cosign.sigstore.dev/attestation/vuln/v1")
        );
        let (t, p) = decode_statement(&envelope(v3, true)).unwrap();
        assert_eq!(t.as_deref(), Some("https://in-toto.io/Statement/v0.1"));
        assert_eq!(p.as_deref(), Some("https://spdx.dev/Document"));
    }

    #[test]
    fn rejects_what_is_not_an_in_toto_envelope() {
        assert!(decode_statement(b"[]").is_err());
        assert!(decode_statement(br#"{"payload":"%%%","payloadType":"application/vnd.in-toto+json"}"#).is_err());
        assert!(decode_statement(br#"{"payload":"e30=","payloadType":"text/plain"}"#).is_err());
    }

    #[test]
    fn bundle_summaries() {
        let key = bundle_info(br#"{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{"publicKey":{"hint":"abc"}},"messageSignature":{}}"#, 10);
        assert_eq!((key.content, key.public_key_hint.as_deref()), ("message_signature", Some("abc")));
        assert!(key.signer.is_none() && key.decode_error.is_none());
        let bad = bundle_info(br#"{"verificationMaterial":{"certificate":{"rawBytes":"%%"}},"dsseEnvelope":{"payload":"e30=","payloadType":"application/vnd.in-toto+json"}}"#, 10);
        assert_eq!(bad.content, "dsse_envelope");
        assert!(bad.certificate_error.is_some() && bad.signer.is_none());
        assert_eq!(bad.predicate_type, None);
        assert!(bundle_info(b"[", 10).decode_error.is_some());
    }

    #[test]
    fn referrer_kinds() {
        assert_eq!(referrer_kind(Some("application/vnd.dev.sigstore.bundle.v0.3+json")), ReferrerKind::SigstoreBundle);
        assert_eq!(
            referrer_kind(Some("application/vnd.dev.cosign.artifact.sig.v1+json")),
            ReferrerKind::CosignSignature
        );
        assert_eq!(referrer_kind(Some("application/vnd.cncf.notary.signature")), ReferrerKind::Other);
        assert_eq!(referrer_kind(None), ReferrerKind::Other);
    }
}
