//! `sign-blob`, `verify-blob`, `attest-blob` and `verify-blob-attestation`: cosign's flags and
//! output (the base64 signature or the envelope on stdout, files for the rest). Every decision is
//! the core's ([`ironsign::blob`], [`ironsign::Verifier::verify_blob`]).

use crate::Output;
use crate::args::{self, PolicyArgs, TrustArgs};
use anyhow::Context as _;
use clap::Args;
use ironsign::blob::{BlobFormat, MAX_BLOB_SIZE, MAX_EVIDENCE_SIZE, SignedBlob};
use ironsign::predicates::PredicateKind;
use ironsign::{BlobEvidence, BlobVerification, Error, InputError, Verifier};
use std::io::Read as _;
use std::path::{Path, PathBuf};

fn invalid(name: &str, reason: impl Into<String>) -> Error {
    InputError::InvalidArgument { name: name.into(), reason: reason.into() }.into()
}

/// Reads at most `limit` bytes of `path` (`-` is stdin), refusing anything longer.
fn read_bounded(path: &Path, limit: u64, what: &str) -> Result<Vec<u8>, Error> {
    let io = |e: std::io::Error| InputError::Io { path: path.display().to_string(), reason: e.to_string() };
    let mut data = Vec::new();
    let reader: Box<dyn std::io::Read> = if path == Path::new("-") {
        Box::new(std::io::stdin())
    } else {
        Box::new(std::fs::File::open(path).map_err(io)?)
    };
    reader.take(limit + 1).read_to_end(&mut data).map_err(io)?;
    if data.len() as u64 > limit {
        return Err(invalid(what, format!("{} is larger than {limit} bytes", path.display())));
    }
    Ok(data)
}

/// Writes an output file (mode 0600, as cosign writes them).
fn write_output(path: &Path, data: &[u8]) -> anyhow::Result<()> {
    crate::write_private(path, data)
}

/// cosign's `--signature`: a file, else the signature itself (URLs are not fetched).
fn signature_argument(value: &str) -> Result<Vec<u8>, Error> {
    let path = Path::new(value);
    if path.exists() {
        return read_bounded(path, MAX_EVIDENCE_SIZE, "--signature");
    }
    if value.starts_with("http://") || value.starts_with("https://") {
        return Err(invalid("--signature", "remote signatures are not fetched: download it and give the file"));
    }
    Ok(value.as_bytes().to_vec())
}

/// Flags every blob signing command takes.
#[derive(Args)]
pub struct BlobSigningArgs {
    /// Private key file (PKCS#8, SEC1, PKCS#1, encrypted PKCS#8, or cosign's encrypted format),
    /// or a key in a PKCS#11 token (pkcs11:…).
    #[arg(long)]
    key: PathBuf,
    /// Signing certificate (PEM or DER) for the key.
    #[arg(long, alias = "cert")]
    certificate: Option<PathBuf>,
    /// Its issuing chain: intermediates, then the root last.
    #[arg(long = "certificate-chain", alias = "cert-chain")]
    certificate_chain: Option<PathBuf>,
    /// RFC 3161 timestamp authority URL: the signature is timestamped.
    #[arg(long = "timestamp-server-url", value_name = "URL")]
    timestamp_server_url: Option<String>,
    /// Refuse a certificate whose extended key usage lacks codeSigning (as `sign --strict-eku`).
    #[arg(long = "strict-eku")]
    strict_eku: bool,
    /// Write everything that verifies the blob to FILE: cosign v2's JSON bundle, or with
    /// --new-bundle-format a Sigstore bundle v0.3 (cosign v3's format).
    #[arg(long, value_name = "FILE")]
    bundle: Option<PathBuf>,
    /// Write a Sigstore bundle v0.3 to --bundle instead of cosign v2's JSON bundle.
    #[arg(long = "new-bundle-format")]
    new_bundle_format: bool,
    /// Accepted for cosign compatibility when false; there is no transparency log to upload to.
    #[arg(long = "tlog-upload", hide = true)]
    _tlog_upload: Option<bool>,
    /// Accepted for cosign compatibility.
    #[arg(short = 'y', long = "yes", hide = true)]
    _yes: bool,
    /// Accepted for cosign v3 compatibility when false: there is no signing configuration
    /// (=true is refused).
    #[arg(long = "use-signing-config", hide = true)]
    _use_signing_config: Option<bool>,
}

impl BlobSigningArgs {
    fn material(&self) -> anyhow::Result<ironsign::SigningMaterial> {
        args::signing_material(
            &self.key,
            self.certificate.as_deref(),
            self.certificate_chain.as_deref(),
            self.timestamp_server_url.as_deref(),
            args::eku_check(self.strict_eku),
            ["--certificate", "--certificate-chain"],
        )
    }

    fn format(&self) -> Result<BlobFormat, Error> {
        match (self.new_bundle_format, &self.bundle) {
            (true, None) => Err(invalid("--new-bundle-format", "needs --bundle FILE to write it to")),
            (true, Some(_)) => Ok(BlobFormat::SigstoreBundle),
            (false, Some(_)) => Ok(BlobFormat::LegacyBundle),
            (false, None) => Ok(BlobFormat::Detached),
        }
    }

    /// Writes the bundle, when asked for.
    fn write_bundle(&self, signed: &SignedBlob, format: BlobFormat) -> anyhow::Result<()> {
        if let Some(path) = &self.bundle {
            let bytes = match format {
                BlobFormat::SigstoreBundle => signed.sigstore_bundle(),
                _ => signed.legacy_bundle(),
            };
            write_output(path, &bytes)?;
            eprintln!("Wrote bundle to file {}", path.display());
        }
        Ok(())
    }
}

#[derive(Args)]
pub struct SignBlobCmd {
    /// The file to sign (`-` for stdin).
    blob: PathBuf,
    #[command(flatten)]
    signing: BlobSigningArgs,
    /// Write the signature to FILE instead of stdout.
    #[arg(long = "output-signature", alias = "output", value_name = "FILE")]
    output_signature: Option<PathBuf>,
    /// Write the signing certificate to FILE (base64 of its PEM, as cosign writes it).
    #[arg(long = "output-certificate", value_name = "FILE")]
    output_certificate: Option<PathBuf>,
    /// Write the RFC 3161 timestamp to FILE (cosign's {"SignedRFC3161Timestamp":…}).
    #[arg(long = "rfc3161-timestamp", value_name = "FILE")]
    rfc3161_timestamp: Option<PathBuf>,
    /// Base64-encode the signature (and certificate) written (the default, as in cosign).
    #[arg(long = "b64", value_name = "true|false")]
    b64: Option<bool>,
}

pub async fn sign_blob(c: SignBlobCmd) -> anyhow::Result<()> {
    let format = c.signing.format()?;
    if c.rfc3161_timestamp.is_some() && c.signing.timestamp_server_url.is_none() {
        return Err(invalid("--rfc3161-timestamp", "needs --timestamp-server-url").into());
    }
    let material = c.signing.material()?;
    let blob = read_bounded(&c.blob, MAX_BLOB_SIZE, "blob")?;
    eprintln!("Using payload from: {}", c.blob.display());
    let signed = ironsign::blob::sign_blob(&blob, &material).await?;
    c.signing.write_bundle(&signed, format)?;
    if format == BlobFormat::SigstoreBundle {
        // cosign v3 writes only the bundle in this format.
        return Ok(());
    }
    let b64 = c.b64.unwrap_or(true);
    let signature = if b64 { signed.signature_base64().into_bytes() } else { signed.signature.clone() };
    match &c.output_signature {
        Some(path) => {
            write_output(path, &signature)?;
            eprintln!("Wrote signature to file {}", path.display());
        }
        None if b64 => outln!("{}", String::from_utf8_lossy(&signature)),
        None => crate::stdout::write_bytes(&signature).context("writing the signature")?,
    }
    if let (Some(path), Some(cert)) = (&c.output_certificate, &signed.certificate) {
        let bytes =
            if b64 { signed.certificate_output().unwrap_or_default().into_bytes() } else { cert.to_pem().into_bytes() };
        write_output(path, &bytes)?;
        eprintln!("Wrote certificate to file {}", path.display());
    }
    if let (Some(path), Some(ts)) = (&c.rfc3161_timestamp, signed.timestamp_json()) {
        write_output(path, ts.as_bytes())?;
        eprintln!("Wrote timestamp to file {}", path.display());
    }
    Ok(())
}

#[derive(Args)]
pub struct AttestBlobCmd {
    /// The file attested (`-` for stdin); with --hash only its name is used.
    blob: PathBuf,
    /// The predicate file.
    #[arg(long, conflicts_with = "statement")]
    predicate: Option<PathBuf>,
    /// A complete in-toto statement to sign as it is, instead of --predicate.
    #[arg(long)]
    statement: Option<PathBuf>,
    /// Predicate type: custom, slsaprovenance, slsaprovenance02, slsaprovenance1, spdx, spdxjson,
    /// cyclonedx, link, vuln, openvex, or a URI.
    #[arg(long = "type", default_value = "custom")]
    predicate_type: String,
    /// The blob's SHA-256 (hex) instead of reading the blob.
    #[arg(long)]
    hash: Option<String>,
    #[command(flatten)]
    signing: BlobSigningArgs,
    /// Write the signed envelope to FILE instead of stdout.
    #[arg(long = "output-signature", value_name = "FILE")]
    output_signature: Option<PathBuf>,
    /// Write the statement to FILE.
    #[arg(long = "output-attestation", value_name = "FILE")]
    output_attestation: Option<PathBuf>,
    /// Write the signing certificate (PEM) to FILE.
    #[arg(long = "output-certificate", value_name = "FILE")]
    output_certificate: Option<PathBuf>,
    /// Write the RFC 3161 timestamp to FILE (cosign's {"SignedRFC3161Timestamp":…}).
    #[arg(long = "rfc3161-timestamp-bundle", alias = "rfc3161-timestamp", value_name = "FILE")]
    rfc3161_timestamp: Option<PathBuf>,
}

pub async fn attest_blob(c: AttestBlobCmd) -> anyhow::Result<()> {
    let format = c.signing.format()?;
    if c.rfc3161_timestamp.is_some() && c.signing.timestamp_server_url.is_none() {
        return Err(invalid("--rfc3161-timestamp-bundle", "needs --timestamp-server-url").into());
    }
    let statement = match (&c.predicate, &c.statement) {
        (None, Some(path)) => {
            let bytes = read_bounded(path, MAX_EVIDENCE_SIZE, "--statement")?;
            ironsign::intoto::Statement::parse(&bytes).map_err(|r| invalid("--statement", r.to_string()))?;
            bytes
        }
        (Some(path), None) => {
            let blob = match &c.hash {
                Some(_) => None,
                None => {
                    eprintln!("Using payload from: {}", c.blob.display());
                    Some(read_bounded(&c.blob, MAX_BLOB_SIZE, "blob")?)
                }
            };
            let input = read_bounded(path, MAX_EVIDENCE_SIZE, "--predicate")?;
            eprintln!("Using payload from: {}", path.display());
            let hash = c.hash.as_ref().map(|hex| format!("sha256:{}", hex.to_ascii_lowercase()));
            let digest = ironsign::blob::blob_digest(blob.as_deref(), hash.as_deref()).map_err(Error::from)?;
            let name = c.blob.to_string_lossy();
            let source = path.display().to_string();
            ironsign::blob::attestation_statement(
                &name,
                &digest,
                &c.predicate_type,
                &input,
                &source,
                std::time::SystemTime::now(),
            )
            .map_err(Error::from)?
        }
        _ => return Err(invalid("--predicate", "give one of --predicate or --statement").into()),
    };
    let material = c.signing.material()?;
    let signed = ironsign::blob::attest_blob(&statement, &material, format).await?;
    c.signing.write_bundle(&signed, format)?;
    if format == BlobFormat::SigstoreBundle {
        return Ok(());
    }
    let envelope = signed.envelope_json().unwrap_or_default();
    match &c.output_signature {
        Some(path) => {
            write_output(path, &envelope)?;
            eprintln!("Signature written in {}", path.display());
        }
        None => outln!("{}", String::from_utf8_lossy(&envelope)),
    }
    if let Some(path) = &c.output_attestation {
        write_output(path, &statement)?;
        eprintln!("Attestation written in {}", path.display());
    }
    if let Some(path) = &c.output_certificate {
        let cert = signed.certificate.as_ref().context("no certificate to write (give --certificate)")?;
        write_output(path, cert.to_pem().as_bytes())?;
    }
    if let (Some(path), Some(ts)) = (&c.rfc3161_timestamp, signed.timestamp_json()) {
        write_output(path, ts.as_bytes())?;
    }
    Ok(())
}

/// What a blob verification reads beside the blob.
#[derive(Args)]
pub struct BlobEvidenceArgs {
    /// The signature: a file (base64, as sign-blob writes it; for an attestation the envelope),
    /// or the base64 signature itself.
    #[arg(long, value_name = "FILE|SIGNATURE")]
    signature: Option<String>,
    /// The signing certificate (PEM, DER, or base64 of its PEM as sign-blob writes it).
    #[arg(long, alias = "cert", value_name = "FILE")]
    certificate: Option<PathBuf>,
    /// The bundle: cosign v2's JSON bundle or a Sigstore bundle v0.3 (told apart by content).
    #[arg(long, value_name = "FILE")]
    bundle: Option<PathBuf>,
    /// The RFC 3161 timestamp file (cosign's {"SignedRFC3161Timestamp":…}).
    #[arg(long = "rfc3161-timestamp", value_name = "FILE")]
    rfc3161_timestamp: Option<PathBuf>,
    /// Accepted for cosign compatibility: verification is always offline.
    #[arg(long = "offline", hide = true)]
    _offline: Option<bool>,
    /// Accepted for cosign v3 compatibility: a bundle's x509CertificateChain is always read (its
    /// certificates are untrusted intermediates; the roots come from the trust flags).
    #[arg(long = "allow-certificate-chain", hide = true)]
    _allow_certificate_chain: Option<bool>,
    /// Accepted for cosign compatibility: one blob is verified.
    #[arg(long = "max-workers", hide = true)]
    _max_workers: Option<u32>,
}

impl BlobEvidenceArgs {
    fn evidence(&self) -> Result<BlobEvidence, Error> {
        let file = |p: &Option<PathBuf>, what: &str| {
            p.as_deref().map(|p| read_bounded(p, MAX_EVIDENCE_SIZE, what)).transpose()
        };
        Ok(BlobEvidence {
            signature: self.signature.as_deref().map(signature_argument).transpose()?,
            certificate: file(&self.certificate, "--certificate")?,
            timestamp: file(&self.rfc3161_timestamp, "--rfc3161-timestamp")?,
            bundle: file(&self.bundle, "--bundle")?,
        })
    }

    /// The policy: `--use-signed-timestamps` (read with the trust flags) requires a timestamp
    /// verified against the timestamp authorities, as cosign's verify-blob does.
    fn policy(trust: &ironsign::TrustRoot, flags: &TrustArgs, policy: &PolicyArgs) -> Result<ironsign::Policy, Error> {
        let require_timestamp = flags.use_signed_timestamps == Some(true);
        Ok(policy.policy(trust, &Default::default())?.require_timestamp(require_timestamp))
    }
}

#[derive(Args)]
pub struct VerifyBlobCmd {
    /// The file verified.
    blob: PathBuf,
    #[command(flatten)]
    evidence: BlobEvidenceArgs,
    #[command(flatten)]
    trust: TrustArgs,
    #[command(flatten)]
    policy: PolicyArgs,
    #[arg(long, short = 'o', value_enum, default_value_t)]
    pub output: Output,
}

fn report(result: &BlobVerification, output: Output) -> anyhow::Result<()> {
    match output {
        Output::Json => outln!("{}", serde_json::to_string_pretty(result)?),
        Output::Text => {
            if let Some(ts) = &result.timestamp {
                eprintln!("Timestamped at {} by {} (certificates checked at that time)", ts.gen_time, ts.tsa_subject);
            }
            eprintln!("Verified OK");
        }
    }
    Ok(())
}

pub fn verify_blob(c: VerifyBlobCmd) -> anyhow::Result<()> {
    let trust = c.trust.trust_root()?;
    let policy = BlobEvidenceArgs::policy(&trust, &c.trust, &c.policy)?;
    let evidence = c.evidence.evidence()?;
    let blob = read_bounded(&c.blob, MAX_BLOB_SIZE, "blob")?;
    let result = Verifier::new(trust).verify_blob(&blob, &evidence, &policy)?;
    report(&result, c.output)
}

#[derive(Args)]
pub struct VerifyBlobAttestationCmd {
    /// The file the attestation is about (not needed with --digest or --check-claims=false).
    blob: Option<PathBuf>,
    #[command(flatten)]
    evidence: BlobEvidenceArgs,
    /// The predicate type required: a shortcut as for attest-blob (default custom) or a URI.
    #[arg(long = "type", default_value = "custom")]
    predicate_type: String,
    /// Check that the statement's subject is the blob (cosign's default); =false skips it.
    #[arg(long = "check-claims")]
    check_claims: Option<bool>,
    /// The blob's digest (hex) instead of the blob.
    #[arg(long)]
    digest: Option<String>,
    /// The algorithm of --digest (sha256, sha384 or sha512).
    #[arg(long = "digestAlg", alias = "digest-alg")]
    digest_alg: Option<String>,
    #[command(flatten)]
    trust: TrustArgs,
    #[command(flatten)]
    policy: PolicyArgs,
    #[arg(long, short = 'o', value_enum, default_value_t)]
    pub output: Output,
}

pub fn verify_blob_attestation(c: VerifyBlobAttestationCmd) -> anyhow::Result<()> {
    let trust = c.trust.trust_root()?;
    let policy = BlobEvidenceArgs::policy(&trust, &c.trust, &c.policy)?;
    let evidence = c.evidence.evidence()?;
    let kind = PredicateKind::parse(&c.predicate_type).map_err(Error::from)?;
    let check_claims = c.check_claims.unwrap_or(true);
    let digest = c
        .digest
        .as_ref()
        .map(|hex| format!("{}:{}", c.digest_alg.as_deref().unwrap_or("sha256"), hex.to_ascii_lowercase()));
    let blob = match (&c.blob, &digest) {
        (Some(path), None) if check_claims => Some(read_bounded(path, MAX_BLOB_SIZE, "blob")?),
        _ => None,
    };
    if check_claims && blob.is_none() && digest.is_none() {
        return Err(invalid("blob", "give the blob, --digest, or --check-claims=false").into());
    }
    let subject =
        ironsign::blob::attestation_subject(check_claims, blob.as_deref(), digest.as_deref()).map_err(Error::from)?;
    let result =
        Verifier::new(trust).verify_blob_attestation(subject.as_ref(), &evidence, &policy, Some(kind.uri()))?;
    report(&result, c.output)
}
