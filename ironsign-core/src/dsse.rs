//! DSSE envelopes (Dead Simple Signing Envelope, `secure-systems-lab/dsse` protocol v1.0).
//!
//! An attestation layer's blob is an envelope: a base64 payload, its type, and signatures over
//! the *pre-authentication encoding* (PAE) of the two, never over the payload alone, so a
//! signature cannot be replayed under another payload type.
//!
//! Envelopes are parsed, never byte-compared: cosign v2 writes `payloadType, payload,
//! signatures[{keyid, sig}]` while v3's protobuf path writes `payload, payloadType,
//! signatures[{sig}]` (cosign.md §2). ironsign writes the v2 shape.

use crate::error::{KeyError, RejectionReason};
use crate::keys::Signer;
use base64::Engine as _;
use serde::{Deserialize, Serialize};

/// The payload type of an in-toto statement, the only one attestations are verified with.
pub const INTOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";

/// Most signatures an envelope may carry to be verified. cosign writes one; each is tried in
/// turn, so the bound caps the work a hostile envelope can ask for.
pub const MAX_ENVELOPE_SIGNATURES: usize = 16;

/// The pre-authentication encoding: `"DSSEv1" SP len(type) SP type SP len(body) SP body`, lengths
/// as ASCII decimal byte counts (DSSE protocol, "Signature definition").
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + payload_type.len() + 32);
    out.extend_from_slice(format!("DSSEv1 {} {payload_type} {} ", payload_type.len(), payload.len()).as_bytes());
    out.extend_from_slice(payload);
    out
}

/// One signature of an envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvelopeSignature {
    /// Key hint; cosign writes `""` (v2) or omits it (v3).
    #[serde(default)]
    pub keyid: String,
    /// Base64 signature over the PAE.
    pub sig: String,
}

/// A DSSE envelope as stored in an attestation layer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Envelope {
    /// What the payload is, e.g. [`INTOTO_PAYLOAD_TYPE`].
    pub payload_type: String,
    /// The payload, base64.
    pub payload: String,
    /// Signatures over the PAE.
    pub signatures: Vec<EnvelopeSignature>,
}

/// Decodes base64 in either alphabet, padded or not, as the DSSE spec asks readers to.
fn decode_base64(s: &str) -> Option<Vec<u8>> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    let s = s.trim();
    [STANDARD, URL_SAFE, STANDARD_NO_PAD, URL_SAFE_NO_PAD].iter().find_map(|e| e.decode(s).ok())
}

impl Envelope {
    /// Signs `payload` as `payload_type`: one signature over the PAE, with an empty key id as
    /// cosign writes it.
    pub fn sign(payload_type: &str, payload: &[u8], signer: &dyn Signer) -> Result<Self, KeyError> {
        let signature = signer.sign(&pae(payload_type, payload))?;
        let b64 = base64::engine::general_purpose::STANDARD;
        Ok(Envelope {
            payload_type: payload_type.to_owned(),
            payload: b64.encode(payload),
            signatures: vec![EnvelopeSignature { keyid: String::new(), sig: b64.encode(signature) }],
        })
    }

    /// Parses an envelope, whatever its key order.
    pub fn parse(bytes: &[u8]) -> Result<Self, RejectionReason> {
        serde_json::from_slice(bytes)
            .map_err(|e| RejectionReason::InvalidPayload { reason: format!("not a DSSE envelope: {e}") })
    }

    /// The envelope as cosign v2 writes it (`payloadType, payload, signatures[{keyid, sig}]`).
    pub fn to_json(&self) -> Vec<u8> {
        // Field order is declaration order; no value holds a character Go would escape.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// The decoded payload.
    pub fn payload_bytes(&self) -> Result<Vec<u8>, RejectionReason> {
        decode_base64(&self.payload)
            .ok_or_else(|| RejectionReason::InvalidPayload { reason: "the envelope payload is not base64".into() })
    }

    /// The decoded signatures; an envelope without any, or with more than
    /// [`MAX_ENVELOPE_SIGNATURES`], is malformed.
    pub fn signature_bytes(&self) -> Result<Vec<Vec<u8>>, RejectionReason> {
        if self.signatures.is_empty() {
            return Err(RejectionReason::MalformedSignature { reason: "the envelope has no signatures".into() });
        }
        if self.signatures.len() > MAX_ENVELOPE_SIGNATURES {
            return Err(RejectionReason::MalformedSignature {
                reason: format!(
                    "the envelope has {} signatures, more than the limit of {MAX_ENVELOPE_SIGNATURES}",
                    self.signatures.len()
                ),
            });
        }
        self.signatures
            .iter()
            .map(|s| {
                decode_base64(&s.sig).ok_or_else(|| RejectionReason::MalformedSignature {
                    reason: "an envelope signature is not base64".into(),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pae_matches_the_spec_example() {
        // From the DSSE protocol document.
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
        );
        assert_eq!(pae("", b""), b"DSSEv1 0  0 ".to_vec());
    }

    #[test]
    fn parses_either_key_order_and_alphabet() {
        let v2 = br#"{"payloadType":"application/vnd.in-toto+json","payload":"e30=","signatures":[{"keyid":"","sig":"AAEC"}]}"#;
        let v3 = br#"{"payload":"e30","payloadType":"application/vnd.in-toto+json","signatures":[{"sig":"AAEC"}]}"#;
        let a = Envelope::parse(v2).unwrap();
        let b = Envelope::parse(v3).unwrap();
        assert_eq!(a.payload_bytes().unwrap(), b"{}");
        assert_eq!(b.payload_bytes().unwrap(), b"{}");
        assert_eq!(a.signature_bytes().unwrap(), vec![vec![0, 1, 2]]);
        assert_eq!(a.to_json(), v2.to_vec());
        assert!(Envelope::parse(b"{}").is_err());
        let none = Envelope { signatures: vec![], ..a };
        assert!(none.signature_bytes().is_err());
    }

    #[test]
    fn signatures_are_bounded() {
        let one = EnvelopeSignature { keyid: String::new(), sig: "AAEC".into() };
        let envelope = |n| Envelope {
            payload_type: INTOTO_PAYLOAD_TYPE.into(),
            payload: "e30=".into(),
            signatures: vec![one.clone(); n],
        };
        assert_eq!(envelope(MAX_ENVELOPE_SIGNATURES).signature_bytes().unwrap().len(), MAX_ENVELOPE_SIGNATURES);
        let over = envelope(MAX_ENVELOPE_SIGNATURES + 1).signature_bytes().unwrap_err();
        assert_eq!(over.code(), "MALFORMED_SIGNATURE");
    }
}
