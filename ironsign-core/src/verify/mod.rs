//! Verification: pure and synchronous.
//!
//! Three inputs, kept apart as in sigstore-go: the trust material ([`TrustRoot`], given once to a
//! [`Verifier`]), the thing verified ([`SignedImage`], plain data fetched by
//! [`RegistryClient`](crate::registry::RegistryClient)) and the [`Policy`] (per call). Nothing here
//! does I/O, so it can run on any thread, in a batch, or under a binding's released GIL.
//!
//! A signature is accepted when every check passes on that same signature, in this order:
//! 1. the layer is a simple signing payload with a well-formed signature annotation;
//! 2. with certificate trust: the leaf parses (a certificate that does not parse is never
//!    treated as a raw key) and its key verifies the signature over the exact payload bytes
//!    (the cheap check, before any path is built), its usage allows code signing, it and every
//!    CA on a path to a configured root are valid at the verification time, and an identity of
//!    the policy matches; with key trust: a trusted key verifies the signature over the exact
//!    payload bytes;
//! 3. the payload is a cosign container image signature for exactly this image digest, and
//!    carries every annotation the policy requires.
//!
//! The image verifies iff at least one signature passes. "No signatures" and "none matched" are
//! different errors. Attestations are verified by [`attestation`] with the same trust and
//! identity checks, over the DSSE pre-authentication encoding.
//!
//! Both storage formats are verified: the layers of the legacy `.sig`/`.att` tags and Sigstore
//! bundle v0.3 referrers (cosign v3's default; see [`bundle`] for its checks). Each verified
//! signature records its [`SignatureFormat`].

pub mod attestation;
pub mod blob;
mod bundle;
pub mod rego;
mod results;

pub(crate) use results::ContentKey;
pub use results::{RESULT_WINDOW, ResultCacheStats};

use crate::cosign::{self, SignatureFormat, SignatureLayer, SignedImage, SimpleSigning};
use crate::error::{Error, InputError, RejectionReason, SignatureRejection, VerificationError};
use crate::pki::{Certificate, CertificateSummary, TrustRoot};
use crate::reference::Digest;
use base64::Engine as _;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::SystemTime;

/// Media type of a serialised [`VerificationResult`].
pub const RESULT_MEDIA_TYPE: &str = "application/vnd.ironsign.verification-result+json;version=0.1";

/// Which certificate field an identity is matched against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IdentityField {
    /// Any SAN: email, URI or DNS name (what cosign, Kyverno and podman match).
    San,
    /// The subject DN in RFC 4514 form (an ironsign extension).
    SubjectDn,
    /// The subject common name (an ironsign extension).
    CommonName,
}

#[derive(Debug, Clone)]
enum Matcher {
    Exact(String),
    Regex(regex::Regex),
}

/// An identity a signing certificate must carry.
#[derive(Debug, Clone)]
pub struct Identity {
    field: IdentityField,
    matcher: Matcher,
}

impl Identity {
    /// A SAN equal to `value`.
    pub fn san(value: impl Into<String>) -> Self {
        Identity { field: IdentityField::San, matcher: Matcher::Exact(value.into()) }
    }

    /// A SAN matching `pattern`. Like cosign's `--certificate-identity-regexp`, the pattern is
    /// **not anchored**: write `^…$` to match whole values.
    pub fn san_regex(pattern: &str) -> Result<Self, InputError> {
        Ok(Identity { field: IdentityField::San, matcher: Matcher::Regex(compile(pattern)?) })
    }

    /// Match on another field.
    pub fn on(mut self, field: IdentityField) -> Self {
        self.field = field;
        self
    }

    /// The field matched.
    pub fn field(&self) -> IdentityField {
        self.field
    }

    fn candidates(&self, cert: &CertificateSummary) -> Vec<String> {
        match self.field {
            IdentityField::San => cert.sans(),
            IdentityField::SubjectDn => vec![cert.subject.clone()],
            IdentityField::CommonName => cert.common_name().map(str::to_owned).into_iter().collect(),
        }
    }

    fn matches(&self, value: &str) -> bool {
        match &self.matcher {
            Matcher::Exact(v) => v == value,
            Matcher::Regex(r) => r.is_match(value),
        }
    }
}

impl std::fmt::Display for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let field = match self.field {
            IdentityField::San => "SAN",
            IdentityField::SubjectDn => "subject",
            IdentityField::CommonName => "CN",
        };
        match &self.matcher {
            Matcher::Exact(v) => write!(f, "{field} {v:?}"),
            Matcher::Regex(r) => write!(f, "{field} matching /{}/", r.as_str()),
        }
    }
}

fn compile(pattern: &str) -> Result<regex::Regex, InputError> {
    regex::RegexBuilder::new(pattern)
        .size_limit(1 << 20)
        .build()
        .map_err(|e| InputError::arg("identity regular expression", e.to_string()))
}

/// What a signature must satisfy beyond the trust material: the signer's identity and the
/// annotations of the payload.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    identities: Vec<Identity>,
    any_identity: bool,
    annotations: BTreeMap<String, String>,
    require_code_signing_eku: bool,
    require_timestamp: bool,
}

impl Policy {
    /// A policy requiring the signing certificate to carry `identity`.
    pub fn identity(identity: Identity) -> Self {
        Policy { identities: vec![identity], ..Default::default() }
    }

    /// A policy for key-based trust (no certificate identity applies).
    pub fn key_only() -> Self {
        Policy::default()
    }

    /// Accept any certificate that chains to a configured root, whatever identity it carries.
    /// Every certificate the CA ever issued, for any purpose, is then a valid signer.
    pub fn dangerous_any_identity() -> Self {
        Policy { any_identity: true, ..Default::default() }
    }

    /// Also accept this identity (any one of the identities suffices).
    pub fn or_identity(mut self, identity: Identity) -> Self {
        self.identities.push(identity);
        self
    }

    /// Require `optional[key] == value` in the payload (cosign's `-a key=value`).
    pub fn with_annotation(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.annotations.insert(key.into(), value.into());
        self
    }

    /// Require the leaf to carry an extended key usage with codeSigning (by default a leaf without
    /// the extension is accepted, as cosign and Go's x509 accept it).
    pub fn require_code_signing_eku(mut self, on: bool) -> Self {
        self.require_code_signing_eku = on;
        self
    }

    /// The extended key usage the leaf must allow under this policy.
    /// A digest of every part of the policy (the identities with their fields and patterns, the
    /// annotations, the requirements), so that verdicts are reused only under the same policy.
    pub(crate) fn fingerprint(&self) -> [u8; 32] {
        // Destructured, so that a new part of the policy cannot be left out of the fingerprint.
        let Policy { identities, any_identity, annotations, require_code_signing_eku, require_timestamp } = self;
        let mut hash = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
        // Every item length-prefixed, so no two policies hash the same bytes.
        let mut item = |bytes: &[u8]| {
            hash.update(&(bytes.len() as u64).to_be_bytes());
            hash.update(bytes);
        };
        item(&[u8::from(*any_identity), u8::from(*require_code_signing_eku), u8::from(*require_timestamp)]);
        item(&(identities.len() as u64).to_be_bytes());
        for identity in identities {
            let (kind, text) = match &identity.matcher {
                Matcher::Exact(value) => (0u8, value.as_str()),
                Matcher::Regex(regex) => (1u8, regex.as_str()),
            };
            item(&[identity.field as u8, kind]);
            item(text.as_bytes());
        }
        item(&(annotations.len() as u64).to_be_bytes());
        for (key, value) in annotations {
            item(key.as_bytes());
            item(value.as_bytes());
        }
        hash.finish().as_ref().try_into().expect("32 bytes")
    }

    pub(crate) fn eku_rule(&self) -> crate::pki::EkuRule {
        if self.require_code_signing_eku {
            crate::pki::EkuRule::CodeSigning
        } else {
            crate::pki::EkuRule::CodeSigningIfPresent
        }
    }

    /// Require every signature to carry an RFC 3161 timestamp that verifies against the trust
    /// root's timestamp authorities (what a trust configuration with a `tsa` section asks for; by
    /// default a timestamp is verified when present, as cosign does). A signature without one
    /// fails `TIMESTAMP_MISSING`.
    pub fn require_timestamp(mut self, on: bool) -> Self {
        self.require_timestamp = on;
        self
    }

    /// The required annotations.
    pub fn annotations(&self) -> &BTreeMap<String, String> {
        &self.annotations
    }

    fn check_against(&self, trust: &TrustRoot) -> Result<(), InputError> {
        if trust.has_certificate_authorities() && self.identities.is_empty() && !self.any_identity {
            return Err(InputError::arg(
                "policy",
                "certificate-based trust needs an identity (--certificate-identity or --certificate-identity-regexp)",
            ));
        }
        if !trust.has_certificate_authorities() && !self.identities.is_empty() {
            return Err(InputError::arg(
                "policy",
                "an identity cannot be checked with key-based trust (no root CA is configured)",
            ));
        }
        if !trust.has_certificate_authorities() && trust.public_keys().is_empty() {
            return Err(InputError::arg("trust", "no root CA and no public key is configured"));
        }
        if self.require_timestamp && trust.timestamp_authorities().is_empty() {
            return Err(InputError::arg("policy", "a timestamp is required but no timestamp authority is configured"));
        }
        Ok(())
    }

    /// The identities, as text for a rejection.
    fn expected_identities(&self) -> String {
        self.identities.iter().map(ToString::to_string).collect::<Vec<_>>().join(" or ")
    }

    pub(crate) fn match_identity(&self, cert: &CertificateSummary) -> Result<Option<String>, RejectionReason> {
        if self.identities.is_empty() && self.any_identity {
            return Ok(None);
        }
        for identity in &self.identities {
            if let Some(v) = identity.candidates(cert).into_iter().find(|v| identity.matches(v)) {
                return Ok(Some(v));
            }
        }
        let expected = self.expected_identities();
        let mut found: Vec<String> = Vec::new();
        for field in [IdentityField::San, IdentityField::SubjectDn, IdentityField::CommonName] {
            if self.identities.iter().any(|i| i.field == field) {
                found.extend(Identity::san("").on(field).candidates(cert));
            }
        }
        Err(RejectionReason::IdentityMismatch { expected, found })
    }
}

/// A [`Policy`] described by its parts, as the CLI's flags and the bindings' options give them.
/// [`PolicySpec::build`] is the one set of rules every surface follows, so a policy means the same
/// wherever it is written.
///
/// Identity lists: `None` is "not given"; any one value of the list given suffices (an ironsign
/// extension: cosign takes one). One form only: cosign requires both a SAN and a SAN pattern when
/// both are given, where "any one" would accept more, so mixing forms is refused rather than read
/// either way.
#[derive(Debug, Clone, Default)]
pub struct PolicySpec {
    /// SANs (email, URI or DNS name), exact.
    pub identity: Option<Vec<String>>,
    /// Regular expressions a SAN must match, unanchored as in cosign.
    pub identity_regexp: Option<Vec<String>>,
    /// Subject DNs (RFC 4514), exact.
    pub subject: Option<Vec<String>>,
    /// Regular expressions the subject DN must match.
    pub subject_regexp: Option<Vec<String>>,
    /// `optional[key] == value` the payload must hold.
    pub annotations: BTreeMap<String, String>,
    /// See [`Policy::require_code_signing_eku`].
    pub require_code_signing_eku: bool,
    /// See [`Policy::dangerous_any_identity`]; excludes every identity form.
    pub dangerous_any_identity: bool,
}

impl PolicySpec {
    /// The policy, or an error naming the field at fault: two identity forms, an identity form
    /// with `dangerous_any_identity`, an empty list, an empty value (an empty pattern matches
    /// every SAN), or a pattern that does not compile. No identity at all gives a key-only policy
    /// (refused at verification if the trust has root CAs).
    pub fn build(&self) -> Result<Policy, InputError> {
        let forms: [(&str, &Option<Vec<String>>, IdentityField, bool); 4] = [
            ("identity", &self.identity, IdentityField::San, false),
            ("identity_regexp", &self.identity_regexp, IdentityField::San, true),
            ("subject", &self.subject, IdentityField::SubjectDn, false),
            ("subject_regexp", &self.subject_regexp, IdentityField::SubjectDn, true),
        ];
        let given: Vec<&str> = forms.iter().filter(|(_, v, ..)| v.is_some()).map(|(name, ..)| *name).collect();
        if given.len() > 1 {
            return Err(InputError::arg(
                &given.join("/"),
                "give one identity form (identity, identity_regexp, subject or subject_regexp); each takes several values, any one of which suffices",
            ));
        }
        if self.dangerous_any_identity && !given.is_empty() {
            return Err(InputError::arg("dangerous_any_identity", format!("not with {}", given[0])));
        }
        let mut identities = Vec::new();
        for (name, values, field, regex) in forms {
            let Some(values) = values else { continue };
            if values.is_empty() {
                return Err(InputError::arg(name, "an empty list of identities"));
            }
            for value in values {
                if value.is_empty() {
                    return Err(InputError::arg(name, "an empty value (an empty pattern would match every SAN)"));
                }
                let identity = if regex {
                    Identity::san_regex(value).map_err(|e| match e {
                        InputError::InvalidArgument { reason, .. } => InputError::arg(name, reason),
                        other => other,
                    })?
                } else {
                    Identity::san(value.clone())
                };
                identities.push(identity.on(field));
            }
        }
        let mut policy = match identities.split_first() {
            Some((first, rest)) => rest.iter().fold(Policy::identity(first.clone()), |p, i| p.or_identity(i.clone())),
            None if self.dangerous_any_identity => Policy::dangerous_any_identity(),
            None => Policy::key_only(),
        };
        for (k, v) in &self.annotations {
            policy = policy.with_annotation(k, v);
        }
        Ok(policy.require_code_signing_eku(self.require_code_signing_eku))
    }
}

/// A check that passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    /// The leaf's key usage and extended key usage allow code signing.
    CodeSigningUsage,
    /// The leaf and every CA on its path are valid at the verification time.
    Validity,
    /// The leaf chains to a configured root CA.
    ChainToRoot,
    /// A policy identity matched.
    Identity,
    /// The signature was made by a configured public key.
    TrustedKey,
    /// The signature verifies over the payload.
    Signature,
    /// The payload is a cosign container image signature.
    PayloadType,
    /// The payload names this image's digest.
    DigestBinding,
    /// The payload carries the required annotations.
    Annotations,
    /// The envelope's payload type is in-toto.
    EnvelopeType,
    /// A statement subject names this image's digest.
    SubjectBinding,
    /// The statement's predicate type is the one asked for.
    PredicateType,
    /// The Rego policy allowed the statement.
    Policy,
    /// An RFC 3161 timestamp over the signature verified against a configured TSA root; the
    /// certificates were checked at its time.
    Timestamp,
}

/// Who made a verified signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum VerifiedSigner {
    /// A certificate chaining to a configured root.
    Certificate {
        /// The leaf.
        certificate: Box<CertificateSummary>,
        /// Subjects of the path, leaf first, root last.
        chain: Vec<String>,
    },
    /// A configured public key.
    Key {
        /// Hex SHA-256 of its SubjectPublicKeyInfo.
        fingerprint: String,
    },
}

/// A signature that passed every check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifiedSignature {
    /// Its position among the layers.
    pub index: usize,
    /// Its payload layer digest (for a bundle: the bundle blob's digest).
    pub layer_digest: Digest,
    /// Where it is stored: a `.sig` layer or a Sigstore bundle referrer.
    pub format: SignatureFormat,
    /// The referrer manifest digest, for a bundle.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub referrer: Option<Digest>,
    /// Its signer.
    pub signer: VerifiedSigner,
    /// The identity value that matched the policy, when one was required.
    pub matched_identity: Option<String>,
    /// The verified payload (for a bundle: cosign's simple-signing view of the statement, `type`
    /// being its predicate type and `optional` its subject's annotations).
    pub payload: SimpleSigning,
    /// The checks that passed, in order.
    pub checks: Vec<Check>,
    /// The verified RFC 3161 timestamp the certificates were checked at, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<crate::tsa::VerifiedTimestamp>,
}

impl VerifiedSignature {
    /// The signing certificate, when certificate trust was used.
    pub fn certificate(&self) -> Option<&CertificateSummary> {
        match &self.signer {
            VerifiedSigner::Certificate { certificate, .. } => Some(certificate),
            VerifiedSigner::Key { .. } => None,
        }
    }
}

/// What verification proved, and only that.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerificationResult {
    /// [`RESULT_MEDIA_TYPE`].
    pub media_type: &'static str,
    /// The repository.
    pub repository: String,
    /// The image digest.
    pub digest: Digest,
    /// The time certificates were checked at, RFC 3339.
    pub verified_at: String,
    /// Where that time came from: `current_time` (no verified timestamp).
    pub time_source: &'static str,
    /// The signatures that passed every check.
    pub signatures: Vec<VerifiedSignature>,
    /// The signatures that did not, with the first check each failed.
    pub rejected: Vec<SignatureRejection>,
}

/// Verifies images against trust material given once.
#[derive(Debug, Clone)]
pub struct Verifier {
    trust: TrustRoot,
    max_chain: usize,
    /// Certificate paths validated against `trust` (shared by clones, which trust the same).
    paths: std::sync::Arc<crate::pki::PathCache>,
    /// Verdicts reached under `trust`, by content (shared by clones).
    results: std::sync::Arc<results::ResultCache>,
}

impl Verifier {
    /// A verifier trusting `trust`. It remembers the certificate paths it validates, so verifying
    /// many images signed by one certificate builds its path once (see `pki::paths`: a cached
    /// path is used only where the leaf, the chain offered, the validity window of every
    /// certificate on the path and the CRLs' freshness still hold).
    pub fn new(trust: TrustRoot) -> Self {
        Verifier {
            trust,
            max_chain: crate::pki::DEFAULT_MAX_CHAIN,
            paths: Default::default(),
            results: Default::default(),
        }
    }

    /// What its cache of verdicts by content did (see [`crate::batch`]): hits are verifications
    /// that verified no signature.
    pub fn result_cache_stats(&self) -> ResultCacheStats {
        self.results.stats()
    }

    /// The verdict held for `key`, if it still holds at `at`.
    pub(crate) fn cached_result(&self, key: &ContentKey, at: SystemTime) -> Option<(SignedImage, VerificationResult)> {
        self.results.get(key, &self.trust, at)
    }

    /// Keeps a pass reached at `at` on `signed` under `key` (see `results::ResultCache::put`).
    pub(crate) fn cache_result(
        &self,
        key: ContentKey,
        signed: &SignedImage,
        result: &VerificationResult,
        policy: &Policy,
        at: SystemTime,
    ) {
        self.results.put(key, signed, result, &self.paths, policy.eku_rule(), at);
    }

    /// The trust material.
    pub fn trust(&self) -> &TrustRoot {
        &self.trust
    }

    /// Verifies at the current time.
    pub fn verify(&self, image: &SignedImage, policy: &Policy) -> Result<VerificationResult, Error> {
        self.verify_at(image, policy, SystemTime::now())
    }

    /// Verifies, checking certificate validity at `at`.
    pub fn verify_at(&self, image: &SignedImage, policy: &Policy, at: SystemTime) -> Result<VerificationResult, Error> {
        policy.check_against(&self.trust)?;
        let kind = "signatures";
        if image.signatures.is_empty() {
            return Err(VerificationError::NoSignatures {
                image: format!("{}@{}", image.repository, image.digest),
                kind: kind.into(),
            }
            .into());
        }
        let mut signatures = Vec::new();
        let mut rejected = Vec::new();
        for (index, layer) in image.signatures.iter().enumerate() {
            match self.check_signature(image, layer, policy, at) {
                Ok(((signer, matched_identity, payload, checks), timestamp)) => signatures.push(VerifiedSignature {
                    index,
                    layer_digest: layer.payload_digest.clone(),
                    format: layer.format(),
                    referrer: layer.referrer.clone(),
                    signer,
                    matched_identity,
                    payload,
                    checks,
                    timestamp,
                }),
                Err(reason) => rejected.push(SignatureRejection::new(index, layer.payload_digest.to_string(), reason)),
            }
        }
        if signatures.is_empty() {
            return Err(VerificationError::NoMatchingSignature {
                image: format!("{}@{}", image.repository, image.digest),
                kind: kind.into(),
                count: image.signatures.len(),
                rejections: rejected,
            }
            .into());
        }
        Ok(VerificationResult {
            media_type: RESULT_MEDIA_TYPE,
            repository: image.repository.clone(),
            digest: image.digest.clone(),
            verified_at: crate::pki::format_unix(at.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default()),
            time_source: "current_time",
            signatures,
            rejected,
        })
    }

    /// Establishes who signed, checking certificates at `at` (no timestamp): returns the signer
    /// and the matched identity, and records the checks.
    #[allow(dead_code)] // for verifiers of formats without cosign's timestamp annotation
    pub(crate) fn establish_signer(
        &self,
        layer: &SignatureLayer,
        signed_bytes: &[u8],
        signature: &[u8],
        policy: &Policy,
        at: SystemTime,
        checks: &mut Vec<Check>,
    ) -> Result<(VerifiedSigner, Option<String>), RejectionReason> {
        let time = SigningTime { at, now: at, timestamp: None };
        self.establish_signer_at(layer, signed_bytes, signature, policy, &time, checks)
    }

    /// The time a layer's certificates are checked at: the time of its RFC 3161 timestamp when
    /// TSA roots are configured and the layer carries one (which must then verify), else `now`.
    ///
    /// A token vouches only for the bytes its imprint covers, so `covered` lists exactly the bytes
    /// a token may be over *and* that bind it to the signature that is then verified: for a `.sig`
    /// layer the signature itself (the decoded signature annotation, which is what verifies); for
    /// an attestation the DSSE envelope blob (cosign v2: it holds the signature) or the DSSE
    /// signature being verified (cosign v3), never the signature annotation, which nothing
    /// verifies for an attestation. A token over other bytes is an imprint mismatch.
    pub(crate) fn signing_time(
        &self,
        layer: &SignatureLayer,
        covered: &[&[u8]],
        now: SystemTime,
    ) -> Result<SigningTime, RejectionReason> {
        let authorities = self.trust.timestamp_authorities();
        let annotation = layer.annotations.get(cosign::RFC3161_ANNOTATION).filter(|v| !v.trim().is_empty());
        let (false, Some(annotation)) = (authorities.is_empty(), annotation) else {
            return Ok(SigningTime { at: now, now, timestamp: None });
        };
        let response = crate::tsa::parse_annotation(annotation).map_err(RejectionReason::Timestamp)?;
        let mut outcome = Err(crate::error::TimestampError::Malformed { reason: "nothing to timestamp".into() });
        for data in covered {
            outcome = authorities.verify(&response, data);
            if !matches!(outcome, Err(crate::error::TimestampError::ImprintMismatch { .. })) {
                break;
            }
        }
        let verified = outcome.map_err(RejectionReason::Timestamp)?;
        Ok(SigningTime { at: verified.time, now, timestamp: Some(verified) })
    }

    /// [`Self::establish_signer`] at a [`SigningTime`]: with a verified timestamp, an expired
    /// certificate is accepted if it was valid at the timestamp's time.
    pub(crate) fn establish_signer_at(
        &self,
        layer: &SignatureLayer,
        signed_bytes: &[u8],
        signature: &[u8],
        policy: &Policy,
        time: &SigningTime,
        checks: &mut Vec<Check>,
    ) -> Result<(VerifiedSigner, Option<String>), RejectionReason> {
        let (at, timestamp_needed) = (time.at, time.timestamp.is_none());
        if time.timestamp.is_some() {
            checks.push(Check::Timestamp);
        } else if policy.require_timestamp {
            let reason = match layer.format() {
                // Checked in the legacy annotation only; a bundle's own timestamps are not read.
                SignatureFormat::SigstoreBundle => "the timestamps of a Sigstore bundle are not checked".into(),
                SignatureFormat::LegacyTag => String::new(),
            };
            return Err(RejectionReason::Timestamp(crate::error::TimestampError::Missing { reason }));
        }
        let cert_pem = layer.certificate_pem();
        if let (Some(pem), true) = (cert_pem, self.trust.has_certificate_authorities()) {
            let leaf = Certificate::from_pem_or_der(pem.as_bytes(), "certificate annotation")
                .map_err(RejectionReason::Certificate)?;
            // The cheap check first: one signature verification with the leaf's key, before the
            // chain is parsed and a path built (several signature verifications each), so that
            // signatures the leaf did not make cost little however many there are.
            let key = leaf.public_key().map_err(RejectionReason::Certificate)?;
            if !key.verify(signed_bytes, signature) {
                return Err(RejectionReason::BadSignature { key: format!("certificate {:?}", leaf.subject()) });
            }
            checks.push(Check::Signature);
            let untrusted = match layer.chain_pem() {
                Some(chain) => Certificate::from_pem_many(chain.as_bytes(), "chain annotation", self.max_chain)
                    .map_err(RejectionReason::Certificate)?,
                None => Vec::new(),
            };
            let path = self
                .trust
                .verify_code_signing_cached(
                    &self.paths,
                    &leaf,
                    &untrusted,
                    at,
                    time.now,
                    policy.eku_rule(),
                    timestamp_needed,
                )
                .map_err(RejectionReason::Certificate)?;
            checks.extend([Check::CodeSigningUsage, Check::Validity, Check::ChainToRoot]);
            let matched = policy.match_identity(leaf.summary())?;
            if matched.is_some() {
                checks.push(Check::Identity);
            }
            let chain = path.iter().map(|c| c.subject().to_owned()).collect();
            return Ok((VerifiedSigner::Certificate { certificate: Box::new(leaf.summary().clone()), chain }, matched));
        }
        if self.trust.public_keys().is_empty() {
            return Err(RejectionReason::MissingCertificate);
        }
        // An identity policy applies to every signature: a key carries no identity, so with both
        // CAs and keys configured a key-only signature cannot satisfy a required identity.
        if !policy.identities.is_empty() {
            return Err(RejectionReason::IdentityMismatch {
                expected: policy.expected_identities(),
                found: Vec::new(),
            });
        }
        let key = self.trust.public_keys().iter().find(|k| k.verify(signed_bytes, signature)).ok_or_else(|| {
            let keys = self
                .trust
                .public_keys()
                .iter()
                .map(|k| format!("sha256:{}", k.fingerprint()))
                .collect::<Vec<_>>()
                .join(", ");
            RejectionReason::BadSignature { key: format!("any configured key ({keys})") }
        })?;
        checks.extend([Check::TrustedKey, Check::Signature]);
        // cosign checks the validity of a certificate a signature carries even under key trust.
        if let Some(pem) = cert_pem {
            let leaf = Certificate::from_pem_or_der(pem.as_bytes(), "certificate annotation")
                .map_err(RejectionReason::Certificate)?;
            leaf.check_validity(at, timestamp_needed).map_err(RejectionReason::Certificate)?;
            checks.push(Check::Validity);
        }
        Ok((VerifiedSigner::Key { fingerprint: key.fingerprint() }, None))
    }

    #[allow(clippy::type_complexity)]
    fn check_signature(
        &self,
        image: &SignedImage,
        layer: &SignatureLayer,
        policy: &Policy,
        at: SystemTime,
    ) -> Result<
        ((VerifiedSigner, Option<String>, SimpleSigning, Vec<Check>), Option<crate::tsa::VerifiedTimestamp>),
        RejectionReason,
    > {
        if layer.format() == SignatureFormat::SigstoreBundle {
            // A bundle's own timestamps are not used (see check_attestation).
            return self.check_bundle_signature(image, layer, policy, at).map(|r| (r, None));
        }
        if layer.media_type != cosign::SIMPLE_SIGNING_MEDIA_TYPE {
            return Err(RejectionReason::MediaType {
                found: layer.media_type.clone(),
                expected: cosign::SIMPLE_SIGNING_MEDIA_TYPE.into(),
            });
        }
        let signature = decode_signature(layer)?;
        let mut checks = Vec::new();
        // The annotation is the signature verified below: a token over it is bound to it.
        let time = self.signing_time(layer, &[signature.as_slice()], at)?;
        let (signer, matched) =
            self.establish_signer_at(layer, &layer.payload, &signature, policy, &time, &mut checks)?;
        let payload = cosign::parse_simple_signing(&layer.payload)?;
        if payload.kind != cosign::SIGNATURE_TYPE {
            return Err(RejectionReason::PayloadType { found: payload.kind, expected: cosign::SIGNATURE_TYPE.into() });
        }
        checks.push(Check::PayloadType);
        if payload.docker_manifest_digest != image.digest.as_str() {
            return Err(RejectionReason::DigestMismatch {
                expected: image.digest.to_string(),
                found: payload.docker_manifest_digest,
            });
        }
        checks.push(Check::DigestBinding);
        check_annotations(policy, Some(&payload.optional))?;
        if !policy.annotations.is_empty() {
            checks.push(Check::Annotations);
        }
        Ok(((signer, matched, payload, checks), time.timestamp))
    }
}

/// When a signature's certificates are checked: `at`, which is a verified timestamp's time when
/// `timestamp` is set; `now` is the verification's current time (what revocation data must be
/// fresh at, whatever time the certificates are checked at).
#[derive(Debug, Clone)]
pub(crate) struct SigningTime {
    pub(crate) at: SystemTime,
    pub(crate) now: SystemTime,
    pub(crate) timestamp: Option<crate::tsa::VerifiedTimestamp>,
}

/// Checks every required annotation in `annotations` (the payload's `optional`, or the statement
/// subject's `annotations`). As in cosign, which compares the JSON values with the strings of
/// `-a key=value`, only a string equal to the value matches: the number `1` or `true` never
/// matches `"1"` or `"true"`.
pub(crate) fn check_annotations(
    policy: &Policy,
    annotations: Option<&serde_json::Map<String, serde_json::Value>>,
) -> Result<(), RejectionReason> {
    for (key, expected) in &policy.annotations {
        let found = annotations.and_then(|a| a.get(key));
        if !matches!(found, Some(serde_json::Value::String(s)) if s == expected) {
            return Err(RejectionReason::AnnotationMismatch {
                key: key.clone(),
                expected: expected.clone(),
                found: found.map(|v| match v {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                }),
            });
        }
    }
    Ok(())
}

/// Decodes the base64 signature annotation.
pub(crate) fn decode_signature(layer: &SignatureLayer) -> Result<Vec<u8>, RejectionReason> {
    let b64 = layer.signature_b64().ok_or_else(|| RejectionReason::MalformedSignature {
        reason: format!("no {} annotation", cosign::SIGNATURE_ANNOTATION),
    })?;
    base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .map_err(|e| RejectionReason::MalformedSignature { reason: format!("signature annotation is not base64: {e}") })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{KeyKind, KeyPairSigner, Signer as _};

    #[test]
    fn annotations_match_strings_only_as_in_cosign() {
        let (signer, _) = KeyPairSigner::generate(KeyKind::EcdsaP256).unwrap();
        let verifier = Verifier::new(TrustRoot::from_public_keys(vec![signer.public_key().clone()]));
        let digest = Digest::sha256(b"image");
        let payload = serde_json::json!({
            "critical": {
                "identity": {"docker-reference": "r/i"},
                "image": {"docker-manifest-digest": digest.as_str()},
                "type": cosign::SIGNATURE_TYPE,
            },
            "optional": {"s": "1", "n": 1, "b": true, "o": {"k": "v"}, "z": null},
        })
        .to_string()
        .into_bytes();
        let signature = base64::engine::general_purpose::STANDARD.encode(signer.sign(&payload).unwrap());
        let layer = SignatureLayer {
            media_type: cosign::SIMPLE_SIGNING_MEDIA_TYPE.into(),
            payload_digest: Digest::sha256(&payload),
            payload,
            annotations: BTreeMap::from([(cosign::SIGNATURE_ANNOTATION.to_owned(), signature)]),
            referrer: None,
        };
        let image = SignedImage { repository: "r/i".into(), digest, signatures: vec![layer] };
        let verify = |key: &str, value: &str| verifier.verify(&image, &Policy::key_only().with_annotation(key, value));
        verify("s", "1").unwrap();
        // cosign compares the JSON value with the string: a number, a boolean, an object or null
        // never equals one, whatever their JSON text.
        for (key, text) in [("n", "1"), ("b", "true"), ("o", r#"{"k":"v"}"#), ("z", "null"), ("missing", "")] {
            let err = verify(key, text).unwrap_err();
            let Error::Verification(VerificationError::NoMatchingSignature { rejections, .. }) = err else {
                panic!("{key}: {err:?}")
            };
            assert_eq!(rejections[0].reason.code(), "ANNOTATION_MISMATCH", "{key}");
        }
    }

    fn refused(spec: PolicySpec) -> String {
        match spec.build() {
            Err(InputError::InvalidArgument { name, .. }) => name,
            other => panic!("expected INVALID_ARGUMENT, got {other:?}"),
        }
    }

    fn values(v: &[&str]) -> Option<Vec<String>> {
        Some(v.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn policy_spec_refuses_ambiguous_or_empty_identities_naming_the_field() {
        let mixed = PolicySpec { identity: values(&["a@x"]), identity_regexp: values(&["^b@"]), ..Default::default() };
        assert_eq!(refused(mixed), "identity/identity_regexp");
        let any = PolicySpec { subject: values(&["CN=a"]), dangerous_any_identity: true, ..Default::default() };
        assert_eq!(refused(any), "dangerous_any_identity");
        assert_eq!(refused(PolicySpec { identity: values(&[]), ..Default::default() }), "identity");
        // An empty pattern would match every SAN: a variable left unset must not open the policy.
        assert_eq!(refused(PolicySpec { identity_regexp: values(&[""]), ..Default::default() }), "identity_regexp");
        assert_eq!(refused(PolicySpec { subject: values(&["CN=a", ""]), ..Default::default() }), "subject");
        assert_eq!(refused(PolicySpec { subject_regexp: values(&["("]), ..Default::default() }), "subject_regexp");
    }

    #[test]
    fn policy_spec_builds_every_part() {
        let spec = PolicySpec {
            subject_regexp: values(&["^CN=a$", "^CN=b$"]),
            annotations: [("env".to_owned(), "prod".to_owned())].into(),
            require_code_signing_eku: true,
            ..Default::default()
        };
        let policy = spec.build().unwrap();
        assert_eq!(policy.identities.len(), 2);
        assert!(policy.identities.iter().all(|i| i.field() == IdentityField::SubjectDn));
        assert_eq!(policy.annotations()["env"], "prod");
        assert!(policy.require_code_signing_eku && !policy.any_identity);
        let any = PolicySpec { dangerous_any_identity: true, ..Default::default() }.build().unwrap();
        assert!(any.any_identity && any.identities.is_empty());
        let key_only = PolicySpec::default().build().unwrap();
        assert!(!key_only.any_identity && key_only.identities.is_empty() && !key_only.require_code_signing_eku);
    }
}
