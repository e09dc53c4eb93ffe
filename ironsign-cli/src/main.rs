//! `ironsign`: the command line. Parsing, environment, output and exit codes only; every
//! decision is the library's.

#[macro_use]
mod stdout;

mod args;
mod attest;
mod bundles;
mod certs;
#[cfg(test)]
mod flag_syntax_tests;
mod instructions;
mod lifecycle;
mod pkcs11;
mod resign;
mod transfer;

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
    /// Write a cosign-compatible encrypted key pair (cosign.key, cosign.pub).
    GenerateKeyPair(GenerateKeyPairCmd),
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
    /// PKCS#11 token helpers.
    #[command(subcommand, alias = "pkcs11-tool")]
    Pkcs11(pkcs11::Pkcs11Cmd),
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
    #[arg(long)]
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
    #[arg(long = "output-key-prefix", default_value = "cosign")]
    prefix: String,
    /// Overwrite existing files.
    #[arg(long, short = 'f')]
    force: bool,
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
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("IRONSIGN_LOG").unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    let cli = parse_command_line();
    let output = match &cli.command {
        Command::Sign(c) => c.output,
        Command::Verify(c) => c.output,
        Command::Tree(c) => c.output,
        Command::Gc(c) => c.output,
        Command::Clean(c) => c.output,
        Command::Attest(c) => c.output,
        Command::VerifyAttestation(c) => c.output,
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
    match runtime.block_on(run(cli)) {
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
    let results =
        for_each_image(&images, c.max_workers, |image| ironsign::sign::sign_image(&client, image, &material, &options))
            .await;
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
    let key_path = PathBuf::from(format!("{}.key", c.prefix));
    let pub_path = PathBuf::from(format!("{}.pub", c.prefix));
    for p in [&key_path, &pub_path] {
        anyhow::ensure!(c.force || !p.exists(), "{} exists; use --force to overwrite", p.display());
    }
    let password = args::key_password(true)?.unwrap_or_default();
    let (private_pem, public_pem) =
        ironsign::keys::generate_cosign_key_pair(password.as_bytes()).map_err(Error::from)?;
    write_private(&key_path, private_pem.as_bytes())?;
    std::fs::write(&pub_path, public_pem).with_context(|| format!("writing {}", pub_path.display()))?;
    eprintln!("Private key written to {}", key_path.display());
    eprintln!("Public key written to {}", pub_path.display());
    Ok(())
}

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
