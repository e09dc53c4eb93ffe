//! Conversions between JS values and core values. Results cross as plain objects: the core's
//! serde shape with object keys in camelCase, except inside data that belongs to someone else
//! (annotations, payload `optional` fields, in-toto statements, envelopes), kept verbatim.

use napi::Either;
use napi::ValueType;
use napi::bindgen_prelude::{Buffer, FromNapiValue, TypeName, ValidateNapiValue};
use serde::Serialize;
use serde_json::Value;

/// Keys whose values are third-party data: their keys are never renamed.
const VERBATIM: [&str; 6] = ["annotations", "optional", "statement", "envelope", "predicate", "critical"];

/// `layer_digest` → `layerDigest`.
fn camel(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    let mut upper = false;
    for c in key.chars() {
        if c == '_' && !out.is_empty() {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// Renames object keys to camelCase, recursively, leaving [`VERBATIM`] subtrees as they are.
pub fn camel_case_keys(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let verbatim = VERBATIM.contains(&k.as_str());
                    (camel(&k), if verbatim { v } else { camel_case_keys(v) })
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(camel_case_keys).collect()),
        other => other,
    }
}

/// A core result as the plain object handed to JS.
pub fn to_js<T: Serialize>(value: &T) -> Value {
    camel_case_keys(serde_json::to_value(value).unwrap_or(Value::Null))
}

/// PEM (or other) input given as a string or a Buffer.
pub type Bytes = Either<String, Buffer>;

/// The bytes of a string-or-Buffer argument.
pub fn bytes(input: &Bytes) -> Vec<u8> {
    match input {
        Either::A(s) => s.as_bytes().to_vec(),
        Either::B(b) => b.to_vec(),
    }
}

/// One value or a list of them.
pub fn one_or_many<T>(input: Option<&Either<T, Vec<T>>>) -> Vec<&T> {
    match input {
        None => Vec::new(),
        Some(Either::A(one)) => vec![one],
        Some(Either::B(many)) => many.iter().collect(),
    }
}

/// Any JS object (or array), read as JSON. Unlike `serde_json::Value` it is told apart from
/// strings and Buffers in an `Either`.
pub struct JsonValue(pub Value);

impl TypeName for JsonValue {
    fn type_name() -> &'static str {
        "object"
    }

    fn value_type() -> ValueType {
        ValueType::Object
    }
}

impl ValidateNapiValue for JsonValue {}

impl FromNapiValue for JsonValue {
    unsafe fn from_napi_value(env: napi::sys::napi_env, value: napi::sys::napi_value) -> napi::Result<Self> {
        // SAFETY: called by napi with the live env and a value of this call.
        Ok(JsonValue(unsafe { Value::from_napi_value(env, value) }?))
    }
}
