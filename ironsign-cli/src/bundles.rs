//! Flags choosing how signatures and attestations are stored: the legacy `.sig`/`.att` tags (the
//! default, what Harbor recognises) or Sigstore bundle v0.3 referrers as cosign v3 writes them.

use clap::{Args, ValueEnum};
use ironsign::{InputError, SignatureFormat, VerifiedSignature};

/// cosign's `--registry-referrers-mode` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ReferrersMode {
    /// The `.sig`/`.att` tags.
    Legacy,
    /// A Sigstore bundle referrer (OCI 1.1; the referrers tag schema on registries without the API).
    #[value(name = "oci-1-1")]
    Oci11,
}

/// Where a new signature or attestation goes.
#[derive(Debug, Args, Clone)]
pub struct FormatArgs {
    /// Store it as a Sigstore bundle v0.3 referrer, as cosign v3 does by default, instead of the
    /// .sig/.att tag (Harbor recognises only the tag).
    #[arg(long = "bundle-format")]
    bundle_format: bool,
    /// cosign's spelling: oci-1-1 is --bundle-format; legacy (the default) is the tag.
    #[arg(long = "registry-referrers-mode", value_enum, value_name = "MODE")]
    referrers_mode: Option<ReferrersMode>,
}

impl FormatArgs {
    /// The format these flags ask for.
    pub fn format(&self) -> Result<SignatureFormat, ironsign::Error> {
        match (self.bundle_format, self.referrers_mode) {
            (true, Some(ReferrersMode::Legacy)) => Err(InputError::InvalidArgument {
                name: "--bundle-format".into(),
                reason: "contradicts --registry-referrers-mode legacy".into(),
            }
            .into()),
            (true, _) | (false, Some(ReferrersMode::Oci11)) => Ok(SignatureFormat::SigstoreBundle),
            (false, _) => Ok(SignatureFormat::LegacyTag),
        }
    }
}

/// Where a signature or attestation was written, for the text output.
pub fn written_to(image: &ironsign::ImageReference, tag: &str, referrer: Option<&ironsign::Digest>) -> String {
    match referrer {
        Some(r) if tag.is_empty() => {
            format!("{} (bundle referrer, listed by the referrers API)", image.with_digest(r.clone()))
        }
        Some(r) => format!("{} (bundle referrer, listed in {})", image.with_digest(r.clone()), image.with_tag(tag)),
        None => image.with_tag(tag).to_string(),
    }
}

/// A verified signature as `cosign verify` prints it: the payload it verified, or for a bundle
/// cosign's simple-signing view of the statement (`type` is the predicate type).
pub fn printed_payload(signature: &VerifiedSignature, layer_payload: &[u8]) -> Option<serde_json::Value> {
    let mut printed = printed_statement(signature, layer_payload)?;
    // As cosign: a certificate's first SAN in Go's order (DNS names, emails, URIs) is shown as
    // optional.Subject; it is not part of what was signed.
    if let Some(c) = signature.certificate() {
        let subject = c.dns_names.iter().chain(&c.emails).chain(&c.uris).next().cloned().unwrap_or_default();
        if !printed["optional"].is_object() {
            printed["optional"] = serde_json::json!({});
        }
        printed["optional"]["Subject"] = subject.into();
    }
    Some(printed)
}

fn printed_statement(signature: &VerifiedSignature, layer_payload: &[u8]) -> Option<serde_json::Value> {
    match signature.format {
        SignatureFormat::LegacyTag => serde_json::from_slice(layer_payload).ok(),
        SignatureFormat::SigstoreBundle => {
            let p = &signature.payload;
            Some(serde_json::json!({
                "critical": {
                    "identity": {"docker-reference": format!("{}@{}", p.docker_reference, p.docker_manifest_digest)},
                    "image": {"docker-manifest-digest": p.docker_manifest_digest},
                    "type": p.kind,
                },
                "optional": p.optional,
            }))
        }
    }
}
