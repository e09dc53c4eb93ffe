//! `ironsign`: the command line. Parsing, environment, output and exit codes only; every
//! decision is the library's.

#[macro_use]
mod stdout;

mod args;
mod attest;
mod blobs;
mod bundles;
mod certs;
#[cfg(test)]
mod flag_syntax_tests;
mod instructions;
mod lifecycle;
mod pkcs11;
mod resign;
mod transfer;
mod trusted_root;

use anyhow::Context as _;
use args::{PolicyArgs, RegistryArgs, TrustArgs};
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use ironsign::{BatchOptions, Error, ErrorFamily, ImageReference, SignOptions, SignatureScope, Verifier};
use std::path::PathBuf;
use std::process::ExitCode;

/// Exit codes, stable and documented (README "Exit codes").
mod exit {
    pub const GENERIC: u8 = 1;
    pub const BAD_INPUT: u8 = 3;
    pub const REGISTRY: u8 = 4;
    pub const NO_SIGNATURES: u8 = 10;
    pub const IMAGE_NOT_FOUND: u8 = 11;
    pub const NO_MATCHING_SIGNATURE: u8 = 12;
}

#[derive(Parser)]
#[command(name = "ironsign", version, about = "Sign and verify OCI images in cosign's formats with your own X.509 PKI")]
struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    global: args::GlobalArgs,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub(crate) enum Output {
    #[default]
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Sign an image (by digest; a tag is resolved once) and append the signature to its .sig tag.
    Sign(SignCmd),
    /// Verify an image's signatures against root CAs and an identity, or a public key.
    Verify(VerifyCmd),
    /// Write a cosign-compatible encrypted key pair (cosign.key, cosign.pub), or create a key in a
    /// KMS (--kms) and write its public key.
    GenerateKeyPair(GenerateKeyPairCmd),
    /// Print the public key of a key file, a PKCS#11 key or a KMS key (PEM).
    PublicKey(PublicKeyCmd),
    /// Encrypt an existing PEM private key (RSA or EC, as openssl writes it) into a cosign key pair
    /// (import-cosign.key, import-cosign.pub).
    ImportKeyPair(ImportKeyPairCmd),
    /// Print ironsign's version (cosign's layout; --json for its JSON keys).
    Version(VersionCmd),
    /// Print where an image's attachment is stored.
    Triangulate(TriangulateCmd),
    /// Print the simple signing payload that signing the image would sign.
    Generate(GenerateCmd),
    /// List everything attached to an image (signatures, attestations, SBOMs, referrers).
    Tree(lifecycle::TreeCmd),
    /// Find (and with --delete remove) attachments whose image is gone or untagged.
    Gc(lifecycle::GcCmd),
    /// Remove one image's attachments (also when the image itself is gone: give it by digest).
    Clean(lifecycle::CleanCmd),
    /// Create a PKCS#10 certificate request for a code-signing certificate.
    Csr(certs::CsrCmd),
    /// Inspect and check certificates.
    #[command(subcommand)]
    Cert(certs::CertCmd),
    /// Attest an image: sign an in-toto statement about it and append it to its .att tag.
    Attest(attest::AttestCmd),
    /// Verify an image's attestations of one predicate type, optionally against Rego policies.
    VerifyAttestation(attest::VerifyAttestationCmd),
    /// Sign a file (a blob): the base64 signature on stdout, or a bundle.
    SignBlob(blobs::SignBlobCmd),
    /// Verify a file's signature, detached or in a bundle (either cosign format).
    VerifyBlob(blobs::VerifyBlobCmd),
    /// Attest a file: sign an in-toto statement about it (a DSSE envelope on stdout, or a bundle).
    AttestBlob(blobs::AttestBlobCmd),
    /// Verify an attestation about a file.
    VerifyBlobAttestation(blobs::VerifyBlobAttestationCmd),
    /// Attach a file to an image.
    #[command(subcommand)]
    Attach(attest::AttachCmd),
    /// Print an image's signatures, attestations or SBOM as cosign does.
    #[command(subcommand)]
    Download(attest::DownloadCmd),
    /// Copy an image (every platform) with its signatures, attestations, SBOMs and referrers.
    Copy(transfer::CopyCmd),
    /// Save an image with its attachments into an OCI image layout (or a tar of one).
    Save(transfer::SaveCmd),
    /// Push an image saved by ironsign save or cosign save, with its attachments, to a registry.
    Load(transfer::LoadCmd),
    /// Generate verification instructions and admission policies from a trust configuration.
    Instructions(instructions::InstructionsCmd),
    /// Sign again the images whose newest valid signature comes from an expiring (or a given)
    /// certificate; prints the plan unless --apply.
    Resign(resign::ResignCmd),
    /// Sigstore trusted roots (trusted_root.json) from private CA and TSA chains.
    #[command(subcommand)]
    TrustedRoot(trusted_root::TrustedRootCmd),
    /// PKCS#11 token helpers.
    #[command(subcommand, alias = "pkcs11-tool")]
    Pkcs11(pkcs11::Pkcs11Cmd),
    /// Print every command and flag as JSON, hidden ones included (scripts/cosign-compat builds
    /// docs/cosign-compat.md from it).
    #[command(name = "cli-definition", hide = true)]
    CliDefinition,
}

#[derive(clap::Args)]
struct SignCmd {
    /// The images: REGISTRY/REPO[:TAG|@DIGEST] or oci:DIR[:TAG|@DIGEST].
    #[arg(required = true)]
    images: Vec<String>,
    /// How many images to sign at once.
    #[arg(long = "max-workers", default_value_t = 8)]
    max_workers: usize,
    #[command(flatten)]
    signing: args::SigningArgs,
    /// key=value written into the payload's "optional" object.
    #[arg(short = 'a', long = "annotations")]
    annotations: Vec<String>,
    /// Also sign every platform manifest of a multi-platform image.
    #[arg(long, short = 'r')]
    recursive: bool,
    /// The docker-reference to write instead of the image's repository.
    #[arg(long = "sign-container-identity")]
    identity: Option<String>,
    /// Sign an attachment of the image instead of the image (cosign's deprecated `--attachment
    /// sbom`: the signature is over the .sbom manifest).
    #[arg(long, value_enum)]
    attachment: Option<SignedAttachment>,
    #[command(flatten)]
    format: bundles::FormatArgs,
    /// Store the signature (the default); with --upload=false sign only and write the
    /// --output-* files (later stored with `attach signature`).
    #[arg(long)]
    upload: Option<bool>,
    /// Write the signature (base64) to this file.
    #[arg(long = "output-signature", value_name = "FILE")]
    output_signature: Option<PathBuf>,
    /// Write the signed payload to this file.
    #[arg(long = "output-payload", value_name = "FILE")]
    output_payload: Option<PathBuf>,
    /// Write the signing certificate (PEM) to this file.
    #[arg(long = "output-certificate", value_name = "FILE")]
    output_certificate: Option<PathBuf>,
    #[command(flatten)]
    _compat: args::CosignSignCompat,
    #[command(flatten)]
    registry: RegistryArgs,
    #[arg(long, short = 'o', value_enum, default_value_t)]
    output: Output,
}

#[derive(clap::Args)]
struct VerifyCmd {
    /// The images: REGISTRY/REPO[:TAG|@DIGEST] or oci:DIR[:TAG|@DIGEST].
    #[arg(required = true)]
    images: Vec<String>,
    /// How many images to verify at once.
    #[arg(long = "max-workers", default_value_t = 10)]
    max_workers: usize,
    /// Read and verify every signature in both formats and list them all. Without it, the Sigstore
    /// bundle referrers are read only when no legacy .sig signature satisfies the policy (the
    /// verdict is the same; fewer registry requests).
    #[arg(long = "all-signatures")]
    all_signatures: bool,
    #[command(flatten)]
    trust: TrustArgs,
    #[command(flatten)]
    policy: PolicyArgs,
    /// key=value the payload's "optional" object must hold.
    #[arg(short = 'a', long = "annotations")]
    annotations: Vec<String>,
    /// Verify as a trust configuration says (roots, intermediates, identity, TSA, CRLs, image
    /// patterns) and require its attestations too. --crl, --require-code-signing-eku and -a add
    /// to it; other trust and identity flags are refused.
    #[arg(long = "trust-config", value_name = "FILE")]
    trust_config: Option<PathBuf>,
    #[command(flatten)]
    registry: RegistryArgs,
    #[arg(long, short = 'o', value_enum, default_value_t)]
    output: Output,
}

#[derive(clap::Args)]
struct GenerateKeyPairCmd {
    /// Write <PREFIX>.key and <PREFIX>.pub.
    #[arg(long = "output-key-prefix", short = 'o', default_value = "cosign")]
    prefix: String,
    /// Overwrite existing files.
    #[arg(long, short = 'f')]
    force: bool,
    /// Create the key in a KMS instead (awskms://[ENDPOINT]/alias/NAME, hashivault://KEY; an
    /// existing key of that name is kept) and write only <PREFIX>.pub.
    #[arg(long, value_name = "URI")]
    kms: Option<String>,
}

#[derive(clap::Args)]
struct PublicKeyCmd {
    /// The private key: a key file, a pkcs11: URI, or a KMS URI (awskms://…, hashivault://…).
    #[arg(long, short = 'k')]
    key: PathBuf,
    /// Write the PEM to this file instead of standard output.
    #[arg(long, value_name = "FILE")]
    outfile: Option<PathBuf>,
}

#[derive(clap::Args)]
struct ImportKeyPairCmd {
    /// The unencrypted PEM private key to import (PKCS#8, SEC1 EC or PKCS#1 RSA).
    #[arg(long, short = 'k', value_name = "FILE")]
    key: PathBuf,
    /// Write <PREFIX>.key and <PREFIX>.pub.
    #[arg(long = "output-key-prefix", short = 'o', default_value = "import-cosign")]
    prefix: String,
    /// Overwrite existing output files (cosign asks; ironsign refuses without this flag).
    #[arg(long, short = 'y')]
    yes: bool,
}

#[derive(clap::Args)]
struct VersionCmd {
    /// Print JSON (cosign's keys: gitVersion, gitCommit, ...).
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum SignedAttachment {
    Sbom,
}

#[derive(Clone, Copy, ValueEnum)]
enum AttachmentType {
    Signature,
    Attestation,
    Sbom,
    Digest,
}

#[derive(clap::Args)]
struct TriangulateCmd {
    /// The image.
    image: String,
    /// Which attachment.
    #[arg(long = "type", value_enum, default_value = "signature")]
    kind: AttachmentType,
    #[command(flatten)]
    registry: RegistryArgs,
}

#[derive(clap::Args)]
struct GenerateCmd {
    /// The image.
    image: String,
    /// key=value written into "optional".
    #[arg(short = 'a', long = "annotations")]
    annotations: Vec<String>,
    #[command(flatten)]
    registry: RegistryArgs,
}

fn main() -> ExitCode {
    let cli = parse_command_line();
    let default_level = if cli.global.verbose { "debug" } else { "warn" };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("IRONSIGN_LOG").unwrap_or_else(|_| default_level.into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let output = match &cli.command {
        Command::Sign(c) => c.output,
        Command::Verify(c) => c.output,
        Command::Tree(c) => c.output,
        Command::Gc(c) => c.output,
        Command::Clean(c) => c.output,
        Command::Attest(c) => c.output,
        Command::VerifyAttestation(c) => c.output,
        Command::VerifyBlob(c) => c.output,
        Command::VerifyBlobAttestation(c) => c.output,
        Command::Copy(c) => c.output,
        Command::Save(c) => c.output,
        Command::Load(c) => c.output,
        Command::Resign(c) => c.output,
        _ => Output::Text,
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("Error: cannot start the runtime: {e}");
            return ExitCode::from(exit::GENERIC);
        }
    };
    let timeout = cli.global.command_timeout;
    let outcome = runtime.block_on(async move {
        match timeout {
            Some(limit) => tokio::time::timeout(limit, run(cli))
                .await
                .unwrap_or_else(|_| Err(anyhow::anyhow!("timed out after {limit:?} (--timeout)"))),
            None => run(cli).await,
        }
    });
    // A timed-out command may leave blocking work (a file read, a token) running: do not wait.
    runtime.shutdown_background();
    match outcome {
        Ok(code) => code,
        Err(e) => report(e, output),
    }
}

/// The command line, booleans read as cosign reads them (see [`args::pflag_booleans`]).
fn parse_command_line() -> Cli {
    let mut command = args::pflag_booleans(Cli::command());
    let parsed = Cli::from_arg_matches_mut(&mut command.get_matches_mut());
    parsed.unwrap_or_else(|e| e.format(&mut command).exit())
}

/// Prints an error (JSON on stdout with `--output json`) and picks its exit code.
fn report(e: anyhow::Error, output: Output) -> ExitCode {
    if let Some(Reported(err)) = e.downcast_ref::<Reported>() {
        return ExitCode::from(exit_code(err));
    }
    let Some(err) = e.downcast_ref::<Error>() else {
        eprintln!("Error: {e:#}");
        return ExitCode::from(exit::GENERIC);
    };
    if output == Output::Json {
        // Best effort: with the reader gone the exit code still tells the error.
        let _ = stdout::write(format_args!("{}\n", serde_json::json!({"error": error_json(err)})));
    }
    eprintln!("Error [{}]: {err}", err.code());
    ExitCode::from(exit_code(err))
}

fn exit_code(err: &Error) -> u8 {
    match err.code() {
        "NO_SIGNATURES" => exit::NO_SIGNATURES,
        "IMAGE_NOT_FOUND" => exit::IMAGE_NOT_FOUND,
        "NO_MATCHING_SIGNATURE" | "POLICY_DENIED" => exit::NO_MATCHING_SIGNATURE,
        _ => match err.family() {
            ErrorFamily::Registry => exit::REGISTRY,
            ErrorFamily::Input | ErrorFamily::Key | ErrorFamily::Certificate => exit::BAD_INPUT,
            _ => exit::GENERIC,
        },
    }
}

pub(crate) fn parse_ref(s: &str) -> Result<ImageReference, Error> {
    Ok(ImageReference::parse(s)?)
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let done = |r: anyhow::Result<()>| r.map(|()| ExitCode::SUCCESS);
    match cli.command {
        Command::Sign(c) => done(sign(c).await),
        Command::Verify(c) => done(verify(c).await),
        Command::GenerateKeyPair(c) => done(generate_key_pair(c)),
        Command::PublicKey(c) => done(public_key(c)),
        Command::ImportKeyPair(c) => done(import_key_pair(c)),
        Command::CliDefinition => done(cli_definition()),
        Command::TrustedRoot(c) => done(trusted_root::trusted_root(c)),
        Command::Version(c) => done(version(c)),
        Command::Csr(c) => done(certs::csr(c)),
        Command::Cert(c) => certs::cert(c),
        Command::Tree(c) => done(lifecycle::tree(c).await),
        Command::Gc(c) => done(lifecycle::gc(c).await),
        Command::Clean(c) => done(lifecycle::clean(c).await),
        Command::Triangulate(c) => {
            let image = parse_ref(&c.image)?;
            let client = c.registry.client(&[&image])?;
            let digest = client.digest_of(&image).await?;
            let suffix = match c.kind {
                AttachmentType::Signature => "sig",
                AttachmentType::Attestation => "att",
                AttachmentType::Sbom => "sbom",
                AttachmentType::Digest => {
                    outln!("{}", image.with_digest(digest));
                    return Ok(ExitCode::SUCCESS);
                }
            };
            outln!("{}", image.with_tag(&digest.attachment_tag(suffix)));
            Ok(ExitCode::SUCCESS)
        }
        Command::Attest(c) => done(attest::attest(c).await),
        Command::VerifyAttestation(c) => done(attest::verify_attestation(c).await),
        Command::Attach(c) => done(attest::attach(c).await),
        Command::SignBlob(c) => done(blobs::sign_blob(c).await),
        Command::VerifyBlob(c) => done(blobs::verify_blob(c)),
        Command::AttestBlob(c) => done(blobs::attest_blob(c).await),
        Command::VerifyBlobAttestation(c) => done(blobs::verify_blob_attestation(c)),
        Command::Download(c) => done(attest::download(c).await),
        Command::Copy(c) => done(transfer::copy(c).await),
        Command::Save(c) => done(transfer::save(c).await),
        Command::Load(c) => done(transfer::load(c).await),
        Command::Instructions(c) => done(instructions::instructions(c)),
        Command::Pkcs11(c) => done(pkcs11::run(c)),
        Command::Resign(c) => done(resign::resign(c).await),
        Command::Generate(c) => {
            let image = parse_ref(&c.image)?;
            let client = c.registry.client(&[&image])?;
            let options = SignOptions { annotations: args::parse_annotations(&c.annotations)?, ..Default::default() };
            let payload = ironsign::sign::generate_payload(&client, &image, &options).await?;
            outln!("{}", String::from_utf8_lossy(&payload));
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn sign(c: SignCmd) -> anyhow::Result<()> {
    let images = c.images.iter().map(|i| parse_ref(i)).collect::<Result<Vec<_>, _>>()?;
    let client = c.registry.client(&images.iter().collect::<Vec<_>>())?;
    let material = c.signing.material()?;
    let options = SignOptions {
        annotations: args::parse_annotations(&c.annotations)?,
        recursive: c.recursive,
        identity: c.identity,
        attachment: c.attachment.map(|SignedAttachment::Sbom| ironsign::cosign::AttachmentKind::Sbom),
        format: c.format.format()?,
    };
    let outputs = SignatureOutputs {
        signature: c.output_signature,
        payload: c.output_payload,
        certificate: c.output_certificate,
    };
    if outputs.certificate.is_some() && material.certificate().is_none() {
        anyhow::bail!("--output-certificate: the signing key has no certificate (give --certificate)");
    }
    if outputs.any() && (images.len() > 1 || c.recursive) {
        anyhow::bail!("--output-* files hold one signature: give one image and no --recursive");
    }
    if c.upload == Some(false) {
        anyhow::ensure!(
            outputs.signature.is_some(),
            "--upload=false stores nothing: give --output-signature (and --output-payload) to keep the signature"
        );
        let detached = ironsign::sign::sign_detached(&client, &images[0], &material, &options).await?;
        return outputs.write(&detached[0], &material);
    }
    let results =
        for_each_image(&images, c.max_workers, |image| ironsign::sign::sign_image(&client, image, &material, &options))
            .await;
    if let Some(Ok(report)) = results.first().filter(|_| outputs.any()) {
        match report.signatures.first().and_then(|s| s.detached.as_ref()) {
            Some(detached) => outputs.write(detached, &material)?,
            None => anyhow::bail!("--output-* files are written for the legacy format only (a bundle is stored whole)"),
        }
    }
    let mut first_error = None;
    for (image, result) in images.iter().zip(results) {
        match result {
            Ok(report) => match c.output {
                Output::Json => outln!("{}", serde_json::to_string(&report)?),
                Output::Text => {
                    for s in &report.signatures {
                        let what = if s.added { "Pushed signature to" } else { "Signature already present in" };
                        eprintln!("{what} {}", bundles::written_to(image, &s.tag, s.referrer.as_ref()));
                    }
                }
            },
            Err(e) => {
                if images.len() > 1 {
                    eprintln!("Error signing {image} [{}]: {e}", e.code());
                }
                first_error.get_or_insert(e);
            }
        }
    }
    first_error.map_or(Ok(()), |e| Err(e.into()))
}

/// `sign --output-signature/--output-payload/--output-certificate`, as cosign writes them.
struct SignatureOutputs {
    signature: Option<PathBuf>,
    payload: Option<PathBuf>,
    certificate: Option<PathBuf>,
}

impl SignatureOutputs {
    fn any(&self) -> bool {
        self.signature.is_some() || self.payload.is_some() || self.certificate.is_some()
    }

    fn write(
        &self,
        detached: &ironsign::DetachedSignature,
        material: &ironsign::SigningMaterial,
    ) -> anyhow::Result<()> {
        let write = |path: &PathBuf, bytes: &[u8]| {
            std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))
        };
        if let Some(path) = &self.signature {
            write(path, detached.signature_base64().as_bytes())?;
        }
        if let Some(path) = &self.payload {
            write(path, &detached.payload)?;
        }
        if let Some(path) = &self.certificate {
            let certificate =
                material.certificate().context("--output-certificate: the signing key has no certificate")?;
            write(path, certificate.to_pem().as_bytes())?;
        }
        Ok(())
    }
}

/// Runs `op` over every image with at most `workers` at once, keeping the order.
async fn for_each_image<'a, T, F, Fut>(images: &'a [ImageReference], workers: usize, op: F) -> Vec<Result<T, Error>>
where
    F: Fn(&'a ImageReference) -> Fut,
    Fut: std::future::Future<Output = Result<T, Error>>,
{
    use futures_util::StreamExt;
    futures_util::stream::iter(images.iter().map(op)).buffered(workers.max(1)).collect().await
}

async fn verify(c: VerifyCmd) -> anyhow::Result<()> {
    let images = c.images.iter().map(|i| parse_ref(i)).collect::<Result<Vec<_>, _>>()?;
    if let Some(path) = &c.trust_config {
        let config = instructions::trust_config_with_flags(path, &c.trust, &c.policy, &c.annotations)?;
        return instructions::verify(&images, &config, &c.registry, c.output).await;
    }
    let trust = c.trust.trust_root()?;
    let annotations = args::parse_annotations(&c.annotations)?;
    let policy = c.policy.policy(&trust, &annotations)?;
    let client = c.registry.client(&images.iter().collect::<Vec<_>>())?;
    let verifier = Verifier::new(trust);
    let scope = if c.all_signatures { SignatureScope::All } else { SignatureScope::Sufficient };
    let options = BatchOptions { max_concurrency: c.max_workers, scope };
    let results = ironsign::batch::verify_many(&client, &verifier, &images, &policy, &options)
        .await
        .into_iter()
        .map(|verified| verified.map(|v| (v.signed, v.result)));
    let many = images.len() > 1;
    let mut first_error = None;
    for (image, outcome) in images.iter().zip(results) {
        match (outcome, c.output) {
            (Ok((_, result)), Output::Json) if !many => outln!("{}", serde_json::to_string_pretty(&result)?),
            (Ok((_, result)), Output::Json) => {
                outln!("{}", serde_json::json!({"image": image.to_string(), "result": result}))
            }
            (Ok((signed, result)), Output::Text) => print_verified(image, &signed, &result)?,
            (Err(e), output) => {
                if many {
                    if output == Output::Json {
                        outln!("{}", serde_json::json!({"image": image.to_string(), "error": error_json(&e)}));
                    }
                    eprintln!("Error verifying {image} [{}]: {e}", e.code());
                }
                first_error.get_or_insert(e);
            }
        }
    }
    match first_error {
        // With several images the errors were printed already; report the first one's exit code.
        Some(e) if many => Err(anyhow::Error::new(Reported(e))),
        Some(e) => Err(e.into()),
        None => Ok(()),
    }
}

fn print_verified(
    image: &ImageReference,
    signed: &ironsign::SignedImage,
    result: &ironsign::VerificationResult,
) -> anyhow::Result<()> {
    eprintln!("\nVerification for {} --", image.with_digest(result.digest.clone()));
    eprintln!("The following checks were performed on each of these signatures:");
    eprintln!("  - The signatures chain to a configured root CA or were made with a configured key");
    eprintln!("  - The signing certificates and their CAs are valid now, for code signing");
    eprintln!("  - The identity and annotation policy was satisfied");
    eprintln!("  - The signatures were verified over the payload, which names this image's digest");
    for s in &result.signatures {
        let format = match s.format {
            ironsign::SignatureFormat::LegacyTag => "legacy .sig tag",
            ironsign::SignatureFormat::SigstoreBundle => "Sigstore bundle referrer",
        };
        match s.certificate() {
            Some(cert) => eprintln!(
                "Signed by {} ({}) [{format}]",
                cert.subject,
                s.matched_identity.as_deref().unwrap_or("any identity")
            ),
            None => eprintln!("Signed by a configured key [{format}]"),
        }
        if let Some(ts) = &s.timestamp {
            eprintln!("  timestamped at {} by {} (certificates checked at that time)", ts.gen_time, ts.tsa_subject);
        }
    }
    // stdout: the verified payloads, as cosign prints them.
    let payloads: Vec<serde_json::Value> = result
        .signatures
        .iter()
        .filter_map(|s| {
            let layer = signed.signatures.get(s.index)?;
            bundles::printed_payload(s, &layer.payload)
        })
        .collect();
    outln!("{}", serde_json::to_string(&payloads).context("encoding payloads")?);
    Ok(())
}

/// An error already printed; only its exit code is still wanted.
#[derive(Debug)]
struct Reported(Error);

impl std::fmt::Display for Reported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for Reported {}

fn error_json(err: &Error) -> serde_json::Value {
    serde_json::json!({"code": err.code(), "family": err.family(), "message": err.to_string(), "details": err.details()})
}

fn generate_key_pair(c: GenerateKeyPairCmd) -> anyhow::Result<()> {
    if let Some(uri) = &c.kms {
        use ironsign::Signer as _;
        let pub_path = PathBuf::from(format!("{}.pub", c.prefix));
        anyhow::ensure!(c.force || !pub_path.exists(), "{} exists; use --force to overwrite", pub_path.display());
        let uri = ironsign::KmsUri::parse(uri).map_err(Error::from)?;
        let config = ironsign::KmsConfig::from_process_environment(&uri).map_err(Error::from)?;
        // cosign's default algorithm for new KMS keys.
        let signer = ironsign::KmsSigner::create(&uri, &config, ironsign::KeyKind::EcdsaP256).map_err(Error::from)?;
        std::fs::write(&pub_path, signer.public_key().to_pem())
            .with_context(|| format!("writing {}", pub_path.display()))?;
        eprintln!("Public key written to {}", pub_path.display());
        return Ok(());
    }
    write_key_pair(&c.prefix, c.force, "--force", |password| {
        ironsign::keys::generate_cosign_key_pair(password).map_err(Error::from)
    })
}

fn import_key_pair(c: ImportKeyPairCmd) -> anyhow::Result<()> {
    let pem = zeroize::Zeroizing::new(
        std::fs::read(&c.key)
            .map_err(|e| ironsign::InputError::Io { path: c.key.display().to_string(), reason: e.to_string() })?,
    );
    let what = c.key.display().to_string();
    write_key_pair(&c.prefix, c.yes, "-y", |password| {
        ironsign::keys::import_cosign_key_pair(&pem, password, &what).map_err(Error::from)
    })
}

/// Writes `<prefix>.key` (mode 0600) and `<prefix>.pub` from `make(password)`, refusing to
/// overwrite either unless `overwrite`; prints what cosign prints.
fn write_key_pair(
    prefix: &str,
    overwrite: bool,
    overwrite_flag: &str,
    make: impl FnOnce(&[u8]) -> Result<(zeroize::Zeroizing<String>, String), Error>,
) -> anyhow::Result<()> {
    let key_path = PathBuf::from(format!("{prefix}.key"));
    let pub_path = PathBuf::from(format!("{prefix}.pub"));
    for p in [&key_path, &pub_path] {
        anyhow::ensure!(overwrite || !p.exists(), "{} exists; use {overwrite_flag} to overwrite", p.display());
    }
    let password = args::key_password(true)?.unwrap_or_default();
    let (private_pem, public_pem) = make(password.as_bytes())?;
    write_private(&key_path, private_pem.as_bytes())?;
    std::fs::write(&pub_path, public_pem).with_context(|| format!("writing {}", pub_path.display()))?;
    eprintln!("Private key written to {}", key_path.display());
    eprintln!("Public key written to {}", pub_path.display());
    Ok(())
}

/// `cosign public-key`: the PEM on standard output, or in --outfile.
fn public_key(c: PublicKeyCmd) -> anyhow::Result<()> {
    let (signer, _) = args::open_signer(&c.key)?;
    let pem = signer.public_key().to_pem();
    match &c.outfile {
        Some(path) => {
            std::fs::write(path, &pem).with_context(|| format!("writing {}", path.display()))?;
            eprintln!("Public key written to {}", path.display());
        }
        None => out!("{pem}"),
    }
    Ok(())
}

/// The command tree as parsed (pflag booleans, global flags propagated), as JSON lines:
/// `{"command": "attach signature", "flags": [{"long", "short", "hidden", "help"}]}`.
fn cli_definition() -> anyhow::Result<()> {
    fn walk(command: &clap::Command, path: &str, out: &mut Vec<serde_json::Value>) {
        let flags: Vec<serde_json::Value> = command
            .get_arguments()
            .filter(|a| !a.is_positional())
            .filter_map(|a| {
                let long = a.get_long()?;
                let help = a.get_help().map(ToString::to_string).unwrap_or_default();
                Some(serde_json::json!({"long": long, "short": a.get_short().map(String::from),
                    "hidden": a.is_hide_set(), "help": help}))
            })
            .collect();
        out.push(serde_json::json!({"command": path, "hidden": command.is_hide_set(), "flags": flags}));
        for sub in command.get_subcommands() {
            let name = sub.get_name();
            let sub_path = if path.is_empty() { name.to_owned() } else { format!("{path} {name}") };
            walk(sub, &sub_path, out);
        }
    }
    let mut command = args::pflag_booleans(Cli::command());
    command.build();
    let mut out = Vec::new();
    walk(&command, "", &mut out);
    for line in out {
        outln!("{line}");
    }
    Ok(())
}

/// `cosign version`'s layout and JSON keys, so scripts that read `gitVersion` keep working.
fn version(c: VersionCmd) -> anyhow::Result<()> {
    let info = [
        ("gitVersion", concat!("v", env!("CARGO_PKG_VERSION"))),
        ("gitCommit", option_env!("IRONSIGN_GIT_COMMIT").unwrap_or("unknown")),
        ("gitTreeState", option_env!("IRONSIGN_GIT_TREE_STATE").unwrap_or("unknown")),
        ("buildDate", option_env!("IRONSIGN_BUILD_DATE").unwrap_or("unknown")),
        ("rustVersion", env!("IRONSIGN_RUSTC_VERSION")),
        ("compiler", "rustc"),
        ("platform", PLATFORM),
    ];
    if c.json {
        // In cosign's key order (a JSON map would sort them).
        let fields: Vec<String> =
            info.iter().map(|(k, v)| format!("  \"{k}\": {}", serde_json::Value::from(*v))).collect();
        outln!("{{\n{}\n}}", fields.join(",\n"));
        return Ok(());
    }
    outln!("ironsign: sign and verify OCI images in cosign's formats with your own X.509 PKI.\n");
    for (key, value) in info {
        let mut label = key.to_owned();
        label[..1].make_ascii_uppercase();
        outln!("{:<15}{value}", format!("{label}:"));
    }
    Ok(())
}

/// GOOS/GOARCH spelling of the build target, as cosign prints `Platform`.
const PLATFORM: &str = {
    #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
    {
        "linux/amd64"
    }
    #[cfg(all(target_os = "linux", target_arch = "aarch64"))]
    {
        "linux/arm64"
    }
    #[cfg(all(target_os = "macos", target_arch = "aarch64"))]
    {
        "darwin/arm64"
    }
    #[cfg(all(target_os = "macos", target_arch = "x86_64"))]
    {
        "darwin/amd64"
    }
    #[cfg(all(target_os = "windows", target_arch = "x86_64"))]
    {
        "windows/amd64"
    }
    #[cfg(not(any(
        all(target_os = "linux", any(target_arch = "x86_64", target_arch = "aarch64")),
        all(target_os = "macos", any(target_arch = "x86_64", target_arch = "aarch64")),
        all(target_os = "windows", target_arch = "x86_64")
    )))]
    {
        "unknown"
    }
};

/// Writes a private key file with mode 0600 from the start.
pub(crate) fn write_private(path: &std::path::Path, data: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut f = options.open(path).with_context(|| format!("writing {}", path.display()))?;
    f.write_all(data).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::Cli;
    use clap::CommandFactory as _;
    use std::collections::BTreeSet;

    fn flags(command: &str) -> BTreeSet<String> {
        let cli = Cli::command();
        let sub = cli.find_subcommand(command).unwrap_or_else(|| panic!("no {command}"));
        sub.get_arguments().filter_map(|a| a.get_long()).map(str::to_owned).collect()
    }

    /// resign re-signs what verify accepts, so it takes every trust and policy flag verify takes
    /// (a trust flag added to verify reaches resign, or this fails).
    #[test]
    fn resign_takes_every_trust_and_policy_flag_of_verify() {
        // Flags of two flattened groups must not collide (clap checks this when a command runs).
        Cli::command().debug_assert();
        let (verify, resign) = (flags("verify"), flags("resign"));
        let missing: Vec<&str> = verify.difference(&resign).map(String::as_str).collect();
        // --max-workers is throughput, --all-signatures what is listed (resign reads every
        // signature); a trust configuration is not offered to resign.
        assert_eq!(missing, ["all-signatures", "max-workers", "trust-config"]);
    }

    /// The CLI builds its policy with the core's rules: mixing identity forms (cosign would
    /// require both where "any one" accepts more) and an empty pattern (which matches every SAN)
    /// are refused, naming the field.
    #[test]
    fn verify_policy_flags_follow_the_core_rules() {
        use clap::Parser as _;
        let refused = |flags: &[&str]| {
            let argv = [&["ironsign", "verify", "--key", "k.pub"][..], flags, &["registry.example/app"]].concat();
            let super::Command::Verify(c) = Cli::try_parse_from(argv).expect("parses").command else { unreachable!() };
            match c.policy.policy(&ironsign::TrustRoot::default(), &Default::default()) {
                Err(ironsign::Error::Input(ironsign::InputError::InvalidArgument { name, .. })) => name,
                other => panic!("not refused: {other:?}"),
            }
        };
        let mixed = refused(&["--certificate-identity", "a@example.com", "--certificate-identity-regexp", "^b@"]);
        assert_eq!(mixed, "identity/identity_regexp");
        assert_eq!(refused(&["--certificate-identity-regexp", ""]), "identity_regexp");
    }
}
