//! cosign's storage formats, byte for byte (cosign's public `specs/SIGNATURE_SPEC.md` and
//! `specs/ATTESTATION_SPEC.md`, and go-containerregistry's manifest encoding).
//!
//! A signature is a layer of an OCI image manifest tagged `sha256-<hex>.sig` in the image's
//! repository. Its blob is the *simple signing* payload; the signature, certificate and chain are
//! layer annotations. The manifest and its config are what go-containerregistry produces, so that
//! cosign, Harbor and containers/image treat what ironsign writes exactly like their own.

use crate::error::{RegistryError, RejectionReason};
use crate::reference::Digest;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Media type of a simple signing payload layer.
pub const SIMPLE_SIGNING_MEDIA_TYPE: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// Media type of a DSSE envelope layer (attestations).
pub const DSSE_MEDIA_TYPE: &str = "application/vnd.dsse.envelope.v1+json";
/// `critical.type` of a cosign image signature.
pub const SIGNATURE_TYPE: &str = "cosign container image signature";

/// Layer annotation holding the base64 signature.
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// Layer annotation holding the PEM leaf certificate.
pub const CERTIFICATE_ANNOTATION: &str = "dev.sigstore.cosign/certificate";
/// Layer annotation holding the PEM chain (intermediates, then the root).
pub const CHAIN_ANNOTATION: &str = "dev.sigstore.cosign/chain";
/// Layer annotation holding a Rekor bundle (never written by ironsign).
pub const BUNDLE_ANNOTATION: &str = "dev.sigstore.cosign/bundle";
/// Layer annotation holding an RFC 3161 timestamp.
pub const RFC3161_ANNOTATION: &str = "dev.sigstore.cosign/rfc3161timestamp";
/// Layer annotation of an attestation naming its predicate type (§2; the key is literally this).
pub const PREDICATE_TYPE_ANNOTATION: &str = "predicateType";

/// OCI image manifest media type.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index media type.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// OCI image config media type.
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// Docker schema 2 manifest media type.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list media type.
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker image config media type.
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";

/// Every manifest media type ironsign reads, for `Accept` headers.
pub const MANIFEST_MEDIA_TYPES: [&str; 4] = [OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST];

/// A media type as compared: its essence, without parameters (`; charset=utf-8`), trimmed and in
/// lower case (media types are case-insensitive, RFC 9110 §8.3.1). Registries answer with either.
pub fn media_type_essence(media_type: &str) -> String {
    media_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase()
}

/// Whether a media type is an index (multi-platform image), with or without parameters.
pub fn is_index(media_type: &str) -> bool {
    let essence = media_type_essence(media_type);
    essence == OCI_INDEX || essence == DOCKER_MANIFEST_LIST
}

/// The suffix of an attachment tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AttachmentKind {
    /// `.sig`
    Signature,
    /// `.att`
    Attestation,
    /// `.sbom`
    Sbom,
}

impl AttachmentKind {
    /// The tag suffix.
    pub fn suffix(self) -> &'static str {
        match self {
            AttachmentKind::Signature => "sig",
            AttachmentKind::Attestation => "att",
            AttachmentKind::Sbom => "sbom",
        }
    }
}

// ---------------------------------------------------------------------------------------------
// JSON exactly as Go's encoding/json writes it.

/// Appends `s` as a JSON string the way Go's `encoding/json` does: HTML-escaped `<`, `>`, `&`,
/// and escaped U+2028/U+2029. cosign's payloads are signed as bytes, so this must match.
pub fn go_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Appends a JSON value the way Go's `json.Marshal` writes a decoded `interface{}`: compact,
/// object keys sorted bytewise, strings escaped by [`go_json_string`].
pub fn go_json_value(out: &mut String, value: &serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => go_json_string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                go_json_value(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            // Sorted explicitly: serde_json may be built with `preserve_order`.
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push('{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                go_json_string(out, k);
                out.push(':');
                go_json_value(out, v);
            }
            out.push('}');
        }
    }
}

fn go_json_map(out: &mut String, map: &BTreeMap<String, String>) {
    out.push('{');
    for (i, (k, v)) in map.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        go_json_string(out, k);
        out.push(':');
        go_json_string(out, v);
    }
    out.push('}');
}

// ---------------------------------------------------------------------------------------------
// Simple signing payload (§1.5).

/// The simple signing payload cosign signs: exact bytes, ready to upload.
pub fn simple_signing_payload(docker_reference: &str, digest: &Digest, optional: &BTreeMap<String, String>) -> Vec<u8> {
    let mut out = String::with_capacity(256);
    out.push_str(r#"{"critical":{"identity":{"docker-reference":"#);
    go_json_string(&mut out, docker_reference);
    out.push_str(r#"},"image":{"docker-manifest-digest":"#);
    go_json_string(&mut out, digest.as_str());
    out.push_str(r#"},"type":"#);
    go_json_string(&mut out, SIGNATURE_TYPE);
    out.push_str(r#"},"optional":"#);
    if optional.is_empty() {
        out.push_str("null");
    } else {
        go_json_map(&mut out, optional);
    }
    out.push('}');
    out.into_bytes()
}

/// What a verified simple signing payload says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SimpleSigning {
    /// `critical.identity.docker-reference`.
    pub docker_reference: String,
    /// `critical.image.docker-manifest-digest`.
    pub docker_manifest_digest: String,
    /// `critical.type`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `optional`, as JSON (string values are what `-a` annotations compare against).
    pub optional: serde_json::Map<String, serde_json::Value>,
}

/// Looks a key up as Go's decoder does: exact match first, then case-insensitively.
fn get_ci<'a>(obj: &'a serde_json::Map<String, serde_json::Value>, key: &str) -> Option<&'a serde_json::Value> {
    obj.get(key).or_else(|| obj.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v))
}

/// Parses a simple signing payload, accepting either casing of `docker-manifest-digest`.
pub fn parse_simple_signing(payload: &[u8]) -> Result<SimpleSigning, RejectionReason> {
    let invalid = |reason: &str| RejectionReason::InvalidPayload { reason: reason.into() };
    let value: serde_json::Value = serde_json::from_slice(payload).map_err(|e| invalid(&format!("not JSON: {e}")))?;
    let top = value.as_object().ok_or_else(|| invalid("not a JSON object"))?;
    let critical = get_ci(top, "critical").and_then(|v| v.as_object()).ok_or_else(|| invalid("no critical object"))?;
    let string_at = |obj: &serde_json::Map<String, serde_json::Value>,
                     outer: &str,
                     inner: &str|
     -> Result<String, RejectionReason> {
        get_ci(obj, outer)
            .and_then(|v| v.as_object())
            .and_then(|o| get_ci(o, inner))
            .and_then(|v| v.as_str())
            .map(str::to_owned)
            .ok_or_else(|| invalid(&format!("no critical.{outer}.{inner} string")))
    };
    let docker_reference = string_at(critical, "identity", "docker-reference")?;
    let docker_manifest_digest = string_at(critical, "image", "docker-manifest-digest")?;
    let kind =
        get_ci(critical, "type").and_then(|v| v.as_str()).ok_or_else(|| invalid("no critical.type string"))?.to_owned();
    let optional = match get_ci(top, "optional") {
        None | Some(serde_json::Value::Null) => serde_json::Map::new(),
        Some(serde_json::Value::Object(o)) => o.clone(),
        Some(_) => return Err(invalid("optional is neither an object nor null")),
    };
    Ok(SimpleSigning { docker_reference, docker_manifest_digest, kind, optional })
}

// ---------------------------------------------------------------------------------------------
// Manifests and descriptors.

/// An OCI descriptor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// Media type.
    pub media_type: String,
    /// Size in bytes.
    pub size: u64,
    /// Digest.
    pub digest: Digest,
    /// Annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    /// Platform, for index entries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    /// Artifact type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
}

/// An index entry's platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    /// CPU architecture.
    pub architecture: String,
    /// Operating system.
    pub os: String,
    /// CPU variant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// An image manifest or index, parsed loosely: enough to walk it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    /// `schemaVersion`.
    pub schema_version: u32,
    /// `mediaType` (may be absent in OCI).
    #[serde(default)]
    pub media_type: Option<String>,
    /// `config` (image manifests).
    #[serde(default)]
    pub config: Option<Descriptor>,
    /// `layers` (image manifests).
    #[serde(default)]
    pub layers: Vec<Descriptor>,
    /// `manifests` (indexes).
    #[serde(default)]
    pub manifests: Vec<Descriptor>,
    /// `subject` (referrers).
    #[serde(default)]
    pub subject: Option<Descriptor>,
    /// `artifactType`.
    #[serde(default)]
    pub artifact_type: Option<String>,
    /// Manifest annotations.
    #[serde(default)]
    pub annotations: Option<BTreeMap<String, String>>,
}

/// Most signatures (or attestations) read for one image in one fetch, the layers of its
/// `.sig`/`.att` tag and its Sigstore bundle referrers together (cosign's layer bound).
pub const DEFAULT_MAX_SIGNATURES: usize = 1000;

/// Most bytes held for one image in one fetch of its signatures or attestations: twice the
/// largest blob, so one maximal attestation (cosign's 128 MiB) and more besides fit, while a
/// manifest naming a large blob a thousand times is refused before anything is read.
pub const DEFAULT_MAX_FETCHED_BYTES: u64 = 256 << 20;

/// Bounds on what is read from a registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Limits {
    /// Most layers a signature or attestation manifest may have (cosign: 1000).
    pub max_layers: usize,
    /// Largest blob read into memory (cosign: 128 MiB).
    pub max_blob_size: u64,
    /// Largest manifest read (the distribution spec suggests 4 MiB).
    pub max_manifest_size: u64,
    /// Most certificates in a chain annotation.
    pub max_chain: usize,
    /// Largest SBOM streamed to or from a registry (never held in memory).
    pub max_sbom_size: u64,
    /// Most signatures (or attestations) of one image read in one fetch, both storage formats
    /// together ([`DEFAULT_MAX_SIGNATURES`]).
    pub max_signatures: usize,
    /// Most bytes read for one image in one fetch of its signatures or attestations: its
    /// attachment manifest, its referrer manifests and every layer's blob, a blob named by
    /// several layers counting once per layer since each holds a copy
    /// ([`DEFAULT_MAX_FETCHED_BYTES`]). Checked against declared sizes before a blob is read.
    pub max_fetched_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_layers: 1000,
            max_blob_size: 128 << 20,
            max_manifest_size: 4 << 20,
            max_chain: crate::pki::DEFAULT_MAX_CHAIN,
            max_sbom_size: 4 << 30,
            max_signatures: DEFAULT_MAX_SIGNATURES,
            max_fetched_bytes: DEFAULT_MAX_FETCHED_BYTES,
        }
    }
}

impl Manifest {
    /// Parses manifest bytes.
    pub fn parse(bytes: &[u8], what: &str) -> Result<Self, RegistryError> {
        serde_json::from_slice(bytes)
            .map_err(|e| RegistryError::InvalidResponse { what: what.into(), reason: e.to_string() })
    }

    /// Parses and checks the layer bound.
    pub fn parse_bounded(bytes: &[u8], what: &str, limits: &Limits) -> Result<Self, RegistryError> {
        let m = Self::parse(bytes, what)?;
        if m.layers.len() > limits.max_layers {
            return Err(RegistryError::TooMany { what: what.into(), count: m.layers.len(), limit: limits.max_layers });
        }
        Ok(m)
    }
}

/// A layer to put into a signature-style manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerSpec {
    /// Media type.
    pub media_type: String,
    /// Blob digest.
    pub digest: Digest,
    /// Blob size.
    pub size: u64,
    /// Annotations.
    pub annotations: BTreeMap<String, String>,
}

impl From<&Descriptor> for LayerSpec {
    fn from(d: &Descriptor) -> Self {
        LayerSpec {
            media_type: d.media_type.clone(),
            digest: d.digest.clone(),
            size: d.size,
            annotations: d.annotations.clone().unwrap_or_default(),
        }
    }
}

/// The config blob ggcr writes for a signature image with these layers (§1.3): 233 bytes for one.
pub fn signature_config(layers: &[LayerSpec]) -> Vec<u8> {
    const EPOCH: &str = "0001-01-01T00:00:00Z";
    let mut out = String::from(r#"{"architecture":"","created":""#);
    out.push_str(EPOCH);
    out.push_str(r#"","history":["#);
    for i in 0..layers.len() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(r#"{"created":""#);
        out.push_str(EPOCH);
        out.push_str(r#""}"#);
    }
    out.push_str(r#"],"os":"","rootfs":{"type":"layers","diff_ids":["#);
    for (i, l) in layers.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        go_json_string(&mut out, l.digest.as_str());
    }
    out.push_str(r#"]},"config":{}}"#);
    out.into_bytes()
}

/// The manifest ggcr writes for a signature image (§1.2), OCI media types.
pub fn signature_manifest(config: &[u8], layers: &[LayerSpec]) -> Vec<u8> {
    let mut out = String::from(r#"{"schemaVersion":2,"mediaType":""#);
    out.push_str(OCI_MANIFEST);
    out.push_str(r#"","config":{"mediaType":""#);
    out.push_str(OCI_CONFIG);
    out.push_str(&format!(r#"","size":{},"digest":"{}"}},"layers":["#, config.len(), Digest::sha256(config)));
    for (i, l) in layers.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(r#"{"mediaType":"#);
        go_json_string(&mut out, &l.media_type);
        out.push_str(&format!(r#","size":{},"digest":"{}""#, l.size, l.digest));
        if !l.annotations.is_empty() {
            out.push_str(r#","annotations":"#);
            go_json_map(&mut out, &l.annotations);
        }
        out.push('}');
    }
    out.push_str("]}");
    out.into_bytes()
}

// ---------------------------------------------------------------------------------------------
// The things verified: plain data, fetched by the registry module.

/// One layer of a `.sig` (or `.att`) manifest with its payload blob.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SignatureLayer {
    /// The layer media type.
    pub media_type: String,
    /// The payload blob bytes (digest already checked against `payload_digest`).
    #[serde(skip)]
    pub payload: Vec<u8>,
    /// The layer digest.
    pub payload_digest: Digest,
    /// Layer annotations (for a Sigstore bundle: the referrer manifest's annotations).
    pub annotations: BTreeMap<String, String>,
    /// For a Sigstore bundle, the digest of the referrer manifest it came from; `None` for a
    /// layer of a `.sig`/`.att` tag.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub referrer: Option<Digest>,
}

/// Where a signature or attestation is stored, and so how it is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SignatureFormat {
    /// A layer of the `sha256-<hex>.sig` / `.att` tag (cosign v1–v2, and v3 with
    /// `--new-bundle-format=false`): what Harbor, Kyverno and podman read.
    #[default]
    LegacyTag,
    /// A Sigstore bundle v0.3 stored as an OCI 1.1 referrer (cosign v3's default).
    SigstoreBundle,
}

impl SignatureLayer {
    /// How this signature is stored.
    pub fn format(&self) -> SignatureFormat {
        if self.referrer.is_some() { SignatureFormat::SigstoreBundle } else { SignatureFormat::LegacyTag }
    }

    fn annotation(&self, key: &str) -> Option<&str> {
        self.annotations.get(key).map(String::as_str)
    }

    /// The base64 signature annotation.
    pub fn signature_b64(&self) -> Option<&str> {
        self.annotation(SIGNATURE_ANNOTATION)
    }

    /// The leaf certificate PEM; empty or whitespace-only counts as none (cosign §1.4).
    pub fn certificate_pem(&self) -> Option<&str> {
        self.annotation(CERTIFICATE_ANNOTATION).filter(|s| !s.trim().is_empty())
    }

    /// The chain PEM, if non-empty.
    pub fn chain_pem(&self) -> Option<&str> {
        self.annotation(CHAIN_ANNOTATION).filter(|s| !s.trim().is_empty())
    }

    /// The DSSE envelope this layer holds, as `cosign verify-attestation` prints it: a `.att`
    /// layer's blob byte for byte, or the envelope inside a Sigstore bundle as compact JSON.
    /// `None` when the layer holds no envelope. (Unverified: print it only for a layer that
    /// verification accepted.)
    pub fn dsse_envelope(&self) -> Option<Vec<u8>> {
        match self.format() {
            SignatureFormat::LegacyTag => (self.media_type == DSSE_MEDIA_TYPE).then(|| self.payload.clone()),
            SignatureFormat::SigstoreBundle => {
                match crate::bundle::Bundle::parse(&self.payload, Limits::default().max_chain).ok()?.content {
                    crate::bundle::BundleContent::Dsse(envelope) => Some(envelope.to_json()),
                    _ => None,
                }
            }
        }
    }
}

/// An image and the signatures found for it: the entity a [`Verifier`](crate::verify::Verifier) checks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SignedImage {
    /// The repository name as written in payloads (`reg/ns/img`).
    pub repository: String,
    /// The image digest the signatures must be for.
    pub digest: Digest,
    /// The layers of its `.sig` (or `.att`) manifest, in order, then its Sigstore bundle
    /// referrers; empty when it has none.
    pub signatures: Vec<SignatureLayer>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types_compare_by_essence() {
        assert_eq!(media_type_essence(" application/vnd.oci.image.index.v1+json; charset=utf-8"), OCI_INDEX);
        assert_eq!(media_type_essence("APPLICATION/VND.OCI.IMAGE.INDEX.V1+JSON"), OCI_INDEX);
        assert!(is_index("application/vnd.oci.image.index.v1+json; charset=utf-8"));
        assert!(is_index("Application/Vnd.Docker.Distribution.Manifest.List.V2+Json"));
        assert!(is_index(DOCKER_MANIFEST_LIST));
        for not_index in
            [OCI_MANIFEST, DOCKER_MANIFEST, "application/json", "", "application/vnd.oci.image.index.v1+jsonx"]
        {
            assert!(!is_index(not_index), "{not_index}");
        }
    }

    fn digest() -> Digest {
        Digest::sha256(b"image")
    }

    #[test]
    fn payload_matches_cosign_bytes() {
        let d = digest();
        let p = simple_signing_payload("reg.example/ns/img", &d, &BTreeMap::new());
        let expected = format!(
            r#"{{"critical":{{"identity":{{"docker-reference":"reg.example/ns/img"}},"image":{{"docker-manifest-digest":"{d}"}},"type":"cosign container image signature"}},"optional":null}}"#
        );
        assert_eq!(String::from_utf8(p).unwrap(), expected);
        let mut opt = BTreeMap::new();
        opt.insert("z".into(), "1".into());
        opt.insert("a".into(), "<&>".into());
        let p = String::from_utf8(simple_signing_payload("r/i", &d, &opt)).unwrap();
        assert!(p.ends_with(r#""optional":{"a":"\u003c\u0026\u003e","z":"1"}}"#), "{p}");
    }

    #[test]
    fn parses_either_digest_casing() {
        let d = digest();
        let p = format!(
            r#"{{"critical":{{"identity":{{"docker-reference":"r"}},"image":{{"Docker-manifest-digest":"{d}"}},"type":"cosign container image signature"}},"optional":{{"k":"v"}}}}"#
        );
        let s = parse_simple_signing(p.as_bytes()).unwrap();
        assert_eq!(s.docker_manifest_digest, d.to_string());
        assert_eq!(s.optional["k"], "v");
        assert!(parse_simple_signing(b"{}").is_err());
        assert!(parse_simple_signing(b"[").is_err());
    }

    #[test]
    fn hostile_manifests_and_payloads_are_refused() {
        let layer = format!(r#"{{"mediaType":"{SIMPLE_SIGNING_MEDIA_TYPE}","size":1,"digest":"{}"}}"#, digest());
        let many = format!(r#"{{"schemaVersion":2,"layers":[{}]}}"#, vec![layer; 10_000].join(","));
        assert!(matches!(
            Manifest::parse_bounded(many.as_bytes(), "m", &Limits::default()),
            Err(RegistryError::TooMany { count: 10_000, limit: 1000, .. })
        ));
        // Nesting far beyond serde_json's depth limit (128) is an error, not a stack overflow.
        let depth = 100_000;
        let nested = format!(r#"{{"schemaVersion":2,"layers":{}{}}}"#, "[".repeat(depth), "]".repeat(depth));
        assert!(matches!(Manifest::parse(nested.as_bytes(), "m"), Err(RegistryError::InvalidResponse { .. })));
        let payload = format!(r#"{{"critical":{{}},"optional":{}1{}}}"#, r#"{"a":"#.repeat(depth), "}".repeat(depth));
        assert!(matches!(parse_simple_signing(payload.as_bytes()), Err(RejectionReason::InvalidPayload { .. })));
    }

    #[test]
    fn config_is_233_bytes_for_one_layer() {
        let layer = LayerSpec {
            media_type: SIMPLE_SIGNING_MEDIA_TYPE.into(),
            digest: digest(),
            size: 1,
            annotations: BTreeMap::new(),
        };
        let config = signature_config(std::slice::from_ref(&layer));
        assert_eq!(config.len(), 233);
        let manifest = signature_manifest(&config, &[layer]);
        let parsed = Manifest::parse(&manifest, "m").unwrap();
        assert_eq!(parsed.config.unwrap().size, 233);
        assert_eq!(parsed.layers.len(), 1);
    }
}
