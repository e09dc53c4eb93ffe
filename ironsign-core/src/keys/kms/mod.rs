//! Keys held in a key management service, addressed by cosign's URIs:
//!
//! - `awskms://[ENDPOINT]/KEY` (AWS KMS, feature `aws-kms`): `KEY` is a key id
//!   (`1234abcd-…`, `mrk-…`), a key ARN, `alias/NAME` or an alias ARN. An `ENDPOINT` in the URI is
//!   reached over HTTPS (as cosign does); without one, AWS's endpoint settings apply.
//! - `hashivault://KEY` (the transit engine of HashiCorp Vault or OpenBao, feature `hashivault`).
//!
//! The private key never leaves the service: [`KmsSigner`] hashes the message (SHA-256, or SHA-384
//! for P-384 keys) and asks the service to sign the digest, as cosign does (`MessageType=DIGEST` in
//! AWS KMS, `prehashed` in Vault). Every signature the service returns is checked against the
//! public key read when the signer was opened, so a service that signs something else (or with
//! another key) fails the signing instead of publishing a signature nobody can verify.
//!
//! The library reads no environment variable on its own: [`KmsConfig`] is either built from
//! explicit settings or loaded by [`KmsConfig::from_process_environment`], which the CLI and the
//! bindings call (AWS's standard configuration and credential chain, `AWS_CA_BUNDLE`;
//! `VAULT_ADDR`, `VAULT_TOKEN`, `VAULT_CACERT`, `VAULT_NAMESPACE`, `TRANSIT_SECRET_ENGINE_PATH`).

#[cfg(feature = "aws-kms")]
mod aws;
#[cfg(feature = "hashivault")]
mod vault;

#[cfg(feature = "hashivault")]
pub use vault::VaultConfig;

use super::{KeyAlgorithm, KeyKind, PublicKey, Signer};
use crate::error::KeyError;
use std::fmt;
use std::sync::{Arc, OnceLock};

/// A parsed KMS key URI.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KmsUri {
    /// `awskms://[ENDPOINT]/KEY`.
    AwsKms {
        /// `host[:port]` from the URI, reached over HTTPS; `None` for `awskms:///KEY`.
        endpoint: Option<String>,
        /// Key id, key ARN, `alias/NAME` or alias ARN, as AWS KMS takes it in `KeyId`.
        key_id: String,
    },
    /// `hashivault://KEY`: a transit key name.
    HashiVault {
        /// The transit key's name.
        key: String,
    },
}

impl fmt::Debug for KmsUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for KmsUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KmsUri::AwsKms { endpoint, key_id } => {
                write!(f, "awskms://{}/{key_id}", endpoint.as_deref().unwrap_or(""))
            }
            KmsUri::HashiVault { key } => write!(f, "hashivault://{key}"),
        }
    }
}

fn uri_error(uri: &str, reason: impl Into<String>) -> KeyError {
    KeyError::Parse { what: format!("KMS key URI {uri:?}"), reason: reason.into() }
}

fn regex(pattern: &'static str, cell: &'static OnceLock<regex::Regex>) -> &'static regex::Regex {
    cell.get_or_init(|| regex::Regex::new(pattern).expect("valid pattern"))
}

impl KmsUri {
    /// Whether `s` names a KMS key (by its scheme) rather than a file.
    pub fn is_kms(s: &str) -> bool {
        s.starts_with("awskms://") || s.starts_with("hashivault://")
    }

    /// Parses a URI with cosign's grammar for each provider.
    pub fn parse(uri: &str) -> Result<Self, KeyError> {
        if let Some(rest) = uri.strip_prefix("awskms://") {
            let (endpoint, key_id) = rest
                .split_once('/')
                .ok_or_else(|| uri_error(uri, "expected awskms://[ENDPOINT]/KEY (the endpoint is optional)"))?;
            static KEY: OnceLock<regex::Regex> = OnceLock::new();
            // Key id (optionally a multi-Region `mrk-` id), key ARN, alias name, alias ARN: the
            // forms cosign accepts; ARNs of any AWS partition (aws, aws-us-gov, aws-cn, …).
            let key = regex(
                r"^(?:(?:mrk-)?[0-9A-Fa-f]{8}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{12}|(?:mrk-)?[0-9a-f]{32}|arn:aws(?:-[a-z]+)*:kms:[a-z0-9-]+:\d{12}:(?:key/(?:mrk-)?[0-9A-Fa-f-]{32,36}|alias/\S+)|alias/\S+)$",
                &KEY,
            );
            if !key.is_match(key_id) {
                return Err(uri_error(uri, "the key must be a key id, a key ARN, alias/NAME or an alias ARN"));
            }
            static HOST: OnceLock<regex::Regex> = OnceLock::new();
            if !endpoint.is_empty()
                && !regex(r"^[A-Za-z0-9.-]+(?::\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](?::\d{1,5})?$", &HOST).is_match(endpoint)
            {
                return Err(uri_error(uri, format!("the endpoint {endpoint:?} is not HOST[:PORT]")));
            }
            return Ok(KmsUri::AwsKms {
                endpoint: (!endpoint.is_empty()).then(|| endpoint.to_owned()),
                key_id: key_id.to_owned(),
            });
        }
        if let Some(key) = uri.strip_prefix("hashivault://") {
            static NAME: OnceLock<regex::Regex> = OnceLock::new();
            if !regex(r"^\w(?:[\w.-]*\w)?$", &NAME).is_match(key) {
                return Err(uri_error(uri, "expected hashivault://KEY (letters, digits, '_', '-', '.')"));
            }
            return Ok(KmsUri::HashiVault { key: key.to_owned() });
        }
        Err(uri_error(uri, "unknown scheme: awskms:// and hashivault:// are supported"))
    }

    /// The provider's name, as errors print it.
    pub fn provider(&self) -> &'static str {
        match self {
            KmsUri::AwsKms { .. } => "AWS KMS",
            KmsUri::HashiVault { .. } => "Vault transit",
        }
    }
}

/// A private runtime for the providers' asynchronous clients. [`Signer::sign`] is synchronous and
/// is called from inside other runtimes (the CLI's, the bindings'), where blocking on the caller's
/// runtime would panic; each call therefore runs on a scoped thread that drives this runtime.
pub(crate) struct KmsRuntime {
    runtime: Option<tokio::runtime::Runtime>,
}

impl KmsRuntime {
    fn new() -> Result<Arc<Self>, KeyError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| KeyError::KmsFailed { key: String::new(), detail: format!("cannot start a runtime: {e}") })?;
        Ok(Arc::new(KmsRuntime { runtime: Some(runtime) }))
    }

    /// Runs `future` to completion, whatever runtime the calling thread is in.
    pub(crate) fn run<F: std::future::Future + Send>(&self, future: F) -> F::Output
    where
        F::Output: Send,
    {
        let runtime = self.runtime.as_ref().expect("present until dropped");
        std::thread::scope(|scope| {
            scope.spawn(|| runtime.block_on(future)).join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    }
}

impl Drop for KmsRuntime {
    fn drop(&mut self) {
        // A runtime dropped inside another runtime's worker must not block.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// How to reach the KMS providers: credentials, endpoints, trust. Build it from explicit settings
/// ([`KmsConfig::new`], then `with_aws` / `with_vault`) or load it from the process environment
/// ([`KmsConfig::from_process_environment`]).
#[derive(Clone)]
pub struct KmsConfig {
    runtime: Arc<KmsRuntime>,
    #[cfg(feature = "aws-kms")]
    aws: Option<aws_config::SdkConfig>,
    #[cfg(feature = "hashivault")]
    vault: Option<VaultConfig>,
}

impl fmt::Debug for KmsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print credentials.
        f.write_str("KmsConfig")
    }
}

impl KmsConfig {
    /// A configuration with no provider set up yet.
    pub fn new() -> Result<Self, KeyError> {
        Ok(KmsConfig {
            runtime: KmsRuntime::new()?,
            #[cfg(feature = "aws-kms")]
            aws: None,
            #[cfg(feature = "hashivault")]
            vault: None,
        })
    }

    /// Uses this AWS configuration (region, credentials, endpoint, HTTP client) for `awskms://`.
    #[cfg(feature = "aws-kms")]
    pub fn with_aws(mut self, config: aws_config::SdkConfig) -> Self {
        self.aws = Some(config);
        self
    }

    /// Uses this Vault server and token for `hashivault://`.
    #[cfg(feature = "hashivault")]
    pub fn with_vault(mut self, config: VaultConfig) -> Self {
        self.vault = Some(config);
        self
    }

    /// Loads what `uri`'s provider needs from the process environment, as cosign does:
    ///
    /// - AWS: the SDK's standard configuration (`AWS_REGION`/profile region, the credential chain:
    ///   environment, shared config and credentials files with profiles, web identity
    ///   (`AWS_WEB_IDENTITY_TOKEN_FILE` + `AWS_ROLE_ARN`), ECS/EC2 metadata; endpoint settings
    ///   `AWS_ENDPOINT_URL_KMS`, `AWS_ENDPOINT_URL`, the profile's `endpoint_url`), and
    ///   `AWS_CA_BUNDLE` (a PEM file that replaces the system roots for KMS connections).
    ///   `AWS_TLS_INSECURE_SKIP_VERIFY=1`, which cosign honours, is refused.
    /// - Vault: `VAULT_ADDR`, `VAULT_TOKEN` (else `~/.vault-token`), `VAULT_CACERT`,
    ///   `VAULT_NAMESPACE`, `TRANSIT_SECRET_ENGINE_PATH` (default `transit`); `VAULT_SKIP_VERIFY` is
    ///   refused.
    ///
    /// The only place the library reads the environment; the CLI and the bindings call it.
    #[allow(unreachable_code)]
    pub fn from_process_environment(uri: &KmsUri) -> Result<Self, KeyError> {
        #[allow(unused_mut)]
        let mut config = KmsConfig::new()?;
        match uri {
            #[cfg(feature = "aws-kms")]
            KmsUri::AwsKms { .. } => {
                let sdk = config.runtime.run(aws::load_environment_config())?;
                config.aws = Some(sdk);
            }
            #[cfg(feature = "hashivault")]
            KmsUri::HashiVault { .. } => config.vault = Some(VaultConfig::from_process_environment()?),
            #[allow(unreachable_patterns)]
            other => return Err(not_built(other)),
        }
        Ok(config)
    }
}

#[allow(dead_code)]
fn not_built(uri: &KmsUri) -> KeyError {
    KeyError::Unsupported {
        what: uri.to_string(),
        algorithm: format!("{} keys (this build of ironsign has no support for them)", uri.provider()),
    }
}

/// The backend of one opened key.
enum Backend {
    #[cfg(feature = "aws-kms")]
    Aws(aws::AwsKey),
    #[cfg(feature = "hashivault")]
    Vault(vault::VaultKey),
}

impl Backend {
    fn sign_digest(&self, runtime: &KmsRuntime, digest: &[u8]) -> Result<Vec<u8>, KeyError> {
        match *self {
            #[cfg(feature = "aws-kms")]
            Backend::Aws(ref key) => runtime.run(key.sign_digest(digest)),
            #[cfg(feature = "hashivault")]
            Backend::Vault(ref key) => runtime.run(key.sign_digest(digest)),
        }
    }
}

/// A signer whose private key stays in a KMS.
pub struct KmsSigner {
    uri: KmsUri,
    backend: Backend,
    public: PublicKey,
    runtime: Arc<KmsRuntime>,
}

impl fmt::Debug for KmsSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KmsSigner({}, {:?})", self.uri, self.public)
    }
}

/// The digest a key signs, as cosign picks it: SHA-384 for P-384, SHA-256 otherwise.
fn digest_for(algorithm: KeyAlgorithm, message: &[u8]) -> Vec<u8> {
    let alg = match algorithm {
        KeyAlgorithm::EcdsaP384 => &aws_lc_rs::digest::SHA384,
        _ => &aws_lc_rs::digest::SHA256,
    };
    aws_lc_rs::digest::digest(alg, message).as_ref().to_vec()
}

impl KmsSigner {
    /// Opens the key `uri` names, reading its public key.
    #[allow(unused_variables, unreachable_code)]
    pub fn open(uri: &KmsUri, config: &KmsConfig) -> Result<Self, KeyError> {
        let (backend, public) = match uri {
            #[cfg(feature = "aws-kms")]
            KmsUri::AwsKms { endpoint, key_id } => {
                let sdk = config.aws.as_ref().ok_or_else(|| missing_config(uri))?;
                let (key, public) = config.runtime.run(aws::AwsKey::open(sdk, endpoint.as_deref(), key_id))?;
                (Backend::Aws(key), public)
            }
            #[cfg(feature = "hashivault")]
            KmsUri::HashiVault { key } => {
                let vault = config.vault.as_ref().ok_or_else(|| missing_config(uri))?;
                let (key, public) = config.runtime.run(vault::VaultKey::open(vault, key))?;
                (Backend::Vault(key), public)
            }
            #[allow(unreachable_patterns)]
            other => return Err(not_built(other)),
        };
        Ok(KmsSigner { uri: uri.clone(), backend, public, runtime: config.runtime.clone() })
    }

    /// Opens `uri` with the configuration [`KmsConfig::from_process_environment`] loads: what the
    /// CLI and the bindings do with a KMS URI.
    pub fn open_with_process_environment(uri: &str) -> Result<Self, KeyError> {
        let uri = KmsUri::parse(uri)?;
        Self::open(&uri, &KmsConfig::from_process_environment(&uri)?)
    }

    /// Creates the key `uri` names in the KMS (as `cosign generate-key-pair --kms` does) and opens
    /// it. An AWS key must be named by `alias/NAME`: when the alias exists, its key is opened
    /// unchanged; otherwise a key of `kind` is created and the alias made to point at it. A Vault
    /// transit key that exists is opened unchanged too.
    #[allow(unused_variables, unreachable_code)]
    pub fn create(uri: &KmsUri, config: &KmsConfig, kind: KeyKind) -> Result<Self, KeyError> {
        match uri {
            #[cfg(feature = "aws-kms")]
            KmsUri::AwsKms { endpoint, key_id } => {
                let sdk = config.aws.as_ref().ok_or_else(|| missing_config(uri))?;
                config.runtime.run(aws::create_key(sdk, endpoint.as_deref(), key_id, kind))?;
            }
            #[cfg(feature = "hashivault")]
            KmsUri::HashiVault { key } => {
                let vault = config.vault.as_ref().ok_or_else(|| missing_config(uri))?;
                config.runtime.run(vault::create_key(vault, key, kind))?;
            }
            #[allow(unreachable_patterns)]
            other => return Err(not_built(other)),
        }
        Self::open(uri, config)
    }

    /// The URI this signer was opened with.
    pub fn uri(&self) -> &KmsUri {
        &self.uri
    }
}

#[allow(dead_code)]
fn missing_config(uri: &KmsUri) -> KeyError {
    KeyError::KmsFailed { key: uri.to_string(), detail: format!("no {} configuration was given", uri.provider()) }
}

impl Signer for KmsSigner {
    fn public_key(&self) -> &PublicKey {
        &self.public
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        let digest = digest_for(self.public.algorithm(), message);
        let signature = self.backend.sign_digest(&self.runtime, &digest)?;
        // Fail closed on a service that signs something else or with another key.
        if !self.public.verify(message, &signature) {
            return Err(KeyError::SigningFailed {
                reason: format!("{} returned a signature that does not verify with the key's public key", self.uri),
            });
        }
        Ok(signature)
    }
}

/// Errors of both providers, classified the same way.
#[allow(dead_code)]
pub(crate) enum Failure {
    NotFound,
    AccessDenied,
    Disabled,
    Throttled,
    Unreachable,
    Other,
}

#[allow(dead_code)]
pub(crate) fn kms_error(failure: Failure, key: &str, detail: String) -> KeyError {
    let key = key.to_owned();
    match failure {
        Failure::NotFound => KeyError::KmsKeyNotFound { key, detail },
        Failure::AccessDenied => KeyError::KmsAccessDenied { key, detail },
        Failure::Disabled => KeyError::KmsKeyDisabled { key, detail },
        Failure::Throttled => KeyError::KmsThrottled { key, detail },
        Failure::Unreachable => KeyError::KmsUnreachable { key, detail },
        Failure::Other => KeyError::KmsFailed { key, detail },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cosigns_uri_forms() {
        let aws = |uri: &str| match KmsUri::parse(uri).unwrap() {
            KmsUri::AwsKms { endpoint, key_id } => (endpoint, key_id),
            other => panic!("{other}"),
        };
        assert_eq!(aws("awskms:///alias/signer"), (None, "alias/signer".into()));
        assert_eq!(
            aws("awskms://localhost:4566/1234abcd-12ab-34cd-56ef-1234567890ab"),
            (Some("localhost:4566".into()), "1234abcd-12ab-34cd-56ef-1234567890ab".into())
        );
        let gov = "arn:aws-us-gov:kms:us-gov-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
        assert_eq!(aws(&format!("awskms:///{gov}")), (None, gov.into()));
        let alias_arn = "arn:aws:kms:us-east-2:111122223333:alias/Example";
        assert_eq!(aws(&format!("awskms://kms.example:443/{alias_arn}")).1, alias_arn);
        assert_eq!(aws("awskms:///mrk-1234abcd12ab34cd56ef1234567890ab").1, "mrk-1234abcd12ab34cd56ef1234567890ab");
        assert_eq!(KmsUri::parse("hashivault://my-key.v2").unwrap(), KmsUri::HashiVault { key: "my-key.v2".into() });
        for uri in ["awskms:///alias/signer", "awskms://h:1/alias/a", "hashivault://k"] {
            assert_eq!(KmsUri::parse(uri).unwrap().to_string(), uri);
        }
    }

    #[test]
    fn refuses_malformed_uris() {
        for bad in [
            "awskms://",
            "awskms:///",
            "awskms:///not-a-key",
            "awskms:///arn:aws:s3:::bucket",
            "awskms://user@host/alias/a",
            "awskms://host/path/alias/a",
            "hashivault://",
            "hashivault://a/b",
            "hashivault://-a",
            "gcpkms://projects/p",
        ] {
            assert!(matches!(KmsUri::parse(bad), Err(KeyError::Parse { .. })), "{bad}");
        }
        assert!(KmsUri::is_kms("awskms:///alias/a") && KmsUri::is_kms("hashivault://a"));
        assert!(!KmsUri::is_kms("cosign.key") && !KmsUri::is_kms("pkcs11:object=a"));
    }

    #[test]
    fn signs_the_digest_cosign_signs() {
        assert_eq!(digest_for(KeyAlgorithm::EcdsaP256, b"m").len(), 32);
        assert_eq!(digest_for(KeyAlgorithm::Rsa { bits: 2048 }, b"m").len(), 32);
        assert_eq!(digest_for(KeyAlgorithm::EcdsaP384, b"m").len(), 48);
    }
}
