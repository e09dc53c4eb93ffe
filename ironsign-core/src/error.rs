//! Errors, by family.
//!
//! Every error is an enum variant that names what was wrong (which certificate, which field, what was
//! expected) and carries a stable [`code`](Error::code). The codes are part of the API: the CLI maps
//! families to exit codes, the Python binding maps them to exception classes and the Node binding puts
//! them on `err.code`. Secrets never appear in an error.

use serde::Serialize;
use std::fmt;

/// Any error ironsign returns.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[serde(tag = "family", content = "error", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Error {
    /// The image is not trusted: the security verdict.
    #[error(transparent)]
    Verification(#[from] VerificationError),
    /// The registry or image layout could not be read or written.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// A private or public key could not be used.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// A certificate could not be parsed or fails a check at signing or loading time.
    #[error(transparent)]
    Certificate(#[from] CertificateError),
    /// Bad input from the caller: a reference, a file, an argument.
    #[error(transparent)]
    Input(#[from] InputError),
    /// An RFC 3161 timestamp could not be obtained or does not verify.
    #[error(transparent)]
    Timestamp(#[from] TimestampError),
}

/// The family of an [`Error`], for callers that branch on the kind of failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorFamily {
    /// See [`Error::Verification`].
    Verification,
    /// See [`Error::Registry`].
    Registry,
    /// See [`Error::Key`].
    Key,
    /// See [`Error::Certificate`].
    Certificate,
    /// See [`Error::Input`].
    Input,
    /// See [`Error::Timestamp`].
    Timestamp,
}

impl Error {
    /// The stable code of this error, e.g. `NO_MATCHING_SIGNATURE`.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Verification(e) => e.code(),
            Error::Registry(e) => e.code(),
            Error::Key(e) => e.code(),
            Error::Certificate(e) => e.code(),
            Error::Input(e) => e.code(),
            Error::Timestamp(e) => e.code(),
        }
    }

    /// The family this error belongs to.
    pub fn family(&self) -> ErrorFamily {
        match self {
            Error::Verification(_) => ErrorFamily::Verification,
            Error::Registry(_) => ErrorFamily::Registry,
            Error::Key(_) => ErrorFamily::Key,
            Error::Certificate(_) => ErrorFamily::Certificate,
            Error::Input(_) => ErrorFamily::Input,
            Error::Timestamp(_) => ErrorFamily::Timestamp,
        }
    }

    /// The structured details of this error as JSON (the same object the bindings expose).
    pub fn details(&self) -> serde_json::Value {
        let mut value = serde_json::to_value(self).unwrap_or(serde_json::Value::Null);
        // Flatten {"family":..,"error":{"Variant":{..}}} to {"Variant":{..}}: the family is known already.
        if let Some(inner) = value.get_mut("error") {
            return inner.take();
        }
        value
    }
}

/// Every code [`Error::code`] returns, by family (the codes of [`CertificateError`] are also
/// rejection codes). The bindings export this list; a test keeps it equal to the `code()` methods.
pub const ERROR_CODES: &[(ErrorFamily, &str)] = &[
    (ErrorFamily::Verification, "NO_SIGNATURES"),
    (ErrorFamily::Verification, "NO_MATCHING_SIGNATURE"),
    (ErrorFamily::Verification, "POLICY_DENIED"),
    (ErrorFamily::Registry, "IMAGE_NOT_FOUND"),
    (ErrorFamily::Registry, "REGISTRY_UNAUTHORIZED"),
    (ErrorFamily::Registry, "REGISTRY_HTTP"),
    (ErrorFamily::Registry, "REGISTRY_TRANSPORT"),
    (ErrorFamily::Registry, "REGISTRY_INVALID_RESPONSE"),
    (ErrorFamily::Registry, "REGISTRY_TOO_LARGE"),
    (ErrorFamily::Registry, "REGISTRY_TOO_MANY"),
    (ErrorFamily::Registry, "REGISTRY_DIGEST_MISMATCH"),
    (ErrorFamily::Registry, "REGISTRY_CONCURRENT_UPDATE"),
    (ErrorFamily::Registry, "LAYOUT"),
    (ErrorFamily::Registry, "REGISTRY_CREDENTIALS"),
    (ErrorFamily::Key, "KEY_PARSE"),
    (ErrorFamily::Key, "KEY_PASSWORD_REQUIRED"),
    (ErrorFamily::Key, "KEY_WRONG_PASSWORD"),
    (ErrorFamily::Key, "KEY_UNSUPPORTED"),
    (ErrorFamily::Key, "KEY_SIGNING_FAILED"),
    (ErrorFamily::Key, "KMS_KEY_NOT_FOUND"),
    (ErrorFamily::Key, "KMS_ACCESS_DENIED"),
    (ErrorFamily::Key, "KMS_KEY_DISABLED"),
    (ErrorFamily::Key, "KMS_THROTTLED"),
    (ErrorFamily::Key, "KMS_UNREACHABLE"),
    (ErrorFamily::Key, "KMS_FAILED"),
    (ErrorFamily::Certificate, "CERT_PARSE"),
    (ErrorFamily::Certificate, "CERT_EXPIRED"),
    (ErrorFamily::Certificate, "CERT_NOT_YET_VALID"),
    (ErrorFamily::Certificate, "CERT_NO_CODE_SIGNING"),
    (ErrorFamily::Certificate, "CERT_NO_DIGITAL_SIGNATURE"),
    (ErrorFamily::Certificate, "CERT_KEY_MISMATCH"),
    (ErrorFamily::Certificate, "CERT_UNTRUSTED_CHAIN"),
    (ErrorFamily::Certificate, "CERT_NOT_A_ROOT"),
    (ErrorFamily::Certificate, "CERT_UNSUPPORTED"),
    (ErrorFamily::Certificate, "CERT_TOO_MANY"),
    (ErrorFamily::Certificate, "CERT_REVOKED"),
    (ErrorFamily::Input, "INVALID_REFERENCE"),
    (ErrorFamily::Input, "IO"),
    (ErrorFamily::Input, "INVALID_ARGUMENT"),
    (ErrorFamily::Input, "INVALID_PREDICATE"),
    (ErrorFamily::Input, "PREDICATE_SCHEMA_VIOLATION"),
    (ErrorFamily::Input, "UNKNOWN_SCANNER"),
    (ErrorFamily::Input, "UNKNOWN_SBOM_FORMAT"),
    (ErrorFamily::Input, "SBOM_FORMAT_MISMATCH"),
    (ErrorFamily::Input, "INVALID_POLICY"),
    (ErrorFamily::Verification, "IMAGE_NOT_COVERED"),
    (ErrorFamily::Input, "INVALID_TRUST_CONFIG"),
    (ErrorFamily::Timestamp, "TIMESTAMP_MALFORMED"),
    (ErrorFamily::Timestamp, "TIMESTAMP_NOT_GRANTED"),
    (ErrorFamily::Timestamp, "TIMESTAMP_IMPRINT_MISMATCH"),
    (ErrorFamily::Timestamp, "TIMESTAMP_NONCE_MISMATCH"),
    (ErrorFamily::Timestamp, "TIMESTAMP_BAD_SIGNATURE"),
    (ErrorFamily::Timestamp, "TIMESTAMP_UNTRUSTED"),
    (ErrorFamily::Timestamp, "TIMESTAMP_REQUEST"),
    (ErrorFamily::Timestamp, "TIMESTAMP_MISSING"),
];

/// Every code [`SignatureRejection::code`] (a rejected signature's first failed check) takes:
/// the [`RejectionReason`] codes and the [`CertificateError`] codes.
pub const REJECTION_CODES: &[&str] = &[
    "MISSING_CERTIFICATE",
    "IDENTITY_MISMATCH",
    "MALFORMED_SIGNATURE",
    "BAD_SIGNATURE",
    "INVALID_PAYLOAD",
    "PAYLOAD_TYPE_MISMATCH",
    "DIGEST_MISMATCH",
    "ANNOTATION_MISMATCH",
    "MEDIA_TYPE_MISMATCH",
    "PREDICATE_TYPE_MISMATCH",
    "SUBJECT_MISMATCH",
    "POLICY_DENIED",
    "CERT_PARSE",
    "CERT_EXPIRED",
    "CERT_NOT_YET_VALID",
    "CERT_NO_CODE_SIGNING",
    "CERT_NO_DIGITAL_SIGNATURE",
    "CERT_KEY_MISMATCH",
    "CERT_UNTRUSTED_CHAIN",
    "CERT_NOT_A_ROOT",
    "CERT_UNSUPPORTED",
    "CERT_TOO_MANY",
    "CERT_REVOKED",
    "TIMESTAMP_MALFORMED",
    "TIMESTAMP_NOT_GRANTED",
    "TIMESTAMP_IMPRINT_MISMATCH",
    "TIMESTAMP_NONCE_MISMATCH",
    "TIMESTAMP_BAD_SIGNATURE",
    "TIMESTAMP_UNTRUSTED",
    "TIMESTAMP_REQUEST",
    "TIMESTAMP_MISSING",
];

/// A convenient alias.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why an image is not trusted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[non_exhaustive]
pub enum VerificationError {
    /// The image has no signatures (or attestations) of the kind asked for at all.
    #[error("no {kind} found for {image}")]
    NoSignatures {
        /// The image, by digest.
        image: String,
        /// `signatures` or `attestations`.
        kind: String,
    },
    /// Signatures exist, but none passed every check. Each one's first failed check is listed.
    #[error("none of the {count} {kind} of {image} matched: {}", RejectionList(.rejections))]
    NoMatchingSignature {
        /// The image, by digest.
        image: String,
        /// `signatures` or `attestations`.
        kind: String,
        /// How many were examined.
        count: usize,
        /// Why each was rejected, in registry order.
        rejections: Vec<SignatureRejection>,
    },
    /// Attestations of the type passed every check, but the policy denied at least one of them
    /// (as in cosign, every verified attestation of the type must satisfy the policy).
    #[error("the policy {policy} denied {} of the {verified} verified attestations of {image}: {}", .denials.len(), RejectionList(.denials))]
    PolicyDenied {
        /// The image, by digest.
        image: String,
        /// The policy file or name.
        policy: String,
        /// How many attestations passed the signature, subject and type checks.
        verified: usize,
        /// The attestations the policy denied.
        denials: Vec<SignatureRejection>,
    },
    /// The trust configuration does not cover the image: no image pattern matches it.
    #[error("{image} is not covered by the trust configuration (images: {})", .patterns.join(", "))]
    ImageNotCovered {
        /// The image.
        image: String,
        /// The configuration's image patterns.
        patterns: Vec<String>,
    },
}

impl VerificationError {
    /// See [`Error::code`].
    pub fn code(&self) -> &'static str {
        match self {
            VerificationError::NoSignatures { .. } => "NO_SIGNATURES",
            VerificationError::NoMatchingSignature { .. } => "NO_MATCHING_SIGNATURE",
            VerificationError::PolicyDenied { .. } => "POLICY_DENIED",
            VerificationError::ImageNotCovered { .. } => "IMAGE_NOT_COVERED",
        }
    }
}

struct RejectionList<'a>(&'a [SignatureRejection]);
impl fmt::Display for RejectionList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "#{} ({}): {}", r.index, short_digest(&r.layer_digest), r.reason)?;
        }
        Ok(())
    }
}

fn short_digest(d: &str) -> &str {
    d.get(..19).unwrap_or(d)
}

/// One signature that was examined and rejected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SignatureRejection {
    /// Its position among the image's signature layers.
    pub index: usize,
    /// The digest of its payload layer.
    pub layer_digest: String,
    /// The stable code of `reason`.
    pub code: &'static str,
    /// The first check it failed.
    pub reason: RejectionReason,
}

impl SignatureRejection {
    /// A rejection of the signature at `index` for `reason`.
    pub fn new(index: usize, layer_digest: impl Into<String>, reason: RejectionReason) -> Self {
        SignatureRejection { index, layer_digest: layer_digest.into(), code: reason.code(), reason }
    }
}

/// The first check a signature failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[non_exhaustive]
pub enum RejectionReason {
    /// Trust is certificate-based but the signature carries no certificate.
    #[error("the signature carries no certificate (annotation dev.sigstore.cosign/certificate)")]
    MissingCertificate,
    /// The signing certificate failed a check.
    #[error(transparent)]
    Certificate(CertificateError),
    /// No configured identity matched the certificate.
    #[error("identity mismatch: expected {expected}, certificate has {}", found_list(.found))]
    IdentityMismatch {
        /// The policy's identity, as text.
        expected: String,
        /// The identities the certificate carries (SANs, or the subject for DN/CN matchers).
        found: Vec<String>,
    },
    /// The signature annotation is missing or not base64.
    #[error("malformed signature: {reason}")]
    MalformedSignature {
        /// What is wrong.
        reason: String,
    },
    /// The cryptographic signature does not verify with the key.
    #[error("the signature does not verify with {key}")]
    BadSignature {
        /// Which key: the certificate subject or the public key fingerprint.
        key: String,
    },
    /// The payload could not be parsed.
    #[error("invalid payload: {reason}")]
    InvalidPayload {
        /// What is wrong with it.
        reason: String,
    },
    /// The payload or envelope is of another type than expected.
    #[error("payload type is {found:?}, expected {expected:?}")]
    PayloadType {
        /// What was found.
        found: String,
        /// What was required.
        expected: String,
    },
    /// The signed digest is not the image's digest.
    #[error("the signature is for {found}, not for the image {expected}")]
    DigestMismatch {
        /// The image digest.
        expected: String,
        /// What the payload names.
        found: String,
    },
    /// A required annotation is missing or differs.
    #[error("annotation {key:?} is {}, expected {expected:?}", found.as_deref().map(|v| format!("{v:?}")).unwrap_or_else(|| "absent".into()))]
    AnnotationMismatch {
        /// The annotation key.
        key: String,
        /// The required value.
        expected: String,
        /// The value found, if any.
        found: Option<String>,
    },
    /// The layer's media type is not one this verifier reads.
    #[error("unexpected layer media type {found:?}, expected {expected:?}")]
    MediaType {
        /// What was found.
        found: String,
        /// What was required.
        expected: String,
    },
    /// The predicate type of an attestation is not the one asked for.
    #[error("predicate type is {found:?}, expected {expected:?}")]
    PredicateType {
        /// What was found.
        found: String,
        /// What was required.
        expected: String,
    },
    /// No subject of the in-toto statement names the image digest.
    #[error("no subject of the statement has digest sha256:{expected} (subjects: {})", found_list(.found))]
    SubjectMismatch {
        /// The image digest (hex).
        expected: String,
        /// The subjects found, as `name@alg:hex`.
        found: Vec<String>,
    },
    /// The Rego policy did not allow the statement.
    #[error("policy {policy} did not allow the statement: {reason}")]
    PolicyDenied {
        /// The policy file or name.
        policy: String,
        /// What the query returned.
        reason: String,
    },
    /// The signature's RFC 3161 timestamp does not verify against the configured TSA roots.
    #[error("RFC 3161 timestamp: {0}")]
    Timestamp(TimestampError),
}

fn found_list(found: &[String]) -> String {
    if found.is_empty() { "no identities".into() } else { found.join(", ") }
}

impl RejectionReason {
    /// A stable code for this reason.
    pub fn code(&self) -> &'static str {
        match self {
            RejectionReason::MissingCertificate => "MISSING_CERTIFICATE",
            RejectionReason::Certificate(e) => e.code(),
            RejectionReason::IdentityMismatch { .. } => "IDENTITY_MISMATCH",
            RejectionReason::MalformedSignature { .. } => "MALFORMED_SIGNATURE",
            RejectionReason::BadSignature { .. } => "BAD_SIGNATURE",
            RejectionReason::InvalidPayload { .. } => "INVALID_PAYLOAD",
            RejectionReason::PayloadType { .. } => "PAYLOAD_TYPE_MISMATCH",
            RejectionReason::DigestMismatch { .. } => "DIGEST_MISMATCH",
            RejectionReason::AnnotationMismatch { .. } => "ANNOTATION_MISMATCH",
            RejectionReason::MediaType { .. } => "MEDIA_TYPE_MISMATCH",
            RejectionReason::PredicateType { .. } => "PREDICATE_TYPE_MISMATCH",
            RejectionReason::SubjectMismatch { .. } => "SUBJECT_MISMATCH",
            RejectionReason::PolicyDenied { .. } => "POLICY_DENIED",
            RejectionReason::Timestamp(e) => e.code(),
        }
    }
}

/// A certificate problem. `subject` always names the certificate concerned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[non_exhaustive]
pub enum CertificateError {
    /// Not a parseable X.509 certificate.
    #[error("cannot parse {what}: {reason}")]
    Parse {
        /// Which input (file name, annotation, position).
        what: String,
        /// The parser's complaint.
        reason: String,
    },
    /// Expired at the verification time.
    #[error("certificate {subject:?} expired at {not_after} (checked at {time}){}", if *.timestamp_needed { "; a signed RFC 3161 timestamp from when it was valid would be needed" } else { "" })]
    Expired {
        /// Which certificate.
        subject: String,
        /// Its notAfter, RFC 3339.
        not_after: String,
        /// The time it was checked at, RFC 3339.
        time: String,
        /// True when the time was "now" because no verified timestamp was available.
        timestamp_needed: bool,
    },
    /// Not yet valid at the verification time.
    #[error("certificate {subject:?} is not valid before {not_before} (checked at {time})")]
    NotYetValid {
        /// Which certificate.
        subject: String,
        /// Its notBefore, RFC 3339.
        not_before: String,
        /// The time it was checked at, RFC 3339.
        time: String,
    },
    /// Its extended key usage lacks codeSigning (or it has none and strict mode requires one).
    #[error("certificate {subject:?} is not for code signing: extended key usage is [{}]", .found.join(", "))]
    MissingCodeSigning {
        /// Which certificate.
        subject: String,
        /// The EKU OIDs or names it has.
        found: Vec<String>,
    },
    /// Its key usage extension lacks digitalSignature.
    #[error("certificate {subject:?} key usage does not allow digitalSignature (has [{}])", .found.join(", "))]
    MissingDigitalSignature {
        /// Which certificate.
        subject: String,
        /// The key usage bits it has.
        found: Vec<String>,
    },
    /// Its public key is not the signing key.
    #[error("the public key of certificate {subject:?} does not match the private key")]
    KeyMismatch {
        /// Which certificate.
        subject: String,
    },
    /// No path from it to a configured root.
    #[error("certificate {subject:?} (issuer {issuer:?}) does not chain to a configured root CA{}", if .detail.is_empty() { String::new() } else { format!(": {}", .detail) })]
    UntrustedChain {
        /// Which certificate.
        subject: String,
        /// Its issuer name.
        issuer: String,
        /// The path validator's reason.
        detail: String,
    },
    /// A certificate configured as a root CA is not self-signed.
    #[error(
        "certificate {subject:?} (issued by {issuer:?}) is not a self-signed root CA; configure it as an intermediate and trust its root"
    )]
    NotARoot {
        /// Which certificate.
        subject: String,
        /// Its issuer.
        issuer: String,
    },
    /// A key type or signature algorithm ironsign does not accept.
    #[error("certificate {subject:?} uses an unsupported key or algorithm: {algorithm}")]
    Unsupported {
        /// Which certificate.
        subject: String,
        /// What was found.
        algorithm: String,
    },
    /// The certificate, or a CA on its path, is listed in a configured CRL.
    #[error("certificate {subject:?} (serial {serial}) or a CA certificate on its path is revoked by a configured CRL")]
    Revoked {
        /// The signing certificate.
        subject: String,
        /// Its serial, hex.
        serial: String,
    },
    /// More certificates than the configured bound.
    #[error("{what} holds {count} certificates, more than the limit of {limit}")]
    TooMany {
        /// Which input.
        what: String,
        /// How many.
        count: usize,
        /// The bound.
        limit: usize,
    },
}

impl CertificateError {
    /// See [`Error::code`].
    pub fn code(&self) -> &'static str {
        match self {
            CertificateError::Parse { .. } => "CERT_PARSE",
            CertificateError::Expired { .. } => "CERT_EXPIRED",
            CertificateError::NotYetValid { .. } => "CERT_NOT_YET_VALID",
            CertificateError::MissingCodeSigning { .. } => "CERT_NO_CODE_SIGNING",
            CertificateError::MissingDigitalSignature { .. } => "CERT_NO_DIGITAL_SIGNATURE",
            CertificateError::KeyMismatch { .. } => "CERT_KEY_MISMATCH",
            CertificateError::UntrustedChain { .. } => "CERT_UNTRUSTED_CHAIN",
            CertificateError::NotARoot { .. } => "CERT_NOT_A_ROOT",
            CertificateError::Unsupported { .. } => "CERT_UNSUPPORTED",
            CertificateError::TooMany { .. } => "CERT_TOO_MANY",
            CertificateError::Revoked { .. } => "CERT_REVOKED",
        }
    }
}

/// A key problem. Never contains key material or passwords.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[non_exhaustive]
pub enum KeyError {
    /// The key could not be parsed.
    #[error("cannot parse key {what}: {reason}")]
    Parse {
        /// Which input.
        what: String,
        /// Why.
        reason: String,
    },
    /// The key is encrypted and no password was given.
    #[error("key {what} is encrypted; a password is required")]
    PasswordRequired {
        /// Which input.
        what: String,
    },
    /// The password does not decrypt the key.
    #[error("wrong password for key {what} (or the file is corrupt)")]
    WrongPassword {
        /// Which input.
        what: String,
    },
    /// A key type or size ironsign does not sign with.
    #[error("unsupported key {what}: {algorithm}")]
    Unsupported {
        /// Which input.
        what: String,
        /// What was found.
        algorithm: String,
    },
    /// Signing failed in the crypto provider or device.
    #[error("signing failed: {reason}")]
    SigningFailed {
        /// Why.
        reason: String,
    },
    /// The KMS has no such key (or alias).
    #[error("KMS key {key} not found: {detail}")]
    KmsKeyNotFound {
        /// The key as named.
        key: String,
        /// The service's explanation.
        detail: String,
    },
    /// The KMS refused the credentials or the operation on the key.
    #[error("access to KMS key {key} denied: {detail}")]
    KmsAccessDenied {
        /// The key as named.
        key: String,
        /// The service's explanation.
        detail: String,
    },
    /// The key exists but cannot be used now (disabled, pending deletion, …).
    #[error("KMS key {key} is disabled or not usable: {detail}")]
    KmsKeyDisabled {
        /// The key as named.
        key: String,
        /// The service's explanation.
        detail: String,
    },
    /// The KMS throttled the requests (still, after the retries).
    #[error("KMS throttled the requests for key {key}: {detail}")]
    KmsThrottled {
        /// The key as named.
        key: String,
        /// The service's explanation.
        detail: String,
    },
    /// The KMS endpoint could not be reached (connection, TLS, timeout).
    #[error("KMS endpoint for key {key} unreachable: {detail}")]
    KmsUnreachable {
        /// The key as named.
        key: String,
        /// What failed.
        detail: String,
    },
    /// Another KMS failure: configuration (region, token), or an unexpected answer.
    #[error("KMS failure for key {key}: {detail}")]
    KmsFailed {
        /// The key as named (empty when no key was involved yet).
        key: String,
        /// What failed.
        detail: String,
    },
}

impl KeyError {
    /// See [`Error::code`].
    pub fn code(&self) -> &'static str {
        match self {
            KeyError::Parse { .. } => "KEY_PARSE",
            KeyError::PasswordRequired { .. } => "KEY_PASSWORD_REQUIRED",
            KeyError::WrongPassword { .. } => "KEY_WRONG_PASSWORD",
            KeyError::Unsupported { .. } => "KEY_UNSUPPORTED",
            KeyError::SigningFailed { .. } => "KEY_SIGNING_FAILED",
            KeyError::KmsKeyNotFound { .. } => "KMS_KEY_NOT_FOUND",
            KeyError::KmsAccessDenied { .. } => "KMS_ACCESS_DENIED",
            KeyError::KmsKeyDisabled { .. } => "KMS_KEY_DISABLED",
            KeyError::KmsThrottled { .. } => "KMS_THROTTLED",
            KeyError::KmsUnreachable { .. } => "KMS_UNREACHABLE",
            KeyError::KmsFailed { .. } => "KMS_FAILED",
        }
    }
}

/// A registry or layout failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[non_exhaustive]
pub enum RegistryError {
    /// The image (tag or digest) does not exist.
    #[error("image not found: {reference}")]
    ImageNotFound {
        /// The reference asked for.
        reference: String,
    },
    /// The registry refused the credentials, or gave none of the access asked for.
    #[error("{registry}: access denied for {scope} ({status})")]
    Unauthorized {
        /// Registry host.
        registry: String,
        /// The scope asked for, e.g. `repository:ns/img:pull,push`.
        scope: String,
        /// The HTTP status.
        status: u16,
    },
    /// An unexpected HTTP status.
    #[error("{method} {url}: HTTP {status}{}", if .message.is_empty() { String::new() } else { format!(": {}", .message) })]
    Http {
        /// The request method.
        method: String,
        /// The URL, without credentials.
        url: String,
        /// The status.
        status: u16,
        /// The registry's error message, if any.
        message: String,
    },
    /// The connection failed.
    #[error("cannot reach {registry}: {reason}")]
    Transport {
        /// Registry host.
        registry: String,
        /// Why.
        reason: String,
    },
    /// A response could not be understood.
    #[error("invalid {what} from the registry: {reason}")]
    InvalidResponse {
        /// What was being read.
        what: String,
        /// Why it is invalid.
        reason: String,
    },
    /// Content over a size bound.
    #[error("{what} is {size} bytes, over the limit of {limit}")]
    TooLarge {
        /// What.
        what: String,
        /// Its (declared or actual) size.
        size: u64,
        /// The bound.
        limit: u64,
    },
    /// More entries than a count bound.
    #[error("{what} has {count} entries, over the limit of {limit}")]
    TooMany {
        /// What.
        what: String,
        /// How many.
        count: usize,
        /// The bound.
        limit: usize,
    },
    /// Content whose digest is not the one it was fetched by.
    #[error("{what}: content digest is {actual}, expected {expected}")]
    DigestMismatch {
        /// What.
        what: String,
        /// The requested digest.
        expected: String,
        /// The computed digest.
        actual: String,
    },
    /// Concurrent writers kept replacing the tag; the write was not confirmed.
    #[error("could not confirm the update of {tag} after {attempts} attempts (concurrent writers)")]
    ConcurrentUpdate {
        /// The tag.
        tag: String,
        /// How many attempts were made.
        attempts: u32,
    },
    /// An OCI image layout directory problem.
    #[error("OCI layout {path}: {reason}")]
    Layout {
        /// The directory.
        path: String,
        /// Why.
        reason: String,
    },
    /// Credentials could not be obtained (config file, helper).
    #[error("credentials for {registry}: {reason}")]
    Credentials {
        /// Registry host.
        registry: String,
        /// Why.
        reason: String,
    },
}

impl RegistryError {
    /// See [`Error::code`].
    pub fn code(&self) -> &'static str {
        match self {
            RegistryError::ImageNotFound { .. } => "IMAGE_NOT_FOUND",
            RegistryError::Unauthorized { .. } => "REGISTRY_UNAUTHORIZED",
            RegistryError::Http { .. } => "REGISTRY_HTTP",
            RegistryError::Transport { .. } => "REGISTRY_TRANSPORT",
            RegistryError::InvalidResponse { .. } => "REGISTRY_INVALID_RESPONSE",
            RegistryError::TooLarge { .. } => "REGISTRY_TOO_LARGE",
            RegistryError::TooMany { .. } => "REGISTRY_TOO_MANY",
            RegistryError::DigestMismatch { .. } => "REGISTRY_DIGEST_MISMATCH",
            RegistryError::ConcurrentUpdate { .. } => "REGISTRY_CONCURRENT_UPDATE",
            RegistryError::Layout { .. } => "LAYOUT",
            RegistryError::Credentials { .. } => "REGISTRY_CREDENTIALS",
        }
    }
}

/// Bad input from the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[non_exhaustive]
pub enum InputError {
    /// Not a valid image reference.
    #[error("invalid image reference {input:?}: {reason}")]
    InvalidReference {
        /// The text given.
        input: String,
        /// Why.
        reason: String,
    },
    /// A file could not be read or written.
    #[error("{path}: {reason}")]
    Io {
        /// The path.
        path: String,
        /// The OS error.
        reason: String,
    },
    /// An argument is invalid or conflicts with another.
    #[error("invalid {name}: {reason}")]
    InvalidArgument {
        /// The argument.
        name: String,
        /// Why.
        reason: String,
    },
    /// A predicate cannot be built from the input for the predicate type asked for.
    #[error("invalid predicate for {predicate_type}: {reason}")]
    InvalidPredicate {
        /// The predicate type URI.
        predicate_type: String,
        /// What is wrong with the input.
        reason: String,
    },
    /// A predicate does not follow its JSON Schema.
    #[error("predicate does not follow schema {schema}: at {pointer:?}: {reason}")]
    SchemaViolation {
        /// The schema's `$id`.
        schema: String,
        /// JSON Pointer (RFC 6901) to the offending value; empty for the document.
        pointer: String,
        /// The rule it breaks.
        reason: String,
    },
    /// A vulnerability report whose scanner is not recognised, and none was named.
    #[error("{what}: cannot tell which scanner wrote this report ({reason}); name it with --scanner")]
    UnknownScanner {
        /// The input.
        what: String,
        /// What was looked for.
        reason: String,
    },
    /// The content is not an SBOM in a format ironsign recognises.
    #[error("{what}: not a recognised SBOM (SPDX JSON or tag-value, CycloneDX JSON or XML, Syft JSON): {reason}")]
    UnknownSbomFormat {
        /// The input.
        what: String,
        /// What was looked at.
        reason: String,
    },
    /// The SBOM format given does not match the content.
    #[error("{what}: declared as {declared} but the content is {detected}")]
    SbomFormatMismatch {
        /// The input.
        what: String,
        /// The declared type (and input format).
        declared: String,
        /// The detected format.
        detected: String,
    },
    /// A Rego policy does not parse or does not define the query.
    #[error("policy {policy}: {reason}")]
    InvalidPolicy {
        /// The policy file or name.
        policy: String,
        /// The engine's complaint.
        reason: String,
    },
    /// A trust configuration is malformed: an unknown or missing field, a bad value.
    #[error("trust configuration{}: {reason}", if .field.is_empty() { String::new() } else { format!(", field {}", .field) })]
    InvalidTrustConfig {
        /// The field path, e.g. `roots[0].file` (empty for the document as a whole).
        field: String,
        /// What is wrong.
        reason: String,
    },
}

impl InputError {
    /// See [`Error::code`].
    pub fn code(&self) -> &'static str {
        match self {
            InputError::InvalidReference { .. } => "INVALID_REFERENCE",
            InputError::Io { .. } => "IO",
            InputError::InvalidArgument { .. } => "INVALID_ARGUMENT",
            InputError::InvalidPredicate { .. } => "INVALID_PREDICATE",
            InputError::SchemaViolation { .. } => "PREDICATE_SCHEMA_VIOLATION",
            InputError::UnknownScanner { .. } => "UNKNOWN_SCANNER",
            InputError::UnknownSbomFormat { .. } => "UNKNOWN_SBOM_FORMAT",
            InputError::SbomFormatMismatch { .. } => "SBOM_FORMAT_MISMATCH",
            InputError::InvalidPolicy { .. } => "INVALID_POLICY",
            InputError::InvalidTrustConfig { .. } => "INVALID_TRUST_CONFIG",
        }
    }

    pub(crate) fn io(path: impl AsRef<std::path::Path>, err: std::io::Error) -> Self {
        InputError::Io { path: path.as_ref().display().to_string(), reason: err.to_string() }
    }

    pub(crate) fn arg(name: &str, reason: impl Into<String>) -> Self {
        InputError::InvalidArgument { name: name.into(), reason: reason.into() }
    }
}

/// An RFC 3161 timestamp problem: at signing (the TSA request) or at verification (the token).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[non_exhaustive]
pub enum TimestampError {
    /// The response or annotation is not a well-formed TimeStampResp with a TSTInfo token.
    #[error("malformed timestamp: {reason}")]
    Malformed {
        /// What is wrong.
        reason: String,
    },
    /// The TSA did not grant the request.
    #[error("the timestamp authority refused the request (status {status}){}", if .text.is_empty() { String::new() } else { format!(": {}", .text) })]
    NotGranted {
        /// The PKIStatus, hex.
        status: String,
        /// The TSA's status text.
        text: String,
    },
    /// The token's message imprint is not the hash of what was timestamped.
    #[error("the timestamp is over {found}, not over this signature ({expected})")]
    ImprintMismatch {
        /// The hash of the signature (or envelope), hex.
        expected: String,
        /// The token's hashed message, hex.
        found: String,
    },
    /// The response does not carry the request's nonce.
    #[error("the timestamp response nonce is {found}, expected {expected}")]
    NonceMismatch {
        /// The request's nonce, hex.
        expected: String,
        /// The token's nonce, hex, or `none`.
        found: String,
    },
    /// The token's signature, signed attributes or signer reference do not verify.
    #[error("the timestamp token's signature is invalid: {reason}")]
    BadSignature {
        /// What failed.
        reason: String,
    },
    /// The TSA certificate is not trusted for timestamping at the token's time.
    #[error("timestamp authority certificate {subject:?} is not trusted: {reason}")]
    UntrustedAuthority {
        /// The TSA certificate's subject.
        subject: String,
        /// Why.
        reason: String,
    },
    /// A timestamp is required (the trust configuration names a TSA) and the signature carries
    /// none that can be checked.
    #[error("the signature carries no RFC 3161 timestamp, and one is required{}", if .reason.is_empty() { String::new() } else { format!(": {}", .reason) })]
    Missing {
        /// Why none could be checked, when the format carries one elsewhere.
        reason: String,
    },
    /// The TSA could not be reached or answered badly.
    #[error("timestamp request to {url} failed: {reason}")]
    Request {
        /// The TSA URL.
        url: String,
        /// Why.
        reason: String,
    },
}

impl TimestampError {
    /// See [`Error::code`].
    pub fn code(&self) -> &'static str {
        match self {
            TimestampError::Malformed { .. } => "TIMESTAMP_MALFORMED",
            TimestampError::NotGranted { .. } => "TIMESTAMP_NOT_GRANTED",
            TimestampError::ImprintMismatch { .. } => "TIMESTAMP_IMPRINT_MISMATCH",
            TimestampError::NonceMismatch { .. } => "TIMESTAMP_NONCE_MISMATCH",
            TimestampError::BadSignature { .. } => "TIMESTAMP_BAD_SIGNATURE",
            TimestampError::UntrustedAuthority { .. } => "TIMESTAMP_UNTRUSTED",
            TimestampError::Request { .. } => "TIMESTAMP_REQUEST",
            TimestampError::Missing { .. } => "TIMESTAMP_MISSING",
        }
    }
}

#[cfg(test)]
mod code_list_tests {
    use super::*;
    use std::collections::BTreeSet;

    /// ERROR_CODES and REJECTION_CODES name exactly the codes the `code()` methods of this file return.
    #[test]
    fn code_lists_match_the_code_methods() {
        let source = include_str!("error.rs");
        let end = source.find("pub const ERROR_CODES").unwrap();
        let returned: BTreeSet<&str> = source[..end]
            .split("=> \"")
            .skip(1)
            .filter_map(|s| s.split('"').next())
            .chain(source[end..].split("=> \"").skip(1).filter_map(|s| s.split('"').next()))
            .filter(|c| !c.is_empty() && c.chars().all(|ch| ch.is_ascii_uppercase() || ch == '_'))
            .collect();
        let listed: BTreeSet<&str> =
            ERROR_CODES.iter().map(|(_, c)| *c).chain(REJECTION_CODES.iter().copied()).collect();
        assert_eq!(returned, listed);
        let by_family: BTreeSet<&str> = ERROR_CODES.iter().map(|(_, c)| *c).collect();
        assert_eq!(by_family.len(), ERROR_CODES.len(), "a code is listed twice");
    }
}
