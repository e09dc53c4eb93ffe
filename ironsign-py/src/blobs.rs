//! Blobs: `sign_blob`, `attest_blob` and the verifier's blob methods, argument conversion only
//! (the core's [`ironsign::blob`] and [`ironsign::Verifier::verify_blob`] decide).

use crate::convert::json_to_py;
use crate::errors::IntoPyResult;
use crate::material::PySigner;
use crate::results::{result_class, to_json, to_value};
use ironsign::blob::{BlobFormat, SignedBlob};
use ironsign::predicates::PredicateKind;
use ironsign::{BlobEvidence, Error};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

/// A signed blob or blob attestation and every output cosign writes for it.
#[pyclass(frozen, module = "ironsign", name = "SignedBlob")]
pub struct PySignedBlob(SignedBlob);

#[pymethods]
impl PySignedBlob {
    /// The raw signature (for an attestation, the DSSE signature).
    #[getter]
    fn signature<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.0.signature)
    }
    /// The base64 signature `cosign sign-blob` prints.
    #[getter]
    fn signature_base64(&self) -> String {
        self.0.signature_base64()
    }
    /// The DSSE envelope JSON `cosign attest-blob` prints, for an attestation; else None.
    #[getter]
    fn envelope<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyBytes>> {
        self.0.envelope_json().map(|e| PyBytes::new(py, &e))
    }
    /// What `--output-certificate` holds (base64 of the certificate's PEM), if signed with one.
    #[getter]
    fn certificate_output(&self) -> Option<String> {
        self.0.certificate_output()
    }
    /// What `--rfc3161-timestamp` holds, if timestamped.
    #[getter]
    fn timestamp(&self) -> Option<String> {
        self.0.timestamp_json()
    }
    /// cosign v2's JSON bundle.
    fn legacy_bundle<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.0.legacy_bundle())
    }
    /// The Sigstore bundle v0.3 (cosign v3's format).
    fn sigstore_bundle<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.0.sigstore_bundle())
    }
    fn __repr__(&self) -> String {
        format!("SignedBlob(attestation={})", if self.0.envelope.is_some() { "True" } else { "False" })
    }
}

/// Signs `blob` as `cosign sign-blob` does (timestamped when the signer has a timestamp server).
/// Releases the GIL.
#[pyfunction]
pub fn sign_blob(py: Python<'_>, blob: &[u8], signer: &PySigner) -> PyResult<PySignedBlob> {
    let material = signer.material.clone();
    crate::registry::block_on(py, async move { ironsign::blob::sign_blob(blob, &material).await }).map(PySignedBlob)
}

/// Attests a blob as `cosign attest-blob` does: an in-toto statement whose subject is `name`
/// (its last path component) with the blob's SHA-256 (from `blob`, or `digest` as `sha256:<hex>`),
/// over the predicate (`predicate_type`: a cosign shortcut or a URI). `format` decides what the
/// timestamp covers: `sigstore_bundle` (the DSSE signature), `legacy_bundle` or `detached`
/// (the envelope).
#[pyfunction]
#[pyo3(signature = (name, signer, *, predicate, blob = None, digest = None, predicate_type = "custom", format = "sigstore_bundle"))]
#[allow(clippy::too_many_arguments)]
pub fn attest_blob(
    py: Python<'_>,
    name: &str,
    signer: &PySigner,
    predicate: &[u8],
    blob: Option<&[u8]>,
    digest: Option<&str>,
    predicate_type: &str,
    format: &str,
) -> PyResult<PySignedBlob> {
    let result = (|| -> Result<SignedBlob, Error> {
        let format = BlobFormat::parse(format)?;
        let digest = ironsign::blob::blob_digest(blob, digest)?;
        let now = std::time::SystemTime::now();
        let statement =
            ironsign::blob::attestation_statement(name, &digest, predicate_type, predicate, "predicate", now)?;
        let material = signer.material.clone();
        py.detach(|| crate::registry::runtime().block_on(ironsign::blob::attest_blob(&statement, &material, format)))
    })();
    result.py_err(py).map(PySignedBlob)
}

pub(crate) fn evidence(
    signature: Option<Vec<u8>>,
    certificate: Option<Vec<u8>>,
    timestamp: Option<Vec<u8>>,
    bundle: Option<Vec<u8>>,
) -> BlobEvidence {
    BlobEvidence { signature, certificate, timestamp, bundle }
}

result_class! {
    /// What verifying a blob signature or attestation proved, and only that.
    BlobVerification(ironsign::BlobVerification) as "BlobVerification",
    repr = |r| format!("format={:?}, digest={:?}", to_value(&r.format).map(|v| v.to_string()).unwrap_or_default(),
        r.digest.as_ref().map(|d| d.as_str().to_owned()));
    {
        /// The blob's digest (for an attestation, the subject digest checked, if any).
        #[getter]
        fn digest(&self) -> Option<&str> { self.0.digest.as_ref().map(|d| d.as_str()) }
        /// `detached`, `legacy_bundle` or `sigstore_bundle`.
        #[getter]
        fn format(&self) -> PyResult<String> { Ok(to_value(&self.0.format)?.as_str().unwrap_or_default().to_owned()) }
        /// The identity value that matched the policy, when one was required.
        #[getter]
        fn matched_identity(&self) -> Option<&str> { self.0.matched_identity.as_deref() }
        /// The checks that passed, in order.
        #[getter]
        fn checks(&self) -> PyResult<Vec<String>> {
            self.0.checks.iter().map(|c| Ok(to_value(c)?.as_str().unwrap_or_default().to_owned())).collect()
        }
        /// The verified statement, for an attestation.
        #[getter]
        fn statement<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
            self.0.statement.as_ref().map(|s| json_to_py(py, s)).transpose()
        }
    }
}

/// `Verifier.verify_blob`: see the method's documentation in the stub.
pub(crate) fn verify_blob(
    py: Python<'_>,
    verifier: &ironsign::Verifier,
    blob: &[u8],
    policy: &ironsign::Policy,
    evidence: BlobEvidence,
) -> PyResult<BlobVerification> {
    py.detach(|| verifier.verify_blob(blob, &evidence, policy)).py_err(py).map(BlobVerification)
}

/// `Verifier.verify_blob_attestation`: the subject from `blob` or `digest` unless `check_claims`
/// is false.
#[allow(clippy::too_many_arguments)]
pub(crate) fn verify_blob_attestation(
    py: Python<'_>,
    verifier: &ironsign::Verifier,
    policy: &ironsign::Policy,
    blob: Option<&[u8]>,
    digest: Option<&str>,
    evidence: BlobEvidence,
    predicate_type: &str,
    check_claims: bool,
) -> PyResult<BlobVerification> {
    let result = (|| -> Result<ironsign::BlobVerification, Error> {
        let subject = ironsign::blob::attestation_subject(check_claims, blob, digest)?;
        let kind = PredicateKind::parse(predicate_type)?;
        py.detach(|| verifier.verify_blob_attestation(subject.as_ref(), &evidence, policy, Some(kind.uri())))
    })();
    result.py_err(py).map(BlobVerification)
}
