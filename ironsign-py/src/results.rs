//! Results: immutable Python objects over the core's serialisable result types. Attributes are
//! read from the core value; `to_dict()`/`to_json()` are its serde form, the same JSON the CLI
//! prints with `--output json`.

use crate::convert::{datetime, json_to_py};
use crate::errors::IntoPyResult;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use serde::Serialize;

pub(crate) fn to_value<T: Serialize>(value: &T) -> PyResult<serde_json::Value> {
    serde_json::to_value(value).map_err(|e| pyo3::exceptions::PyRuntimeError::new_err(e.to_string()))
}

pub(crate) fn to_json<T: Serialize>(value: &T, indent: Option<usize>) -> PyResult<String> {
    let err = |e: serde_json::Error| pyo3::exceptions::PyRuntimeError::new_err(e.to_string());
    match indent {
        None => serde_json::to_string(value).map_err(err),
        Some(n) => {
            let indent = vec![b' '; n];
            let mut out = Vec::new();
            let formatter = serde_json::ser::PrettyFormatter::with_indent(&indent);
            let mut ser = serde_json::Serializer::with_formatter(&mut out, formatter);
            value.serialize(&mut ser).map_err(err)?;
            Ok(String::from_utf8(out).unwrap_or_default())
        }
    }
}

/// A string from a serde unit-variant (e.g. a `Check`), as its JSON name.
fn serde_name<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    }
}

/// Declares a frozen result class over a core value, with `to_dict`, `to_json`, `__repr__` and
/// `__eq__`, plus the attribute getters given.
macro_rules! result_class {
    (
        $(#[$doc:meta])*
        $py:ident($inner:ty) as $name:literal, repr = |$s:ident| $repr:expr;
        { $($methods:tt)* }
    ) => {
        $(#[$doc])*
        #[pyclass(frozen, module = "ironsign", name = $name)]
        pub struct $py(pub $inner);

        #[pymethods]
        impl $py {
            $($methods)*

            /// This value as plain Python data (dicts, lists, str, int, bool, None).
            fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
                json_to_py(py, &to_value(&self.0)?)
            }

            /// This value as JSON text; `indent` pretty-prints.
            #[pyo3(signature = (*, indent = None))]
            fn to_json(&self, indent: Option<usize>) -> PyResult<String> {
                to_json(&self.0, indent)
            }

            fn __repr__(&self) -> String {
                let $s = &self.0;
                format!("{}({})", $name, $repr)
            }

            fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
                other.cast::<Self>().is_ok_and(|o| o.get().0 == self.0)
            }
        }
    };
}

pub(crate) use result_class;

result_class! {
    /// What a certificate says about itself.
    CertificateSummary(ironsign::CertificateSummary) as "CertificateSummary",
    repr = |c| format!("subject={:?}, serial={:?}", c.subject, c.serial);
    {
        /// Subject DN, RFC 4514.
        #[getter]
        fn subject(&self) -> &str { &self.0.subject }
        /// Issuer DN, RFC 4514.
        #[getter]
        fn issuer(&self) -> &str { &self.0.issuer }
        /// Serial number, hex.
        #[getter]
        fn serial(&self) -> &str { &self.0.serial }
        /// notBefore, an aware UTC datetime.
        #[getter]
        fn not_before(&self, py: Python<'_>) -> PyResult<time::OffsetDateTime> { datetime(&self.0.not_before).py_err(py) }
        /// notAfter, an aware UTC datetime.
        #[getter]
        fn not_after(&self, py: Python<'_>) -> PyResult<time::OffsetDateTime> { datetime(&self.0.not_after).py_err(py) }
        /// SAN email addresses.
        #[getter]
        fn emails(&self) -> Vec<String> { self.0.emails.clone() }
        /// SAN URIs.
        #[getter]
        fn uris(&self) -> Vec<String> { self.0.uris.clone() }
        /// SAN DNS names.
        #[getter]
        fn dns_names(&self) -> Vec<String> { self.0.dns_names.clone() }
        /// Every SAN: emails, URIs, DNS names.
        #[getter]
        fn sans(&self) -> Vec<String> { self.0.sans() }
        /// The subject common name, if any.
        #[getter]
        fn common_name(&self) -> Option<&str> { self.0.common_name() }
        /// Extended key usages (names or dotted OIDs); None when the extension is absent.
        #[getter]
        fn extended_key_usage(&self) -> Option<Vec<String>> { self.0.extended_key_usage.clone() }
        /// Key usage bit names; None when the extension is absent.
        #[getter]
        fn key_usage(&self) -> Option<Vec<String>> { self.0.key_usage.clone() }
        /// Whether basicConstraints says CA.
        #[getter]
        fn is_ca(&self) -> bool { self.0.is_ca }
        /// Hex SHA-256 of the DER.
        #[getter]
        fn sha256_fingerprint(&self) -> &str { &self.0.sha256_fingerprint }
    }
}

result_class! {
    /// A verified cosign simple-signing payload.
    SignaturePayload(ironsign::cosign::SimpleSigning) as "SignaturePayload",
    repr = |p| format!("docker_reference={:?}, docker_manifest_digest={:?}", p.docker_reference, p.docker_manifest_digest);
    {
        /// `critical.identity.docker-reference`.
        #[getter]
        fn docker_reference(&self) -> &str { &self.0.docker_reference }
        /// `critical.image.docker-manifest-digest`.
        #[getter]
        fn docker_manifest_digest(&self) -> &str { &self.0.docker_manifest_digest }
        /// `critical.type`.
        #[getter]
        fn r#type(&self) -> &str { &self.0.kind }
        /// `optional`: the signed annotations.
        #[getter]
        fn optional<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
            json_to_py(py, &serde_json::Value::Object(self.0.optional.clone()))
        }
    }
}

result_class! {
    /// A signature that passed every check.
    VerifiedSignature(ironsign::VerifiedSignature) as "VerifiedSignature",
    repr = |s| format!("index={}, signer={:?}, matched_identity={:?}", s.index,
        s.certificate().map(|c| c.subject.clone()).unwrap_or_else(|| "key".into()), s.matched_identity);
    {
        /// Its position among the image's signature layers.
        #[getter]
        fn index(&self) -> usize { self.0.index }
        /// Its payload layer digest.
        #[getter]
        fn layer_digest(&self) -> &str { self.0.layer_digest.as_str() }
        /// Where it is stored: `"legacy_tag"` (a `.sig` layer) or `"sigstore_bundle"` (an OCI 1.1
        /// referrer, cosign v3's default).
        #[getter]
        fn format(&self) -> String { serde_name(&self.0.format) }
        /// The referrer manifest digest, for a bundle; else None.
        #[getter]
        fn referrer(&self) -> Option<&str> { self.0.referrer.as_ref().map(|d| d.as_str()) }
        /// `"certificate"` or `"key"`.
        #[getter]
        fn signer_kind(&self) -> &'static str {
            match self.0.signer {
                ironsign::verify::VerifiedSigner::Certificate { .. } => "certificate",
                _ => "key",
            }
        }
        /// The signing certificate (certificate trust), else None.
        #[getter]
        fn certificate(&self) -> Option<CertificateSummary> { self.0.certificate().cloned().map(CertificateSummary) }
        /// Subjects of the verified path, leaf first, root last (certificate trust).
        #[getter]
        fn chain(&self) -> Vec<String> {
            match &self.0.signer {
                ironsign::verify::VerifiedSigner::Certificate { chain, .. } => chain.clone(),
                _ => Vec::new(),
            }
        }
        /// Hex SHA-256 of the trusted public key's SubjectPublicKeyInfo (key trust), else None.
        #[getter]
        fn key_fingerprint(&self) -> Option<&str> {
            match &self.0.signer {
                ironsign::verify::VerifiedSigner::Key { fingerprint } => Some(fingerprint),
                _ => None,
            }
        }
        /// The identity value that matched the policy, when one was required.
        #[getter]
        fn matched_identity(&self) -> Option<&str> { self.0.matched_identity.as_deref() }
        /// The verified payload.
        #[getter]
        fn payload(&self) -> SignaturePayload { SignaturePayload(self.0.payload.clone()) }
        /// The checks that passed, in order.
        #[getter]
        fn checks(&self) -> Vec<String> { self.0.checks.iter().map(serde_name).collect() }
    }
}

result_class! {
    /// A signature that was examined and rejected, with the first check it failed.
    SignatureRejection(ironsign::SignatureRejection) as "SignatureRejection",
    repr = |r| format!("index={}, code={:?}", r.index, r.reason.code());
    {
        /// Its position among the image's signature layers.
        #[getter]
        fn index(&self) -> usize { self.0.index }
        /// Its payload layer digest.
        #[getter]
        fn layer_digest(&self) -> &str { &self.0.layer_digest }
        /// The stable code of the failed check, e.g. `IDENTITY_MISMATCH`.
        #[getter]
        fn code(&self) -> &'static str { self.0.reason.code() }
        /// The failed check, in words.
        #[getter]
        fn message(&self) -> String { self.0.reason.to_string() }
        /// The structured reason.
        #[getter]
        fn reason<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> { json_to_py(py, &to_value(&self.0.reason)?) }
    }
}

result_class! {
    /// What verification proved, and only that.
    VerificationResult(ironsign::VerificationResult) as "VerificationResult",
    repr = |r| format!("repository={:?}, digest={:?}, signatures={}, rejected={}", r.repository, r.digest.as_str(),
        r.signatures.len(), r.rejected.len());
    {
        /// The media type of the JSON form.
        #[getter]
        fn media_type(&self) -> &'static str { self.0.media_type }
        /// The repository.
        #[getter]
        fn repository(&self) -> &str { &self.0.repository }
        /// The image digest that was verified.
        #[getter]
        fn digest(&self) -> &str { self.0.digest.as_str() }
        /// When certificates were checked, an aware UTC datetime.
        #[getter]
        fn verified_at(&self, py: Python<'_>) -> PyResult<time::OffsetDateTime> { datetime(&self.0.verified_at).py_err(py) }
        /// Where that time came from (`current_time`).
        #[getter]
        fn time_source(&self) -> &'static str { self.0.time_source }
        /// The signatures that passed every check (never empty).
        #[getter]
        fn signatures(&self) -> Vec<VerifiedSignature> { self.0.signatures.iter().cloned().map(VerifiedSignature).collect() }
        /// The signatures that did not.
        #[getter]
        fn rejected(&self) -> Vec<SignatureRejection> { self.0.rejected.iter().cloned().map(SignatureRejection).collect() }
    }
}

result_class! {
    /// One signature written by `sign` (or found already present).
    SignedEntry(ironsign::sign::SignedEntry) as "SignedEntry",
    repr = |e| format!("digest={:?}, tag={:?}, added={}", e.digest.as_str(), e.tag, if e.added { "True" } else { "False" });
    {
        /// The signed manifest digest.
        #[getter]
        fn digest(&self) -> &str { self.0.digest.as_str() }
        /// The attachment tag written (`sha256-<hex>.sig`).
        #[getter]
        fn tag(&self) -> &str { &self.0.tag }
        /// The payload layer digest.
        #[getter]
        fn layer_digest(&self) -> &str { self.0.layer_digest.as_str() }
        /// False when an identical signature was already there and nothing was written.
        #[getter]
        fn added(&self) -> bool { self.0.added }
        /// Where it is stored: `"legacy_tag"` (a `.sig` layer) or `"sigstore_bundle"` (an OCI 1.1
        /// referrer, cosign v3's default).
        #[getter]
        fn format(&self) -> String { serde_name(&self.0.format) }
        /// The referrer manifest digest, for a bundle; else None.
        #[getter]
        fn referrer(&self) -> Option<&str> { self.0.referrer.as_ref().map(|d| d.as_str()) }
    }
}

result_class! {
    /// What `sign` did.
    SignReport(ironsign::SignReport) as "SignReport",
    repr = |r| format!("reference={:?}, signatures={}", r.reference, r.signatures.len());
    {
        /// The reference as given.
        #[getter]
        fn reference(&self) -> &str { &self.0.reference }
        /// One entry per signed manifest.
        #[getter]
        fn signatures(&self) -> Vec<SignedEntry> { self.0.signatures.iter().cloned().map(SignedEntry).collect() }
        /// Warnings about the signing material.
        #[getter]
        fn warnings(&self) -> Vec<String> { self.0.warnings.clone() }
    }
}

result_class! {
    /// One layer of an image's `.sig` manifest, with its payload: unverified data.
    SignatureLayer(ironsign::SignatureLayer) as "SignatureLayer",
    repr = |l| format!("payload_digest={:?}, media_type={:?}", l.payload_digest.as_str(), l.media_type);
    {
        /// The layer media type.
        #[getter]
        fn media_type(&self) -> &str { &self.0.media_type }
        /// The payload bytes (their digest was checked when fetched).
        #[getter]
        fn payload<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> { PyBytes::new(py, &self.0.payload) }
        /// The layer digest.
        #[getter]
        fn payload_digest(&self) -> &str { self.0.payload_digest.as_str() }
        /// The layer annotations (signature, certificate, chain).
        #[getter]
        fn annotations<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
            let d = PyDict::new(py);
            for (k, v) in &self.0.annotations {
                d.set_item(k, v)?;
            }
            Ok(d)
        }
    }
}

result_class! {
    /// An image and the signatures found for it, as fetched: the input of `Verifier.verify`.
    SignedImage(ironsign::SignedImage) as "SignedImage",
    repr = |i| format!("repository={:?}, digest={:?}, signatures={}", i.repository, i.digest.as_str(), i.signatures.len());
    {
        /// The repository name as written in payloads.
        #[getter]
        fn repository(&self) -> &str { &self.0.repository }
        /// The image digest the signatures must be for.
        #[getter]
        fn digest(&self) -> &str { self.0.digest.as_str() }
        /// The layers of its `.sig` manifest, in order (empty when unsigned).
        #[getter]
        fn signatures(&self) -> Vec<SignatureLayer> { self.0.signatures.iter().cloned().map(SignatureLayer).collect() }
        fn __len__(&self) -> usize { self.0.signatures.len() }
    }
}

result_class! {
    /// What `attest` did.
    AttestReport(ironsign::attach::AttestReport) as "AttestReport",
    repr = |r| format!("reference={:?}, digest={:?}, predicate_type={:?}", r.reference, r.digest.as_str(), r.predicate_type);
    {
        /// The reference as given.
        #[getter]
        fn reference(&self) -> &str { &self.0.reference }
        /// The attested image digest.
        #[getter]
        fn digest(&self) -> &str { self.0.digest.as_str() }
        /// The attachment tag written (`sha256-<hex>.att`).
        #[getter]
        fn tag(&self) -> &str { &self.0.tag }
        /// The envelope layer digest.
        #[getter]
        fn layer_digest(&self) -> &str { self.0.layer_digest.as_str() }
        /// The predicate type URI.
        #[getter]
        fn predicate_type(&self) -> &str { &self.0.predicate_type }
        /// Where it is stored: `"legacy_tag"` (a `.sig` layer) or `"sigstore_bundle"` (an OCI 1.1
        /// referrer, cosign v3's default).
        #[getter]
        fn format(&self) -> String { serde_name(&self.0.format) }
        /// The referrer manifest digest, for a bundle; else None.
        #[getter]
        fn referrer(&self) -> Option<&str> { self.0.referrer.as_ref().map(|d| d.as_str()) }
        /// Warnings about the signing material.
        #[getter]
        fn warnings(&self) -> Vec<String> { self.0.warnings.clone() }
    }
}

result_class! {
    /// An attestation that passed every check.
    VerifiedAttestation(ironsign::VerifiedAttestation) as "VerifiedAttestation",
    repr = |a| format!("index={}, predicate_type={:?}, matched_identity={:?}", a.index,
        a.statement.get("predicateType").and_then(|t| t.as_str()).unwrap_or(""), a.matched_identity);
    {
        /// Its position among the image's `.att` layers.
        #[getter]
        fn index(&self) -> usize { self.0.index }
        /// Its envelope layer digest.
        #[getter]
        fn layer_digest(&self) -> &str { self.0.layer_digest.as_str() }
        /// Where it is stored: `"legacy_tag"` (a `.sig` layer) or `"sigstore_bundle"` (an OCI 1.1
        /// referrer, cosign v3's default).
        #[getter]
        fn format(&self) -> String { serde_name(&self.0.format) }
        /// The referrer manifest digest, for a bundle; else None.
        #[getter]
        fn referrer(&self) -> Option<&str> { self.0.referrer.as_ref().map(|d| d.as_str()) }
        /// `"certificate"` or `"key"`.
        #[getter]
        fn signer_kind(&self) -> &'static str {
            match self.0.signer {
                ironsign::verify::VerifiedSigner::Certificate { .. } => "certificate",
                _ => "key",
            }
        }
        /// The signing certificate (certificate trust), else None.
        #[getter]
        fn certificate(&self) -> Option<CertificateSummary> {
            match &self.0.signer {
                ironsign::verify::VerifiedSigner::Certificate { certificate, .. } => Some(CertificateSummary((**certificate).clone())),
                _ => None,
            }
        }
        /// Subjects of the verified path, leaf first, root last (certificate trust).
        #[getter]
        fn chain(&self) -> Vec<String> {
            match &self.0.signer {
                ironsign::verify::VerifiedSigner::Certificate { chain, .. } => chain.clone(),
                _ => Vec::new(),
            }
        }
        /// Hex SHA-256 of the trusted public key's SubjectPublicKeyInfo (key trust), else None.
        #[getter]
        fn key_fingerprint(&self) -> Option<&str> {
            match &self.0.signer {
                ironsign::verify::VerifiedSigner::Key { fingerprint } => Some(fingerprint),
                _ => None,
            }
        }
        /// The identity value that matched the policy, when one was required.
        #[getter]
        fn matched_identity(&self) -> Option<&str> { self.0.matched_identity.as_deref() }
        /// The verified in-toto statement, decoded (what a Rego policy sees as `input`).
        #[getter]
        fn statement<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> { json_to_py(py, &self.0.statement) }
        /// The statement's `predicateType`.
        #[getter]
        fn predicate_type(&self) -> &str { self.0.statement.get("predicateType").and_then(|t| t.as_str()).unwrap_or("") }
        /// The statement's `predicate`, decoded.
        #[getter]
        fn predicate<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
            json_to_py(py, self.0.statement.get("predicate").unwrap_or(&serde_json::Value::Null))
        }
        /// The checks that passed, in order.
        #[getter]
        fn checks(&self) -> Vec<String> { self.0.checks.iter().map(serde_name).collect() }
    }
}

result_class! {
    /// What attestation verification proved, and only that.
    AttestationResult(ironsign::AttestationResult) as "AttestationResult",
    repr = |r| format!("repository={:?}, digest={:?}, predicate_type={:?}, attestations={}, rejected={}",
        r.repository, r.digest.as_str(), r.predicate_type, r.attestations.len(), r.rejected.len());
    {
        /// The media type of the JSON form.
        #[getter]
        fn media_type(&self) -> &'static str { self.0.media_type }
        /// The repository.
        #[getter]
        fn repository(&self) -> &str { &self.0.repository }
        /// The image digest that was verified.
        #[getter]
        fn digest(&self) -> &str { self.0.digest.as_str() }
        /// The predicate type URI required.
        #[getter]
        fn predicate_type(&self) -> &str { &self.0.predicate_type }
        /// When certificates were checked, an aware UTC datetime.
        #[getter]
        fn verified_at(&self, py: Python<'_>) -> PyResult<time::OffsetDateTime> { datetime(&self.0.verified_at).py_err(py) }
        /// Where that time came from (`current_time`).
        #[getter]
        fn time_source(&self) -> &'static str { self.0.time_source }
        /// The attestations that passed every check (never empty).
        #[getter]
        fn attestations(&self) -> Vec<VerifiedAttestation> { self.0.attestations.iter().cloned().map(VerifiedAttestation).collect() }
        /// The verified statements, decoded: `[a.statement for a in attestations]`.
        #[getter]
        fn statements<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyAny>>> {
            self.0.attestations.iter().map(|a| json_to_py(py, &a.statement)).collect()
        }
        /// The attestations that did not pass (including those of other predicate types).
        #[getter]
        fn rejected(&self) -> Vec<SignatureRejection> { self.0.rejected.iter().cloned().map(SignatureRejection).collect() }
    }
}

result_class! {
    /// What `attach_sbom` did.
    AttachReport(ironsign::attach::AttachReport) as "AttachReport",
    repr = |r| format!("reference={:?}, digest={:?}, media_type={:?}, size={}", r.reference, r.digest.as_str(), r.media_type, r.size);
    {
        /// The reference as given.
        #[getter]
        fn reference(&self) -> &str { &self.0.reference }
        /// The image digest.
        #[getter]
        fn digest(&self) -> &str { self.0.digest.as_str() }
        /// The attachment tag written (`sha256-<hex>.sbom`).
        #[getter]
        fn tag(&self) -> &str { &self.0.tag }
        /// The SBOM blob digest.
        #[getter]
        fn layer_digest(&self) -> &str { self.0.layer_digest.as_str() }
        /// Its size in bytes.
        #[getter]
        fn size(&self) -> u64 { self.0.size }
        /// Its media type (cosign's, for the detected format).
        #[getter]
        fn media_type(&self) -> &str { &self.0.media_type }
    }
}

/// A downloaded SBOM: the core's description, and the content when it was read into memory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Sbom {
    /// The core's description.
    #[serde(flatten)]
    pub info: ironsign::download::SbomDownload,
    /// Where it was written, when a destination was given.
    pub path: Option<String>,
    /// The bytes, when no destination was given (not in `to_dict()`).
    #[serde(skip)]
    pub content: Option<Vec<u8>>,
}

result_class! {
    /// An image's SBOM, as downloaded (its digest checked; not otherwise verified).
    SbomDownload(Sbom) as "SbomDownload",
    repr = |d| format!("digest={:?}, media_type={:?}, size={}", d.info.digest.as_str(), d.info.media_type, d.info.size);
    {
        /// The image digest.
        #[getter]
        fn digest(&self) -> &str { self.0.info.digest.as_str() }
        /// The layer media type.
        #[getter]
        fn media_type(&self) -> &str { &self.0.info.media_type }
        /// The SBOM blob digest (checked).
        #[getter]
        fn layer_digest(&self) -> &str { self.0.info.layer_digest.as_str() }
        /// Its size in bytes.
        #[getter]
        fn size(&self) -> u64 { self.0.info.size }
        /// The file it was written to (`destination=`), else None.
        #[getter]
        fn path(&self) -> Option<&str> { self.0.path.as_deref() }
        /// The SBOM bytes when no `destination=` was given, else None.
        #[getter]
        fn content<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyBytes>> {
            self.0.content.as_deref().map(|c| PyBytes::new(py, c))
        }
        /// `(content, media_type)`.
        fn __iter__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, pyo3::types::PyIterator>> {
            let content = self.content(py).map(Bound::into_any).unwrap_or_else(|| py.None().into_bound(py));
            let pair = pyo3::types::PyTuple::new(py, [content, pyo3::types::PyString::new(py, &self.0.info.media_type).into_any()])?;
            pair.try_iter()
        }
    }
}

result_class! {
    /// A warning about a certificate, with a stable code (e.g. `NO_SAN`).
    CertificateWarning(ironsign::pki::report::CertificateWarning) as "CertificateWarning",
    repr = |w| format!("code={:?}, subject={:?}", w.code, w.subject);
    {
        /// Stable code.
        #[getter]
        fn code(&self) -> &'static str { self.0.code }
        /// Which certificate (subject DN).
        #[getter]
        fn subject(&self) -> &str { &self.0.subject }
        /// What is wrong and why it matters.
        #[getter]
        fn message(&self) -> &str { &self.0.message }
    }
}

result_class! {
    /// One certificate, inspected.
    CertificateDetails(ironsign::pki::report::CertificateDetails) as "CertificateDetails",
    repr = |d| format!("subject={:?}, role={:?}", d.summary.subject, serde_name(&d.role));
    {
        /// Subject, issuer, serial, SANs, usages, validity.
        #[getter]
        fn summary(&self) -> CertificateSummary { CertificateSummary(self.0.summary.clone()) }
        /// Subject DN, RFC 4514.
        #[getter]
        fn subject(&self) -> &str { &self.0.summary.subject }
        /// Key type and size, e.g. `ECDSA P-256`.
        #[getter]
        fn key(&self) -> &str { &self.0.key }
        /// Its signature algorithm, e.g. `ecdsa-with-SHA256`.
        #[getter]
        fn signature_algorithm(&self) -> &str { &self.0.signature_algorithm }
        /// Whole days until notAfter (negative once expired).
        #[getter]
        fn days_to_expiry(&self) -> i64 { self.0.days_to_expiry }
        /// `"leaf"`, `"intermediate"` or `"root"`.
        #[getter]
        fn role(&self) -> String { serde_name(&self.0.role) }
    }
}

result_class! {
    /// What `inspect_certificate` found.
    InspectionReport(ironsign::pki::report::InspectionReport) as "InspectionReport",
    repr = |r| format!("certificates={}, chain_order_ok={}, warnings={}", r.certificates.len(),
        if r.chain_order_ok { "True" } else { "False" }, r.warnings.len());
    {
        /// The certificates, in input order.
        #[getter]
        fn certificates(&self) -> Vec<CertificateDetails> { self.0.certificates.iter().cloned().map(CertificateDetails).collect() }
        /// Whether each certificate is issued by the next one (leaf first, root last).
        #[getter]
        fn chain_order_ok(&self) -> bool { self.0.chain_order_ok }
        /// Everything worth a look.
        #[getter]
        fn warnings(&self) -> Vec<CertificateWarning> { self.0.warnings.iter().cloned().map(CertificateWarning).collect() }
    }
}

result_class! {
    /// One problem `check_certificate` found.
    CheckFinding(ironsign::pki::report::CheckFinding) as "CheckFinding",
    repr = |f| format!("code={:?}, severity={:?}, subject={:?}", f.code, serde_name(&f.severity), f.subject);
    {
        /// `EXPIRING`, `EXPIRED`, `NOT_YET_VALID`, `KEY_MISMATCH` or `BROKEN_CHAIN`.
        #[getter]
        fn code(&self) -> &'static str { self.0.code }
        /// `"warning"` or `"error"`.
        #[getter]
        fn severity(&self) -> String { serde_name(&self.0.severity) }
        /// Which certificate.
        #[getter]
        fn subject(&self) -> &str { &self.0.subject }
        /// Details.
        #[getter]
        fn message(&self) -> &str { &self.0.message }
    }
}

result_class! {
    /// What `check_certificate` found; `ok` when nothing.
    CheckReport(ironsign::pki::report::CheckReport) as "CheckReport",
    repr = |r| format!("findings={:?}, days_to_first_expiry={}", r.findings.iter().map(|f| f.code).collect::<Vec<_>>(), r.days_to_first_expiry);
    {
        /// Every finding; empty when all is well.
        #[getter]
        fn findings(&self) -> Vec<CheckFinding> { self.0.findings.iter().cloned().map(CheckFinding).collect() }
        /// Days until the first certificate of the chain expires.
        #[getter]
        fn days_to_first_expiry(&self) -> i64 { self.0.days_to_first_expiry }
        /// No findings at all.
        #[getter]
        fn ok(&self) -> bool { self.0.findings.is_empty() }
        /// The finding codes, e.g. `["EXPIRING"]`.
        #[getter]
        fn codes(&self) -> Vec<&'static str> { self.0.findings.iter().map(|f| f.code).collect() }
    }
}

result_class! {
    /// What `verify_renewal` found.
    RenewalReport(ironsign::pki::report::RenewalReport) as "RenewalReport",
    repr = |r| format!("identity_kept={}, key_kept={}", if r.identity_kept { "True" } else { "False" },
        if r.key_kept { "True" } else { "False" });
    {
        /// Same subject DN.
        #[getter]
        fn same_subject(&self) -> bool { self.0.same_subject }
        /// Same SANs (as sets).
        #[getter]
        fn same_sans(&self) -> bool { self.0.same_sans }
        /// Same issuer DN.
        #[getter]
        fn same_issuer(&self) -> bool { self.0.same_issuer }
        /// The new certificate keeps the old key.
        #[getter]
        fn key_kept(&self) -> bool { self.0.key_kept }
        /// Subject and SANs kept: policies pinned to root plus identity keep working.
        #[getter]
        fn identity_kept(&self) -> bool { self.0.identity_kept }
        /// The old notAfter, an aware UTC datetime.
        #[getter]
        fn old_not_after(&self, py: Python<'_>) -> PyResult<time::OffsetDateTime> { datetime(&self.0.old_not_after).py_err(py) }
        /// The new notAfter, an aware UTC datetime.
        #[getter]
        fn new_not_after(&self, py: Python<'_>) -> PyResult<time::OffsetDateTime> { datetime(&self.0.new_not_after).py_err(py) }
        /// SANs the new certificate lacks.
        #[getter]
        fn removed_sans(&self) -> Vec<String> { self.0.removed_sans.clone() }
        /// SANs the new certificate adds.
        #[getter]
        fn added_sans(&self) -> Vec<String> { self.0.added_sans.clone() }
    }
}

/// A field of a core value as plain Python data.
fn field_to_py<'py, T: Serialize>(py: Python<'py>, value: &T) -> PyResult<Bound<'py, PyAny>> {
    json_to_py(py, &to_value(value)?)
}

result_class! {
    /// Everything attached to an image (`RegistryClient.list_artifacts`): signatures, attestations,
    /// SBOMs and OCI 1.1 referrers, with each signature's verification status when trust was
    /// given, and one subtree per platform of a multi-platform image. Nested entries are plain
    /// dicts in the documented schema (`docs/artifact-tree.schema.json`).
    ArtifactTree(ironsign::list::ArtifactTree) as "ArtifactTree",
    repr = |t| format!("reference={:?}, digest={:?}, platforms={}", t.reference, t.digest.as_str(), t.platforms.len());
    {
        /// The reference as given (root) or `repository@digest` (platforms).
        #[getter]
        fn reference(&self) -> &str { &self.0.reference }
        /// The repository.
        #[getter]
        fn repository(&self) -> &str { &self.0.repository }
        /// The manifest digest the attachments belong to.
        #[getter]
        fn digest(&self) -> &str { self.0.digest.as_str() }
        /// The manifest's media type.
        #[getter]
        fn manifest_media_type(&self) -> &str { &self.0.manifest_media_type }
        /// The `.sig` tag and its signatures (a dict), or None.
        #[getter]
        fn signatures<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> { field_to_py(py, &self.0.signatures) }
        /// The `.att` tag and its attestations (a dict), or None.
        #[getter]
        fn attestations<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> { field_to_py(py, &self.0.attestations) }
        /// The `.sbom` tag and its layers (a dict), or None.
        #[getter]
        fn sboms<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> { field_to_py(py, &self.0.sboms) }
        /// The OCI 1.1 referrers (a dict).
        #[getter]
        fn referrers<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> { field_to_py(py, &self.0.referrers) }
        /// Counts of signature statuses, when trust was given.
        #[getter]
        fn verification<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> { field_to_py(py, &self.0.verification) }
        /// One subtree per manifest of an index.
        #[getter]
        fn platforms(&self) -> Vec<ArtifactTree> { self.0.platforms.iter().cloned().map(ArtifactTree).collect() }
    }
}

result_class! {
    /// What verifying an image under a trust configuration proved: the signature and a verified
    /// attestation of every required predicate type.
    TrustConfigVerification(ironsign::trust_config::TrustConfigVerification) as "TrustConfigVerification",
    repr = |r| format!("trust_config={:?}, digest={:?}, attestations={}", r.trust_config, r.signature.digest.as_str(),
        r.attestations.len());
    {
        /// The media type of the JSON form.
        #[getter]
        fn media_type(&self) -> &'static str { self.0.media_type }
        /// The trust configuration's name.
        #[getter]
        fn trust_config(&self) -> &str { &self.0.trust_config }
        /// The signature verification.
        #[getter]
        fn signature(&self) -> VerificationResult { VerificationResult(self.0.signature.clone()) }
        /// One result per required predicate type, in configuration order.
        #[getter]
        fn attestations(&self) -> Vec<AttestationResult> { self.0.attestations.iter().cloned().map(AttestationResult).collect() }
    }
}
