//! The registry client, blocking (`ironsign.RegistryClient`) and asyncio
//! (`ironsign.aio.RegistryClient`). Both run the core's async operations on one shared Tokio
//! runtime: the blocking methods release the GIL while they wait, the async ones return awaitables.

use crate::convert::{OneOrMany, read_file};
use crate::errors::{IntoPyResult, invalid_argument, to_py_err};
use crate::material::{PyPolicy, PySigner, PyTrustRoot};
use crate::results::{SignReport, SignedImage, VerificationResult};
use ironsign::{Credential, Error, ImageReference, Keychain, RegistryOptions, SignOptions};
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use zeroize::Zeroizing;

/// The runtime every call runs on (pyo3-async-runtimes' multi-threaded one, so sync and async
/// calls share connections' executor).
fn runtime() -> &'static tokio::runtime::Runtime {
    pyo3_async_runtimes::tokio::get_runtime()
}

/// Runs a core future to completion with the GIL released.
fn block_on<T: Send>(py: Python<'_>, fut: impl Future<Output = Result<T, Error>> + Send) -> PyResult<T> {
    py.detach(|| runtime().block_on(fut)).py_err(py)
}

/// Runs a core future as an asyncio awaitable.
fn awaitable<'py, T, R>(
    py: Python<'py>,
    fut: impl Future<Output = Result<T, Error>> + Send + 'static,
    wrap: fn(T) -> R,
) -> PyResult<Bound<'py, PyAny>>
where
    T: Send + 'static,
    R: for<'a> IntoPyObject<'a> + Send + 'static,
{
    pyo3_async_runtimes::tokio::future_into_py(py, async move {
        match fut.await {
            Ok(v) => Ok(wrap(v)),
            Err(e) => Err(Python::attach(|py| to_py_err(py, e))),
        }
    })
}

/// Docker's and podman's credential files, in the order those tools read them, from the
/// environment (`DOCKER_CONFIG`, `REGISTRY_AUTH_FILE`, `XDG_RUNTIME_DIR`, `HOME`), as the CLI does.
fn default_config_files() -> Vec<PathBuf> {
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let mut files = Vec::new();
    match std::env::var_os("DOCKER_CONFIG") {
        Some(dir) => files.push(PathBuf::from(dir).join("config.json")),
        None => files.extend(home.iter().map(|h| h.join(".docker/config.json"))),
    }
    files.extend(std::env::var_os("REGISTRY_AUTH_FILE").map(PathBuf::from));
    files.extend(std::env::var_os("XDG_RUNTIME_DIR").map(|d| PathBuf::from(d).join("containers/auth.json")));
    files.extend(home.iter().map(|h| h.join(".config/containers/auth.json")));
    files
}

/// The shared state of both client classes.
#[derive(Clone)]
pub struct Client {
    pub inner: Arc<ironsign::RegistryClient>,
}

fn parse(reference: &str) -> Result<ImageReference, Error> {
    Ok(ImageReference::parse(reference)?)
}

impl Client {
    fn new(
        auth: Option<(String, String)>,
        insecure_http: Vec<String>,
        ca_file: Option<OneOrMany<PathBuf>>,
        config_files: Option<Vec<PathBuf>>,
    ) -> Result<Self, Error> {
        let mut keychain = Keychain::anonymous();
        if let Some((username, password)) = auth {
            keychain = keychain.with_credential(Credential::Basic { username, password: Zeroizing::new(password) });
        }
        for f in config_files.unwrap_or_else(default_config_files) {
            keychain = keychain.with_config_file(f);
        }
        let ca_certificates_pem = ca_file
            .map(OneOrMany::into_vec)
            .unwrap_or_default()
            .iter()
            .map(|p| read_file(p))
            .collect::<Result<_, _>>()?;
        let options =
            RegistryOptions { insecure_registries: insecure_http, ca_certificates_pem, keychain, ..Default::default() };
        Ok(Client { inner: Arc::new(ironsign::RegistryClient::new(options)?) })
    }

    fn digest_of(&self, reference: &str) -> impl Future<Output = Result<String, Error>> + Send + 'static {
        let (client, reference) = (self.inner.clone(), parse(reference));
        async move { Ok(client.digest_of(&reference?).await?.to_string()) }
    }

    fn fetch_signatures(
        &self,
        reference: &str,
    ) -> impl Future<Output = Result<ironsign::SignedImage, Error>> + Send + 'static {
        let (client, reference) = (self.inner.clone(), parse(reference));
        async move { client.fetch_signatures(&reference?).await }
    }

    fn sign(
        &self,
        reference: &str,
        signer: &PySigner,
        options: SignOptions,
    ) -> impl Future<Output = Result<ironsign::SignReport, Error>> + Send + 'static {
        let (client, reference, material) = (self.inner.clone(), parse(reference), signer.material.clone());
        async move { ironsign::sign::sign_image(&client, &reference?, &material, &options).await }
    }

    fn verify(
        &self,
        reference: &str,
        trust: &PyTrustRoot,
        policy: &PyPolicy,
    ) -> impl Future<Output = Result<ironsign::VerificationResult, Error>> + Send + 'static {
        let (client, reference) = (self.inner.clone(), parse(reference));
        let (verifier, policy) = (trust.verifier.clone(), policy.policy.clone());
        async move {
            let signed = client.fetch_signatures(&reference?).await?;
            // Verification is pure and takes well under a millisecond: run it in place.
            verifier.verify(&signed, &policy)
        }
    }

    fn generate_payload(
        &self,
        reference: &str,
        options: SignOptions,
    ) -> impl Future<Output = Result<Vec<u8>, Error>> + Send + 'static {
        let (client, reference) = (self.inner.clone(), parse(reference));
        async move { ironsign::sign::generate_payload(&client, &reference?, &options).await }
    }
}

fn sign_options(
    annotations: Option<BTreeMap<String, String>>,
    recursive: bool,
    identity: Option<String>,
) -> SignOptions {
    SignOptions { annotations: annotations.unwrap_or_default(), recursive, identity, ..Default::default() }
}

fn check_auth(auth: Option<(String, String)>) -> Result<Option<(String, String)>, Error> {
    match auth {
        Some((u, _)) if u.is_empty() => Err(invalid_argument("auth", "the username is empty")),
        other => Ok(other),
    }
}

/// A client for registries and `oci:` image-layout directories. Blocking methods release the GIL.
#[pyclass(frozen, module = "ironsign", name = "RegistryClient")]
pub struct PyRegistryClient {
    client: Client,
}

#[pymethods]
impl PyRegistryClient {
    /// `auth`: `(username, password)` for every registry; otherwise (and after it) credentials
    /// come from `config_files`, by default Docker's and podman's files as those tools find them
    /// (`DOCKER_CONFIG`, `REGISTRY_AUTH_FILE`, `XDG_RUNTIME_DIR`); `config_files=[]` means
    /// anonymous. `insecure_http`: `host:port` registries reached over plain HTTP (loopback always
    /// is). `ca_file`: extra CA certificate file(s) for registry TLS.
    #[new]
    #[pyo3(signature = (*, auth = None, insecure_http = None, ca_file = None, config_files = None))]
    fn new(
        py: Python<'_>,
        auth: Option<(String, String)>,
        insecure_http: Option<Vec<String>>,
        ca_file: Option<OneOrMany<PathBuf>>,
        config_files: Option<Vec<PathBuf>>,
    ) -> PyResult<Self> {
        let build = || Client::new(check_auth(auth)?, insecure_http.unwrap_or_default(), ca_file, config_files);
        Ok(PyRegistryClient { client: build().py_err(py)? })
    }

    /// The manifest digest of `reference` (resolving a tag).
    fn digest_of(&self, py: Python<'_>, reference: &str) -> PyResult<String> {
        block_on(py, self.client.digest_of(reference))
    }

    /// Fetches the signatures of `reference` without verifying them.
    fn fetch_signatures(&self, py: Python<'_>, reference: &str) -> PyResult<SignedImage> {
        block_on(py, self.client.fetch_signatures(reference)).map(SignedImage)
    }

    /// Signs `reference` (a tag is resolved once; its digest is signed) and appends the signature
    /// to its `.sig` manifest. `annotations` go into the payload's `optional`; `recursive` signs
    /// every manifest of a multi-platform index too; `identity` replaces the docker-reference.
    #[pyo3(signature = (reference, signer, *, annotations = None, recursive = false, identity = None))]
    fn sign(
        &self,
        py: Python<'_>,
        reference: &str,
        signer: &PySigner,
        annotations: Option<BTreeMap<String, String>>,
        recursive: bool,
        identity: Option<String>,
    ) -> PyResult<SignReport> {
        let options = sign_options(annotations, recursive, identity);
        block_on(py, self.client.sign(reference, signer, options)).map(SignReport)
    }

    /// Fetches the signatures of `reference` and verifies them against `trust` and `policy`.
    /// Raises `NoSignaturesError`, `NoMatchingSignatureError`, `ImageNotFoundError`, ...
    fn verify(
        &self,
        py: Python<'_>,
        reference: &str,
        trust: &PyTrustRoot,
        policy: &PyPolicy,
    ) -> PyResult<VerificationResult> {
        block_on(py, self.client.verify(reference, trust, policy)).map(VerificationResult)
    }

    /// The simple-signing payload that `sign` would sign (as `cosign generate` prints it).
    #[pyo3(signature = (reference, *, annotations = None, identity = None))]
    fn generate_payload<'py>(
        &self,
        py: Python<'py>,
        reference: &str,
        annotations: Option<BTreeMap<String, String>>,
        identity: Option<String>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let payload =
            block_on(py, self.client.generate_payload(reference, sign_options(annotations, false, identity)))?;
        Ok(PyBytes::new(py, &payload))
    }

    fn __repr__(&self) -> String {
        "RegistryClient()".into()
    }
}

/// The asyncio flavour of `RegistryClient`: the same constructor, the same methods, as coroutines.
#[pyclass(frozen, module = "ironsign.aio", name = "AsyncRegistryClient")]
pub struct PyAsyncRegistryClient {
    client: Client,
}

#[pymethods]
impl PyAsyncRegistryClient {
    /// See `ironsign.RegistryClient`.
    #[new]
    #[pyo3(signature = (*, auth = None, insecure_http = None, ca_file = None, config_files = None))]
    fn new(
        py: Python<'_>,
        auth: Option<(String, String)>,
        insecure_http: Option<Vec<String>>,
        ca_file: Option<OneOrMany<PathBuf>>,
        config_files: Option<Vec<PathBuf>>,
    ) -> PyResult<Self> {
        let build = || Client::new(check_auth(auth)?, insecure_http.unwrap_or_default(), ca_file, config_files);
        Ok(PyAsyncRegistryClient { client: build().py_err(py)? })
    }

    /// See `ironsign.RegistryClient.digest_of`.
    fn digest_of<'py>(&self, py: Python<'py>, reference: &str) -> PyResult<Bound<'py, PyAny>> {
        awaitable(py, self.client.digest_of(reference), |d| d)
    }

    /// See `ironsign.RegistryClient.fetch_signatures`.
    fn fetch_signatures<'py>(&self, py: Python<'py>, reference: &str) -> PyResult<Bound<'py, PyAny>> {
        awaitable(py, self.client.fetch_signatures(reference), SignedImage)
    }

    /// See `ironsign.RegistryClient.sign`.
    #[pyo3(signature = (reference, signer, *, annotations = None, recursive = false, identity = None))]
    fn sign<'py>(
        &self,
        py: Python<'py>,
        reference: &str,
        signer: &PySigner,
        annotations: Option<BTreeMap<String, String>>,
        recursive: bool,
        identity: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let options = sign_options(annotations, recursive, identity);
        awaitable(py, self.client.sign(reference, signer, options), SignReport)
    }

    /// See `ironsign.RegistryClient.verify`.
    fn verify<'py>(
        &self,
        py: Python<'py>,
        reference: &str,
        trust: &PyTrustRoot,
        policy: &PyPolicy,
    ) -> PyResult<Bound<'py, PyAny>> {
        awaitable(py, self.client.verify(reference, trust, policy), VerificationResult)
    }

    /// See `ironsign.RegistryClient.generate_payload`.
    #[pyo3(signature = (reference, *, annotations = None, identity = None))]
    fn generate_payload<'py>(
        &self,
        py: Python<'py>,
        reference: &str,
        annotations: Option<BTreeMap<String, String>>,
        identity: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let fut = self.client.generate_payload(reference, sign_options(annotations, false, identity));
        awaitable(py, fut, |p: Vec<u8>| Python::attach(|py| PyBytes::new(py, &p).unbind()))
    }

    fn __repr__(&self) -> String {
        "AsyncRegistryClient()".into()
    }
}

/// Benchmark support: runs `fetch_signatures` + verify of `reference` `n` times in Rust, with no
/// Python in the loop, and returns the elapsed seconds. The difference to `n` calls of
/// `RegistryClient.verify` from Python is the binding's per-call overhead.
#[pyfunction]
pub fn _bench_rust_verify_loop(
    py: Python<'_>,
    client: &PyRegistryClient,
    reference: &str,
    trust: &PyTrustRoot,
    policy: &PyPolicy,
    n: usize,
) -> PyResult<f64> {
    let client = client.client.clone();
    let run = async move {
        let start = std::time::Instant::now();
        for _ in 0..n {
            client.verify(reference, trust, policy).await?;
        }
        Ok(start.elapsed().as_secs_f64())
    };
    block_on(py, run)
}
