//! Trust configurations and the verification instructions generated from them (issue 8):
//! argument conversion only.

use crate::convert::{json_to_py, path_name};
use crate::errors::IntoPyResult;
use crate::material::{PyPolicy, PyTrustRoot};
use crate::registry::Client;
use ironsign::instructions::{InstructionsFormat, InstructionsOptions};
use ironsign::{Error, ImageReference, InputError, TrustConfig};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::path::PathBuf;
use std::sync::Arc;

/// A trust configuration (docs/trust-config.md): the root CAs, intermediates, signer identity,
/// image patterns and required attestations that `verify_with_trust_config` checks and
/// `instructions` turns into commands and admission policies.
#[pyclass(frozen, module = "ironsign", name = "TrustConfig")]
pub struct PyTrustConfig {
    pub config: Arc<TrustConfig>,
}

#[pymethods]
impl PyTrustConfig {
    /// Reads a YAML or JSON configuration file; the PEM files it names are relative to it.
    #[staticmethod]
    fn from_file(py: Python<'_>, path: PathBuf) -> PyResult<Self> {
        let config = py.detach(|| TrustConfig::from_file(&path)).py_err(py)?;
        Ok(PyTrustConfig { config: Arc::new(config) })
    }

    /// Parses configuration text; the PEM files it names are relative to `base_dir` (default:
    /// the current directory).
    #[staticmethod]
    #[pyo3(signature = (text, *, base_dir = None))]
    fn from_text(py: Python<'_>, text: &str, base_dir: Option<PathBuf>) -> PyResult<Self> {
        let base = base_dir.unwrap_or_default();
        let load = || {
            TrustConfig::parse(text, |file| {
                let p = base.join(file);
                std::fs::read(&p)
                    .map_err(|e| Error::from(InputError::Io { path: path_name(&p), reason: e.to_string() }))
            })
        };
        let config = py.detach(load).py_err(py)?;
        Ok(PyTrustConfig { config: Arc::new(config) })
    }

    /// The name of the generated policies.
    #[getter]
    fn name(&self) -> &str {
        self.config.name()
    }

    /// The image patterns (REGISTRY/REPOSITORY globs).
    #[getter]
    fn images(&self) -> Vec<String> {
        self.config.images().iter().map(|p| p.as_str().to_owned()).collect()
    }

    /// The predicate type URIs every image must carry a verified attestation of.
    #[getter]
    fn required_predicate_types(&self) -> Vec<String> {
        self.config.required_predicate_types().to_vec()
    }

    /// The trust material: its roots and intermediates.
    #[getter]
    fn trust_root(&self) -> PyTrustRoot {
        PyTrustRoot::new(self.config.trust_root().clone())
    }

    /// The identity policy.
    #[getter]
    fn policy(&self) -> PyPolicy {
        let description = match self.config.identity() {
            Some(ironsign::trust_config::SignerIdentity::San(s)) => format!("identity={s:?}"),
            Some(ironsign::trust_config::SignerIdentity::SanRegex(r)) => format!("identity_regexp={r:?}"),
            None => format!("keys={}", self.config.keys().len()),
        };
        PyPolicy::from_policy(self.config.policy(), description)
    }

    /// Whether an image pattern covers `reference`.
    fn covers(&self, py: Python<'_>, reference: &str) -> PyResult<bool> {
        let image = ImageReference::parse(reference).map_err(Error::from).py_err(py)?;
        Ok(self.config.covers(&image))
    }

    /// The document as written, as plain Python data.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let value = serde_json::to_value(self.config.document())
            .map_err(|e| pyo3::exceptions::PyRuntimeError::new_err(e.to_string()))?;
        json_to_py(py, &value)
    }

    fn __repr__(&self) -> String {
        format!("TrustConfig(name={:?}, images={:?})", self.config.name(), self.images())
    }
}

/// Generates verification instructions from `trust_config`: `format` is `cosign`, `kyverno`,
/// `policy-controller`, `podman`, `markdown` or `html`. Returns `{relative path: content}`, the
/// main file first. With `image`, the instructions name it (it must be covered).
#[pyfunction]
#[pyo3(signature = (format, trust_config, image = None))]
pub fn instructions<'py>(
    py: Python<'py>,
    format: &str,
    trust_config: &PyTrustConfig,
    image: Option<&str>,
) -> PyResult<Bound<'py, PyDict>> {
    let generate = || -> Result<_, Error> {
        let format = InstructionsFormat::parse(format)?;
        let image = image.map(ImageReference::parse).transpose()?;
        ironsign::instructions::generate(format, &trust_config.config, image.as_ref(), &InstructionsOptions::default())
    };
    let generated = generate().py_err(py)?;
    let files = PyDict::new(py);
    for f in generated.files {
        files.set_item(f.path, f.content)?;
    }
    Ok(files)
}

/// The future behind `RegistryClient.verify_with_trust_config`.
pub fn verify_future(
    client: &Client,
    reference: &str,
    trust_config: &PyTrustConfig,
) -> impl Future<Output = Result<ironsign::trust_config::TrustConfigVerification, Error>> + Send + 'static {
    let (client, config) = (client.inner.clone(), trust_config.config.clone());
    let reference = ImageReference::parse(reference).map_err(Error::from);
    async move { ironsign::trust_config::verify_image(&client, &config, &reference?).await }
}
