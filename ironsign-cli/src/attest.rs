//! `attest`, `verify-attestation`, `attach sbom` and `download`: flags as cosign spells them.

use crate::args::{self, CosignSignCompat, PolicyArgs, RegistryArgs, SigningArgs, TrustArgs};
use crate::{Output, parse_ref};
use anyhow::Context as _;
use clap::{Args, Subcommand, ValueEnum};
use ironsign::attach::{AttestOptions, SignatureToAttach};
use ironsign::cosign::AttachmentKind;
use ironsign::intoto::StatementVersion;
use ironsign::predicates::{PredicateKind, PredicateOptions, VulnOptions};
use ironsign::sbom::{InputFormat, SbomType};
use ironsign::{Error, InputError, RegoPolicy, Verifier};
use std::io::Write as _;
use std::path::PathBuf;

#[derive(Clone, Copy, ValueEnum)]
enum StatementVersionArg {
    #[value(name = "v0.1")]
    V01,
    #[value(name = "v1")]
    V1,
}

#[derive(Args)]
pub struct AttestCmd {
    /// The image: REGISTRY/REPO[:TAG|@DIGEST] or oci:DIR[:TAG|@DIGEST].
    image: String,
    /// The predicate file.
    #[arg(long)]
    predicate: PathBuf,
    /// Predicate type: custom, slsaprovenance, slsaprovenance02, slsaprovenance1, spdx, spdxjson,
    /// cyclonedx, link, vuln, openvex, scan-tracker, or a URI.
    #[arg(long = "type", default_value = "custom")]
    predicate_type: String,
    /// Replace the image's attestations of the same predicate type.
    #[arg(long)]
    replace: bool,
    /// The in-toto statement version to write (cosign writes v0.1).
    #[arg(long = "statement-version", value_enum, default_value = "v0.1")]
    statement_version: StatementVersionArg,
    /// `--type vuln`: the scanner that wrote the report, when it is not recognised (grype, trivy,
    /// anchore, twistcli, or any name, which becomes scanner.uri).
    #[arg(long)]
    scanner: Option<String>,
    /// `--type vuln`: scanner.version, overriding the report.
    #[arg(long = "scanner-version")]
    scanner_version: Option<String>,
    /// `--type vuln`: scanner.db.version, overriding the report.
    #[arg(long = "scanner-db-version")]
    db_version: Option<String>,
    /// `--type vuln`: metadata.scanStartedOn (RFC 3339), overriding the report.
    #[arg(long = "scan-started")]
    scan_started: Option<String>,
    /// `--type vuln`: metadata.scanFinishedOn (RFC 3339), overriding the report.
    #[arg(long = "scan-finished")]
    scan_finished: Option<String>,
    /// Print the signed envelope instead of uploading it.
    #[arg(long = "no-upload")]
    no_upload: bool,
    #[command(flatten)]
    signing: SigningArgs,
    #[command(flatten)]
    format: crate::bundles::FormatArgs,
    #[command(flatten)]
    _compat: CosignSignCompat,
    #[command(flatten)]
    registry: RegistryArgs,
    #[arg(long, short = 'o', value_enum, default_value_t)]
    pub output: Output,
}

pub async fn attest(c: AttestCmd) -> anyhow::Result<()> {
    let image = parse_ref(&c.image)?;
    let kind = PredicateKind::parse(&c.predicate_type).map_err(Error::from)?;
    let input = std::fs::read(&c.predicate)
        .map_err(|e| Error::from(InputError::Io { path: c.predicate.display().to_string(), reason: e.to_string() }))?;
    let options = PredicateOptions {
        now: std::time::SystemTime::now(),
        vuln: VulnOptions {
            scanner: c.scanner.clone(),
            scanner_version: c.scanner_version.clone(),
            db_version: c.db_version.clone(),
            scan_started: c.scan_started.clone(),
            scan_finished: c.scan_finished.clone(),
        },
    };
    let predicate = ironsign::predicates::build(&kind, &input, &c.predicate.display().to_string(), &options)
        .map_err(Error::from)?;
    let material = c.signing.material()?;
    let client = c.registry.client(&[&image])?;
    let version = match c.statement_version {
        StatementVersionArg::V01 => StatementVersion::V01,
        StatementVersionArg::V1 => StatementVersion::V1,
    };
    if c.no_upload {
        let digest = client.resolve(&image).await?.digest;
        let statement = ironsign::attach::statement_for(&image, &digest, kind.uri(), predicate, version);
        let envelope = ironsign::dsse::Envelope::sign(
            ironsign::dsse::INTOTO_PAYLOAD_TYPE,
            &statement.to_json(),
            material.signer().as_ref(),
        )
        .map_err(Error::from)?;
        outln!("{}", String::from_utf8_lossy(&envelope.to_json()));
        return Ok(());
    }
    let options = AttestOptions { replace: c.replace, statement_version: version, format: c.format.format()? };
    let report = ironsign::attach::attest_image(&client, &image, &material, kind.uri(), predicate, &options).await?;
    match c.output {
        Output::Json => outln!("{}", serde_json::to_string_pretty(&report)?),
        Output::Text => eprintln!(
            "Pushed attestation ({}) to {}",
            report.predicate_type,
            crate::bundles::written_to(&image, &report.tag, report.referrer.as_ref())
        ),
    }
    Ok(())
}

#[derive(Args)]
pub struct VerifyAttestationCmd {
    /// The image: REGISTRY/REPO[:TAG|@DIGEST] or oci:DIR[:TAG|@DIGEST].
    image: String,
    /// The predicate type required: a shortcut as for `attest` (default custom) or a URI.
    #[arg(long = "type", default_value = "custom")]
    predicate_type: String,
    /// Rego policy files (package signature, rule allow), each evaluated over every verified
    /// statement of the type, as cosign does.
    #[arg(long, value_delimiter = ',')]
    policy: Vec<PathBuf>,
    #[command(flatten)]
    trust: TrustArgs,
    #[command(flatten)]
    policy_args: PolicyArgs,
    /// key=value every verified statement's subject annotations must hold.
    #[arg(short = 'a', long = "annotations")]
    annotations: Vec<String>,
    /// Take the roots, intermediates, identity, TSA, CRLs and image patterns from a trust
    /// configuration instead of trust and identity flags (--crl, --require-code-signing-eku and
    /// -a add to it; other trust and identity flags are refused).
    #[arg(long = "trust-config", value_name = "FILE")]
    trust_config: Option<PathBuf>,
    /// Print each verified in-toto statement decoded, instead of its DSSE envelope as cosign
    /// prints it (`| jq -r .payload | base64 -d` gives the same statement).
    #[arg(long)]
    statements: bool,
    /// Read and list every attestation in both formats; by default the Sigstore bundle
    /// referrers are read only when no `.att` attestation satisfies the policy (the same verdict).
    #[arg(long = "all-signatures")]
    all_signatures: bool,
    #[command(flatten)]
    registry: RegistryArgs,
    #[arg(long, short = 'o', value_enum, default_value_t)]
    pub output: Output,
}

pub async fn verify_attestation(c: VerifyAttestationCmd) -> anyhow::Result<()> {
    if c.statements && c.output == Output::Json {
        return Err(Error::from(InputError::InvalidArgument {
            name: "--statements".into(),
            reason: "the JSON result already holds each decoded statement; give one or the other".into(),
        })
        .into());
    }
    let image = parse_ref(&c.image)?;
    let kind = PredicateKind::parse(&c.predicate_type).map_err(Error::from)?;
    let mut policies = Vec::new();
    for path in &c.policy {
        if path.extension().and_then(|e| e.to_str()) != Some("rego") {
            return Err(Error::from(InputError::InvalidArgument {
                name: "--policy".into(),
                reason: format!("{}: only Rego (.rego) policies are supported", path.display()),
            })
            .into());
        }
        let source = std::fs::read_to_string(path)
            .map_err(|e| Error::from(InputError::Io { path: path.display().to_string(), reason: e.to_string() }))?;
        policies.push(RegoPolicy::new(&path.display().to_string(), &source).map_err(Error::from)?);
    }
    let (trust, policy) = match &c.trust_config {
        Some(path) => {
            let config = crate::instructions::trust_config_with_flags(path, &c.trust, &c.policy_args, &c.annotations)?;
            config.check_covers(&image).map_err(Error::from)?;
            (config.trust_root().clone(), config.policy())
        }
        None => {
            let trust = c.trust.trust_root()?;
            let annotations = args::parse_annotations(&c.annotations)?;
            let policy = c.policy_args.policy(&trust, &annotations)?;
            (trust, policy)
        }
    };
    let client = c.registry.client(&[&image])?;
    let result = ironsign::batch::verify_attestations_image(
        &client,
        &Verifier::new(trust),
        &image,
        &policy,
        kind.uri(),
        &policies,
        if c.all_signatures { ironsign::SignatureScope::All } else { ironsign::SignatureScope::Sufficient },
    )
    .await?;
    match c.output {
        Output::Json => outln!("{}", serde_json::to_string_pretty(&result)?),
        Output::Text => {
            eprintln!("\nVerification for {} --", image.with_digest(result.digest.clone()));
            eprintln!("The following checks were performed on each of these attestations of type {}:", kind.uri());
            eprintln!("  - The attestations chain to a configured root CA or were made with a configured key");
            eprintln!("  - The signing certificates and their CAs are valid now, for code signing");
            eprintln!("  - The identity policy was satisfied");
            eprintln!("  - The DSSE signatures verify over in-toto statements naming this image's digest");
            if !policies.is_empty() {
                eprintln!("  - Every verified statement of the type satisfies the Rego policies");
            }
            for a in &result.attestations {
                if c.statements {
                    outln!("{}", serde_json::to_string(&a.statement)?);
                    continue;
                }
                out!("{}\n", String::from_utf8_lossy(&a.envelope));
            }
        }
    }
    Ok(())
}

#[derive(Subcommand)]
pub enum AttachCmd {
    /// Attach an SBOM to the image's .sbom tag (replacing any previous one); the format is
    /// detected from the content and must agree with --type/--input-format when given.
    Sbom(AttachSbomCmd),
    /// Store a signature made elsewhere (sign --upload=false, an offline signer) on the image's
    /// .sig tag; the payload must name the image, and the signature must verify with the
    /// certificate when one is given.
    Signature(AttachSignatureCmd),
    /// Store DSSE attestation envelopes made elsewhere (attest --no-upload) on the image's .att
    /// tag; each must be an in-toto statement about the image.
    Attestation(AttachAttestationCmd),
}

#[derive(Args)]
pub struct AttachSignatureCmd {
    /// The image.
    image: String,
    /// The signature file (base64, as sign --output-signature writes it), or - for stdin.
    #[arg(long, value_name = "FILE")]
    signature: PathBuf,
    /// The signed payload (default: the payload `generate` prints for the image).
    #[arg(long, value_name = "FILE")]
    payload: Option<PathBuf>,
    /// The signing certificate (PEM), stored with the signature.
    #[arg(long, value_name = "FILE")]
    certificate: Option<PathBuf>,
    /// Its chain (PEM: intermediates, then the root), stored with it.
    #[arg(long = "certificate-chain", value_name = "FILE")]
    certificate_chain: Option<PathBuf>,
    /// cosign's transparency-log response: refused, ironsign has no log.
    #[arg(long = "rekor-response", value_name = "FILE")]
    rekor_response: Option<PathBuf>,
    /// cosign's timestamp response file: refused (sign with --timestamp-server-url instead).
    #[arg(long = "tsr", value_name = "FILE")]
    tsr: Option<PathBuf>,
    #[command(flatten)]
    registry: RegistryArgs,
    #[arg(long, short = 'o', value_enum, default_value_t)]
    output: Output,
}

#[derive(Args)]
pub struct AttachAttestationCmd {
    /// The image.
    image: String,
    /// A DSSE envelope file (repeat for several).
    #[arg(long, value_name = "FILE", required = true)]
    attestation: Vec<PathBuf>,
    #[command(flatten)]
    registry: RegistryArgs,
    #[arg(long, short = 'o', value_enum, default_value_t)]
    output: Output,
}

#[derive(Clone, Copy, ValueEnum)]
enum SbomTypeArg {
    Spdx,
    Cyclonedx,
    Syft,
}

#[derive(Clone, Copy, ValueEnum)]
enum InputFormatArg {
    Json,
    Xml,
    Text,
}

#[derive(Args)]
pub struct AttachSbomCmd {
    /// The image.
    image: String,
    /// The SBOM file.
    #[arg(long)]
    sbom: PathBuf,
    /// The SBOM type; checked against the content.
    #[arg(long = "type", value_enum)]
    sbom_type: Option<SbomTypeArg>,
    /// The SBOM encoding; checked against the content.
    #[arg(long = "input-format", value_enum)]
    input_format: Option<InputFormatArg>,
    #[command(flatten)]
    registry: RegistryArgs,
    #[arg(long, short = 'o', value_enum, default_value_t)]
    output: Output,
}

pub async fn attach(c: AttachCmd) -> anyhow::Result<()> {
    match c {
        AttachCmd::Sbom(c) => attach_sbom(c).await,
        AttachCmd::Signature(c) => attach_signature(c).await,
        AttachCmd::Attestation(c) => attach_attestation(c).await,
    }
}

fn read_input(path: &std::path::Path) -> Result<Vec<u8>, Error> {
    let read = if path.as_os_str() == "-" {
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut bytes).map(|_| bytes)
    } else {
        std::fs::read(path)
    };
    Ok(read.map_err(|e| InputError::Io { path: path.display().to_string(), reason: e.to_string() })?)
}

async fn attach_signature(c: AttachSignatureCmd) -> anyhow::Result<()> {
    if c.rekor_response.is_some() {
        anyhow::bail!("--rekor-response: ironsign has no transparency log to attach a response from");
    }
    if c.tsr.is_some() {
        anyhow::bail!("--tsr is not supported: sign with --timestamp-server-url to timestamp the signature");
    }
    let image = parse_ref(&c.image)?;
    let signature =
        SignatureToAttach::decode_signature_file(&read_input(&c.signature)?, &c.signature.display().to_string())?;
    let attached = SignatureToAttach {
        payload: c.payload.as_deref().map(read_input).transpose()?,
        signature,
        certificate: c.certificate.as_deref().map(args::read_certificate).transpose()?,
        chain: c.certificate_chain.as_deref().map(args::read_chain).transpose()?.unwrap_or_default(),
    };
    let client = c.registry.client(&[&image])?;
    let entry = ironsign::attach::attach_signature(&client, &image, &attached).await?;
    match c.output {
        Output::Json => outln!("{}", serde_json::to_string_pretty(&entry)?),
        Output::Text => {
            let what = if entry.added { "Pushed signature to" } else { "Signature already present in" };
            eprintln!("{what} {}", image.with_tag(&entry.tag));
        }
    }
    Ok(())
}

async fn attach_attestation(c: AttachAttestationCmd) -> anyhow::Result<()> {
    let image = parse_ref(&c.image)?;
    let envelopes = c.attestation.iter().map(|p| read_input(p)).collect::<Result<Vec<_>, _>>()?;
    let client = c.registry.client(&[&image])?;
    let reports = ironsign::attach::attach_attestations(&client, &image, &envelopes).await?;
    for report in &reports {
        match c.output {
            Output::Json => outln!("{}", serde_json::to_string(report)?),
            Output::Text => {
                eprintln!("Pushed {} attestation to {}", report.predicate_type, image.with_tag(&report.tag))
            }
        }
    }
    Ok(())
}

async fn attach_sbom(c: AttachSbomCmd) -> anyhow::Result<()> {
    let image = parse_ref(&c.image)?;
    let what = c.sbom.display().to_string();
    let path = c.sbom.clone();
    let detected = tokio::task::spawn_blocking(move || ironsign::sbom::detect_file(&path))
        .await
        .context("detecting the SBOM format")?
        .map_err(Error::from)?;
    let declared_type = c.sbom_type.map(|t| match t {
        SbomTypeArg::Spdx => SbomType::Spdx,
        SbomTypeArg::Cyclonedx => SbomType::CycloneDx,
        SbomTypeArg::Syft => SbomType::Syft,
    });
    let declared_input = c.input_format.map(|f| match f {
        InputFormatArg::Json => InputFormat::Json,
        InputFormatArg::Xml => InputFormat::Xml,
        InputFormatArg::Text => InputFormat::Text,
    });
    let format = ironsign::sbom::check_declared(detected, declared_type, declared_input, &what).map_err(Error::from)?;
    let client = c.registry.client(&[&image])?;
    let report = ironsign::attach::attach_sbom(&client, &image, &c.sbom, format).await?;
    match c.output {
        Output::Json => outln!("{}", serde_json::to_string_pretty(&report)?),
        Output::Text => eprintln!(
            "Uploaded {format} SBOM ({} bytes, {}) to {}",
            report.size,
            report.media_type,
            image.with_tag(&report.tag)
        ),
    }
    Ok(())
}

#[derive(Subcommand)]
pub enum DownloadCmd {
    /// Print the image's signatures, one JSON object per line.
    Signature(DownloadArgs),
    /// Print the image's attestation envelopes, one per line.
    Attestation(DownloadAttestationArgs),
    /// Print the image's SBOM (raw), or write it to --output-file.
    Sbom(DownloadSbomArgs),
}

#[derive(Args)]
pub struct DownloadArgs {
    /// The image.
    image: String,
    #[command(flatten)]
    registry: RegistryArgs,
}

#[derive(Args)]
pub struct DownloadAttestationArgs {
    #[command(flatten)]
    common: DownloadArgs,
    /// Only attestations whose statement claims this predicate type (shortcut or URI).
    #[arg(long = "predicate-type")]
    predicate_type: Option<String>,
}

#[derive(Args)]
pub struct DownloadSbomArgs {
    #[command(flatten)]
    common: DownloadArgs,
    /// Write the SBOM to this file (atomically, after its digest is checked) instead of stdout.
    #[arg(long = "output-file")]
    output_file: Option<PathBuf>,
}

pub async fn download(c: DownloadCmd) -> anyhow::Result<()> {
    match c {
        DownloadCmd::Signature(c) => {
            let image = parse_ref(&c.image)?;
            let client = c.registry.client(&[&image])?;
            let signed = client.fetch_signatures(&image).await?;
            for line in ironsign::download::signature_lines(&signed, client.limits().max_chain) {
                outln!("{line}");
            }
        }
        DownloadCmd::Attestation(c) => {
            let image = parse_ref(&c.common.image)?;
            let predicate_type = match &c.predicate_type {
                Some(t) => Some(PredicateKind::parse(t).map_err(Error::from)?.uri().to_owned()),
                None => None,
            };
            let client = c.common.registry.client(&[&image])?;
            let digest = client.digest_of(&image).await?;
            let attached = client.fetch_attached(&image, &digest, AttachmentKind::Attestation).await?;
            for line in ironsign::download::attestation_lines(&attached, predicate_type.as_deref()) {
                outln!("{line}");
            }
        }
        DownloadCmd::Sbom(c) => {
            let image = parse_ref(&c.common.image)?;
            let client = c.common.registry.client(&[&image])?;
            match &c.output_file {
                Some(path) => {
                    let d = ironsign::download::download_sbom(&client, &image, path).await?;
                    eprintln!("Found SBOM of media type: {}", d.media_type);
                }
                None => {
                    // Checked in a private temporary directory first: nothing unverified reaches stdout.
                    let dir = tempfile::tempdir().context("creating a temporary directory")?;
                    let path = dir.path().join("sbom");
                    let d = ironsign::download::download_sbom(&client, &image, &path).await?;
                    eprintln!("Found SBOM of media type: {}", d.media_type);
                    let mut file = std::fs::File::open(&path).context("reading the downloaded SBOM")?;
                    let mut out = std::io::stdout().lock();
                    let written = std::io::copy(&mut file, &mut out).and_then(|_| out.flush());
                    crate::stdout::closed_is_done(written).context("writing the SBOM")?;
                }
            }
        }
    }
    Ok(())
}
