//! The one mapping from [`ironsign::Error`] to the Python exception hierarchy.
//!
//! The classes are defined in `ironsign/_errors.py` (plain Python, so that `InputError` can also be
//! a `ValueError` and every exception pickles). Each carries the stable `code`, the `family` and
//! the structured `details` of the Rust error; the message is the error's `Display`.

use crate::convert::json_to_py;
use ironsign::{Error, ErrorFamily, RegistryError, VerificationError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyModule;

/// The Python class an error is raised as: the only place that decides it.
fn class_name(err: &Error) -> &'static str {
    match err {
        Error::Verification(VerificationError::NoSignatures { .. }) => "NoSignaturesError",
        Error::Verification(VerificationError::NoMatchingSignature { .. }) => "NoMatchingSignatureError",
        Error::Verification(_) => "VerificationError",
        Error::Registry(RegistryError::ImageNotFound { .. }) => "ImageNotFoundError",
        Error::Registry(_) => "RegistryError",
        Error::Key(_) => "KeyMaterialError",
        Error::Certificate(_) => "CertificateError",
        Error::Input(_) => "InputError",
        // `Error` is non-exhaustive: a family added to the core surfaces as the base class until it
        // gets its own class here.
        _ => "IronsignError",
    }
}

fn family_name(family: ErrorFamily) -> &'static str {
    match family {
        ErrorFamily::Verification => "verification",
        ErrorFamily::Registry => "registry",
        ErrorFamily::Key => "key",
        ErrorFamily::Certificate => "certificate",
        ErrorFamily::Input => "input",
        _ => "other",
    }
}

static ERRORS_MODULE: PyOnceLock<Py<PyModule>> = PyOnceLock::new();

/// Converts a core error into the Python exception of its class.
pub fn to_py_err(py: Python<'_>, err: Error) -> PyErr {
    let build = || -> PyResult<PyErr> {
        let module = ERRORS_MODULE.get_or_try_init(py, || py.import("ironsign._errors").map(Bound::unbind))?;
        let class = module.bind(py).getattr(class_name(&err))?;
        let details = json_to_py(py, &err.details())?;
        let exc = class.call1((err.to_string(), err.code(), family_name(err.family()), details))?;
        Ok(PyErr::from_value(exc))
    };
    build().unwrap_or_else(|e| e)
}

/// `Result<T, ironsign::Error>` to `PyResult<T>`.
pub trait IntoPyResult<T> {
    /// Maps the error with [`to_py_err`].
    fn py_err(self, py: Python<'_>) -> PyResult<T>;
}

impl<T, E: Into<Error>> IntoPyResult<T> for Result<T, E> {
    fn py_err(self, py: Python<'_>) -> PyResult<T> {
        self.map_err(|e| to_py_err(py, e.into()))
    }
}

/// An `InputError::InvalidArgument` for a bad argument the binding itself detects.
pub fn invalid_argument(name: &str, reason: impl Into<String>) -> Error {
    ironsign::InputError::InvalidArgument { name: name.into(), reason: reason.into() }.into()
}
