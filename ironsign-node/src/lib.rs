//! Node binding of ironsign (napi-rs 3): a thin layer over the core crate.
//!
//! * Registry operations are `async` and run on napi's Tokio runtime; verification (pure, CPU)
//!   runs in the same task on a runtime worker, never on the JS thread. Only the conversion of
//!   the result to JS values happens on the JS thread.
//! * Results are the core's serialisable results as plain objects, keys in camelCase.
//! * Errors are JS `Error`s with `code`, `family` and `details` ([`errors`]).
//! * Like the CLI, the binding (never the core) decides where registry credentials come from:
//!   explicit `auth`, then `configFiles`, by default Docker's and podman's files as those tools
//!   find them (`DOCKER_CONFIG`, `REGISTRY_AUTH_FILE`, `XDG_RUNTIME_DIR`, `HOME`).
//!
//! New operations (artifact listing, gc, copy, verification instructions) are one method each on
//! [`RegistryClient`]: parse the arguments, call the core in [`spawn`], convert with
//! [`convert::to_js`].

#![deny(clippy::all)]

mod blobs;
mod convert;
mod errors;
mod registry;
mod resign;
mod transfer;
mod trust;

use convert::{Bytes, bytes, to_js};
use errors::{invalid_argument, sync};
use ironsign::{Certificate, KeyPairSigner, PublicKey, SigningMaterial};
use napi::{Either, Env, Result};
use napi_derive::napi;
use std::collections::HashMap;
use std::sync::Arc;
use zeroize::Zeroizing;

pub use blobs::{SignedBlob, attest_blob, sign_blob};
pub use registry::RegistryClient;
pub use trust::{TrustConfig, instructions};

/// The package version (the workspace version, shared by every ironsign crate and package).
#[napi]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").to_owned()
}

/// Every error code an ironsign `Error` can carry, with its family.
#[napi(ts_return_type = "Array<{ code: ErrorCode; family: ErrorFamily }>")]
pub fn error_codes() -> serde_json::Value {
    serde_json::Value::Array(
        ironsign::error::ERROR_CODES
            .iter()
            .map(|(family, code)| serde_json::json!({"code": code, "family": errors::family(*family)}))
            .collect(),
    )
}

/// Every code a rejected signature (`rejected[].code`, `details.rejections[].code`) can carry.
#[napi(ts_return_type = "RejectionCode[]")]
pub fn rejection_codes() -> Vec<String> {
    ironsign::error::REJECTION_CODES.iter().map(|c| (*c).to_owned()).collect()
}

/// Inspects a certificate or a chain (PEM, leaf first; or one DER certificate): subject, issuer,
/// SANs, usages, validity, key, role in the chain, and warnings (`cert inspect`).
#[napi(ts_return_type = "InspectionReport")]
pub fn inspect_certificate(env: &Env, certificate: Bytes) -> Result<serde_json::Value> {
    let data = bytes(&certificate);
    sync(env, || {
        let certs = if data.trim_ascii_start().starts_with(b"-----BEGIN") {
            Certificate::from_pem_many(&data, "certificate", 100)?
        } else {
            vec![Certificate::from_der(&data, "certificate")?]
        };
        if certs.is_empty() {
            return Err(invalid_argument("certificate", "no CERTIFICATE PEM block"));
        }
        Ok(to_js(&ironsign::pki::report::inspect(&certs, std::time::SystemTime::now())))
    })
}

/// Options of [`Signer::from_key_pem`].
#[napi(object, object_to_js = false)]
pub struct SignerOptions {
    /// The signing certificate (PEM or DER) for the key. Without it, signatures are key-only.
    pub certificate: Option<Bytes>,
    /// Its issuing chain (PEM): intermediates, then the root last.
    pub chain: Option<Bytes>,
    /// The password of an encrypted key (PKCS#8 or cosign's format).
    pub password: Option<Bytes>,
    /// Refuse a certificate whose extended key usage lacks codeSigning (by default it is
    /// accepted with a `NO_CODE_SIGNING_EKU` finding).
    pub strict_eku: Option<bool>,
}

/// Options of [`Signer::from_pkcs11_uri`].
#[napi(object, object_to_js = false)]
pub struct Pkcs11Options {
    /// The PKCS#11 module, when the URI has no `module-path`.
    pub module_path: Option<String>,
    /// The user PIN, when the URI has no `pin-value`.
    pub pin: Option<Bytes>,
    /// The signing certificate (PEM or DER); by default the one stored in the token.
    pub certificate: Option<Bytes>,
    /// Its issuing chain (PEM): intermediates, then the root last.
    pub chain: Option<Bytes>,
    /// As [`SignerOptions::strict_eku`].
    pub strict_eku: Option<bool>,
}

/// Something found about the signing material that does not stop signing.
#[napi(object)]
pub struct MaterialFinding {
    /// Stable code: `NO_SUBJECT_ALT_NAME`, `CHAIN_ENDS_WITHOUT_ROOT`, `NO_CODE_SIGNING_EKU`.
    pub code: String,
    /// What it means.
    pub message: String,
}

/// `strictEku` as the core's check.
fn eku_check(strict: Option<bool>) -> ironsign::EkuCheck {
    if strict.unwrap_or(false) { ironsign::EkuCheck::Strict } else { ironsign::EkuCheck::Warn }
}

/// Options of [`Signer::from_kms_uri`].
#[napi(object, object_to_js = false)]
pub struct KmsOptions {
    /// The signing certificate (PEM or DER) for the KMS key. Without it, signatures are key-only.
    pub certificate: Option<Bytes>,
    /// Its issuing chain (PEM): intermediates, then the root last.
    pub chain: Option<Bytes>,
    /// As [`SignerOptions::strict_eku`].
    pub strict_eku: Option<bool>,
}

/// A private key with its optional signing certificate and chain.
#[napi]
pub struct Signer {
    pub(crate) material: SigningMaterial,
}

#[napi]
impl Signer {
    /// Loads a private key (PKCS#8, SEC1, PKCS#1, encrypted PKCS#8, cosign's encrypted format)
    /// from PEM, with its certificate and chain. The certificate must match the key, be valid now,
    /// allow code signing, and chain to the chain's root.
    #[napi(factory)]
    pub fn from_key_pem(env: &Env, key: Bytes, options: Option<SignerOptions>) -> Result<Signer> {
        let key = Zeroizing::new(bytes(&key));
        sync(env, || Signer::load(&key, "key", options))
    }

    /// Loads a private key file (see [`Signer::from_key_pem`]).
    #[napi(factory)]
    pub fn from_key_file(env: &Env, path: String, options: Option<SignerOptions>) -> Result<Signer> {
        sync(env, || {
            let key = Zeroizing::new(
                std::fs::read(&path)
                    .map_err(|e| ironsign::InputError::Io { path: path.clone(), reason: e.to_string() })?,
            );
            Signer::load(&key, &path, options)
        })
    }

    /// A key in a PKCS#11 token by RFC 7512 URI, as cosign takes them
    /// (`pkcs11:token=…;object=…;id=…?module-path=…&pin-value=…`). Nothing is read from the
    /// environment.
    #[napi(factory)]
    pub fn from_pkcs11_uri(env: &Env, uri: String, options: Option<Pkcs11Options>) -> Result<Signer> {
        sync(env, || {
            let options = options.unwrap_or(Pkcs11Options {
                module_path: None,
                pin: None,
                certificate: None,
                chain: None,
                strict_eku: None,
            });
            let parsed = ironsign::Pkcs11Uri::parse(&uri)?;
            let pin = options.pin.as_ref().map(|p| Zeroizing::new(String::from_utf8_lossy(&bytes(p)).into_owned()));
            let module = options.module_path.as_deref().map(std::path::Path::new);
            let signer = ironsign::Pkcs11Signer::open(&parsed, module, pin.as_ref().map(|p| p.as_str()))?;
            // The token's own certificate unless one is given.
            let certificate =
                certificate_option(options.certificate.as_ref())?.or_else(|| signer.certificate().cloned());
            Signer::with_material(Arc::new(signer), certificate, options.chain.as_ref(), options.strict_eku)
        })
    }

    /// A key in a KMS by cosign's URI: `awskms://[ENDPOINT]/KEY_ID|alias/NAME|ARN` or
    /// `hashivault://KEY`. The provider is configured from the process environment as cosign does
    /// (AWS's standard configuration and credential chain, `AWS_CA_BUNDLE`; `VAULT_ADDR`,
    /// `VAULT_TOKEN`, …: see docs/kms.md); the private key never leaves the KMS.
    #[napi(factory)]
    pub fn from_kms_uri(env: &Env, uri: String, options: Option<KmsOptions>) -> Result<Signer> {
        sync(env, || {
            let options = options.unwrap_or(KmsOptions { certificate: None, chain: None, strict_eku: None });
            let signer = ironsign::KmsSigner::open_with_process_environment(&uri)?;
            let certificate = certificate_option(options.certificate.as_ref())?;
            Signer::with_material(Arc::new(signer), certificate, options.chain.as_ref(), options.strict_eku)
        })
    }

    /// This signer, timestamping every signature at the RFC 3161 timestamp authority `url`.
    #[napi]
    pub fn with_timestamp_server(&self, env: &Env, url: String) -> Result<Signer> {
        sync(env, || {
            let client = ironsign::TimestampClient::new(&url, &[])?;
            Ok(Signer { material: self.material.clone().with_timestamp_authority(client) })
        })
    }

    /// The public key, PEM.
    #[napi(getter)]
    pub fn public_key_pem(&self) -> String {
        self.material.signer().public_key().to_pem()
    }

    /// Warnings about the signing material (e.g. a certificate without SAN).
    #[napi(getter)]
    pub fn warnings(&self) -> Vec<String> {
        self.material.warnings()
    }

    /// The same findings with their stable codes (`NO_SUBJECT_ALT_NAME`,
    /// `CHAIN_ENDS_WITHOUT_ROOT`, `NO_CODE_SIGNING_EKU`).
    #[napi(getter)]
    pub fn findings(&self) -> Vec<MaterialFinding> {
        self.material
            .findings()
            .iter()
            .map(|f| MaterialFinding { code: f.code().into(), message: f.to_string() })
            .collect()
    }
}

impl Signer {
    fn load(key: &[u8], what: &str, options: Option<SignerOptions>) -> std::result::Result<Signer, ironsign::Error> {
        let options =
            options.unwrap_or(SignerOptions { certificate: None, chain: None, password: None, strict_eku: None });
        let password = options.password.as_ref().map(|p| Zeroizing::new(bytes(p)));
        let signer = KeyPairSigner::from_pem(key, password.as_ref().map(|p| p.as_slice()), what)?;
        let certificate = certificate_option(options.certificate.as_ref())?;
        Signer::with_material(Arc::new(signer), certificate, options.chain.as_ref(), options.strict_eku)
    }

    /// Signing material from a signer, its optional certificate and chain, the certificate's
    /// extended key usage checked as `strict_eku` asks.
    fn with_material(
        signer: Arc<dyn ironsign::Signer>,
        certificate: Option<Certificate>,
        chain: Option<&Bytes>,
        strict_eku: Option<bool>,
    ) -> std::result::Result<Signer, ironsign::Error> {
        let mut material = SigningMaterial::new(signer);
        if let Some(cert) = certificate {
            let chain = match chain {
                Some(c) => Certificate::from_pem_many(&bytes(c), "chain", ironsign::pki::DEFAULT_MAX_CHAIN)?,
                None => Vec::new(),
            };
            material =
                material.with_certificate_checked(cert, chain, std::time::SystemTime::now(), eku_check(strict_eku))?;
        } else if chain.is_some() {
            return Err(invalid_argument("chain", "a chain needs a certificate"));
        }
        Ok(Signer { material })
    }
}

/// The `certificate` option (PEM or DER), parsed.
fn certificate_option(certificate: Option<&Bytes>) -> std::result::Result<Option<Certificate>, ironsign::Error> {
    certificate.map(|c| Certificate::from_pem_or_der(&bytes(c), "certificate")).transpose().map_err(Into::into)
}

/// Input of [`TrustRoot::from_pem`].
#[napi(object, object_to_js = false)]
pub struct TrustRootPem {
    /// Root CA certificates (PEM; each item may hold several).
    #[napi(ts_type = "string | Buffer | Array<string | Buffer>")]
    pub roots: Either<Bytes, Vec<Bytes>>,
    /// Intermediate CA certificates available for path building.
    #[napi(ts_type = "string | Buffer | Array<string | Buffer> | null")]
    pub intermediates: Option<Option<Either<Bytes, Vec<Bytes>>>>,
}

fn concat(input: Option<&Either<Bytes, Vec<Bytes>>>) -> Vec<u8> {
    let mut out = Vec::new();
    for item in convert::one_or_many(input) {
        out.extend(bytes(item));
        out.push(b'\n');
    }
    out
}

/// Trust material: root CAs (with optional intermediates) and/or public keys.
#[napi]
pub struct TrustRoot {
    pub(crate) verifier: Arc<ironsign::Verifier>,
}

#[napi]
impl TrustRoot {
    /// Trusts these root CAs (self-signed), with these intermediates for path building.
    #[napi(factory)]
    pub fn from_pem(env: &Env, pem: TrustRootPem) -> Result<TrustRoot> {
        let roots = concat(Some(&pem.roots));
        let intermediates = pem.intermediates.as_ref().and_then(Option::as_ref).map(|i| concat(Some(i)));
        sync(env, || {
            let trust = ironsign::TrustRoot::from_pem(&roots, intermediates.as_deref())?;
            Ok(TrustRoot { verifier: Arc::new(ironsign::Verifier::new(trust)) })
        })
    }

    /// Trusts a cosign-style `--certificate-chain` file's content: intermediates, then the root.
    #[napi(factory)]
    pub fn from_chain_pem(env: &Env, chain: Bytes) -> Result<TrustRoot> {
        let chain = bytes(&chain);
        sync(env, || {
            let trust = ironsign::TrustRoot::from_chain_pem(&chain)?;
            Ok(TrustRoot { verifier: Arc::new(ironsign::Verifier::new(trust)) })
        })
    }

    /// This trust plus RFC 3161 timestamp authorities (PEM: the TSA certificate and its CAs).
    #[napi]
    pub fn with_timestamp_authorities(&self, env: &Env, pem: Bytes) -> Result<TrustRoot> {
        let pem = bytes(&pem);
        sync(env, || {
            let tsa = ironsign::TimestampAuthorities::from_pem(&pem)?;
            let trust = self.verifier.trust().clone().with_timestamp_authorities(tsa);
            Ok(TrustRoot { verifier: Arc::new(ironsign::Verifier::new(trust)) })
        })
    }

    /// This trust plus certificate revocation lists (PEM or DER).
    #[napi]
    pub fn with_crls(&self, env: &Env, crls: Bytes) -> Result<TrustRoot> {
        let crls = bytes(&crls);
        sync(env, || {
            let trust = self.verifier.trust().clone().with_crls(&crls, "CRL")?;
            Ok(TrustRoot { verifier: Arc::new(ironsign::Verifier::new(trust)) })
        })
    }

    /// What this trust root's cache of verdicts by content did: `hits` are verifications of an
    /// unchanged image under the same policy answered with no signature verified.
    #[napi]
    pub fn result_cache_stats(&self) -> ResultCacheStats {
        let stats = self.verifier.result_cache_stats();
        ResultCacheStats { hits: stats.hits as i64, misses: stats.misses as i64, entries: stats.entries as i64 }
    }

    /// Trusts signatures made with these public keys (PEM), cosign's `--key`.
    #[napi(factory)]
    pub fn from_public_keys(
        env: &Env,
        #[napi(ts_arg_type = "string | Buffer | Array<string | Buffer>")] keys: Either<Bytes, Vec<Bytes>>,
    ) -> Result<TrustRoot> {
        let keys: Vec<Vec<u8>> = convert::one_or_many(Some(&keys)).into_iter().map(bytes).collect();
        sync(env, || {
            let keys = keys
                .iter()
                .enumerate()
                .map(|(i, k)| PublicKey::from_pem(k, &format!("public key #{i}")))
                .collect::<std::result::Result<Vec<_>, _>>()?;
            if keys.is_empty() {
                return Err(invalid_argument("keys", "no public key given"));
            }
            Ok(TrustRoot { verifier: Arc::new(ironsign::Verifier::new(ironsign::TrustRoot::from_public_keys(keys))) })
        })
    }
}

/// What a trust root's cache of verdicts by content did.
#[napi(object)]
pub struct ResultCacheStats {
    /// Verifications answered from the cache (no signature verified).
    pub hits: i64,
    /// Verifications that verified in full.
    pub misses: i64,
    /// Verdicts held.
    pub entries: i64,
}

/// Options of the [`Policy`] constructor. Give identities for certificate trust (any one of
/// them suffices), none for key trust.
#[napi(object, object_to_js = false)]
pub struct PolicyOptions {
    /// SAN(s) (email, URI or DNS name) the signing certificate must carry.
    #[napi(ts_type = "string | string[] | null")]
    pub identity: Option<Option<Either<String, Vec<String>>>>,
    /// Regular expression(s) a SAN must match; unanchored, as in cosign (write `^…$`).
    #[napi(ts_type = "string | string[] | null")]
    pub identity_regexp: Option<Option<Either<String, Vec<String>>>>,
    /// Subject DN(s), RFC 4514, the certificate must have (an ironsign extension).
    #[napi(ts_type = "string | string[] | null")]
    pub subject: Option<Option<Either<String, Vec<String>>>>,
    /// Regular expression(s) the subject DN must match.
    #[napi(ts_type = "string | string[] | null")]
    pub subject_regexp: Option<Option<Either<String, Vec<String>>>>,
    /// `key: value` pairs every signature payload's `optional` must hold (cosign's `-a`).
    pub annotations: Option<HashMap<String, String>>,
    /// Require a codeSigning extended key usage on the leaf (default: a leaf without the
    /// extension is accepted, as cosign accepts it).
    pub require_code_signing_eku: Option<bool>,
    /// Accept any certificate chaining to a trusted root, whatever its identity. Dangerous.
    pub dangerous_any_identity: Option<bool>,
}

/// What a signature must satisfy beyond the trust material: the signer's identity and the
/// payload's annotations.
#[napi]
pub struct Policy {
    pub(crate) policy: Arc<ironsign::Policy>,
}

#[napi]
impl Policy {
    #[napi(constructor)]
    pub fn new(env: &Env, options: Option<PolicyOptions>) -> Result<Policy> {
        sync(env, || {
            let Some(o) = options else { return Ok(Policy { policy: Arc::new(ironsign::Policy::key_only()) }) };
            // The core's rules (`PolicySpec`), the same for the CLI and Python.
            let list = |v: &Option<Option<Either<String, Vec<String>>>>| {
                v.as_ref()
                    .and_then(Option::as_ref)
                    .map(|v| convert::one_or_many(Some(v)).into_iter().cloned().collect())
            };
            let spec = ironsign::PolicySpec {
                identity: list(&o.identity),
                identity_regexp: list(&o.identity_regexp),
                subject: list(&o.subject),
                subject_regexp: list(&o.subject_regexp),
                annotations: o.annotations.unwrap_or_default().into_iter().collect(),
                require_code_signing_eku: o.require_code_signing_eku.unwrap_or(false),
                dangerous_any_identity: o.dangerous_any_identity.unwrap_or(false),
            };
            Ok(Policy { policy: Arc::new(spec.build()?) })
        })
    }

    /// The annotations required.
    #[napi(getter)]
    pub fn annotations(&self) -> HashMap<String, String> {
        self.policy.annotations().iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }
}
