//! Signing: build cosign's payload, sign it, and append it to the image's `.sig` manifest without
//! losing anyone else's signature.
//!
//! The registry API has no compare-and-swap, so appending is read-modify-write: read the current
//! manifest, write it back with one more layer, then wait a little longer than that round trip
//! took and read it again. A writer that read before our write must have written within its own
//! round trip, so after the wait its overwrite (which lacks our layer) is visible and we append
//! again. The residual assumption is that concurrent writers' round trips are of the same order as
//! ours; cosign has no protection at all (cosign.md §1.7).

use crate::cosign::{self, AttachmentKind, LayerSpec};
use crate::error::{CertificateError, Error, RegistryError};
use crate::keys::Signer;
use crate::pki::{Certificate, EkuRule, TrustRoot, certificate_matches_key};
use crate::reference::{Digest, ImageReference, Location};
use crate::registry::RegistryClient;
use base64::Engine as _;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// How [`SigningMaterial::with_certificate_checked`] treats a signing certificate whose extended
/// key usage lacks codeSigning (serverAuth/clientAuth only, as DoD PKI certificates are).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EkuCheck {
    /// Sign, with a [`MaterialFinding::NoCodeSigningEku`] naming what will and will not verify
    /// the signatures: chain verification by cosign, Kyverno and policy-controller refuses them,
    /// verification by the public key works.
    #[default]
    Warn,
    /// Refuse it (`CERT_NO_CODE_SIGNING`), so every signature made is chain-verifiable.
    Strict,
}

/// Something found about the signing material that does not stop signing, with a stable code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "code", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MaterialFinding {
    /// The certificate has no subject alternative name.
    NoSubjectAltName {
        /// Its subject DN.
        subject: String,
    },
    /// The chain given does not end with a self-signed root.
    ChainEndsWithoutRoot {
        /// The last certificate's subject DN.
        subject: String,
    },
    /// The certificate's extended key usage lacks codeSigning.
    NoCodeSigningEku {
        /// Its subject DN.
        subject: String,
        /// The usages it has.
        found: Vec<String>,
        /// What will and will not verify its signatures.
        detail: String,
    },
}

impl MaterialFinding {
    /// The stable code: `NO_SUBJECT_ALT_NAME`, `CHAIN_ENDS_WITHOUT_ROOT`, `NO_CODE_SIGNING_EKU`
    /// (the code `ironsign cert check` reports for the same certificate).
    pub fn code(&self) -> &'static str {
        match self {
            MaterialFinding::NoSubjectAltName { .. } => "NO_SUBJECT_ALT_NAME",
            MaterialFinding::ChainEndsWithoutRoot { .. } => "CHAIN_ENDS_WITHOUT_ROOT",
            MaterialFinding::NoCodeSigningEku { .. } => "NO_CODE_SIGNING_EKU",
        }
    }
}

impl std::fmt::Display for MaterialFinding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MaterialFinding::NoSubjectAltName { subject } => write!(
                f,
                "certificate {subject:?} has no subject alternative name: cosign, Kyverno, policy-controller and podman can pin an identity only on SANs"
            ),
            MaterialFinding::ChainEndsWithoutRoot { subject } => write!(
                f,
                "the chain ends with {subject:?}, which is not a self-signed root; cosign and podman drop the last chain certificate as the root"
            ),
            MaterialFinding::NoCodeSigningEku { subject, detail, .. } => write!(f, "certificate {subject:?}: {detail}"),
        }
    }
}

/// A signer with the certificate and chain that go beside its signatures.
#[derive(Debug, Clone)]
pub struct SigningMaterial {
    signer: Arc<dyn Signer>,
    certificate: Option<Certificate>,
    chain: Vec<Certificate>,
    findings: Vec<MaterialFinding>,
    timestamp_client: Option<crate::tsa::TimestampClient>,
}

impl SigningMaterial {
    /// Key-only signing: no certificate annotation.
    pub fn new(signer: Arc<dyn Signer>) -> Self {
        SigningMaterial { signer, certificate: None, chain: Vec::new(), findings: Vec::new(), timestamp_client: None }
    }

    /// [`with_certificate_checked`](Self::with_certificate_checked) with [`EkuCheck::Warn`]: a
    /// certificate whose extended key usage lacks codeSigning is accepted, with a finding.
    pub fn with_certificate(
        self,
        certificate: Certificate,
        chain: Vec<Certificate>,
        at: SystemTime,
    ) -> Result<Self, CertificateError> {
        self.with_certificate_checked(certificate, chain, at, EkuCheck::Warn)
    }

    /// Adds the signing certificate and its issuing chain (intermediates, then the root). Refuses
    /// a certificate whose key is not the signer's, that is not valid at `at`, whose key usage
    /// lacks digitalSignature, or whose chain does not lead from it to the chain's root; an
    /// extended key usage without codeSigning is refused or reported as `eku` says.
    pub fn with_certificate_checked(
        mut self,
        certificate: Certificate,
        chain: Vec<Certificate>,
        at: SystemTime,
        eku: EkuCheck,
    ) -> Result<Self, CertificateError> {
        certificate_matches_key(&certificate, self.signer.public_key())?;
        certificate.check_validity(at, false)?;
        let gap = certificate.code_signing_eku_gap();
        // The usage is reported here, so the chain is checked only for issuing the certificate.
        let rule = match (&gap, eku) {
            (Some(_), EkuCheck::Warn) => EkuRule::Any,
            _ => EkuRule::CodeSigningIfPresent,
        };
        certificate.check_code_signing_usage(rule)?;
        if let (Some(detail), EkuCheck::Warn) = (gap, eku) {
            self.findings.push(MaterialFinding::NoCodeSigningEku {
                subject: certificate.subject().into(),
                found: certificate.summary().extended_key_usage.clone().unwrap_or_default(),
                detail,
            });
        }
        if certificate.summary().sans().is_empty() {
            self.findings.push(MaterialFinding::NoSubjectAltName { subject: certificate.subject().into() });
        }
        if let Some((root, intermediates)) = chain.split_last() {
            match TrustRoot::from_certificates(vec![root.clone()], intermediates.to_vec()) {
                Ok(trust) => {
                    trust.verify_code_signing(&certificate, &[], at, at, rule, false)?;
                }
                Err(CertificateError::NotARoot { .. }) => {
                    self.findings.push(MaterialFinding::ChainEndsWithoutRoot { subject: root.subject().into() })
                }
                Err(e) => return Err(e),
            }
        }
        self.certificate = Some(certificate);
        self.chain = chain;
        Ok(self)
    }

    /// Timestamps every signature made with this material at this RFC 3161 timestamp authority,
    /// as cosign's `--timestamp-server-url` does (the token goes into the
    /// `dev.sigstore.cosign/rfc3161timestamp` annotation).
    pub fn with_timestamp_authority(mut self, client: crate::tsa::TimestampClient) -> Self {
        self.timestamp_client = Some(client);
        self
    }

    /// Adds cosign's timestamp annotation over `timestamped` (the raw signature, or the envelope
    /// of an attestation) when a timestamp authority is configured.
    pub(crate) async fn add_timestamp(
        &self,
        annotations: &mut BTreeMap<String, String>,
        timestamped: &[u8],
    ) -> Result<(), Error> {
        if let Some(tsa) = &self.timestamp_client {
            let response = tsa.timestamp(timestamped).await?;
            annotations.insert(cosign::RFC3161_ANNOTATION.to_owned(), crate::tsa::annotation_value(&response));
        }
        Ok(())
    }

    /// The signer.
    pub fn signer(&self) -> &Arc<dyn Signer> {
        &self.signer
    }

    /// The certificate, if any.
    pub fn certificate(&self) -> Option<&Certificate> {
        self.certificate.as_ref()
    }

    /// The chain given with the certificate (intermediates, then the root).
    pub fn chain(&self) -> &[Certificate] {
        &self.chain
    }

    /// What was found when the material was assembled (no SAN, no codeSigning, …).
    pub fn findings(&self) -> &[MaterialFinding] {
        &self.findings
    }

    /// The [`findings`](Self::findings) as messages.
    pub fn warnings(&self) -> Vec<String> {
        self.findings.iter().map(ToString::to_string).collect()
    }

    /// The cosign layer annotations for a signature made with this material.
    pub(crate) fn annotations(&self, signature_b64: String) -> BTreeMap<String, String> {
        let mut a = BTreeMap::new();
        a.insert(cosign::SIGNATURE_ANNOTATION.to_owned(), signature_b64);
        if let Some(cert) = &self.certificate {
            a.insert(cosign::CERTIFICATE_ANNOTATION.to_owned(), cert.to_pem());
            // cosign sets the chain key whenever it sets a certificate, even to "".
            a.insert(cosign::CHAIN_ANNOTATION.to_owned(), self.chain.iter().map(Certificate::to_pem).collect());
        }
        a
    }
}

/// Options of [`sign_image`].
#[derive(Debug, Clone, Default)]
pub struct SignOptions {
    /// `-a key=value` annotations, written into the payload's `optional`.
    pub annotations: BTreeMap<String, String>,
    /// Also sign every manifest of a multi-platform index.
    pub recursive: bool,
    /// The `docker-reference` to write instead of the image's repository (cosign's
    /// `--sign-container-identity`).
    pub identity: Option<String>,
    /// Sign this attachment of the image instead of the image (cosign's `--attachment sbom`:
    /// the signature is over the `.sbom` manifest's digest).
    pub attachment: Option<AttachmentKind>,
    /// How to store the signature: the legacy `.sig` tag (the default, what Harbor recognises) or
    /// a Sigstore bundle referrer as cosign v3 writes (see [`crate::referrers`]).
    pub format: cosign::SignatureFormat,
}

/// One signature written (or found already present).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SignedEntry {
    /// The signed manifest digest.
    pub digest: Digest,
    /// The attachment tag written: `sha256-<hex>.sig`, or for a bundle the referrers fallback tag
    /// `sha256-<hex>` (empty when the registry's referrers API lists it).
    pub tag: String,
    /// The payload layer digest (for a bundle: the bundle blob's digest).
    pub layer_digest: Digest,
    /// False when an identical signature was already there and nothing was written.
    pub added: bool,
    /// How it was stored.
    pub format: cosign::SignatureFormat,
    /// The referrer manifest digest, for a bundle.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub referrer: Option<Digest>,
}

/// What [`sign_image`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SignReport {
    /// The reference as given.
    pub reference: String,
    /// One entry per signed manifest.
    pub signatures: Vec<SignedEntry>,
    /// Warnings about the signing material.
    pub warnings: Vec<String>,
}

/// The payload `cosign generate` prints for `reference` (tags are resolved first).
pub async fn generate_payload(
    client: &RegistryClient,
    reference: &ImageReference,
    options: &SignOptions,
) -> Result<Vec<u8>, Error> {
    let digest = client.digest_of(reference).await?;
    let identity = options.identity.clone().unwrap_or_else(|| reference.docker_reference());
    Ok(cosign::simple_signing_payload(&identity, &digest, &options.annotations))
}

/// Signs an image: resolves the reference to a digest once, signs that digest (and, with
/// `recursive`, every child manifest), and appends each signature to its `.sig` manifest.
pub async fn sign_image(
    client: &RegistryClient,
    reference: &ImageReference,
    material: &SigningMaterial,
    options: &SignOptions,
) -> Result<SignReport, Error> {
    let mut resolved = client.resolve(reference).await?;
    if let Some(kind) = options.attachment {
        let tag = resolved.digest.attachment_tag(kind.suffix());
        let attached = client
            .get_manifest(&reference.location, &tag)
            .await?
            .ok_or_else(|| RegistryError::ImageNotFound { reference: reference.with_tag(&tag).to_string() })?;
        resolved = crate::registry::ManifestRef {
            size: attached.bytes.len() as u64,
            digest: attached.digest,
            media_type: attached.media_type,
        };
    }
    let mut digests = vec![resolved.digest.clone()];
    if options.recursive && cosign::is_index(&resolved.media_type) {
        let index = client
            .get_manifest(&reference.location, resolved.digest.as_str())
            .await?
            .ok_or_else(|| RegistryError::ImageNotFound { reference: reference.to_string() })?;
        let parsed = cosign::Manifest::parse(&index.bytes, "image index")?;
        digests.extend(parsed.manifests.into_iter().map(|d| d.digest));
    }
    let identity = options.identity.clone().unwrap_or_else(|| reference.docker_reference());
    let mut signatures = Vec::new();
    for digest in digests {
        if options.format == cosign::SignatureFormat::SigstoreBundle {
            signatures.push(sign_as_bundle(client, &reference.location, &digest, material, options).await?);
            continue;
        }
        let payload = cosign::simple_signing_payload(&identity, &digest, &options.annotations);
        let signature = material.signer.sign(&payload)?;
        let mut annotations = material.annotations(base64::engine::general_purpose::STANDARD.encode(&signature));
        material.add_timestamp(&mut annotations, &signature).await?;
        let layer = LayerSpec {
            media_type: cosign::SIMPLE_SIGNING_MEDIA_TYPE.into(),
            digest: Digest::sha256(&payload),
            size: payload.len() as u64,
            annotations,
        };
        let signer = material.signer.clone();
        let duplicate = move |existing: &LayerSpec, new: &LayerSpec, payload: &[u8]| {
            is_same_signature(existing, new, payload, signer.as_ref())
        };
        let added = append_layer(
            client,
            &reference.location,
            &digest,
            AttachmentKind::Signature,
            &layer,
            &payload,
            &duplicate,
            None,
        )
        .await?;
        signatures.push(SignedEntry {
            tag: digest.attachment_tag("sig"),
            layer_digest: layer.digest,
            digest,
            added,
            format: cosign::SignatureFormat::LegacyTag,
            referrer: None,
        });
    }
    Ok(SignReport { reference: reference.to_string(), signatures, warnings: material.warnings() })
}

/// Signs `digest` as cosign v3 does by default: a DSSE bundle over the `cosign/sign/v1` statement,
/// pushed as a referrer (never deduplicated: each signature is fresh, as in cosign).
async fn sign_as_bundle(
    client: &RegistryClient,
    location: &Location,
    digest: &Digest,
    material: &SigningMaterial,
    options: &SignOptions,
) -> Result<SignedEntry, Error> {
    let found = client
        .head_manifest(location, digest.as_str())
        .await?
        .ok_or_else(|| RegistryError::ImageNotFound { reference: digest.to_string() })?;
    let subject = crate::bundle::Subject { media_type: found.media_type, size: found.size, digest: digest.clone() };
    let statement = crate::bundle::sign_statement(digest, &options.annotations);
    let pushed = crate::referrers::push_statement_bundle(
        client,
        location,
        &subject,
        &statement,
        crate::bundle::COSIGN_SIGN_PREDICATE_TYPE,
        material,
    )
    .await?;
    Ok(SignedEntry {
        digest: digest.clone(),
        tag: pushed.fallback_tag.unwrap_or_default(),
        layer_digest: pushed.bundle,
        added: true,
        format: cosign::SignatureFormat::SigstoreBundle,
        referrer: Some(pushed.manifest),
    })
}

/// cosign's dedupe rule (§1.7): same payload and media type, every new annotation but the
/// signature present, and the existing signature verifies with our key.
fn is_same_signature(existing: &LayerSpec, new: &LayerSpec, payload: &[u8], signer: &dyn Signer) -> bool {
    if existing.digest != new.digest || existing.media_type != new.media_type {
        return false;
    }
    let annotations_match = new
        .annotations
        .iter()
        .filter(|(k, _)| k.as_str() != cosign::SIGNATURE_ANNOTATION)
        .all(|(k, v)| existing.annotations.get(k) == Some(v));
    let verifies = existing
        .annotations
        .get(cosign::SIGNATURE_ANNOTATION)
        .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s.trim()).ok())
        .is_some_and(|sig| signer.public_key().verify(payload, &sig));
    annotations_match && verifies
}

/// Decides whether an existing layer already holds what we are about to add.
pub(crate) type DuplicateCheck<'a> = dyn Fn(&LayerSpec, &LayerSpec, &[u8]) -> bool + Send + Sync + 'a;

/// Decides, from an existing layer and its blob, whether the new layer replaces it.
pub(crate) type ReplaceCheck<'a> = dyn Fn(&LayerSpec, &[u8]) -> bool + Send + Sync + 'a;

/// Most read-modify-write rounds before giving up.
const MAX_APPEND_ATTEMPTS: u32 = 12;

/// Appends `layer` (whose blob is `payload`) to the attachment manifest of `digest`, race-safely
/// (see the module docs). Returns false when `duplicate` found it already present. With
/// `replace`, existing layers it selects (judged on their blobs) are dropped in the same write.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn append_layer(
    client: &RegistryClient,
    location: &Location,
    digest: &Digest,
    kind: AttachmentKind,
    layer: &LayerSpec,
    payload: &[u8],
    duplicate: &DuplicateCheck<'_>,
    replace: Option<&ReplaceCheck<'_>>,
) -> Result<bool, Error> {
    let tag = digest.attachment_tag(kind.suffix());
    // Blobs go first, so the tag never points at a missing blob.
    client.put_blob(location, payload).await?;
    let present =
        |layers: &[LayerSpec]| layers.iter().any(|l| l.digest == layer.digest && l.annotations == layer.annotations);
    for attempt in 1..=MAX_APPEND_ATTEMPTS {
        let started = Instant::now();
        let (read_digest, existing) = current_layers(client, location, digest, kind).await?;
        if existing.iter().any(|l| duplicate(l, layer, payload)) {
            return Ok(false);
        }
        let mut layers = Vec::with_capacity(existing.len() + 1);
        for l in existing {
            if let Some(replace) = replace {
                let limit = client.limits().max_blob_size;
                if l.size > limit {
                    return Err(
                        RegistryError::TooLarge { what: format!("layer {}", l.digest), size: l.size, limit }.into()
                    );
                }
                if replace(&l, &client.get_blob(location, &l.digest, limit).await?) {
                    continue;
                }
            }
            layers.push(l);
        }
        layers.push(layer.clone());
        if layers.len() > client.limits().max_layers {
            return Err(RegistryError::TooMany {
                what: format!("{tag} manifest"),
                count: layers.len(),
                limit: client.limits().max_layers,
            }
            .into());
        }
        let config = cosign::signature_config(&layers);
        let manifest = cosign::signature_manifest(&config, &layers);
        let written = async {
            client.put_blob(location, &config).await?;
            // Write only if nobody replaced the tag since we read it: this shrinks the lost-update
            // window from the whole round (reads, blob uploads) to one request.
            if client.head_manifest(location, &tag).await?.map(|m| m.digest) != read_digest {
                return Ok(false);
            }
            client.put_manifest(location, &tag, &manifest, cosign::OCI_MANIFEST).await.map(|_| true)
        };
        match written.await {
            Ok(true) => {}
            Ok(false) => {
                tracing::debug!(%tag, attempt, "the manifest changed while we prepared ours; appending again");
                tokio::time::sleep(jitter(started.elapsed())).await;
                continue;
            }
            // Concurrent writers of the same blobs make some registries fail a write now and
            // then (distribution answers 400 DIGEST_INVALID or 500); the next round retries.
            Err(Error::Registry(e)) if is_write_conflict(&e) && attempt < MAX_APPEND_ATTEMPTS => {
                tracing::debug!(%tag, attempt, error = %e, "write conflict; appending again");
                tokio::time::sleep(settle_delay(started.elapsed())).await;
                continue;
            }
            // The connection broke after the manifest was sent: it may or may not have been
            // stored. The confirmation below finds out, and appends again if it was not.
            Err(Error::Registry(e @ RegistryError::Transport { .. })) if attempt < MAX_APPEND_ATTEMPTS => {
                tracing::debug!(%tag, attempt, error = %e, "manifest write interrupted; checking whether it landed");
            }
            Err(e) => return Err(e),
        }
        let round_trip = started.elapsed();
        // Confirm after waits longer than a concurrent writer's round trip, growing each time.
        let mut confirmed = true;
        for wait in 1..=2 {
            tokio::time::sleep(settle_delay(round_trip) * wait).await;
            let (_, now) = current_layers(client, location, digest, kind).await?;
            if !present(&now) {
                confirmed = false;
                break;
            }
        }
        if confirmed {
            return Ok(true);
        }
        tracing::debug!(%tag, attempt, "a concurrent writer replaced the manifest; appending again");
        tokio::time::sleep(jitter(round_trip * attempt.min(4))).await;
    }
    Err(RegistryError::ConcurrentUpdate { tag, attempts: MAX_APPEND_ATTEMPTS }.into())
}

pub(crate) fn is_write_conflict(e: &RegistryError) -> bool {
    matches!(e, RegistryError::Http { status: 400 | 409 | 500 | 503, .. } | RegistryError::DigestMismatch { .. })
}

/// The attachment manifest's digest (if any) and its layers.
async fn current_layers(
    client: &RegistryClient,
    location: &Location,
    digest: &Digest,
    kind: AttachmentKind,
) -> Result<(Option<Digest>, Vec<LayerSpec>), Error> {
    Ok(match client.get_attachment_manifest(location, digest, kind).await? {
        Some((fetched, manifest)) => (Some(fetched.digest), manifest.layers.iter().map(LayerSpec::from).collect()),
        None => (None, Vec::new()),
    })
}

/// Twice the observed round trip, plus 50 ms and up to one more round trip of jitter.
pub(crate) fn settle_delay(round_trip: Duration) -> Duration {
    round_trip * 2 + Duration::from_millis(50) + jitter(round_trip)
}

/// A random duration between zero and `max`.
pub(crate) fn jitter(max: Duration) -> Duration {
    let mut b = [0u8; 2];
    let _ = aws_lc_rs::rand::fill(&mut b);
    max.mul_f64(f64::from(u16::from_le_bytes(b)) / f64::from(u16::MAX))
}
