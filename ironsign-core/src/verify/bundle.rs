//! Verification of Sigstore bundle v0.3 referrers ([`crate::bundle`]), cosign v3's default
//! output, with the same trust and policy as the legacy `.sig`/`.att` layers.
//!
//! A bundle is accepted when every check passes on it, in this order:
//! 1. it is a v0.3 bundle (layer media type and the bundle's own `mediaType`) holding a DSSE
//!    envelope whose `payloadType` is in-toto (a `messageSignature` bundle signs a blob, never an
//!    image, and is rejected);
//! 2. its verification material establishes the signer exactly as a legacy layer's annotations
//!    do ([`Verifier`]'s certificate or key trust): the leaf must chain to a configured root (the
//!    bundle's `x509CertificateChain` only ever supplies untrusted intermediates), allow code
//!    signing, be valid with its CAs at the verification time and match the policy's identity;
//!    a public-key hint is never trusted, every configured key is tried; and a signature of the
//!    envelope verifies over the DSSE PAE;
//! 3. a subject of the statement names the image digest;
//! 4. the predicate type is the expected one: `https://sigstore.dev/cosign/sign/v1` for an image
//!    signature (cosign v3 counts any verified attestation as a signature; ironsign does not),
//!    the asked-for type for an attestation;
//! 5. the subject carries the annotations the policy requires (cosign v3 writes `-a` there).
//!
//! Transparency-log entries and RFC 3161 timestamps in a bundle are not used: ironsign configures
//! no log, so a log entry proves nothing here and its integrated time never replaces the current
//! time (an expired certificate stays expired). Such a bundle is verified like one without them.

use super::{Check, Policy, VerifiedSigner, Verifier, check_annotations};
use crate::bundle::{self, Bundle, BundleContent};
use crate::cosign::{CERTIFICATE_ANNOTATION, CHAIN_ANNOTATION, SignatureLayer, SignedImage, SimpleSigning};
use crate::dsse;
use crate::error::RejectionReason;
use crate::intoto::Statement;
use crate::pki::Certificate;
use std::collections::BTreeMap;
use std::time::SystemTime;

/// What a bundle proved before its predicate type is judged.
struct VerifiedEnvelope {
    signer: VerifiedSigner,
    matched: Option<String>,
    statement: Statement,
    payload: Vec<u8>,
    checks: Vec<Check>,
}

impl Verifier {
    /// Checks a bundle referrer as an image signature.
    pub(super) fn check_bundle_signature(
        &self,
        image: &SignedImage,
        layer: &SignatureLayer,
        policy: &Policy,
        at: SystemTime,
    ) -> Result<(VerifiedSigner, Option<String>, SimpleSigning, Vec<Check>), RejectionReason> {
        let v = self.verify_bundle_envelope(image, layer, policy, at, bundle::COSIGN_SIGN_PREDICATE_TYPE)?;
        let optional = v.statement.subject_for(&image.digest)?.annotations.clone().unwrap_or_default();
        // cosign v3 prints a verified bundle in the simple-signing shape, its type the predicate type.
        let payload = SimpleSigning {
            docker_reference: image.repository.clone(),
            docker_manifest_digest: image.digest.to_string(),
            kind: v.statement.predicate_type,
            optional,
        };
        Ok((v.signer, v.matched, payload, v.checks))
    }

    /// Checks a bundle referrer as an attestation of `predicate_type`; returns the statement JSON.
    pub(super) fn check_bundle_attestation(
        &self,
        image: &SignedImage,
        layer: &SignatureLayer,
        policy: &Policy,
        predicate_type: &str,
        at: SystemTime,
    ) -> Result<(VerifiedSigner, Option<String>, serde_json::Value, Vec<Check>), RejectionReason> {
        let v = self.verify_bundle_envelope(image, layer, policy, at, predicate_type)?;
        let json = serde_json::from_slice(&v.payload)
            .map_err(|e| RejectionReason::InvalidPayload { reason: format!("statement is not JSON: {e}") })?;
        Ok((v.signer, v.matched, json, v.checks))
    }

    fn verify_bundle_envelope(
        &self,
        image: &SignedImage,
        layer: &SignatureLayer,
        policy: &Policy,
        at: SystemTime,
        predicate_type: &str,
    ) -> Result<VerifiedEnvelope, RejectionReason> {
        if !bundle::is_v03(&layer.media_type) {
            return Err(RejectionReason::MediaType {
                found: layer.media_type.clone(),
                expected: bundle::BUNDLE_MEDIA_TYPE.into(),
            });
        }
        let parsed = Bundle::parse(&layer.payload, self.max_chain)?;
        let BundleContent::Dsse(envelope) = &parsed.content else {
            return Err(RejectionReason::PayloadType {
                found: "message-signature bundle".into(),
                expected: "dsse-envelope bundle".into(),
            });
        };
        if envelope.payload_type != dsse::INTOTO_PAYLOAD_TYPE {
            return Err(RejectionReason::PayloadType {
                found: envelope.payload_type.clone(),
                expected: dsse::INTOTO_PAYLOAD_TYPE.into(),
            });
        }
        let material = material_layer(layer, &parsed)?;
        let payload = envelope.payload_bytes()?;
        let pae = dsse::pae(&envelope.payload_type, &payload);
        let mut outcome = Err(RejectionReason::MalformedSignature { reason: "no signature".into() });
        for signature in &envelope.signature_bytes()? {
            let mut checks = vec![Check::EnvelopeType];
            outcome = self
                .establish_signer(&material, &pae, signature, policy, at, &mut checks)
                .map(|(signer, matched)| (signer, matched, checks));
            if outcome.is_ok() {
                break;
            }
        }
        let (signer, matched, mut checks) = outcome?;
        let statement = Statement::parse(&payload)?;
        let subject = statement.subject_for(&image.digest)?;
        checks.push(Check::SubjectBinding);
        if statement.predicate_type != predicate_type {
            return Err(RejectionReason::PredicateType {
                found: statement.predicate_type.clone(),
                expected: predicate_type.to_owned(),
            });
        }
        checks.push(Check::PredicateType);
        check_annotations(policy, subject.annotations.as_ref())?;
        if !policy.annotations().is_empty() {
            checks.push(Check::Annotations);
        }
        Ok(VerifiedEnvelope { signer, matched, statement, payload, checks })
    }
}

/// The bundle's verification material as the certificate and chain annotations a legacy layer
/// carries, so that both formats go through the same signer checks. A certificate that does not
/// parse is rejected here, never treated as a key.
fn material_layer(layer: &SignatureLayer, bundle: &Bundle) -> Result<SignatureLayer, RejectionReason> {
    let mut annotations = BTreeMap::new();
    if let Some((leaf, intermediates)) = bundle.material.certificates() {
        let leaf = Certificate::from_der(leaf, "bundle certificate").map_err(RejectionReason::Certificate)?;
        annotations.insert(CERTIFICATE_ANNOTATION.to_owned(), leaf.to_pem());
        let mut chain = String::new();
        for (i, der) in intermediates.iter().enumerate() {
            let cert = Certificate::from_der(der, &format!("bundle x509CertificateChain certificate {}", i + 1))
                .map_err(RejectionReason::Certificate)?;
            chain.push_str(&cert.to_pem());
        }
        annotations.insert(CHAIN_ANNOTATION.to_owned(), chain);
    }
    Ok(SignatureLayer {
        media_type: layer.media_type.clone(),
        payload: Vec::new(),
        payload_digest: layer.payload_digest.clone(),
        annotations,
        referrer: layer.referrer.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bundle::VerificationMaterial;
    use crate::dsse::Envelope;
    use crate::error::{Error, VerificationError};
    use crate::intoto::StatementVersion;
    use crate::keys::{KeyKind, KeyPairSigner, Signer};
    use crate::pki::TrustRoot;
    use crate::reference::Digest;

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

        fn bundle(&self, statement: &[u8], payload_type: &str) -> Bundle {
            let envelope = Envelope::sign(payload_type, statement, &self.signer).unwrap();
            let hint = bundle::public_key_hint(self.signer.public_key());
            Bundle::dsse(envelope, VerificationMaterial::PublicKey { hint })
        }

        fn layer(&self, bytes: Vec<u8>) -> SignatureLayer {
            SignatureLayer {
                media_type: bundle::BUNDLE_MEDIA_TYPE.into(),
                payload_digest: Digest::sha256(&bytes),
                payload: bytes,
                annotations: BTreeMap::new(),
                referrer: Some(Digest::sha256(b"referrer manifest")),
            }
        }

        fn image(&self, layers: Vec<SignatureLayer>) -> SignedImage {
            SignedImage { repository: "r/i".into(), digest: self.digest.clone(), signatures: layers }
        }

        fn signature_rejection(&self, layer: SignatureLayer, policy: &Policy) -> &'static str {
            match self.verifier.verify(&self.image(vec![layer]), policy) {
                Err(Error::Verification(VerificationError::NoMatchingSignature { rejections, .. })) => {
                    rejections[0].reason.code()
                }
                other => panic!("expected a rejection, got {other:?}"),
            }
        }
    }

    #[test]
    fn signature_bundles_verify_and_each_check_rejects() {
        let f = Fixture::new();
        let key = Policy::key_only();
        let annotations = BTreeMap::from([("k".to_owned(), "v".to_owned())]);
        let good =
            f.layer(f.bundle(&bundle::sign_statement(&f.digest, &annotations), dsse::INTOTO_PAYLOAD_TYPE).to_json());
        let result = f.verifier.verify(&f.image(vec![good.clone()]), &key.clone().with_annotation("k", "v")).unwrap();
        let s = &result.signatures[0];
        assert_eq!(s.format, crate::cosign::SignatureFormat::SigstoreBundle);
        assert_eq!(s.referrer, good.referrer);
        assert_eq!(s.payload.kind, bundle::COSIGN_SIGN_PREDICATE_TYPE);
        assert_eq!(s.payload.optional["k"], "v");
        assert_eq!(
            s.checks,
            [
                Check::EnvelopeType,
                Check::TrustedKey,
                Check::Signature,
                Check::SubjectBinding,
                Check::PredicateType,
                Check::Annotations
            ]
        );

        // Tampered: one byte of the statement changed after signing.
        let mut tampered = f.bundle(&bundle::sign_statement(&f.digest, &BTreeMap::new()), dsse::INTOTO_PAYLOAD_TYPE);
        if let BundleContent::Dsse(e) = &mut tampered.content {
            let mut payload = e.payload_bytes().unwrap();
            payload[10] ^= 1;
            use base64::Engine as _;
            e.payload = base64::engine::general_purpose::STANDARD.encode(payload);
        }
        assert_eq!(f.signature_rejection(f.layer(tampered.to_json()), &key), "BAD_SIGNATURE");
        // Another image's digest.
        let elsewhere =
            f.bundle(&bundle::sign_statement(&Digest::sha256(b"other"), &BTreeMap::new()), dsse::INTOTO_PAYLOAD_TYPE);
        assert_eq!(f.signature_rejection(f.layer(elsewhere.to_json()), &key), "SUBJECT_MISMATCH");
        // An attestation is not a signature.
        let statement =
            Statement::for_image(StatementVersion::V01, "r/i", &f.digest, TYPE, serde_json::json!({})).to_json();
        let attestation = f.layer(f.bundle(&statement, dsse::INTOTO_PAYLOAD_TYPE).to_json());
        assert_eq!(f.signature_rejection(attestation.clone(), &key), "PREDICATE_TYPE_MISMATCH");
        // Another payload type, a message signature, another bundle version, a missing annotation.
        let json = f.bundle(&bundle::sign_statement(&f.digest, &BTreeMap::new()), "application/json");
        assert_eq!(f.signature_rejection(f.layer(json.to_json()), &key), "PAYLOAD_TYPE_MISMATCH");
        let message = format!(
            r#"{{"mediaType":"{}","verificationMaterial":{{"publicKey":{{"hint":""}}}},"messageSignature":{{"signature":"AA=="}}}}"#,
            bundle::BUNDLE_MEDIA_TYPE
        );
        assert_eq!(f.signature_rejection(f.layer(message.into_bytes()), &key), "PAYLOAD_TYPE_MISMATCH");
        let mut old = good.clone();
        old.media_type = "application/vnd.dev.sigstore.bundle+json;version=0.2".into();
        assert_eq!(f.signature_rejection(old, &key), "MEDIA_TYPE_MISMATCH");
        assert_eq!(f.signature_rejection(good.clone(), &key.clone().with_annotation("k", "w")), "ANNOTATION_MISMATCH");
        // Signed by a key nobody configured.
        let stranger = Fixture::new();
        let foreign = f.layer(
            stranger.bundle(&bundle::sign_statement(&f.digest, &BTreeMap::new()), dsse::INTOTO_PAYLOAD_TYPE).to_json(),
        );
        assert_eq!(f.signature_rejection(foreign, &key), "BAD_SIGNATURE");

        // As an attestation: the sign bundle is of another type, the attestation bundle passes.
        let result = f.verifier.verify_attestations(&f.image(vec![good, attestation]), &key, TYPE, &[]).unwrap();
        assert_eq!((result.attestations.len(), result.rejected.len()), (1, 1));
        assert_eq!(result.attestations[0].format, crate::cosign::SignatureFormat::SigstoreBundle);
        assert_eq!(result.rejected[0].code, "PREDICATE_TYPE_MISMATCH");
    }
}
