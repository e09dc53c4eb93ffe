//! Verification of blob signatures and attestations ([`crate::blob`]): the same signer checks
//! as images (certificate chain, code-signing usage, validity, identity, or a configured key;
//! an RFC 3161 timestamp verified against the configured TSA roots dates the certificates),
//! with the blob in place of the image digest.
//!
//! A blob signature is accepted when, in this order: the evidence decodes (a bundle, or a
//! signature with optional certificate and timestamp; never a bundle *and* loose parts that would
//! go unread); a Sigstore bundle's `messageSignature` names the blob's digest; a timestamp, when
//! TSA roots are configured and one is present, is over the signature and verifies; the signer is
//! established and its signature verifies over the blob's bytes.
//!
//! A blob attestation is accepted when the envelope's payload type is in-toto, the signer is
//! established over the DSSE PAE (a timestamp may be over the envelope, as cosign v2 makes it, or
//! over the DSSE signature, as v3 does), the statement names the blob's digest in a subject
//! (unless the caller skips that, cosign's `--check-claims=false`), and its predicate type is the
//! one asked for.
//!
//! Transparency-log entries in a bundle are not used, as for images: their integrated time never
//! stands in for a verified timestamp.

use super::{Check, Policy, SigningTime, VerifiedSigner, Verifier, check_annotations};
use crate::blob::{BlobEvidence, BlobFormat, BlobParts, digest_by_name, rejected};
use crate::cosign::{CERTIFICATE_ANNOTATION, CHAIN_ANNOTATION, RFC3161_ANNOTATION, SignatureLayer};
use crate::dsse;
use crate::error::{Error, InputError, RejectionReason};
use crate::intoto::Statement;
use crate::reference::Digest;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::SystemTime;

/// Media type of a serialised [`BlobVerification`].
pub const BLOB_RESULT_MEDIA_TYPE: &str = "application/vnd.ironsign.blob-verification-result+json;version=0.1";

/// What verifying a blob signature or attestation proved, and only that.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BlobVerification {
    /// [`BLOB_RESULT_MEDIA_TYPE`].
    pub media_type: &'static str,
    /// The blob's SHA-256 (for an attestation: the subject digest checked, if one was).
    pub digest: Option<Digest>,
    /// How the signature was packaged.
    pub format: BlobFormat,
    /// Who signed.
    pub signer: VerifiedSigner,
    /// The identity value that matched the policy, when one was required.
    pub matched_identity: Option<String>,
    /// The checks that passed, in order.
    pub checks: Vec<Check>,
    /// The verified RFC 3161 timestamp the certificates were checked at, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<crate::tsa::VerifiedTimestamp>,
    /// For an attestation: the verified statement, as decoded JSON.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub statement: Option<serde_json::Value>,
    /// The time certificates were checked at when no timestamp dated them, RFC 3339.
    pub verified_at: String,
}

impl Verifier {
    /// Verifies a blob signature at the current time.
    pub fn verify_blob(
        &self,
        blob: &[u8],
        evidence: &BlobEvidence,
        policy: &Policy,
    ) -> Result<BlobVerification, Error> {
        self.verify_blob_at(blob, evidence, policy, SystemTime::now())
    }

    /// Verifies a blob signature, checking certificates at `at` (or at a verified timestamp's
    /// time).
    pub fn verify_blob_at(
        &self,
        blob: &[u8],
        evidence: &BlobEvidence,
        policy: &Policy,
        at: SystemTime,
    ) -> Result<BlobVerification, Error> {
        policy.check_against(self.trust())?;
        if !policy.annotations().is_empty() {
            return Err(InputError::arg("annotations", "a blob signature has no payload to hold annotations").into());
        }
        let parts = evidence.parts(false, self.max_chain)?;
        let mut checks = Vec::new();
        if let Some((algorithm, claimed)) = &parts.message_digest {
            let computed = digest_by_name(algorithm, blob).ok_or_else(|| {
                rejected(
                    RejectionReason::InvalidPayload {
                        reason: format!("unsupported messageDigest algorithm {algorithm:?}"),
                    },
                    false,
                )
            })?;
            if computed != *claimed {
                let reason =
                    RejectionReason::DigestMismatch { expected: hex::encode(computed), found: hex::encode(claimed) };
                return Err(rejected(reason, false));
            }
            checks.push(Check::DigestBinding);
        }
        let (signer, matched_identity, timestamp) = self
            .blob_signer(&parts, blob, &parts.signature, &[parts.signature.as_slice()], policy, at, &mut checks)
            .map_err(|r| rejected(r, false))?;
        Ok(BlobVerification {
            media_type: BLOB_RESULT_MEDIA_TYPE,
            digest: Some(Digest::sha256(blob)),
            format: parts.format,
            signer,
            matched_identity,
            checks,
            timestamp,
            statement: None,
            verified_at: crate::pki::format_unix(at.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default()),
        })
    }

    /// Verifies a blob attestation at the current time: `subject` is the blob's digest its
    /// statement must name (`None` skips that check, as cosign's `--check-claims=false`), and
    /// `predicate_type` the type it must have (`None`: any).
    pub fn verify_blob_attestation(
        &self,
        subject: Option<&Digest>,
        evidence: &BlobEvidence,
        policy: &Policy,
        predicate_type: Option<&str>,
    ) -> Result<BlobVerification, Error> {
        self.verify_blob_attestation_at(subject, evidence, policy, predicate_type, SystemTime::now())
    }

    /// [`Self::verify_blob_attestation`], checking certificates at `at`.
    pub fn verify_blob_attestation_at(
        &self,
        subject: Option<&Digest>,
        evidence: &BlobEvidence,
        policy: &Policy,
        predicate_type: Option<&str>,
        at: SystemTime,
    ) -> Result<BlobVerification, Error> {
        policy.check_against(self.trust())?;
        if subject.is_none() && !policy.annotations().is_empty() {
            return Err(InputError::arg("annotations", "subject annotations need the subject check").into());
        }
        let parts = evidence.parts(true, self.max_chain)?;
        let fail = |r| rejected(r, true);
        let envelope = parts
            .envelope
            .as_ref()
            .ok_or_else(|| fail(RejectionReason::InvalidPayload { reason: "no envelope".into() }))?;
        if envelope.payload_type != dsse::INTOTO_PAYLOAD_TYPE {
            return Err(fail(RejectionReason::PayloadType {
                found: envelope.payload_type.clone(),
                expected: dsse::INTOTO_PAYLOAD_TYPE.into(),
            }));
        }
        let payload = envelope.payload_bytes().map_err(fail)?;
        let pae = dsse::pae(&envelope.payload_type, &payload);
        // cosign v2 timestamps the envelope as written (a saved stdout adds a newline), v3 the
        // DSSE signature: each binds the token to the signature verified.
        let envelope_bytes = parts.signature.as_slice();
        let trimmed = envelope_bytes.trim_ascii_end();
        let mut outcome = Err(RejectionReason::MalformedSignature { reason: "no signature".into() });
        for signature in &envelope.signature_bytes().map_err(fail)? {
            let mut checks = vec![Check::EnvelopeType];
            let covered = [envelope_bytes, trimmed, signature.as_slice()];
            outcome = self
                .blob_signer(&parts, &pae, signature, &covered, policy, at, &mut checks)
                .map(|signer| (signer, checks));
            if outcome.is_ok() {
                break;
            }
        }
        let ((signer, matched_identity, timestamp), mut checks) = outcome.map_err(fail)?;
        let statement = Statement::parse(&payload).map_err(fail)?;
        if let Some(digest) = subject {
            let named = statement.subject_for(digest).map_err(fail)?;
            checks.push(Check::SubjectBinding);
            check_annotations(policy, named.annotations.as_ref()).map_err(fail)?;
            if !policy.annotations().is_empty() {
                checks.push(Check::Annotations);
            }
        }
        if let Some(expected) = predicate_type {
            if statement.predicate_type != expected {
                return Err(fail(RejectionReason::PredicateType {
                    found: statement.predicate_type,
                    expected: expected.to_owned(),
                }));
            }
            checks.push(Check::PredicateType);
        }
        let json = serde_json::from_slice(&payload)
            .map_err(|e| fail(RejectionReason::InvalidPayload { reason: format!("statement is not JSON: {e}") }))?;
        Ok(BlobVerification {
            media_type: BLOB_RESULT_MEDIA_TYPE,
            digest: subject.cloned(),
            format: parts.format,
            signer,
            matched_identity,
            checks,
            timestamp,
            statement: Some(json),
            verified_at: crate::pki::format_unix(at.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default()),
        })
    }

    /// Establishes the signer of a blob signature over `signed`, as for an image layer: the
    /// evidence's certificate, chain and each timestamp in turn go through the image verifier's
    /// checks. `covered` lists the bytes a timestamp may be over.
    #[allow(clippy::too_many_arguments, clippy::type_complexity)]
    fn blob_signer(
        &self,
        parts: &BlobParts,
        signed: &[u8],
        signature: &[u8],
        covered: &[&[u8]],
        policy: &Policy,
        at: SystemTime,
        checks: &mut Vec<Check>,
    ) -> Result<(VerifiedSigner, Option<String>, Option<crate::tsa::VerifiedTimestamp>), RejectionReason> {
        let mut annotations = BTreeMap::new();
        if let Some(cert) = &parts.certificate_pem {
            annotations.insert(CERTIFICATE_ANNOTATION.to_owned(), cert.clone());
            annotations.insert(CHAIN_ANNOTATION.to_owned(), parts.chain_pem.clone().unwrap_or_default());
        }
        let mut layer = SignatureLayer {
            media_type: String::new(),
            payload: Vec::new(),
            payload_digest: Digest::sha256(b""),
            annotations,
            referrer: None,
        };
        // The first timestamp that verifies dates the signature; with none, the first failure
        // is the reason (a timestamp that does not verify is never skipped for the current time).
        let mut time: Result<SigningTime, RejectionReason> = self.signing_time(&layer, covered, at);
        for (i, token) in parts.timestamps.iter().enumerate() {
            layer.annotations.insert(RFC3161_ANNOTATION.to_owned(), crate::tsa::annotation_value(token));
            let this = self.signing_time(&layer, covered, at);
            if i == 0 || this.is_ok() {
                time = this;
            }
            if time.as_ref().is_ok_and(|t| t.timestamp.is_some()) {
                break;
            }
        }
        let time = time?;
        let (signer, matched) = self.establish_signer_at(&layer, signed, signature, policy, &time, checks)?;
        Ok((signer, matched, time.timestamp))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blob::{attest_blob, blob_statement, sign_blob};
    use crate::keys::{KeyKind, KeyPairSigner, Signer as _};
    use crate::pki::TrustRoot;
    use crate::sign::SigningMaterial;
    use std::sync::Arc;

    fn code(e: Error) -> &'static str {
        match e {
            Error::Verification(crate::error::VerificationError::NoMatchingSignature { rejections, .. }) => {
                rejections[0].reason.code()
            }
            other => other.code(),
        }
    }

    #[tokio::test]
    async fn blob_signatures_verify_in_every_packaging_and_each_check_rejects() {
        let (signer, _) = KeyPairSigner::generate(KeyKind::EcdsaP256).unwrap();
        let verifier = Verifier::new(TrustRoot::from_public_keys(vec![signer.public_key().clone()]));
        let material = SigningMaterial::new(Arc::new(signer));
        let blob = b"chart.tgz bytes";
        let signed = sign_blob(blob, &material).await.unwrap();
        let key = Policy::key_only();
        let bundle = |b: Vec<u8>| BlobEvidence { bundle: Some(b), ..Default::default() };
        let detached = BlobEvidence { signature: Some(signed.signature_base64().into_bytes()), ..Default::default() };
        for evidence in [bundle(signed.sigstore_bundle()), bundle(signed.legacy_bundle()), detached.clone()] {
            let result = verifier.verify_blob(blob, &evidence, &key).unwrap();
            assert!(result.checks.contains(&Check::Signature));
        }
        // Another blob: the signature does not verify; the Sigstore bundle names another digest.
        assert_eq!(code(verifier.verify_blob(b"other", &detached, &key).unwrap_err()), "BAD_SIGNATURE");
        assert_eq!(
            code(verifier.verify_blob(b"other", &bundle(signed.sigstore_bundle()), &key).unwrap_err()),
            "DIGEST_MISMATCH"
        );
        // A bundle whose digest was rewritten to another blob's, signature unchanged.
        let mut forged = signed.clone();
        forged.message_digest = Some(("SHA2_256".into(), vec![0; 32]));
        assert_eq!(
            code(verifier.verify_blob(blob, &bundle(forged.sigstore_bundle()), &key).unwrap_err()),
            "DIGEST_MISMATCH"
        );
        // Signed by another key.
        let (stranger, _) = KeyPairSigner::generate(KeyKind::EcdsaP256).unwrap();
        let theirs = sign_blob(blob, &SigningMaterial::new(Arc::new(stranger))).await.unwrap();
        assert_eq!(
            code(verifier.verify_blob(blob, &bundle(theirs.sigstore_bundle()), &key).unwrap_err()),
            "BAD_SIGNATURE"
        );
        // An attestation bundle is not a blob signature, nor the reverse.
        let statement =
            blob_statement("dir/chart.tgz", &Digest::sha256(blob), "https://example.com/p", serde_json::json!({}));
        assert_eq!(statement.subject[0].name, "chart.tgz");
        let attested = attest_blob(&statement.to_json(), &material, BlobFormat::SigstoreBundle).await.unwrap();
        assert_eq!(
            code(verifier.verify_blob(blob, &bundle(attested.sigstore_bundle()), &key).unwrap_err()),
            "PAYLOAD_TYPE_MISMATCH"
        );
        let wrong = verifier.verify_blob_attestation(None, &bundle(signed.sigstore_bundle()), &key, None).unwrap_err();
        assert_eq!(code(wrong), "PAYLOAD_TYPE_MISMATCH");
        // Annotations cannot be required of a blob signature.
        let annotated = key.clone().with_annotation("a", "b");
        assert_eq!(code(verifier.verify_blob(blob, &detached, &annotated).unwrap_err()), "INVALID_ARGUMENT");
    }

    #[tokio::test]
    async fn blob_attestations_bind_the_blob_and_the_type() {
        let (signer, _) = KeyPairSigner::generate(KeyKind::EcdsaP256).unwrap();
        let verifier = Verifier::new(TrustRoot::from_public_keys(vec![signer.public_key().clone()]));
        let material = SigningMaterial::new(Arc::new(signer));
        let (blob, kind) = (Digest::sha256(b"sbom.json"), "https://example.com/p");
        let statement = blob_statement("sbom.json", &blob, kind, serde_json::json!({"a": 1})).to_json();
        let key = Policy::key_only();
        for format in [BlobFormat::SigstoreBundle, BlobFormat::LegacyBundle, BlobFormat::Detached] {
            let attested = attest_blob(&statement, &material, format).await.unwrap();
            let evidence = match format {
                BlobFormat::SigstoreBundle => {
                    BlobEvidence { bundle: Some(attested.sigstore_bundle()), ..Default::default() }
                }
                BlobFormat::LegacyBundle => {
                    BlobEvidence { bundle: Some(attested.legacy_bundle()), ..Default::default() }
                }
                BlobFormat::Detached => BlobEvidence { signature: attested.envelope_json(), ..Default::default() },
            };
            let result = verifier.verify_blob_attestation(Some(&blob), &evidence, &key, Some(kind)).unwrap();
            assert_eq!(result.format, format);
            assert_eq!(result.statement.unwrap()["predicate"]["a"], 1);
            let other = verifier.verify_blob_attestation(Some(&Digest::sha256(b"other")), &evidence, &key, Some(kind));
            assert_eq!(code(other.unwrap_err()), "SUBJECT_MISMATCH");
            let typed = verifier.verify_blob_attestation(Some(&blob), &evidence, &key, Some("https://example.com/q"));
            assert_eq!(code(typed.unwrap_err()), "PREDICATE_TYPE_MISMATCH");
        }
        // Signed over the statement alone rather than the PAE.
        let mut raw = attest_blob(&statement, &material, BlobFormat::Detached).await.unwrap().envelope.unwrap();
        use base64::Engine as _;
        raw.signatures[0].sig =
            base64::engine::general_purpose::STANDARD.encode(material.signer().sign(&statement).unwrap());
        let evidence = BlobEvidence { signature: Some(raw.to_json()), ..Default::default() };
        assert_eq!(
            code(verifier.verify_blob_attestation(Some(&blob), &evidence, &key, None).unwrap_err()),
            "BAD_SIGNATURE"
        );
    }
}
