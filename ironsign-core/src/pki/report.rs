//! What operators ask of certificates: inspect one or a chain, check a signing certificate and
//! its chain ahead of expiry, and confirm that a renewed certificate keeps the identity that
//! policies pin. Pure functions over parsed certificates.

use super::{Certificate, CertificateSummary};
use crate::keys::{KeyAlgorithm, PublicKey};
use serde::Serialize;
use std::time::{Duration, SystemTime};

/// A warning about a certificate, with a stable code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CertificateWarning {
    /// Stable code, e.g. `NO_SAN`.
    pub code: &'static str,
    /// Which certificate (subject DN).
    pub subject: String,
    /// What is wrong and why it matters.
    pub message: String,
}

/// Where a certificate sits in the chain given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChainRole {
    /// Not a CA.
    Leaf,
    /// A CA that is not self-signed.
    Intermediate,
    /// A self-signed CA.
    Root,
}

/// One certificate, inspected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CertificateDetails {
    /// Subject, issuer, serial, SANs, usages, validity.
    #[serde(flatten)]
    pub summary: CertificateSummary,
    /// Key type and size, e.g. `ECDSA P-256`, `RSA-4096`.
    pub key: String,
    /// Signature algorithm of the certificate, e.g. `ecdsa-with-SHA256`.
    pub signature_algorithm: String,
    /// Whole days until notAfter (negative once expired).
    pub days_to_expiry: i64,
    /// Its role in the chain given.
    pub role: ChainRole,
}

/// The result of inspecting a certificate file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InspectionReport {
    /// The certificates, in file order.
    pub certificates: Vec<CertificateDetails>,
    /// Whether each certificate is issued by the next one (leaf first, root last).
    pub chain_order_ok: bool,
    /// Everything worth a look.
    pub warnings: Vec<CertificateWarning>,
}

fn days_until(not_after: &str, at: SystemTime) -> i64 {
    let at = at.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default().as_secs() as i64;
    time::OffsetDateTime::parse(not_after, &time::format_description::well_known::Rfc3339)
        .map(|t| (t.unix_timestamp() - at).div_euclid(86_400))
        .unwrap_or(0)
}

fn signature_algorithm_name(cert: &Certificate) -> String {
    use const_oid::db::{rfc5912, rfc8410};
    let oid = cert.parsed.signature_algorithm().oid;
    let name = match oid {
        o if o == rfc5912::ECDSA_WITH_SHA_256 => "ecdsa-with-SHA256",
        o if o == rfc5912::ECDSA_WITH_SHA_384 => "ecdsa-with-SHA384",
        o if o == rfc5912::ECDSA_WITH_SHA_512 => "ecdsa-with-SHA512",
        o if o == rfc5912::SHA_256_WITH_RSA_ENCRYPTION => "sha256WithRSAEncryption",
        o if o == rfc5912::SHA_384_WITH_RSA_ENCRYPTION => "sha384WithRSAEncryption",
        o if o == rfc5912::SHA_512_WITH_RSA_ENCRYPTION => "sha512WithRSAEncryption",
        o if o == rfc5912::SHA_1_WITH_RSA_ENCRYPTION => "sha1WithRSAEncryption",
        o if o == rfc5912::ECDSA_WITH_SHA_224 => "ecdsa-with-SHA224",
        o if o == rfc5912::ID_RSASSA_PSS => "RSASSA-PSS",
        o if o == rfc8410::ID_ED_25519 => "Ed25519",
        o if o.to_string() == "1.2.840.10045.4.1" => "ecdsa-with-SHA1",
        o => return o.to_string(),
    };
    name.to_owned()
}

/// The key's type and size, and whether it is too weak to trust (RSA under 2048 bits, EC under
/// 256 bits).
fn key_description(cert: &Certificate) -> (String, bool) {
    let spki = cert.parsed.tbs_certificate().subject_public_key_info();
    let oid = spki.algorithm.oid;
    if oid == const_oid::db::rfc5912::RSA_ENCRYPTION {
        let bits = crate::keys::rsa_modulus_bits(spki.subject_public_key.raw_bytes()).unwrap_or(0);
        return (format!("RSA-{bits}"), bits < 2048);
    }
    if oid == const_oid::db::rfc5912::ID_EC_PUBLIC_KEY {
        let curve = spki.algorithm.parameters.as_ref().and_then(|p| p.decode_as::<const_oid::ObjectIdentifier>().ok());
        use const_oid::db::rfc5912::{SECP_224_R_1, SECP_256_R_1, SECP_384_R_1, SECP_521_R_1};
        return match curve {
            Some(c) if c == SECP_256_R_1 => ("ECDSA P-256".into(), false),
            Some(c) if c == SECP_384_R_1 => ("ECDSA P-384".into(), false),
            Some(c) if c == SECP_521_R_1 => ("ECDSA P-521".into(), false),
            Some(c) if c == SECP_224_R_1 || c.to_string() == "1.2.840.10045.3.1.1" => {
                (format!("ECDSA curve {c}"), true)
            }
            other => (format!("EC curve {}", other.map(|c| c.to_string()).unwrap_or_default()), false),
        };
    }
    if oid == const_oid::db::rfc8410::ID_ED_25519 {
        return ("Ed25519".into(), false);
    }
    (format!("key algorithm {oid}"), false)
}

/// Inspects certificates (a leaf, or a chain leaf first) at `at`.
pub fn inspect(certs: &[Certificate], at: SystemTime) -> InspectionReport {
    let mut warnings = Vec::new();
    let mut details = Vec::new();
    let warn = |warnings: &mut Vec<CertificateWarning>, code, cert: &Certificate, message: String| {
        warnings.push(CertificateWarning { code, subject: cert.subject().to_owned(), message })
    };
    for cert in certs {
        let s = cert.summary();
        let role = match (s.is_ca, cert.is_self_signed()) {
            (_, true) => ChainRole::Root,
            (true, false) => ChainRole::Intermediate,
            (false, false) => ChainRole::Leaf,
        };
        let (key, weak) = key_description(cert);
        let signature_algorithm = signature_algorithm_name(cert);
        if role == ChainRole::Leaf {
            if s.sans().is_empty() {
                warn(&mut warnings, "NO_SAN", cert, "no subject alternative name: cosign, Kyverno, policy-controller and podman pin identities only on SANs".into());
            }
            match (&s.extended_key_usage, cert.code_signing_eku_gap()) {
                (_, Some(gap)) => warn(&mut warnings, "NO_CODE_SIGNING_EKU", cert, gap),
                (None, _) => warn(&mut warnings, "NO_CODE_SIGNING_EKU", cert, "no extended key usage extension: accepted by cosign, refused by ironsign's --require-code-signing-eku".into()),
                _ => {}
            }
            if matches!(cert.public_key().map(|k| k.algorithm()), Ok(KeyAlgorithm::EcdsaP384)) {
                warn(
                    &mut warnings,
                    "P384_INTEROP",
                    cert,
                    "P-384 signatures cannot be verified by cosign (sigstore/cosign#5091): prefer P-256 or RSA".into(),
                );
            }
        }
        if weak {
            warn(&mut warnings, "WEAK_KEY", cert, format!("weak key: {key}"));
        }
        if signature_algorithm.contains("SHA1") {
            warn(&mut warnings, "SHA1_SIGNATURE", cert, format!("signed with {signature_algorithm}"));
        }
        match cert.check_validity(at, false) {
            Err(crate::CertificateError::Expired { .. }) => {
                warn(&mut warnings, "EXPIRED", cert, format!("expired at {}", s.not_after))
            }
            Err(crate::CertificateError::NotYetValid { .. }) => {
                warn(&mut warnings, "NOT_YET_VALID", cert, format!("not valid before {}", s.not_before))
            }
            _ => {}
        }
        details.push(CertificateDetails {
            summary: s.clone(),
            key,
            signature_algorithm,
            days_to_expiry: days_until(&s.not_after, at),
            role,
        });
    }
    let chain_order_ok = certs.windows(2).all(|w| w[0].issued_by(&w[1]));
    if !chain_order_ok {
        warnings.push(CertificateWarning {
            code: "CHAIN_ORDER",
            subject: certs.first().map(|c| c.subject().to_owned()).unwrap_or_default(),
            message: "the certificates are not in issuing order (leaf first, each issued by the next, root last)"
                .into(),
        });
    }
    InspectionReport { certificates: details, chain_order_ok, warnings }
}

/// How serious a [`CheckFinding`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Expires within the warning window.
    Warning,
    /// Broken now.
    Error,
}

/// One problem found by [`check`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckFinding {
    /// Stable code: `EXPIRING`, `EXPIRED`, `NOT_YET_VALID`, `KEY_MISMATCH`, `BROKEN_CHAIN`,
    /// `NO_CODE_SIGNING_EKU` (a warning: an extended key usage without codeSigning).
    pub code: &'static str,
    /// How serious.
    pub severity: Severity,
    /// Which certificate.
    pub subject: String,
    /// Details.
    pub message: String,
}

/// The result of [`check`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckReport {
    /// Every finding; empty when all is well.
    pub findings: Vec<CheckFinding>,
    /// Days until the first certificate of the chain expires.
    pub days_to_first_expiry: i64,
}

/// Checks a signing certificate and its chain (intermediates, root last) at `at`: expiry within
/// `warn_days` of the leaf or any CA, anything already out of validity, a key that is not the
/// certificate's, a chain that does not lead from the leaf to its root, and an extended key usage
/// without codeSigning (which chain verification by cosign and the admission controllers refuses).
pub fn check(
    leaf: &Certificate,
    chain: &[Certificate],
    key: Option<&PublicKey>,
    warn_days: u32,
    at: SystemTime,
) -> CheckReport {
    let mut findings = Vec::new();
    let horizon = at + Duration::from_secs(u64::from(warn_days) * 86_400);
    let mut first_expiry = i64::MAX;
    for cert in std::iter::once(leaf).chain(chain) {
        let days = days_until(&cert.summary().not_after, at);
        first_expiry = first_expiry.min(days);
        let finding =
            |code, severity, message| CheckFinding { code, severity, subject: cert.subject().to_owned(), message };
        match cert.check_validity(at, false) {
            Err(crate::CertificateError::Expired { .. }) => {
                findings.push(finding("EXPIRED", Severity::Error, format!("expired at {}", cert.summary().not_after)))
            }
            Err(crate::CertificateError::NotYetValid { .. }) => findings.push(finding(
                "NOT_YET_VALID",
                Severity::Error,
                format!("not valid before {}", cert.summary().not_before),
            )),
            _ if cert.check_validity(horizon, false).is_err() => findings.push(finding(
                "EXPIRING",
                Severity::Warning,
                format!("expires at {} (in {days} days, within {warn_days})", cert.summary().not_after),
            )),
            _ => {}
        }
    }
    if let Some(gap) = leaf.code_signing_eku_gap() {
        // Signing works (with a warning) and key-based verification works: a warning, not an error.
        findings.push(CheckFinding {
            code: "NO_CODE_SIGNING_EKU",
            severity: Severity::Warning,
            subject: leaf.subject().to_owned(),
            message: gap,
        });
    }
    if let Some(key) = key
        && super::certificate_matches_key(leaf, key).is_err()
    {
        findings.push(CheckFinding {
            code: "KEY_MISMATCH",
            severity: Severity::Error,
            subject: leaf.subject().to_owned(),
            message: "the certificate's public key is not the signing key".into(),
        });
    }
    // The structure only: each certificate issued by the next, ending at a self-signed root.
    // Validity is reported above, so a chain is not called broken just because a CA expired.
    let chain_result = match chain.last() {
        None => Err("no chain given".to_owned()),
        Some(root) if !root.is_self_signed() => {
            Err(format!("the chain ends with {:?}, which is not a self-signed root", root.subject()))
        }
        Some(_) => std::iter::once(leaf)
            .chain(chain)
            .zip(chain)
            .find(|(cert, issuer)| !cert.issued_by(issuer))
            .map_or(Ok(()), |(cert, issuer)| {
                Err(format!("{:?} is not issued by {:?}", cert.subject(), issuer.subject()))
            }),
    };
    if let Err(message) = chain_result {
        findings.push(CheckFinding {
            code: "BROKEN_CHAIN",
            severity: Severity::Error,
            subject: leaf.subject().to_owned(),
            message,
        });
    }
    CheckReport { findings, days_to_first_expiry: if first_expiry == i64::MAX { 0 } else { first_expiry } }
}

/// The result of [`verify_renewal`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RenewalReport {
    /// Same subject DN.
    pub same_subject: bool,
    /// Same SANs (as sets).
    pub same_sans: bool,
    /// Same issuer DN.
    pub same_issuer: bool,
    /// The new certificate keeps the old key.
    pub key_kept: bool,
    /// Subject and SANs kept: policies pinned to root plus identity keep working.
    pub identity_kept: bool,
    /// Old notAfter.
    pub old_not_after: String,
    /// New notAfter.
    pub new_not_after: String,
    /// SANs the new certificate lacks.
    pub removed_sans: Vec<String>,
    /// SANs the new certificate adds.
    pub added_sans: Vec<String>,
}

/// Compares a certificate with its renewal.
pub fn verify_renewal(old: &Certificate, new: &Certificate) -> RenewalReport {
    let set = |c: &Certificate| c.summary().sans().into_iter().collect::<std::collections::BTreeSet<_>>();
    let (old_sans, new_sans) = (set(old), set(new));
    let same_subject = old.subject() == new.subject();
    let same_sans = old_sans == new_sans;
    RenewalReport {
        same_subject,
        same_sans,
        same_issuer: old.summary().issuer == new.summary().issuer,
        key_kept: old.parsed.tbs_certificate().subject_public_key_info()
            == new.parsed.tbs_certificate().subject_public_key_info(),
        identity_kept: same_subject && same_sans,
        old_not_after: old.summary().not_after.clone(),
        new_not_after: new.summary().not_after.clone(),
        removed_sans: old_sans.difference(&new_sans).cloned().collect(),
        added_sans: new_sans.difference(&old_sans).cloned().collect(),
    }
}
