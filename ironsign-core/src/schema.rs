//! A small JSON Schema validator for the predicate schemas ironsign ships.
//!
//! It implements the subset of JSON Schema draft 2020-12 those schemas use: `type`, `enum`,
//! `const`, `required`, `properties`, `additionalProperties` (boolean), `items`, `minItems`,
//! `maxItems`, `minLength`, `maxLength`, `minimum`, `maximum`, `format: date-time` (RFC 3339),
//! local `$ref` into `$defs`, and the annotations (`$schema`, `$id`, `title`, `description`,
//! `$comment`). A general validator (e.g. the `jsonschema` crate) would bring a large dependency
//! tree for three schemas; instead a schema using anything else is refused when loaded, so no
//! keyword is ever silently ignored.

use crate::error::InputError;
use serde_json::Value;

const ANNOTATIONS: [&str; 6] = ["$schema", "$id", "title", "description", "$comment", "$defs"];
const ASSERTIONS: [&str; 14] = [
    "type",
    "enum",
    "const",
    "required",
    "properties",
    "additionalProperties",
    "items",
    "minItems",
    "maxItems",
    "minLength",
    "maxLength",
    "minimum",
    "maximum",
    "format",
];

/// A schema checked to use only the supported keywords.
#[derive(Debug, Clone)]
pub struct Schema {
    root: Value,
    id: String,
}

impl Schema {
    /// Loads a schema, refusing keywords this validator does not implement.
    pub fn new(root: Value) -> Result<Self, String> {
        check_keywords(&root, &root, "#")?;
        let id = root.get("$id").and_then(Value::as_str).unwrap_or("(no $id)").to_owned();
        Ok(Schema { root, id })
    }

    /// The schema's `$id`.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Validates `instance`; the error names the first offending value by JSON Pointer.
    pub fn validate(&self, instance: &Value) -> Result<(), InputError> {
        validate(&self.root, &self.root, instance, &mut String::new())
            .map_err(|(pointer, reason)| InputError::SchemaViolation { schema: self.id.clone(), pointer, reason })
    }
}

fn resolve<'a>(root: &'a Value, reference: &str) -> Option<&'a Value> {
    root.pointer(reference.strip_prefix('#')?)
}

fn check_keywords(root: &Value, schema: &Value, at: &str) -> Result<(), String> {
    let Some(obj) = schema.as_object() else {
        return match schema {
            Value::Bool(_) => Ok(()),
            _ => Err(format!("{at}: a schema must be an object or a boolean")),
        };
    };
    for (key, value) in obj {
        match key.as_str() {
            "$ref" => {
                let target = value.as_str().and_then(|r| resolve(root, r));
                if target.is_none() {
                    return Err(format!("{at}: unresolvable $ref {value}"));
                }
            }
            "$defs" => {
                for (name, def) in value.as_object().into_iter().flatten() {
                    check_keywords(root, def, &format!("{at}/$defs/{name}"))?;
                }
            }
            "properties" => {
                for (name, sub) in value.as_object().into_iter().flatten() {
                    check_keywords(root, sub, &format!("{at}/properties/{name}"))?;
                }
            }
            "items" => check_keywords(root, value, &format!("{at}/items"))?,
            "format" if value != "date-time" => return Err(format!("{at}: unsupported format {value}")),
            "additionalProperties" if !value.is_boolean() => {
                return Err(format!("{at}: additionalProperties must be a boolean here"));
            }
            k if ANNOTATIONS.contains(&k) || ASSERTIONS.contains(&k) => {}
            k => return Err(format!("{at}: unsupported keyword {k:?}")),
        }
    }
    Ok(())
}

fn type_matches(name: &str, v: &Value) -> bool {
    match name {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "number" => v.is_number(),
        "integer" => v.as_i64().is_some() || v.as_u64().is_some() || v.as_f64().is_some_and(|f| f.fract() == 0.0),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        _ => false,
    }
}

type Failure = (String, String);

fn validate(root: &Value, schema: &Value, v: &Value, pointer: &mut String) -> Result<(), Failure> {
    let fail = |pointer: &str, reason: String| Err((pointer.to_owned(), reason));
    let obj = match schema {
        Value::Bool(true) => return Ok(()),
        Value::Bool(false) => return fail(pointer, "no value is allowed here".into()),
        Value::Object(o) => o,
        _ => return Ok(()),
    };
    if let Some(r) = obj.get("$ref").and_then(Value::as_str) {
        let target = resolve(root, r).ok_or_else(|| (pointer.clone(), format!("unresolvable $ref {r}")))?;
        validate(root, target, v, pointer)?;
    }
    if let Some(t) = obj.get("type") {
        let names: Vec<&str> = match t {
            Value::String(s) => vec![s.as_str()],
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        if !names.iter().any(|n| type_matches(n, v)) {
            return fail(pointer, format!("expected {}, found {}", names.join(" or "), json_kind(v)));
        }
    }
    if let Some(allowed) = obj.get("enum").and_then(Value::as_array)
        && !allowed.contains(v)
    {
        let list: Vec<String> = allowed.iter().map(Value::to_string).collect();
        return fail(pointer, format!("{v} is not one of {}", list.join(", ")));
    }
    if let Some(c) = obj.get("const")
        && c != v
    {
        return fail(pointer, format!("expected {c}, found {v}"));
    }
    if let Some(s) = v.as_str() {
        let len = s.chars().count() as u64;
        if let Some(min) = obj.get("minLength").and_then(Value::as_u64)
            && len < min
        {
            return fail(pointer, format!("shorter than {min} characters"));
        }
        if let Some(max) = obj.get("maxLength").and_then(Value::as_u64)
            && len > max
        {
            return fail(pointer, format!("longer than {max} characters"));
        }
        if obj.get("format").and_then(Value::as_str) == Some("date-time")
            && time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).is_err()
        {
            return fail(pointer, format!("{s:?} is not an RFC 3339 date-time"));
        }
    }
    if let Some(n) = v.as_f64() {
        if let Some(min) = obj.get("minimum").and_then(Value::as_f64)
            && n < min
        {
            return fail(pointer, format!("{n} is less than {min}"));
        }
        if let Some(max) = obj.get("maximum").and_then(Value::as_f64)
            && n > max
        {
            return fail(pointer, format!("{n} is more than {max}"));
        }
    }
    if let Some(items) = v.as_array() {
        if let Some(min) = obj.get("minItems").and_then(Value::as_u64)
            && (items.len() as u64) < min
        {
            return fail(pointer, format!("fewer than {min} items"));
        }
        if let Some(max) = obj.get("maxItems").and_then(Value::as_u64)
            && (items.len() as u64) > max
        {
            return fail(pointer, format!("more than {max} items"));
        }
        if let Some(item_schema) = obj.get("items") {
            for (i, item) in items.iter().enumerate() {
                let len = pointer.len();
                pointer.push_str(&format!("/{i}"));
                validate(root, item_schema, item, pointer)?;
                pointer.truncate(len);
            }
        }
    }
    if let Some(map) = v.as_object() {
        for key in obj.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str) {
            if !map.contains_key(key) {
                return fail(pointer, format!("required property {key:?} is missing"));
            }
        }
        let properties = obj.get("properties").and_then(Value::as_object);
        for (key, value) in map {
            let len = pointer.len();
            pointer.push('/');
            pointer.push_str(&key.replace('~', "~0").replace('/', "~1"));
            match properties.and_then(|p| p.get(key)) {
                Some(sub) => validate(root, sub, value, pointer)?,
                None if obj.get("additionalProperties") == Some(&Value::Bool(false)) => {
                    return fail(pointer, format!("property {key:?} is not allowed"));
                }
                None => {}
            }
            pointer.truncate(len);
        }
    }
    Ok(())
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn refuses_unsupported_keywords() {
        assert!(Schema::new(json!({"type": "string", "pattern": "^a"})).is_err());
        assert!(Schema::new(json!({"format": "email"})).is_err());
        assert!(Schema::new(json!({"$ref": "#/$defs/missing"})).is_err());
        assert!(Schema::new(json!({"properties": {"a": {"oneOf": []}}})).is_err());
    }

    #[test]
    fn validates_and_points_at_the_failure() {
        let s = Schema::new(json!({
            "type": "object", "required": ["a"], "additionalProperties": false,
            "properties": {"a": {"type": "array", "items": {"$ref": "#/$defs/x"}}, "t": {"type": "string", "format": "date-time"}},
            "$defs": {"x": {"enum": ["p", "q"]}}
        }))
        .unwrap();
        assert!(s.validate(&json!({"a": ["p", "q"], "t": "2024-01-02T03:04:05Z"})).is_ok());
        let err = |v| match s.validate(&v) {
            Err(InputError::SchemaViolation { pointer, .. }) => pointer,
            other => panic!("{other:?}"),
        };
        assert_eq!(err(json!({"a": ["p", "z"]})), "/a/1");
        assert_eq!(err(json!({})), "");
        assert_eq!(err(json!({"a": [], "b": 1})), "/b");
        assert_eq!(err(json!({"a": [], "t": "yesterday"})), "/t");
    }
}
