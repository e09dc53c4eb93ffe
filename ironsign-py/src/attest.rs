//! Inputs of attestations, SBOMs and Rego policies: argument conversion only. The registry
//! operations that use them are in [`crate::registry`].

use crate::convert::{path_name, read_file};
use crate::errors::{IntoPyResult, invalid_argument};
use ironsign::intoto::StatementVersion;
use ironsign::predicates::{PredicateKind, PredicateOptions, VulnOptions};
use ironsign::sbom::{InputFormat, SbomType};
use ironsign::{Error, RegoPolicy};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString};
use std::path::PathBuf;

/// A predicate as given: a file, its bytes, or a JSON document (dict or list) serialised here.
pub enum PredicateInput {
    File(PathBuf),
    Bytes(Vec<u8>, String),
}

impl PredicateInput {
    /// Extracts `str | os.PathLike` (a file), `bytes` (its content) or `dict | list` (a JSON
    /// document).
    pub fn extract(obj: &Bound<'_, PyAny>) -> PyResult<Self> {
        if let Ok(b) = obj.cast::<PyBytes>() {
            return Ok(PredicateInput::Bytes(b.as_bytes().to_vec(), "predicate".into()));
        }
        if obj.cast::<PyDict>().is_ok() || obj.cast::<PyList>().is_ok() {
            let text: String = obj.py().import("json")?.call_method1("dumps", (obj,))?.extract()?;
            return Ok(PredicateInput::Bytes(text.into_bytes(), "predicate".into()));
        }
        if obj.cast::<PyString>().is_ok() || obj.hasattr("__fspath__")? {
            return Ok(PredicateInput::File(obj.extract()?));
        }
        Err(pyo3::exceptions::PyTypeError::new_err(
            "predicate must be a path (str or os.PathLike), bytes, or a dict or list (a JSON document)",
        ))
    }

    /// The predicate body for `kind` (blocking: reads the file).
    pub fn build(self, kind: &PredicateKind, options: &PredicateOptions) -> Result<serde_json::Value, Error> {
        let (bytes, what) = match self {
            PredicateInput::File(p) => (read_file(&p)?, path_name(&p)),
            PredicateInput::Bytes(b, what) => (b, what),
        };
        Ok(ironsign::predicates::build(kind, &bytes, &what, options)?)
    }
}

/// Everything `attest` takes besides the reference and the signer.
pub struct AttestArgs {
    pub kind: PredicateKind,
    pub predicate: PredicateInput,
    pub predicate_options: PredicateOptions,
    pub options: ironsign::attach::AttestOptions,
}

#[allow(clippy::too_many_arguments)]
pub fn attest_args(
    py: Python<'_>,
    predicate_type: &str,
    predicate: &Bound<'_, PyAny>,
    replace: bool,
    statement_version: &str,
    scanner: Option<String>,
    scanner_version: Option<String>,
    scanner_db_version: Option<String>,
    scan_started: Option<String>,
    scan_finished: Option<String>,
    bundle_format: bool,
) -> PyResult<AttestArgs> {
    let kind = PredicateKind::parse(predicate_type).py_err(py)?;
    let statement_version = match statement_version {
        "v0.1" => StatementVersion::V01,
        "v1" => StatementVersion::V1,
        other => {
            return Err(invalid_argument("statement_version", format!("{other:?}: give \"v0.1\" or \"v1\"")))
                .py_err(py);
        }
    };
    Ok(AttestArgs {
        kind,
        predicate: PredicateInput::extract(predicate)?,
        predicate_options: PredicateOptions {
            now: std::time::SystemTime::now(),
            vuln: VulnOptions { scanner, scanner_version, db_version: scanner_db_version, scan_started, scan_finished },
        },
        options: ironsign::attach::AttestOptions {
            replace,
            statement_version,
            format: crate::registry::signature_format(bundle_format),
        },
    })
}

/// The predicate type URI a `predicate_type=` argument names (a shortcut or a URI).
pub fn predicate_type_uri(py: Python<'_>, predicate_type: &str) -> PyResult<String> {
    Ok(PredicateKind::parse(predicate_type).py_err(py)?.uri().to_owned())
}

/// A Rego policy (`package signature`, rule `allow`), evaluated over each verified statement as
/// cosign's `verify-attestation --policy` does.
#[pyclass(frozen, module = "ironsign", name = "RegoPolicy")]
pub struct PyRegoPolicy {
    pub policy: RegoPolicy,
}

#[pymethods]
impl PyRegoPolicy {
    /// Parses Rego source; `name` identifies it in errors. Raises `InvalidPolicyError`.
    #[new]
    #[pyo3(signature = (source, *, name = "policy.rego"))]
    fn new(py: Python<'_>, source: &str, name: &str) -> PyResult<Self> {
        Ok(PyRegoPolicy { policy: RegoPolicy::new(name, source).py_err(py)? })
    }

    /// Reads and parses a `.rego` file (named by its path in errors).
    #[staticmethod]
    fn from_file(py: Python<'_>, path: PathBuf) -> PyResult<Self> {
        Ok(PyRegoPolicy { policy: policy_file(&path).py_err(py)? })
    }

    /// The name the policy is reported under.
    #[getter]
    fn name(&self) -> &str {
        self.policy.name()
    }

    fn __repr__(&self) -> String {
        format!("RegoPolicy(name={:?})", self.policy.name())
    }
}

fn policy_file(path: &std::path::Path) -> Result<RegoPolicy, Error> {
    let source = String::from_utf8(read_file(path)?)
        .map_err(|_| invalid_argument("rego_policies", format!("{}: not UTF-8 text", path.display())))?;
    Ok(RegoPolicy::new(&path_name(path), &source)?)
}

/// `rego_policies=`: each a `RegoPolicy`, an `os.PathLike` (a file), or a `str`: Rego source when
/// it spans several lines, else a file path.
pub fn rego_policies(py: Python<'_>, policies: Option<&Bound<'_, PyAny>>) -> PyResult<Vec<RegoPolicy>> {
    let Some(policies) = policies else { return Ok(Vec::new()) };
    if policies.cast::<PyString>().is_ok() || policies.hasattr("__fspath__")? {
        return Err(pyo3::exceptions::PyTypeError::new_err("rego_policies must be a list"));
    }
    let mut out = Vec::new();
    for (i, item) in policies.try_iter()?.enumerate() {
        let item = item?;
        if let Ok(p) = item.cast::<PyRegoPolicy>() {
            out.push(p.get().policy.clone());
        } else if let Ok(s) = item.cast::<PyString>() {
            let s = s.to_str()?;
            if s.contains('\n') {
                out.push(RegoPolicy::new(&format!("rego_policies[{i}]"), s).py_err(py)?);
            } else {
                out.push(policy_file(std::path::Path::new(s)).py_err(py)?);
            }
        } else if item.hasattr("__fspath__")? {
            let path: PathBuf = item.extract()?;
            out.push(policy_file(&path).py_err(py)?);
        } else {
            return Err(pyo3::exceptions::PyTypeError::new_err(
                "each rego policy must be a RegoPolicy, Rego source (str) or a path",
            ));
        }
    }
    Ok(out)
}

/// `sbom_type=` and `input_format=` as the core's enums (their serde names: `spdx`, `cyclonedx`,
/// `syft`; `json`, `xml`, `text`).
pub fn declared_sbom(
    sbom_type: Option<&str>,
    input_format: Option<&str>,
) -> Result<(Option<SbomType>, Option<InputFormat>), Error> {
    let t = sbom_type
        .map(|t| {
            serde_json::from_value::<SbomType>(serde_json::Value::String(t.to_owned()))
                .map_err(|_| invalid_argument("sbom_type", format!("{t:?}: give \"spdx\", \"cyclonedx\" or \"syft\"")))
        })
        .transpose()?;
    let f = input_format
        .map(|f| {
            serde_json::from_value::<InputFormat>(serde_json::Value::String(f.to_owned()))
                .map_err(|_| invalid_argument("input_format", format!("{f:?}: give \"json\", \"xml\" or \"text\"")))
        })
        .transpose()?;
    Ok((t, f))
}
