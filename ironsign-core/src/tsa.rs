//! RFC 3161 timestamps: what keeps a signature verifiable after its certificate expires.
//!
//! Without a signed time, a verifier can only check the signing certificate at *now*, so every
//! signature dies with its certificate (cosign.md §6.2 step 8). A timestamp authority (TSA)
//! countersigns a hash of the signature; once that countersignature is verified, the signing
//! certificate's chain is checked at the TSA's `genTime` instead.
//!
//! What is timestamped, as cosign does (cosign.md §6.2 step 3): for a signature, the raw signature
//! bytes (the base64-decoded `dev.cosignproject.cosign/signature` annotation); for an attestation,
//! whose signature annotation is empty, the DSSE envelope blob (cosign v2) or the DSSE signature
//! (cosign v3). A token counts only when its imprint covers bytes bound to the signature that
//! then verifies: the signature itself, or the envelope holding it. An attestation's signature
//! annotation is never what its token is checked against (nothing verifies those bytes), so a
//! token copied from another signature, with that signature's bytes in the annotation, dates
//! nothing. The TSA's response
//! (a DER `TimeStampResp`) is stored in the layer annotation `dev.sigstore.cosign/rfc3161timestamp`
//! as `{"SignedRFC3161Timestamp":"<base64>"}`.
//!
//! Verification ([`TimestampAuthorities::verify`]) is pure and checks, in order: the status is
//! granted; the token is CMS SignedData over a TSTInfo; the message imprint is the hash of the
//! exact bytes above; the signed attributes name TSTInfo as content type and carry its digest and
//! an ESS signing-certificate reference to the signer; the signature over the signed attributes
//! verifies (RSA PKCS#1 v1.5 or ECDSA); the signer certificate has a critical extended key usage
//! of exactly timeStamping (RFC 3161 §2.3) and chains, at `genTime`, to a configured TSA root
//! (through the configured and embedded intermediates, every CA's EKU allowing timeStamping if it
//! has one); and, when the configuration names TSA leaf certificates, the signer is one of them.
//! The request side ([`TimestampClient`]) adds the nonce check.

use crate::error::{CertificateError, TimestampError};
use crate::pki::{Certificate, format_unix};
use base64::Engine as _;
use const_oid::ObjectIdentifier;
use der::asn1::{AnyRef, ObjectIdentifier as Oid};
use der::{Decode, Encode, Reader, SliceReader, Tag, TagNumber, Tagged};
use rustls_pki_types::{CertificateDer, TrustAnchor, UnixTime};
use serde::Serialize;
use std::time::{Duration, SystemTime};

/// Largest TSA response read or accepted from an annotation (a token with a few certificates is a
/// few KiB).
pub const MAX_RESPONSE_SIZE: usize = 256 << 10;
/// Most certificates accepted inside one token.
const MAX_TOKEN_CERTIFICATES: usize = 10;

const OID_SIGNED_DATA: Oid = Oid::new_unwrap("1.2.840.113549.1.7.2");
const OID_TST_INFO: Oid = Oid::new_unwrap("1.2.840.113549.1.9.16.1.4");
const OID_CONTENT_TYPE: Oid = Oid::new_unwrap("1.2.840.113549.1.9.3");
const OID_MESSAGE_DIGEST: Oid = Oid::new_unwrap("1.2.840.113549.1.9.4");
const OID_SIGNING_CERTIFICATE: Oid = Oid::new_unwrap("1.2.840.113549.1.9.16.2.12");
const OID_SIGNING_CERTIFICATE_V2: Oid = Oid::new_unwrap("1.2.840.113549.1.9.16.2.47");
const OID_SHA1: Oid = Oid::new_unwrap("1.3.14.3.2.26");
const OID_SHA256: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.1");
const OID_SHA384: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.2");
const OID_SHA512: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.3");
const OID_EC_PUBLIC_KEY: Oid = Oid::new_unwrap("1.2.840.10045.2.1");
const OID_RSA_ENCRYPTION: Oid = Oid::new_unwrap("1.2.840.113549.1.1.1");
const OID_EXTENDED_KEY_USAGE: Oid = Oid::new_unwrap("2.5.29.37");
/// DER content octets of `id-kp-timeStamping`, as webpki wants them.
const TIME_STAMPING_DER: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x08];

/// The layer annotation value cosign writes: `{"SignedRFC3161Timestamp":"<base64 DER>"}`.
pub fn annotation_value(response_der: &[u8]) -> String {
    serde_json::json!({ "SignedRFC3161Timestamp": base64::engine::general_purpose::STANDARD.encode(response_der) })
        .to_string()
}

/// The DER `TimeStampResp` inside an annotation value.
pub fn parse_annotation(value: &str) -> Result<Vec<u8>, TimestampError> {
    #[derive(serde::Deserialize)]
    struct Annotation {
        #[serde(rename = "SignedRFC3161Timestamp")]
        signed: String,
    }
    let malformed = |reason: String| TimestampError::Malformed { reason };
    if value.len() > MAX_RESPONSE_SIZE * 2 {
        return Err(malformed(format!("annotation of {} bytes is over the limit", value.len())));
    }
    let a: Annotation =
        serde_json::from_str(value).map_err(|e| malformed(format!("annotation is not the cosign JSON: {e}")))?;
    base64::engine::general_purpose::STANDARD
        .decode(a.signed.trim())
        .map_err(|e| malformed(format!("SignedRFC3161Timestamp is not base64: {e}")))
}

// ---------------------------------------------------------------------------------------------
// Requests.

/// An RFC 3161 `TimeStampReq` over some bytes: SHA-256 imprint, a random nonce, certReq true.
#[derive(Debug, Clone)]
pub struct TimestampRequest {
    der: Vec<u8>,
    nonce: Vec<u8>,
}

impl TimestampRequest {
    /// A request timestamping `data` (the hash is computed here).
    pub fn new(data: &[u8]) -> Self {
        let mut nonce = [0u8; 16];
        let _ = aws_lc_rs::rand::fill(&mut nonce);
        nonce[0] = (nonce[0] & 0x7f) | 0x40; // positive, no leading zero byte
        let imprint = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data);
        let mut der = Vec::with_capacity(80);
        // version 1, messageImprint {sha256 NULL, hash}, nonce, certReq TRUE.
        let mut algorithm = OID_SHA256.to_der().expect("a constant OID encodes");
        algorithm.extend_from_slice(&[0x05, 0x00]);
        let mut imprint_seq = tlv(0x30, &algorithm);
        imprint_seq.extend(tlv(0x04, imprint.as_ref()));
        let mut body = vec![0x02, 0x01, 0x01];
        body.extend(tlv(0x30, &imprint_seq));
        body.extend(tlv(0x02, &nonce));
        body.extend_from_slice(&[0x01, 0x01, 0xff]);
        der.extend(tlv(0x30, &body));
        TimestampRequest { der, nonce: nonce.to_vec() }
    }

    /// The DER to POST.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// Checks that a response answers this request: its token carries our nonce.
    pub fn check_nonce(&self, response_der: &[u8]) -> Result<(), TimestampError> {
        let parsed = Token::parse(response_der)?;
        match parsed.tst.nonce {
            Some(n) if strip_zeros(n) == strip_zeros(&self.nonce) => Ok(()),
            found => Err(TimestampError::NonceMismatch {
                expected: hex::encode(&self.nonce),
                found: found.map(hex::encode).unwrap_or_else(|| "none".into()),
            }),
        }
    }
}

fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else if len < 0x100 {
        out.extend_from_slice(&[0x81, len as u8]);
    } else {
        out.extend_from_slice(&[0x82, (len >> 8) as u8, len as u8]);
    }
    out.extend_from_slice(content);
    out
}

fn strip_zeros(b: &[u8]) -> &[u8] {
    let first = b.iter().position(|&x| x != 0).unwrap_or(b.len());
    &b[first..]
}

/// Asks a timestamp authority over HTTP(S) (`POST`, `application/timestamp-query`).
#[derive(Debug, Clone)]
pub struct TimestampClient {
    url: String,
    http: reqwest::Client,
}

impl TimestampClient {
    /// A client for the TSA at `url`, trusting the system's CAs plus `extra_ca_pem` for HTTPS.
    pub fn new(url: &str, extra_ca_pem: &[Vec<u8>]) -> Result<Self, TimestampError> {
        let request_error = |reason: String| TimestampError::Request { url: url.into(), reason };
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(request_error("the URL must start with http:// or https://".into()));
        }
        let mut builder = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(15))
            .timeout(Duration::from_secs(60))
            .redirect(reqwest::redirect::Policy::limited(3));
        let mut extra = Vec::new();
        for pem in extra_ca_pem {
            extra.extend(reqwest::Certificate::from_pem_bundle(pem).map_err(|e| request_error(e.to_string()))?);
        }
        if !extra.is_empty() {
            builder = builder.tls_certs_merge(extra);
        }
        let http = builder.build().map_err(|e| request_error(e.to_string()))?;
        Ok(TimestampClient { url: url.to_owned(), http })
    }

    /// The TSA URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Timestamps `data`: returns the DER `TimeStampResp`, after checking that it is granted,
    /// well formed, over `data` and carries our nonce. (Trust in the TSA is the verifier's call.)
    pub async fn timestamp(&self, data: &[u8]) -> Result<Vec<u8>, TimestampError> {
        let request_error = |reason: String| TimestampError::Request { url: self.url.clone(), reason };
        let request = TimestampRequest::new(data);
        let mut resp = self
            .http
            .post(&self.url)
            .header("Content-Type", "application/timestamp-query")
            .header("Accept", "application/timestamp-reply")
            .body(request.der().to_vec())
            .send()
            .await
            .map_err(|e| request_error(error_chain(&e)))?;
        if !resp.status().is_success() {
            return Err(request_error(format!("HTTP {}", resp.status())));
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| request_error(error_chain(&e)))? {
            if body.len() + chunk.len() > MAX_RESPONSE_SIZE {
                return Err(request_error(format!("response over {MAX_RESPONSE_SIZE} bytes")));
            }
            body.extend_from_slice(&chunk);
        }
        let token = Token::parse(&body)?;
        token.check_imprint(data)?;
        request.check_nonce(&body)?;
        Ok(body)
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        source = inner.source();
    }
    s
}

// ---------------------------------------------------------------------------------------------
// Parsing.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hash {
    Sha1,
    Sha256,
    Sha384,
    Sha512,
}

impl Hash {
    fn from_oid(oid: &Oid) -> Option<Self> {
        Some(match *oid {
            o if o == OID_SHA1 => Hash::Sha1,
            o if o == OID_SHA256 => Hash::Sha256,
            o if o == OID_SHA384 => Hash::Sha384,
            o if o == OID_SHA512 => Hash::Sha512,
            _ => return None,
        })
    }

    fn digest(self, data: &[u8]) -> Vec<u8> {
        use aws_lc_rs::digest;
        let alg = match self {
            Hash::Sha1 => &digest::SHA1_FOR_LEGACY_USE_ONLY,
            Hash::Sha256 => &digest::SHA256,
            Hash::Sha384 => &digest::SHA384,
            Hash::Sha512 => &digest::SHA512,
        };
        digest::digest(alg, data).as_ref().to_vec()
    }

    fn name(self) -> &'static str {
        match self {
            Hash::Sha1 => "sha1",
            Hash::Sha256 => "sha256",
            Hash::Sha384 => "sha384",
            Hash::Sha512 => "sha512",
        }
    }
}

struct TstInfo<'a> {
    policy: String,
    hash: Hash,
    imprint: &'a [u8],
    serial: &'a [u8],
    gen_time: SystemTime,
    nonce: Option<&'a [u8]>,
}

enum SignerId<'a> {
    IssuerSerial { issuer: &'a [u8], serial: &'a [u8] },
    KeyId(&'a [u8]),
}

struct SignerInfo<'a> {
    sid: SignerId<'a>,
    digest: Hash,
    /// The signed attributes re-tagged as the `SET OF` the signature covers (RFC 5652 §5.4).
    signed_attrs_der: Vec<u8>,
    content_type: Option<Oid>,
    message_digest: Option<&'a [u8]>,
    /// ESS signing certificate: hash algorithm and hash of the signer certificate.
    ess_cert: Option<(Hash, &'a [u8])>,
    signature_algorithm: Oid,
    signature: &'a [u8],
}

/// A parsed `TimeStampResp` with a granted token.
struct Token<'a> {
    tst_der: &'a [u8],
    tst: TstInfo<'a>,
    certificates: Vec<&'a [u8]>,
    signer: SignerInfo<'a>,
}

fn malformed(reason: impl Into<String>) -> TimestampError {
    TimestampError::Malformed { reason: reason.into() }
}

fn der_err(what: &str) -> impl Fn(der::Error) -> TimestampError + '_ {
    move |e| malformed(format!("{what}: {e}"))
}

/// The elements inside a constructed value: each as (parsed, whole TLV bytes).
fn children<'a>(value: &'a [u8], what: &str) -> Result<Vec<(AnyRef<'a>, &'a [u8])>, TimestampError> {
    let mut out = Vec::new();
    if value.is_empty() {
        return Ok(out);
    }
    let mut r = SliceReader::new(value).map_err(der_err(what))?;
    while !r.is_finished() {
        let raw = r.tlv_bytes().map_err(der_err(what))?;
        out.push((AnyRef::from_der(raw).map_err(der_err(what))?, raw));
        if out.len() > 64 {
            return Err(malformed(format!("{what}: too many elements")));
        }
    }
    Ok(out)
}

fn expect_tag(any: &AnyRef<'_>, tag: Tag, what: &str) -> Result<(), TimestampError> {
    if any.tag() != tag {
        return Err(malformed(format!("{what}: expected {tag}, found {}", any.tag())));
    }
    Ok(())
}

fn context(number: u32, constructed: bool) -> Tag {
    Tag::ContextSpecific { constructed, number: TagNumber(number) }
}

fn oid(any: &AnyRef<'_>, what: &str) -> Result<Oid, TimestampError> {
    any.decode_as::<Oid>().map_err(der_err(what))
}

/// The dotted form of an OBJECT IDENTIFIER, for fields that are reported but never checked. Any
/// encoding valid per X.690 §8.19 is accepted, including a first subidentifier of 128 or more
/// (arcs under `2.48` and beyond, e.g. `2.999`), which const-oid refuses. An arc past 128 bits
/// (valid, never seen) is shown as the hex of the encoding rather than refused.
fn oid_text(any: &AnyRef<'_>, what: &str) -> Result<String, TimestampError> {
    expect_tag(any, Tag::ObjectIdentifier, what)?;
    let bytes = any.value();
    let mut arcs: Vec<u128> = Vec::new();
    let (mut value, mut at_start) = (Some(0u128), true);
    for &b in bytes {
        if at_start && b == 0x80 {
            return Err(malformed(format!("{what}: a subidentifier is not minimally encoded")));
        }
        value = value.and_then(|v| v.checked_mul(128)).and_then(|v| v.checked_add(u128::from(b & 0x7f)));
        at_start = b & 0x80 == 0;
        if at_start {
            let Some(arc) = value else { return Ok(format!("oid:{}", hex::encode(bytes))) };
            arcs.push(arc);
            value = Some(0);
        }
    }
    let Some((&first, rest)) = arcs.split_first().filter(|_| at_start) else {
        return Err(malformed(format!("{what}: truncated")));
    };
    let (root, second) = match first {
        0..40 => (0, first),
        40..80 => (1, first - 40),
        _ => (2, first - 80),
    };
    let mut text = format!("{root}.{second}");
    for arc in rest {
        text.push_str(&format!(".{arc}"));
    }
    Ok(text)
}

/// Whether `any` is the OBJECT IDENTIFIER `known` (compared as encoded, so an OID const-oid cannot
/// parse is simply another OID).
fn oid_is(any: &AnyRef<'_>, known: &Oid) -> bool {
    any.tag() == Tag::ObjectIdentifier && any.value() == known.as_bytes()
}

fn integer<'a>(any: &AnyRef<'a>, what: &str) -> Result<&'a [u8], TimestampError> {
    expect_tag(any, Tag::Integer, what)?;
    Ok(any.value())
}

/// An AlgorithmIdentifier's OID.
fn algorithm(any: &AnyRef<'_>, what: &str) -> Result<Oid, TimestampError> {
    expect_tag(any, Tag::Sequence, what)?;
    let parts = children(any.value(), what)?;
    let first = parts.first().ok_or_else(|| malformed(format!("{what}: empty")))?;
    oid(&first.0, what)
}

/// A hash AlgorithmIdentifier: a supported OID with parameters absent or NULL (RFC 5754 §2).
fn hash_algorithm(any: &AnyRef<'_>, what: &str) -> Result<Hash, TimestampError> {
    let o = algorithm(any, what)?;
    match children(any.value(), what)?.as_slice() {
        [_] => {}
        [_, (params, _)] if params.tag() == Tag::Null && params.value().is_empty() => {}
        _ => return Err(malformed(format!("{what}: parameters are neither absent nor NULL"))),
    }
    Hash::from_oid(&o).ok_or_else(|| malformed(format!("{what}: unsupported hash algorithm {o}")))
}

/// GeneralizedTime, `YYYYMMDDHHMMSS[.f*]Z` (RFC 3161 §2.4.2 allows fractions).
fn generalized_time(any: &AnyRef<'_>) -> Result<SystemTime, TimestampError> {
    expect_tag(any, Tag::GeneralizedTime, "genTime")?;
    let text = std::str::from_utf8(any.value()).map_err(|_| malformed("genTime is not ASCII"))?;
    let bad = || malformed(format!("genTime {text:?} is not YYYYMMDDHHMMSS[.f]Z"));
    let body = text.strip_suffix('Z').ok_or_else(bad)?;
    let (whole, fraction) = body.split_once('.').unwrap_or((body, ""));
    if whole.len() != 14 || !whole.bytes().all(|b| b.is_ascii_digit()) || !fraction.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(bad());
    }
    let n = |r: std::ops::Range<usize>| whole[r].parse::<u32>().map_err(|_| bad());
    let month = time::Month::try_from(n(4..6)? as u8).map_err(|_| bad())?;
    let date = time::Date::from_calendar_date(n(0..4)? as i32, month, n(6..8)? as u8).map_err(|_| bad())?;
    let t = time::Time::from_hms(n(8..10)? as u8, n(10..12)? as u8, n(12..14)? as u8).map_err(|_| bad())?;
    let secs = time::PrimitiveDateTime::new(date, t).assume_utc().unix_timestamp();
    let secs = u64::try_from(secs).map_err(|_| bad())?;
    let nanos = if fraction.is_empty() {
        0
    } else {
        let digits: String = fraction.chars().chain(std::iter::repeat('0')).take(9).collect();
        digits.parse::<u64>().map_err(|_| bad())?
    };
    Ok(SystemTime::UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_nanos(nanos))
}

impl<'a> Token<'a> {
    fn parse(response: &'a [u8]) -> Result<Self, TimestampError> {
        if response.len() > MAX_RESPONSE_SIZE {
            return Err(malformed(format!("{} bytes, over the limit of {MAX_RESPONSE_SIZE}", response.len())));
        }
        // TimeStampResp ::= SEQUENCE { status PKIStatusInfo, timeStampToken ContentInfo OPTIONAL }
        let resp = AnyRef::from_der(response).map_err(der_err("TimeStampResp"))?;
        expect_tag(&resp, Tag::Sequence, "TimeStampResp")?;
        let parts = children(resp.value(), "TimeStampResp")?;
        let (status_info, _) = parts.first().ok_or_else(|| malformed("TimeStampResp: no status"))?;
        expect_tag(status_info, Tag::Sequence, "PKIStatusInfo")?;
        let status_parts = children(status_info.value(), "PKIStatusInfo")?;
        let status = status_parts
            .first()
            .ok_or_else(|| malformed("PKIStatusInfo: no status"))
            .and_then(|(s, _)| integer(s, "PKIStatus"))?;
        // granted (0) or grantedWithMods (1).
        if !(status == [0] || status == [1]) {
            let text = status_parts
                .get(1)
                .filter(|(a, _)| a.tag() == Tag::Sequence)
                .and_then(|(a, _)| children(a.value(), "statusString").ok())
                .map(|strings| {
                    strings.iter().map(|(s, _)| String::from_utf8_lossy(s.value()).into_owned()).collect::<Vec<_>>()
                })
                .unwrap_or_default()
                .join("; ");
            return Err(TimestampError::NotGranted { status: hex::encode(status), text });
        }
        let (content_info, _) = parts.get(1).ok_or_else(|| malformed("granted response without a token"))?;
        // ContentInfo ::= SEQUENCE { contentType OID, content [0] EXPLICIT SignedData }
        expect_tag(content_info, Tag::Sequence, "ContentInfo")?;
        let ci = children(content_info.value(), "ContentInfo")?;
        if ci.len() != 2 || oid(&ci[0].0, "ContentInfo.contentType")? != OID_SIGNED_DATA {
            return Err(malformed("the token is not CMS SignedData"));
        }
        expect_tag(&ci[1].0, context(0, true), "ContentInfo.content")?;
        let inner = children(ci[1].0.value(), "ContentInfo.content")?;
        let (signed_data, _) = inner.first().ok_or_else(|| malformed("empty ContentInfo.content"))?;
        expect_tag(signed_data, Tag::Sequence, "SignedData")?;
        let sd = children(signed_data.value(), "SignedData")?;
        // version, digestAlgorithms, encapContentInfo, [0] certificates, [1] crls, signerInfos
        if sd.len() < 4 {
            return Err(malformed("SignedData: missing fields"));
        }
        // RFC 5652 §5.1: version 3, as the content is not id-data; the digest algorithms are
        // checked against the signer's below.
        if integer(&sd[0].0, "SignedData.version")? != [3] {
            return Err(malformed("SignedData: version is not 3"));
        }
        expect_tag(&sd[1].0, Tag::Set, "SignedData.digestAlgorithms")?;
        let digest_algorithms = children(sd[1].0.value(), "SignedData.digestAlgorithms")?;
        let (encap, _) = &sd[2];
        expect_tag(encap, Tag::Sequence, "EncapsulatedContentInfo")?;
        let ec = children(encap.value(), "EncapsulatedContentInfo")?;
        if ec.len() != 2 || oid(&ec[0].0, "eContentType")? != OID_TST_INFO {
            return Err(malformed("the token's content is not a TSTInfo"));
        }
        expect_tag(&ec[1].0, context(0, true), "eContent")?;
        let econtent = children(ec[1].0.value(), "eContent")?;
        let (octets, _) = econtent.first().ok_or_else(|| malformed("empty eContent"))?;
        expect_tag(octets, Tag::OctetString, "eContent")?;
        let tst_der = octets.value();
        let tst = parse_tst_info(tst_der)?;
        let mut certificates = Vec::new();
        let mut signer_infos = None;
        for (field, _) in &sd[3..] {
            match field.tag() {
                t if t == context(0, true) => {
                    for (c, raw) in children(field.value(), "certificates")? {
                        // Other CertificateChoices (attribute certificates, ...) are not certificates.
                        if c.tag() == Tag::Sequence {
                            certificates.push(raw);
                        }
                    }
                    if certificates.len() > MAX_TOKEN_CERTIFICATES {
                        return Err(malformed(format!(
                            "{} certificates, over the limit of {MAX_TOKEN_CERTIFICATES}",
                            certificates.len()
                        )));
                    }
                }
                t if t == context(1, true) => {}
                Tag::Set => signer_infos = Some(*field),
                other => return Err(malformed(format!("SignedData: unexpected {other}"))),
            }
        }
        let signer_infos = signer_infos.ok_or_else(|| malformed("SignedData: no signerInfos"))?;
        let infos = children(signer_infos.value(), "signerInfos")?;
        // RFC 3161 §2.4.2: the token has exactly one signer.
        if infos.len() != 1 {
            return Err(malformed(format!("{} signerInfos, expected exactly one", infos.len())));
        }
        let signer = parse_signer_info(&infos[0].0)?;
        let listed = |(a, _): &(AnyRef<'_>, &[u8])| hash_algorithm(a, "SignedData.digestAlgorithms").ok();
        if !digest_algorithms.iter().any(|a| listed(a) == Some(signer.digest)) {
            return Err(malformed("SignedData: digestAlgorithms does not list the signer's digest algorithm"));
        }
        Ok(Token { tst_der, tst, certificates, signer })
    }

    fn check_imprint(&self, data: &[u8]) -> Result<(), TimestampError> {
        if self.tst.hash == Hash::Sha1 {
            return Err(malformed("the message imprint uses SHA-1"));
        }
        let expected = self.tst.hash.digest(data);
        if expected != self.tst.imprint {
            return Err(TimestampError::ImprintMismatch {
                expected: hex::encode(expected),
                found: hex::encode(self.tst.imprint),
            });
        }
        Ok(())
    }
}

fn parse_tst_info(der: &[u8]) -> Result<TstInfo<'_>, TimestampError> {
    let tst = AnyRef::from_der(der).map_err(der_err("TSTInfo"))?;
    expect_tag(&tst, Tag::Sequence, "TSTInfo")?;
    let f = children(tst.value(), "TSTInfo")?;
    if f.len() < 5 {
        return Err(malformed("TSTInfo: missing fields"));
    }
    if integer(&f[0].0, "TSTInfo.version")? != [1] {
        return Err(malformed("TSTInfo: version is not 1"));
    }
    // Reported, never checked: any valid OID is accepted (see oid_text).
    let policy = oid_text(&f[1].0, "TSTInfo.policy")?;
    expect_tag(&f[2].0, Tag::Sequence, "messageImprint")?;
    let mi = children(f[2].0.value(), "messageImprint")?;
    if mi.len() != 2 {
        return Err(malformed("messageImprint: expected two fields"));
    }
    let hash = hash_algorithm(&mi[0].0, "messageImprint.hashAlgorithm")?;
    expect_tag(&mi[1].0, Tag::OctetString, "messageImprint.hashedMessage")?;
    let serial = integer(&f[3].0, "TSTInfo.serialNumber")?;
    let gen_time = generalized_time(&f[4].0)?;
    let mut nonce = None;
    for (field, _) in &f[5..] {
        if field.tag() == Tag::Integer {
            nonce = Some(field.value());
        }
    }
    Ok(TstInfo { policy, hash, imprint: mi[1].0.value(), serial, gen_time, nonce })
}

fn parse_signer_info<'a>(info: &AnyRef<'a>) -> Result<SignerInfo<'a>, TimestampError> {
    expect_tag(info, Tag::Sequence, "SignerInfo")?;
    let f = children(info.value(), "SignerInfo")?;
    if f.len() < 5 {
        return Err(malformed("SignerInfo: missing fields"));
    }
    // RFC 5652 §5.3: version 1 with issuerAndSerialNumber, 3 with subjectKeyIdentifier.
    let version = integer(&f[0].0, "SignerInfo.version")?;
    let sid = match f[1].0.tag() {
        Tag::Sequence if version == [1] => {
            let ias = children(f[1].0.value(), "issuerAndSerialNumber")?;
            if ias.len() != 2 {
                return Err(malformed("issuerAndSerialNumber: expected two fields"));
            }
            SignerId::IssuerSerial { issuer: ias[0].1, serial: integer(&ias[1].0, "serialNumber")? }
        }
        t if t == context(0, false) && version == [3] => SignerId::KeyId(f[1].0.value()),
        other => return Err(malformed(format!("SignerInfo: sid {other} with version {}", hex::encode(version)))),
    };
    let digest = hash_algorithm(&f[2].0, "SignerInfo.digestAlgorithm")?;
    let mut next = 3;
    let attrs = &f[next].0;
    if attrs.tag() != context(0, true) {
        return Err(malformed("SignerInfo without signed attributes"));
    }
    next += 1;
    // The signature covers the attributes as a SET OF, i.e. the same content under tag 0x31.
    let signed_attrs_der =
        AnyRef::new(Tag::Set, attrs.value()).and_then(|a| a.to_der()).map_err(der_err("signedAttrs"))?;
    let mut content_type = None;
    let mut message_digest = None;
    let mut ess_cert = None;
    for (attr, _) in children(attrs.value(), "signedAttrs")? {
        expect_tag(&attr, Tag::Sequence, "Attribute")?;
        let a = children(attr.value(), "Attribute")?;
        if a.len() != 2 {
            return Err(malformed("Attribute: expected type and values"));
        }
        // Attributes verification does not use may have any type.
        let kind = &a[0].0;
        expect_tag(kind, Tag::ObjectIdentifier, "Attribute.type")?;
        let known = [OID_CONTENT_TYPE, OID_MESSAGE_DIGEST, OID_SIGNING_CERTIFICATE, OID_SIGNING_CERTIFICATE_V2];
        let Some(kind) = known.into_iter().find(|k| oid_is(kind, k)) else { continue };
        expect_tag(&a[1].0, Tag::Set, "Attribute.values")?;
        let values = children(a[1].0.value(), "Attribute.values")?;
        // RFC 5652 §5.3: these attributes have exactly one value, and appear once.
        let single = || -> Result<AnyRef<'a>, TimestampError> {
            match values.as_slice() {
                [(v, _)] => Ok(*v),
                _ => Err(malformed(format!("attribute {kind} must have exactly one value"))),
            }
        };
        fn set_once<T>(slot: &mut Option<T>, value: T, kind: &Oid) -> Result<(), TimestampError> {
            match slot.replace(value) {
                Some(_) => Err(malformed(format!("attribute {kind} appears twice"))),
                None => Ok(()),
            }
        }
        match kind {
            k if k == OID_CONTENT_TYPE => set_once(&mut content_type, oid(&single()?, "contentType")?, &kind)?,
            k if k == OID_MESSAGE_DIGEST => {
                let v = single()?;
                expect_tag(&v, Tag::OctetString, "messageDigest")?;
                set_once(&mut message_digest, v.value(), &kind)?;
            }
            k if k == OID_SIGNING_CERTIFICATE || k == OID_SIGNING_CERTIFICATE_V2 => {
                set_once(&mut ess_cert, parse_ess(&single()?, k == OID_SIGNING_CERTIFICATE_V2)?, &kind)?
            }
            _ => {}
        }
    }
    let signature_algorithm = algorithm(&f[next].0, "SignerInfo.signatureAlgorithm")?;
    let sig = &f[next + 1].0;
    expect_tag(sig, Tag::OctetString, "SignerInfo.signature")?;
    Ok(SignerInfo {
        sid,
        digest,
        signed_attrs_der,
        content_type,
        message_digest,
        ess_cert,
        signature_algorithm,
        signature: sig.value(),
    })
}

/// The first ESSCertID(v2) of a SigningCertificate(V2) attribute value (RFC 2634 §5.4, RFC 5035).
fn parse_ess<'a>(value: &AnyRef<'a>, v2: bool) -> Result<(Hash, &'a [u8]), TimestampError> {
    expect_tag(value, Tag::Sequence, "SigningCertificate")?;
    let sc = children(value.value(), "SigningCertificate")?;
    let (certs, _) = sc.first().ok_or_else(|| malformed("SigningCertificate: no certs"))?;
    expect_tag(certs, Tag::Sequence, "SigningCertificate.certs")?;
    let ids = children(certs.value(), "SigningCertificate.certs")?;
    let (first, _) = ids.first().ok_or_else(|| malformed("SigningCertificate: empty certs"))?;
    expect_tag(first, Tag::Sequence, "ESSCertID")?;
    let id = children(first.value(), "ESSCertID")?;
    let mut i = 0;
    let mut hash = if v2 { Hash::Sha256 } else { Hash::Sha1 };
    if v2 && id.first().is_some_and(|(a, _)| a.tag() == Tag::Sequence) {
        hash = hash_algorithm(&id[0].0, "ESSCertIDv2.hashAlgorithm")?;
        i = 1;
    }
    let (cert_hash, _) = id.get(i).ok_or_else(|| malformed("ESSCertID: no certHash"))?;
    expect_tag(cert_hash, Tag::OctetString, "ESSCertID.certHash")?;
    Ok((hash, cert_hash.value()))
}

// ---------------------------------------------------------------------------------------------
// Verification.

/// A timestamp that passed every check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifiedTimestamp {
    /// The TSA's time, RFC 3339 UTC.
    pub gen_time: String,
    /// The same as a system time.
    #[serde(skip)]
    pub time: SystemTime,
    /// The TSA certificate's subject.
    pub tsa_subject: String,
    /// The token's serial number, hex.
    pub serial: String,
    /// The TSA policy OID.
    pub policy: String,
    /// The message imprint's hash algorithm (`sha256`, ...).
    pub hash_algorithm: &'static str,
}

/// Trust material for timestamps: the TSA roots, intermediates, and optionally the TSA leaf
/// certificates a token's signer must be one of (cosign's `--timestamp-certificate-chain` holds
/// the TSA leaf, its intermediates and its root).
#[derive(Debug, Clone, Default)]
pub struct TimestampAuthorities {
    roots: Vec<Certificate>,
    anchors: Vec<TrustAnchor<'static>>,
    intermediates: Vec<Certificate>,
    leaves: Vec<Certificate>,
}

impl TimestampAuthorities {
    /// Sorts `certificates` into roots (self-signed), intermediates (other CAs) and pinned TSA
    /// leaves (non-CA certificates). At least one root is required.
    pub fn from_certificates(certificates: Vec<Certificate>) -> Result<Self, CertificateError> {
        let mut out = TimestampAuthorities::default();
        for cert in certificates {
            if cert.issued_by(&cert) {
                let anchor = webpki::anchor_from_trusted_cert(&CertificateDer::from(cert.der()))
                    .map_err(|e| CertificateError::Parse {
                        what: format!("TSA root {:?}", cert.subject()),
                        reason: format!("{e:?}"),
                    })?
                    .to_owned();
                out.anchors.push(anchor);
                out.roots.push(cert);
            } else if cert.summary().is_ca {
                out.intermediates.push(cert);
            } else {
                out.leaves.push(cert);
            }
        }
        if out.roots.is_empty() {
            return Err(CertificateError::Parse {
                what: "timestamp authority certificates".into(),
                reason: "no self-signed root CA among them".into(),
            });
        }
        Ok(out)
    }

    /// Parses a PEM bundle (leaf, intermediates, root, in any order).
    pub fn from_pem(pem: &[u8]) -> Result<Self, CertificateError> {
        Self::from_certificates(Certificate::from_pem_many(pem, "timestamp certificate chain", 20)?)
    }

    /// Adds the certificates of another bundle.
    pub fn merge(mut self, other: TimestampAuthorities) -> Self {
        self.roots.extend(other.roots);
        self.anchors.extend(other.anchors);
        self.intermediates.extend(other.intermediates);
        self.leaves.extend(other.leaves);
        self
    }

    /// Whether any root is configured.
    pub fn is_empty(&self) -> bool {
        self.roots.is_empty()
    }

    /// The TSA roots.
    pub fn roots(&self) -> &[Certificate] {
        &self.roots
    }

    /// Verifies a DER `TimeStampResp` over `data` (see the module documentation for the checks).
    pub fn verify(&self, response_der: &[u8], data: &[u8]) -> Result<VerifiedTimestamp, TimestampError> {
        let token = Token::parse(response_der)?;
        token.check_imprint(data)?;
        let bad = |reason: String| TimestampError::BadSignature { reason };
        // Signed attributes: content type and digest of the TSTInfo.
        if token.signer.content_type != Some(OID_TST_INFO) {
            return Err(bad("the contentType signed attribute is not id-ct-TSTInfo".into()));
        }
        if token.signer.digest == Hash::Sha1 {
            return Err(bad("the token is signed with SHA-1".into()));
        }
        let digest = token.signer.digest.digest(token.tst_der);
        if token.signer.message_digest != Some(digest.as_slice()) {
            return Err(bad("the messageDigest signed attribute is not the digest of the TSTInfo".into()));
        }
        // The signer certificate: from the token, or a pinned leaf.
        let candidates = token
            .certificates
            .iter()
            .enumerate()
            .map(|(i, der)| Certificate::from_der(der, &format!("timestamp token certificate {}", i + 1)))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| malformed(e.to_string()))?;
        let signer = candidates
            .iter()
            .chain(&self.leaves)
            .find(|c| signer_matches(&token.signer.sid, c))
            .cloned()
            .ok_or_else(|| bad("the signer certificate is neither in the token nor configured".into()))?;
        let (ess_hash, ess_value) =
            token.signer.ess_cert.ok_or_else(|| bad("no ESS signing-certificate attribute".into()))?;
        if ess_hash.digest(signer.der()) != ess_value {
            return Err(bad(format!(
                "the ESS signing-certificate attribute does not name the signer {:?}",
                signer.subject()
            )));
        }
        let key = signer.public_key().map_err(|e| bad(e.to_string()))?;
        let alg = signature_oid(&token.signer.signature_algorithm, token.signer.digest)
            .ok_or_else(|| bad(format!("unsupported signature algorithm {}", token.signer.signature_algorithm)))?;
        if !key.verify_certificate_signature(&alg, &token.signer.signed_attrs_der, token.signer.signature) {
            return Err(bad(format!("the token's signature does not verify with {:?}", signer.subject())));
        }
        // The TSA certificate.
        let untrusted =
            |reason: String| TimestampError::UntrustedAuthority { subject: signer.subject().into(), reason };
        if !self.leaves.is_empty() && !self.leaves.contains(&signer) {
            return Err(untrusted("it is not the TSA certificate configured".into()));
        }
        check_timestamping_eku(&signer).map_err(untrusted)?;
        let pool: Vec<CertificateDer<'_>> = self
            .intermediates
            .iter()
            .map(|c| CertificateDer::from(c.der()))
            .chain(candidates.iter().filter(|c| *c != &signer).map(|c| CertificateDer::from(c.der())))
            .collect();
        let signer_der = CertificateDer::from(signer.der());
        let ee = webpki::EndEntityCert::try_from(&signer_der).map_err(|e| untrusted(format!("{e:?}")))?;
        let gen_at = token.tst.gen_time.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
        let path = ee
            .verify_for_usage(
                webpki::ALL_VERIFICATION_ALGS,
                &self.anchors,
                &pool,
                UnixTime::since_unix_epoch(gen_at),
                webpki::KeyUsage::required_if_present(TIME_STAMPING_DER),
                None,
                None,
            )
            .map_err(|e| {
                untrusted(match e {
                    webpki::Error::UnknownIssuer => "no path to a configured TSA root".into(),
                    webpki::Error::CertExpired { .. } | webpki::Error::CertNotValidYet { .. } => format!(
                        "a certificate on its path is not valid at the timestamp's time {}",
                        format_unix(gen_at)
                    ),
                    other => format!("{other:?}"),
                })
            })?;
        // webpki does not check the anchor's own validity; do it at genTime.
        if let Some(root) = crate::pki::AnchorId::of(path.anchor()).root(&self.roots, &self.anchors, token.tst.gen_time)
        {
            root.check_validity(token.tst.gen_time, false).map_err(|e| untrusted(e.to_string()))?;
        }
        Ok(VerifiedTimestamp {
            gen_time: format_unix(gen_at),
            time: token.tst.gen_time,
            tsa_subject: signer.subject().into(),
            serial: hex::encode(token.tst.serial),
            policy: token.tst.policy.clone(),
            hash_algorithm: token.tst.hash.name(),
        })
    }
}

fn signer_matches(sid: &SignerId<'_>, cert: &Certificate) -> bool {
    let tbs = cert.parsed.tbs_certificate();
    match sid {
        SignerId::IssuerSerial { issuer, serial } => {
            tbs.issuer().to_der().is_ok_and(|d| d == *issuer)
                && strip_zeros(tbs.serial_number().as_bytes()) == strip_zeros(serial)
        }
        SignerId::KeyId(id) => tbs
            .get_extension::<x509_cert::ext::pkix::SubjectKeyIdentifier>()
            .ok()
            .flatten()
            .is_some_and(|(_, ski)| ski.0.as_bytes() == *id),
    }
}

/// RFC 3161 §2.3: exactly one extended key usage, timeStamping, in a critical extension.
fn check_timestamping_eku(cert: &Certificate) -> Result<(), String> {
    let critical = cert
        .parsed
        .tbs_certificate()
        .extensions()
        .into_iter()
        .flatten()
        .find(|e| e.extn_id == OID_EXTENDED_KEY_USAGE)
        .map(|e| e.critical);
    match (&cert.summary().extended_key_usage, critical) {
        (Some(eku), Some(true)) if eku.len() == 1 && eku[0] == "timeStamping" => Ok(()),
        (Some(eku), Some(false)) if eku.iter().any(|u| u == "timeStamping") => {
            Err("its extended key usage extension is not critical (RFC 3161 §2.3)".into())
        }
        (Some(eku), _) => Err(format!("its extended key usage is [{}], not exactly timeStamping", eku.join(", "))),
        (None, _) => Err("it has no extended key usage (timeStamping is required)".into()),
    }
}

/// The certificate-style signature algorithm OID for a CMS signatureAlgorithm and digest.
fn signature_oid(signature_algorithm: &Oid, digest: Hash) -> Option<ObjectIdentifier> {
    use const_oid::db::rfc5912 as o;
    let by_digest = |ecdsa: bool| -> Option<ObjectIdentifier> {
        Some(match (ecdsa, digest) {
            (true, Hash::Sha256) => o::ECDSA_WITH_SHA_256,
            (true, Hash::Sha384) => o::ECDSA_WITH_SHA_384,
            (true, Hash::Sha512) => o::ECDSA_WITH_SHA_512,
            (false, Hash::Sha256) => o::SHA_256_WITH_RSA_ENCRYPTION,
            (false, Hash::Sha384) => o::SHA_384_WITH_RSA_ENCRYPTION,
            (false, Hash::Sha512) => o::SHA_512_WITH_RSA_ENCRYPTION,
            _ => return None,
        })
    };
    match *signature_algorithm {
        a if a == OID_EC_PUBLIC_KEY => by_digest(true),
        a if a == OID_RSA_ENCRYPTION => by_digest(false),
        a if [
            o::ECDSA_WITH_SHA_256,
            o::ECDSA_WITH_SHA_384,
            o::ECDSA_WITH_SHA_512,
            o::SHA_256_WITH_RSA_ENCRYPTION,
            o::SHA_384_WITH_RSA_ENCRYPTION,
            o::SHA_512_WITH_RSA_ENCRYPTION,
        ]
        .contains(&a) =>
        {
            Some(a)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_is_der_with_nonce() {
        let r = TimestampRequest::new(b"sig");
        let any = AnyRef::from_der(r.der()).unwrap();
        let f = children(any.value(), "req").unwrap();
        assert_eq!(f.len(), 4);
        assert_eq!(f[2].0.value(), r.nonce.as_slice());
        assert_eq!(f[3].1, &[0x01, 0x01, 0xff]);
        let mi = children(f[1].0.value(), "mi").unwrap();
        assert_eq!(mi[1].0.value(), aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, b"sig").as_ref());
    }

    #[test]
    fn annotation_round_trip() {
        let v = annotation_value(&[1, 2, 3]);
        assert_eq!(v, r#"{"SignedRFC3161Timestamp":"AQID"}"#);
        assert_eq!(parse_annotation(&v).unwrap(), vec![1, 2, 3]);
        assert!(parse_annotation("{}").is_err());
        assert!(parse_annotation(r#"{"SignedRFC3161Timestamp":"@@"}"#).is_err());
    }

    #[test]
    fn generalized_time_with_fraction() {
        let raw = tlv(0x18, b"20240102030405.5Z");
        let t = generalized_time(&AnyRef::from_der(&raw).unwrap()).unwrap();
        let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap();
        assert_eq!(d.as_secs(), 1_704_164_645);
        assert_eq!(d.subsec_millis(), 500);
        assert!(generalized_time(&AnyRef::from_der(&tlv(0x18, b"2024010203Z")).unwrap()).is_err());
    }

    #[test]
    fn garbage_is_malformed() {
        assert!(matches!(Token::parse(b"\x30\x03\x02\x01\x00"), Err(TimestampError::Malformed { .. })));
        assert!(matches!(Token::parse(b"not der"), Err(TimestampError::Malformed { .. })));
        // status "rejection" (2)
        let resp = tlv(0x30, &tlv(0x30, &[0x02, 0x01, 0x02]));
        assert!(matches!(Token::parse(&resp), Err(TimestampError::NotGranted { .. })));
    }

    /// A TSTInfo with `policy` (the OID's content octets), a SHA-256 imprint of `data` and a
    /// genTime.
    fn tst_info(policy: &[u8], data: &[u8]) -> Vec<u8> {
        let mut algorithm = OID_SHA256.to_der().unwrap();
        algorithm.extend_from_slice(&[0x05, 0x00]);
        let imprint = [tlv(0x30, &algorithm), tlv(0x04, Hash::Sha256.digest(data).as_slice())].concat();
        let body = [
            vec![0x02, 0x01, 0x01],
            tlv(0x06, policy),
            tlv(0x30, &imprint),
            vec![0x02, 0x01, 0x07],
            tlv(0x18, b"20260101000000Z"),
        ]
        .concat();
        tlv(0x30, &body)
    }

    #[test]
    fn any_valid_policy_oid_is_accepted_and_reported() {
        // 2.999.1: first subidentifier 80 + 999 = 1079, two octets (X.690 §8.19.4); const-oid
        // refuses it, which made such tokens TIMESTAMP_MALFORMED.
        let der = tst_info(&[0x88, 0x37, 0x01], b"sig");
        let strict: Result<Oid, der::Error> = Decode::from_der(&tlv(0x06, &[0x88, 0x37, 0x01]));
        assert!(strict.is_err(), "const-oid accepts it now: simplify");
        let tst = parse_tst_info(&der).unwrap();
        assert_eq!(tst.policy, "2.999.1");
        assert_eq!(tst.imprint, Hash::Sha256.digest(b"sig").as_slice());
        // The usual ones, and arcs too large for 128 bits, shown rather than refused.
        assert_eq!(parse_tst_info(&tst_info(&[0x2b, 0x06, 0x01, 0x04, 0x01], b"")).unwrap().policy, "1.3.6.1.4.1");
        assert_eq!(parse_tst_info(&tst_info(&[0x00], b"")).unwrap().policy, "0.0");
        let huge = [[0xff; 19].as_slice(), &[0x7f]].concat();
        assert_eq!(parse_tst_info(&tst_info(&huge, b"")).unwrap().policy, format!("oid:{}", hex::encode(&huge)));
        // Invalid encodings are still malformed: non-minimal, truncated, empty, wrong tag.
        for bad in [&[0x80, 0x01][..], &[0x2b, 0x86], &[]] {
            assert!(matches!(parse_tst_info(&tst_info(bad, b"")), Err(TimestampError::Malformed { .. })), "{bad:?}");
        }
        let mut not_an_oid = tst_info(&[0x2b], b"");
        not_an_oid[5] = 0x04;
        assert!(matches!(parse_tst_info(&not_an_oid), Err(TimestampError::Malformed { .. })));
    }
}
