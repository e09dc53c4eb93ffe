//! `ironsign csr` and `ironsign cert inspect|check|verify-renewal`: parsing and printing only.

use crate::args;
use anyhow::Context as _;
use clap::{Args, Subcommand, ValueEnum};
use ironsign::csr::{CsrRequest, create_csr};
use ironsign::pki::report::{self, Severity};
use ironsign::{Certificate, Error, KeyKind, KeyPairSigner, PublicKey, Signer};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::SystemTime;

/// Exit codes of `cert check` and `cert verify-renewal`, for pipelines to alarm on.
pub mod exit {
    /// A certificate expires within the warning window.
    pub const EXPIRING: u8 = 20;
    /// A certificate is expired or not yet valid.
    pub const EXPIRED: u8 = 21;
    /// The key is not the certificate's.
    pub const KEY_MISMATCH: u8 = 22;
    /// The chain does not lead from the leaf to its root.
    pub const BROKEN_CHAIN: u8 = 23;
    /// The renewed certificate does not keep the identity.
    pub const IDENTITY_CHANGED: u8 = 24;
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Output {
    #[default]
    Text,
    Json,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum NewKeyType {
    P256,
    P384,
    Rsa3072,
    Rsa4096,
}

/// `ironsign csr`.
#[derive(Args)]
pub struct CsrCmd {
    /// Reuse this private key (so a re-issued certificate keeps the key): a file, a pkcs11: URI or
    /// a KMS URI (awskms://…, hashivault://…).
    #[arg(long, conflicts_with = "new_key")]
    key: Option<PathBuf>,
    /// Create a new key and write it here (cosign's encrypted format, mode 0600; password from
    /// IRONSIGN_PASSWORD / COSIGN_PASSWORD or a prompt) with its public key beside it (.pub); or a
    /// pkcs11: URI naming the label/id of a key pair to generate in that token.
    #[arg(long = "new-key", value_name = "FILE")]
    new_key: Option<PathBuf>,
    /// Type of the new key.
    #[arg(long = "key-type", value_enum, default_value = "p256")]
    key_type: NewKeyType,
    /// Subject as an RFC 4514 string, e.g. "CN=Signer,OU=Pipeline,O=Example,C=US".
    #[arg(long, conflicts_with = "from_cert")]
    subject: Option<String>,
    /// Subject common name (instead of --subject).
    #[arg(long = "common-name", conflicts_with_all = ["subject", "from_cert"])]
    common_name: Option<String>,
    /// Subject organisational units (instead of --subject).
    #[arg(long = "organizational-unit")]
    organizational_units: Vec<String>,
    /// Subject organisation (instead of --subject).
    #[arg(long)]
    organization: Option<String>,
    /// Subject country (instead of --subject).
    #[arg(long)]
    country: Option<String>,
    /// Copy subject and SANs from the current certificate (renewal).
    #[arg(long = "from-cert", value_name = "FILE")]
    from_cert: Option<PathBuf>,
    /// SAN email (repeatable).
    #[arg(long = "san-email")]
    emails: Vec<String>,
    /// SAN URI (repeatable).
    #[arg(long = "san-uri")]
    uris: Vec<String>,
    /// SAN DNS name (repeatable).
    #[arg(long = "san-dns")]
    dns_names: Vec<String>,
    /// Write the request here instead of standard output.
    #[arg(long = "output-file", short = 'f')]
    output_file: Option<PathBuf>,
}

/// `ironsign cert …`.
#[derive(Subcommand)]
pub enum CertCmd {
    /// Show a certificate or chain: subject, SANs, issuer, serial, key, usages, validity, warnings.
    Inspect {
        /// PEM (one or more certificates) or DER file.
        file: PathBuf,
        #[arg(long, short = 'o', value_enum, default_value_t)]
        output: Output,
    },
    /// Check a signing certificate and its chain; exit 20 expiring within --warn-days, 21 expired
    /// or not yet valid, 22 key mismatch, 23 broken chain.
    Check {
        /// The signing certificate.
        #[arg(long)]
        certificate: PathBuf,
        /// Its chain: intermediates, then the root last.
        #[arg(long = "certificate-chain")]
        certificate_chain: PathBuf,
        /// The signing key (private or public key file) to match against the certificate.
        #[arg(long)]
        key: Option<PathBuf>,
        /// Warn when the leaf or any CA expires within this many days.
        #[arg(long = "warn-days", default_value_t = 30)]
        warn_days: u32,
        #[arg(long, short = 'o', value_enum, default_value_t)]
        output: Output,
    },
    /// Confirm a renewed certificate keeps the identity (subject and SANs); exit 24 if not.
    VerifyRenewal {
        /// The current certificate.
        old: PathBuf,
        /// The renewed certificate.
        new: PathBuf,
        #[arg(long, short = 'o', value_enum, default_value_t)]
        output: Output,
    },
}

/// RFC 4514 escaping of an attribute value.
fn escape(value: &str) -> String {
    let mut out = String::new();
    for (i, c) in value.chars().enumerate() {
        if matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';') || (i == 0 && (c == '#' || c == ' ')) {
            out.push('\\');
        }
        out.push(c);
    }
    if out.ends_with(' ') {
        out.insert(out.len() - 1, '\\');
    }
    out
}

pub fn csr(c: CsrCmd) -> anyhow::Result<()> {
    let kind = match c.key_type {
        NewKeyType::P256 => KeyKind::EcdsaP256,
        NewKeyType::P384 => KeyKind::EcdsaP384,
        NewKeyType::Rsa3072 => KeyKind::Rsa3072,
        NewKeyType::Rsa4096 => KeyKind::Rsa4096,
    };
    let signer: std::sync::Arc<dyn Signer> = match (&c.key, &c.new_key) {
        (Some(path), _) => args::open_signer(path)?.0,
        // A new key in a PKCS#11 token: generated there, never leaving it.
        (None, Some(path)) if args::pkcs11_uri(path)?.is_some() => {
            let uri = args::pkcs11_uri(path)?.expect("checked");
            let pin = args::pkcs11_pin();
            let signer = ironsign::Pkcs11Signer::generate(
                &uri,
                kind,
                args::pkcs11_module().as_deref(),
                pin.as_deref().map(|p| p.as_str()),
            )
            .map_err(Error::from)?;
            eprintln!("Key generated in the token: {:?}", signer.uri());
            std::sync::Arc::new(signer)
        }
        (None, Some(path)) => {
            let (signer, der) = KeyPairSigner::generate(kind).map_err(Error::from)?;
            let password = args::key_password(true)?.unwrap_or_default();
            let pem_text = ironsign::keys::cosign_file::encrypt(&der, password.as_bytes()).map_err(Error::from)?;
            crate::write_private(path, pem_text.as_bytes())?;
            let pub_path = path.with_extension("pub");
            std::fs::write(&pub_path, signer.public_key().to_pem())
                .with_context(|| format!("writing {}", pub_path.display()))?;
            eprintln!("Private key written to {} (public key: {})", path.display(), pub_path.display());
            std::sync::Arc::new(signer)
        }
        (None, None) => anyhow::bail!("give --key (reuse a key) or --new-key (create one)"),
    };
    let mut request = if let Some(old) = &c.from_cert {
        CsrRequest::from_certificate(&args::read_certificate(old)?)
    } else if let Some(subject) = &c.subject {
        CsrRequest::new(subject).map_err(Error::from)?
    } else if let Some(cn) = &c.common_name {
        let mut parts = vec![format!("CN={}", escape(cn))];
        parts.extend(c.organizational_units.iter().map(|ou| format!("OU={}", escape(ou))));
        parts.extend(c.organization.iter().map(|o| format!("O={}", escape(o))));
        parts.extend(c.country.iter().map(|v| format!("C={}", escape(v))));
        CsrRequest::new(&parts.join(",")).map_err(Error::from)?
    } else {
        anyhow::bail!("give --subject, --common-name or --from-cert");
    };
    request.emails.extend(c.emails);
    request.uris.extend(c.uris);
    request.dns_names.extend(c.dns_names);
    let pem_text = create_csr(signer.as_ref(), &request)?;
    match &c.output_file {
        Some(p) => std::fs::write(p, &pem_text).with_context(|| format!("writing {}", p.display()))?,
        None => out!("{pem_text}"),
    }
    eprintln!("Public key fingerprint (SHA-256 of SubjectPublicKeyInfo): {}", signer.public_key().fingerprint());
    Ok(())
}

fn read_all(path: &Path) -> anyhow::Result<Vec<Certificate>> {
    let data = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let what = path.display().to_string();
    if data.trim_ascii_start().starts_with(b"-----BEGIN") {
        Ok(Certificate::from_pem_many(&data, &what, 100).map_err(Error::from)?)
    } else {
        Ok(vec![Certificate::from_der(&data, &what).map_err(Error::from)?])
    }
}

fn load_public_key(path: &Path) -> anyhow::Result<PublicKey> {
    let data = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    match PublicKey::from_pem(&data, &path.display().to_string()) {
        Ok(k) => Ok(k),
        Err(_) => Ok(args::load_signer(path)?.public_key().clone()),
    }
}

pub fn cert(c: CertCmd) -> anyhow::Result<ExitCode> {
    let now = SystemTime::now();
    match c {
        CertCmd::Inspect { file, output } => {
            let report = report::inspect(&read_all(&file)?, now);
            if output == Output::Json {
                outln!("{}", serde_json::to_string_pretty(&report)?);
                return Ok(ExitCode::SUCCESS);
            }
            for (i, d) in report.certificates.iter().enumerate() {
                let s = &d.summary;
                outln!("Certificate {} ({:?})", i + 1, d.role);
                outln!("  Subject:      {}", s.subject);
                outln!("  Issuer:       {}", s.issuer);
                outln!("  Serial:       {}", s.serial);
                outln!("  Key:          {}", d.key);
                outln!("  Signature:    {}", d.signature_algorithm);
                outln!("  Valid:        {} to {} ({} days left)", s.not_before, s.not_after, d.days_to_expiry);
                outln!("  SANs:         {}", if s.sans().is_empty() { "(none)".into() } else { s.sans().join(", ") });
                outln!(
                    "  Key usage:    {}",
                    s.key_usage.as_ref().map(|k| k.join(", ")).unwrap_or_else(|| "(absent)".into())
                );
                outln!(
                    "  Ext. usage:   {}",
                    s.extended_key_usage.as_ref().map(|k| k.join(", ")).unwrap_or_else(|| "(absent)".into())
                );
                outln!("  SHA-256:      {}", s.sha256_fingerprint);
            }
            if report.certificates.len() > 1 {
                outln!(
                    "Chain order: {}",
                    if report.chain_order_ok { "ok (each issued by the next)" } else { "NOT in issuing order" }
                );
            }
            for w in &report.warnings {
                outln!("Warning [{}] {}: {}", w.code, w.subject, w.message);
            }
            Ok(ExitCode::SUCCESS)
        }
        CertCmd::Check { certificate, certificate_chain, key, warn_days, output } => {
            let leaf = args::read_certificate(&certificate)?;
            let chain = args::read_chain(&certificate_chain)?;
            let key = key.as_deref().map(load_public_key).transpose()?;
            let report = report::check(&leaf, &chain, key.as_ref(), warn_days, now);
            if output == Output::Json {
                outln!("{}", serde_json::to_string_pretty(&report)?);
            } else if report.findings.is_empty() {
                outln!(
                    "OK: chain valid, key matches{}, first expiry in {} days",
                    if key.is_some() { "" } else { " (not checked)" },
                    report.days_to_first_expiry
                );
            } else {
                for f in &report.findings {
                    outln!(
                        "{} [{}] {}: {}",
                        if f.severity == Severity::Error { "Error" } else { "Warning" },
                        f.code,
                        f.subject,
                        f.message
                    );
                }
            }
            let has = |code: &str| report.findings.iter().any(|f| f.code == code);
            let code = if has("BROKEN_CHAIN") {
                exit::BROKEN_CHAIN
            } else if has("KEY_MISMATCH") {
                exit::KEY_MISMATCH
            } else if has("EXPIRED") || has("NOT_YET_VALID") {
                exit::EXPIRED
            } else if has("EXPIRING") {
                exit::EXPIRING
            } else {
                0
            };
            Ok(ExitCode::from(code))
        }
        CertCmd::VerifyRenewal { old, new, output } => {
            let report = report::verify_renewal(&args::read_certificate(&old)?, &args::read_certificate(&new)?);
            if output == Output::Json {
                outln!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                outln!("Subject kept:  {}", report.same_subject);
                outln!(
                    "SANs kept:     {}{}",
                    report.same_sans,
                    if report.same_sans {
                        String::new()
                    } else {
                        format!(" (removed {:?}, added {:?})", report.removed_sans, report.added_sans)
                    }
                );
                outln!("Issuer same:   {}", report.same_issuer);
                outln!("Key kept:      {}", report.key_kept);
                outln!("Valid until:   {} -> {}", report.old_not_after, report.new_not_after);
                outln!(
                    "{}",
                    if report.identity_kept {
                        "Identity kept: policies pinned to root + identity keep working"
                    } else {
                        "Identity CHANGED: update policies pinned to the old identity"
                    }
                );
            }
            Ok(ExitCode::from(if report.identity_kept { 0 } else { exit::IDENTITY_CHANGED }))
        }
    }
}
