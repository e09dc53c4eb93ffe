//! Blobs: files signed as `cosign sign-blob` and attested as `cosign attest-blob` sign them
//! (release tarballs, Helm charts, SBOM files), and what cosign writes beside them.
//!
//! A blob signature is the signer's signature over the blob's bytes (ECDSA P-256 and RSA hash
//! them with SHA-256, P-384 with SHA-384). cosign packages it three ways, all written and read
//! here:
//! * detached: the base64 signature (`--output-signature`, or stdout), the signing certificate
//!   (`--output-certificate`, base64 of its PEM) and the RFC 3161 timestamp over the signature
//!   (`--rfc3161-timestamp`, `{"SignedRFC3161Timestamp":"<base64 DER>"}`);
//! * cosign v2's JSON bundle: `{"base64Signature":"…","cert":"<base64 PEM>"}` (its `rekorBundle`
//!   is never written: there is no log);
//! * a Sigstore bundle v0.3 ([`crate::bundle`]) with a `messageSignature` (the blob's digest and
//!   the signature), the certificate, chain or public-key hint, and the timestamps in
//!   `timestampVerificationData`.
//!
//! A blob attestation is a DSSE envelope ([`crate::dsse`]) over an in-toto statement whose subject
//! is the blob's file name and SHA-256; cosign v2 prints the envelope (its JSON bundle holds it
//! base64 in `base64Signature`), a Sigstore bundle holds it as `dsseEnvelope`. cosign v2
//! timestamps the envelope, v3 the DSSE signature; both are read.
//!
//! Signing is here ([`sign_blob`], [`attest_blob`]); verification is pure and lives with the
//! other verifiers ([`Verifier::verify_blob`](crate::Verifier::verify_blob)).

use crate::bundle::{Bundle, BundleContent, MessageSignature, VerificationMaterial};
use crate::dsse::{self, Envelope};
use crate::error::{Error, InputError, RejectionReason};
use crate::keys::{KeyAlgorithm, PublicKey};
use crate::pki::Certificate;
use crate::reference::Digest;
use crate::sign::SigningMaterial;
use base64::Engine as _;
use serde::Serialize;

/// Largest blob signed or verified: it is read into memory, as cosign reads it.
pub const MAX_BLOB_SIZE: u64 = 2 << 30;
/// Largest signature, certificate, timestamp or bundle file read beside a blob (an attestation
/// bundle holds its predicate, which may be a whole SBOM).
pub const MAX_EVIDENCE_SIZE: u64 = 64 << 20;

/// How a blob signature or attestation is packaged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BlobFormat {
    /// A detached signature (base64) or DSSE envelope, with optional certificate and timestamp
    /// files.
    Detached,
    /// cosign v2's JSON bundle (`base64Signature`, `cert`).
    LegacyBundle,
    /// A Sigstore bundle v0.3 (`cosign … --new-bundle-format`, cosign v3's default).
    SigstoreBundle,
}

impl BlobFormat {
    /// The format named as it serialises: `detached`, `legacy_bundle` or `sigstore_bundle`.
    pub fn parse(name: &str) -> Result<Self, InputError> {
        match name {
            "detached" => Ok(BlobFormat::Detached),
            "legacy_bundle" => Ok(BlobFormat::LegacyBundle),
            "sigstore_bundle" => Ok(BlobFormat::SigstoreBundle),
            other => Err(InputError::arg("format", format!("{other:?}: detached, legacy_bundle or sigstore_bundle"))),
        }
    }
}

/// The digest a blob attestation is about: the blob's SHA-256, or a digest given instead
/// (`sha256:<hex>`, as cosign's `--hash`/`--digest`); exactly one of the two.
pub fn blob_digest(blob: Option<&[u8]>, digest: Option<&str>) -> Result<Digest, InputError> {
    match (blob, digest) {
        (Some(blob), None) => Ok(Digest::sha256(blob)),
        (None, Some(digest)) => Digest::parse(digest),
        _ => Err(InputError::arg("blob", "give the blob or its digest, not both or neither")),
    }
}

/// The subject a blob attestation's verification checks: the blob's digest ([`blob_digest`]),
/// or none when the claims are not checked (cosign's `--check-claims=false`, which then needs
/// neither blob nor digest).
pub fn attestation_subject(
    check_claims: bool,
    blob: Option<&[u8]>,
    digest: Option<&str>,
) -> Result<Option<Digest>, InputError> {
    match (check_claims, blob, digest) {
        (false, ..) => Ok(None),
        (true, None, None) => Err(InputError::arg("blob", "give the blob or its digest, or skip the claims check")),
        (true, ..) => blob_digest(blob, digest).map(Some),
    }
}

/// The in-toto statement `cosign attest-blob --type T --predicate FILE` signs, as JSON: the
/// predicate built from `predicate` (read as `predicate_type`, a cosign shortcut or a URI;
/// `source` names it in errors), about the blob named `file_name` with `digest`.
pub fn attestation_statement(
    file_name: &str,
    digest: &Digest,
    predicate_type: &str,
    predicate: &[u8],
    source: &str,
    now: std::time::SystemTime,
) -> Result<Vec<u8>, InputError> {
    let kind = crate::predicates::PredicateKind::parse(predicate_type)?;
    let options = crate::predicates::PredicateOptions { now, vuln: Default::default() };
    let body = crate::predicates::build(&kind, predicate, source, &options)?;
    Ok(blob_statement(file_name, digest, kind.uri(), body).to_json())
}

/// A signed blob or blob attestation: the signature and everything cosign writes beside it.
#[derive(Debug, Clone)]
pub struct SignedBlob {
    /// The signature: over the blob, or for an attestation over the DSSE PAE.
    pub signature: Vec<u8>,
    /// The DSSE envelope, for an attestation.
    pub envelope: Option<Envelope>,
    /// The digest of the signed blob as a Sigstore bundle records it (`SHA2_256`, …), for a
    /// signature.
    pub message_digest: Option<(String, Vec<u8>)>,
    /// The signing certificate, when the material has one.
    pub certificate: Option<Certificate>,
    /// The public key that signed.
    pub public_key: PublicKey,
    /// The bundle's verification material (certificate, chain without the root, or key hint).
    pub material: VerificationMaterial,
    /// The RFC 3161 timestamp authority's response (DER `TimeStampResp`), when one was asked for.
    pub timestamp: Option<Vec<u8>>,
}

/// The digest a signature by `key` is made over: the Sigstore name of its algorithm and the
/// digest of `data`.
fn message_digest(key: &PublicKey, data: &[u8]) -> (String, Vec<u8>) {
    let (name, algorithm) = match key.algorithm() {
        KeyAlgorithm::EcdsaP384 => ("SHA2_384", &aws_lc_rs::digest::SHA384),
        _ => ("SHA2_256", &aws_lc_rs::digest::SHA256),
    };
    (name.to_owned(), aws_lc_rs::digest::digest(algorithm, data).as_ref().to_vec())
}

/// Signs a blob as `cosign sign-blob` does: the signature over its bytes, timestamped over the
/// signature when the material has a timestamp authority.
pub async fn sign_blob(blob: &[u8], material: &SigningMaterial) -> Result<SignedBlob, Error> {
    let signature = material.signer().sign(blob)?;
    let timestamp = material.timestamp(&signature).await?;
    let public_key = material.signer().public_key().clone();
    Ok(SignedBlob {
        message_digest: Some(message_digest(&public_key, blob)),
        signature,
        envelope: None,
        certificate: material.certificate().cloned(),
        public_key,
        material: crate::referrers::verification_material(material),
        timestamp,
    })
}

/// Signs an in-toto statement about a blob as `cosign attest-blob` does: a DSSE envelope,
/// timestamped (when the material has a timestamp authority) over the envelope for cosign v2's
/// [`BlobFormat::LegacyBundle`] and detached outputs, over the DSSE signature for a
/// [`BlobFormat::SigstoreBundle`], as each cosign version does.
pub async fn attest_blob(
    statement: &[u8],
    material: &SigningMaterial,
    format: BlobFormat,
) -> Result<SignedBlob, Error> {
    let envelope = Envelope::sign(dsse::INTOTO_PAYLOAD_TYPE, statement, material.signer().as_ref())?;
    let signature = envelope.signature_bytes().map_err(|e| InputError::arg("envelope", e.to_string()))?.remove(0);
    let timestamp = match format {
        BlobFormat::SigstoreBundle => material.timestamp(&signature).await?,
        BlobFormat::Detached | BlobFormat::LegacyBundle => material.timestamp(&envelope.to_json()).await?,
    };
    Ok(SignedBlob {
        signature,
        envelope: Some(envelope),
        message_digest: None,
        certificate: material.certificate().cloned(),
        public_key: material.signer().public_key().clone(),
        material: crate::referrers::verification_material(material),
        timestamp,
    })
}

/// The statement `cosign attest-blob` signs: in-toto v0.1, one subject named after the blob's
/// file name (its last path component) with its SHA-256.
pub fn blob_statement(
    file_name: &str,
    digest: &Digest,
    predicate_type: &str,
    predicate: serde_json::Value,
) -> crate::intoto::Statement {
    let name = file_name.rsplit('/').next().unwrap_or(file_name);
    crate::intoto::Statement::for_image(crate::intoto::StatementVersion::V01, name, digest, predicate_type, predicate)
}

impl SignedBlob {
    /// What `cosign sign-blob` prints and writes with `--output-signature`: the base64 signature
    /// (for an attestation, `attest-blob` prints the envelope JSON instead: [`Self::envelope_json`]).
    pub fn signature_base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(&self.signature)
    }

    /// The envelope JSON as cosign v2 writes it, for an attestation.
    pub fn envelope_json(&self) -> Option<Vec<u8>> {
        self.envelope.as_ref().map(Envelope::to_json)
    }

    /// What cosign writes with `--output-certificate`: the base64 of the certificate's PEM.
    pub fn certificate_output(&self) -> Option<String> {
        self.certificate.as_ref().map(|c| base64::engine::general_purpose::STANDARD.encode(c.to_pem()))
    }

    /// What cosign writes with `--rfc3161-timestamp`.
    pub fn timestamp_json(&self) -> Option<String> {
        self.timestamp.as_deref().map(crate::tsa::annotation_value)
    }

    /// cosign v2's JSON bundle: `base64Signature` (for an attestation, the base64 envelope) and,
    /// with a certificate, `cert` (base64 of its PEM). Timestamps are not part of it: cosign
    /// writes them with `--rfc3161-timestamp`.
    pub fn legacy_bundle(&self) -> Vec<u8> {
        let b64 = base64::engine::general_purpose::STANDARD;
        let signature = match self.envelope_json() {
            Some(envelope) => b64.encode(envelope),
            None => self.signature_base64(),
        };
        let mut out = serde_json::json!({ "base64Signature": signature });
        if let Some(cert) = self.certificate_output() {
            out["cert"] = serde_json::Value::String(cert);
        }
        out.to_string().into_bytes()
    }

    /// The Sigstore bundle v0.3 cosign v3 writes: a `messageSignature` or the `dsseEnvelope`,
    /// the verification material and the timestamp.
    pub fn sigstore_bundle(&self) -> Vec<u8> {
        let timestamps = self.timestamp.iter().cloned().collect();
        match (&self.envelope, &self.message_digest) {
            (Some(envelope), _) => {
                let mut b = Bundle::dsse(envelope.clone(), self.material.clone());
                b.timestamps = timestamps;
                b.to_json()
            }
            (None, digest) => {
                let (algorithm, digest) = digest.clone().unwrap_or_default();
                let message =
                    MessageSignature { digest_algorithm: algorithm, digest, signature: self.signature.clone() };
                Bundle::message_signature(message, self.material.clone(), timestamps).to_json()
            }
        }
    }
}

/// What came with a blob to verify it, as read from cosign's flags: `--signature`,
/// `--certificate`, `--rfc3161-timestamp`, or a `--bundle` in either format (the bundle carries
/// the signature, the certificate and the timestamps; the others must then not be given, except a
/// certificate for a bundle without one).
#[derive(Debug, Clone, Default)]
pub struct BlobEvidence {
    /// The signature as cosign writes it: base64 text (a trailing newline allowed) or raw bytes;
    /// for an attestation, the DSSE envelope JSON.
    pub signature: Option<Vec<u8>>,
    /// The signing certificate: PEM, DER, or the base64 of its PEM (`--output-certificate`).
    pub certificate: Option<Vec<u8>>,
    /// An RFC 3161 timestamp file: `{"SignedRFC3161Timestamp":"<base64 DER>"}`.
    pub timestamp: Option<Vec<u8>>,
    /// A bundle: cosign v2's JSON bundle or a Sigstore bundle v0.3 (told apart by `mediaType`).
    pub bundle: Option<Vec<u8>>,
}

/// The parts of a blob's evidence, decoded.
#[derive(Debug, Clone)]
pub(crate) struct BlobParts {
    pub(crate) format: BlobFormat,
    /// The signature bytes, or the envelope JSON bytes for an attestation read detached or from a
    /// legacy bundle.
    pub(crate) signature: Vec<u8>,
    /// The envelope, for an attestation.
    pub(crate) envelope: Option<Envelope>,
    /// The certificate PEM and untrusted intermediates PEM.
    pub(crate) certificate_pem: Option<String>,
    pub(crate) chain_pem: Option<String>,
    /// Timestamps (DER `TimeStampResp`s).
    pub(crate) timestamps: Vec<Vec<u8>>,
    /// The message digest a Sigstore bundle names.
    pub(crate) message_digest: Option<(String, Vec<u8>)>,
}

fn invalid(reason: impl Into<String>) -> RejectionReason {
    RejectionReason::InvalidPayload { reason: reason.into() }
}

fn decode_any_base64(text: &[u8]) -> Option<Vec<u8>> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    let text = std::str::from_utf8(text).ok()?.trim();
    [STANDARD, URL_SAFE, STANDARD_NO_PAD, URL_SAFE_NO_PAD].iter().find_map(|e| e.decode(text).ok())
}

/// A certificate given as PEM, DER or base64 of a PEM, as PEM; a `PUBLIC KEY` (newer cosign puts
/// the key there for key-only bundles) is no certificate.
fn certificate_pem(bytes: &[u8], what: &str) -> Result<Option<String>, RejectionReason> {
    let pem_text = if bytes.starts_with(b"-----") {
        bytes.to_vec()
    } else {
        match decode_any_base64(bytes) {
            Some(decoded) if decoded.starts_with(b"-----") => decoded,
            _ => bytes.to_vec(),
        }
    };
    if pem_text.starts_with(b"-----BEGIN PUBLIC KEY-----") {
        return Ok(None);
    }
    let mut certs = if pem_text.starts_with(b"-----") {
        Certificate::from_pem_many(&pem_text, what, crate::pki::DEFAULT_MAX_CHAIN)
    } else {
        Certificate::from_der(&pem_text, what).map(|c| vec![c])
    }
    .map_err(RejectionReason::Certificate)?;
    if certs.is_empty() {
        return Err(invalid(format!("{what} holds no certificate")));
    }
    Ok(Some(certs.remove(0).to_pem()))
}

impl BlobEvidence {
    /// Decodes the evidence: `attestation` reads the signature as a DSSE envelope.
    pub(crate) fn parts(&self, attestation: bool, max_chain: usize) -> Result<BlobParts, Error> {
        let refuse = |name: &str, reason: &str| -> Error { InputError::arg(name, reason).into() };
        let given_with_bundle = |name: &str| refuse(name, "not with a bundle, which carries it");
        let mut parts = match &self.bundle {
            Some(bundle) => {
                if self.signature.is_some() {
                    return Err(given_with_bundle("signature"));
                }
                if self.timestamp.is_some() {
                    return Err(given_with_bundle("timestamp"));
                }
                parse_bundle(bundle, attestation, max_chain).map_err(|r| rejected(r, attestation))?
            }
            None => {
                let signature =
                    self.signature.as_ref().ok_or_else(|| refuse("signature", "give a signature or a bundle"))?;
                let (signature, envelope) = if attestation {
                    let envelope = Envelope::parse(signature).map_err(|r| rejected(r, attestation))?;
                    (signature.clone(), Some(envelope))
                } else {
                    (decode_any_base64(signature).unwrap_or_else(|| signature.clone()), None)
                };
                let timestamps = match &self.timestamp {
                    Some(t) => {
                        let text = String::from_utf8_lossy(t);
                        vec![crate::tsa::parse_annotation(text.trim()).map_err(Error::from)?]
                    }
                    None => Vec::new(),
                };
                BlobParts {
                    format: BlobFormat::Detached,
                    signature,
                    envelope,
                    certificate_pem: None,
                    chain_pem: None,
                    timestamps,
                    message_digest: None,
                }
            }
        };
        if let Some(cert) = &self.certificate {
            let given = certificate_pem(cert, "certificate").map_err(|r| rejected(r, attestation))?;
            match (parts.certificate_pem.clone(), given) {
                (None, given) => parts.certificate_pem = given,
                (Some(ours), Some(given)) if ours == given => {}
                (Some(_), _) => {
                    return Err(rejected(
                        invalid("the certificate given is not the bundle's certificate"),
                        attestation,
                    ));
                }
            }
        }
        Ok(parts)
    }
}

/// A rejection of the one signature (or attestation) of a blob, as a verification error.
pub(crate) fn rejected(reason: RejectionReason, attestation: bool) -> Error {
    let kind = if attestation { "attestations" } else { "signatures" };
    crate::error::VerificationError::NoMatchingSignature {
        image: "the blob".into(),
        kind: kind.into(),
        count: 1,
        rejections: vec![crate::error::SignatureRejection::new(0, String::new(), reason)],
    }
    .into()
}

fn parse_bundle(bytes: &[u8], attestation: bool, max_chain: usize) -> Result<BlobParts, RejectionReason> {
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| invalid(format!("the bundle is not JSON: {e}")))?;
    if value.get("mediaType").or_else(|| value.get("media_type")).is_some() {
        return parse_sigstore_bundle(bytes, attestation, max_chain);
    }
    // cosign v2's bundle.
    let text = |name: &str| value.get(name).and_then(|v| v.as_str());
    let signature = text("base64Signature")
        .and_then(|s| decode_any_base64(s.as_bytes()))
        .ok_or_else(|| invalid("the bundle has no base64Signature"))?;
    let certificate_pem = match text("cert").filter(|c| !c.is_empty()) {
        Some(cert) => certificate_pem(cert.as_bytes(), "bundle cert")?,
        None => None,
    };
    let envelope = if attestation { Some(Envelope::parse(&signature)?) } else { None };
    Ok(BlobParts {
        format: BlobFormat::LegacyBundle,
        signature,
        envelope,
        certificate_pem,
        chain_pem: None,
        timestamps: Vec::new(),
        message_digest: None,
    })
}

fn parse_sigstore_bundle(bytes: &[u8], attestation: bool, max_chain: usize) -> Result<BlobParts, RejectionReason> {
    let parsed = Bundle::parse(bytes, max_chain)?;
    let (mut certificate_pem, mut chain_pem) = (None, None);
    if let Some((leaf, intermediates)) = parsed.material.certificates() {
        let leaf = Certificate::from_der(leaf, "bundle certificate").map_err(RejectionReason::Certificate)?;
        certificate_pem = Some(leaf.to_pem());
        let mut chain = String::new();
        for (i, der) in intermediates.iter().enumerate() {
            let cert = Certificate::from_der(der, &format!("bundle x509CertificateChain certificate {}", i + 1))
                .map_err(RejectionReason::Certificate)?;
            chain.push_str(&cert.to_pem());
        }
        chain_pem = Some(chain);
    }
    let (signature, envelope, message_digest) = match (parsed.content, attestation) {
        (BundleContent::MessageSignature(m), false) => (m.signature, None, Some((m.digest_algorithm, m.digest))),
        (BundleContent::Dsse(envelope), true) => {
            let signature = envelope.signature_bytes()?.into_iter().next().unwrap_or_default();
            if envelope.signatures.len() != 1 {
                return Err(RejectionReason::MalformedSignature {
                    reason: format!("a blob attestation bundle has {} signatures, not one", envelope.signatures.len()),
                });
            }
            (signature, Some(envelope), None)
        }
        (BundleContent::Dsse(_), false) => {
            return Err(RejectionReason::PayloadType {
                found: "dsse-envelope bundle".into(),
                expected: "message-signature bundle (a blob signature)".into(),
            });
        }
        (BundleContent::MessageSignature(_), true) => {
            return Err(RejectionReason::PayloadType {
                found: "message-signature bundle".into(),
                expected: "dsse-envelope bundle (an attestation)".into(),
            });
        }
    };
    if signature.is_empty() {
        return Err(RejectionReason::MalformedSignature {
            reason: "the bundle's signature is empty or not base64".into(),
        });
    }
    Ok(BlobParts {
        format: BlobFormat::SigstoreBundle,
        signature,
        envelope,
        certificate_pem,
        chain_pem,
        timestamps: parsed.timestamps,
        message_digest,
    })
}

/// The digest of `blob` under a Sigstore `messageDigest.algorithm` name, if it is one ironsign
/// computes.
pub(crate) fn digest_by_name(name: &str, blob: &[u8]) -> Option<Vec<u8>> {
    let algorithm = match name {
        "SHA2_256" => &aws_lc_rs::digest::SHA256,
        "SHA2_384" => &aws_lc_rs::digest::SHA384,
        "SHA2_512" => &aws_lc_rs::digest::SHA512,
        _ => return None,
    };
    Some(aws_lc_rs::digest::digest(algorithm, blob).as_ref().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{KeyKind, KeyPairSigner};
    use std::sync::Arc;
    use std::time::SystemTime;

    fn material() -> SigningMaterial {
        let (signer, _) = KeyPairSigner::generate(KeyKind::EcdsaP256).unwrap();
        SigningMaterial::new(Arc::new(signer))
    }

    #[tokio::test]
    async fn writes_and_reads_every_packaging() {
        let m = material();
        let blob = b"release tarball";
        let signed = sign_blob(blob, &m).await.unwrap();
        let sigstore = String::from_utf8(signed.sigstore_bundle()).unwrap();
        assert!(sigstore.contains(r#""messageSignature":{"messageDigest":{"algorithm":"SHA2_256","digest":""#));
        assert!(sigstore.contains(r#""publicKey":{"hint":""#));
        let legacy = String::from_utf8(signed.legacy_bundle()).unwrap();
        assert_eq!(legacy, format!(r#"{{"base64Signature":"{}"}}"#, signed.signature_base64()));
        for (evidence, format) in [
            (BlobEvidence { bundle: Some(sigstore.into_bytes()), ..Default::default() }, BlobFormat::SigstoreBundle),
            (BlobEvidence { bundle: Some(legacy.into_bytes()), ..Default::default() }, BlobFormat::LegacyBundle),
            (
                BlobEvidence {
                    signature: Some(format!("{}\n", signed.signature_base64()).into_bytes()),
                    ..Default::default()
                },
                BlobFormat::Detached,
            ),
        ] {
            let parts = evidence.parts(false, 10).unwrap();
            assert_eq!((parts.format, &parts.signature), (format, &signed.signature));
        }
        // A bundle and a separate signature: one would be ignored, so both are refused.
        let both = BlobEvidence {
            bundle: Some(signed.legacy_bundle()),
            signature: Some(b"AAAA".to_vec()),
            ..Default::default()
        };
        assert_eq!(both.parts(false, 10).unwrap_err().code(), "INVALID_ARGUMENT");
        assert_eq!(BlobEvidence::default().parts(false, 10).unwrap_err().code(), "INVALID_ARGUMENT");
    }

    #[test]
    fn the_subject_and_the_statement_follow_cosigns_rules() {
        let digest = Digest::sha256(b"blob");
        assert_eq!(blob_digest(Some(b"blob"), None).unwrap(), digest);
        assert_eq!(blob_digest(None, Some(digest.as_str())).unwrap(), digest);
        // Both, neither, or a digest that is not one: refused, never guessed.
        assert!(blob_digest(Some(b"blob"), Some(digest.as_str())).is_err());
        assert!(blob_digest(None, None).is_err());
        assert_eq!(blob_digest(None, Some("sha256:zz")).unwrap_err().code(), "INVALID_REFERENCE");
        assert_eq!(attestation_subject(false, None, None).unwrap(), None);
        assert_eq!(attestation_subject(true, Some(b"blob"), None).unwrap(), Some(digest.clone()));
        assert!(attestation_subject(true, None, None).is_err());
        assert_eq!(BlobFormat::parse("legacy_bundle").unwrap(), BlobFormat::LegacyBundle);
        assert!(BlobFormat::parse("v3").is_err());
        let statement = attestation_statement(
            "dist/app.tgz",
            &digest,
            "https://example.com/p/v1",
            br#"{"a":1}"#,
            "p",
            SystemTime::now(),
        )
        .unwrap();
        let value: serde_json::Value = serde_json::from_slice(&statement).unwrap();
        assert_eq!(value["subject"][0]["name"], "app.tgz");
        assert_eq!(value["predicateType"], "https://example.com/p/v1");
        assert_eq!(
            attestation_statement("a", &digest, "https://example.com/p/v1", b"not json", "p", SystemTime::now())
                .unwrap_err()
                .code(),
            "INVALID_PREDICATE"
        );
    }
}
