//! Certificate tooling: inspect, check, renewal and CSRs. Pure functions over parsed
//! certificates; argument conversion only.

use crate::convert::{Secret, path_name, read_file};
use crate::errors::{IntoPyResult, invalid_argument};
use crate::material::PySigner;
use crate::results::{CheckReport, InspectionReport, RenewalReport};
use ironsign::csr::CsrRequest;
use ironsign::{Certificate, Error, KeyPairSigner, PublicKey, Signer};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};
use std::path::PathBuf;
use std::time::SystemTime;

/// Most certificates read from one input.
const MAX_CERTS: usize = 100;

/// Certificate input: `bytes` (PEM or DER), a `str` holding PEM text, or a path (`str` or
/// `os.PathLike`). Read with the GIL held: small files.
fn certificateinput(obj: &Bound<'_, PyAny>) -> PyResult<Result<(Vec<u8>, String), Error>> {
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Ok(Ok((b.as_bytes().to_vec(), "certificate".into())));
    }
    if let Ok(s) = obj.cast::<PyString>() {
        let s = s.to_str()?;
        if s.trim_start().starts_with("-----BEGIN") {
            return Ok(Ok((s.as_bytes().to_vec(), "certificate".into())));
        }
    }
    let path: PathBuf = obj
        .extract()
        .map_err(|_| pyo3::exceptions::PyTypeError::new_err("a certificate must be bytes, PEM text, or a path"))?;
    Ok(read_file(&path).map(|data| (data, path_name(&path))))
}

fn load_certificates(obj: &Bound<'_, PyAny>) -> PyResult<Result<Vec<Certificate>, Error>> {
    Ok(certificateinput(obj)?.and_then(|(data, what)| {
        if data.trim_ascii_start().starts_with(b"-----BEGIN") {
            Ok(Certificate::from_pem_many(&data, &what, MAX_CERTS)?)
        } else {
            Ok(vec![Certificate::from_der(&data, &what)?])
        }
    }))
}

pub(crate) fn load_certificate(obj: &Bound<'_, PyAny>) -> PyResult<Result<Certificate, Error>> {
    Ok(certificateinput(obj)?.and_then(|(data, what)| Ok(Certificate::from_pem_or_der(&data, &what)?)))
}

/// Inspects a certificate or a chain (leaf first): subject, SANs, issuer, serial, key, usages,
/// validity, its role, and warnings (weak keys, no SAN, chain order, ...).
#[pyfunction]
pub fn inspect_certificate(py: Python<'_>, certificates: &Bound<'_, PyAny>) -> PyResult<InspectionReport> {
    let certs = load_certificates(certificates)?.py_err(py)?;
    Ok(InspectionReport(ironsign::pki::report::inspect(&certs, SystemTime::now())))
}

/// The public key a `key=` argument names: a `Signer`, or a public or (unencrypted) private key
/// as PEM bytes or a file.
fn public_key(obj: &Bound<'_, PyAny>) -> PyResult<Result<PublicKey, Error>> {
    if let Ok(s) = obj.cast::<PySigner>() {
        return Ok(Ok(s.get().material.signer().public_key().clone()));
    }
    let (data, what) = match obj.cast::<PyBytes>() {
        Ok(b) => (b.as_bytes().to_vec(), "key".to_owned()),
        Err(_) => {
            let path: PathBuf = obj
                .extract()
                .map_err(|_| pyo3::exceptions::PyTypeError::new_err("key must be a Signer, PEM bytes, or a path"))?;
            match read_file(&path) {
                Ok(data) => (data, path_name(&path)),
                Err(e) => return Ok(Err(e)),
            }
        }
    };
    let data = zeroize::Zeroizing::new(data);
    Ok(match PublicKey::from_pem(&data, &what) {
        Ok(k) => Ok(k),
        Err(_) => KeyPairSigner::from_pem(&data, None, &what).map(|s| s.public_key().clone()).map_err(Error::from),
    })
}

/// Checks a signing certificate and its chain (intermediates, root last): expiry within
/// `warn_days` of the leaf or any CA, anything out of validity, a key that is not the
/// certificate's (when `key` is given), a chain that does not lead to its root.
#[pyfunction]
#[pyo3(signature = (certificate, chain, *, key = None, warn_days = 30))]
pub fn check_certificate(
    py: Python<'_>,
    certificate: &Bound<'_, PyAny>,
    chain: &Bound<'_, PyAny>,
    key: Option<&Bound<'_, PyAny>>,
    warn_days: u32,
) -> PyResult<CheckReport> {
    let leaf = load_certificate(certificate)?.py_err(py)?;
    let chain = load_certificates(chain)?.py_err(py)?;
    let key = match key {
        Some(k) => Some(public_key(k)?.py_err(py)?),
        None => None,
    };
    Ok(CheckReport(ironsign::pki::report::check(&leaf, &chain, key.as_ref(), warn_days, SystemTime::now())))
}

/// Compares a certificate with its renewal: does the new one keep the identity (subject and SANs)
/// that policies pin, the issuer, the key?
#[pyfunction]
pub fn verify_renewal(py: Python<'_>, old: &Bound<'_, PyAny>, new: &Bound<'_, PyAny>) -> PyResult<RenewalReport> {
    let old = load_certificate(old)?.py_err(py)?;
    let new = load_certificate(new)?.py_err(py)?;
    Ok(RenewalReport(ironsign::pki::report::verify_renewal(&old, &new)))
}

/// Creates a PKCS#10 request (PEM) for a code-signing certificate, signed with `key` (a `Signer`,
/// or a private key file or PEM bytes, with `password` when encrypted). Give `subject` (RFC 4514,
/// e.g. `"CN=Signer,O=Example,C=US"`) or `from_certificate` (a renewal: subject and SANs copied);
/// `emails`, `uris` and `dns_names` add SANs. Asks for digitalSignature and codeSigning.
#[pyfunction]
#[pyo3(signature = (key, *, subject = None, emails = None, uris = None, dns_names = None, from_certificate = None,
    password = None))]
#[allow(clippy::too_many_arguments)]
pub fn create_csr(
    py: Python<'_>,
    key: &Bound<'_, PyAny>,
    subject: Option<String>,
    emails: Option<Vec<String>>,
    uris: Option<Vec<String>>,
    dns_names: Option<Vec<String>>,
    from_certificate: Option<&Bound<'_, PyAny>>,
    password: Option<Secret>,
) -> PyResult<String> {
    let mut request = match (subject, from_certificate) {
        (Some(_), Some(_)) => {
            return Err(invalid_argument("subject", "give subject= or from_certificate=, not both")).py_err(py);
        }
        (Some(s), None) => CsrRequest::new(&s).py_err(py)?,
        (None, Some(c)) => CsrRequest::from_certificate(&load_certificate(c)?.py_err(py)?),
        (None, None) => return Err(invalid_argument("subject", "give subject= or from_certificate=")).py_err(py),
    };
    request.emails.extend(emails.unwrap_or_default());
    request.uris.extend(uris.unwrap_or_default());
    request.dns_names.extend(dns_names.unwrap_or_default());
    let password = password.as_ref().map(|p| p.0.as_slice());
    if let Ok(s) = key.cast::<PySigner>() {
        let signer = s.get().material.signer().clone();
        return py.detach(|| ironsign::csr::create_csr(signer.as_ref(), &request)).py_err(py);
    }
    let signer = if let Ok(b) = key.cast::<PyBytes>() {
        let pem_text = zeroize::Zeroizing::new(b.as_bytes().to_vec());
        py.detach(|| KeyPairSigner::from_pem(&pem_text, password, "private key").map_err(Error::from)).py_err(py)?
    } else {
        let path: PathBuf = key
            .extract()
            .map_err(|_| pyo3::exceptions::PyTypeError::new_err("key must be a Signer, PEM bytes, or a path"))?;
        py.detach(|| KeyPairSigner::from_file(&path, password)).py_err(py)?
    };
    py.detach(|| ironsign::csr::create_csr(&signer, &request)).py_err(py)
}
