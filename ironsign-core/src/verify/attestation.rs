//! Attestation verification: the layers of an image's `.att` manifest (cosign.md §2).
//!
//! An attestation is accepted when every check passes on that same layer, in this order:
//! 1. the layer is a DSSE envelope (media type `application/vnd.dsse.envelope.v1+json`) whose
//!    `payloadType` is `application/vnd.in-toto+json` (any other type is rejected, never
//!    interpreted);
//! 2. the signer is established exactly as for signatures ([`Verifier`]'s certificate or key
//!    trust, identity policy), and a signature of the envelope verifies over the DSSE PAE;
//! 3. the payload is an in-toto statement (v0.1 or v1), some subject of which names this image's
//!    digest;
//! 4. its predicate type is the one asked for (read from the signed statement, never from the
//!    unsigned `predicateType` layer annotation);
//! 5. the subject carries every annotation the policy requires.
//!
//! Verification succeeds only if at least one attestation of the requested type passes all of
//! this: an image without any such attestation fails (cosign's CVE-2022-35929 accepted it). With a
//! Rego policy, every attestation that passed must also be allowed by it, as in cosign.

use super::rego::RegoPolicy;
use super::{Check, Policy, VerifiedSigner, Verifier, check_annotations};
use crate::cosign::{self, SignatureLayer, SignedImage};
use crate::dsse::{self, Envelope};
use crate::error::{Error, RejectionReason, SignatureRejection, VerificationError};
use crate::intoto::Statement;
use crate::reference::Digest;
use serde::Serialize;
use std::time::SystemTime;

/// Media type of a serialised [`AttestationResult`].
pub const ATTESTATION_RESULT_MEDIA_TYPE: &str = "application/vnd.ironsign.attestation-result+json;version=0.1";

/// An attestation that passed every check.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VerifiedAttestation {
    /// Its position among the `.att` layers.
    pub index: usize,
    /// Its envelope layer digest (for a bundle: the bundle blob's digest).
    pub layer_digest: Digest,
    /// Where it is stored: a `.att` layer or a Sigstore bundle referrer.
    pub format: crate::cosign::SignatureFormat,
    /// The referrer manifest digest, for a bundle.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub referrer: Option<Digest>,
    /// Its signer.
    pub signer: VerifiedSigner,
    /// The identity value that matched the policy, when one was required.
    pub matched_identity: Option<String>,
    /// The verified statement, as decoded JSON (what a Rego policy sees as `input`).
    pub statement: serde_json::Value,
    /// The checks that passed, in order.
    pub checks: Vec<Check>,
    /// The verified RFC 3161 timestamp the certificates were checked at, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<crate::tsa::VerifiedTimestamp>,
    /// The DSSE envelope verified, as `cosign verify-attestation` prints it (see
    /// [`crate::cosign::SignatureLayer::dsse_envelope`]).
    #[serde(skip)]
    pub envelope: Vec<u8>,
}

/// What attestation verification proved, and only that.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AttestationResult {
    /// [`ATTESTATION_RESULT_MEDIA_TYPE`].
    pub media_type: &'static str,
    /// The repository.
    pub repository: String,
    /// The image digest.
    pub digest: Digest,
    /// The predicate type required.
    pub predicate_type: String,
    /// The time certificates were checked at, RFC 3339.
    pub verified_at: String,
    /// Where that time came from: `current_time`.
    pub time_source: &'static str,
    /// The attestations that passed every check.
    pub attestations: Vec<VerifiedAttestation>,
    /// The attestations that did not (including those of other predicate types).
    pub rejected: Vec<SignatureRejection>,
}

impl Verifier {
    /// Verifies an image's attestations (the layers of its `.att` manifest and its Sigstore bundle
    /// referrers, fetched with `RegistryClient::fetch_attestations`) at the current time.
    pub fn verify_attestations(
        &self,
        image: &SignedImage,
        policy: &Policy,
        predicate_type: &str,
        rego: &[RegoPolicy],
    ) -> Result<AttestationResult, Error> {
        self.verify_attestations_at(image, policy, predicate_type, rego, SystemTime::now())
    }

    /// Verifies attestations, checking certificate validity at `at`.
    pub fn verify_attestations_at(
        &self,
        image: &SignedImage,
        policy: &Policy,
        predicate_type: &str,
        rego: &[RegoPolicy],
        at: SystemTime,
    ) -> Result<AttestationResult, Error> {
        policy.check_against(self.trust())?;
        let image_name = format!("{}@{}", image.repository, image.digest);
        let kind = "attestations";
        if image.signatures.is_empty() {
            return Err(VerificationError::NoSignatures { image: image_name, kind: kind.into() }.into());
        }
        let mut attestations = Vec::new();
        let mut rejected = Vec::new();
        for (index, layer) in image.signatures.iter().enumerate() {
            match self.check_attestation(image, layer, policy, predicate_type, at) {
                Ok(((signer, matched_identity, statement, checks), timestamp)) => {
                    attestations.push(VerifiedAttestation {
                        index,
                        layer_digest: layer.payload_digest.clone(),
                        format: layer.format(),
                        referrer: layer.referrer.clone(),
                        signer,
                        matched_identity,
                        statement,
                        checks,
                        timestamp,
                        envelope: layer.dsse_envelope().unwrap_or_default(),
                    })
                }
                Err(reason) => rejected.push(SignatureRejection::new(index, layer.payload_digest.to_string(), reason)),
            }
        }
        if attestations.is_empty() {
            return Err(VerificationError::NoMatchingSignature {
                image: image_name,
                kind: kind.into(),
                count: image.signatures.len(),
                rejections: rejected,
            }
            .into());
        }
        for rego in rego {
            let mut denials = Vec::new();
            for a in &mut attestations {
                match rego.evaluate(&a.statement) {
                    Ok(()) => a.checks.push(Check::Policy),
                    Err(reason) => denials.push(SignatureRejection::new(a.index, a.layer_digest.to_string(), reason)),
                }
            }
            if !denials.is_empty() {
                return Err(VerificationError::PolicyDenied {
                    image: image_name,
                    policy: rego.name().to_owned(),
                    verified: attestations.len(),
                    denials,
                }
                .into());
            }
        }
        Ok(AttestationResult {
            media_type: ATTESTATION_RESULT_MEDIA_TYPE,
            repository: image.repository.clone(),
            digest: image.digest.clone(),
            predicate_type: predicate_type.to_owned(),
            verified_at: crate::pki::format_unix(at.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default()),
            time_source: "current_time",
            attestations,
            rejected,
        })
    }

    #[allow(clippy::type_complexity)]
    fn check_attestation(
        &self,
        image: &SignedImage,
        layer: &SignatureLayer,
        policy: &Policy,
        predicate_type: &str,
        at: SystemTime,
    ) -> Result<
        ((VerifiedSigner, Option<String>, serde_json::Value, Vec<Check>), Option<crate::tsa::VerifiedTimestamp>),
        RejectionReason,
    > {
        if layer.format() == crate::cosign::SignatureFormat::SigstoreBundle {
            // A bundle's own timestamps are not used (no log or TSA verification material for
            // bundles yet), so its certificate is checked at the verification time.
            return self.check_bundle_attestation(image, layer, policy, predicate_type, at).map(|r| (r, None));
        }
        if layer.media_type != cosign::DSSE_MEDIA_TYPE {
            return Err(RejectionReason::MediaType {
                found: layer.media_type.clone(),
                expected: cosign::DSSE_MEDIA_TYPE.into(),
            });
        }
        let envelope = Envelope::parse(&layer.payload)?;
        if envelope.payload_type != dsse::INTOTO_PAYLOAD_TYPE {
            return Err(RejectionReason::PayloadType {
                found: envelope.payload_type,
                expected: dsse::INTOTO_PAYLOAD_TYPE.into(),
            });
        }
        let payload = envelope.payload_bytes()?;
        let signatures = envelope.signature_bytes()?;
        let pae = dsse::pae(&envelope.payload_type, &payload);
        let mut outcome = Err(RejectionReason::MalformedSignature { reason: "no signature".into() });
        for signature in &signatures {
            let mut checks = vec![Check::EnvelopeType];
            // cosign v2 timestamps the envelope blob (which holds this signature), cosign v3 this
            // DSSE signature: either binds the token to the signature verified just after.
            outcome =
                self.signing_time(layer, &[layer.payload.as_slice(), signature.as_slice()], at).and_then(|time| {
                    self.establish_signer_at(layer, &pae, signature, policy, &time, &mut checks)
                        .map(|(signer, matched)| (signer, matched, checks, time))
                });
            if outcome.is_ok() {
                break;
            }
        }
        let (signer, matched, mut checks, time) = outcome?;
        let statement = Statement::parse(&payload)?;
        let subject = statement.subject_for(&image.digest)?;
        checks.push(Check::SubjectBinding);
        if statement.predicate_type != predicate_type {
            return Err(RejectionReason::PredicateType {
                found: statement.predicate_type,
                expected: predicate_type.to_owned(),
            });
        }
        checks.push(Check::PredicateType);
        check_annotations(policy, subject.annotations.as_ref())?;
        if !policy.annotations().is_empty() {
            checks.push(Check::Annotations);
        }
        let json = serde_json::from_slice(&payload)
            .map_err(|e| RejectionReason::InvalidPayload { reason: format!("statement is not JSON: {e}") })?;
        Ok(((signer, matched, json, checks), time.timestamp))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intoto::StatementVersion;
    use crate::keys::{KeyKind, KeyPairSigner, Signer};
    use crate::pki::TrustRoot;
    use std::collections::BTreeMap;

    const TYPE: &str = "https://example.com/p/v1";

    struct Fixture {
        signer: KeyPairSigner,
        verifier: Verifier,
        digest: Digest,
    }

    impl Fixture {
        fn new() -> Self {
            let (signer, _) = KeyPairSigner::generate(KeyKind::EcdsaP256).unwrap();
            let verifier = Verifier::new(TrustRoot::from_public_keys(vec![signer.public_key().clone()]));
            Fixture { signer, verifier, digest: Digest::sha256(b"image") }
        }

        fn statement(&self, digest: &Digest, predicate_type: &str) -> Vec<u8> {
            Statement::for_image(StatementVersion::V01, "r/i", digest, predicate_type, serde_json::json!({"a": 1}))
                .to_json()
        }

        fn layer(&self, media_type: &str, envelope: &Envelope) -> SignatureLayer {
            let payload = envelope.to_json();
            SignatureLayer {
                media_type: media_type.into(),
                payload_digest: Digest::sha256(&payload),
                payload,
                annotations: BTreeMap::from([(cosign::SIGNATURE_ANNOTATION.to_owned(), String::new())]),
                referrer: None,
            }
        }

        fn good_envelope(&self) -> Envelope {
            Envelope::sign(dsse::INTOTO_PAYLOAD_TYPE, &self.statement(&self.digest, TYPE), &self.signer).unwrap()
        }

        fn verify(&self, layers: Vec<SignatureLayer>, policy: &Policy) -> Result<AttestationResult, Error> {
            let image = SignedImage { repository: "r/i".into(), digest: self.digest.clone(), signatures: layers };
            self.verifier.verify_attestations(&image, policy, TYPE, &[])
        }

        /// The first rejection's code, when verifying `layer` alone fails as it must.
        fn rejection(&self, layer: SignatureLayer, policy: &Policy) -> &'static str {
            match self.verify(vec![layer], policy) {
                Err(Error::Verification(VerificationError::NoMatchingSignature { rejections, .. })) => {
                    rejections[0].reason.code()
                }
                other => panic!("expected a rejection, got {other:?}"),
            }
        }
    }

    #[test]
    fn each_check_rejects() {
        let f = Fixture::new();
        let key = Policy::key_only();
        let good = f.layer(cosign::DSSE_MEDIA_TYPE, &f.good_envelope());
        let result = f.verify(vec![good.clone()], &key).unwrap();
        assert_eq!(
            result.attestations[0].checks,
            [Check::EnvelopeType, Check::TrustedKey, Check::Signature, Check::SubjectBinding, Check::PredicateType]
        );

        assert_eq!(
            f.rejection(f.layer(cosign::SIMPLE_SIGNING_MEDIA_TYPE, &f.good_envelope()), &key),
            "MEDIA_TYPE_MISMATCH"
        );
        let mut not_json = good.clone();
        not_json.payload = b"not json".to_vec();
        assert_eq!(f.rejection(not_json, &key), "INVALID_PAYLOAD");
        let foreign = Envelope::sign("application/json", &f.statement(&f.digest, TYPE), &f.signer).unwrap();
        assert_eq!(f.rejection(f.layer(cosign::DSSE_MEDIA_TYPE, &foreign), &key), "PAYLOAD_TYPE_MISMATCH");
        let mut unsigned = f.good_envelope();
        unsigned.signatures.clear();
        assert_eq!(f.rejection(f.layer(cosign::DSSE_MEDIA_TYPE, &unsigned), &key), "MALFORMED_SIGNATURE");
        let (stranger, _) = KeyPairSigner::generate(KeyKind::EcdsaP256).unwrap();
        let by_stranger = Envelope::sign(dsse::INTOTO_PAYLOAD_TYPE, &f.statement(&f.digest, TYPE), &stranger).unwrap();
        assert_eq!(f.rejection(f.layer(cosign::DSSE_MEDIA_TYPE, &by_stranger), &key), "BAD_SIGNATURE");
        // Signed over the payload alone, not over the PAE.
        let mut raw = f.good_envelope();
        let statement = f.statement(&f.digest, TYPE);
        use base64::Engine as _;
        raw.signatures[0].sig = base64::engine::general_purpose::STANDARD.encode(f.signer.sign(&statement).unwrap());
        assert_eq!(f.rejection(f.layer(cosign::DSSE_MEDIA_TYPE, &raw), &key), "BAD_SIGNATURE");
        let elsewhere =
            Envelope::sign(dsse::INTOTO_PAYLOAD_TYPE, &f.statement(&Digest::sha256(b"other"), TYPE), &f.signer)
                .unwrap();
        assert_eq!(f.rejection(f.layer(cosign::DSSE_MEDIA_TYPE, &elsewhere), &key), "SUBJECT_MISMATCH");
        let other_type =
            Envelope::sign(dsse::INTOTO_PAYLOAD_TYPE, &f.statement(&f.digest, "https://example.com/q"), &f.signer)
                .unwrap();
        assert_eq!(f.rejection(f.layer(cosign::DSSE_MEDIA_TYPE, &other_type), &key), "PREDICATE_TYPE_MISMATCH");
        let annotated = Policy::key_only().with_annotation("env", "prod");
        assert_eq!(f.rejection(good.clone(), &annotated), "ANNOTATION_MISMATCH");

        // No attestations at all, and attestations of another type only, both fail.
        assert!(matches!(f.verify(vec![], &key), Err(Error::Verification(VerificationError::NoSignatures { .. }))));
        // One good attestation among bad ones suffices.
        let mixed = vec![f.layer(cosign::DSSE_MEDIA_TYPE, &other_type), good];
        let result = f.verify(mixed, &key).unwrap();
        assert_eq!((result.attestations.len(), result.rejected.len()), (1, 1));
    }

    #[test]
    fn policy_must_allow_every_verified_attestation() {
        let f = Fixture::new();
        let good = f.layer(cosign::DSSE_MEDIA_TYPE, &f.good_envelope());
        let image = SignedImage { repository: "r/i".into(), digest: f.digest.clone(), signatures: vec![good] };
        let allow = RegoPolicy::new("allow.rego", "package signature\nallow { input.predicate.a == 1 }\n").unwrap();
        let deny = RegoPolicy::new("deny.rego", "package signature\nallow { input.predicate.a == 2 }\n").unwrap();
        let result =
            f.verifier.verify_attestations(&image, &Policy::key_only(), TYPE, std::slice::from_ref(&allow)).unwrap();
        assert_eq!(result.attestations[0].checks.last(), Some(&Check::Policy));
        let err = f.verifier.verify_attestations(&image, &Policy::key_only(), TYPE, &[allow, deny]).unwrap_err();
        assert_eq!(err.code(), "POLICY_DENIED");
    }
}
