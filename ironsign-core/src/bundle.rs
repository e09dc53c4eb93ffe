//! Sigstore bundles v0.3 stored as OCI 1.1 referrers: cosign v3's default output (cosign.md
//! §5.2–5.3).
//!
//! A bundle is one JSON document holding the signed content and what verifies it:
//!
//! ```json
//! {"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json",
//!  "verificationMaterial":{"certificate":{"rawBytes":"<b64 DER leaf>"}},
//!  "dsseEnvelope":{"payload":"<b64 statement>","payloadType":"application/vnd.in-toto+json",
//!                  "signatures":[{"sig":"<b64>"}]}}
//! ```
//!
//! The verification material is one of a leaf `certificate`, an `x509CertificateChain` (leaf
//! first, then intermediates; cosign v3 writes this when given `--certificate-chain`) or a
//! `publicKey` hint (base64 SHA-256 of the key's SubjectPublicKeyInfo). It is stored as the single
//! layer of an OCI manifest whose `subject` is the image, with an empty config and cosign's
//! annotations; the manifest is pushed by digest and found through the registry's referrers API
//! or the `sha256-<hex>` referrers tag.
//!
//! `cosign sign` (v3) signs a DSSE envelope over an in-toto v1 statement with predicate type
//! [`COSIGN_SIGN_PREDICATE_TYPE`] and an empty predicate, the `-a` annotations on the subject;
//! `cosign attest` signs its usual statement the same way. This module parses and writes those
//! documents; it does no I/O.

use crate::dsse::{Envelope, EnvelopeSignature};
use crate::error::RejectionReason;
use crate::reference::Digest;
use base64::Engine as _;
use std::collections::BTreeMap;

/// Media type of a Sigstore bundle v0.3 (layer media type, artifact type and the bundle's own
/// `mediaType`).
pub const BUNDLE_MEDIA_TYPE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
/// The other spelling of v0.3 that protobuf-specs allows.
const BUNDLE_MEDIA_TYPE_V03_PARAM: &str = "application/vnd.dev.sigstore.bundle+json;version=0.3";
/// Every Sigstore bundle media type starts with this (older versions included).
pub const BUNDLE_MEDIA_TYPE_PREFIX: &str = "application/vnd.dev.sigstore.bundle";
/// Media type of the empty config of a referrer manifest.
pub const EMPTY_CONFIG_MEDIA_TYPE: &str = "application/vnd.oci.empty.v1+json";
/// The empty config blob (`sha256:44136fa3…`, two bytes).
pub const EMPTY_CONFIG: &[u8] = b"{}";
/// Manifest annotation: `dsse-envelope` or `message-signature`.
pub const CONTENT_ANNOTATION: &str = "dev.sigstore.bundle.content";
/// Manifest annotation naming the statement's predicate type.
pub const PREDICATE_TYPE_ANNOTATION: &str = "dev.sigstore.bundle.predicateType";
/// Manifest annotation with the creation time (RFC 3339, seconds, UTC).
pub const CREATED_ANNOTATION: &str = "org.opencontainers.image.created";
/// The predicate type of an image signature made by `cosign sign` in bundle form.
pub const COSIGN_SIGN_PREDICATE_TYPE: &str = "https://sigstore.dev/cosign/sign/v1";
/// Most transparency-log entries or timestamps a bundle may list (sigstore-go caps them too).
const MAX_PROOFS: usize = 32;

/// Whether a media type names a Sigstore bundle of any version.
pub fn is_bundle_media_type(media_type: &str) -> bool {
    media_type.starts_with(BUNDLE_MEDIA_TYPE_PREFIX)
}

/// Whether a media type names a v0.3 bundle, the only version cosign (and ironsign) reads from
/// registries: older versions require transparency-log proofs.
pub fn is_v03(media_type: &str) -> bool {
    let compact: String = media_type.chars().filter(|c| !c.is_whitespace()).collect();
    compact == BUNDLE_MEDIA_TYPE || compact == BUNDLE_MEDIA_TYPE_V03_PARAM
}

/// What verifies a bundle's signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerificationMaterial {
    /// A public key known to the verifier; the hint (base64 SHA-256 of its SubjectPublicKeyInfo)
    /// is unauthenticated and only helps pick a key.
    PublicKey {
        /// The hint as written.
        hint: String,
    },
    /// A leaf certificate (DER).
    Certificate(Vec<u8>),
    /// A chain (DER): the leaf, then intermediates. Never a trust anchor.
    Chain(Vec<Vec<u8>>),
}

impl VerificationMaterial {
    /// The leaf certificate and the untrusted intermediates, when the material is certificates.
    pub fn certificates(&self) -> Option<(&[u8], &[Vec<u8>])> {
        match self {
            VerificationMaterial::PublicKey { .. } => None,
            VerificationMaterial::Certificate(leaf) => Some((leaf, &[])),
            VerificationMaterial::Chain(chain) => chain.split_first().map(|(leaf, rest)| (leaf.as_slice(), rest)),
        }
    }
}

/// The signed content of a bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BundleContent {
    /// A DSSE envelope (what cosign writes for images, signatures and attestations alike).
    Dsse(Envelope),
    /// A signature over a message digest (`cosign sign-blob`); never an image signature.
    MessageSignature(MessageSignature),
}

/// The `messageSignature` of a blob bundle, as read: fields that are missing or not base64 are
/// empty, and fail when the blob is verified (an image verifier rejects the content type first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageSignature {
    /// `messageDigest.algorithm`, e.g. `SHA2_256`.
    pub digest_algorithm: String,
    /// `messageDigest.digest`: the digest of the signed blob.
    pub digest: Vec<u8>,
    /// The signature over the blob.
    pub signature: Vec<u8>,
}

/// A parsed Sigstore bundle v0.3.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bundle {
    /// Its own `mediaType`.
    pub media_type: String,
    /// What verifies it.
    pub material: VerificationMaterial,
    /// What it signs.
    pub content: BundleContent,
    /// How many transparency-log entries it carries (ironsign configures no log: they are not
    /// used, in particular their integrated time never stands in for a signed timestamp).
    pub tlog_entries: usize,
    /// Its RFC 3161 timestamps (DER `TimeStampResp`s; one that is not base64 is empty, and fails
    /// where timestamps are verified). Image bundles' timestamps are not used; blob bundles' are.
    pub timestamps: Vec<Vec<u8>>,
}

/// Decodes protobuf-JSON bytes: standard or URL-safe base64, padded or not.
fn decode_b64(s: &str) -> Option<Vec<u8>> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    let s = s.trim();
    [STANDARD, URL_SAFE, STANDARD_NO_PAD, URL_SAFE_NO_PAD].iter().find_map(|e| e.decode(s).ok())
}

/// A field by its protobuf-JSON name (lowerCamelCase) or its proto name (snake_case): protojson
/// readers accept both.
fn field<'a>(obj: &'a serde_json::Value, camel: &str, snake: &str) -> Option<&'a serde_json::Value> {
    obj.get(camel).or_else(|| obj.get(snake)).filter(|v| !v.is_null())
}

fn invalid(reason: impl Into<String>) -> RejectionReason {
    RejectionReason::InvalidPayload { reason: reason.into() }
}

impl Bundle {
    /// Parses a bundle, refusing any version but v0.3, more than `max_chain` certificates and
    /// malformed material. Nothing is verified here.
    pub fn parse(bytes: &[u8], max_chain: usize) -> Result<Self, RejectionReason> {
        let v: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| invalid(format!("the bundle is not JSON: {e}")))?;
        if !v.is_object() {
            return Err(invalid("the bundle is not a JSON object"));
        }
        let media_type = field(&v, "mediaType", "media_type").and_then(|m| m.as_str()).unwrap_or_default().to_owned();
        if !is_v03(&media_type) {
            return Err(RejectionReason::MediaType { found: media_type, expected: BUNDLE_MEDIA_TYPE.into() });
        }
        let material = field(&v, "verificationMaterial", "verification_material")
            .ok_or_else(|| invalid("no verificationMaterial"))?;
        let raw = |c: &serde_json::Value, what: &str| -> Result<Vec<u8>, RejectionReason> {
            field(c, "rawBytes", "raw_bytes")
                .and_then(|r| r.as_str())
                .and_then(decode_b64)
                .filter(|der| !der.is_empty())
                .ok_or_else(|| invalid(format!("{what}: rawBytes is missing or not base64")))
        };
        let parsed_material = if let Some(cert) = field(material, "certificate", "certificate") {
            VerificationMaterial::Certificate(raw(cert, "certificate")?)
        } else if let Some(chain) = field(material, "x509CertificateChain", "x509_certificate_chain") {
            let certs = chain.get("certificates").and_then(|c| c.as_array()).map(Vec::as_slice).unwrap_or_default();
            if certs.is_empty() {
                return Err(invalid("x509CertificateChain has no certificates"));
            }
            if certs.len() > max_chain {
                return Err(RejectionReason::Certificate(crate::error::CertificateError::TooMany {
                    what: "bundle x509CertificateChain".into(),
                    count: certs.len(),
                    limit: max_chain,
                }));
            }
            VerificationMaterial::Chain(
                certs
                    .iter()
                    .enumerate()
                    .map(|(i, c)| raw(c, &format!("x509CertificateChain certificate {i}")))
                    .collect::<Result<_, _>>()?,
            )
        } else if let Some(key) = field(material, "publicKey", "public_key") {
            VerificationMaterial::PublicKey { hint: key.get("hint").and_then(|h| h.as_str()).unwrap_or("").to_owned() }
        } else {
            return Err(invalid("verificationMaterial has no certificate, x509CertificateChain or publicKey"));
        };
        let count = |camel: &str, snake: &str, parent: &serde_json::Value| -> Result<usize, RejectionReason> {
            let n = field(parent, camel, snake).and_then(|e| e.as_array()).map_or(0, Vec::len);
            if n > MAX_PROOFS {
                return Err(invalid(format!("{n} {camel}, more than {MAX_PROOFS}")));
            }
            Ok(n)
        };
        let tlog_entries = count("tlogEntries", "tlog_entries", material)?;
        let timestamps = match field(material, "timestampVerificationData", "timestamp_verification_data") {
            Some(t) => {
                count("rfc3161Timestamps", "rfc3161_timestamps", t)?;
                let entries = field(t, "rfc3161Timestamps", "rfc3161_timestamps").and_then(|e| e.as_array());
                entries
                    .map(Vec::as_slice)
                    .unwrap_or_default()
                    .iter()
                    .map(|e| {
                        field(e, "signedTimestamp", "signed_timestamp")
                            .and_then(|s| s.as_str())
                            .and_then(decode_b64)
                            .unwrap_or_default()
                    })
                    .collect()
            }
            None => Vec::new(),
        };
        let content =
            match (field(&v, "dsseEnvelope", "dsse_envelope"), field(&v, "messageSignature", "message_signature")) {
                (Some(envelope), None) => BundleContent::Dsse(parse_envelope(envelope)?),
                (None, Some(m)) => BundleContent::MessageSignature(parse_message_signature(m)),
                (Some(_), Some(_)) => return Err(invalid("the bundle has both a dsseEnvelope and a messageSignature")),
                (None, None) => return Err(invalid("the bundle has neither a dsseEnvelope nor a messageSignature")),
            };
        Ok(Bundle { media_type, material: parsed_material, content, tlog_entries, timestamps })
    }

    /// A DSSE bundle with this material, no log entries and no timestamps.
    pub fn dsse(envelope: Envelope, material: VerificationMaterial) -> Self {
        Bundle {
            media_type: BUNDLE_MEDIA_TYPE.into(),
            material,
            content: BundleContent::Dsse(envelope),
            tlog_entries: 0,
            timestamps: Vec::new(),
        }
    }

    /// A blob signature bundle (`cosign sign-blob --new-bundle-format`) with this material and
    /// these RFC 3161 timestamps over the signature.
    pub fn message_signature(
        message: MessageSignature,
        material: VerificationMaterial,
        timestamps: Vec<Vec<u8>>,
    ) -> Self {
        Bundle {
            media_type: BUNDLE_MEDIA_TYPE.into(),
            material,
            content: BundleContent::MessageSignature(message),
            tlog_entries: 0,
            timestamps,
        }
    }

    /// The bundle JSON as cosign v3 writes it (protobuf-JSON field names, its field order). Log
    /// entries are never written (ironsign has no log).
    pub fn to_json(&self) -> Vec<u8> {
        let b64 = base64::engine::general_purpose::STANDARD;
        let raw = |der: &[u8]| serde_json::json!({"rawBytes": b64.encode(der)});
        let mut material = match &self.material {
            VerificationMaterial::PublicKey { hint } => serde_json::json!({"publicKey": {"hint": hint}}),
            VerificationMaterial::Certificate(der) => serde_json::json!({"certificate": raw(der)}),
            VerificationMaterial::Chain(chain) => {
                serde_json::json!({"x509CertificateChain": {"certificates": chain.iter().map(|c| raw(c)).collect::<Vec<_>>()}})
            }
        };
        if !self.timestamps.is_empty() {
            let signed: Vec<_> =
                self.timestamps.iter().map(|t| serde_json::json!({"signedTimestamp": b64.encode(t)})).collect();
            material["timestampVerificationData"] = serde_json::json!({ "rfc3161Timestamps": signed });
        }
        let mut out = String::from(r#"{"mediaType":"#);
        out.push_str(&serde_json::Value::String(self.media_type.clone()).to_string());
        out.push_str(r#","verificationMaterial":"#);
        out.push_str(&material.to_string());
        if let BundleContent::Dsse(envelope) = &self.content {
            out.push_str(r#","dsseEnvelope":{"payload":"#);
            out.push_str(&serde_json::Value::String(envelope.payload.clone()).to_string());
            out.push_str(r#","payloadType":"#);
            out.push_str(&serde_json::Value::String(envelope.payload_type.clone()).to_string());
            out.push_str(r#","signatures":["#);
            for (i, s) in envelope.signatures.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(r#"{"sig":"#);
                out.push_str(&serde_json::Value::String(s.sig.clone()).to_string());
                out.push('}');
            }
            out.push_str("]}");
        }
        if let BundleContent::MessageSignature(m) = &self.content {
            let message = serde_json::json!({"messageDigest": {"algorithm": m.digest_algorithm, "digest": b64.encode(&m.digest)}, "signature": b64.encode(&m.signature)});
            out.push_str(r#","messageSignature":"#);
            out.push_str(&message.to_string());
        }
        out.push('}');
        out.into_bytes()
    }
}

fn parse_message_signature(v: &serde_json::Value) -> MessageSignature {
    let digest = field(v, "messageDigest", "message_digest");
    let text = |parent: Option<&serde_json::Value>, name: &str| {
        parent.and_then(|p| p.get(name)).and_then(|t| t.as_str()).unwrap_or_default().to_owned()
    };
    MessageSignature {
        digest_algorithm: text(digest, "algorithm"),
        digest: decode_b64(&text(digest, "digest")).unwrap_or_default(),
        signature: decode_b64(&text(Some(v), "signature")).unwrap_or_default(),
    }
}

fn parse_envelope(v: &serde_json::Value) -> Result<Envelope, RejectionReason> {
    let text = |camel: &str, snake: &str| field(v, camel, snake).and_then(|p| p.as_str()).map(str::to_owned);
    let payload = text("payload", "payload").ok_or_else(|| invalid("the bundle's dsseEnvelope has no payload"))?;
    let payload_type =
        text("payloadType", "payload_type").ok_or_else(|| invalid("the bundle's dsseEnvelope has no payloadType"))?;
    let signatures = field(v, "signatures", "signatures")
        .and_then(|s| s.as_array())
        .map(|sigs| {
            sigs.iter()
                .map(|s| EnvelopeSignature {
                    keyid: s.get("keyid").and_then(|k| k.as_str()).unwrap_or_default().to_owned(),
                    sig: s.get("sig").and_then(|k| k.as_str()).unwrap_or_default().to_owned(),
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(Envelope { payload_type, payload, signatures })
}

/// The public-key hint cosign writes: standard base64 of the SHA-256 of the SubjectPublicKeyInfo.
pub fn public_key_hint(key: &crate::keys::PublicKey) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, key.spki_der());
    base64::engine::general_purpose::STANDARD.encode(digest.as_ref())
}

/// The statement `cosign sign` (v3) signs for an image: in-toto v1, one subject with only the
/// digest and the `-a` annotations (always present, `{}` when none), predicate type
/// [`COSIGN_SIGN_PREDICATE_TYPE`], empty predicate. Field order is protojson's.
pub fn sign_statement(digest: &Digest, annotations: &BTreeMap<String, String>) -> Vec<u8> {
    let mut out = String::from(r#"{"_type":"https://in-toto.io/Statement/v1","subject":[{"digest":{"#);
    crate::cosign::go_json_string(&mut out, digest.algorithm());
    out.push(':');
    crate::cosign::go_json_string(&mut out, digest.hex());
    out.push_str(r#"},"annotations":"#);
    let annotations = serde_json::Value::Object(
        annotations.iter().map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone()))).collect(),
    );
    crate::cosign::go_json_value(&mut out, &annotations);
    out.push_str(r#"}],"predicateType":"#);
    crate::cosign::go_json_string(&mut out, COSIGN_SIGN_PREDICATE_TYPE);
    out.push_str(r#","predicate":{}}"#);
    out.into_bytes()
}

/// The subject of a referrer: the signed manifest's media type, size and digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    /// Its media type.
    pub media_type: String,
    /// Its size.
    pub size: u64,
    /// Its digest.
    pub digest: Digest,
}

/// The referrer manifest cosign v3 writes for a bundle blob (cosign.md §5.2), byte for byte in
/// ggcr's field order, including the `artifactType` repeated inside `config` that `cosign clean`
/// looks for. `created` is RFC 3339 UTC with second precision.
pub fn referrer_manifest(bundle: &[u8], subject: &Subject, predicate_type: &str, created: &str) -> Vec<u8> {
    let annotations = BTreeMap::from([
        (CONTENT_ANNOTATION.to_owned(), "dsse-envelope".to_owned()),
        (PREDICATE_TYPE_ANNOTATION.to_owned(), predicate_type.to_owned()),
        (CREATED_ANNOTATION.to_owned(), created.to_owned()),
    ]);
    let mut out = String::from(r#"{"schemaVersion":2,"mediaType":""#);
    out.push_str(crate::cosign::OCI_MANIFEST);
    out.push_str(&format!(
        r#"","config":{{"mediaType":"{EMPTY_CONFIG_MEDIA_TYPE}","size":{},"digest":"{}","artifactType":"{BUNDLE_MEDIA_TYPE}"}},"#,
        EMPTY_CONFIG.len(),
        Digest::sha256(EMPTY_CONFIG)
    ));
    out.push_str(&format!(
        r#""layers":[{{"mediaType":"{BUNDLE_MEDIA_TYPE}","size":{},"digest":"{}"}}],"annotations":"#,
        bundle.len(),
        Digest::sha256(bundle)
    ));
    let annotations =
        serde_json::Value::Object(annotations.into_iter().map(|(k, v)| (k, serde_json::Value::String(v))).collect());
    crate::cosign::go_json_value(&mut out, &annotations);
    out.push_str(r#","subject":{"mediaType":"#);
    crate::cosign::go_json_string(&mut out, &subject.media_type);
    out.push_str(&format!(
        r#","size":{},"digest":"{}"}},"artifactType":"{BUNDLE_MEDIA_TYPE}"}}"#,
        subject.size, subject.digest
    ));
    out.into_bytes()
}

/// Now as cosign writes `org.opencontainers.image.created`.
pub fn created_now() -> String {
    crate::pki::format_unix(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bundle cosign v3.1.3 wrote for `cosign sign --key k --certificate leaf.pem
    /// --certificate-chain chain.pem` (chain shortened to two made-up certificates).
    const COSIGN_CHAIN_BUNDLE: &str = r#"{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{"x509CertificateChain":{"certificates":[{"rawBytes":"AQID"},{"rawBytes":"BAUG"}]}},"dsseEnvelope":{"payload":"eyJfdHlwZSI6Imh0dHBzOi8vaW4tdG90by5pby9TdGF0ZW1lbnQvdjEifQ==","payloadType":"application/vnd.in-toto+json","signatures":[{"sig":"MEYCIQ=="}]}}"#;

    #[test]
    fn parses_and_rewrites_cosign_bundles() {
        let b = Bundle::parse(COSIGN_CHAIN_BUNDLE.as_bytes(), 10).unwrap();
        assert_eq!(b.material, VerificationMaterial::Chain(vec![vec![1, 2, 3], vec![4, 5, 6]]));
        assert_eq!(b.material.certificates().unwrap().0, [1, 2, 3]);
        let BundleContent::Dsse(envelope) = &b.content else { panic!("dsse") };
        assert_eq!(envelope.payload_type, "application/vnd.in-toto+json");
        assert_eq!((b.tlog_entries, b.timestamps.len()), (0, 0));
        assert_eq!(String::from_utf8(b.to_json()).unwrap(), COSIGN_CHAIN_BUNDLE);

        let key = r#"{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{"publicKey":{"hint":"oreio="}},"dsseEnvelope":{"payload":"e30=","payloadType":"application/vnd.in-toto+json","signatures":[{"sig":"AA=="}]}}"#;
        let b = Bundle::parse(key.as_bytes(), 10).unwrap();
        assert_eq!(b.material, VerificationMaterial::PublicKey { hint: "oreio=".into() });
        assert_eq!(String::from_utf8(b.to_json()).unwrap(), key);
        // snake_case names and the parameter spelling of the media type are protojson too.
        let snake = r#"{"media_type":"application/vnd.dev.sigstore.bundle+json;version=0.3","verification_material":{"certificate":{"raw_bytes":"AQID"},"tlog_entries":[{}],"timestamp_verification_data":{"rfc3161_timestamps":[{},{}]}},"message_signature":{}}"#;
        let b = Bundle::parse(snake.as_bytes(), 10).unwrap();
        assert_eq!(b.material, VerificationMaterial::Certificate(vec![1, 2, 3]));
        assert!(
            matches!(b.content, BundleContent::MessageSignature(MessageSignature { ref signature, .. }) if signature.is_empty())
        );
        assert_eq!((b.tlog_entries, b.timestamps.len()), (1, 2));
    }

    #[test]
    fn refuses_malformed_bundles() {
        let code = |s: &str| Bundle::parse(s.as_bytes(), 1).unwrap_err().code();
        assert_eq!(code("["), "INVALID_PAYLOAD");
        assert_eq!(code("[]"), "INVALID_PAYLOAD");
        let old = r#"{"mediaType":"application/vnd.dev.sigstore.bundle+json;version=0.2","verificationMaterial":{"publicKey":{}},"dsseEnvelope":{"payload":"","payloadType":""}}"#;
        assert_eq!(code(old), "MEDIA_TYPE_MISMATCH");
        let v03 = |material: &str, content: &str| {
            format!(r#"{{"mediaType":"{BUNDLE_MEDIA_TYPE}","verificationMaterial":{material}{content}}}"#)
        };
        let dsse = r#","dsseEnvelope":{"payload":"e30=","payloadType":"t"}"#;
        assert_eq!(code(&v03("{}", dsse)), "INVALID_PAYLOAD");
        assert_eq!(code(&v03(r#"{"certificate":{"rawBytes":"%%"}}"#, dsse)), "INVALID_PAYLOAD");
        assert_eq!(code(&v03(r#"{"x509CertificateChain":{"certificates":[]}}"#, dsse)), "INVALID_PAYLOAD");
        let two = r#"{"x509CertificateChain":{"certificates":[{"rawBytes":"AQ=="},{"rawBytes":"AQ=="}]}}"#;
        assert_eq!(code(&v03(two, dsse)), "CERT_TOO_MANY");
        assert_eq!(code(&v03(r#"{"publicKey":{}}"#, "")), "INVALID_PAYLOAD");
        assert_eq!(code(&v03(r#"{"publicKey":{}}"#, r#","dsseEnvelope":{"payloadType":"t"}"#)), "INVALID_PAYLOAD");
        let many = format!(r#"{{"publicKey":{{}},"tlogEntries":[{}]}}"#, vec!["{}"; MAX_PROOFS + 1].join(","));
        assert_eq!(code(&v03(&many, dsse)), "INVALID_PAYLOAD");
    }

    #[test]
    fn writes_cosigns_statement_and_manifest() {
        let d = Digest::sha256(b"image");
        let s = String::from_utf8(sign_statement(&d, &BTreeMap::new())).unwrap();
        assert_eq!(
            s,
            format!(
                r#"{{"_type":"https://in-toto.io/Statement/v1","subject":[{{"digest":{{"sha256":"{}"}},"annotations":{{}}}}],"predicateType":"https://sigstore.dev/cosign/sign/v1","predicate":{{}}}}"#,
                d.hex()
            )
        );
        let annotated = String::from_utf8(sign_statement(&d, &BTreeMap::from([("k".into(), "v".into())]))).unwrap();
        assert!(annotated.contains(r#""annotations":{"k":"v"}"#), "{annotated}");
        let subject = Subject { media_type: crate::cosign::OCI_MANIFEST.into(), size: 401, digest: d.clone() };
        let m = String::from_utf8(referrer_manifest(
            b"bundle",
            &subject,
            COSIGN_SIGN_PREDICATE_TYPE,
            "2026-11-25T09:00:54Z",
        ))
        .unwrap();
        // The shape cosign v3.1.3 wrote (cosign.md §5.2), blob digest and subject aside.
        let expected = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.empty.v1+json","size":2,"digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","artifactType":"application/vnd.dev.sigstore.bundle.v0.3+json"}},"layers":[{{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","size":6,"digest":"{}"}}],"annotations":{{"dev.sigstore.bundle.content":"dsse-envelope","dev.sigstore.bundle.predicateType":"https://sigstore.dev/cosign/sign/v1","org.opencontainers.image.created":"2026-11-25T09:00:54Z"}},"subject":{{"mediaType":"application/vnd.oci.image.manifest.v1+json","size":401,"digest":"{d}"}},"artifactType":"application/vnd.dev.sigstore.bundle.v0.3+json"}}"#,
            Digest::sha256(b"bundle")
        );
        assert_eq!(m, expected);
        assert!(is_v03(BUNDLE_MEDIA_TYPE) && is_v03("application/vnd.dev.sigstore.bundle+json; version=0.3"));
        assert!(!is_v03("application/vnd.dev.sigstore.bundle+json;version=0.2"));
        assert_eq!(created_now().len(), "2026-11-25T09:00:54Z".len());
    }
}
