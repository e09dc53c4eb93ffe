//! Rego policies over verified statements, evaluated as cosign evaluates them
//! (`pkg/cosign/rego`): the query `data.signature.allow`, the decoded in-toto statement as
//! `input`, Rego v0 syntax, and "allowed" only when the query yields exactly one value that is
//! `true`; an undefined result denies. The engine is `regorus`, pure Rust, no I/O.

use crate::error::{InputError, RejectionReason};

/// The query cosign evaluates.
pub const QUERY: &str = "data.signature.allow";

/// A parsed Rego policy.
#[derive(Debug, Clone)]
pub struct RegoPolicy {
    name: String,
    engine: regorus::Engine,
}

impl RegoPolicy {
    /// Parses a policy; `name` (e.g. the file name) identifies it in errors. The syntax is Rego v0
    /// as in cosign; v1 policies that `import rego.v1` parse too.
    pub fn new(name: &str, source: &str) -> Result<Self, InputError> {
        let invalid = |reason: String| InputError::InvalidPolicy { policy: name.to_owned(), reason };
        let mut engine = regorus::Engine::new();
        // cosign evaluates with ast.RegoV0; `import rego.v1` still opts a policy into v1.
        engine.set_rego_v0(true);
        let package = engine.add_policy(name.to_owned(), source.to_owned()).map_err(|e| invalid(e.to_string()))?;
        if package != "data.signature" {
            return Err(invalid(format!("the package is {package}; cosign's query {QUERY} needs `package signature`")));
        }
        Ok(RegoPolicy { name: name.to_owned(), engine })
    }

    /// The policy's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Evaluates the policy with `input`; Ok only when `data.signature.allow` is exactly `true`.
    pub fn evaluate(&self, input: &serde_json::Value) -> Result<(), RejectionReason> {
        let deny = |reason: String| RejectionReason::PolicyDenied { policy: self.name.clone(), reason };
        let mut engine = self.engine.clone();
        engine.set_input(regorus::Value::from(input.clone()));
        let results =
            engine.eval_query(QUERY.to_owned(), false).map_err(|e| deny(format!("evaluation failed: {e}")))?;
        let values: Vec<&regorus::Value> =
            results.result.iter().flat_map(|r| r.expressions.iter().map(|e| &e.value)).collect();
        match values.as_slice() {
            [] => Err(deny(format!("the result is undefined for query {QUERY}"))),
            [v] if **v == regorus::Value::Bool(true) => Ok(()),
            [v] => Err(deny(format!("{QUERY} is {v}, not true"))),
            _ => Err(deny(format!("{QUERY} produced {} values", values.len()))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const POLICY: &str = r#"
package signature

default allow = false

allow {
    input.predicateType == "t"
    count(unjustified) == 0
}

unjustified[f.identifier] {
    f := input.predicate.findings[_]
    f.severity == "critical"
    not justified(f)
}

justified(f) {
    f.status == "approved"
    f.justification != ""
}
"#;

    #[test]
    fn allows_and_denies() {
        let p = RegoPolicy::new("p.rego", POLICY).unwrap();
        let ok = json!({"predicateType": "t", "predicate": {"findings": [
            {"identifier": "a", "severity": "critical", "status": "approved", "justification": "x"},
            {"identifier": "b", "severity": "low", "status": "pending"}]}});
        assert!(p.evaluate(&ok).is_ok());
        let bad = json!({"predicateType": "t", "predicate": {"findings": [
            {"identifier": "a", "severity": "critical", "status": "pending", "justification": "x"}]}});
        assert_eq!(p.evaluate(&bad).unwrap_err().code(), "POLICY_DENIED");
        assert!(p.evaluate(&json!({"predicateType": "u"})).is_err());
    }

    #[test]
    fn undefined_and_invalid() {
        let p = RegoPolicy::new("u.rego", "package signature\nallow { input.x == 1 }\n").unwrap();
        assert!(p.evaluate(&json!({"x": 1})).is_ok());
        assert!(p.evaluate(&json!({"x": 2})).is_err());
        assert_eq!(RegoPolicy::new("b.rego", "package signature\nallow {").unwrap_err().code(), "INVALID_POLICY");
        assert_eq!(RegoPolicy::new("o.rego", "package other\nallow = true\n").unwrap_err().code(), "INVALID_POLICY");
    }
}
