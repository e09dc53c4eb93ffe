//! `instructions` and `verify --trust-config`: one trust configuration file drives both what end
//! users are told to run and what the pipeline checks.

use crate::args::{PolicyArgs, RegistryArgs, TrustArgs};
use crate::{Output, parse_ref};
use anyhow::Context as _;
use clap::{Args, ValueEnum};
use ironsign::instructions::{InstructionsFormat, InstructionsOptions};
use ironsign::{Error, ImageReference, InputError, TrustConfig};
use std::path::{Path, PathBuf};

#[derive(Clone, Copy, ValueEnum)]
enum FormatArg {
    Cosign,
    Kyverno,
    PolicyController,
    Podman,
    Markdown,
    Html,
}

impl From<FormatArg> for InstructionsFormat {
    fn from(f: FormatArg) -> Self {
        match f {
            FormatArg::Cosign => InstructionsFormat::Cosign,
            FormatArg::Kyverno => InstructionsFormat::Kyverno,
            FormatArg::PolicyController => InstructionsFormat::PolicyController,
            FormatArg::Podman => InstructionsFormat::Podman,
            FormatArg::Markdown => InstructionsFormat::Markdown,
            FormatArg::Html => InstructionsFormat::Html,
        }
    }
}

#[derive(Args)]
pub struct InstructionsCmd {
    /// What to generate: cosign (v2 and v3 scripts), kyverno (ClusterPolicy and
    /// ImageValidatingPolicy), policy-controller (ClusterImagePolicy and TrustRoot), podman
    /// (policy.json, registries.d), markdown or html (a page for people).
    #[arg(value_enum)]
    format: FormatArg,
    /// The image the instructions name (by digest, ideally); it must be covered by the
    /// configuration. Without it, the instructions cover every configured pattern.
    image: Option<String>,
    /// The trust configuration (YAML or JSON; docs/trust-config.md).
    #[arg(long = "trust-config", value_name = "FILE")]
    trust_config: PathBuf,
    /// Write each generated file into this directory instead of printing them all.
    #[arg(long = "output-dir", value_name = "DIR")]
    output_dir: Option<PathBuf>,
    /// podman: the directory policy.json names for the PEM files.
    #[arg(long = "podman-certificate-dir", value_name = "DIR")]
    podman_certificate_dir: Option<String>,
}

/// Reads a trust configuration, and the PEM files it names relative to its directory.
pub fn load_trust_config(path: &Path) -> Result<TrustConfig, Error> {
    TrustConfig::from_file(path)
}

pub fn instructions(c: InstructionsCmd) -> anyhow::Result<()> {
    let config = load_trust_config(&c.trust_config)?;
    let image = c.image.as_deref().map(parse_ref).transpose()?;
    let options = InstructionsOptions { podman_certificate_dir: c.podman_certificate_dir };
    let generated = ironsign::instructions::generate(c.format.into(), &config, image.as_ref(), &options)?;
    let Some(dir) = c.output_dir else {
        out!("{}", generated.to_text());
        return Ok(());
    };
    for file in &generated.files {
        let path = dir.join(&file.path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&path, &file.content).with_context(|| format!("writing {}", path.display()))?;
        #[cfg(unix)]
        if file.path.ends_with(".sh") {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
                .with_context(|| format!("making {} executable", path.display()))?;
        }
        eprintln!("Wrote {}", path.display());
    }
    Ok(())
}

/// A trust configuration with the flags given beside `--trust-config`: those that can only make
/// verification stricter (`--crl`, `--require-code-signing-eku`, `-a`) are applied; those that
/// would replace the configuration's trust (keys, roots, intermediates, a TSA chain, identities)
/// are refused, naming them. A TSA chain is refused even when the file has no `tsa` section: it
/// would let timestamps vouch for certificates that have expired since, a loosening.
pub fn trust_config_with_flags(
    path: &Path,
    trust: &TrustArgs,
    policy: &PolicyArgs,
    annotations: &[String],
) -> Result<TrustConfig, Error> {
    let replacing: Vec<&str> =
        trust.given_flags().into_iter().filter(|f| *f != "--crl").chain(policy.identity_flags_given()).collect();
    if let Some(first) = replacing.first() {
        return Err(InputError::InvalidArgument {
            name: (*first).into(),
            reason: format!(
                "{} would replace the trust configuration's roots, intermediates, TSA chain or identity: set them in the file (only --crl, --require-code-signing-eku and -a may go beside --trust-config)",
                replacing.join(", ")
            ),
        }
        .into());
    }
    let mut config = load_trust_config(path)?;
    for (crl, what) in trust.crls()? {
        config = config.with_crls(&crl, &what)?;
    }
    for (key, value) in crate::args::parse_annotations(annotations)? {
        config = config.with_annotation(key, value);
    }
    Ok(config.require_code_signing_eku(policy.require_code_signing_eku)?)
}

/// `verify --trust-config`: the signature and every required attestation, by the configured
/// identity under the configured CAs, of images the configuration covers.
pub async fn verify(
    images: &[ImageReference],
    config: &TrustConfig,
    registry: &RegistryArgs,
    output: Output,
) -> anyhow::Result<()> {
    for image in images {
        config.check_covers(image).map_err(Error::from)?;
    }
    let client = registry.client(&images.iter().collect::<Vec<_>>())?;
    let mut first_error = None;
    for image in images {
        match ironsign::trust_config::verify_image(&client, config, image).await {
            Ok(result) => match output {
                Output::Json => outln!("{}", serde_json::to_string_pretty(&result)?),
                Output::Text => {
                    eprintln!("\nVerification for {} --", image.with_digest(result.signature.digest.clone()));
                    eprintln!("Checked against the trust configuration {:?}:", config.name());
                    eprintln!("  - The image is covered by its image patterns");
                    if config.keys().is_empty() {
                        eprintln!(
                            "  - A signature chains to its root CAs, by its signer identity, valid now, for this digest"
                        );
                    } else {
                        eprintln!("  - A signature verifies with one of its keys, for this digest");
                    }
                    if config.tsa_chain().is_some() {
                        eprintln!(
                            "  - It carries an RFC 3161 timestamp from the configured TSA (certificates checked at its time)"
                        );
                    }
                    for a in &result.attestations {
                        eprintln!("  - A {} attestation verified the same way", a.predicate_type);
                    }
                    for s in &result.signature.signatures {
                        if let Some(cert) = s.certificate() {
                            eprintln!("Signed by {} ({})", cert.subject, s.matched_identity.as_deref().unwrap_or("-"));
                        }
                    }
                    outln!(
                        "{}",
                        serde_json::to_string(
                            &result.signature.signatures.iter().map(|s| &s.payload).collect::<Vec<_>>()
                        )?
                    );
                }
            },
            Err(e) => {
                if images.len() > 1 {
                    eprintln!("Error verifying {image} [{}]: {e}", e.code());
                }
                first_error.get_or_insert(e);
            }
        }
    }
    match first_error {
        Some(e) => Err(e.into()),
        None => Ok(()),
    }
}
