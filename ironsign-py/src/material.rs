//! Signing material, trust material, policies and the verifier: argument conversion only.

use crate::convert::{OneOrMany, Secret, path_name, read_file};
use crate::errors::{IntoPyResult, invalid_argument};
use crate::results::{CertificateSummary, SignedImage, VerificationResult};
use ironsign::pki::DEFAULT_MAX_CHAIN;
use ironsign::{Certificate, EkuCheck, Error, KeyPairSigner, Policy, PolicySpec, PublicKey, SigningMaterial};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

/// Most certificates read from one roots or intermediates input.
const MAX_TRUST_CERTS: usize = 100;

/// A private key with its optional signing certificate and chain.
#[pyclass(frozen, module = "ironsign", name = "Signer")]
pub struct PySigner {
    pub material: Arc<SigningMaterial>,
}

/// `strict_eku=` as the core's check.
fn eku_check(strict: bool) -> EkuCheck {
    if strict { EkuCheck::Strict } else { EkuCheck::Warn }
}

fn material(
    signer: Arc<dyn ironsign::Signer>,
    certificate: Option<(Vec<u8>, String)>,
    chain: Option<(Vec<u8>, String)>,
    eku: EkuCheck,
) -> Result<SigningMaterial, Error> {
    let material = SigningMaterial::new(signer);
    match (certificate, chain) {
        (None, Some(_)) => Err(invalid_argument("chain", "a chain needs the signing certificate (certificate=)")),
        (None, None) => Ok(material),
        (Some((cert, cert_name)), chain) => {
            let cert = Certificate::from_pem_or_der(&cert, &cert_name)?;
            let chain = match chain {
                Some((pem, name)) => Certificate::from_pem_many(&pem, &name, DEFAULT_MAX_CHAIN)?,
                None => Vec::new(),
            };
            Ok(material.with_certificate_checked(cert, chain, std::time::SystemTime::now(), eku)?)
        }
    }
}

#[pymethods]
impl PySigner {
    /// Loads a private key file (PKCS#8, SEC1, PKCS#1, encrypted PKCS#8 or cosign's encrypted
    /// format), with the code-signing certificate for it and that certificate's chain
    /// (intermediates, then the root). An encrypted key needs `password`; none is read from the
    /// environment. A certificate whose extended key usage lacks codeSigning is accepted with a
    /// finding (see `findings`) unless `strict_eku`.
    #[staticmethod]
    #[pyo3(signature = (path, *, certificate = None, chain = None, password = None, strict_eku = false))]
    fn from_key_file(
        py: Python<'_>,
        path: PathBuf,
        certificate: Option<PathBuf>,
        chain: Option<PathBuf>,
        password: Option<Secret>,
        strict_eku: bool,
    ) -> PyResult<Self> {
        let load = || -> Result<SigningMaterial, Error> {
            let signer = KeyPairSigner::from_file(&path, password.as_ref().map(|p| p.0.as_slice()))?;
            let certificate = certificate.map(|p| Ok::<_, Error>((read_file(&p)?, path_name(&p)))).transpose()?;
            let chain = chain.map(|p| Ok::<_, Error>((read_file(&p)?, path_name(&p)))).transpose()?;
            material(Arc::new(signer), certificate, chain, eku_check(strict_eku))
        };
        // Decrypting a cosign key runs scrypt: release the GIL.
        let material = py.detach(load).py_err(py)?;
        Ok(PySigner { material: Arc::new(material) })
    }

    /// Like `from_key_file`, from PEM bytes (the certificate may be PEM or DER).
    #[staticmethod]
    #[pyo3(signature = (key, *, certificate = None, chain = None, password = None, strict_eku = false))]
    fn from_key_pem(
        py: Python<'_>,
        key: Vec<u8>,
        certificate: Option<Vec<u8>>,
        chain: Option<Vec<u8>>,
        password: Option<Secret>,
        strict_eku: bool,
    ) -> PyResult<Self> {
        let key = zeroize::Zeroizing::new(key);
        let load = || -> Result<SigningMaterial, Error> {
            let signer = KeyPairSigner::from_pem(&key, password.as_ref().map(|p| p.0.as_slice()), "private key")?;
            material(
                Arc::new(signer),
                certificate.map(|c| (c, "certificate".to_owned())),
                chain.map(|c| (c, "certificate chain".to_owned())),
                eku_check(strict_eku),
            )
        };
        let material = py.detach(load).py_err(py)?;
        Ok(PySigner { material: Arc::new(material) })
    }

    /// A key in a PKCS#11 token, by RFC 7512 URI as cosign takes them
    /// (`pkcs11:token=…;object=…;id=…?module-path=…&pin-value=…`). `module_path` and `pin` are
    /// used when the URI has none (nothing is read from the environment). The certificate is read
    /// from the token unless `certificate` is given.
    #[staticmethod]
    #[pyo3(signature = (uri, *, module_path = None, pin = None, certificate = None, chain = None, strict_eku = false))]
    fn from_pkcs11_uri(
        py: Python<'_>,
        uri: String,
        module_path: Option<PathBuf>,
        pin: Option<Secret>,
        certificate: Option<PathBuf>,
        chain: Option<PathBuf>,
        strict_eku: bool,
    ) -> PyResult<Self> {
        let load = || -> Result<SigningMaterial, Error> {
            let parsed = ironsign::Pkcs11Uri::parse(&uri)?;
            let pin = pin.as_ref().map(|p| String::from_utf8_lossy(&p.0).into_owned());
            let signer = ironsign::Pkcs11Signer::open(&parsed, module_path.as_deref(), pin.as_deref())?;
            let certificate = match certificate {
                Some(p) => Some(Certificate::from_pem_or_der(&read_file(&p)?, &path_name(&p))?),
                None => signer.certificate().cloned(),
            };
            let material = SigningMaterial::new(Arc::new(signer));
            match (certificate, chain) {
                (None, Some(_)) => {
                    Err(invalid_argument("chain", "a chain needs a certificate (in the token or given)"))
                }
                (None, None) => Ok(material),
                (Some(cert), chain) => {
                    let chain = match chain {
                        Some(p) => Certificate::from_pem_many(&read_file(&p)?, &path_name(&p), DEFAULT_MAX_CHAIN)?,
                        None => Vec::new(),
                    };
                    Ok(material.with_certificate_checked(
                        cert,
                        chain,
                        std::time::SystemTime::now(),
                        eku_check(strict_eku),
                    )?)
                }
            }
        };
        let material = py.detach(load).py_err(py)?;
        Ok(PySigner { material: Arc::new(material) })
    }

    /// A key in a KMS, by cosign's URI: `awskms://[ENDPOINT]/KEY_ID|alias/NAME|ARN` or
    /// `hashivault://KEY`. The provider is configured from the process environment as cosign
    /// does (AWS's standard configuration and credential chain, `AWS_CA_BUNDLE`; `VAULT_ADDR`,
    /// `VAULT_TOKEN`, …: see docs/kms.md); the private key never leaves the KMS. `strict_eku` as
    /// in `from_key_file`.
    #[staticmethod]
    #[pyo3(signature = (uri, *, certificate = None, chain = None, strict_eku = false))]
    fn from_kms_uri(
        py: Python<'_>,
        uri: String,
        certificate: Option<PathBuf>,
        chain: Option<PathBuf>,
        strict_eku: bool,
    ) -> PyResult<Self> {
        let load = || -> Result<SigningMaterial, Error> {
            let signer = ironsign::KmsSigner::open_with_process_environment(&uri)?;
            let certificate = certificate.map(|p| Ok::<_, Error>((read_file(&p)?, path_name(&p)))).transpose()?;
            let chain = chain.map(|p| Ok::<_, Error>((read_file(&p)?, path_name(&p)))).transpose()?;
            material(Arc::new(signer), certificate, chain, eku_check(strict_eku))
        };
        // Network calls to the KMS: release the GIL.
        let material = py.detach(load).py_err(py)?;
        Ok(PySigner { material: Arc::new(material) })
    }

    /// This signer, timestamping every signature at the RFC 3161 timestamp authority `url`
    /// (cosign's `--timestamp-server-url`).
    fn with_timestamp_server(&self, py: Python<'_>, url: &str) -> PyResult<Self> {
        let client = ironsign::TimestampClient::new(url, &[]).py_err(py)?;
        Ok(PySigner { material: Arc::new((*self.material).clone().with_timestamp_authority(client)) })
    }

    /// The public key, PEM.
    #[getter]
    fn public_key_pem(&self) -> String {
        self.material.signer().public_key().to_pem()
    }

    /// The signing certificate, if one was given.
    #[getter]
    fn certificate(&self) -> Option<CertificateSummary> {
        self.material.certificate().map(|c| CertificateSummary(c.summary().clone()))
    }

    /// Warnings found when the material was assembled (e.g. a certificate without a SAN).
    #[getter]
    fn warnings(&self) -> Vec<String> {
        self.material.warnings()
    }

    /// The same findings with their stable codes: `{"code": "NO_CODE_SIGNING_EKU", "message": …}`
    /// (`NO_SUBJECT_ALT_NAME`, `CHAIN_ENDS_WITHOUT_ROOT`, `NO_CODE_SIGNING_EKU`).
    #[getter]
    fn findings(&self) -> Vec<BTreeMap<&'static str, String>> {
        self.material
            .findings()
            .iter()
            .map(|f| BTreeMap::from([("code", f.code().to_owned()), ("message", f.to_string())]))
            .collect()
    }

    fn __repr__(&self) -> String {
        match self.material.certificate() {
            Some(c) => format!("Signer(certificate={:?})", c.subject()),
            None => format!("Signer(key={})", self.material.signer().public_key().fingerprint()),
        }
    }
}

/// Trust material: root CAs (with optional intermediates) and/or public keys. Built once, shared
/// by every verification.
#[pyclass(frozen, module = "ironsign", name = "TrustRoot")]
pub struct PyTrustRoot {
    pub verifier: Arc<ironsign::Verifier>,
}

impl PyTrustRoot {
    pub(crate) fn new(trust: ironsign::TrustRoot) -> Self {
        PyTrustRoot { verifier: Arc::new(ironsign::Verifier::new(trust)) }
    }
}

fn certificates_from_files(paths: Vec<PathBuf>) -> Result<Vec<Certificate>, Error> {
    let mut out = Vec::new();
    for p in paths {
        out.extend(Certificate::from_pem_many(&read_file(&p)?, &path_name(&p), MAX_TRUST_CERTS)?);
    }
    Ok(out)
}

fn public_keys(pems: Vec<(Vec<u8>, String)>) -> Result<Vec<PublicKey>, Error> {
    pems.into_iter().map(|(pem, name)| Ok(PublicKey::from_pem(&pem, &name)?)).collect()
}

#[pymethods]
impl PyTrustRoot {
    /// Trusts the root CAs in `roots` (a PEM bundle) with the intermediates in `intermediates`.
    #[staticmethod]
    #[pyo3(signature = (roots, intermediates = None))]
    fn from_pem(py: Python<'_>, roots: Vec<u8>, intermediates: Option<Vec<u8>>) -> PyResult<Self> {
        Ok(Self::new(ironsign::TrustRoot::from_pem(&roots, intermediates.as_deref()).py_err(py)?))
    }

    /// Trusts the root CAs in the PEM files `roots`, with the intermediates in `intermediates`
    /// available for path building. Each argument is a path or a list of paths.
    #[staticmethod]
    #[pyo3(signature = (roots, intermediates = None))]
    fn from_pem_files(
        py: Python<'_>,
        roots: OneOrMany<PathBuf>,
        intermediates: Option<OneOrMany<PathBuf>>,
    ) -> PyResult<Self> {
        let load = || -> Result<ironsign::TrustRoot, Error> {
            let roots = certificates_from_files(roots.into_vec())?;
            if roots.is_empty() {
                return Err(invalid_argument("roots", "no root CA certificate given"));
            }
            let intermediates = certificates_from_files(intermediates.map(OneOrMany::into_vec).unwrap_or_default())?;
            Ok(ironsign::TrustRoot::from_certificates(roots, intermediates)?)
        };
        Ok(Self::new(load().py_err(py)?))
    }

    /// Trusts a cosign-style `--certificate-chain`: intermediates first, the root last.
    #[staticmethod]
    fn from_chain_pem(py: Python<'_>, chain: Vec<u8>) -> PyResult<Self> {
        Ok(Self::new(ironsign::TrustRoot::from_chain_pem(&chain).py_err(py)?))
    }

    /// Like `from_chain_pem`, from a file.
    #[staticmethod]
    fn from_chain_file(py: Python<'_>, path: PathBuf) -> PyResult<Self> {
        let load = || -> Result<_, Error> { Ok(ironsign::TrustRoot::from_chain_pem(&read_file(&path)?)?) };
        Ok(Self::new(load().py_err(py)?))
    }

    /// Trusts signatures made with these public keys (PEM bytes, one key or a list).
    #[staticmethod]
    fn from_public_key_pem(py: Python<'_>, keys: Bound<'_, PyAny>) -> PyResult<Self> {
        let pems: Vec<Vec<u8>> = match keys.cast::<PyBytes>() {
            Ok(b) => vec![b.as_bytes().to_vec()],
            Err(_) => keys.extract()?,
        };
        let named = pems.into_iter().enumerate().map(|(i, p)| (p, format!("public key #{i}"))).collect();
        Ok(Self::new(ironsign::TrustRoot::from_public_keys(public_keys(named).py_err(py)?)))
    }

    /// Trusts signatures made with the public keys in these PEM files (a path or a list).
    #[staticmethod]
    fn from_public_key_files(py: Python<'_>, paths: OneOrMany<PathBuf>) -> PyResult<Self> {
        let load = || -> Result<_, Error> {
            let pems =
                paths.into_vec().iter().map(|p| Ok((read_file(p)?, path_name(p)))).collect::<Result<_, Error>>()?;
            Ok(ironsign::TrustRoot::from_public_keys(public_keys(pems)?))
        };
        Ok(Self::new(load().py_err(py)?))
    }

    /// The root CAs.
    #[getter]
    fn roots(&self) -> Vec<CertificateSummary> {
        self.verifier.trust().roots().iter().map(|c| CertificateSummary(c.summary().clone())).collect()
    }

    /// The configured intermediates.
    #[getter]
    fn intermediates(&self) -> Vec<CertificateSummary> {
        self.verifier.trust().intermediates().iter().map(|c| CertificateSummary(c.summary().clone())).collect()
    }

    /// Fingerprints (hex SHA-256 of the SubjectPublicKeyInfo) of the trusted public keys.
    #[getter]
    fn public_key_fingerprints(&self) -> Vec<String> {
        self.verifier.trust().public_keys().iter().map(PublicKey::fingerprint).collect()
    }

    /// This trust plus RFC 3161 timestamp authorities (PEM: the TSA certificate, its CAs): a
    /// signature with a verified timestamp has its certificates checked at the timestamp's time.
    fn with_timestamp_authorities(&self, py: Python<'_>, pem: Vec<u8>) -> PyResult<Self> {
        let tsa = ironsign::TimestampAuthorities::from_pem(&pem).py_err(py)?;
        Ok(PyTrustRoot::new(self.verifier.trust().clone().with_timestamp_authorities(tsa)))
    }

    /// This trust plus certificate revocation lists (PEM or DER) of CAs on signing paths.
    fn with_crls(&self, py: Python<'_>, crls: Vec<u8>) -> PyResult<Self> {
        Ok(PyTrustRoot::new(self.verifier.trust().clone().with_crls(&crls, "CRL").py_err(py)?))
    }

    /// What this trust root's cache of verdicts by content did: ``hits`` (verifications of an
    /// unchanged image under the same policy, answered with no signature verified), ``misses``
    /// and ``entries``.
    fn result_cache_stats(&self) -> std::collections::HashMap<&'static str, u64> {
        let stats = self.verifier.result_cache_stats();
        [("hits", stats.hits), ("misses", stats.misses), ("entries", stats.entries as u64)].into()
    }

    fn __repr__(&self) -> String {
        let t = self.verifier.trust();
        format!(
            "TrustRoot(roots={:?}, intermediates={}, public_keys={})",
            t.roots().iter().map(Certificate::subject).collect::<Vec<_>>(),
            t.intermediates().len(),
            t.public_keys().len()
        )
    }
}

/// What a signature must satisfy beyond the trust material.
#[pyclass(frozen, module = "ironsign", name = "Policy")]
pub struct PyPolicy {
    pub policy: Policy,
    description: String,
}

impl PyPolicy {
    /// A policy built in Rust (e.g. a trust configuration's), with its `repr` text.
    pub(crate) fn from_policy(policy: Policy, description: String) -> Self {
        PyPolicy { policy, description }
    }
}

#[pymethods]
impl PyPolicy {
    /// Give exactly one identity form (each a string or a non-empty list of alternatives), or none
    /// for key trust: `identity` (a SAN: email, URI or DNS name), `identity_regexp` (unanchored,
    /// as in cosign: write `^...$`), `subject` (RFC 4514 DN), `subject_regexp`, or
    /// `dangerous_any_identity=True`. `annotations` must all be in the signed payload. The rules
    /// are the core's (`PolicySpec`), the same for the CLI and Node.
    #[new]
    #[pyo3(signature = (*, identity = None, identity_regexp = None, subject = None, subject_regexp = None,
        annotations = None, require_code_signing_eku = false, dangerous_any_identity = false))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        identity: Option<OneOrMany<String>>,
        identity_regexp: Option<OneOrMany<String>>,
        subject: Option<OneOrMany<String>>,
        subject_regexp: Option<OneOrMany<String>>,
        annotations: Option<BTreeMap<String, String>>,
        require_code_signing_eku: bool,
        dangerous_any_identity: bool,
    ) -> PyResult<Self> {
        let spec = PolicySpec {
            identity: identity.map(OneOrMany::into_vec),
            identity_regexp: identity_regexp.map(OneOrMany::into_vec),
            subject: subject.map(OneOrMany::into_vec),
            subject_regexp: subject_regexp.map(OneOrMany::into_vec),
            annotations: annotations.unwrap_or_default(),
            require_code_signing_eku,
            dangerous_any_identity,
        };
        let forms = [
            ("identity", &spec.identity),
            ("identity_regexp", &spec.identity_regexp),
            ("subject", &spec.subject),
            ("subject_regexp", &spec.subject_regexp),
        ];
        let policy = spec.build().py_err(py)?;
        let mut parts: Vec<String> =
            forms.iter().filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={v:?}"))).collect();
        if dangerous_any_identity {
            parts.push("dangerous_any_identity=True".into());
        }
        if !policy.annotations().is_empty() {
            parts.push(format!("annotations={:?}", policy.annotations()));
        }
        if require_code_signing_eku {
            parts.push("require_code_signing_eku=True".into());
        }
        let description = parts.join(", ");
        Ok(PyPolicy { policy, description })
    }

    /// The annotations the payload must carry.
    #[getter]
    fn annotations<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for (k, v) in self.policy.annotations() {
            d.set_item(k, v)?;
        }
        Ok(d)
    }

    fn __repr__(&self) -> String {
        format!("Policy({})", self.description)
    }
}

/// Verifies fetched images (`SignedImage`) offline: pure, no I/O.
#[pyclass(frozen, module = "ironsign", name = "Verifier")]
pub struct PyVerifier {
    verifier: Arc<ironsign::Verifier>,
}

#[pymethods]
impl PyVerifier {
    #[new]
    fn new(trust: &PyTrustRoot) -> Self {
        PyVerifier { verifier: trust.verifier.clone() }
    }

    /// Verifies `image` against the trust root and `policy`, at the current time. Releases the GIL.
    fn verify(&self, py: Python<'_>, image: &SignedImage, policy: &PyPolicy) -> PyResult<VerificationResult> {
        let result = py.detach(|| self.verifier.verify(&image.0, &policy.policy)).py_err(py)?;
        Ok(VerificationResult(result))
    }

    /// Verifies a blob's signature: a `bundle` (either cosign format), or a `signature` (base64,
    /// as `sign-blob` writes it) with an optional `certificate` and RFC 3161 `timestamp` file
    /// content. Pure; releases the GIL.
    #[pyo3(signature = (blob, policy, *, signature = None, certificate = None, timestamp = None, bundle = None))]
    #[allow(clippy::too_many_arguments)]
    fn verify_blob(
        &self,
        py: Python<'_>,
        blob: &[u8],
        policy: &PyPolicy,
        signature: Option<Vec<u8>>,
        certificate: Option<Vec<u8>>,
        timestamp: Option<Vec<u8>>,
        bundle: Option<Vec<u8>>,
    ) -> PyResult<crate::blobs::BlobVerification> {
        let evidence = crate::blobs::evidence(signature, certificate, timestamp, bundle);
        crate::blobs::verify_blob(py, &self.verifier, blob, &policy.policy, evidence)
    }

    /// Verifies a blob attestation: its statement must name `blob`'s SHA-256 (or `digest`,
    /// `sha256:<hex>`; with `check_claims=False` neither is checked, as cosign's
    /// `--check-claims=false`) and have `predicate_type`. `signature` is the envelope JSON.
    #[pyo3(signature = (policy, *, blob = None, digest = None, signature = None, certificate = None, timestamp = None,
        bundle = None, predicate_type = "custom", check_claims = true))]
    #[allow(clippy::too_many_arguments)]
    fn verify_blob_attestation(
        &self,
        py: Python<'_>,
        policy: &PyPolicy,
        blob: Option<&[u8]>,
        digest: Option<&str>,
        signature: Option<Vec<u8>>,
        certificate: Option<Vec<u8>>,
        timestamp: Option<Vec<u8>>,
        bundle: Option<Vec<u8>>,
        predicate_type: &str,
        check_claims: bool,
    ) -> PyResult<crate::blobs::BlobVerification> {
        let evidence = crate::blobs::evidence(signature, certificate, timestamp, bundle);
        crate::blobs::verify_blob_attestation(
            py,
            &self.verifier,
            &policy.policy,
            blob,
            digest,
            evidence,
            predicate_type,
            check_claims,
        )
    }
}

/// Creates a cosign-compatible key pair: `(private_pem, public_pem)`. The private key is ECDSA
/// P-256 encrypted with `password` in cosign's format (`ENCRYPTED SIGSTORE PRIVATE KEY`).
#[pyfunction]
pub fn generate_key_pair<'py>(
    py: Python<'py>,
    password: Secret,
) -> PyResult<(Bound<'py, PyBytes>, Bound<'py, PyBytes>)> {
    let (private_pem, public_pem) = py.detach(|| ironsign::keys::generate_cosign_key_pair(&password.0)).py_err(py)?;
    Ok((PyBytes::new(py, private_pem.as_bytes()), PyBytes::new(py, public_pem.as_bytes())))
}

/// Benchmark support: `n` calls of the Rust `Verifier::verify` with no Python in the loop;
/// returns the elapsed seconds (compare with `n` calls of `Verifier.verify` from Python).
#[pyfunction]
pub fn _bench_rust_verify_only(
    py: Python<'_>,
    verifier: &PyVerifier,
    image: &SignedImage,
    policy: &PyPolicy,
    n: usize,
) -> PyResult<f64> {
    py.detach(|| {
        let start = std::time::Instant::now();
        for _ in 0..n {
            verifier.verifier.verify(&image.0, &policy.policy)?;
        }
        Ok::<_, Error>(start.elapsed().as_secs_f64())
    })
    .py_err(py)
}
