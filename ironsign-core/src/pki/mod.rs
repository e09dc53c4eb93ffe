//! X.509: certificates, trust roots, and the chain and usage checks of RFC 5280.
//!
//! Path building and signature checks along the path are rustls-webpki's. ironsign adds what
//! webpki leaves to the caller: the end entity's key usage (RFC 5280 §4.2.1.3) and extended key
//! usage (§4.2.1.12), validity of the trust anchor itself, and errors that name the certificate.
//! The chain a signature carries is only ever a source of *untrusted* intermediates.

use crate::error::CertificateError;
use crate::keys::PublicKey;
use der::{Decode, Encode};
use rustls_pki_types::{CertificateDer, TrustAnchor, UnixTime};
use serde::Serialize;
use std::time::{Duration, SystemTime};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{ExtendedKeyUsage, KeyUsage, KeyUsages, SubjectAltName};

mod paths;
pub mod report;

pub(crate) use paths::PathCache;

/// `id-kp-codeSigning` (RFC 5280 §4.2.1.12).
pub const OID_CODE_SIGNING: const_oid::ObjectIdentifier = const_oid::db::rfc5280::ID_KP_CODE_SIGNING;
/// DER content octets of `id-kp-codeSigning`, as webpki wants them.
const CODE_SIGNING_DER: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x03];

/// Default bound on the number of certificates in a chain annotation or file.
pub const DEFAULT_MAX_CHAIN: usize = 10;

/// A parsed certificate with its DER.
#[derive(Clone)]
pub struct Certificate {
    der: CertificateDer<'static>,
    pub(crate) parsed: x509_cert::Certificate,
    summary: CertificateSummary,
}

impl std::fmt::Debug for Certificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Certificate({:?}, serial {})", self.summary.subject, self.summary.serial)
    }
}

impl PartialEq for Certificate {
    fn eq(&self, other: &Self) -> bool {
        self.der == other.der
    }
}

/// What a certificate says about itself, for results and errors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CertificateSummary {
    /// Subject DN, RFC 4514.
    pub subject: String,
    /// Issuer DN, RFC 4514.
    pub issuer: String,
    /// Serial number, hex.
    pub serial: String,
    /// notBefore, RFC 3339.
    pub not_before: String,
    /// notAfter, RFC 3339.
    pub not_after: String,
    /// SAN email addresses.
    pub emails: Vec<String>,
    /// SAN URIs.
    pub uris: Vec<String>,
    /// SAN DNS names.
    pub dns_names: Vec<String>,
    /// Extended key usage OIDs (dotted), or `None` when the extension is absent.
    pub extended_key_usage: Option<Vec<String>>,
    /// Key usage bit names, or `None` when the extension is absent.
    pub key_usage: Option<Vec<String>>,
    /// Whether basicConstraints says CA.
    pub is_ca: bool,
    /// Hex SHA-256 of the DER.
    pub sha256_fingerprint: String,
    /// The subject's common name, read from the parsed name (not from `subject`, whose RFC 4514
    /// escapes a comma inside a value).
    #[serde(skip)]
    common_name: Option<String>,
}

impl CertificateSummary {
    /// Every SAN (emails, URIs, DNS names), in that order.
    pub fn sans(&self) -> Vec<String> {
        self.emails.iter().chain(&self.uris).chain(&self.dns_names).cloned().collect()
    }

    /// The common name of the subject, if any (the last one in the name, as Go's x509 reads it).
    pub fn common_name(&self) -> Option<&str> {
        self.common_name.as_deref()
    }
}

/// The last commonName attribute of a name (see [`name_attribute`]).
fn common_name(name: &x509_cert::name::Name) -> Option<String> {
    name_attribute(name, const_oid::db::rfc4519::COMMON_NAME)
}

/// The last attribute of type `oid` in a name, decoded from its directory string (or IA5String,
/// which some CAs use and Go's x509 reads). Read from the parsed name, never by splitting the
/// RFC 4514 string, whose escaped commas would yield attributes the name does not have.
fn name_attribute(name: &x509_cert::name::Name, oid: const_oid::ObjectIdentifier) -> Option<String> {
    let atv = name.iter().filter(|atv| atv.oid == oid).last()?;
    match x509_cert::ext::pkix::name::DirectoryString::try_from(&atv.value) {
        Ok(s) => Some(s.value().into_owned()),
        Err(_) => atv.value.decode_as::<der::asn1::Ia5StringRef<'_>>().ok().map(|s| s.as_str().to_owned()),
    }
}

fn rfc3339(t: x509_cert::time::Time) -> String {
    format_unix(t.to_unix_duration())
}

/// Formats seconds since the epoch as RFC 3339 UTC.
pub(crate) fn format_unix(d: Duration) -> String {
    time::OffsetDateTime::from_unix_timestamp(d.as_secs() as i64)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| format!("@{}", d.as_secs()))
}

fn key_usage_names(ku: &KeyUsage) -> Vec<String> {
    use KeyUsages::*;
    [
        (DigitalSignature, "digitalSignature"),
        (NonRepudiation, "nonRepudiation"),
        (KeyEncipherment, "keyEncipherment"),
        (DataEncipherment, "dataEncipherment"),
        (KeyAgreement, "keyAgreement"),
        (KeyCertSign, "keyCertSign"),
        (CRLSign, "cRLSign"),
        (EncipherOnly, "encipherOnly"),
        (DecipherOnly, "decipherOnly"),
    ]
    .into_iter()
    .filter(|(bit, _)| ku.0.contains(*bit))
    .map(|(_, name)| name.to_owned())
    .collect()
}

fn eku_name(oid: &const_oid::ObjectIdentifier) -> String {
    use const_oid::db::rfc5280::*;
    let name = match *oid {
        o if o == ID_KP_SERVER_AUTH => "serverAuth",
        o if o == ID_KP_CLIENT_AUTH => "clientAuth",
        o if o == ID_KP_CODE_SIGNING => "codeSigning",
        o if o == ID_KP_EMAIL_PROTECTION => "emailProtection",
        o if o == ID_KP_TIME_STAMPING => "timeStamping",
        o if o == ID_KP_OCSP_SIGNING => "OCSPSigning",
        _ => return oid.to_string(),
    };
    name.to_owned()
}

impl Certificate {
    /// Parses DER. `what` names the input in errors.
    pub fn from_der(der: &[u8], what: &str) -> Result<Self, CertificateError> {
        let parse = |reason: String| CertificateError::Parse { what: what.into(), reason };
        let parsed = x509_cert::Certificate::from_der(der).map_err(|e| parse(e.to_string()))?;
        let tbs = parsed.tbs_certificate();
        let mut emails = Vec::new();
        let mut uris = Vec::new();
        let mut dns_names = Vec::new();
        if let Some((_, san)) =
            tbs.get_extension::<SubjectAltName>().map_err(|e| parse(format!("subjectAltName: {e}")))?
        {
            for name in san.0 {
                match name {
                    GeneralName::Rfc822Name(s) => emails.push(s.to_string()),
                    GeneralName::UniformResourceIdentifier(s) => uris.push(s.to_string()),
                    GeneralName::DnsName(s) => dns_names.push(s.to_string()),
                    _ => {}
                }
            }
        }
        let extended_key_usage = tbs
            .get_extension::<ExtendedKeyUsage>()
            .map_err(|e| parse(format!("extendedKeyUsage: {e}")))?
            .map(|(_, eku)| eku.0.iter().map(eku_name).collect());
        let key_usage = tbs
            .get_extension::<KeyUsage>()
            .map_err(|e| parse(format!("keyUsage: {e}")))?
            .map(|(_, ku)| key_usage_names(&ku));
        let is_ca = tbs
            .get_extension::<x509_cert::ext::pkix::BasicConstraints>()
            .map_err(|e| parse(format!("basicConstraints: {e}")))?
            .is_some_and(|(_, bc)| bc.ca);
        let summary = CertificateSummary {
            subject: tbs.subject().to_string(),
            issuer: tbs.issuer().to_string(),
            serial: hex::encode(tbs.serial_number().as_bytes()),
            not_before: rfc3339(tbs.validity().not_before),
            not_after: rfc3339(tbs.validity().not_after),
            emails,
            uris,
            dns_names,
            extended_key_usage,
            key_usage,
            is_ca,
            sha256_fingerprint: hex::encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, der).as_ref()),
            common_name: common_name(tbs.subject()),
        };
        Ok(Certificate { der: CertificateDer::from(der.to_vec()), parsed, summary })
    }

    /// Parses every `CERTIFICATE` block of a PEM text, in order, at most `limit` of them.
    pub fn from_pem_many(pem_text: &[u8], what: &str, limit: usize) -> Result<Vec<Self>, CertificateError> {
        let blocks = pem::parse_many(pem_text)
            .map_err(|e| CertificateError::Parse { what: what.into(), reason: e.to_string() })?;
        let certs: Vec<_> = blocks.iter().filter(|b| b.tag() == "CERTIFICATE").collect();
        if certs.len() > limit {
            return Err(CertificateError::TooMany { what: what.into(), count: certs.len(), limit });
        }
        certs
            .iter()
            .enumerate()
            .map(|(i, b)| Certificate::from_der(b.contents(), &format!("{what} (certificate {})", i + 1)))
            .collect()
    }

    /// Parses a single certificate from PEM or DER.
    pub fn from_pem_or_der(data: &[u8], what: &str) -> Result<Self, CertificateError> {
        if data.trim_ascii_start().starts_with(b"-----BEGIN") {
            let mut certs = Self::from_pem_many(data, what, 1)?;
            certs
                .pop()
                .ok_or_else(|| CertificateError::Parse { what: what.into(), reason: "no CERTIFICATE PEM block".into() })
        } else {
            Self::from_der(data, what)
        }
    }

    /// The DER.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The certificate as one PEM block, with the trailing newline cosign writes.
    pub fn to_pem(&self) -> String {
        pem::encode_config(
            &pem::Pem::new("CERTIFICATE", self.der.to_vec()),
            pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
        )
    }

    /// Its summary.
    pub fn summary(&self) -> &CertificateSummary {
        &self.summary
    }

    /// Its subject DN (RFC 4514).
    pub fn subject(&self) -> &str {
        &self.summary.subject
    }

    /// The last attribute of type `oid` (e.g. `const_oid::db::rfc4519::ORGANIZATION_NAME`) in its
    /// subject, read from the parsed name.
    pub fn subject_attribute(&self, oid: const_oid::ObjectIdentifier) -> Option<String> {
        name_attribute(self.parsed.tbs_certificate().subject(), oid)
    }

    /// Its public key.
    pub fn public_key(&self) -> Result<PublicKey, CertificateError> {
        let spki = self.parsed.tbs_certificate().subject_public_key_info();
        PublicKey::from_spki(spki, self.subject())
            .map_err(|e| CertificateError::Unsupported { subject: self.subject().into(), algorithm: e.to_string() })
    }

    pub(crate) fn validity(&self) -> (Duration, Duration) {
        let v = self.parsed.tbs_certificate().validity();
        (v.not_before.to_unix_duration(), v.not_after.to_unix_duration())
    }

    /// Checks notBefore ≤ `at` ≤ notAfter (RFC 5280 §4.1.2.5). `timestamp_needed` goes into the
    /// error to say that a signed time would have allowed an expired certificate.
    pub fn check_validity(&self, at: SystemTime, timestamp_needed: bool) -> Result<(), CertificateError> {
        let at = at.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
        let (not_before, not_after) = self.validity();
        if at < not_before {
            return Err(CertificateError::NotYetValid {
                subject: self.subject().into(),
                not_before: self.summary.not_before.clone(),
                time: format_unix(at),
            });
        }
        if at > not_after {
            return Err(CertificateError::Expired {
                subject: self.subject().into(),
                not_after: self.summary.not_after.clone(),
                time: format_unix(at),
                timestamp_needed,
            });
        }
        Ok(())
    }

    /// Checks the end-entity usage for code signing: key usage, when present, includes
    /// digitalSignature (RFC 5280 §4.2.1.3); extended key usage as `eku` says (§4.2.1.12).
    pub fn check_code_signing_usage(&self, eku: EkuRule) -> Result<(), CertificateError> {
        if let Some(ku) = &self.summary.key_usage
            && !ku.iter().any(|u| u == "digitalSignature")
        {
            return Err(CertificateError::MissingDigitalSignature {
                subject: self.subject().into(),
                found: ku.clone(),
            });
        }
        match (&self.summary.extended_key_usage, eku) {
            (Some(found), _) if found.iter().any(|u| u == "codeSigning") => Ok(()),
            (None, EkuRule::CodeSigningIfPresent) | (_, EkuRule::Any) => Ok(()),
            (other, _) => Err(CertificateError::MissingCodeSigning {
                subject: self.subject().into(),
                found: other.clone().unwrap_or_default(),
            }),
        }
    }

    /// When this certificate has an extended key usage without codeSigning (the shape of a DoD
    /// PKI certificate: serverAuth, clientAuth), what will and will not verify its signatures.
    /// Chain verification by cosign, Kyverno and policy-controller (Go's x509, codeSigning
    /// required when the extension is present) refuses it; a certificate without the extension is
    /// accepted by them, so `None` then.
    pub fn code_signing_eku_gap(&self) -> Option<String> {
        let eku = self.summary.extended_key_usage.as_ref()?;
        if eku.iter().any(|u| u == "codeSigning") {
            return None;
        }
        Some(format!(
            "extended key usage [{}] lacks codeSigning: chain verification (cosign --certificate-chain/--ca-roots, Kyverno and policy-controller keyless, ironsign with roots) refuses its signatures; verification by the public key works (cosign verify --key KEY.pub --insecure-ignore-tlog, ironsign verify --key, a trust configuration with keys)",
            eku.join(", ")
        ))
    }

    fn is_self_signed(&self) -> bool {
        // Verify the self-signature so a forged "root" with a copied name is not taken for one.
        self.issued_by(self)
    }

    /// Whether `issuer` issued this certificate: the names match and `issuer`'s key verifies the
    /// signature.
    pub fn issued_by(&self, issuer: &Certificate) -> bool {
        let tbs = self.parsed.tbs_certificate();
        if tbs.issuer() != issuer.parsed.tbs_certificate().subject() {
            return false;
        }
        let (Ok(key), Ok(tbs_der)) = (issuer.public_key(), tbs.to_der()) else {
            return false;
        };
        key.verify_certificate_signature(
            &self.parsed.signature_algorithm().oid,
            &tbs_der,
            self.parsed.signature().raw_bytes(),
        )
    }
}

/// Trust material: the root CAs (and optional intermediates) that signing certificates must chain
/// to, and/or public keys that signatures may be made with.
#[derive(Debug, Clone, Default)]
pub struct TrustRoot {
    roots: Vec<Certificate>,
    anchors: Vec<TrustAnchor<'static>>,
    intermediates: Vec<Certificate>,
    keys: Vec<PublicKey>,
    timestamp_authorities: crate::tsa::TimestampAuthorities,
    crls: Vec<Crl>,
}

/// A CRL given as trust material, with what choosing among several and judging freshness needs.
#[derive(Debug, Clone)]
struct Crl {
    webpki: webpki::OwnedCertRevocationList,
    /// The issuer Name, DER.
    issuer: Vec<u8>,
    /// The issuing distribution point, DER: CRLs of one issuer with different scopes are
    /// different lists.
    scope: Option<Vec<u8>>,
    this_update: Duration,
    next_update: Duration,
    /// The cRLNumber extension (unsigned, big-endian, no leading zeros).
    number: Option<Vec<u8>>,
}

/// `id-ce-cRLNumber` (RFC 5280 §5.2.3).
const OID_CRL_NUMBER: const_oid::ObjectIdentifier = const_oid::ObjectIdentifier::new_unwrap("2.5.29.20");
/// `id-ce-issuingDistributionPoint` (RFC 5280 §5.2.5).
const OID_ISSUING_DISTRIBUTION_POINT: const_oid::ObjectIdentifier =
    const_oid::ObjectIdentifier::new_unwrap("2.5.29.28");

impl Crl {
    fn parse(der: &[u8]) -> Result<Self, String> {
        let webpki = webpki::OwnedCertRevocationList::from_der(der).map_err(|e| format!("{e:?}"))?;
        let parsed: x509_cert::crl::CertificateList = Decode::from_der(der).map_err(|e: der::Error| e.to_string())?;
        let tbs = &parsed.tbs_cert_list;
        let next_update = tbs.next_update.ok_or("the CRL has no nextUpdate")?.to_unix_duration();
        let extension = |oid| tbs.crl_extensions.iter().flatten().find(|e| e.extn_id == oid);
        let number = match extension(OID_CRL_NUMBER) {
            Some(ext) => {
                let n = der::asn1::Int::from_der(ext.extn_value.as_bytes()).map_err(|e| format!("cRLNumber: {e}"))?;
                let bytes = n.as_bytes();
                if bytes.first().is_some_and(|b| b & 0x80 != 0) {
                    return Err("cRLNumber is negative".into());
                }
                let first = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
                Some(bytes[first..].to_vec())
            }
            None => None,
        };
        Ok(Crl {
            issuer: tbs.issuer.to_der().map_err(|e| e.to_string())?,
            scope: extension(OID_ISSUING_DISTRIBUTION_POINT).map(|e| e.extn_value.as_bytes().to_vec()),
            this_update: tbs.this_update.to_unix_duration(),
            next_update,
            number,
            webpki,
        })
    }

    /// Whether this CRL supersedes `other` of the same issuer and scope: a higher cRLNumber when
    /// both carry one (RFC 5280 §5.2.3: numbers increase), else a later thisUpdate.
    fn supersedes(&self, other: &Crl) -> bool {
        match (&self.number, &other.number) {
            (Some(a), Some(b)) if a != b => (a.len(), a) > (b.len(), b),
            _ => self.this_update > other.this_update,
        }
    }
}

impl TrustRoot {
    /// Trust these root CAs, with these intermediates available for path building. Roots must be
    /// self-signed CA certificates: an intermediate offered as a root is refused, because
    /// anchoring on it would silently trust whatever issued it too.
    pub fn from_certificates(
        roots: Vec<Certificate>,
        intermediates: Vec<Certificate>,
    ) -> Result<Self, CertificateError> {
        let mut anchors = Vec::with_capacity(roots.len());
        for root in &roots {
            if !root.is_self_signed() {
                return Err(CertificateError::NotARoot {
                    subject: root.subject().into(),
                    issuer: root.summary.issuer.clone(),
                });
            }
            let anchor = webpki::anchor_from_trusted_cert(&root.der).map_err(|e| CertificateError::Parse {
                what: format!("root {:?}", root.subject()),
                reason: format!("{e:?}"),
            })?;
            anchors.push(anchor.to_owned());
        }
        Ok(TrustRoot { roots, anchors, intermediates, ..Default::default() })
    }

    /// Trust the roots in `roots_pem` with the intermediates in `intermediates_pem`.
    pub fn from_pem(roots_pem: &[u8], intermediates_pem: Option<&[u8]>) -> Result<Self, CertificateError> {
        let roots = Certificate::from_pem_many(roots_pem, "root CAs", 100)?;
        if roots.is_empty() {
            return Err(CertificateError::Parse { what: "root CAs".into(), reason: "no CERTIFICATE PEM block".into() });
        }
        let intermediates = match intermediates_pem {
            Some(p) => Certificate::from_pem_many(p, "intermediate CAs", 100)?,
            None => Vec::new(),
        };
        Self::from_certificates(roots, intermediates)
    }

    /// Trust a cosign-style `--certificate-chain` file: intermediates first, the root last.
    pub fn from_chain_pem(chain_pem: &[u8]) -> Result<Self, CertificateError> {
        let mut certs = Certificate::from_pem_many(chain_pem, "certificate chain", DEFAULT_MAX_CHAIN)?;
        let root = certs.pop().ok_or_else(|| CertificateError::Parse {
            what: "certificate chain".into(),
            reason: "no CERTIFICATE PEM block".into(),
        })?;
        Self::from_certificates(vec![root], certs)
    }

    /// Trust signatures made with these public keys.
    pub fn from_public_keys(keys: Vec<PublicKey>) -> Self {
        TrustRoot { keys, ..Default::default() }
    }

    /// Adds public keys to certificate-based trust.
    pub fn with_public_keys(mut self, keys: Vec<PublicKey>) -> Self {
        self.keys.extend(keys);
        self
    }

    /// Trusts these timestamp authorities for RFC 3161 timestamps: a signature with a verified
    /// timestamp has its certificate chain checked at the timestamp's time instead of now.
    pub fn with_timestamp_authorities(mut self, authorities: crate::tsa::TimestampAuthorities) -> Self {
        self.timestamp_authorities = self.timestamp_authorities.merge(authorities);
        self
    }

    /// Checks revocation against these CRLs (PEM `X509 CRL` blocks or DER): every certificate on
    /// a signing path whose issuer has a CRL here must not be listed in it, and that CRL must be
    /// signed by the issuer and not past its nextUpdate at the current time (even when the
    /// certificates are checked at a timestamp's time: stale revocation data is stale whatever
    /// the signature's date). A listed certificate is revoked whatever its revocation date.
    /// Certificates whose issuer has no CRL here are not checked. Of several CRLs from one issuer
    /// (and scope), only the newest counts: the highest cRLNumber, else the latest thisUpdate,
    /// whatever order they are given in.
    pub fn with_crls(mut self, crls: &[u8], what: &str) -> Result<Self, CertificateError> {
        let parse = |reason: String| CertificateError::Parse { what: what.into(), reason };
        let ders: Vec<Vec<u8>> = if crls.trim_ascii_start().starts_with(b"-----BEGIN") {
            pem::parse_many(crls)
                .map_err(|e| parse(e.to_string()))?
                .into_iter()
                .filter(|b| b.tag() == "X509 CRL")
                .map(|b| b.into_contents())
                .collect()
        } else {
            vec![crls.to_vec()]
        };
        if ders.is_empty() {
            return Err(parse("no X509 CRL PEM block".into()));
        }
        for der in ders {
            let crl = Crl::parse(&der).map_err(parse)?;
            match self.crls.iter_mut().find(|c| c.issuer == crl.issuer && c.scope == crl.scope) {
                Some(known) if crl.supersedes(known) => *known = crl,
                Some(_) => {}
                None => self.crls.push(crl),
            }
        }
        Ok(self)
    }

    /// Fails when a CRL that speaks for a certificate of `path` (its issuer's) is past its
    /// nextUpdate at `now`.
    pub(crate) fn check_crls_fresh(&self, path: &[Certificate], now: SystemTime) -> Result<(), CertificateError> {
        let now = now.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
        for cert in path {
            let Ok(issuer) = cert.parsed.tbs_certificate().issuer().to_der() else { continue };
            if let Some(stale) = self.crls.iter().find(|c| c.issuer == issuer && now >= c.next_update) {
                return Err(CertificateError::UntrustedChain {
                    subject: cert.subject().into(),
                    issuer: cert.summary.issuer.clone(),
                    detail: format!(
                        "the CRL given for its issuer is past its nextUpdate {} (stale revocation data)",
                        format_unix(stale.next_update)
                    ),
                });
            }
        }
        Ok(())
    }

    /// The trusted timestamp authorities (empty when timestamps are not verified).
    pub fn timestamp_authorities(&self) -> &crate::tsa::TimestampAuthorities {
        &self.timestamp_authorities
    }

    /// The root CAs.
    pub fn roots(&self) -> &[Certificate] {
        &self.roots
    }

    /// The configured intermediates.
    pub fn intermediates(&self) -> &[Certificate] {
        &self.intermediates
    }

    /// The trusted public keys.
    pub fn public_keys(&self) -> &[PublicKey] {
        &self.keys
    }

    /// Whether certificates can be trusted (some root is configured).
    pub fn has_certificate_authorities(&self) -> bool {
        !self.roots.is_empty()
    }

    /// Validates `leaf` for code signing at `at`: end-entity usage, validity of the leaf, a path
    /// through configured and `untrusted` intermediates to a configured root, and validity of every
    /// certificate on that path including the root; the CRLs given must be fresh at `now` (the
    /// current time, which `at` is too unless a timestamp dates the signature). Returns the path,
    /// leaf first, root last.
    pub fn verify_code_signing(
        &self,
        leaf: &Certificate,
        untrusted: &[Certificate],
        at: SystemTime,
        now: SystemTime,
        eku: EkuRule,
        timestamp_needed: bool,
    ) -> Result<Vec<Certificate>, CertificateError> {
        leaf.check_code_signing_usage(eku)?;
        leaf.check_validity(at, timestamp_needed)?;
        let pool: Vec<&Certificate> = self.intermediates.iter().chain(untrusted).collect();
        let pool_der: Vec<CertificateDer<'_>> = pool.iter().map(|c| c.der.clone()).collect();
        let ee = webpki::EndEntityCert::try_from(&leaf.der).map_err(|e| CertificateError::Parse {
            what: format!("certificate {:?}", leaf.subject()),
            reason: format!("{e:?}"),
        })?;
        let untrusted_chain = |detail: String| CertificateError::UntrustedChain {
            subject: leaf.subject().into(),
            issuer: leaf.summary.issuer.clone(),
            detail,
        };
        let crls: Vec<webpki::CertRevocationList<'_>> = self.crls.iter().map(|c| c.webpki.clone().into()).collect();
        let crl_refs: Vec<&webpki::CertRevocationList<'_>> = crls.iter().collect();
        let revocation = webpki::RevocationOptionsBuilder::new(&crl_refs).ok().map(|b| {
            b.with_depth(webpki::RevocationCheckDepth::Chain)
                .with_status_policy(webpki::UnknownStatusPolicy::Allow)
                // Freshness is judged at `now`, not at `at` (see check_crls_fresh).
                .with_expiration_policy(webpki::ExpirationPolicy::Ignore)
                .build()
        });
        let build = |time: Duration| {
            ee.verify_for_usage(
                webpki::ALL_VERIFICATION_ALGS,
                &self.anchors,
                &pool_der,
                UnixTime::since_unix_epoch(time),
                PathEku(eku),
                revocation,
                None,
            )
            .map(|path| {
                let inter: Vec<Vec<u8>> = path.intermediate_certificates().map(|c| c.der().as_ref().to_vec()).collect();
                (inter, AnchorId::of(path.anchor()))
            })
        };
        let (inter, anchor) = match build(at.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default()) {
            Ok(p) => p,
            Err(webpki::Error::CertExpired { .. } | webpki::Error::CertNotValidYet { .. }) => {
                // Some CA on the path is out of its validity. Build the path at the leaf's start of
                // validity to learn which one, so the error can name it.
                let (not_before, _) = leaf.validity();
                let path =
                    build(not_before + Duration::from_secs(1)).map_err(|e| untrusted_chain(webpki_reason(&e)))?;
                let mut certs = self.path_certificates(leaf, &pool, &path, at);
                certs.remove(0);
                for c in &certs {
                    c.check_validity(at, timestamp_needed)?;
                }
                return Err(untrusted_chain(
                    "a CA certificate on the path is not valid at the verification time".into(),
                ));
            }
            Err(webpki::Error::CertRevoked) => {
                return Err(CertificateError::Revoked {
                    subject: leaf.subject().into(),
                    serial: leaf.summary.serial.clone(),
                });
            }
            Err(e) => return Err(untrusted_chain(webpki_reason(&e))),
        };
        let path = self.path_certificates(leaf, &pool, &(inter, anchor), at);
        // webpki does not check the anchor's own validity; RFC 5280 leaves that to policy, and
        // cosign (Go's x509) checks it, so do the same.
        if let Some(root) = path.last() {
            root.check_validity(at, timestamp_needed)?;
        }
        self.check_crls_fresh(&path, now)?;
        Ok(path)
    }

    fn path_certificates(
        &self,
        leaf: &Certificate,
        pool: &[&Certificate],
        (inter, anchor): &(Vec<Vec<u8>>, AnchorId),
        at: SystemTime,
    ) -> Vec<Certificate> {
        let mut out = vec![leaf.clone()];
        for der in inter {
            if let Some(c) = pool.iter().find(|c| c.der.as_ref() == der.as_slice()) {
                out.push((*c).clone());
            }
        }
        if let Some(root) = anchor.root(&self.roots, &self.anchors, at) {
            out.push(root.clone());
        }
        out
    }
}

/// What the extended key usage of a leaf must allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum EkuRule {
    /// codeSigning when the certificate has the extension (cosign's and Go's x509 rule).
    #[default]
    CodeSigningIfPresent,
    /// codeSigning, always (`--require-code-signing-eku`).
    CodeSigning,
    /// Anything: only for checking, at signing time, that a chain issues a certificate whose
    /// usage was reported separately (see [`crate::sign::EkuCheck`]). Never used to verify.
    Any,
}

/// The usage every certificate on a path must allow when it has an extended key usage: codeSigning
/// (the leaf's own rule is [`Certificate::check_code_signing_usage`]), or anything for
/// [`EkuRule::Any`].
struct PathEku(EkuRule);

impl webpki::ExtendedKeyUsageValidator for PathEku {
    fn validate(&self, iter: webpki::KeyPurposeIdIter<'_, '_>) -> Result<(), webpki::Error> {
        match self.0 {
            EkuRule::Any => {
                // Drain so a malformed extension still fails.
                for id in iter {
                    id?;
                }
                Ok(())
            }
            EkuRule::CodeSigningIfPresent | EkuRule::CodeSigning => webpki::ExtendedKeyUsageValidator::validate(
                &webpki::KeyUsage::required_if_present(CODE_SIGNING_DER),
                iter,
            ),
        }
    }
}

/// Which trust anchor a path was built to: its subject and key, which is all webpki matches on.
pub(crate) struct AnchorId {
    subject: Vec<u8>,
    spki: Vec<u8>,
}

impl AnchorId {
    pub(crate) fn of(anchor: &TrustAnchor<'_>) -> Self {
        AnchorId { subject: anchor.subject.to_vec(), spki: anchor.subject_public_key_info.to_vec() }
    }

    /// The configured root this anchor stands for. Several roots are the same anchor when a root
    /// was re-issued under the same name and key; then the one valid at `at` is the anchor (as
    /// Go's x509 would find a chain through it), else the first. A root of another name that
    /// shares the key is never taken for it.
    pub(crate) fn root<'a>(
        &self,
        roots: &'a [Certificate],
        anchors: &[TrustAnchor<'_>],
        at: SystemTime,
    ) -> Option<&'a Certificate> {
        let mut same = roots.iter().zip(anchors).filter(|(_, a)| {
            a.subject.as_ref() == self.subject.as_slice() && a.subject_public_key_info.as_ref() == self.spki.as_slice()
        });
        let first = same.clone().next().map(|(root, _)| root);
        same.find(|(root, _)| root.check_validity(at, false).is_ok()).map(|(root, _)| root).or(first)
    }
}

fn webpki_reason(e: &webpki::Error) -> String {
    match e {
        webpki::Error::UnknownIssuer => "no path to a configured root (unknown issuer)".into(),
        webpki::Error::InvalidSignatureForPublicKey => "a certificate signature on the path does not verify".into(),
        webpki::Error::CaUsedAsEndEntity => "the signing certificate is a CA certificate".into(),
        webpki::Error::EndEntityUsedAsCa => "a non-CA certificate issued another certificate".into(),
        webpki::Error::CrlExpired { .. } => "a CRL given is past its nextUpdate (stale revocation data)".into(),
        webpki::Error::InvalidCrlSignatureForPublicKey => "a CRL given is not signed by the CA it names".into(),
        webpki::Error::RequiredEkuNotFoundContext(_) => {
            "a CA on the path has an extended key usage without codeSigning".into()
        }
        other => format!("{other:?}"),
    }
}

/// Whether the certificate and the signer hold the same public key.
pub fn certificate_matches_key(cert: &Certificate, key: &PublicKey) -> Result<(), CertificateError> {
    match cert.public_key() {
        Ok(k) if &k == key => Ok(()),
        _ => Err(CertificateError::KeyMismatch { subject: cert.subject().into() }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr as _;

    #[test]
    fn common_name_comes_from_the_parsed_name_not_the_string() {
        let cn = |dn: &str| common_name(&x509_cert::name::Name::from_str(dn).unwrap());
        // A comma inside a value is escaped in RFC 4514: splitting the string on commas took
        // `CN=trusted` out of the organisation's value, for a name without any common name.
        let spoof = x509_cert::name::Name::from_str(r"O=evil\,CN=trusted").unwrap();
        assert!(spoof.to_string().contains("CN=trusted"), "{spoof}");
        assert_eq!(common_name(&spoof), None);
        assert_eq!(cn(r"CN=Signer\, Inc,O=Example").as_deref(), Some("Signer, Inc"));
        assert_eq!(cn(r"CN=a\+b\=c,O=x").as_deref(), Some("a+b=c"));
        // Several: the most specific (first in RFC 4514, last in the encoding), as Go reads it.
        assert_eq!(cn("CN=leaf,OU=team,CN=org").as_deref(), Some("leaf"));
        // The same for any attribute (the organisation the generated policies name).
        let org = x509_cert::name::Name::from_str(r"CN=x,O=Example\, Inc").unwrap();
        assert_eq!(name_attribute(&org, const_oid::db::rfc4519::ORGANIZATION_NAME).as_deref(), Some("Example, Inc"));
        assert_eq!(cn("O=Example,C=US"), None);
    }
}
