//! The one mapping of core errors to JavaScript: every `ironsign::Error` becomes a JS `Error`
//! whose `code` is [`ironsign::Error::code`], `family` is [`ironsign::Error::family`] and
//! `details` is [`ironsign::Error::details`] (keys in camelCase, like every result). Nothing is
//! matched on message text.

use crate::convert::camel_case_keys;
use napi::bindgen_prelude::Object;
use napi::{Env, JsError, JsValue as _, Result};

/// The JS `Error` thrown or rejected for a core error.
pub fn js_error(env: &Env, error: &ironsign::Error) -> napi::Error {
    build(env, error).unwrap_or_else(|e| e)
}

fn build(env: &Env, error: &ironsign::Error) -> Result<napi::Error> {
    // napi_create_error sets `code` from the status string.
    let status = napi::Error::new(error.code().to_owned(), error.to_string());
    // SAFETY: `env` is the live environment of the calling JS thread.
    let raw = unsafe { JsError::<String>::from(status).into_value(env.raw()) };
    if raw.is_null() {
        return Err(napi::Error::from_reason(error.to_string()));
    }
    let mut object = Object::from_raw(env.raw(), raw);
    object.set("name", "IronsignError")?;
    object.set("family", family(error.family()))?;
    object.set("details", camel_case_keys(error.details()))?;
    // A napi::Error made from a JS error object is thrown (or rejected) as that very object.
    Ok(napi::Error::from(object.to_unknown()))
}

/// The family's name, as serialised by the core (`verification`, `registry`, `key`,
/// `certificate`, `input`).
pub fn family(family: ironsign::ErrorFamily) -> String {
    serde_json::to_value(family).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

/// A core `InvalidArgument` error for a bad argument of a binding function.
pub fn invalid_argument(name: &str, reason: impl Into<String>) -> ironsign::Error {
    ironsign::InputError::InvalidArgument { name: name.to_owned(), reason: reason.into() }.into()
}

/// Runs a fallible conversion on the JS thread, turning a core error into the JS error.
pub fn sync<T>(env: &Env, f: impl FnOnce() -> std::result::Result<T, ironsign::Error>) -> Result<T> {
    f().map_err(|e| js_error(env, &e))
}
