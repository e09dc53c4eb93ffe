//! `RegistryClient`: every registry operation as a Promise on napi's Tokio runtime.

use crate::convert::{Bytes, JsonValue, bytes, one_or_many, to_js};
use crate::errors::{invalid_argument, js_error, sync};
use crate::{Policy, Signer, TrustRoot};
use ironsign::attach::AttestOptions;
use ironsign::cosign::AttachmentKind;
use ironsign::predicates::{PredicateKind, PredicateOptions, VulnOptions};
use ironsign::sbom::{InputFormat, SbomType};
use ironsign::{Credential, Error, ImageReference, Keychain, RegistryOptions, SignOptions};
use napi::bindgen_prelude::{Buffer, Either3, PromiseRaw, ToNapiValue};
use napi::{Either, Env};
use napi_derive::napi;
use serde_json::Value;
use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use zeroize::Zeroizing;

/// Runs a core future on napi's Tokio runtime. `convert` runs on the JS thread with the value;
/// a core error rejects the Promise with the JS error of [`js_error`].
pub(crate) fn spawn<'env, T, V>(
    env: &'env Env,
    future: impl Future<Output = Result<T, Error>> + Send + 'static,
    convert: impl FnOnce(&'env Env, T) -> napi::Result<V> + 'static,
) -> napi::Result<PromiseRaw<'env, V>>
where
    T: Send + 'static,
    V: ToNapiValue,
{
    env.spawn_future_with_callback(async move { Ok(future.await) }, move |env, result| match result {
        Ok(value) => convert(env, value),
        Err(e) => Err(js_error(env, &e)),
    })
}

pub(crate) fn parse(reference: &str) -> Result<ImageReference, Error> {
    Ok(ImageReference::parse(reference)?)
}

/// Docker's and podman's credential files, in the order those tools read them, from the
/// environment, as the CLI finds them.
fn default_config_files() -> Vec<PathBuf> {
    let var = |name: &str| std::env::var_os(name).map(PathBuf::from);
    ironsign::registry::auth::docker_and_podman_config_files(
        var("HOME"),
        var("DOCKER_CONFIG"),
        var("REGISTRY_AUTH_FILE"),
        var("XDG_RUNTIME_DIR"),
    )
}

/// Username and password for every registry.
#[napi(object, object_to_js = false)]
pub struct RegistryAuth {
    pub username: String,
    pub password: String,
}

/// Options of the [`RegistryClient`] constructor.
#[napi(object, object_to_js = false)]
pub struct RegistryClientOptions {
    /// `host:port` registries reached over plain HTTP (loopback registries always are).
    #[napi(ts_type = "string[] | null")]
    pub insecure_http: Option<Option<Vec<String>>>,
    /// Extra CA certificate file(s) (PEM) for registry TLS, beside the system's.
    #[napi(ts_type = "string | string[] | null")]
    pub ca_file: Option<Option<Either<String, Vec<String>>>>,
    /// Username and password for every registry; without it, `configFiles` are used.
    #[napi(ts_type = "RegistryAuth | null")]
    pub auth: Option<Option<RegistryAuth>>,
    /// Docker/podman credential files to read (missing ones are skipped). Default: those Docker
    /// and podman read (`DOCKER_CONFIG`, `REGISTRY_AUTH_FILE`, `XDG_RUNTIME_DIR`, `HOME`);
    /// `[]` means anonymous.
    #[napi(ts_type = "string[] | null")]
    pub config_files: Option<Option<Vec<String>>>,
    /// The longest one registry request may take, body included, in seconds (default 300).
    pub timeout: Option<f64>,
}

/// Options of [`RegistryClient::sign`].
#[napi(object, object_to_js = false)]
pub struct SignImageOptions {
    /// `key: value` pairs written into the payload's `optional` (cosign's `-a`).
    pub annotations: Option<HashMap<String, String>>,
    /// Also sign every manifest of a multi-platform index.
    pub recursive: Option<bool>,
    /// The `docker-reference` to write instead of the image's repository.
    pub identity: Option<String>,
    /// Store a Sigstore bundle v0.3 referrer as cosign v3 does (the referrers API, else the
    /// `sha256-<hex>` referrers tag) instead of the `.sig` layer Harbor recognises.
    pub bundle_format: Option<bool>,
}

/// Options of [`RegistryClient::verify`].
#[napi(object)]
pub struct VerifyOptions {
    /// Read and list every signature in both formats; by default the Sigstore bundle referrers
    /// are read only when no legacy `.sig` signature satisfies the policy (the same verdict).
    pub all_signatures: Option<bool>,
}

/// `allSignatures`: every signature, or only what the verdict needs.
fn signature_scope(all_signatures: Option<bool>) -> ironsign::SignatureScope {
    match all_signatures {
        Some(true) => ironsign::SignatureScope::All,
        _ => ironsign::SignatureScope::Sufficient,
    }
}

/// Options of [`RegistryClient::verify_many`].
#[napi(object)]
pub struct VerifyManyOptions {
    /// Most images verified at once (default 16, at least 1).
    pub max_concurrency: Option<u32>,
    /// Read and list every signature in both formats; by default the Sigstore bundle referrers
    /// are read only when no legacy `.sig` signature satisfies the policy (the same verdict).
    pub all_signatures: Option<bool>,
}

/// `bundleFormat: true`: a Sigstore bundle referrer instead of the legacy tag.
fn signature_format(bundle_format: Option<bool>) -> ironsign::SignatureFormat {
    if bundle_format.unwrap_or(false) {
        ironsign::SignatureFormat::SigstoreBundle
    } else {
        ironsign::SignatureFormat::LegacyTag
    }
}

/// Options of [`RegistryClient::attest`].
#[napi(object, object_to_js = false)]
pub struct AttestOptionsJs {
    /// A cosign `--type` shortcut (`custom`, `slsaprovenance`, `slsaprovenance1`, `spdx`,
    /// `spdxjson`, `cyclonedx`, `link`, `vuln`, `openvex`, `scan-tracker`) or a URI.
    pub predicate_type: Option<String>,
    /// The predicate input, as `--predicate`'s file content: a Buffer or string, or an object
    /// (serialised as JSON). For `vuln`, a Grype, Trivy, Anchore or twistcli report.
    #[napi(ts_type = "Buffer | string | object")]
    pub predicate: Either3<Buffer, String, JsonValue>,
    /// Replace the image's attestations of the same predicate type.
    pub replace: Option<bool>,
    /// The in-toto statement version: `v0.1` (cosign's, default) or `v1`.
    #[napi(ts_type = "'v0.1' | 'v1' | null")]
    pub statement_version: Option<Option<String>>,
    /// `vuln`: the scanner, when the report is not recognised.
    pub scanner: Option<String>,
    /// `vuln`: scanner.version, overriding the report.
    pub scanner_version: Option<String>,
    /// `vuln`: scanner.db.version, overriding the report.
    pub scanner_db_version: Option<String>,
    /// `vuln`: metadata.scanStartedOn (RFC 3339).
    pub scan_started: Option<String>,
    /// `vuln`: metadata.scanFinishedOn (RFC 3339).
    pub scan_finished: Option<String>,
    /// Store a Sigstore bundle referrer as cosign v3 does instead of the `.att` layer.
    pub bundle_format: Option<bool>,
}

/// Options of [`RegistryClient::verify_attestation`].
#[napi(object, object_to_js = false)]
pub struct VerifyAttestationOptions {
    /// A `--type` shortcut or a URI (default `custom`).
    pub predicate_type: Option<String>,
    /// Rego policies (`package signature`, rule `allow`), each evaluated over every verified
    /// statement of the type, as `verify-attestation --policy` does.
    pub rego_policies: Option<Vec<RegoPolicySource>>,
}

/// A Rego policy's source, and the name errors give it (default `regoPolicies[i]`).
#[napi(object, object_to_js = false)]
pub struct RegoPolicySource {
    /// The Rego source text.
    pub source: String,
    /// The name errors and denials give it.
    pub name: Option<String>,
}

/// Options of [`RegistryClient::download_attestations`].
#[napi(object, object_to_js = false)]
pub struct PredicateTypeOptions {
    /// A `--type` shortcut or a URI: only attestations claiming it (default: all).
    pub predicate_type: Option<String>,
}

/// Options of [`RegistryClient::attach_sbom`].
#[napi(object, object_to_js = false)]
pub struct AttachSbomOptions {
    /// The declared SBOM type; checked against the detected format.
    #[napi(js_name = "type", ts_type = "'spdx' | 'cyclonedx' | 'syft' | null")]
    pub sbom_type: Option<Option<String>>,
    /// The declared encoding; checked against the detected format.
    #[napi(ts_type = "'json' | 'xml' | 'text' | null")]
    pub input_format: Option<Option<String>>,
}

/// An SBOM read from the registry.
#[napi(object)]
pub struct SbomDownload {
    /// The SBOM document, as stored.
    pub data: Buffer,
    /// Its layer media type (e.g. `text/spdx+json`).
    pub media_type: String,
    /// The image digest.
    pub digest: String,
    /// The SBOM blob digest (checked).
    pub layer_digest: String,
    /// Its size in bytes.
    pub size: i64,
}

fn predicate_kind(value: Option<&str>) -> Result<PredicateKind, Error> {
    Ok(PredicateKind::parse(value.unwrap_or("custom"))?)
}

fn enum_arg<T: serde::de::DeserializeOwned>(name: &str, value: Option<&str>) -> Result<Option<T>, Error> {
    value
        .map(|v| {
            serde_json::from_value(Value::String(v.to_owned())).map_err(|_| invalid_argument(name, format!("{v:?}")))
        })
        .transpose()
}

/// A client for registries and `oci:` image-layout directories.
#[napi]
pub struct RegistryClient {
    pub(crate) inner: Arc<ironsign::RegistryClient>,
}

#[napi]
impl RegistryClient {
    #[napi(constructor)]
    pub fn new(env: &Env, options: Option<RegistryClientOptions>) -> napi::Result<RegistryClient> {
        sync(env, || {
            let o = options.unwrap_or(RegistryClientOptions {
                insecure_http: None,
                ca_file: None,
                auth: None,
                config_files: None,
                timeout: None,
            });
            let mut keychain = Keychain::anonymous();
            if let Some(auth) = o.auth.flatten() {
                if auth.username.is_empty() {
                    return Err(invalid_argument("auth", "the username is empty"));
                }
                keychain = keychain.with_credential(Credential::Basic {
                    username: auth.username,
                    password: Zeroizing::new(auth.password),
                });
            }
            let files = match o.config_files.flatten() {
                Some(files) => files.into_iter().map(PathBuf::from).collect(),
                None => default_config_files(),
            };
            for f in files {
                keychain = keychain.with_config_file(f);
            }
            let ca_certificates_pem = one_or_many(o.ca_file.as_ref().and_then(Option::as_ref))
                .into_iter()
                .map(|p| {
                    std::fs::read(p).map_err(|e| ironsign::InputError::Io { path: p.clone(), reason: e.to_string() })
                })
                .collect::<Result<Vec<_>, _>>()?;
            let mut options = RegistryOptions {
                insecure_registries: o.insecure_http.flatten().unwrap_or_default(),
                ca_certificates_pem,
                keychain,
                ..Default::default()
            };
            if let Some(seconds) = o.timeout {
                options.request_timeout =
                    std::time::Duration::try_from_secs_f64(seconds).ok().filter(|d| !d.is_zero()).ok_or_else(|| {
                        invalid_argument("timeout", format!("{seconds} is not a positive number of seconds"))
                    })?;
            }
            Ok(RegistryClient { inner: Arc::new(ironsign::RegistryClient::new(options)?) })
        })
    }

    /// The manifest digest of `reference` (a tag is resolved).
    #[napi(ts_return_type = "Promise<string>")]
    pub fn digest_of<'env>(&self, env: &'env Env, reference: String) -> napi::Result<PromiseRaw<'env, String>> {
        let client = self.inner.clone();
        spawn(env, async move { Ok(client.digest_of(&parse(&reference)?).await?.to_string()) }, |_, d| Ok(d))
    }

    /// Signs `reference` (a tag is resolved once; its digest is signed) and appends the signature
    /// to its `.sig` manifest, keeping every other signature.
    #[napi(ts_return_type = "Promise<SignReport>")]
    pub fn sign<'env>(
        &self,
        env: &'env Env,
        reference: String,
        signer: &Signer,
        options: Option<SignImageOptions>,
    ) -> napi::Result<PromiseRaw<'env, Value>> {
        let (client, material) = (self.inner.clone(), signer.material.clone());
        let options = options.map(|o| SignOptions {
            annotations: o.annotations.unwrap_or_default().into_iter().collect(),
            recursive: o.recursive.unwrap_or(false),
            identity: o.identity,
            attachment: None,
            format: signature_format(o.bundle_format),
        });
        spawn(
            env,
            async move {
                let report =
                    ironsign::sign::sign_image(&client, &parse(&reference)?, &material, &options.unwrap_or_default())
                        .await?;
                Ok(to_js(&report))
            },
            |_, value| Ok(value),
        )
    }

    /// Fetches the signatures of `reference` and verifies them against `trust` and `policy`.
    /// Resolves to what was proven; rejects with `NO_SIGNATURES` or `NO_MATCHING_SIGNATURE`
    /// (whose `details.rejections` say why each signature was rejected). The Sigstore bundle
    /// referrers are read only when no legacy `.sig` signature satisfies the policy (the same
    /// verdict, fewer requests); `allSignatures: true` reads and lists every one.
    #[napi(ts_return_type = "Promise<VerificationResult>")]
    pub fn verify<'env>(
        &self,
        env: &'env Env,
        reference: String,
        trust: &TrustRoot,
        policy: &Policy,
        options: Option<VerifyOptions>,
    ) -> napi::Result<PromiseRaw<'env, Value>> {
        let (client, verifier, policy) = (self.inner.clone(), trust.verifier.clone(), policy.policy.clone());
        let scope = signature_scope(options.and_then(|o| o.all_signatures));
        spawn(
            env,
            async move {
                // Verification is pure and CPU-bound: it runs on a runtime worker, not on the JS thread.
                let reference = parse(&reference)?;
                let verified = ironsign::batch::verify_image(&client, &verifier, &reference, &policy, scope).await?;
                Ok(to_js(&verified.result))
            },
            |_, value| Ok(value),
        )
    }

    /// Verifies many images with this one client and `trust`'s verifier (its validated
    /// certificate paths are reused), at most `maxConcurrency` at once. Resolves to one entry per
    /// reference, in order: `{ reference, result }` or `{ reference, error }` (the error's code,
    /// family, message and details): one bad image does not hide the others' verdicts. A
    /// reference that does not parse rejects the whole call (`INVALID_REFERENCE`).
    #[napi(ts_return_type = "Promise<VerifyManyEntry[]>")]
    pub fn verify_many<'env>(
        &self,
        env: &'env Env,
        references: Vec<String>,
        trust: &TrustRoot,
        policy: &Policy,
        options: Option<VerifyManyOptions>,
    ) -> napi::Result<PromiseRaw<'env, Value>> {
        let (client, verifier, policy) = (self.inner.clone(), trust.verifier.clone(), policy.policy.clone());
        let options = options.unwrap_or(VerifyManyOptions { max_concurrency: None, all_signatures: None });
        let batch = sync(env, || {
            let max_concurrency = options.max_concurrency.unwrap_or(16) as usize;
            if max_concurrency == 0 {
                return Err(invalid_argument("maxConcurrency", "must be at least 1"));
            }
            Ok(ironsign::BatchOptions { max_concurrency, scope: signature_scope(options.all_signatures) })
        })?;
        spawn(
            env,
            async move {
                let images = references.iter().map(|r| parse(r)).collect::<Result<Vec<_>, _>>()?;
                let results = ironsign::batch::verify_many(&client, &verifier, &images, &policy, &batch).await;
                let entries = references.iter().zip(results).map(|(reference, result)| match result {
                    Ok(verified) => serde_json::json!({"reference": reference, "result": to_js(&verified.result)}),
                    Err(e) => serde_json::json!({"reference": reference, "error": {
                        "code": e.code(),
                        "family": crate::errors::family(e.family()),
                        "message": e.to_string(),
                        "details": crate::convert::camel_case_keys(e.details()),
                    }}),
                });
                Ok(Value::Array(entries.collect()))
            },
            |_, value| Ok(value),
        )
    }

    /// Verifies `reference` as a trust configuration says: covered by its image patterns (else
    /// `IMAGE_NOT_COVERED`, before any request), signed by its identity under its CAs, with a
    /// verified attestation of every required predicate type.
    #[napi(ts_return_type = "Promise<TrustConfigVerification>")]
    pub fn verify_with_trust_config<'env>(
        &self,
        env: &'env Env,
        reference: String,
        trust_config: &crate::trust::TrustConfig,
    ) -> napi::Result<PromiseRaw<'env, Value>> {
        let (client, config) = (self.inner.clone(), trust_config.config.clone());
        spawn(
            env,
            async move { Ok(to_js(&ironsign::trust_config::verify_image(&client, &config, &parse(&reference)?).await?)) },
            |_, value| Ok(value),
        )
    }

    /// Attests `reference`: signs an in-toto statement over the predicate built from `predicate`
    /// (as `ironsign attest --type T --predicate FILE` does) and appends it to the `.att` manifest.
    #[napi(ts_return_type = "Promise<AttestReport>")]
    pub fn attest<'env>(
        &self,
        env: &'env Env,
        reference: String,
        signer: &Signer,
        options: AttestOptionsJs,
    ) -> napi::Result<PromiseRaw<'env, Value>> {
        let (client, material) = (self.inner.clone(), signer.material.clone());
        let input = match &options.predicate {
            Either3::A(buffer) => buffer.to_vec(),
            Either3::B(text) => text.as_bytes().to_vec(),
            Either3::C(JsonValue(v)) => serde_json::to_vec(v).unwrap_or_default(),
        };
        spawn(
            env,
            async move {
                let kind = predicate_kind(options.predicate_type.as_deref())?;
                let version = match options.statement_version.flatten().as_deref() {
                    None | Some("v0.1") => ironsign::intoto::StatementVersion::V01,
                    Some("v1") => ironsign::intoto::StatementVersion::V1,
                    Some(other) => return Err(invalid_argument("statementVersion", format!("{other:?}"))),
                };
                let build_options = PredicateOptions {
                    now: std::time::SystemTime::now(),
                    vuln: VulnOptions {
                        scanner: options.scanner,
                        scanner_version: options.scanner_version,
                        db_version: options.scanner_db_version,
                        scan_started: options.scan_started,
                        scan_finished: options.scan_finished,
                    },
                };
                let predicate = ironsign::predicates::build(&kind, &input, "predicate", &build_options)?;
                let attest = AttestOptions {
                    replace: options.replace.unwrap_or(false),
                    statement_version: version,
                    format: signature_format(options.bundle_format),
                };
                let report = ironsign::attach::attest_image(
                    &client,
                    &parse(&reference)?,
                    &material,
                    kind.uri(),
                    predicate,
                    &attest,
                )
                .await?;
                Ok(to_js(&report))
            },
            |_, value| Ok(value),
        )
    }

    /// Verifies the attestations of `reference` of one predicate type (default `custom`), and
    /// every verified statement against the Rego policies given. Resolves to the verified
    /// statements; rejects like [`RegistryClient::verify`] (and `POLICY_DENIED`,
    /// `INVALID_POLICY`).
    #[napi(ts_return_type = "Promise<AttestationResult>")]
    pub fn verify_attestation<'env>(
        &self,
        env: &'env Env,
        reference: String,
        trust: &TrustRoot,
        policy: &Policy,
        options: Option<VerifyAttestationOptions>,
    ) -> napi::Result<PromiseRaw<'env, Value>> {
        let (client, verifier, policy) = (self.inner.clone(), trust.verifier.clone(), policy.policy.clone());
        let (predicate_type, rego) = options.map(|o| (o.predicate_type, o.rego_policies)).unwrap_or_default();
        spawn(
            env,
            async move {
                let kind = predicate_kind(predicate_type.as_deref())?;
                let rego = rego
                    .unwrap_or_default()
                    .iter()
                    .enumerate()
                    .map(|(i, p)| {
                        let name = p.name.clone().unwrap_or_else(|| format!("regoPolicies[{i}]"));
                        ironsign::RegoPolicy::new(&name, &p.source)
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                let attached = client.fetch_attestations(&parse(&reference)?).await?;
                Ok(to_js(&verifier.verify_attestations(&attached, &policy, kind.uri(), &rego)?))
            },
            |_, value| Ok(value),
        )
    }

    /// Attaches an SBOM to `reference`'s `.sbom` tag, replacing any previous one. The format is
    /// detected from the content and must agree with `type`/`inputFormat` when given.
    #[napi(ts_return_type = "Promise<AttachReport>")]
    pub fn attach_sbom<'env>(
        &self,
        env: &'env Env,
        reference: String,
        sbom: Bytes,
        options: Option<AttachSbomOptions>,
    ) -> napi::Result<PromiseRaw<'env, Value>> {
        let client = self.inner.clone();
        let data = bytes(&sbom);
        let (declared_type, declared_input) =
            options.map(|o| (o.sbom_type.flatten(), o.input_format.flatten())).unwrap_or_default();
        spawn(
            env,
            async move {
                let declared_type: Option<SbomType> = enum_arg("type", declared_type.as_deref())?;
                let declared_input: Option<InputFormat> = enum_arg("inputFormat", declared_input.as_deref())?;
                let detected = ironsign::sbom::detect(data.as_slice(), "sbom")?;
                let format = ironsign::sbom::check_declared(detected, declared_type, declared_input, "sbom")?;
                // The core streams SBOMs from files, so the Buffer goes through a private temporary file.
                let dir = tempfile::tempdir().map_err(|e| ironsign::InputError::Io {
                    path: "temporary directory".into(),
                    reason: e.to_string(),
                })?;
                let path = dir.path().join("sbom");
                std::fs::write(&path, &data).map_err(|e| ironsign::InputError::Io {
                    path: path.display().to_string(),
                    reason: e.to_string(),
                })?;
                let report = ironsign::attach::attach_sbom(&client, &parse(&reference)?, &path, format).await?;
                Ok(to_js(&report))
            },
            |_, value| Ok(value),
        )
    }

    /// Reads `reference`'s SBOM (the single layer of its `.sbom` manifest), checked against its
    /// digest. Rejects with `NO_SIGNATURES` when the image has none.
    #[napi(ts_return_type = "Promise<SbomDownload>")]
    pub fn download_sbom<'env>(
        &self,
        env: &'env Env,
        reference: String,
    ) -> napi::Result<PromiseRaw<'env, SbomDownload>> {
        let client = self.inner.clone();
        spawn(
            env,
            async move {
                let dir = tempfile::tempdir().map_err(|e| ironsign::InputError::Io {
                    path: "temporary directory".into(),
                    reason: e.to_string(),
                })?;
                let path = dir.path().join("sbom");
                let d = ironsign::download::download_sbom(&client, &parse(&reference)?, &path).await?;
                let data = std::fs::read(&path).map_err(|e| ironsign::InputError::Io {
                    path: path.display().to_string(),
                    reason: e.to_string(),
                })?;
                Ok((d, data))
            },
            |_, (d, data)| {
                Ok(SbomDownload {
                    data: data.into(),
                    media_type: d.media_type,
                    digest: d.digest.to_string(),
                    layer_digest: d.layer_digest.to_string(),
                    size: d.size as i64,
                })
            },
        )
    }

    /// The attestations of `reference` as stored (NOT verified), optionally only those whose
    /// statement claims a predicate type: each envelope with its decoded statement.
    #[napi(ts_return_type = "Promise<DownloadedAttestation[]>")]
    pub fn download_attestations<'env>(
        &self,
        env: &'env Env,
        reference: String,
        options: Option<PredicateTypeOptions>,
    ) -> napi::Result<PromiseRaw<'env, Value>> {
        let client = self.inner.clone();
        let predicate_type = options.and_then(|o| o.predicate_type);
        spawn(
            env,
            async move {
                let filter = predicate_type.as_deref().map(|t| predicate_kind(Some(t))).transpose()?;
                let image = parse(&reference)?;
                let digest = client.digest_of(&image).await?;
                let attached = client.fetch_attached(&image, &digest, AttachmentKind::Attestation).await?;
                let lines = ironsign::download::attestation_lines(&attached, filter.as_ref().map(|k| k.uri()));
                let items = lines
                    .iter()
                    .map(|line| {
                        let envelope: Value = serde_json::from_str(line).unwrap_or(Value::Null);
                        let statement = ironsign::dsse::Envelope::parse(line.as_bytes())
                            .ok()
                            .and_then(|e| e.payload_bytes().ok())
                            .and_then(|p| serde_json::from_slice::<Value>(&p).ok())
                            .unwrap_or(Value::Null);
                        let predicate_type = statement.get("predicateType").cloned().unwrap_or(Value::Null);
                        serde_json::json!({"predicateType": predicate_type, "statement": statement, "envelope": envelope})
                    })
                    .collect();
                Ok(Value::Array(items))
            },
            |_, value| Ok(value),
        )
    }

    /// The signatures of `reference` as stored (NOT verified), in `cosign download signature`'s
    /// shape: `{ Base64Signature, Payload, Cert, Chain, Bundle, RFC3161Timestamp }`.
    #[napi(ts_return_type = "Promise<DownloadedSignature[]>")]
    pub fn download_signatures<'env>(
        &self,
        env: &'env Env,
        reference: String,
    ) -> napi::Result<PromiseRaw<'env, Value>> {
        let client = self.inner.clone();
        spawn(
            env,
            async move {
                let signed = client.fetch_signatures(&parse(&reference)?).await?;
                let lines = ironsign::download::signature_lines(&signed, client.limits().max_chain);
                Ok(Value::Array(lines.iter().map(|l| serde_json::from_str(l).unwrap_or(Value::Null)).collect()))
            },
            |_, value| Ok(value),
        )
    }
}
