//! The one mapping from [`ironsign::Error`] to the Python exception hierarchy.
//!
//! The classes are defined in `ironsign/_errors.py` (plain Python, so that `InputError` can also be
//! a `ValueError` and every exception pickles). Each carries the stable `code`, the `family` and
//! the structured `details` of the Rust error; the message is the error's `Display`.

use crate::convert::json_to_py;
use ironsign::{
    CertificateError, Error, ErrorFamily, InputError, KeyError, RegistryError, TimestampError, VerificationError,
};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyModule;

/// The Python class an error is raised as: the only place that decides it. Every variant of the
/// core's error enums is named (the `_` arms exist only because the enums are `non_exhaustive`;
/// `tests/test_errors.py` checks against `ironsign-core/src/error.rs` that none falls through).
fn class_name(err: &Error) -> &'static str {
    match err {
        Error::Verification(e) => match e {
            VerificationError::NoSignatures { .. } => "NoSignaturesError",
            VerificationError::NoMatchingSignature { .. } => "NoMatchingSignatureError",
            VerificationError::PolicyDenied { .. } => "PolicyDeniedError",
            VerificationError::ImageNotCovered { .. } => "VerificationError",
            _ => "VerificationError",
        },
        Error::Registry(e) => match e {
            RegistryError::ImageNotFound { .. } => "ImageNotFoundError",
            RegistryError::Unauthorized { .. }
            | RegistryError::Http { .. }
            | RegistryError::Transport { .. }
            | RegistryError::InvalidResponse { .. }
            | RegistryError::TooLarge { .. }
            | RegistryError::TooMany { .. }
            | RegistryError::DigestMismatch { .. }
            | RegistryError::ConcurrentUpdate { .. }
            | RegistryError::Layout { .. }
            | RegistryError::Credentials { .. } => "RegistryError",
            _ => "RegistryError",
        },
        Error::Key(e) => match e {
            KeyError::Parse { .. }
            | KeyError::PasswordRequired { .. }
            | KeyError::WrongPassword { .. }
            | KeyError::Unsupported { .. }
            | KeyError::SigningFailed { .. }
            | KeyError::KmsKeyNotFound { .. }
            | KeyError::KmsAccessDenied { .. }
            | KeyError::KmsKeyDisabled { .. }
            | KeyError::KmsThrottled { .. }
            | KeyError::KmsUnreachable { .. }
            | KeyError::KmsFailed { .. } => "KeyMaterialError",
            _ => "KeyMaterialError",
        },
        Error::Certificate(e) => match e {
            CertificateError::Parse { .. }
            | CertificateError::Expired { .. }
            | CertificateError::NotYetValid { .. }
            | CertificateError::MissingCodeSigning { .. }
            | CertificateError::MissingDigitalSignature { .. }
            | CertificateError::KeyMismatch { .. }
            | CertificateError::UntrustedChain { .. }
            | CertificateError::NotARoot { .. }
            | CertificateError::Unsupported { .. }
            | CertificateError::TooMany { .. }
            | CertificateError::Revoked { .. } => "CertificateError",
            _ => "CertificateError",
        },
        Error::Input(e) => match e {
            InputError::InvalidReference { .. } | InputError::Io { .. } | InputError::InvalidArgument { .. } => {
                "InputError"
            }
            InputError::InvalidPredicate { .. }
            | InputError::SchemaViolation { .. }
            | InputError::UnknownScanner { .. } => "PredicateError",
            InputError::UnknownSbomFormat { .. } | InputError::SbomFormatMismatch { .. } => "SbomFormatError",
            InputError::InvalidPolicy { .. } => "InvalidPolicyError",
            InputError::InvalidTrustConfig { .. } => "InputError",
            _ => "InputError",
        },
        Error::Timestamp(e) => match e {
            TimestampError::Malformed { .. }
            | TimestampError::NotGranted { .. }
            | TimestampError::ImprintMismatch { .. }
            | TimestampError::NonceMismatch { .. }
            | TimestampError::BadSignature { .. }
            | TimestampError::UntrustedAuthority { .. }
            | TimestampError::Request { .. }
            | TimestampError::Missing { .. } => "TimestampError",
            _ => "TimestampError",
        },
        // `Error` is non-exhaustive: a family added to the core surfaces as the base class until it
        // gets its own class here.
        _ => "IronsignError",
    }
}

/// One value of every error variant the core defines, for the test that the mapping names each
/// (`_error_classes()`: code -> class name).
fn every_variant() -> Vec<Error> {
    let s = String::new;
    vec![
        VerificationError::NoSignatures { image: s(), kind: s() }.into(),
        VerificationError::NoMatchingSignature { image: s(), kind: s(), count: 0, rejections: vec![] }.into(),
        VerificationError::PolicyDenied { image: s(), policy: s(), verified: 0, denials: vec![] }.into(),
        RegistryError::ImageNotFound { reference: s() }.into(),
        RegistryError::Unauthorized { registry: s(), scope: s(), status: 401 }.into(),
        RegistryError::Http { method: s(), url: s(), status: 500, message: s() }.into(),
        RegistryError::Transport { registry: s(), reason: s() }.into(),
        RegistryError::InvalidResponse { what: s(), reason: s() }.into(),
        RegistryError::TooLarge { what: s(), size: 0, limit: 0 }.into(),
        RegistryError::TooMany { what: s(), count: 0, limit: 0 }.into(),
        RegistryError::DigestMismatch { what: s(), expected: s(), actual: s() }.into(),
        RegistryError::ConcurrentUpdate { tag: s(), attempts: 0 }.into(),
        RegistryError::Layout { path: s(), reason: s() }.into(),
        RegistryError::Credentials { registry: s(), reason: s() }.into(),
        KeyError::Parse { what: s(), reason: s() }.into(),
        KeyError::PasswordRequired { what: s() }.into(),
        KeyError::WrongPassword { what: s() }.into(),
        KeyError::Unsupported { what: s(), algorithm: s() }.into(),
        KeyError::SigningFailed { reason: s() }.into(),
        KeyError::KmsKeyNotFound { key: s(), detail: s() }.into(),
        KeyError::KmsAccessDenied { key: s(), detail: s() }.into(),
        KeyError::KmsKeyDisabled { key: s(), detail: s() }.into(),
        KeyError::KmsThrottled { key: s(), detail: s() }.into(),
        KeyError::KmsUnreachable { key: s(), detail: s() }.into(),
        KeyError::KmsFailed { key: s(), detail: s() }.into(),
        CertificateError::Parse { what: s(), reason: s() }.into(),
        CertificateError::Expired { subject: s(), not_after: s(), time: s(), timestamp_needed: false }.into(),
        CertificateError::NotYetValid { subject: s(), not_before: s(), time: s() }.into(),
        CertificateError::MissingCodeSigning { subject: s(), found: vec![] }.into(),
        CertificateError::MissingDigitalSignature { subject: s(), found: vec![] }.into(),
        CertificateError::KeyMismatch { subject: s() }.into(),
        CertificateError::UntrustedChain { subject: s(), issuer: s(), detail: s() }.into(),
        CertificateError::NotARoot { subject: s(), issuer: s() }.into(),
        CertificateError::Unsupported { subject: s(), algorithm: s() }.into(),
        CertificateError::TooMany { what: s(), count: 0, limit: 0 }.into(),
        CertificateError::Revoked { subject: s(), serial: s() }.into(),
        InputError::InvalidReference { input: s(), reason: s() }.into(),
        InputError::Io { path: s(), reason: s() }.into(),
        InputError::InvalidArgument { name: s(), reason: s() }.into(),
        InputError::InvalidPredicate { predicate_type: s(), reason: s() }.into(),
        InputError::SchemaViolation { schema: s(), pointer: s(), reason: s() }.into(),
        InputError::UnknownScanner { what: s(), reason: s() }.into(),
        InputError::UnknownSbomFormat { what: s(), reason: s() }.into(),
        InputError::SbomFormatMismatch { what: s(), declared: s(), detected: s() }.into(),
        InputError::InvalidPolicy { policy: s(), reason: s() }.into(),
        VerificationError::ImageNotCovered { image: s(), patterns: vec![] }.into(),
        InputError::InvalidTrustConfig { field: s(), reason: s() }.into(),
        TimestampError::Malformed { reason: s() }.into(),
        TimestampError::NotGranted { status: s(), text: s() }.into(),
        TimestampError::ImprintMismatch { expected: s(), found: s() }.into(),
        TimestampError::NonceMismatch { expected: s(), found: s() }.into(),
        TimestampError::BadSignature { reason: s() }.into(),
        TimestampError::UntrustedAuthority { subject: s(), reason: s() }.into(),
        TimestampError::Request { url: s(), reason: s() }.into(),
        TimestampError::Missing { reason: s() }.into(),
    ]
}

/// Test support: `{code: class name}` for one value of every error variant the binding knows.
#[pyfunction]
pub fn _error_classes() -> std::collections::BTreeMap<&'static str, &'static str> {
    every_variant().iter().map(|e| (e.code(), class_name(e))).collect()
}

/// Test support: raises the exception a core error with `code` maps to (any variant with that
/// code; the details are empty strings).
#[pyfunction]
pub fn _raise_error(py: Python<'_>, code: &str) -> PyResult<()> {
    match every_variant().into_iter().find(|e| e.code() == code) {
        Some(e) => Err(to_py_err(py, e)),
        None => Err(pyo3::exceptions::PyLookupError::new_err(code.to_owned())),
    }
}

fn family_name(family: ErrorFamily) -> &'static str {
    match family {
        ErrorFamily::Verification => "verification",
        ErrorFamily::Registry => "registry",
        ErrorFamily::Key => "key",
        ErrorFamily::Certificate => "certificate",
        ErrorFamily::Input => "input",
        ErrorFamily::Timestamp => "timestamp",
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
