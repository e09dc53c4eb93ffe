//! The transit engine of HashiCorp Vault / OpenBao over its HTTP API (the calls cosign's
//! `hashivault` provider makes: read the key, sign a prehashed digest with PKCS#1 v1.5 for RSA).

use super::{Failure, kms_error};
use crate::error::KeyError;
use crate::keys::{KeyAlgorithm, KeyKind, PublicKey};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use std::fmt;
use std::time::Duration;
use zeroize::Zeroizing;

/// A Vault server, its token and the transit engine's mount path.
#[derive(Clone)]
pub struct VaultConfig {
    /// The server, e.g. `https://vault.example:8200`.
    pub address: String,
    /// The token sent as `X-Vault-Token`.
    pub token: Zeroizing<String>,
    /// The transit engine's mount path (`transit` by default).
    pub transit_path: String,
    /// A Vault Enterprise namespace (`X-Vault-Namespace`).
    pub namespace: Option<String>,
    /// PEM CA certificates that replace the system roots for the server's TLS.
    pub ca_certificates_pem: Option<Vec<u8>>,
}

impl fmt::Debug for VaultConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the token.
        write!(f, "VaultConfig({}, /{})", self.address, self.transit_path)
    }
}

impl VaultConfig {
    /// A configuration for `address` and `token`, with the default mount path `transit`.
    pub fn new(address: impl Into<String>, token: impl Into<String>) -> Self {
        VaultConfig {
            address: address.into(),
            token: Zeroizing::new(token.into()),
            transit_path: "transit".into(),
            namespace: None,
            ca_certificates_pem: None,
        }
    }

    /// Reads the variables cosign's `hashivault` provider reads (see
    /// [`super::KmsConfig::from_process_environment`]).
    pub(super) fn from_process_environment() -> Result<Self, KeyError> {
        let failed = |detail: String| KeyError::KmsFailed { key: String::new(), detail };
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        if var("VAULT_SKIP_VERIFY").is_some_and(|v| v != "0" && v != "false") {
            return Err(failed("VAULT_SKIP_VERIFY is refused: give the server's CA in VAULT_CACERT instead".into()));
        }
        let address = var("VAULT_ADDR").ok_or_else(|| failed("VAULT_ADDR is not set".into()))?;
        let token = match var("VAULT_TOKEN") {
            Some(t) => Zeroizing::new(t),
            None => {
                let home = std::env::var_os("HOME").ok_or_else(|| failed("VAULT_TOKEN is not set".into()))?;
                let path = std::path::Path::new(&home).join(".vault-token");
                let text = Zeroizing::new(std::fs::read_to_string(&path).map_err(|e| {
                    failed(format!("VAULT_TOKEN is not set and {} cannot be read: {e}", path.display()))
                })?);
                Zeroizing::new(text.trim().to_owned())
            }
        };
        let ca_certificates_pem = match var("VAULT_CACERT") {
            Some(path) => Some(std::fs::read(&path).map_err(|e| failed(format!("VAULT_CACERT {path}: {e}")))?),
            None => None,
        };
        Ok(VaultConfig {
            address,
            token,
            transit_path: var("TRANSIT_SECRET_ENGINE_PATH").unwrap_or_else(|| "transit".into()),
            namespace: var("VAULT_NAMESPACE"),
            ca_certificates_pem,
        })
    }

    fn http(&self, key: &str) -> Result<reqwest::Client, KeyError> {
        let failed = |detail: String| KeyError::KmsFailed { key: key.to_owned(), detail };
        let mut builder = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            // The token must not follow a redirect to another origin.
            .redirect(reqwest::redirect::Policy::none());
        if let Some(pem) = &self.ca_certificates_pem {
            let certs = reqwest::Certificate::from_pem_bundle(pem).map_err(|e| failed(format!("VAULT_CACERT: {e}")))?;
            if certs.is_empty() {
                return Err(failed("VAULT_CACERT holds no PEM certificate".into()));
            }
            builder = builder.tls_certs_only(certs);
        }
        builder.build().map_err(|e| failed(format!("HTTP client: {e}")))
    }

    fn url(&self, action: &str, key: &str) -> String {
        format!("{}/v1/{}/{action}/{key}", self.address.trim_end_matches('/'), self.transit_path.trim_matches('/'))
    }
}

/// Sends a request and returns the answer's `data` object, classifying failures.
async fn call(
    config: &VaultConfig,
    request: reqwest::RequestBuilder,
    key: &str,
) -> Result<serde_json::Value, KeyError> {
    let mut request = request.header("X-Vault-Token", config.token.as_str()).header("X-Vault-Request", "true");
    if let Some(ns) = &config.namespace {
        request = request.header("X-Vault-Namespace", ns);
    }
    let response = request.send().await.map_err(|e| kms_error(Failure::Unreachable, key, transport_detail(&e)))?;
    let status = response.status();
    // Bounded: a transit answer is a few kilobytes.
    let body = read_bounded(response, 1 << 20).await.map_err(|e| kms_error(Failure::Unreachable, key, e))?;
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
    if !status.is_success() {
        let errors = json["errors"]
            .as_array()
            .map(|a| a.iter().filter_map(|e| e.as_str()).collect::<Vec<_>>().join("; "))
            .unwrap_or_default();
        let detail = format!("HTTP {status}: {errors}");
        let failure = match status.as_u16() {
            404 => Failure::NotFound,
            401 | 403 => Failure::AccessDenied,
            429 => Failure::Throttled,
            // Vault answers 400 "encryption key not found" for a key that does not exist.
            400 if errors.contains("not found") => Failure::NotFound,
            _ => Failure::Other,
        };
        return Err(kms_error(failure, key, detail));
    }
    Ok(json.get("data").cloned().unwrap_or(serde_json::Value::Null))
}

fn transport_detail(e: &reqwest::Error) -> String {
    let mut detail = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        detail.push_str(&format!(": {s}"));
        source = s.source();
    }
    detail
}

async fn read_bounded(mut response: reqwest::Response, limit: usize) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| transport_detail(&e))? {
        if body.len() + chunk.len() > limit {
            return Err(format!("the answer exceeds {limit} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// An opened transit key.
pub(super) struct VaultKey {
    config: VaultConfig,
    http: reqwest::Client,
    name: String,
    version: u64,
    hash: &'static str,
}

impl VaultKey {
    pub(super) async fn open(config: &VaultConfig, name: &str) -> Result<(Self, PublicKey), KeyError> {
        let http = config.http(name)?;
        let data = call(config, http.get(config.url("keys", name)), name).await?;
        let bad = |detail: &str| KeyError::KmsFailed { key: name.to_owned(), detail: detail.to_owned() };
        let version = data["latest_version"].as_u64().ok_or_else(|| bad("the key has no latest_version"))?;
        let pem = data["keys"][version.to_string()]["public_key"]
            .as_str()
            .filter(|p| !p.is_empty())
            .ok_or_else(|| bad("the key has no public key (is it an asymmetric signing key?)"))?;
        let public = PublicKey::from_pem(pem.as_bytes(), &format!("Vault transit key {name}"))?;
        let hash = match public.algorithm() {
            KeyAlgorithm::EcdsaP384 => "sha2-384",
            _ => "sha2-256",
        };
        Ok((VaultKey { config: config.clone(), http, name: name.to_owned(), version, hash }, public))
    }

    pub(super) async fn sign_digest(&self, digest: &[u8]) -> Result<Vec<u8>, KeyError> {
        let body = serde_json::json!({
            "input": STANDARD.encode(digest),
            "prehashed": true,
            "key_version": self.version,
            "signature_algorithm": "pkcs1v15",
            "marshaling_algorithm": "asn1",
        });
        let url = format!("{}/{}", self.config.url("sign", &self.name), self.hash);
        let data = call(&self.config, self.http.post(url).json(&body), &self.name).await?;
        let bad = |detail: &str| KeyError::KmsFailed { key: self.name.clone(), detail: detail.to_owned() };
        let text = data["signature"].as_str().ok_or_else(|| bad("no signature in the answer"))?;
        // "vault:v<N>:<base64>"
        let encoded = text
            .strip_prefix("vault:v")
            .and_then(|rest| rest.split_once(':'))
            .map(|(_, b64)| b64)
            .ok_or_else(|| bad("the signature is not vault:v<N>:<base64>"))?;
        STANDARD.decode(encoded).map_err(|_| bad("the signature is not base64"))
    }
}

/// `cosign generate-key-pair --kms hashivault://KEY`: creates the transit key (Vault leaves an
/// existing key of that name unchanged).
pub(super) async fn create_key(config: &VaultConfig, name: &str, kind: KeyKind) -> Result<(), KeyError> {
    let http = config.http(name)?;
    let key_type = match kind {
        KeyKind::EcdsaP256 => "ecdsa-p256",
        KeyKind::EcdsaP384 => "ecdsa-p384",
        KeyKind::Rsa3072 => "rsa-3072",
        KeyKind::Rsa4096 => "rsa-4096",
    };
    let body = serde_json::json!({ "type": key_type });
    call(config, http.post(config.url("keys", name)).json(&body), name).await?;
    Ok(())
}
