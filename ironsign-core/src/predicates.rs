//! Predicates: cosign's `--type` shortcuts, the vulnerability predicate built from scanner
//! reports, and ironsign's scan-tracker predicate.
//!
//! * The shortcuts map to the predicate type URIs of cosign's `options.PredicateTypeMap` and build
//!   the bodies cosign's `attestation.GenerateStatement` builds (cosign.md §4.1): `custom` wraps
//!   the file as `{"Data": <text>, "Timestamp": <RFC 3339>}`, `spdx` embeds the file as a JSON
//!   string, the JSON types embed the document, and the typed ones (`slsaprovenance*`, `link`)
//!   are checked for their required fields and keep only the fields of cosign's models, as
//!   decoding into those models does. Any other absolute URI takes a JSON object.
//! * The vulnerability predicate (`https://cosign.sigstore.dev/attestation/vuln/v1`, cosign.md
//!   §4.2) is either given ready-made (e.g. Trivy's `--format cosign-vuln`), normalised the way
//!   cosign decodes it into its struct, or built from the raw JSON report of Grype, Trivy,
//!   Anchore Enterprise or Twistlock/Prisma Cloud `twistcli`; the report goes into
//!   `scanner.result` untouched.
//! * The scan-tracker predicate ([`SCAN_TRACKER`]) carries findings with their justifications
//!   and review state; its JSON Schema is `schemas/scan-tracker-v1.json` in this crate and input
//!   is validated against it.

use crate::error::InputError;
use crate::schema::Schema;
use serde_json::{Map, Value, json};
use std::sync::OnceLock;
use std::time::SystemTime;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// cosign's `custom` predicate type.
pub const CUSTOM: &str = "https://cosign.sigstore.dev/attestation/v1";
/// cosign's vulnerability scan predicate type.
pub const VULN: &str = "https://cosign.sigstore.dev/attestation/vuln/v1";
/// SLSA provenance v0.2.
pub const SLSA_PROVENANCE_02: &str = "https://slsa.dev/provenance/v0.2";
/// SLSA provenance v1.
pub const SLSA_PROVENANCE_1: &str = "https://slsa.dev/provenance/v1";
/// SPDX documents (JSON or tag-value text).
pub const SPDX: &str = "https://spdx.dev/Document";
/// CycloneDX BOMs.
pub const CYCLONEDX: &str = "https://cyclonedx.org/bom";
/// in-toto links.
pub const LINK: &str = "https://in-toto.io/Link/v1";
/// OpenVEX documents.
pub const OPENVEX: &str = "https://openvex.dev/ns";
/// ironsign's scan-tracker predicate, version 1 (schema: `schemas/scan-tracker-v1.json`).
pub const SCAN_TRACKER: &str = "https://ironsign.dev/attestation/scan-tracker/v1";

/// The scan-tracker v1 JSON Schema, as shipped.
pub const SCAN_TRACKER_SCHEMA: &str = include_str!("../schemas/scan-tracker-v1.json");

/// What `--type` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PredicateKind {
    /// `custom` (the default): the file as text with a timestamp.
    Custom,
    /// `slsaprovenance`, `slsaprovenance02`.
    SlsaProvenance02,
    /// `slsaprovenance1`.
    SlsaProvenance1,
    /// `spdx`: the file as a JSON string.
    Spdx,
    /// `spdxjson`: an SPDX JSON document.
    SpdxJson,
    /// `cyclonedx`: a CycloneDX JSON document.
    CycloneDx,
    /// `link`: an in-toto link.
    Link,
    /// `vuln`: cosign's vulnerability predicate.
    Vuln,
    /// `openvex`: an OpenVEX document.
    OpenVex,
    /// `scan-tracker` (ironsign): the scan-tracker predicate.
    ScanTracker,
    /// Any other predicate type URI, with a JSON object.
    Uri(String),
}

impl PredicateKind {
    /// Parses a `--type` value: a shortcut or an absolute URI.
    pub fn parse(value: &str) -> Result<Self, InputError> {
        Ok(match value {
            "custom" => PredicateKind::Custom,
            "slsaprovenance" | "slsaprovenance02" => PredicateKind::SlsaProvenance02,
            "slsaprovenance1" => PredicateKind::SlsaProvenance1,
            "spdx" => PredicateKind::Spdx,
            "spdxjson" => PredicateKind::SpdxJson,
            "cyclonedx" => PredicateKind::CycloneDx,
            "link" => PredicateKind::Link,
            "vuln" => PredicateKind::Vuln,
            "openvex" => PredicateKind::OpenVex,
            "scan-tracker" | "scantracker" => PredicateKind::ScanTracker,
            // cosign wraps its own custom URI like the shortcut (`customType`).
            CUSTOM => PredicateKind::Custom,
            SCAN_TRACKER => PredicateKind::ScanTracker,
            uri if is_absolute_uri(uri) => PredicateKind::Uri(uri.to_owned()),
            other => {
                return Err(InputError::arg(
                    "--type",
                    format!(
                        "{other:?} is neither a predicate type shortcut (custom, slsaprovenance, slsaprovenance02, slsaprovenance1, spdx, spdxjson, cyclonedx, link, vuln, openvex, scan-tracker) nor an absolute URI"
                    ),
                ));
            }
        })
    }

    /// The predicate type URI.
    pub fn uri(&self) -> &str {
        match self {
            PredicateKind::Custom => CUSTOM,
            PredicateKind::SlsaProvenance02 => SLSA_PROVENANCE_02,
            PredicateKind::SlsaProvenance1 => SLSA_PROVENANCE_1,
            PredicateKind::Spdx | PredicateKind::SpdxJson => SPDX,
            PredicateKind::CycloneDx => CYCLONEDX,
            PredicateKind::Link => LINK,
            PredicateKind::Vuln => VULN,
            PredicateKind::OpenVex => OPENVEX,
            PredicateKind::ScanTracker => SCAN_TRACKER,
            PredicateKind::Uri(u) => u,
        }
    }
}

/// `scheme:rest` with an RFC 3986 scheme and no whitespace.
fn is_absolute_uri(s: &str) -> bool {
    let Some((scheme, rest)) = s.split_once(':') else { return false };
    let mut chars = scheme.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        && !rest.is_empty()
        && !s.chars().any(char::is_whitespace)
}

/// A scanner whose reports ironsign turns into vulnerability predicates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scanner {
    /// Anchore Grype (`grype -o json`).
    Grype,
    /// Aqua Trivy (`trivy image -f json`).
    Trivy,
    /// Anchore Enterprise (`anchorectl image vulnerabilities -o json`, or the API's vuln listing).
    AnchoreEnterprise,
    /// Twistlock / Prisma Cloud (`twistcli images scan --output-file`).
    Twistcli,
}

impl Scanner {
    /// Parses a scanner name.
    pub fn parse(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "grype" => Some(Scanner::Grype),
            "trivy" => Some(Scanner::Trivy),
            "anchore" | "anchore-enterprise" | "anchorectl" => Some(Scanner::AnchoreEnterprise),
            "twistcli" | "twistlock" | "prisma" | "prisma-cloud" => Some(Scanner::Twistcli),
            _ => None,
        }
    }

    /// Recognises the scanner that wrote a JSON report.
    pub fn detect(report: &Value) -> Option<Self> {
        let obj = report.as_object()?;
        if obj.get("matches").is_some_and(Value::is_array)
            && report.pointer("/descriptor/name").and_then(Value::as_str) == Some("grype")
        {
            return Some(Scanner::Grype);
        }
        if obj.get("SchemaVersion").is_some_and(Value::is_number) && obj.contains_key("ArtifactName") {
            return Some(Scanner::Trivy);
        }
        if obj.get("vulnerabilities").is_some_and(Value::is_array)
            && (obj.contains_key("imageDigest") || obj.contains_key("image_digest"))
        {
            return Some(Scanner::AnchoreEnterprise);
        }
        let first = report.pointer("/results/0").and_then(Value::as_object)?;
        ["vulnerabilities", "vulnerabilityDistribution", "vulnerabilityScanPassed"]
            .iter()
            .any(|k| first.contains_key(*k))
            .then_some(Scanner::Twistcli)
    }

    fn purl(self, version: &str) -> String {
        let base = match self {
            Scanner::Grype => "pkg:github/anchore/grype",
            Scanner::Trivy => "pkg:github/aquasecurity/trivy",
            Scanner::AnchoreEnterprise => "pkg:generic/anchore-enterprise",
            Scanner::Twistcli => "pkg:generic/twistcli",
        };
        if version.is_empty() { base.to_owned() } else { format!("{base}@{version}") }
    }
}

/// What the caller says about a vulnerability report beyond its content.
#[derive(Debug, Clone, Default)]
pub struct VulnOptions {
    /// The scanner, when the report is not recognised (a known name selects its mapping; any
    /// other name becomes `scanner.uri`).
    pub scanner: Option<String>,
    /// `scanner.version`, overriding the report.
    pub scanner_version: Option<String>,
    /// `scanner.db.version`, overriding the report.
    pub db_version: Option<String>,
    /// `metadata.scanStartedOn` (RFC 3339), overriding the report.
    pub scan_started: Option<String>,
    /// `metadata.scanFinishedOn` (RFC 3339), overriding the report.
    pub scan_finished: Option<String>,
}

/// Everything a predicate body may depend on besides the input file.
#[derive(Debug, Clone)]
pub struct PredicateOptions {
    /// The time written by `custom`, and the scan time of reports that carry none.
    pub now: SystemTime,
    /// Vulnerability report options.
    pub vuln: VulnOptions,
}

impl Default for PredicateOptions {
    fn default() -> Self {
        PredicateOptions { now: SystemTime::now(), vuln: VulnOptions::default() }
    }
}

/// Builds the predicate body for `kind` from the input file's bytes; `what` names the input in
/// errors.
pub fn build(kind: &PredicateKind, input: &[u8], what: &str, options: &PredicateOptions) -> Result<Value, InputError> {
    let invalid = |reason: String| InputError::InvalidPredicate { predicate_type: kind.uri().to_owned(), reason };
    let parse_json = || -> Result<Value, InputError> {
        serde_json::from_slice(input).map_err(|e| invalid(format!("{what} is not JSON: {e}")))
    };
    let parse_object = || -> Result<Map<String, Value>, InputError> {
        match parse_json()? {
            Value::Object(o) => Ok(o),
            _ => Err(invalid(format!("{what} is not a JSON object"))),
        }
    };
    let require = |obj: &Map<String, Value>, fields: &[&str]| -> Result<(), InputError> {
        match fields.iter().find(|f| !obj.contains_key(**f)) {
            Some(f) => Err(invalid(format!("required field {f} missing in {what}"))),
            None => Ok(()),
        }
    };
    match kind {
        PredicateKind::Custom => Ok(json!({
            "Data": String::from_utf8_lossy(input),
            "Timestamp": rfc3339_seconds(options.now),
        })),
        PredicateKind::Spdx => Ok(Value::String(String::from_utf8_lossy(input).into_owned())),
        PredicateKind::SpdxJson | PredicateKind::CycloneDx => parse_json(),
        PredicateKind::OpenVex | PredicateKind::Uri(_) => parse_object().map(Value::Object),
        PredicateKind::SlsaProvenance02 => {
            let obj = parse_object()?;
            require(&obj, &["builder", "buildType"])?;
            Ok(project(&Value::Object(obj), &SLSA_02_SHAPE))
        }
        PredicateKind::SlsaProvenance1 => {
            let mut obj = parse_object()?;
            // cosign renames the SLSA v0.2-era spelling before decoding.
            if let Some(meta) =
                obj.get_mut("runDetails").and_then(|r| r.get_mut("metadata")).and_then(Value::as_object_mut)
                && let Some(id) = meta.remove("invocationID")
            {
                meta.insert("invocationId".into(), id);
            }
            require(&obj, &["buildDefinition", "runDetails"])?;
            Ok(project(&Value::Object(obj), &SLSA_1_SHAPE))
        }
        PredicateKind::Link => {
            let obj = parse_object()?;
            require(&obj, &["_type", "name", "materials", "products", "byproducts", "command", "environment"])?;
            Ok(project(&Value::Object(obj), &LINK_SHAPE))
        }
        PredicateKind::Vuln => vuln_predicate(parse_json()?, what, options),
        PredicateKind::ScanTracker => {
            let value = parse_json()?;
            scan_tracker_schema().validate(&value)?;
            Ok(value)
        }
    }
}

/// The fields cosign's typed models keep: decoding into them drops every other field.
enum Shape {
    /// Any value, kept whole.
    Any,
    /// An object with these fields.
    Object(&'static [(&'static str, Shape)]),
    /// An array of this shape.
    Array(&'static Shape),
}

/// An in-toto ResourceDescriptor.
const RESOURCE_DESCRIPTOR: Shape = Shape::Object(&[
    ("uri", Shape::Any),
    ("digest", Shape::Any),
    ("name", Shape::Any),
    ("downloadLocation", Shape::Any),
    ("mediaType", Shape::Any),
    ("content", Shape::Any),
    ("annotations", Shape::Any),
]);

/// in-toto-golang's SLSA provenance v0.2 `ProvenancePredicate`.
const SLSA_02_SHAPE: Shape = Shape::Object(&[
    ("builder", Shape::Object(&[("id", Shape::Any)])),
    ("buildType", Shape::Any),
    (
        "invocation",
        Shape::Object(&[
            ("configSource", Shape::Object(&[("uri", Shape::Any), ("digest", Shape::Any), ("entryPoint", Shape::Any)])),
            ("parameters", Shape::Any),
            ("environment", Shape::Any),
        ]),
    ),
    ("buildConfig", Shape::Any),
    (
        "metadata",
        Shape::Object(&[
            ("buildInvocationId", Shape::Any),
            ("buildStartedOn", Shape::Any),
            ("buildFinishedOn", Shape::Any),
            (
                "completeness",
                Shape::Object(&[("parameters", Shape::Any), ("environment", Shape::Any), ("materials", Shape::Any)]),
            ),
            ("reproducible", Shape::Any),
        ]),
    ),
    ("materials", Shape::Array(&Shape::Object(&[("uri", Shape::Any), ("digest", Shape::Any)]))),
]);

/// The in-toto attestation SLSA provenance v1 `Provenance` message.
const SLSA_1_SHAPE: Shape = Shape::Object(&[
    (
        "buildDefinition",
        Shape::Object(&[
            ("buildType", Shape::Any),
            ("externalParameters", Shape::Any),
            ("internalParameters", Shape::Any),
            ("resolvedDependencies", Shape::Array(&RESOURCE_DESCRIPTOR)),
        ]),
    ),
    (
        "runDetails",
        Shape::Object(&[
            (
                "builder",
                Shape::Object(&[
                    ("id", Shape::Any),
                    ("version", Shape::Any),
                    ("builderDependencies", Shape::Array(&RESOURCE_DESCRIPTOR)),
                ]),
            ),
            (
                "metadata",
                Shape::Object(&[("invocationId", Shape::Any), ("startedOn", Shape::Any), ("finishedOn", Shape::Any)]),
            ),
            ("byproducts", Shape::Array(&RESOURCE_DESCRIPTOR)),
        ]),
    ),
]);

/// in-toto-golang's `Link`.
const LINK_SHAPE: Shape = Shape::Object(&[
    ("_type", Shape::Any),
    ("name", Shape::Any),
    ("materials", Shape::Any),
    ("products", Shape::Any),
    ("byproducts", Shape::Any),
    ("command", Shape::Any),
    ("environment", Shape::Any),
]);

/// Keeps only what `shape` names (values of other JSON types than the shape expects are kept
/// as they are; cosign would refuse them while decoding, and the consumer will).
fn project(value: &Value, shape: &Shape) -> Value {
    match (shape, value) {
        (Shape::Object(fields), Value::Object(map)) => Value::Object(
            fields
                .iter()
                .filter_map(|(name, sub)| map.get(*name).map(|v| ((*name).to_owned(), project(v, sub))))
                .collect(),
        ),
        (Shape::Array(item), Value::Array(items)) => Value::Array(items.iter().map(|v| project(v, item)).collect()),
        _ => value.clone(),
    }
}

/// The scan-tracker schema, loaded once.
pub fn scan_tracker_schema() -> &'static Schema {
    static SCHEMA: OnceLock<Schema> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let value = serde_json::from_str(SCAN_TRACKER_SCHEMA).expect("the shipped schema is JSON");
        Schema::new(value).expect("the shipped schema uses supported keywords")
    })
}

fn rfc3339_seconds(t: SystemTime) -> String {
    crate::pki::format_unix(t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default())
}

/// A time as Go's `time.Time` marshals it (RFC 3339 with trimmed nanoseconds, offset kept).
fn go_time(t: OffsetDateTime) -> String {
    let mut out = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    if t.nanosecond() > 0 {
        let frac = format!("{:09}", t.nanosecond());
        out.push('.');
        out.push_str(frac.trim_end_matches('0'));
    }
    let offset = t.offset();
    if offset.is_utc() {
        out.push('Z');
    } else {
        let (h, m, _) = offset.as_hms();
        out.push_str(&format!("{}{:02}:{:02}", if offset.is_negative() { '-' } else { '+' }, h.abs(), m.abs()));
    }
    out
}

/// How cosign's predicates (Go `time.Time`) spell a missing time.
pub(crate) const GO_ZERO_TIME: &str = "0001-01-01T00:00:00Z";

fn vuln_predicate(report: Value, what: &str, options: &PredicateOptions) -> Result<Value, InputError> {
    let invalid = |reason: String| InputError::InvalidPredicate { predicate_type: VULN.to_owned(), reason };
    let named = options.vuln.scanner.as_deref();
    let scanner = match named {
        Some(name) => Scanner::parse(name),
        None => Scanner::detect(&report),
    };
    let is_predicate = report.get("scanner").is_some_and(Value::is_object)
        || report.get("metadata").is_some_and(Value::is_object) && report.get("invocation").is_some();
    if scanner.is_none() && named.is_none() {
        if is_predicate {
            return normalise_vuln_predicate(&report, options).map_err(invalid);
        }
        return Err(InputError::UnknownScanner {
            what: what.to_owned(),
            reason: "neither a cosign vulnerability predicate nor a Grype, Trivy, Anchore Enterprise or twistcli JSON report".into(),
        });
    }
    let text = |p: &str| report.pointer(p).and_then(Value::as_str).map(str::to_owned);
    let (version, db_uri, db_version, time) = match scanner {
        Some(Scanner::Grype) => {
            let db = report.pointer("/descriptor/db");
            let status = db.and_then(|d| d.get("status")).or(db);
            let built = status.and_then(|s| s.get("built")).and_then(Value::as_str).map(str::to_owned);
            let schema = status.and_then(|s| s.get("schemaVersion")).map(|v| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            });
            let from = status.and_then(|s| s.get("from").or_else(|| s.get("location"))).and_then(Value::as_str);
            (text("/descriptor/version"), from.map(str::to_owned), built.or(schema), text("/descriptor/timestamp"))
        }
        Some(Scanner::Trivy) => (text("/Trivy/Version"), None, None, text("/CreatedAt")),
        Some(Scanner::AnchoreEnterprise) => (None, None, None, None),
        Some(Scanner::Twistcli) => (text("/results/0/scanVersion"), None, None, text("/results/0/scanTime")),
        None => (None, None, None, None),
    };
    let version = options.vuln.scanner_version.clone().or(version).unwrap_or_default();
    let uri = match (scanner, named) {
        (Some(s), _) => s.purl(&version),
        (None, Some(name)) => name.to_owned(),
        (None, None) => unreachable!("handled above"),
    };
    let now = OffsetDateTime::from(options.now);
    let time_or = |given: Option<&String>, fallback: Option<&String>| -> Result<String, InputError> {
        match given.or(fallback) {
            Some(t) => OffsetDateTime::parse(t, &Rfc3339)
                .map(go_time)
                .map_err(|e| invalid(format!("scan time {t:?} is not RFC 3339: {e}"))),
            None => Ok(go_time(now)),
        }
    };
    Ok(json!({
        "invocation": {"parameters": null, "uri": "", "event_id": "", "builder.id": ""},
        "scanner": {
            "uri": uri,
            "version": version,
            "db": {"uri": db_uri.unwrap_or_default(), "version": options.vuln.db_version.clone().or(db_version).unwrap_or_default()},
            "result": report,
        },
        "metadata": {
            "scanStartedOn": time_or(options.vuln.scan_started.as_ref(), time.as_ref())?,
            "scanFinishedOn": time_or(options.vuln.scan_finished.as_ref(), time.as_ref())?,
        },
    }))
}

/// A ready-made vulnerability predicate, reduced to cosign's struct as `cosign attest --type
/// vuln` decodes it: unknown fields dropped, missing strings empty, times re-encoded.
fn normalise_vuln_predicate(input: &Value, options: &PredicateOptions) -> Result<Value, String> {
    let string = |p: &str| -> Result<String, String> {
        match input.pointer(p) {
            None | Some(Value::Null) => Ok(String::new()),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(other) => Err(format!("{p} must be a string, found {other}")),
        }
    };
    let time = |p: &str, given: &Option<String>| -> Result<String, String> {
        match given.as_deref().or_else(|| input.pointer(p).and_then(Value::as_str)) {
            Some(t) => OffsetDateTime::parse(t, &Rfc3339).map(go_time).map_err(|e| format!("{p} {t:?}: {e}")),
            None if input.pointer(p).is_some_and(|v| !v.is_null()) => Err(format!("{p} must be an RFC 3339 string")),
            None => Ok(GO_ZERO_TIME.to_owned()),
        }
    };
    let any = |p: &str| input.pointer(p).cloned().unwrap_or(Value::Null);
    Ok(json!({
        "invocation": {
            "parameters": any("/invocation/parameters"),
            "uri": string("/invocation/uri")?,
            "event_id": string("/invocation/event_id")?,
            "builder.id": string("/invocation/builder.id")?,
        },
        "scanner": {
            "uri": string("/scanner/uri")?,
            "version": options.vuln.scanner_version.clone().map_or_else(|| string("/scanner/version"), Ok)?,
            "db": {"uri": string("/scanner/db/uri")?, "version": options.vuln.db_version.clone().map_or_else(|| string("/scanner/db/version"), Ok)?},
            "result": any("/scanner/result"),
        },
        "metadata": {
            "scanStartedOn": time("/metadata/scanStartedOn", &options.vuln.scan_started)?,
            "scanFinishedOn": time("/metadata/scanFinishedOn", &options.vuln.scan_finished)?,
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn options() -> PredicateOptions {
        PredicateOptions {
            now: SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
            vuln: VulnOptions::default(),
        }
    }

    #[test]
    fn shortcuts_map_to_cosign_uris() {
        assert_eq!(PredicateKind::parse("custom").unwrap().uri(), CUSTOM);
        assert_eq!(PredicateKind::parse("slsaprovenance02").unwrap().uri(), SLSA_PROVENANCE_02);
        assert_eq!(PredicateKind::parse("spdxjson").unwrap().uri(), SPDX);
        assert_eq!(PredicateKind::parse("openvex").unwrap().uri(), OPENVEX);
        assert_eq!(
            PredicateKind::parse("https://x.example/p/v1").unwrap(),
            PredicateKind::Uri("https://x.example/p/v1".into())
        );
        assert!(PredicateKind::parse("notatype").is_err());
        assert!(PredicateKind::parse("https://x y").is_err());
    }

    #[test]
    fn custom_and_spdx_bodies() {
        let p = build(&PredicateKind::Custom, b"hello", "f", &options()).unwrap();
        assert_eq!(p, json!({"Data": "hello", "Timestamp": "2023-11-14T22:13:20Z"}));
        let p = build(&PredicateKind::Spdx, b"SPDXVersion: SPDX-2.3\n", "f", &options()).unwrap();
        assert_eq!(p, json!("SPDXVersion: SPDX-2.3\n"));
        let err = build(&PredicateKind::Uri("https://x/p".into()), b"[1]", "f", &options()).unwrap_err();
        assert_eq!(err.code(), "INVALID_PREDICATE");
        let err = build(&PredicateKind::SlsaProvenance02, br#"{"builder":{}}"#, "f", &options()).unwrap_err();
        assert!(err.to_string().contains("buildType"), "{err}");
    }

    #[test]
    fn typed_predicates_drop_unknown_fields_like_cosign() {
        let slsa = json!({"builder": {"id": "b", "x": 1}, "buildType": "t", "extra": true,
            "materials": [{"uri": "git+https://x", "digest": {"sha1": "00"}, "junk": 2}]});
        let p = build(&PredicateKind::SlsaProvenance02, slsa.to_string().as_bytes(), "f", &options()).unwrap();
        assert_eq!(
            p,
            json!({"builder": {"id": "b"}, "buildType": "t", "materials": [{"uri": "git+https://x", "digest": {"sha1": "00"}}]})
        );
        let v1 = json!({"buildDefinition": {"buildType": "t", "externalParameters": {"k": 1}, "x": 0},
            "runDetails": {"builder": {"id": "b"}, "metadata": {"invocationID": "i"}}});
        let p = build(&PredicateKind::SlsaProvenance1, v1.to_string().as_bytes(), "f", &options()).unwrap();
        assert_eq!(p["runDetails"]["metadata"], json!({"invocationId": "i"}));
        assert!(p["buildDefinition"].get("x").is_none());
    }

    #[test]
    fn vuln_from_scanners() {
        let grype = json!({"matches": [], "descriptor": {"name": "grype", "version": "0.87.0", "timestamp": "2025-01-02T03:04:05.120000000+01:00",
            "db": {"built": "2025-01-01T00:00:00Z", "schemaVersion": 5, "location": "/db"}}});
        let p = build(&PredicateKind::Vuln, grype.to_string().as_bytes(), "g", &options()).unwrap();
        assert_eq!(p["scanner"]["uri"], "pkg:github/anchore/grype@0.87.0");
        assert_eq!(p["scanner"]["db"]["version"], "2025-01-01T00:00:00Z");
        assert_eq!(p["metadata"]["scanStartedOn"], "2025-01-02T03:04:05.12+01:00");
        assert_eq!(p["scanner"]["result"], grype);
        let trivy = json!({"SchemaVersion": 2, "ArtifactName": "img", "CreatedAt": "2025-02-02T00:00:00Z", "Trivy": {"Version": "0.58.1"}, "Results": []});
        let p = build(&PredicateKind::Vuln, trivy.to_string().as_bytes(), "t", &options()).unwrap();
        assert_eq!(p["scanner"]["uri"], "pkg:github/aquasecurity/trivy@0.58.1");
        assert_eq!(p["metadata"]["scanFinishedOn"], "2025-02-02T00:00:00Z");
        let anchore = json!({"imageDigest": "sha256:00", "vulnerabilities": [], "vulnerabilityType": "all"});
        let p = build(&PredicateKind::Vuln, anchore.to_string().as_bytes(), "a", &options()).unwrap();
        assert_eq!(p["scanner"]["uri"], "pkg:generic/anchore-enterprise");
        assert_eq!(p["metadata"]["scanStartedOn"], "2023-11-14T22:13:20Z");
        let twist =
            json!({"results": [{"id": "sha256:00", "vulnerabilities": [], "scanTime": "2025-03-03T00:00:00Z"}]});
        let p = build(&PredicateKind::Vuln, twist.to_string().as_bytes(), "w", &options()).unwrap();
        assert_eq!(p["scanner"]["uri"], "pkg:generic/twistcli");
        let unknown = json!({"findings": []});
        let err = build(&PredicateKind::Vuln, unknown.to_string().as_bytes(), "u", &options()).unwrap_err();
        assert_eq!(err.code(), "UNKNOWN_SCANNER");
        let mut named = options();
        named.vuln.scanner = Some("pkg:generic/inhouse@1".into());
        let p = build(&PredicateKind::Vuln, unknown.to_string().as_bytes(), "u", &named).unwrap();
        assert_eq!(p["scanner"]["uri"], "pkg:generic/inhouse@1");
    }

    #[test]
    fn ready_made_vuln_predicate_is_normalised_like_cosign() {
        let input = json!({"scanner": {"uri": "pkg:x", "result": {"a": 1}, "extra": 1}, "metadata": {"scanStartedOn": "2025-01-01T00:00:00Z"}, "other": 2});
        let p = build(&PredicateKind::Vuln, input.to_string().as_bytes(), "p", &options()).unwrap();
        assert_eq!(
            p,
            json!({"invocation": {"parameters": null, "uri": "", "event_id": "", "builder.id": ""},
                "scanner": {"uri": "pkg:x", "version": "", "db": {"uri": "", "version": ""}, "result": {"a": 1}},
                "metadata": {"scanStartedOn": "2025-01-01T00:00:00Z", "scanFinishedOn": "0001-01-01T00:00:00Z"}})
        );
    }

    #[test]
    fn scan_tracker_is_validated() {
        let ok = json!({"version": "1", "generatedAt": "2025-01-01T00:00:00Z", "riskAssessment": {"state": "approved", "score": 93},
            "findings": [{"identifier": "CVE-2024-1", "severity": "critical", "source": "anchore_cve", "status": "approved", "justification": "not reachable"}]});
        assert!(build(&PredicateKind::ScanTracker, ok.to_string().as_bytes(), "s", &options()).is_ok());
        let mut bad = ok.clone();
        bad["findings"][0]["status"] = json!("maybe");
        let err = build(&PredicateKind::ScanTracker, bad.to_string().as_bytes(), "s", &options()).unwrap_err();
        match err {
            InputError::SchemaViolation { pointer, .. } => assert_eq!(pointer, "/findings/0/status"),
            other => panic!("{other:?}"),
        }
    }
}
