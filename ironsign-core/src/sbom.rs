//! SBOM formats: detection from the content, and cosign's media types (cosign.md §3).
//!
//! `cosign attach sbom` takes the format on trust (`--type`, `--input-format`, or a `.json`
//! file name). ironsign looks at the content instead, so a CycloneDX file is never published as
//! SPDX: a declared format that disagrees with the detected one is an error. Detection streams:
//! JSON documents are parsed once without being held (only the few top-level keys that tell the
//! formats apart are kept), XML and tag-value are recognised from their first 64 KiB.
//!
//! Hints, from the specifications: CycloneDX JSON has `"bomFormat": "CycloneDX"`, CycloneDX XML a
//! root `bom` element in a `http://cyclonedx.org/schema/bom/…` namespace, SPDX 2.x JSON an
//! `spdxVersion` of `SPDX-2.x`, SPDX tag-value starts with `SPDXVersion:`, Syft JSON has a
//! `descriptor` naming `syft` (or Syft's schema URL).

use crate::error::InputError;
use serde::{Deserialize, Serialize};
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

/// An SBOM format ironsign recognises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SbomFormat {
    /// SPDX 2.x JSON.
    SpdxJson,
    /// SPDX 2.x tag-value text.
    SpdxTagValue,
    /// CycloneDX JSON.
    CycloneDxJson,
    /// CycloneDX XML.
    CycloneDxXml,
    /// Syft's own JSON.
    SyftJson,
}

/// cosign's `--type` of `attach sbom`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SbomType {
    /// SPDX.
    Spdx,
    /// CycloneDX.
    CycloneDx,
    /// Syft.
    Syft,
}

/// cosign's `--input-format` of `attach sbom`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InputFormat {
    /// JSON.
    Json,
    /// XML.
    Xml,
    /// Text (tag-value).
    Text,
}

impl SbomFormat {
    /// Every format.
    pub const ALL: [SbomFormat; 5] = [
        SbomFormat::SpdxJson,
        SbomFormat::SpdxTagValue,
        SbomFormat::CycloneDxJson,
        SbomFormat::CycloneDxXml,
        SbomFormat::SyftJson,
    ];

    /// The layer media type cosign uses for it (`pkg/types/media.go`).
    pub fn media_type(self) -> &'static str {
        match self {
            SbomFormat::SpdxJson => "text/spdx+json",
            SbomFormat::SpdxTagValue => "text/spdx",
            SbomFormat::CycloneDxJson => "application/vnd.cyclonedx+json",
            SbomFormat::CycloneDxXml => "application/vnd.cyclonedx+xml",
            SbomFormat::SyftJson => "application/vnd.syft+json",
        }
    }

    /// The format a layer media type names (parameters ignored).
    pub fn from_media_type(media_type: &str) -> Option<Self> {
        let base = media_type.split(';').next().unwrap_or("").trim();
        Self::ALL.into_iter().find(|f| f.media_type() == base)
    }

    /// Its `--type`.
    pub fn sbom_type(self) -> SbomType {
        match self {
            SbomFormat::SpdxJson | SbomFormat::SpdxTagValue => SbomType::Spdx,
            SbomFormat::CycloneDxJson | SbomFormat::CycloneDxXml => SbomType::CycloneDx,
            SbomFormat::SyftJson => SbomType::Syft,
        }
    }

    /// Its `--input-format`.
    pub fn input_format(self) -> InputFormat {
        match self {
            SbomFormat::SpdxJson | SbomFormat::CycloneDxJson | SbomFormat::SyftJson => InputFormat::Json,
            SbomFormat::SpdxTagValue => InputFormat::Text,
            SbomFormat::CycloneDxXml => InputFormat::Xml,
        }
    }
}

impl std::fmt::Display for SbomFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SbomFormat::SpdxJson => "SPDX JSON",
            SbomFormat::SpdxTagValue => "SPDX tag-value",
            SbomFormat::CycloneDxJson => "CycloneDX JSON",
            SbomFormat::CycloneDxXml => "CycloneDX XML",
            SbomFormat::SyftJson => "Syft JSON",
        })
    }
}

/// How much of a non-JSON document is looked at.
const PREFIX: usize = 64 << 10;

/// The top-level keys that tell the JSON formats apart; everything else is skipped unread.
#[derive(Deserialize)]
struct JsonHints {
    #[serde(rename = "bomFormat")]
    bom_format: Option<serde_json::Value>,
    #[serde(rename = "spdxVersion")]
    spdx_version: Option<serde_json::Value>,
    descriptor: Option<serde_json::Value>,
    schema: Option<serde_json::Value>,
}

/// Detects the format of an SBOM read from `reader`; `what` names it in errors.
pub fn detect(reader: impl Read, what: &str) -> Result<SbomFormat, InputError> {
    let unknown = |reason: String| InputError::UnknownSbomFormat { what: what.to_owned(), reason };
    let mut reader = BufReader::with_capacity(PREFIX, reader);
    let prefix = reader.fill_buf().map_err(|e| InputError::Io { path: what.to_owned(), reason: e.to_string() })?;
    let text = String::from_utf8_lossy(prefix);
    let trimmed = text.trim_start_matches('\u{feff}').trim_start();
    match trimmed.chars().next() {
        None => Err(unknown("it is empty".into())),
        Some('{') => {
            let hints: JsonHints =
                serde_json::from_reader(reader).map_err(|e| unknown(format!("invalid JSON: {e}")))?;
            let string = |v: &Option<serde_json::Value>, p: &str| {
                v.as_ref()
                    .and_then(|v| if p.is_empty() { v.as_str() } else { v.pointer(p)?.as_str() })
                    .map(str::to_owned)
            };
            if string(&hints.bom_format, "").as_deref() == Some("CycloneDX") {
                Ok(SbomFormat::CycloneDxJson)
            } else if string(&hints.spdx_version, "").is_some_and(|v| v.starts_with("SPDX-")) {
                Ok(SbomFormat::SpdxJson)
            } else if string(&hints.descriptor, "/name").as_deref() == Some("syft")
                || string(&hints.schema, "/url").is_some_and(|u| u.contains("anchore/syft"))
            {
                Ok(SbomFormat::SyftJson)
            } else {
                Err(unknown(
                    "a JSON document without bomFormat \"CycloneDX\", an SPDX-2.x spdxVersion, or a Syft descriptor"
                        .into(),
                ))
            }
        }
        Some('<') => {
            if is_cyclonedx_xml(trimmed) {
                Ok(SbomFormat::CycloneDxXml)
            } else {
                Err(unknown("an XML document whose root is not a CycloneDX bom element".into()))
            }
        }
        Some(_) => {
            let first = trimmed.lines().map(str::trim).find(|l| !l.is_empty() && !l.starts_with('#')).unwrap_or("");
            if first.starts_with("SPDXVersion:") {
                Ok(SbomFormat::SpdxTagValue)
            } else {
                Err(unknown(format!("text whose first line is not SPDXVersion: ({:?})", truncate(first, 60))))
            }
        }
    }
}

fn truncate(s: &str, n: usize) -> &str {
    s.char_indices().nth(n).map(|(i, _)| &s[..i]).unwrap_or(s)
}

/// The root element of an XML prefix is `bom` (any prefix) in a CycloneDX namespace.
fn is_cyclonedx_xml(xml: &str) -> bool {
    let mut rest = xml;
    // Skip the declaration, processing instructions, comments and a doctype.
    loop {
        rest = rest.trim_start();
        if let Some(r) = rest.strip_prefix("<?") {
            rest = r.split_once("?>").map(|(_, after)| after).unwrap_or("");
        } else if let Some(r) = rest.strip_prefix("<!--") {
            rest = r.split_once("-->").map(|(_, after)| after).unwrap_or("");
        } else if let Some(r) = rest.strip_prefix("<!") {
            rest = r.split_once('>').map(|(_, after)| after).unwrap_or("");
        } else {
            break;
        }
    }
    let Some(tag) = rest.strip_prefix('<').and_then(|r| r.split_once('>')).map(|(t, _)| t) else { return false };
    let name = tag.split_whitespace().next().unwrap_or("");
    let local = name.rsplit(':').next().unwrap_or("");
    local == "bom" && tag.contains("http://cyclonedx.org/schema/bom")
}

/// Detects the format of an SBOM file.
pub fn detect_file(path: &Path) -> Result<SbomFormat, InputError> {
    let file = std::fs::File::open(path).map_err(|e| InputError::io(path, e))?;
    detect(file, &path.display().to_string())
}

/// The format to publish: the detected one, after checking it against what the caller declared.
pub fn check_declared(
    detected: SbomFormat,
    declared_type: Option<SbomType>,
    declared_input: Option<InputFormat>,
    what: &str,
) -> Result<SbomFormat, InputError> {
    let type_ok = declared_type.is_none_or(|t| t == detected.sbom_type());
    let input_ok = declared_input.is_none_or(|i| i == detected.input_format());
    if type_ok && input_ok {
        return Ok(detected);
    }
    let mut declared = Vec::new();
    if let Some(t) = declared_type {
        declared.push(format!(
            "--type {}",
            serde_json::to_value(t).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
        ));
    }
    if let Some(i) = declared_input {
        declared.push(format!(
            "--input-format {}",
            serde_json::to_value(i).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
        ));
    }
    Err(InputError::SbomFormatMismatch {
        what: what.to_owned(),
        declared: declared.join(" "),
        detected: detected.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Result<SbomFormat, InputError> {
        detect(s.as_bytes(), "t")
    }

    #[test]
    fn detects_each_format() {
        assert_eq!(d(r#"{"bomFormat":"CycloneDX","specVersion":"1.6"}"#).unwrap(), SbomFormat::CycloneDxJson);
        assert_eq!(d(r#" {"SPDXID":"SPDXRef-DOCUMENT","spdxVersion":"SPDX-2.3"}"#).unwrap(), SbomFormat::SpdxJson);
        assert_eq!(
            d(r#"{"artifacts":[{"x":"y"}],"descriptor":{"name":"syft","version":"1"}}"#).unwrap(),
            SbomFormat::SyftJson
        );
        assert_eq!(
            d("<?xml version=\"1.0\"?>\n<!-- c -->\n<bom xmlns=\"http://cyclonedx.org/schema/bom/1.6\" version=\"1\"/>").unwrap(),
            SbomFormat::CycloneDxXml
        );
        assert_eq!(d("# comment\nSPDXVersion: SPDX-2.3\nDataLicense: CC0-1.0\n").unwrap(), SbomFormat::SpdxTagValue);
        for bad in ["", "{}", "{\"a\":", "<html/>", "hello", r#"{"bomFormat":"Other"}"#] {
            assert_eq!(d(bad).unwrap_err().code(), "UNKNOWN_SBOM_FORMAT", "{bad}");
        }
    }

    #[test]
    fn declared_must_match() {
        let f = SbomFormat::CycloneDxJson;
        assert_eq!(check_declared(f, Some(SbomType::CycloneDx), None, "x").unwrap(), f);
        assert_eq!(check_declared(f, None, Some(InputFormat::Json), "x").unwrap(), f);
        assert_eq!(check_declared(f, Some(SbomType::Spdx), None, "x").unwrap_err().code(), "SBOM_FORMAT_MISMATCH");
        assert_eq!(
            check_declared(f, Some(SbomType::CycloneDx), Some(InputFormat::Xml), "x").unwrap_err().code(),
            "SBOM_FORMAT_MISMATCH"
        );
        assert_eq!(SbomFormat::from_media_type("text/spdx+json"), Some(SbomFormat::SpdxJson));
    }
}
