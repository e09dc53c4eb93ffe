//! Argument and result conversion between Python and the core's types.

use ironsign::{Error, InputError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyList, PyString};
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// A JSON value (what the core's `Serialize` types produce) as plain Python data.
pub fn json_to_py<'py>(py: Python<'py>, value: &serde_json::Value) -> PyResult<Bound<'py, PyAny>> {
    use serde_json::Value;
    Ok(match value {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => i.into_pyobject(py)?.into_any(),
            (None, Some(u)) => u.into_pyobject(py)?.into_any(),
            _ => n.as_f64().unwrap_or(f64::NAN).into_pyobject(py)?.into_any(),
        },
        Value::String(s) => PyString::new(py, s).into_any(),
        Value::Array(items) => {
            PyList::new(py, items.iter().map(|v| json_to_py(py, v)).collect::<PyResult<Vec<_>>>()?)?.into_any()
        }
        Value::Object(map) => {
            let dict = PyDict::new(py);
            for (k, v) in map {
                dict.set_item(k, json_to_py(py, v)?)?;
            }
            dict.into_any()
        }
    })
}

/// An RFC 3339 time from the core as an aware `datetime` (UTC).
pub fn datetime(text: &str) -> Result<time::OffsetDateTime, Error> {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).map_err(|e| {
        ironsign::InputError::InvalidArgument { name: "timestamp".into(), reason: format!("{text:?}: {e}") }.into()
    })
}

/// Reads a file the caller named, as the core reports I/O problems.
pub fn read_file(path: &Path) -> Result<Vec<u8>, Error> {
    std::fs::read(path).map_err(|e| InputError::Io { path: path.display().to_string(), reason: e.to_string() }.into())
}

/// A display name for a path in error messages.
pub fn path_name(path: &Path) -> String {
    path.display().to_string()
}

/// `str | bytes` secret (a password), kept zeroized.
#[derive(Default)]
pub struct Secret(pub Zeroizing<Vec<u8>>);

impl<'a, 'py> FromPyObject<'a, 'py> for Secret {
    type Error = PyErr;

    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        if let Ok(s) = obj.cast::<PyString>() {
            return Ok(Secret(Zeroizing::new(s.to_str()?.as_bytes().to_vec())));
        }
        if let Ok(b) = obj.cast::<PyBytes>() {
            return Ok(Secret(Zeroizing::new(b.as_bytes().to_vec())));
        }
        Err(pyo3::exceptions::PyTypeError::new_err("a password must be str or bytes"))
    }
}

/// `str | os.PathLike | Sequence[str | os.PathLike]` accepted where several files may be given.
pub enum OneOrMany<T> {
    One(T),
    Many(Vec<T>),
}

impl<T> OneOrMany<T> {
    pub fn into_vec(self) -> Vec<T> {
        match self {
            OneOrMany::One(t) => vec![t],
            OneOrMany::Many(v) => v,
        }
    }
}

impl<'a, 'py> FromPyObject<'a, 'py> for OneOrMany<PathBuf> {
    type Error = PyErr;

    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        if obj.cast::<PyString>().is_ok() || obj.hasattr("__fspath__")? {
            return Ok(OneOrMany::One(obj.extract()?));
        }
        Ok(OneOrMany::Many(obj.extract()?))
    }
}

impl<'a, 'py> FromPyObject<'a, 'py> for OneOrMany<String> {
    type Error = PyErr;

    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        if let Ok(s) = obj.cast::<PyString>() {
            return Ok(OneOrMany::One(s.to_str()?.to_owned()));
        }
        Ok(OneOrMany::Many(obj.extract()?))
    }
}
