//! Sigstore's trusted root (`trusted_root.json`, media type [`MEDIA_TYPE`]): the trust file
//! cosign v3 takes with `--trusted-root` and cosign v4 prefers over `--certificate-chain` and
//! `--ca-roots`. In protobuf JSON: `certificateAuthorities` and `timestampAuthorities`, each with a
//! `certChain` of base64 DER certificates (leaf or intermediate first, root last), a `uri`, the
//! root's `subject` and a `validFor` window.
//!
//! ironsign writes one from a private CA chain and a TSA chain ([`TrustedRootBuilder`], `trusted-root
//! create`) and reads one into a [`TrustRoot`] ([`read`]). What it cannot honour is refused, never
//! skipped: transparency logs and CT logs (ironsign verifies against neither), a `validFor` end,
//! and a `validFor` start later than the time its whole chain is valid (both would narrow trust in
//! ways the chain alone does not).

use crate::error::{CertificateError, Error, InputError};
use crate::pki::{Certificate, TrustRoot};
use crate::tsa::TimestampAuthorities;
use base64::Engine as _;
use serde_json::{Value, json};
use std::time::Duration;

/// The media type cosign writes and reads.
pub const MEDIA_TYPE: &str = "application/vnd.dev.sigstore.trustedroot+json;version=0.1";

/// Most certificates read from one chain of the file.
const MAX_CHAIN: usize = 20;

/// One authority of a trusted root: where it is (informational) and its certificates, the root
/// last.
#[derive(Debug, Clone)]
pub struct Authority {
    /// Its URL (cosign requires one; nothing here contacts it).
    pub uri: String,
    /// Its chain: intermediates (and, for a TSA, the signing certificate) first, the root last.
    pub chain: Vec<Certificate>,
}

/// Builds a trusted root from private CA and TSA chains, as `cosign trusted-root create --fulcio
/// url=…,certificate-chain=… --tsa url=…,certificate-chain=…` does.
#[derive(Debug, Clone, Default)]
pub struct TrustedRootBuilder {
    certificate_authorities: Vec<Authority>,
    timestamp_authorities: Vec<Authority>,
}

impl TrustedRootBuilder {
    /// Adds a certificate authority for signing certificates.
    pub fn certificate_authority(mut self, authority: Authority) -> Result<Self, Error> {
        check_chain(&authority, "certificate authority")?;
        self.certificate_authorities.push(authority);
        Ok(self)
    }

    /// Adds an RFC 3161 timestamp authority.
    pub fn timestamp_authority(mut self, authority: Authority) -> Result<Self, Error> {
        check_chain(&authority, "timestamp authority")?;
        self.timestamp_authorities.push(authority);
        Ok(self)
    }

    /// The file's JSON, indented as cosign writes it. Each authority is valid from the time its
    /// whole chain is, which narrows nothing the certificates do not already say.
    pub fn to_json(&self) -> Result<String, Error> {
        if self.certificate_authorities.is_empty() && self.timestamp_authorities.is_empty() {
            return Err(invalid("a trusted root needs a certificate or timestamp authority").into());
        }
        let entry = |a: &Authority| {
            let root = a.chain.last().expect("checked non-empty");
            let mut subject = serde_json::Map::new();
            if let Some(o) = root.subject_attribute(const_oid::db::rfc4519::O) {
                subject.insert("organization".into(), Value::from(o));
            }
            if let Some(cn) = root.subject_attribute(const_oid::db::rfc4519::CN) {
                subject.insert("commonName".into(), Value::from(cn));
            }
            let certificates: Vec<Value> = a
                .chain
                .iter()
                .map(|c| json!({"rawBytes": base64::engine::general_purpose::STANDARD.encode(c.der())}))
                .collect();
            json!({
                "subject": subject,
                "uri": a.uri,
                "certChain": {"certificates": certificates},
                "validFor": {"start": crate::pki::format_unix(chain_valid_from(&a.chain))},
            })
        };
        let mut root = serde_json::Map::new();
        root.insert("mediaType".into(), Value::from(MEDIA_TYPE));
        if !self.certificate_authorities.is_empty() {
            root.insert("certificateAuthorities".into(), self.certificate_authorities.iter().map(entry).collect());
        }
        if !self.timestamp_authorities.is_empty() {
            root.insert("timestampAuthorities".into(), self.timestamp_authorities.iter().map(entry).collect());
        }
        Ok(serde_json::to_string_pretty(&Value::Object(root)).expect("JSON values serialize") + "\n")
    }
}

fn invalid(reason: impl Into<String>) -> InputError {
    InputError::InvalidArgument { name: "trusted root".into(), reason: reason.into() }
}

fn check_chain(authority: &Authority, what: &str) -> Result<(), Error> {
    if authority.uri.is_empty() {
        return Err(invalid(format!("the {what} needs a url")).into());
    }
    match authority.chain.last() {
        None => Err(invalid(format!("the {what} at {} has no certificates", authority.uri)).into()),
        Some(root) if !root.issued_by(root) => {
            Err(CertificateError::NotARoot { subject: root.subject().into(), issuer: root.summary().issuer.clone() }
                .into())
        }
        Some(_) => Ok(()),
    }
}

/// When every certificate of `chain` has begun to be valid: a chain verifies at no earlier time,
/// so a window starting then (or before) narrows nothing.
fn chain_valid_from(chain: &[Certificate]) -> Duration {
    chain.iter().map(|c| c.validity().0).max().unwrap_or_default()
}

/// Reads a trusted root into a [`TrustRoot`]: each certificate authority's chain becomes a root
/// (its last certificate) with its intermediates, each timestamp authority's chain a trusted TSA.
pub fn read(json_bytes: &[u8]) -> Result<TrustRoot, Error> {
    let value: Value = serde_json::from_slice(json_bytes).map_err(|e| invalid(format!("not JSON: {e}")))?;
    let object = value.as_object().ok_or_else(|| invalid("not a JSON object"))?;
    match object.get("mediaType").and_then(Value::as_str) {
        Some(MEDIA_TYPE) => {}
        other => return Err(invalid(format!("media type {other:?}, expected {MEDIA_TYPE}")).into()),
    }
    for logs in ["tlogs", "ctlogs"] {
        if object.get(logs).and_then(Value::as_array).is_some_and(|l| !l.is_empty()) {
            return Err(invalid(format!(
                "it lists {logs}, which ironsign cannot verify against (there is no log here): give a trusted root of certificate and timestamp authorities only"
            ))
            .into());
        }
    }
    let authorities = |key: &str| -> Result<Vec<Vec<Certificate>>, Error> {
        let Some(list) = object.get(key) else { return Ok(Vec::new()) };
        let list = list.as_array().ok_or_else(|| invalid(format!("{key} is not a list")))?;
        list.iter().enumerate().map(|(i, entry)| authority_chain(entry, &format!("{key}[{i}]"))).collect()
    };
    let (cas, tsas) = (authorities("certificateAuthorities")?, authorities("timestampAuthorities")?);
    if cas.is_empty() && tsas.is_empty() {
        return Err(invalid("it has no certificate or timestamp authority").into());
    }
    let mut roots = Vec::new();
    let mut intermediates = Vec::new();
    for mut chain in cas {
        roots.push(chain.pop().expect("authority_chain refuses empty chains"));
        intermediates.extend(chain);
    }
    let mut trust =
        if roots.is_empty() { TrustRoot::default() } else { TrustRoot::from_certificates(roots, intermediates)? };
    for chain in tsas {
        trust = trust.with_timestamp_authorities(TimestampAuthorities::from_certificates(chain)?);
    }
    Ok(trust)
}

fn authority_chain(entry: &Value, what: &str) -> Result<Vec<Certificate>, Error> {
    let certificates = entry
        .pointer("/certChain/certificates")
        .and_then(Value::as_array)
        .ok_or_else(|| invalid(format!("{what} has no certChain.certificates")))?;
    if certificates.is_empty() || certificates.len() > MAX_CHAIN {
        return Err(invalid(format!("{what} has {} certificates (1 to {MAX_CHAIN})", certificates.len())).into());
    }
    let chain = certificates
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let der = c
                .get("rawBytes")
                .and_then(Value::as_str)
                .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
                .ok_or_else(|| invalid(format!("{what} certificate {i} has no base64 rawBytes")))?;
            Ok(Certificate::from_der(&der, &format!("{what} certificate {i}"))?)
        })
        .collect::<Result<Vec<_>, Error>>()?;
    if let Some(window) = entry.get("validFor") {
        if window.get("end").is_some_and(|e| !e.is_null()) {
            return Err(invalid(format!("{what} has a validFor end, which ironsign does not enforce")).into());
        }
        if let Some(start) = window.get("start").and_then(Value::as_str) {
            let start = time::OffsetDateTime::parse(start, &time::format_description::well_known::Rfc3339)
                .map_err(|e| invalid(format!("{what} validFor start {start:?}: {e}")))?;
            let start = Duration::from_secs(start.unix_timestamp().max(0) as u64);
            if start > chain_valid_from(&chain) {
                return Err(invalid(format!(
                    "{what} is valid only from {}, later than its certificates: ironsign does not enforce that",
                    crate::pki::format_unix(start)
                ))
                .into());
            }
        }
    }
    Ok(chain)
}
