//! The registry client, blocking (`ironsign.RegistryClient`) and asyncio
//! (`ironsign.aio.RegistryClient`). Both run the core's async operations on one shared Tokio
//! runtime: the blocking methods release the GIL while they wait, the async ones return awaitables.

use crate::attest::{AttestArgs, attest_args, declared_sbom, predicate_type_uri, rego_policies};
use crate::convert::json_to_py;
use crate::convert::{OneOrMany, read_file};
use crate::errors::{IntoPyResult, invalid_argument, to_py_err};
use crate::material::{PyPolicy, PySigner, PyTrustRoot};
use crate::resign::{ResignPlan, ResignReport, ResignScan, criterion as resign_criterion};
use crate::results::{
    ArtifactTree, AttachReport, AttestReport, AttestationResult, Sbom, SbomDownload, SignReport, SignedImage,
    VerificationResult,
};
use crate::transfer::{GcPlan, GcReport, TransferReport, gc_options, layout_target, transfer_options};
use ironsign::RegoPolicy;
use ironsign::cosign::AttachmentKind;
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
pub(crate) fn runtime() -> &'static tokio::runtime::Runtime {
    pyo3_async_runtimes::tokio::get_runtime()
}

/// Runs a core future to completion with the GIL released.
pub(crate) fn block_on<T: Send>(py: Python<'_>, fut: impl Future<Output = Result<T, Error>> + Send) -> PyResult<T> {
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

/// Runs a core future as an asyncio awaitable whose result is built with the GIL (plain Python
/// data).
fn awaitable_py<'py, T>(
    py: Python<'py>,
    fut: impl Future<Output = Result<T, Error>> + Send + 'static,
    wrap: fn(Python<'_>, T) -> PyResult<Py<PyAny>>,
) -> PyResult<Bound<'py, PyAny>>
where
    T: Send + 'static,
{
    pyo3_async_runtimes::tokio::future_into_py(py, async move {
        match fut.await {
            Ok(v) => Python::attach(|py| wrap(py, v)),
            Err(e) => Err(Python::attach(|py| to_py_err(py, e))),
        }
    })
}

/// The envelopes `download_attestations` returns, as dicts.
fn envelopes_to_py(py: Python<'_>, lines: Vec<String>) -> PyResult<Py<PyAny>> {
    let list = pyo3::types::PyList::empty(py);
    for line in lines {
        let value: serde_json::Value = serde_json::from_str(&line)
            .map_err(|e| pyo3::exceptions::PyRuntimeError::new_err(format!("envelope: {e}")))?;
        list.append(json_to_py(py, &value)?)?;
    }
    Ok(list.into_any().unbind())
}

/// `all_signatures=`: every signature, or only what the verdict needs.
fn signature_scope(all_signatures: bool) -> ironsign::SignatureScope {
    if all_signatures { ironsign::SignatureScope::All } else { ironsign::SignatureScope::Sufficient }
}

/// `verify_many`'s keyword arguments as the core's batch options.
fn batch_options(max_concurrency: usize, all_signatures: bool) -> Result<ironsign::BatchOptions, Error> {
    if max_concurrency == 0 {
        return Err(invalid_argument("max_concurrency", "must be at least 1"));
    }
    Ok(ironsign::BatchOptions { max_concurrency, scope: signature_scope(all_signatures) })
}

/// `verify_many`'s entries: a `VerificationResult`, or the exception the verification raised.
fn verify_many_to_py(py: Python<'_>, results: Vec<Result<ironsign::VerificationResult, Error>>) -> PyResult<Py<PyAny>> {
    let list = pyo3::types::PyList::empty(py);
    for result in results {
        match result {
            Ok(r) => list.append(Py::new(py, VerificationResult(r))?)?,
            Err(e) => list.append(to_py_err(py, e).into_value(py))?,
        }
    }
    Ok(list.into_any().unbind())
}

/// `sign(attachment=)`: only `"sbom"` (cosign's `--attachment sbom`).
fn attachment_kind(attachment: Option<&str>) -> Result<Option<AttachmentKind>, Error> {
    match attachment {
        None => Ok(None),
        Some("sbom") => Ok(Some(AttachmentKind::Sbom)),
        Some(other) => Err(invalid_argument("attachment", format!("{other:?}: only \"sbom\" can be signed"))),
    }
}

/// Docker's and podman's credential files, in the order those tools read them, from the
/// environment (`DOCKER_CONFIG`, `REGISTRY_AUTH_FILE`, `XDG_RUNTIME_DIR`, `HOME`), as the CLI does.
fn default_config_files() -> Vec<PathBuf> {
    let var = |name: &str| std::env::var_os(name).map(PathBuf::from);
    ironsign::registry::auth::docker_and_podman_config_files(
        var("HOME"),
        var("DOCKER_CONFIG"),
        var("REGISTRY_AUTH_FILE"),
        var("XDG_RUNTIME_DIR"),
    )
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
        timeout: Option<f64>,
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
        let mut options =
            RegistryOptions { insecure_registries: insecure_http, ca_certificates_pem, keychain, ..Default::default() };
        if let Some(seconds) = timeout {
            options.request_timeout = std::time::Duration::try_from_secs_f64(seconds)
                .ok()
                .filter(|d| !d.is_zero())
                .ok_or_else(|| invalid_argument("timeout", format!("{seconds} is not a positive number of seconds")))?;
        }
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

    fn list_artifacts(
        &self,
        reference: &str,
        verification: Option<(Arc<ironsign::Verifier>, ironsign::Policy)>,
        platforms: bool,
    ) -> impl Future<Output = Result<ironsign::list::ArtifactTree, Error>> + Send + 'static {
        let (client, reference) = (self.inner.clone(), parse(reference));
        async move {
            let reference = reference?;
            // The listing future is not provably `Send` (higher-ranked closure lifetimes inside the
            // core), so it runs to completion on a blocking thread of the same runtime.
            let handle = tokio::runtime::Handle::current();
            tokio::task::spawn_blocking(move || {
                let options = ironsign::list::ListOptions {
                    verification: verification.as_ref().map(|(v, p)| (v.as_ref(), p)),
                    platforms,
                    ..Default::default()
                };
                handle.block_on(ironsign::list::list_artifacts(&client, &reference, &options))
            })
            .await
            .map_err(|e| invalid_argument("list_artifacts", e.to_string()))?
        }
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
        scope: ironsign::SignatureScope,
    ) -> impl Future<Output = Result<ironsign::VerificationResult, Error>> + Send + 'static {
        let (client, reference) = (self.inner.clone(), parse(reference));
        let (verifier, policy) = (trust.verifier.clone(), policy.policy.clone());
        async move {
            // Verification is pure and takes well under a millisecond: it runs in place.
            Ok(ironsign::batch::verify_image(&client, &verifier, &reference?, &policy, scope).await?.result)
        }
    }

    /// The core's `verify_many`: one result or error per reference, in order. A reference that does
    /// not parse fails the whole call (it is the caller's input, not an image's verdict).
    fn verify_many(
        &self,
        references: Vec<String>,
        trust: &PyTrustRoot,
        policy: &PyPolicy,
        options: ironsign::BatchOptions,
    ) -> impl Future<Output = Result<Vec<Result<ironsign::VerificationResult, Error>>, Error>> + Send + 'static {
        let (client, verifier, policy) = (self.inner.clone(), trust.verifier.clone(), policy.policy.clone());
        let references: Result<Vec<_>, _> = references.iter().map(|r| parse(r)).collect();
        async move {
            let results = ironsign::batch::verify_many(&client, &verifier, &references?, &policy, &options).await;
            Ok(results.into_iter().map(|r| r.map(|v| v.result)).collect())
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

    fn attest(
        &self,
        reference: &str,
        signer: &PySigner,
        args: AttestArgs,
    ) -> impl Future<Output = Result<ironsign::attach::AttestReport, Error>> + Send + 'static {
        let (client, reference, material) = (self.inner.clone(), parse(reference), signer.material.clone());
        async move {
            let reference = reference?;
            // Reading and converting the predicate (a scanner report may be large) is blocking work.
            let AttestArgs { kind, predicate, predicate_options, options } = args;
            let (kind, predicate) = tokio::task::spawn_blocking(move || {
                let body = predicate.build(&kind, &predicate_options);
                (kind, body)
            })
            .await
            .map_err(|e| invalid_argument("predicate", e.to_string()))?;
            ironsign::attach::attest_image(&client, &reference, &material, kind.uri(), predicate?, &options).await
        }
    }

    fn verify_attestation(
        &self,
        reference: &str,
        trust: &PyTrustRoot,
        policy: &PyPolicy,
        predicate_type: String,
        rego: Vec<RegoPolicy>,
    ) -> impl Future<Output = Result<ironsign::AttestationResult, Error>> + Send + 'static {
        let (client, reference) = (self.inner.clone(), parse(reference));
        let (verifier, policy) = (trust.verifier.clone(), policy.policy.clone());
        async move {
            let reference = reference?;
            let attached = client.fetch_attestations(&reference).await?;
            // Rego evaluation over every statement: off the async workers.
            tokio::task::spawn_blocking(move || {
                verifier.verify_attestations(&attached, &policy, &predicate_type, &rego)
            })
            .await
            .map_err(|e| invalid_argument("rego_policies", e.to_string()))?
        }
    }

    fn download_attestations(
        &self,
        reference: &str,
        predicate_type: Option<String>,
    ) -> impl Future<Output = Result<Vec<String>, Error>> + Send + 'static {
        let (client, reference) = (self.inner.clone(), parse(reference));
        async move {
            let reference = reference?;
            let digest = client.digest_of(&reference).await?;
            let attached = client.fetch_attached(&reference, &digest, AttachmentKind::Attestation).await?;
            Ok(ironsign::download::attestation_lines(&attached, predicate_type.as_deref()))
        }
    }

    fn attach_sbom(
        &self,
        reference: &str,
        sbom: PathBuf,
        declared: (Option<ironsign::sbom::SbomType>, Option<ironsign::sbom::InputFormat>),
    ) -> impl Future<Output = Result<ironsign::attach::AttachReport, Error>> + Send + 'static {
        let (client, reference) = (self.inner.clone(), parse(reference));
        async move {
            let reference = reference?;
            let path = sbom.clone();
            // Detection reads the whole file (streamed): blocking work.
            let detected = tokio::task::spawn_blocking(move || ironsign::sbom::detect_file(&path))
                .await
                .map_err(|e| invalid_argument("sbom", e.to_string()))??;
            let what = sbom.display().to_string();
            let format = ironsign::sbom::check_declared(detected, declared.0, declared.1, &what)?;
            ironsign::attach::attach_sbom(&client, &reference, &sbom, format).await
        }
    }

    fn download_sbom(
        &self,
        reference: &str,
        destination: Option<PathBuf>,
    ) -> impl Future<Output = Result<Sbom, Error>> + Send + 'static {
        let (client, reference) = (self.inner.clone(), parse(reference));
        async move {
            let reference = reference?;
            if let Some(path) = destination {
                let info = ironsign::download::download_sbom(&client, &reference, &path).await?;
                return Ok(Sbom { info, path: Some(path.display().to_string()), content: None });
            }
            // Into a private temporary directory, checked against its digest, then read.
            let io = |path: &std::path::Path, e: std::io::Error| -> Error {
                ironsign::InputError::Io { path: path.display().to_string(), reason: e.to_string() }.into()
            };
            let dir = tempfile::tempdir().map_err(|e| io(&std::env::temp_dir(), e))?;
            let path = dir.path().join("sbom");
            let info = ironsign::download::download_sbom(&client, &reference, &path).await?;
            let content = tokio::fs::read(&path).await.map_err(|e| io(&path, e))?;
            Ok(Sbom { info, path: None, content: Some(content) })
        }
    }
}

fn sign_options(
    annotations: Option<BTreeMap<String, String>>,
    recursive: bool,
    identity: Option<String>,
    attachment: Option<AttachmentKind>,
    bundle_format: bool,
) -> SignOptions {
    SignOptions {
        annotations: annotations.unwrap_or_default(),
        recursive,
        identity,
        attachment,
        format: signature_format(bundle_format),
    }
}

/// `bundle_format=True`: a Sigstore bundle referrer (cosign v3's format) instead of the legacy tag.
pub(crate) fn signature_format(bundle_format: bool) -> ironsign::SignatureFormat {
    if bundle_format { ironsign::SignatureFormat::SigstoreBundle } else { ironsign::SignatureFormat::LegacyTag }
}

/// Trust and policy for a listing: both or neither.
fn listing_verification(
    trust: Option<&PyTrustRoot>,
    policy: Option<&PyPolicy>,
) -> Result<Option<(Arc<ironsign::Verifier>, ironsign::Policy)>, Error> {
    match (trust, policy) {
        (Some(t), Some(p)) => Ok(Some((t.verifier.clone(), p.policy.clone()))),
        (None, None) => Ok(None),
        _ => Err(invalid_argument("trust/policy", "give both trust and policy, or neither")),
    }
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
    /// is). `ca_file`: extra CA certificate file(s) for registry TLS. `timeout`: the longest one
    /// registry request may take, body included, in seconds (default 300).
    #[new]
    #[pyo3(signature = (*, auth = None, insecure_http = None, ca_file = None, config_files = None, timeout = None))]
    fn new(
        py: Python<'_>,
        auth: Option<(String, String)>,
        insecure_http: Option<Vec<String>>,
        ca_file: Option<OneOrMany<PathBuf>>,
        config_files: Option<Vec<PathBuf>>,
        timeout: Option<f64>,
    ) -> PyResult<Self> {
        let build =
            || Client::new(check_auth(auth)?, insecure_http.unwrap_or_default(), ca_file, config_files, timeout);
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

    /// Everything attached to `reference`: signatures, attestations, SBOMs and OCI 1.1 referrers,
    /// per platform of a multi-platform image. With `trust` and `policy`, each signature's
    /// verification status (`verified`, or `rejected` with its code) is included.
    #[pyo3(signature = (reference, trust = None, policy = None, *, platforms = true))]
    fn list_artifacts(
        &self,
        py: Python<'_>,
        reference: &str,
        trust: Option<&PyTrustRoot>,
        policy: Option<&PyPolicy>,
        platforms: bool,
    ) -> PyResult<ArtifactTree> {
        let verification = listing_verification(trust, policy).py_err(py)?;
        block_on(py, self.client.list_artifacts(reference, verification, platforms)).map(ArtifactTree)
    }

    /// Signs `reference` (a tag is resolved once; its digest is signed) and appends the signature
    /// to its `.sig` manifest. `annotations` go into the payload's `optional`; `recursive` signs
    /// every manifest of a multi-platform index too; `identity` replaces the docker-reference.
    /// `attachment="sbom"` signs the image's `.sbom` manifest instead (cosign's `--attachment sbom`).
    /// `bundle_format=True` stores a Sigstore bundle v0.3 referrer as cosign v3 does (the referrers
    /// API, else the `sha256-<hex>` referrers tag) instead of the `.sig` layer Harbor recognises.
    #[pyo3(signature = (reference, signer, *, annotations = None, recursive = false, identity = None, attachment = None,
        bundle_format = false))]
    #[allow(clippy::too_many_arguments)]
    fn sign(
        &self,
        py: Python<'_>,
        reference: &str,
        signer: &PySigner,
        annotations: Option<BTreeMap<String, String>>,
        recursive: bool,
        identity: Option<String>,
        attachment: Option<&str>,
        bundle_format: bool,
    ) -> PyResult<SignReport> {
        let attachment = attachment_kind(attachment).py_err(py)?;
        let options = sign_options(annotations, recursive, identity, attachment, bundle_format);
        block_on(py, self.client.sign(reference, signer, options)).map(SignReport)
    }

    /// Fetches the signatures of `reference` and verifies them against `trust` and `policy`.
    /// Raises `NoSignaturesError`, `NoMatchingSignatureError`, `ImageNotFoundError`, ...
    /// The Sigstore bundle referrers are read only when no legacy `.sig` signature satisfies the
    /// policy (the same verdict, fewer requests); `all_signatures=True` reads and lists every one.
    #[pyo3(signature = (reference, trust, policy, *, all_signatures = false))]
    fn verify(
        &self,
        py: Python<'_>,
        reference: &str,
        trust: &PyTrustRoot,
        policy: &PyPolicy,
        all_signatures: bool,
    ) -> PyResult<VerificationResult> {
        block_on(py, self.client.verify(reference, trust, policy, signature_scope(all_signatures)))
            .map(VerificationResult)
    }

    /// Verifies many images with this one client and `trust`'s verifier (its validated
    /// certificate paths are reused), at most `max_concurrency` at once. Returns one entry per
    /// reference, in order: its `VerificationResult`, or the exception its verification raised
    /// (returned, not raised: one bad image does not hide the others' verdicts).
    /// `all_signatures=True` reads and lists every signature in both formats.
    #[pyo3(signature = (references, trust, policy, *, max_concurrency = 16, all_signatures = false))]
    fn verify_many(
        &self,
        py: Python<'_>,
        references: Vec<String>,
        trust: &PyTrustRoot,
        policy: &PyPolicy,
        max_concurrency: usize,
        all_signatures: bool,
    ) -> PyResult<Py<PyAny>> {
        let options = batch_options(max_concurrency, all_signatures).py_err(py)?;
        let results = block_on(py, self.client.verify_many(references, trust, policy, options))?;
        verify_many_to_py(py, results)
    }

    /// Verifies `reference` as a trust configuration says: covered by its image patterns, signed
    /// by its identity under its CAs, with a verified attestation of every required type.
    fn verify_with_trust_config(
        &self,
        py: Python<'_>,
        reference: &str,
        trust_config: &crate::trust::PyTrustConfig,
    ) -> PyResult<crate::results::TrustConfigVerification> {
        block_on(py, crate::trust::verify_future(&self.client, reference, trust_config))
            .map(crate::results::TrustConfigVerification)
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
        let payload = block_on(
            py,
            self.client.generate_payload(reference, sign_options(annotations, false, identity, None, false)),
        )?;
        Ok(PyBytes::new(py, &payload))
    }

    /// Attests `reference`: builds the predicate of `predicate_type` (a cosign `--type` shortcut:
    /// custom, slsaprovenance, slsaprovenance02, slsaprovenance1, spdx, spdxjson, cyclonedx, link,
    /// vuln, openvex, scan-tracker; or a URI) from `predicate` (a path, bytes, or a dict/list),
    /// signs an in-toto statement binding it to the image digest and appends the DSSE envelope
    /// to the image's `.att` manifest. `vuln` takes a Grype, Trivy, Anchore or twistcli report (or
    /// a ready-made predicate); `scanner=` names the scanner when it is not recognised.
    /// `replace` drops the image's attestations of the same type. `bundle_format=True` stores a
    /// Sigstore bundle referrer as cosign v3 does instead of the `.att` layer.
    #[pyo3(signature = (reference, signer, *, predicate, predicate_type = "custom", replace = false,
        statement_version = "v0.1", scanner = None, scanner_version = None, scanner_db_version = None,
        scan_started = None, scan_finished = None, bundle_format = false))]
    #[allow(clippy::too_many_arguments)]
    fn attest(
        &self,
        py: Python<'_>,
        reference: &str,
        signer: &PySigner,
        predicate: &Bound<'_, PyAny>,
        predicate_type: &str,
        replace: bool,
        statement_version: &str,
        scanner: Option<String>,
        scanner_version: Option<String>,
        scanner_db_version: Option<String>,
        scan_started: Option<String>,
        scan_finished: Option<String>,
        bundle_format: bool,
    ) -> PyResult<AttestReport> {
        let args = attest_args(
            py,
            predicate_type,
            predicate,
            replace,
            statement_version,
            scanner,
            scanner_version,
            scanner_db_version,
            scan_started,
            scan_finished,
            bundle_format,
        )?;
        block_on(py, self.client.attest(reference, signer, args)).map(AttestReport)
    }

    /// Verifies the attestations of `reference` of `predicate_type` (shortcut or URI) against
    /// `trust` and `policy`; every verified statement must also satisfy each of `rego_policies`
    /// (`RegoPolicy`, a path, or Rego source text), as in cosign. Raises `NoSignaturesError`,
    /// `NoMatchingSignatureError` (`.rejections`, e.g. `PREDICATE_TYPE_MISMATCH`),
    /// `PolicyDeniedError` (`.denials`), ...
    #[pyo3(signature = (reference, trust, policy, *, predicate_type = "custom", rego_policies = None))]
    fn verify_attestation(
        &self,
        py: Python<'_>,
        reference: &str,
        trust: &PyTrustRoot,
        policy: &PyPolicy,
        predicate_type: &str,
        rego_policies: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<AttestationResult> {
        let (uri, rego) = (predicate_type_uri(py, predicate_type)?, self::rego_policies(py, rego_policies)?);
        block_on(py, self.client.verify_attestation(reference, trust, policy, uri, rego)).map(AttestationResult)
    }

    /// The attestation envelopes of `reference` (unverified), as dicts in cosign's shape
    /// (`payloadType`, `payload` base64, `signatures`); only those whose statement claims
    /// `predicate_type` when given.
    #[pyo3(signature = (reference, *, predicate_type = None))]
    fn download_attestations(
        &self,
        py: Python<'_>,
        reference: &str,
        predicate_type: Option<&str>,
    ) -> PyResult<Py<PyAny>> {
        let uri = predicate_type.map(|t| predicate_type_uri(py, t)).transpose()?;
        let lines = block_on(py, self.client.download_attestations(reference, uri))?;
        envelopes_to_py(py, lines)
    }

    /// Attaches the SBOM file `sbom` to `reference`'s `.sbom` tag (replacing any previous one),
    /// streamed. The format is detected from the content; `sbom_type` (`spdx`, `cyclonedx`,
    /// `syft`) and `input_format` (`json`, `xml`, `text`), when given, must agree with it
    /// (`SbomFormatError`).
    #[pyo3(signature = (reference, sbom, *, sbom_type = None, input_format = None))]
    fn attach_sbom(
        &self,
        py: Python<'_>,
        reference: &str,
        sbom: PathBuf,
        sbom_type: Option<&str>,
        input_format: Option<&str>,
    ) -> PyResult<AttachReport> {
        let declared = declared_sbom(sbom_type, input_format).py_err(py)?;
        block_on(py, self.client.attach_sbom(reference, sbom, declared)).map(AttachReport)
    }

    /// Downloads the SBOM of `reference` (checked against its digest): into memory
    /// (`.content`), or into the file `destination`. Unpacks as `(content, media_type)`.
    #[pyo3(signature = (reference, *, destination = None))]
    fn download_sbom(&self, py: Python<'_>, reference: &str, destination: Option<PathBuf>) -> PyResult<SbomDownload> {
        block_on(py, self.client.download_sbom(reference, destination)).map(SbomDownload)
    }

    /// Copies `source` (every platform) with its `.sig`, `.att` and `.sbom` tags and its OCI
    /// referrers to `destination`, keeping every digest; a re-run copies only what is missing.
    /// `only=["sig", "att", "sbom", "referrer"]` copies just those attachments, not the image
    /// (cosign's `--only`); `force=True` overwrites destination tags that point elsewhere.
    #[pyo3(signature = (source, destination, *, only = None, force = false, max_workers = 4))]
    fn copy(
        &self,
        py: Python<'_>,
        source: &str,
        destination: &str,
        only: Option<Vec<String>>,
        force: bool,
        max_workers: usize,
    ) -> PyResult<TransferReport> {
        let options = transfer_options(only, force, max_workers);
        block_on(py, self.client.copy(source, destination, options)).map(TransferReport)
    }

    /// Saves `reference` with its attachments as an OCI image layout: into the directory `dir`
    /// (the layout `cosign load` and skopeo's `oci:` read) or as one tar file `tar`.
    #[pyo3(signature = (reference, *, dir = None, tar = None, only = None, max_workers = 4))]
    fn save(
        &self,
        py: Python<'_>,
        reference: &str,
        dir: Option<PathBuf>,
        tar: Option<PathBuf>,
        only: Option<Vec<String>>,
        max_workers: usize,
    ) -> PyResult<TransferReport> {
        let options = transfer_options(only, false, max_workers);
        block_on(py, self.client.save(reference, layout_target(dir, tar), options)).map(TransferReport)
    }

    /// Pushes the image saved in the layout `dir` (or the tar `tar`), written by `save` or by
    /// `cosign save`, with its attachments to `destination`. Every digest is checked.
    #[pyo3(signature = (destination, *, dir = None, tar = None, only = None, force = false, max_workers = 4))]
    #[allow(clippy::too_many_arguments)]
    fn load(
        &self,
        py: Python<'_>,
        destination: &str,
        dir: Option<PathBuf>,
        tar: Option<PathBuf>,
        only: Option<Vec<String>>,
        force: bool,
        max_workers: usize,
    ) -> PyResult<TransferReport> {
        let options = transfer_options(only, force, max_workers);
        block_on(py, self.client.load(destination, layout_target(dir, tar), options)).map(TransferReport)
    }

    /// Scans repositories (`REGISTRY/REPO` or `oci:DIR`; `all_repositories=REGISTRY` adds its
    /// catalog) for attachments whose image is gone (or, `include_untagged`, untagged). Deletes
    /// nothing: give the plan to `gc_apply`. `older_than` is a duration such as `"30d"`.
    #[pyo3(signature = (repositories = None, *, all_repositories = None, include_untagged = false, older_than = None, max_workers = 8))]
    fn gc_plan(
        &self,
        py: Python<'_>,
        repositories: Option<Vec<String>>,
        all_repositories: Option<String>,
        include_untagged: bool,
        older_than: Option<&str>,
        max_workers: usize,
    ) -> PyResult<GcPlan> {
        let options = gc_options(include_untagged, older_than, max_workers);
        block_on(py, self.client.gc_plan(repositories.unwrap_or_default(), all_repositories, options)).map(GcPlan)
    }

    /// Deletes the orphans of `plan` by digest, re-checking each right before deleting it.
    #[pyo3(signature = (plan, *, max_workers = 8))]
    fn gc_apply(&self, py: Python<'_>, plan: &GcPlan, max_workers: usize) -> PyResult<GcReport> {
        block_on(py, self.client.gc_apply(plan.0.clone(), max_workers)).map(GcReport)
    }

    /// Scans repositories (`REGISTRY/REPO` or `oci:DIR`; `all_repositories=REGISTRY` adds its
    /// catalog) for images whose newest signature valid under `trust` and `policy` is due: its
    /// certificate expires within `expires_within_days`, or is `signed_by` (a certificate as
    /// bytes, PEM text or a path). Signs nothing: give the plan to `resign_apply`.
    #[pyo3(signature = (repositories, trust, policy, *, all_repositories = None, expires_within_days = None,
        signed_by = None, max_tags = 100_000, max_repositories = 10_000))]
    #[allow(clippy::too_many_arguments)]
    fn resign_plan(
        &self,
        py: Python<'_>,
        repositories: Vec<String>,
        trust: &PyTrustRoot,
        policy: &PyPolicy,
        all_repositories: Option<String>,
        expires_within_days: Option<u64>,
        signed_by: Option<&Bound<'_, PyAny>>,
        max_tags: usize,
        max_repositories: usize,
    ) -> PyResult<ResignPlan> {
        let signed_by = signed_by.map(crate::certs::load_certificate).transpose()?;
        let criterion = resign_criterion(expires_within_days, signed_by);
        let scan = ResignScan { repositories, all_repositories, criterion, max_tags, max_repositories };
        block_on(py, self.client.resign_plan(scan, trust, policy)).map(ResignPlan)
    }

    /// Signs every candidate of `plan` with `signer`, appending one signature each (the old ones
    /// stay). A failure is reported per image, not raised.
    fn resign_apply(&self, py: Python<'_>, plan: &ResignPlan, signer: &PySigner) -> PyResult<ResignReport> {
        block_on(py, self.client.resign_apply(plan.0.clone(), signer)).map(ResignReport)
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
    #[pyo3(signature = (*, auth = None, insecure_http = None, ca_file = None, config_files = None, timeout = None))]
    fn new(
        py: Python<'_>,
        auth: Option<(String, String)>,
        insecure_http: Option<Vec<String>>,
        ca_file: Option<OneOrMany<PathBuf>>,
        config_files: Option<Vec<PathBuf>>,
        timeout: Option<f64>,
    ) -> PyResult<Self> {
        let build =
            || Client::new(check_auth(auth)?, insecure_http.unwrap_or_default(), ca_file, config_files, timeout);
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

    /// See `ironsign.RegistryClient.list_artifacts`.
    #[pyo3(signature = (reference, trust = None, policy = None, *, platforms = true))]
    fn list_artifacts<'py>(
        &self,
        py: Python<'py>,
        reference: &str,
        trust: Option<&PyTrustRoot>,
        policy: Option<&PyPolicy>,
        platforms: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let verification = listing_verification(trust, policy).py_err(py)?;
        awaitable(py, self.client.list_artifacts(reference, verification, platforms), ArtifactTree)
    }

    /// See `ironsign.RegistryClient.sign`.
    #[pyo3(signature = (reference, signer, *, annotations = None, recursive = false, identity = None, attachment = None,
        bundle_format = false))]
    #[allow(clippy::too_many_arguments)]
    fn sign<'py>(
        &self,
        py: Python<'py>,
        reference: &str,
        signer: &PySigner,
        annotations: Option<BTreeMap<String, String>>,
        recursive: bool,
        identity: Option<String>,
        attachment: Option<&str>,
        bundle_format: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let attachment = attachment_kind(attachment).py_err(py)?;
        let options = sign_options(annotations, recursive, identity, attachment, bundle_format);
        awaitable(py, self.client.sign(reference, signer, options), SignReport)
    }

    /// See `ironsign.RegistryClient.verify`.
    #[pyo3(signature = (reference, trust, policy, *, all_signatures = false))]
    fn verify<'py>(
        &self,
        py: Python<'py>,
        reference: &str,
        trust: &PyTrustRoot,
        policy: &PyPolicy,
        all_signatures: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        awaitable(py, self.client.verify(reference, trust, policy, signature_scope(all_signatures)), VerificationResult)
    }

    /// See `ironsign.RegistryClient.verify_many`.
    #[pyo3(signature = (references, trust, policy, *, max_concurrency = 16, all_signatures = false))]
    fn verify_many<'py>(
        &self,
        py: Python<'py>,
        references: Vec<String>,
        trust: &PyTrustRoot,
        policy: &PyPolicy,
        max_concurrency: usize,
        all_signatures: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let options = batch_options(max_concurrency, all_signatures).py_err(py)?;
        awaitable_py(py, self.client.verify_many(references, trust, policy, options), verify_many_to_py)
    }

    /// See `ironsign.RegistryClient.verify_with_trust_config`.
    fn verify_with_trust_config<'py>(
        &self,
        py: Python<'py>,
        reference: &str,
        trust_config: &crate::trust::PyTrustConfig,
    ) -> PyResult<Bound<'py, PyAny>> {
        let fut = crate::trust::verify_future(&self.client, reference, trust_config);
        awaitable(py, fut, crate::results::TrustConfigVerification)
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
        let fut = self.client.generate_payload(reference, sign_options(annotations, false, identity, None, false));
        awaitable(py, fut, |p: Vec<u8>| Python::attach(|py| PyBytes::new(py, &p).unbind()))
    }

    /// See `ironsign.RegistryClient.attest`.
    #[pyo3(signature = (reference, signer, *, predicate, predicate_type = "custom", replace = false,
        statement_version = "v0.1", scanner = None, scanner_version = None, scanner_db_version = None,
        scan_started = None, scan_finished = None, bundle_format = false))]
    #[allow(clippy::too_many_arguments)]
    fn attest<'py>(
        &self,
        py: Python<'py>,
        reference: &str,
        signer: &PySigner,
        predicate: &Bound<'_, PyAny>,
        predicate_type: &str,
        replace: bool,
        statement_version: &str,
        scanner: Option<String>,
        scanner_version: Option<String>,
        scanner_db_version: Option<String>,
        scan_started: Option<String>,
        scan_finished: Option<String>,
        bundle_format: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let args = attest_args(
            py,
            predicate_type,
            predicate,
            replace,
            statement_version,
            scanner,
            scanner_version,
            scanner_db_version,
            scan_started,
            scan_finished,
            bundle_format,
        )?;
        awaitable(py, self.client.attest(reference, signer, args), AttestReport)
    }

    /// See `ironsign.RegistryClient.verify_attestation`.
    #[pyo3(signature = (reference, trust, policy, *, predicate_type = "custom", rego_policies = None))]
    fn verify_attestation<'py>(
        &self,
        py: Python<'py>,
        reference: &str,
        trust: &PyTrustRoot,
        policy: &PyPolicy,
        predicate_type: &str,
        rego_policies: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (uri, rego) = (predicate_type_uri(py, predicate_type)?, self::rego_policies(py, rego_policies)?);
        awaitable(py, self.client.verify_attestation(reference, trust, policy, uri, rego), AttestationResult)
    }

    /// See `ironsign.RegistryClient.download_attestations`.
    #[pyo3(signature = (reference, *, predicate_type = None))]
    fn download_attestations<'py>(
        &self,
        py: Python<'py>,
        reference: &str,
        predicate_type: Option<&str>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let uri = predicate_type.map(|t| predicate_type_uri(py, t)).transpose()?;
        awaitable_py(py, self.client.download_attestations(reference, uri), envelopes_to_py)
    }

    /// See `ironsign.RegistryClient.attach_sbom`.
    #[pyo3(signature = (reference, sbom, *, sbom_type = None, input_format = None))]
    fn attach_sbom<'py>(
        &self,
        py: Python<'py>,
        reference: &str,
        sbom: PathBuf,
        sbom_type: Option<&str>,
        input_format: Option<&str>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let declared = declared_sbom(sbom_type, input_format).py_err(py)?;
        awaitable(py, self.client.attach_sbom(reference, sbom, declared), AttachReport)
    }

    /// See `ironsign.RegistryClient.download_sbom`.
    #[pyo3(signature = (reference, *, destination = None))]
    fn download_sbom<'py>(
        &self,
        py: Python<'py>,
        reference: &str,
        destination: Option<PathBuf>,
    ) -> PyResult<Bound<'py, PyAny>> {
        awaitable(py, self.client.download_sbom(reference, destination), SbomDownload)
    }

    /// See `ironsign.RegistryClient.copy`.
    #[pyo3(signature = (source, destination, *, only = None, force = false, max_workers = 4))]
    fn copy<'py>(
        &self,
        py: Python<'py>,
        source: &str,
        destination: &str,
        only: Option<Vec<String>>,
        force: bool,
        max_workers: usize,
    ) -> PyResult<Bound<'py, PyAny>> {
        let options = transfer_options(only, force, max_workers);
        awaitable(py, self.client.copy(source, destination, options), TransferReport)
    }

    /// See `ironsign.RegistryClient.save`.
    #[pyo3(signature = (reference, *, dir = None, tar = None, only = None, max_workers = 4))]
    fn save<'py>(
        &self,
        py: Python<'py>,
        reference: &str,
        dir: Option<PathBuf>,
        tar: Option<PathBuf>,
        only: Option<Vec<String>>,
        max_workers: usize,
    ) -> PyResult<Bound<'py, PyAny>> {
        let options = transfer_options(only, false, max_workers);
        awaitable(py, self.client.save(reference, layout_target(dir, tar), options), TransferReport)
    }

    /// See `ironsign.RegistryClient.load`.
    #[pyo3(signature = (destination, *, dir = None, tar = None, only = None, force = false, max_workers = 4))]
    #[allow(clippy::too_many_arguments)]
    fn load<'py>(
        &self,
        py: Python<'py>,
        destination: &str,
        dir: Option<PathBuf>,
        tar: Option<PathBuf>,
        only: Option<Vec<String>>,
        force: bool,
        max_workers: usize,
    ) -> PyResult<Bound<'py, PyAny>> {
        let options = transfer_options(only, force, max_workers);
        awaitable(py, self.client.load(destination, layout_target(dir, tar), options), TransferReport)
    }

    /// See `ironsign.RegistryClient.gc_plan`.
    #[pyo3(signature = (repositories = None, *, all_repositories = None, include_untagged = false, older_than = None, max_workers = 8))]
    fn gc_plan<'py>(
        &self,
        py: Python<'py>,
        repositories: Option<Vec<String>>,
        all_repositories: Option<String>,
        include_untagged: bool,
        older_than: Option<&str>,
        max_workers: usize,
    ) -> PyResult<Bound<'py, PyAny>> {
        let options = gc_options(include_untagged, older_than, max_workers);
        awaitable(py, self.client.gc_plan(repositories.unwrap_or_default(), all_repositories, options), GcPlan)
    }

    /// See `ironsign.RegistryClient.gc_apply`.
    #[pyo3(signature = (plan, *, max_workers = 8))]
    fn gc_apply<'py>(&self, py: Python<'py>, plan: &GcPlan, max_workers: usize) -> PyResult<Bound<'py, PyAny>> {
        awaitable(py, self.client.gc_apply(plan.0.clone(), max_workers), GcReport)
    }

    /// See `ironsign.RegistryClient.resign_plan`.
    #[pyo3(signature = (repositories, trust, policy, *, all_repositories = None, expires_within_days = None,
        signed_by = None, max_tags = 100_000, max_repositories = 10_000))]
    #[allow(clippy::too_many_arguments)]
    fn resign_plan<'py>(
        &self,
        py: Python<'py>,
        repositories: Vec<String>,
        trust: &PyTrustRoot,
        policy: &PyPolicy,
        all_repositories: Option<String>,
        expires_within_days: Option<u64>,
        signed_by: Option<&Bound<'_, PyAny>>,
        max_tags: usize,
        max_repositories: usize,
    ) -> PyResult<Bound<'py, PyAny>> {
        let signed_by = signed_by.map(crate::certs::load_certificate).transpose()?;
        let criterion = resign_criterion(expires_within_days, signed_by);
        let scan = ResignScan { repositories, all_repositories, criterion, max_tags, max_repositories };
        awaitable(py, self.client.resign_plan(scan, trust, policy), ResignPlan)
    }

    /// See `ironsign.RegistryClient.resign_apply`.
    fn resign_apply<'py>(&self, py: Python<'py>, plan: &ResignPlan, signer: &PySigner) -> PyResult<Bound<'py, PyAny>> {
        awaitable(py, self.client.resign_apply(plan.0.clone(), signer), ResignReport)
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
            client.verify(reference, trust, policy, ironsign::SignatureScope::Sufficient).await?;
        }
        Ok(start.elapsed().as_secs_f64())
    };
    block_on(py, run)
}
