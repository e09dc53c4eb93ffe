//! Trust configuration: one file that says which images are signed, by whom, under which root CAs,
//! and which attestations they carry.
//!
//! The same [`TrustConfig`] drives `ironsign verify --trust-config` (through [`TrustConfig::trust_root`],
//! [`TrustConfig::policy`] and [`TrustConfig::required_predicate_types`]) and every generator of
//! [`instructions`](crate::instructions), so what end users and admission controllers check cannot
//! drift from what the pipeline checks. The schema is documented in `docs/trust-config.md` and
//! specified by `docs/trust-config.schema.json`:
//!
//! ```yaml
//! version: 1
//! name: example-images            # names the generated policies (lowercase, digits, '-')
//! images: ["registry.example/team/**"]
//! roots:
//!   - file: root.pem              # relative to the configuration file
//!     url: https://pki.example/root.pem
//! intermediates:
//!   - file: intermediate.pem
//! identity:
//!   san: signer@example.com       # or san_regex: '^https://ci\.example/.*$'
//! # Or, instead of roots and identity, the signing public keys as the trust anchor (what a
//! # signer whose certificate lacks codeSigning publishes):
//! # keys:
//! #   - file: signing.pub
//! crls:
//!   - file: intermediate.crl      # PEM or DER; revoked signers fail CERT_REVOKED
//! attestations:
//!   - type: vuln                  # a shortcut of `ironsign attest --type`, or a URI
//! ```
//!
//! Parsing is strict (unknown fields are rejected, errors name the field) and pure: the caller
//! hands over the text and a function that returns the bytes of each file the configuration names
//! ([`TrustConfig::from_file`] is the convenience that reads them from disk, relative to the file).

use crate::cosign::{AttachmentKind, SignedImage};
use crate::error::{CertificateError, Error, InputError, VerificationError};
use crate::keys::PublicKey;
use crate::pki::{Certificate, TrustRoot};
use crate::predicates::PredicateKind;
use crate::reference::{ImageReference, Location};
use crate::registry::RegistryClient;
use crate::verify::attestation::AttestationResult;
use crate::verify::{Identity, Policy, VerificationResult, Verifier};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::SystemTime;

/// The only schema version this release reads.
pub const TRUST_CONFIG_VERSION: u32 = 1;
/// The JSON Schema of the document, as shipped in `docs/`.
pub const TRUST_CONFIG_SCHEMA: &str = include_str!("../../docs/trust-config.schema.json");
/// At most this many certificates in one `file` or `pem` entry.
const MAX_CERTIFICATES_PER_ENTRY: usize = 100;

/// The document as written, before the files it names are read.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TrustConfigDocument {
    /// Schema version: `1`.
    pub version: u32,
    /// Name of the generated policies and files: lowercase letters, digits and `-`
    /// (a Kubernetes object name). Default `ironsign`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Image patterns covered, `REGISTRY/REPOSITORY` globs: `*` matches within one path segment,
    /// `**` across segments.
    pub images: Vec<String>,
    /// Root CAs (self-signed). With `identity`, one of the two trust anchors (the other is `keys`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roots: Vec<CertificateSource>,
    /// Intermediate CAs, each issued (possibly through another listed intermediate) by a root.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub intermediates: Vec<CertificateSource>,
    /// Who signs: the SAN the certificate under `roots` carries. Required with `roots`, refused
    /// with `keys` (a bare key proves no identity).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<IdentitySpec>,
    /// The signing public keys, as the trust anchor instead of `roots` and `identity`: a signature
    /// verifies when one of them verifies it (`cosign verify --key`), whatever certificate it
    /// carries (which must still be within its validity, as cosign checks). For signers whose
    /// certificate chain verification refuses, such as one without codeSigning.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<KeySource>,
    /// An RFC 3161 timestamp authority whose timestamps are required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tsa: Option<TsaSpec>,
    /// Certificate revocation lists of the CAs on the signing paths, checked as `--crl` is.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub crls: Vec<CrlSource>,
    /// Attestations every image must carry, signed by the same identity.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attestations: Vec<AttestationSpec>,
    /// The signer's current public keys, for consumers that can only pin keys (containers/image
    /// before 5.35). Not used by `ironsign verify`, which trusts the CAs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub signing_keys: Vec<KeySource>,
}

/// Certificates, from a file or inline, with where end users can download them.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CertificateSource {
    /// A PEM file, relative to the configuration file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// Inline PEM.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pem: Option<String>,
    /// An `https://` (or `file://`) URL the instructions download the same certificates from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// A public key, from a file or inline.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct KeySource {
    /// A PEM file, relative to the configuration file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// Inline PEM.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pem: Option<String>,
}

/// A certificate revocation list (PEM `X509 CRL` blocks, or DER in a file), from a file or inline.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CrlSource {
    /// A CRL file (PEM or DER), relative to the configuration file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// Inline PEM.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pem: Option<String>,
}

/// The signer's identity: exactly one of `san` and `san_regex`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct IdentitySpec {
    /// A SAN (email, URI or DNS name) the signing certificate must carry, exactly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub san: Option<String>,
    /// A regular expression (RE2 syntax, unanchored as in cosign: write `^…$`) a SAN must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub san_regex: Option<String>,
}

/// The timestamp authority.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TsaSpec {
    /// Its chain: the TSA's signing certificate, intermediates, then the root.
    pub chain: CertificateSource,
}

/// A required attestation.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AttestationSpec {
    /// Predicate type: a shortcut of `ironsign attest --type` (`vuln`, `spdxjson`, …) or a URI.
    #[serde(rename = "type")]
    pub predicate_type: String,
}

/// The signer identity, resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SignerIdentity {
    /// An exact SAN.
    San(String),
    /// A SAN regular expression.
    SanRegex(String),
}

/// Certificates with their download URL.
#[derive(Clone)]
pub struct CertificateEntry {
    /// The certificates, in file order.
    pub certificates: Vec<Certificate>,
    /// Where end users download them, if published.
    pub url: Option<String>,
    /// The bytes as configured (what the URL must serve, byte for byte).
    pub source: Vec<u8>,
}

impl std::fmt::Debug for CertificateEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificateEntry")
            .field("certificates", &self.certificates)
            .field("url", &self.url)
            .field("source", &format_args!("{} bytes", self.source.len()))
            .finish()
    }
}

/// A `REGISTRY/REPOSITORY` glob.
#[derive(Debug, Clone)]
pub struct ImagePattern {
    pattern: String,
    regex: regex::Regex,
}

impl ImagePattern {
    /// Parses a glob: `*` matches any characters but `/`, `**` any characters.
    pub fn parse(pattern: &str) -> Result<Self, String> {
        let valid = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-:/*".contains(c);
        if pattern.is_empty() || !pattern.chars().all(valid) {
            return Err(format!(
                "{pattern:?} is not a REGISTRY/REPOSITORY glob (lowercase letters, digits, '.', '_', '-', ':', '/', '*')"
            ));
        }
        let Some((registry, repository)) = pattern.split_once('/') else {
            return Err(format!(
                "{pattern:?} names no repository: write REGISTRY/REPOSITORY, e.g. registry.example/team/*"
            ));
        };
        let host_like = registry.contains('.') || registry.contains(':') || registry == "localhost";
        if !host_like || registry.contains('*') || repository.is_empty() {
            return Err(format!(
                "{pattern:?}: start with the registry host, named exactly (docker.io images: index.docker.io/...), then the repository"
            ));
        }
        if pattern.contains("***") {
            return Err(format!("{pattern:?}: use '*' or '**'"));
        }
        let mut re = String::from("^");
        let mut rest = pattern;
        while !rest.is_empty() {
            if let Some(r) = rest.strip_prefix("**") {
                re.push_str(".*");
                rest = r;
            } else if let Some(r) = rest.strip_prefix('*') {
                re.push_str("[^/]*");
                rest = r;
            } else {
                let c = rest.chars().next().unwrap_or_default();
                re.push_str(&regex::escape(&c.to_string()));
                rest = &rest[c.len_utf8()..];
            }
        }
        re.push('$');
        let regex = regex::Regex::new(&re).map_err(|e| e.to_string())?;
        Ok(ImagePattern { pattern: pattern.to_owned(), regex })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.pattern
    }

    /// Whether `registry/repository` matches.
    pub fn matches(&self, registry_and_repository: &str) -> bool {
        self.regex.is_match(registry_and_repository)
    }

    /// The literal part before the first wildcard, without a trailing `/` (a registry or repository
    /// prefix; containers/image scopes are such prefixes).
    pub fn literal_prefix(&self) -> &str {
        let end = self.pattern.find('*').unwrap_or(self.pattern.len());
        let prefix = &self.pattern[..end];
        if end < self.pattern.len() {
            // A wildcard inside a segment: the scope is the segments before it.
            prefix.rsplit_once('/').map_or(prefix, |(p, _)| p)
        } else {
            prefix
        }
    }
}

/// A trust configuration, with every file it names read and checked.
#[derive(Debug, Clone)]
pub struct TrustConfig {
    document: TrustConfigDocument,
    name: String,
    images: Vec<ImagePattern>,
    roots: Vec<CertificateEntry>,
    intermediates: Vec<CertificateEntry>,
    tsa_chain: Option<CertificateEntry>,
    identity: Option<SignerIdentity>,
    policy_identity: Option<Identity>,
    keys: Vec<PublicKey>,
    predicate_types: Vec<String>,
    signing_keys: Vec<PublicKey>,
    trust_root: TrustRoot,
    annotations: BTreeMap<String, String>,
    require_code_signing_eku: bool,
}

fn invalid(field: impl Into<String>, reason: impl Into<String>) -> InputError {
    InputError::InvalidTrustConfig { field: field.into(), reason: reason.into() }
}

/// The document format, told from the first character (`{` is JSON) or given.
fn parse_document(text: &str) -> Result<TrustConfigDocument, InputError> {
    if text.trim_start().starts_with('{') {
        let mut de = serde_json::Deserializer::from_str(text);
        let doc: TrustConfigDocument = serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let field = e.path().to_string();
            invalid(if field == "." { String::new() } else { field }, e.into_inner().to_string())
        })?;
        de.end().map_err(|e| invalid("", e.to_string()))?;
        return Ok(doc);
    }
    // YAML: parsed to a generic value first, so the typed pass can name the field path.
    let value: serde_json::Value =
        serde_saphyr::from_str(text).map_err(|e| invalid("", format!("not valid YAML: {e}")))?;
    serde_path_to_error::deserialize(value).map_err(|e| {
        let field = e.path().to_string();
        invalid(if field == "." { String::new() } else { field }, e.into_inner().to_string())
    })
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

impl TrustConfig {
    /// Parses `text` (YAML or JSON) and resolves the files it names with `read`, which receives
    /// each `file` value as written (relative to the configuration) and returns its bytes.
    pub fn parse(text: &str, mut read: impl FnMut(&str) -> Result<Vec<u8>, Error>) -> Result<Self, Error> {
        let document = parse_document(text)?;
        Self::from_document(document, &mut read)
    }

    /// Reads a configuration file, and the files it names relative to its directory.
    pub fn from_file(path: &Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path).map_err(|e| InputError::io(path, e))?;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Self::parse(&text, |file| {
            let p = base.join(file);
            std::fs::read(&p).map_err(|e| InputError::io(&p, e).into())
        })
    }

    /// Resolves a parsed document.
    pub fn from_document(
        document: TrustConfigDocument,
        read: &mut dyn FnMut(&str) -> Result<Vec<u8>, Error>,
    ) -> Result<Self, Error> {
        if document.version != TRUST_CONFIG_VERSION {
            return Err(invalid(
                "version",
                format!("{} is not supported; this release reads version 1", document.version),
            )
            .into());
        }
        let name = document.name.clone().unwrap_or_else(|| "ironsign".into());
        if !valid_name(&name) {
            return Err(invalid("name", format!("{name:?}: use 1 to 63 lowercase letters, digits and '-'")).into());
        }
        if document.images.is_empty() {
            return Err(invalid("images", "name at least one REGISTRY/REPOSITORY pattern").into());
        }
        let images = document
            .images
            .iter()
            .enumerate()
            .map(|(i, p)| ImagePattern::parse(p).map_err(|r| invalid(format!("images[{i}]"), r)))
            .collect::<Result<Vec<_>, _>>()?;
        let keys = load_keys("keys", &document.keys, read)?;
        check_anchor(&document)?;
        let roots = load_entries("roots", &document.roots, read)?;
        let intermediates = load_entries("intermediates", &document.intermediates, read)?;
        let tsa_chain = match &document.tsa {
            Some(tsa) => {
                let entry = load_entry("tsa.chain", &tsa.chain, read)?;
                if entry.certificates.len() < 2 {
                    return Err(
                        invalid("tsa.chain", "give the TSA certificate and its root (and any intermediates)").into()
                    );
                }
                Some(entry)
            }
            None => None,
        };
        let (identity, policy_identity) = match document.identity.as_ref().map(|i| (&i.san, &i.san_regex)) {
            None => (None, None),
            Some((Some(san), None)) if !san.is_empty() => {
                (Some(SignerIdentity::San(san.clone())), Some(Identity::san(san.clone())))
            }
            Some((None, Some(re))) if !re.is_empty() => (
                Some(SignerIdentity::SanRegex(re.clone())),
                Some(Identity::san_regex(re).map_err(|e| invalid("identity.san_regex", e.to_string()))?),
            ),
            _ => return Err(invalid("identity", "give exactly one of san and san_regex, not empty").into()),
        };
        let mut predicate_types = Vec::new();
        for (i, a) in document.attestations.iter().enumerate() {
            let kind = PredicateKind::parse(&a.predicate_type)
                .map_err(|e| invalid(format!("attestations[{i}].type"), e.to_string()))?;
            let uri = kind.uri().to_owned();
            if predicate_types.contains(&uri) {
                return Err(invalid(format!("attestations[{i}].type"), format!("{uri} is listed twice")).into());
            }
            predicate_types.push(uri);
        }
        let signing_keys = load_keys("signing_keys", &document.signing_keys, read)?;
        let all_roots: Vec<Certificate> = roots.iter().flat_map(|e| e.certificates.clone()).collect();
        let all_intermediates: Vec<Certificate> = intermediates.iter().flat_map(|e| e.certificates.clone()).collect();
        for c in &all_intermediates {
            // Consumers that anchor on the roots (Kyverno, podman) or need every intermediate
            // (policy-controller) only agree with ironsign when each intermediate leads to a root.
            if !leads_to_root(c, &all_intermediates, &all_roots) {
                return Err(invalid(
                    "intermediates",
                    format!(
                        "{:?} (issuer {:?}) is not issued by a configured root or intermediate",
                        c.subject(),
                        c.summary().issuer
                    ),
                )
                .into());
            }
        }
        let mut trust_root = if keys.is_empty() {
            TrustRoot::from_certificates(all_roots, all_intermediates)?
        } else {
            TrustRoot::from_public_keys(keys.clone())
        };
        if let Some(tsa) = &tsa_chain {
            let authorities = crate::tsa::TimestampAuthorities::from_certificates(tsa.certificates.clone())
                .map_err(|e| invalid("tsa.chain", e.to_string()))?;
            trust_root = trust_root.with_timestamp_authorities(authorities);
        }
        for (i, c) in document.crls.iter().enumerate() {
            let field = format!("crls[{i}]");
            let bytes = source_bytes(&field, c.file.as_deref(), c.pem.as_deref(), read)?;
            let what = match &c.file {
                Some(f) => format!("{field} ({f})"),
                None => field.clone(),
            };
            trust_root = trust_root.with_crls(&bytes, &what)?;
        }
        Ok(TrustConfig {
            document,
            name,
            images,
            roots,
            intermediates,
            tsa_chain,
            identity,
            policy_identity,
            keys,
            predicate_types,
            signing_keys,
            trust_root,
            annotations: BTreeMap::new(),
            require_code_signing_eku: false,
        })
    }

    /// The document as written.
    pub fn document(&self) -> &TrustConfigDocument {
        &self.document
    }

    /// The name of the generated policies.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The image patterns.
    pub fn images(&self) -> &[ImagePattern] {
        &self.images
    }

    /// The root CA entries.
    pub fn roots(&self) -> &[CertificateEntry] {
        &self.roots
    }

    /// The intermediate CA entries.
    pub fn intermediates(&self) -> &[CertificateEntry] {
        &self.intermediates
    }

    /// The TSA chain (TSA certificate first, root last), when timestamps are required.
    pub fn tsa_chain(&self) -> Option<&CertificateEntry> {
        self.tsa_chain.as_ref()
    }

    /// The signer identity; `None` when the configuration anchors on [`keys`](Self::keys).
    pub fn identity(&self) -> Option<&SignerIdentity> {
        self.identity.as_ref()
    }

    /// The signing public keys the configuration anchors on (empty when it anchors on roots and
    /// an identity).
    pub fn keys(&self) -> &[PublicKey] {
        &self.keys
    }

    /// The predicate type URIs every image must carry a verified attestation of.
    pub fn required_predicate_types(&self) -> &[String] {
        &self.predicate_types
    }

    /// The signer's public keys, for key-pinning consumers: `signing_keys`, or the anchor `keys`.
    pub fn signing_keys(&self) -> &[PublicKey] {
        if self.keys.is_empty() { &self.signing_keys } else { &self.keys }
    }

    /// The trust material: the roots, intermediates, TSA chain and CRLs, or the keys.
    pub fn trust_root(&self) -> &TrustRoot {
        &self.trust_root
    }

    /// The verification policy: the signer identity (none for a key anchor), a timestamp from the
    /// configured TSA when
    /// there is a `tsa` section (as the generated admission policies require), and what
    /// [`with_annotation`](Self::with_annotation) and
    /// [`require_code_signing_eku`](Self::require_code_signing_eku) added.
    pub fn policy(&self) -> Policy {
        let policy = match &self.policy_identity {
            Some(identity) => Policy::identity(identity.clone()),
            None => Policy::key_only(),
        };
        let policy =
            policy.require_timestamp(self.tsa_chain.is_some()).require_code_signing_eku(self.require_code_signing_eku);
        self.annotations.iter().fold(policy, |p, (k, v)| p.with_annotation(k, v))
    }

    /// Also checks revocation against these CRLs (as [`TrustRoot::with_crls`]). Checks can only
    /// be added to a configuration, never replaced: this only makes verification stricter.
    /// Refused for a configuration anchored on keys: no certificate path is checked, so a CRL
    /// would change nothing.
    pub fn with_crls(mut self, crls: &[u8], what: &str) -> Result<Self, Error> {
        if !self.keys.is_empty() {
            return Err(
                invalid("crls", format!("{what}: the configuration anchors on keys, which CRLs do not cover")).into()
            );
        }
        self.trust_root = self.trust_root.with_crls(crls, what)?;
        Ok(self)
    }

    /// Also requires `optional[key] == value` in signature payloads and attestation subjects'
    /// annotations (as [`Policy::with_annotation`]).
    pub fn with_annotation(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.annotations.insert(key.into(), value.into());
        self
    }

    /// Also requires a codeSigning extended key usage on the leaf (as
    /// [`Policy::require_code_signing_eku`]; `false` leaves the configuration's default). Refused
    /// for a configuration anchored on keys, where no certificate usage is checked.
    pub fn require_code_signing_eku(mut self, on: bool) -> Result<Self, InputError> {
        if on && !self.keys.is_empty() {
            return Err(invalid(
                "keys",
                "a codeSigning requirement needs a certificate path: this configuration anchors on keys",
            ));
        }
        self.require_code_signing_eku |= on;
        Ok(self)
    }

    /// Whether a pattern covers `image` (a registry image; an OCI layout is never covered).
    pub fn covers(&self, image: &ImageReference) -> bool {
        match &image.location {
            Location::Registry { registry, repository } => {
                let name = format!("{registry}/{repository}");
                self.images.iter().any(|p| p.matches(&name))
            }
            Location::Layout { .. } => false,
        }
    }

    /// [`covers`](Self::covers), as an error naming the patterns.
    pub fn check_covers(&self, image: &ImageReference) -> Result<(), VerificationError> {
        if self.covers(image) {
            return Ok(());
        }
        Err(VerificationError::ImageNotCovered {
            image: image.to_string(),
            patterns: self.images.iter().map(|p| p.pattern.clone()).collect(),
        })
    }
}

/// Media type of a serialised [`TrustConfigVerification`].
pub const TRUST_CONFIG_RESULT_MEDIA_TYPE: &str = "application/vnd.ironsign.trust-config-result+json;version=0.1";

/// What verifying an image under a trust configuration proved: its signature and one verified
/// attestation (at least) of every required predicate type, all by the configured identity.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrustConfigVerification {
    /// [`TRUST_CONFIG_RESULT_MEDIA_TYPE`].
    pub media_type: &'static str,
    /// The configuration's name.
    pub trust_config: String,
    /// The signature verification.
    pub signature: VerificationResult,
    /// One result per required predicate type, in configuration order.
    pub attestations: Vec<AttestationResult>,
}

impl TrustConfig {
    /// Verifies fetched data (pure): `signatures` (the `.sig` layers) and `attestations` (the
    /// `.att` layers, needed only when predicate types are required) of `image`, at `at`.
    pub fn verify_at(
        &self,
        image: &ImageReference,
        signatures: &SignedImage,
        attestations: Option<&SignedImage>,
        at: SystemTime,
    ) -> Result<TrustConfigVerification, Error> {
        self.check_covers(image)?;
        let verifier = Verifier::new(self.trust_root.clone());
        let policy = self.policy();
        let signature = verifier.verify_at(signatures, &policy, at)?;
        let mut results = Vec::new();
        if !self.predicate_types.is_empty() {
            let empty;
            let attached = match attestations {
                Some(a) => a,
                None => {
                    empty = SignedImage { signatures: Vec::new(), ..signatures.clone() };
                    &empty
                }
            };
            for t in &self.predicate_types {
                results.push(verifier.verify_attestations_at(attached, &policy, t, &[], at)?);
            }
        }
        Ok(TrustConfigVerification {
            media_type: TRUST_CONFIG_RESULT_MEDIA_TYPE,
            trust_config: self.name.clone(),
            signature,
            attestations: results,
        })
    }
}

/// Fetches what `config` requires of `image` (its signatures and, when predicate types are
/// required, its attestations) and verifies it at the current time. The coverage check comes
/// first, so an image outside the configuration is refused before any request.
pub async fn verify_image(
    client: &RegistryClient,
    config: &TrustConfig,
    image: &ImageReference,
) -> Result<TrustConfigVerification, Error> {
    config.check_covers(image)?;
    let signatures = client.fetch_signatures(image).await?;
    let attestations = if config.required_predicate_types().is_empty() {
        None
    } else {
        Some(client.fetch_attached(image, &signatures.digest, AttachmentKind::Attestation).await?)
    };
    config.verify_at(image, &signatures, attestations.as_ref(), SystemTime::now())
}

/// A configuration anchors on roots and an identity, or on keys, and on exactly one: a key
/// signature proves no identity, so an identity beside keys could never be checked (refused rather
/// than ignored), and accepting either anchor would let a key signature pass without the identity
/// the roots' signatures must carry.
fn check_anchor(document: &TrustConfigDocument) -> Result<(), InputError> {
    let keys = !document.keys.is_empty();
    match (!document.roots.is_empty(), keys, document.identity.is_some()) {
        (true, true, _) => {
            Err(invalid("keys", "give roots and identity, or keys, not both: a signature by a key proves no identity"))
        }
        (false, true, true) => Err(invalid(
            "identity",
            "a key proves no identity: with keys as the anchor, remove identity (or anchor on roots)",
        )),
        (false, false, _) => Err(invalid("roots", "name at least one root CA (with identity), or keys")),
        (true, false, false) => Err(invalid("identity", "give the signer identity the roots' certificates carry")),
        _ if keys && !document.intermediates.is_empty() => {
            Err(invalid("intermediates", "intermediates need roots; keys are the anchor here"))
        }
        _ if keys && !document.crls.is_empty() => Err(invalid("crls", "CRLs need roots; keys are the anchor here")),
        _ if keys && !document.signing_keys.is_empty() => {
            Err(invalid("signing_keys", "keys are already the signing keys; list them once"))
        }
        _ => Ok(()),
    }
}

fn load_keys(
    field: &str,
    sources: &[KeySource],
    read: &mut dyn FnMut(&str) -> Result<Vec<u8>, Error>,
) -> Result<Vec<PublicKey>, Error> {
    let mut keys = Vec::new();
    for (i, k) in sources.iter().enumerate() {
        let field = format!("{field}[{i}]");
        let pem = source_bytes(&field, k.file.as_deref(), k.pem.as_deref(), read)?;
        keys.push(PublicKey::from_pem(&pem, &field).map_err(|e| invalid(field.clone(), e.to_string()))?);
    }
    Ok(keys)
}

fn leads_to_root(cert: &Certificate, intermediates: &[Certificate], roots: &[Certificate]) -> bool {
    let mut current = cert.clone();
    for _ in 0..=intermediates.len() {
        if roots.iter().any(|r| current.issued_by(r)) {
            return true;
        }
        match intermediates.iter().find(|i| *i != &current && current.issued_by(i)) {
            Some(next) => current = next.clone(),
            None => return false,
        }
    }
    false
}

fn source_bytes(
    field: &str,
    file: Option<&str>,
    pem: Option<&str>,
    read: &mut dyn FnMut(&str) -> Result<Vec<u8>, Error>,
) -> Result<Vec<u8>, Error> {
    match (file, pem) {
        (Some(f), None) => read(f),
        (None, Some(p)) => Ok(p.as_bytes().to_vec()),
        _ => Err(invalid(field, "give exactly one of file and pem").into()),
    }
}

fn load_entry(
    field: &str,
    source: &CertificateSource,
    read: &mut dyn FnMut(&str) -> Result<Vec<u8>, Error>,
) -> Result<CertificateEntry, Error> {
    let bytes = source_bytes(field, source.file.as_deref(), source.pem.as_deref(), read)?;
    let what = match &source.file {
        Some(f) => format!("{field} ({f})"),
        None => field.to_owned(),
    };
    let certificates = Certificate::from_pem_many(&bytes, &what, MAX_CERTIFICATES_PER_ENTRY)?;
    if certificates.is_empty() {
        return Err(CertificateError::Parse { what, reason: "no CERTIFICATE PEM block".into() }.into());
    }
    if let Some(url) = &source.url
        && !(url.starts_with("https://") || url.starts_with("http://") || url.starts_with("file://"))
    {
        return Err(invalid(format!("{field}.url"), format!("{url:?} is not an http(s) or file URL")).into());
    }
    Ok(CertificateEntry { certificates, url: source.url.clone(), source: bytes })
}

fn load_entries(
    field: &str,
    sources: &[CertificateSource],
    read: &mut dyn FnMut(&str) -> Result<Vec<u8>, Error>,
) -> Result<Vec<CertificateEntry>, Error> {
    sources.iter().enumerate().map(|(i, s)| load_entry(&format!("{field}[{i}]"), s, read)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_within_and_across_segments() {
        let p = ImagePattern::parse("registry.example/team/*").unwrap();
        assert!(p.matches("registry.example/team/app"));
        assert!(!p.matches("registry.example/team/a/b"));
        assert!(!p.matches("registry.example/other/app"));
        assert!(!p.matches("registry.example.evil/team/app"));
        let p = ImagePattern::parse("registry.example/team/**").unwrap();
        assert!(p.matches("registry.example/team/a/b"));
        let p = ImagePattern::parse("127.0.0.1:5000/app-*").unwrap();
        assert!(p.matches("127.0.0.1:5000/app-one"));
        assert_eq!(p.literal_prefix(), "127.0.0.1:5000");
        assert_eq!(ImagePattern::parse("r.example/team/*").unwrap().literal_prefix(), "r.example/team");
        assert_eq!(ImagePattern::parse("r.example/team/app").unwrap().literal_prefix(), "r.example/team/app");
        for bad in ["", "app", "*/x", "r.example/", "R.example/x", "r.example/a?b", "r.example/***"] {
            assert!(ImagePattern::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_schema_uses_only_supported_keywords() {
        let value: serde_json::Value = serde_json::from_str(TRUST_CONFIG_SCHEMA).unwrap();
        crate::schema::Schema::new(value).unwrap();
    }
}
