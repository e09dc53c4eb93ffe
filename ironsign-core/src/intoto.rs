//! in-toto Statements (in-toto attestation framework, `spec/v1/statement.md`, and the v0.1
//! layout that cosign writes).
//!
//! A statement binds a *predicate* (what is claimed) to *subjects* (what it is about, by
//! digest). cosign's legacy `attest` writes `_type` `https://in-toto.io/Statement/v0.1` with one
//! subject, the repository name and the image's sha256 (cosign.md §2), so that is ironsign's
//! default; v1 is read and can be written. The two differ only in `_type` for what ironsign
//! uses. Statements are written the way Go's `encoding/json` writes cosign v2's structs
//! (`_type, predicateType, subject, predicate`), and parsed whatever their key order.

use crate::cosign::{go_json_string, go_json_value};
use crate::error::RejectionReason;
use crate::reference::Digest;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `_type` of an in-toto Statement v0.1.
pub const STATEMENT_V01: &str = "https://in-toto.io/Statement/v0.1";
/// `_type` of an in-toto Statement v1.
pub const STATEMENT_V1: &str = "https://in-toto.io/Statement/v1";

/// Which statement layout to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub enum StatementVersion {
    /// `https://in-toto.io/Statement/v0.1`, what `cosign attest` writes.
    #[default]
    V01,
    /// `https://in-toto.io/Statement/v1`.
    V1,
}

impl StatementVersion {
    /// The `_type` URI.
    pub fn type_uri(self) -> &'static str {
        match self {
            StatementVersion::V01 => STATEMENT_V01,
            StatementVersion::V1 => STATEMENT_V1,
        }
    }
}

/// A statement subject: a name and its digests by algorithm.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subject {
    /// The name; cosign writes the repository (`reg/ns/img`).
    #[serde(default)]
    pub name: String,
    /// Digests, e.g. `{"sha256": "<hex>"}`.
    #[serde(default)]
    pub digest: BTreeMap<String, String>,
    /// v1 subject annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<serde_json::Map<String, serde_json::Value>>,
}

/// An in-toto statement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Statement {
    /// The statement `_type` URI.
    #[serde(rename = "_type")]
    pub statement_type: String,
    /// What the statement is about.
    pub subject: Vec<Subject>,
    /// The predicate type URI.
    #[serde(rename = "predicateType")]
    pub predicate_type: String,
    /// The predicate: any JSON (an object, or a string for cosign's `spdx` type).
    #[serde(default)]
    pub predicate: serde_json::Value,
}

impl Statement {
    /// The statement cosign writes for an image: one subject named after the repository, with
    /// the image's sha256.
    pub fn for_image(
        version: StatementVersion,
        repository: &str,
        digest: &Digest,
        predicate_type: &str,
        predicate: serde_json::Value,
    ) -> Self {
        Statement {
            statement_type: version.type_uri().to_owned(),
            subject: vec![Subject {
                name: repository.to_owned(),
                digest: BTreeMap::from([(digest.algorithm().to_owned(), digest.hex().to_owned())]),
                annotations: None,
            }],
            predicate_type: predicate_type.to_owned(),
            predicate,
        }
    }

    /// The statement bytes: cosign v2's key order, Go's escaping.
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = String::with_capacity(256);
        out.push_str(r#"{"_type":"#);
        go_json_string(&mut out, &self.statement_type);
        out.push_str(r#","predicateType":"#);
        go_json_string(&mut out, &self.predicate_type);
        out.push_str(r#","subject":["#);
        for (i, s) in self.subject.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(r#"{"name":"#);
            go_json_string(&mut out, &s.name);
            out.push_str(r#","digest":"#);
            let digest = serde_json::Value::Object(
                s.digest.iter().map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone()))).collect(),
            );
            go_json_value(&mut out, &digest);
            if let Some(a) = &s.annotations {
                out.push_str(r#","annotations":"#);
                go_json_value(&mut out, &serde_json::Value::Object(a.clone()));
            }
            out.push('}');
        }
        out.push_str(r#"],"predicate":"#);
        go_json_value(&mut out, &self.predicate);
        out.push('}');
        out.into_bytes()
    }

    /// Parses a statement of a known `_type` (v0.1 or v1).
    pub fn parse(bytes: &[u8]) -> Result<Self, RejectionReason> {
        let statement: Statement = serde_json::from_slice(bytes)
            .map_err(|e| RejectionReason::InvalidPayload { reason: format!("not an in-toto statement: {e}") })?;
        if statement.statement_type != STATEMENT_V01 && statement.statement_type != STATEMENT_V1 {
            return Err(RejectionReason::PayloadType {
                found: statement.statement_type,
                expected: format!("{STATEMENT_V01} or {STATEMENT_V1}"),
            });
        }
        Ok(statement)
    }

    /// The subject whose digest of the same algorithm equals `digest` (subjects without that
    /// algorithm are skipped, as cosign's claim verifier does).
    pub fn subject_for(&self, digest: &Digest) -> Result<&Subject, RejectionReason> {
        self.subject
            .iter()
            .find(|s| s.digest.get(digest.algorithm()).is_some_and(|h| h.eq_ignore_ascii_case(digest.hex())))
            .ok_or_else(|| RejectionReason::SubjectMismatch {
                expected: digest.hex().to_owned(),
                found: self
                    .subject
                    .iter()
                    .map(|s| {
                        let d: Vec<String> = s.digest.iter().map(|(a, h)| format!("{a}:{h}")).collect();
                        format!("{}@{}", s.name, d.join(","))
                    })
                    .collect(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_cosign_v2_layout_and_reads_v3() {
        let d = Digest::sha256(b"img");
        let s = Statement::for_image(
            StatementVersion::V01,
            "reg/ns/img",
            &d,
            "https://example/p",
            serde_json::json!({"b": "<x>", "a": 1}),
        );
        let json = String::from_utf8(s.to_json()).unwrap();
        assert_eq!(
            json,
            format!(
                r#"{{"_type":"https://in-toto.io/Statement/v0.1","predicateType":"https://example/p","subject":[{{"name":"reg/ns/img","digest":{{"sha256":"{}"}}}}],"predicate":{{"a":1,"b":"\u003cx\u003e"}}}}"#,
                d.hex()
            )
        );
        assert_eq!(Statement::parse(json.as_bytes()).unwrap(), s);
        // protojson order with whitespace, v1 type.
        let v3 = format!(
            r#"{{"_type": "https://in-toto.io/Statement/v1", "subject":[{{"name":"r","digest":{{"sha256":"{}"}}}}],  "predicateType":"t","predicate":"text"}}"#,
            d.hex()
        );
        let p = Statement::parse(v3.as_bytes()).unwrap();
        assert_eq!(p.predicate, serde_json::json!("text"));
        assert!(p.subject_for(&d).is_ok());
        assert!(matches!(p.subject_for(&Digest::sha256(b"other")), Err(RejectionReason::SubjectMismatch { .. })));
        let bad = br#"{"_type":"https://example/Statement","subject":[],"predicateType":"t","predicate":{}}"#;
        assert!(matches!(Statement::parse(bad), Err(RejectionReason::PayloadType { .. })));
    }
}
