//! Trust configurations and the verification instructions generated from them (issue 8).

use crate::convert::{Bytes, bytes, to_js};
use crate::errors::sync;
use crate::{Policy, TrustRoot};
use ironsign::instructions::{InstructionsFormat, InstructionsOptions};
use ironsign::{Error, ImageReference, InputError};
use napi::{Env, Result};
use napi_derive::napi;
use serde_json::Value;
use std::path::PathBuf;
use std::sync::Arc;

/// Options of [`TrustConfig::from_text`].
#[napi(object, object_to_js = false)]
pub struct TrustConfigTextOptions {
    /// The directory the PEM files the configuration names are relative to (default: the
    /// current directory).
    pub base_dir: Option<String>,
}

/// A trust configuration (docs/trust-config.md): the root CAs, intermediates, signer identity,
/// image patterns and required attestations that `verifyWithTrustConfig` checks and
/// `instructions` turns into commands and admission policies.
#[napi]
pub struct TrustConfig {
    pub(crate) config: Arc<ironsign::TrustConfig>,
}

#[napi]
impl TrustConfig {
    /// Reads a YAML or JSON configuration file; the PEM files it names are relative to it.
    #[napi(factory)]
    pub fn from_file(env: &Env, path: String) -> Result<TrustConfig> {
        sync(env, || Ok(TrustConfig { config: Arc::new(ironsign::TrustConfig::from_file(path.as_ref())?) }))
    }

    /// Parses configuration text (YAML or JSON).
    #[napi(factory)]
    pub fn from_text(env: &Env, text: String, options: Option<TrustConfigTextOptions>) -> Result<TrustConfig> {
        let base = PathBuf::from(options.and_then(|o| o.base_dir).unwrap_or_default());
        sync(env, || {
            let config = ironsign::TrustConfig::parse(&text, |file| {
                let p = base.join(file);
                std::fs::read(&p)
                    .map_err(|e| Error::from(InputError::Io { path: p.display().to_string(), reason: e.to_string() }))
            })?;
            Ok(TrustConfig { config: Arc::new(config) })
        })
    }

    /// The name of the generated policies.
    #[napi(getter)]
    pub fn name(&self) -> String {
        self.config.name().to_owned()
    }

    /// The image patterns (REGISTRY/REPOSITORY globs).
    #[napi(getter)]
    pub fn images(&self) -> Vec<String> {
        self.config.images().iter().map(|p| p.as_str().to_owned()).collect()
    }

    /// The predicate type URIs every image must carry a verified attestation of.
    #[napi(getter)]
    pub fn required_predicate_types(&self) -> Vec<String> {
        self.config.required_predicate_types().to_vec()
    }

    /// The trust material: its roots and intermediates.
    #[napi(getter)]
    pub fn trust_root(&self) -> TrustRoot {
        TrustRoot { verifier: Arc::new(ironsign::Verifier::new(self.config.trust_root().clone())) }
    }

    /// The identity policy.
    #[napi(getter)]
    pub fn policy(&self) -> Policy {
        Policy { policy: Arc::new(self.config.policy()) }
    }

    /// Whether an image pattern covers `reference`.
    #[napi]
    pub fn covers(&self, env: &Env, reference: String) -> Result<bool> {
        sync(env, || Ok(self.config.covers(&ImageReference::parse(&reference)?)))
    }

    /// The document as written (keys in camelCase).
    #[napi(ts_return_type = "Record<string, unknown>")]
    pub fn to_json(&self) -> Value {
        to_js(self.config.document())
    }
}

/// One generated file.
#[napi(object)]
pub struct GeneratedFile {
    /// Its relative path, e.g. `verify-cosign-v2.sh` or `registries.d/NAME.yaml`.
    pub path: String,
    /// Its media type.
    pub media_type: String,
    /// Its content.
    pub content: String,
}

/// Generates verification instructions from `trustConfig`: the files, the main one first.
/// `format` is `cosign`, `kyverno`, `policy-controller`, `podman`, `markdown` or `html`; with
/// `image`, the instructions name it (it must be covered: `IMAGE_NOT_COVERED` otherwise). With
/// `signingCertificate` (PEM or DER), it must be the configured signer's; when its extended key
/// usage lacks codeSigning, every consumer verifies by its public key.
#[napi]
pub fn instructions(
    env: &Env,
    #[napi(ts_arg_type = "'cosign' | 'kyverno' | 'policy-controller' | 'podman' | 'markdown' | 'html'")] format: String,
    trust_config: &TrustConfig,
    image: Option<String>,
    signing_certificate: Option<Bytes>,
) -> Result<Vec<GeneratedFile>> {
    sync(env, || {
        let format = InstructionsFormat::parse(&format)?;
        let image = image.as_deref().map(ImageReference::parse).transpose()?;
        let signing_certificate = signing_certificate
            .as_ref()
            .map(|c| ironsign::Certificate::from_pem_or_der(&bytes(c), "signing certificate"))
            .transpose()?;
        let options = InstructionsOptions { signing_certificate, ..Default::default() };
        let generated = ironsign::instructions::generate(format, &trust_config.config, image.as_ref(), &options)?;
        Ok(generated
            .files
            .into_iter()
            .map(|f| GeneratedFile { path: f.path, media_type: f.media_type.to_owned(), content: f.content })
            .collect())
    })
}
