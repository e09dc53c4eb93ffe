//! Flag groups shared by subcommands. Each group turns into one core value, so no field is copied
//! by hand between the CLI and the library. Environment variables are read here and nowhere else.

use anyhow::Context as _;
use clap::{Arg, ArgAction, Args};
use ironsign::{
    Certificate, Credential, Error, InputError, KeyPairSigner, Keychain, Policy, PolicySpec, PublicKey, RegistryClient,
    RegistryOptions, SigningMaterial, TrustRoot,
};
use std::any::TypeId;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use zeroize::Zeroizing;

/// Gives every boolean flag of `command` and its subcommands cosign's (spf13/pflag) syntax, so a
/// new `bool` or `Option<bool>` field gets it without an attribute: `--flag` is true,
/// `--flag=VALUE` takes Go's `strconv.ParseBool` spellings, and a boolean never takes the next
/// word (`--insecure-ignore-tlog IMAGE` leaves IMAGE positional; in `--flag false IMAGE`,
/// `false` is a positional argument, as in cosign).
pub fn pflag_booleans(command: clap::Command) -> clap::Command {
    command
        .mut_args(|arg| match arg.get_action() {
            ArgAction::SetTrue => pflag_boolean(arg).default_value("false").hide_default_value(true),
            ArgAction::Set if !arg.is_positional() && arg.get_value_parser().type_id() == TypeId::of::<bool>() => {
                pflag_boolean(arg)
            }
            _ => arg,
        })
        .mut_subcommands(pflag_booleans)
}

/// cosign flags one of whose values asks for what ironsign cannot do, with the reason: refused
/// when given that value rather than accepted and ignored.
const UNSUPPORTED_BOOLEAN_VALUES: &[(&str, bool, &str)] = &[
    ("insecure-ignore-tlog", false, "ironsign has no transparency log to check signatures against"),
    ("tlog-upload", true, "ironsign uploads to no transparency log (use --tlog-upload=false or leave it out)"),
    ("private-infrastructure", false, "ironsign has no transparency log: every verification is private infrastructure"),
    (
        "use-signing-config",
        true,
        "ironsign reads no TUF signing configuration: services come from flags (--timestamp-server-url)",
    ),
];

/// cosign's global flags, honoured the same way.
#[derive(Debug, Args, Clone)]
pub struct GlobalArgs {
    /// Log debug output (as IRONSIGN_LOG=debug; IRONSIGN_LOG wins when set).
    #[arg(short = 'd', long = "verbose", global = true)]
    pub verbose: bool,
    /// Stop the whole command after this long, as a Go duration (90s, 3m0s, 1h30m). Without it
    /// only each registry request is bounded (--registry-timeout).
    #[arg(short = 't', long = "timeout", global = true, value_name = "DURATION", value_parser = parse_go_duration)]
    pub command_timeout: Option<std::time::Duration>,
}

/// A duration as Go's `time.ParseDuration` reads it: a sequence of decimal numbers each with a
/// unit (ns, us, µs, ms, s, m, h), e.g. `1h30m`, `2.5s`; `0` alone is zero.
pub fn parse_go_duration(text: &str) -> Result<std::time::Duration, String> {
    let invalid = || format!("{text:?} is not a duration (e.g. 90s, 3m0s, 1h30m)");
    if text == "0" {
        return Ok(std::time::Duration::ZERO);
    }
    if text.is_empty() {
        return Err(invalid());
    }
    let mut rest = text;
    let mut seconds = 0f64;
    while !rest.is_empty() {
        let number_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).ok_or_else(invalid)?;
        let number: f64 = rest[..number_end].parse().map_err(|_| invalid())?;
        rest = &rest[number_end..];
        let unit_end = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let scale = match &rest[..unit_end] {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(invalid()),
        };
        seconds += number * scale;
        rest = &rest[unit_end..];
    }
    std::time::Duration::try_from_secs_f64(seconds).map_err(|_| invalid())
}

fn pflag_boolean(arg: Arg) -> Arg {
    let refused = UNSUPPORTED_BOOLEAN_VALUES.iter().find(|(long, ..)| arg.get_long() == Some(*long)).copied();
    let id = arg.get_id().clone();
    arg.action(ArgAction::Set)
        .overrides_with(id)
        .num_args(0..=1)
        .require_equals(true)
        .default_missing_value("true")
        .value_name("true|false")
        .value_parser(move |value: &str| match (parse_pflag_bool(value)?, refused) {
            (b, Some((_, unsupported, reason))) if b == unsupported => Err(format!("{value}: {reason}")),
            (b, _) => Ok(b),
        })
}

/// A boolean as pflag reads it (Go's `strconv.ParseBool`).
pub fn parse_pflag_bool(value: &str) -> Result<bool, String> {
    match value {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(format!("{value:?} is not a boolean (true, false, 1, 0, t, f, T, F, TRUE, FALSE, True, False)")),
    }
}

/// How to reach registries.
#[derive(Debug, Args, Clone)]
pub struct RegistryArgs {
    /// Allow plain HTTP for the registries this command names (as cosign); with =HOST:PORT only
    /// for that registry. Loopback registries always may use it.
    #[arg(
        long = "allow-http-registry",
        value_name = "HOST:PORT",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        value_parser = parse_allow_http
    )]
    pub allow_http: Vec<AllowHttp>,
    /// Skip verification of registries' TLS certificates (cosign's meaning; testing only).
    /// Signatures are still verified; only the registry connection is unauthenticated.
    #[arg(long = "allow-insecure-registry")]
    pub allow_insecure: bool,
    /// Extra CA certificate (PEM) for registry TLS, beside the system's.
    #[arg(long = "registry-cacert", value_name = "FILE")]
    pub cacert: Vec<PathBuf>,
    /// Registry username (otherwise Docker/podman configuration and credential helpers are used).
    #[arg(long = "registry-username", env = "IRONSIGN_REGISTRY_USERNAME")]
    pub username: Option<String>,
    /// Registry password.
    #[arg(long = "registry-password", env = "IRONSIGN_REGISTRY_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,
    /// Longest one registry request may take, in seconds, response body included (a streamed SBOM
    /// gets one more second per MiB). Connection and read timeouts are at most this.
    #[arg(long = "registry-timeout", value_name = "SECONDS", env = "IRONSIGN_REGISTRY_TIMEOUT", default_value_t = 300)]
    pub timeout: u64,
}

/// One `--allow-http-registry`: cosign's boolean (every registry the command names), or a registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllowHttp {
    /// `--allow-http-registry[=true|false]`.
    Named(bool),
    /// `--allow-http-registry=HOST:PORT`.
    Registry(String),
}

fn parse_allow_http(value: &str) -> Result<AllowHttp, String> {
    if let Ok(b) = parse_pflag_bool(value) {
        return Ok(AllowHttp::Named(b));
    }
    if value.is_empty() || value.contains(['/', '@', ' ']) {
        return Err(format!("{value:?} is neither true/false nor a registry HOST[:PORT]"));
    }
    Ok(AllowHttp::Registry(value.to_owned()))
}

/// The cosign environment variables about registries: `COSIGN_MAX_ATTACHMENT_SIZE` is honoured
/// up to ironsign's own bound; `COSIGN_REPOSITORY` and `COSIGN_DOCKER_MEDIA_TYPES=true` ask for
/// storage ironsign does not write or read, so they are refused rather than ignored.
fn cosign_registry_environment(options: &mut RegistryOptions) -> Result<(), Error> {
    let refused = |name: &str, reason: &str| -> Error {
        InputError::InvalidArgument { name: name.into(), reason: reason.into() }.into()
    };
    if std::env::var_os("COSIGN_REPOSITORY").is_some_and(|v| !v.is_empty()) {
        return Err(refused(
            "COSIGN_REPOSITORY",
            "ironsign stores and reads attachments beside the image only; unset it (signatures in another repository are not supported)",
        ));
    }
    if let Ok(value) = std::env::var("COSIGN_DOCKER_MEDIA_TYPES")
        && parse_pflag_bool(&value).map_err(|e| refused("COSIGN_DOCKER_MEDIA_TYPES", &e))?
    {
        return Err(refused("COSIGN_DOCKER_MEDIA_TYPES", "ironsign writes OCI media types only"));
    }
    if let Ok(value) = std::env::var("COSIGN_MAX_ATTACHMENT_SIZE") {
        let bytes = parse_byte_size(&value).map_err(|e| refused("COSIGN_MAX_ATTACHMENT_SIZE", &e))?;
        let bound = options.limits.max_blob_size;
        if bytes > bound {
            return Err(refused(
                "COSIGN_MAX_ATTACHMENT_SIZE",
                &format!("{bytes} bytes is above ironsign's bound of {bound} bytes for one attachment"),
            ));
        }
        options.limits.max_blob_size = bytes;
    }
    Ok(())
}

/// A size as cosign reads `COSIGN_MAX_ATTACHMENT_SIZE` (go-humanize's `ParseBytes`): a number
/// with an optional unit, decimal (kB, MB, GB) or binary (KiB, MiB, GiB), case-insensitive.
pub fn parse_byte_size(text: &str) -> Result<u64, String> {
    let invalid = || format!("{text:?} is not a size (e.g. 134217728, 128MiB, 100MB)");
    let trimmed = text.trim();
    let split = trimmed.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(trimmed.len());
    let number: f64 = trimmed[..split].parse().map_err(|_| invalid())?;
    let scale: u64 = match trimmed[split..].trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "ki" | "kib" => 1 << 10,
        "m" | "mb" => 1_000_000,
        "mi" | "mib" => 1 << 20,
        "g" | "gb" => 1_000_000_000,
        "gi" | "gib" => 1 << 30,
        _ => return Err(invalid()),
    };
    let bytes = number * scale as f64;
    if !bytes.is_finite() || bytes < 1.0 || bytes > u64::MAX as f64 {
        return Err(invalid());
    }
    Ok(bytes as u64)
}

impl RegistryArgs {
    /// The client these flags describe, for the registries `references` name.
    pub fn client(&self, references: &[&ironsign::ImageReference]) -> Result<RegistryClient, Error> {
        let mut options = RegistryOptions::default();
        cosign_registry_environment(&mut options)?;
        // As pflag: a later `--allow-http-registry[=BOOL]` overrides an earlier one.
        let all_named = self.allow_http.iter().rev().find_map(|a| match a {
            AllowHttp::Named(b) => Some(*b),
            AllowHttp::Registry(_) => None,
        });
        if all_named == Some(true) {
            options.insecure_registries.extend(references.iter().filter_map(|r| match &r.location {
                ironsign::Location::Registry { registry, .. } => Some(registry.clone()),
                ironsign::Location::Layout { .. } => None,
            }));
        }
        for a in &self.allow_http {
            if let AllowHttp::Registry(r) = a {
                options.insecure_registries.push(r.clone());
            }
        }
        options.accept_invalid_certificates = self.allow_insecure;
        for path in &self.cacert {
            options.ca_certificates_pem.push(
                std::fs::read(path)
                    .map_err(|e| InputError::Io { path: path.display().to_string(), reason: e.to_string() })?,
            );
        }
        options.keychain = keychain(self.username.as_deref(), self.password.as_deref())?;
        options.request_timeout = std::time::Duration::from_secs(self.timeout.max(1));
        options.connect_timeout = options.connect_timeout.min(options.request_timeout);
        options.read_timeout = options.read_timeout.min(options.request_timeout);
        RegistryClient::new(options)
    }
}

/// Docker's and podman's credential files, in the order those tools read them.
fn keychain(username: Option<&str>, password: Option<&str>) -> Result<Keychain, Error> {
    let mut kc = Keychain::anonymous();
    match (username, password) {
        (Some(u), Some(p)) => {
            kc = kc.with_credential(Credential::Basic { username: u.into(), password: Zeroizing::new(p.into()) })
        }
        (None, None) => {}
        _ => {
            return Err(InputError::InvalidArgument {
                name: "--registry-username/--registry-password".into(),
                reason: "give both or neither".into(),
            }
            .into());
        }
    }
    let var = |name: &str| std::env::var_os(name).map(PathBuf::from);
    let files = ironsign::registry::auth::docker_and_podman_config_files(
        var("HOME"),
        var("DOCKER_CONFIG"),
        var("REGISTRY_AUTH_FILE"),
        var("XDG_RUNTIME_DIR"),
    );
    for file in files {
        kc = kc.with_config_file(file);
    }
    Ok(kc)
}

/// Trust material for verification.
#[derive(Debug, Args, Clone)]
pub struct TrustArgs {
    /// Public key (PEM) the signatures must be made with, instead of certificate trust.
    #[arg(long = "key", value_name = "FILE")]
    pub key: Vec<PathBuf>,
    /// Chain file, cosign style: intermediates, then the root last (the only trust anchor).
    #[arg(long = "certificate-chain", value_name = "FILE", conflicts_with_all = ["ca_roots", "ca_intermediates"])]
    pub certificate_chain: Option<PathBuf>,
    /// A Sigstore trusted_root.json (cosign v3's --trusted-root; `trusted-root create` writes
    /// one): its certificate authorities and timestamp authorities, instead of the chain, root and
    /// TSA flags. With --key only its timestamp authorities are used, as in cosign.
    #[arg(
        long = "trusted-root",
        value_name = "FILE",
        conflicts_with_all = ["certificate_chain", "ca_roots", "ca_intermediates", "timestamp_certificate_chain"]
    )]
    pub trusted_root: Option<PathBuf>,
    /// Root CA certificates (PEM bundle); several files allowed.
    #[arg(long = "ca-roots", value_name = "FILE")]
    pub ca_roots: Vec<PathBuf>,
    /// Intermediate CA certificates (PEM bundle) available for path building.
    #[arg(long = "ca-intermediates", value_name = "FILE")]
    pub ca_intermediates: Vec<PathBuf>,
    /// Timestamp authority certificates (PEM: the TSA certificate, its intermediates, its root):
    /// RFC 3161 timestamps on signatures are verified and certificates checked at their time.
    #[arg(long = "timestamp-certificate-chain", value_name = "FILE")]
    pub timestamp_certificate_chain: Vec<PathBuf>,
    /// cosign's switch for the timestamps above: with ironsign they are verified whenever
    /// --timestamp-certificate-chain is given, so true needs that flag and false is refused with it.
    #[arg(long = "use-signed-timestamps")]
    pub use_signed_timestamps: Option<bool>,
    /// Certificate revocation list (PEM or DER) of a CA on the signing path; several allowed. A
    /// certificate listed is rejected (CERT_REVOKED); a CRL past its nextUpdate fails.
    #[arg(long = "crl", value_name = "FILE")]
    pub crl: Vec<PathBuf>,
}

fn read(path: &Path) -> Result<Vec<u8>, Error> {
    std::fs::read(path).map_err(|e| InputError::Io { path: path.display().to_string(), reason: e.to_string() }.into())
}

impl TrustArgs {
    /// The flags given, by name.
    pub fn given_flags(&self) -> Vec<&'static str> {
        let given = [
            ("--key", !self.key.is_empty()),
            ("--certificate-chain", self.certificate_chain.is_some()),
            ("--trusted-root", self.trusted_root.is_some()),
            ("--use-signed-timestamps", self.use_signed_timestamps.is_some()),
            ("--ca-roots", !self.ca_roots.is_empty()),
            ("--ca-intermediates", !self.ca_intermediates.is_empty()),
            ("--timestamp-certificate-chain", !self.timestamp_certificate_chain.is_empty()),
            ("--crl", !self.crl.is_empty()),
        ];
        given.into_iter().filter(|(_, g)| *g).map(|(f, _)| f).collect()
    }

    /// The CRL files, read: (bytes, file name).
    pub fn crls(&self) -> Result<Vec<(Vec<u8>, String)>, Error> {
        self.crl.iter().map(|p| Ok((read(p)?, p.display().to_string()))).collect()
    }

    /// The trust root these flags describe.
    pub fn trust_root(&self) -> Result<TrustRoot, Error> {
        // Key trust and certificate trust together could admit nothing more (certificate trust
        // needs an identity, which a key-only signature never carries), and intermediates without
        // roots have nothing to lead to: refused rather than ignored.
        let certificate_trust = self.certificate_chain.is_some() || !self.ca_roots.is_empty();
        if !self.key.is_empty() && certificate_trust {
            return Err(InputError::InvalidArgument {
                name: "--key".into(),
                reason: "give either --key or certificate trust (--ca-roots, --certificate-chain), not both: an identity is required with certificate trust and a key-only signature carries none".into(),
            }
            .into());
        }
        if !self.ca_intermediates.is_empty() && self.ca_roots.is_empty() {
            return Err(InputError::InvalidArgument {
                name: "--ca-intermediates".into(),
                reason: "intermediates need --ca-roots to lead to".into(),
            }
            .into());
        }
        let keys = self
            .key
            .iter()
            .map(|p| Ok(PublicKey::from_pem(&read(p)?, &p.display().to_string())?))
            .collect::<Result<Vec<_>, Error>>()?;
        let trust = if let Some(path) = &self.trusted_root {
            let from_file = ironsign::trusted_root::read(&read(path)?)?;
            if keys.is_empty() {
                from_file
            } else {
                // As cosign: a key-only signature carries no certificate for the file's CAs to
                // anchor, so with --key the file supplies its timestamp authorities only.
                TrustRoot::default().with_timestamp_authorities(from_file.timestamp_authorities().clone())
            }
        } else if let Some(chain) = &self.certificate_chain {
            TrustRoot::from_chain_pem(&read(chain)?)?
        } else if !self.ca_roots.is_empty() {
            let mut roots = Vec::new();
            for p in &self.ca_roots {
                roots.extend(Certificate::from_pem_many(&read(p)?, &p.display().to_string(), 100)?);
            }
            let mut intermediates = Vec::new();
            for p in &self.ca_intermediates {
                intermediates.extend(Certificate::from_pem_many(&read(p)?, &p.display().to_string(), 100)?);
            }
            TrustRoot::from_certificates(roots, intermediates)?
        } else if keys.is_empty() {
            return Err(InputError::InvalidArgument {
                name: "trust".into(),
                reason: "give --key, --certificate-chain or --ca-roots".into(),
            }
            .into());
        } else {
            TrustRoot::default()
        };
        let mut trust = trust.with_public_keys(keys);
        for (crl, what) in self.crls()? {
            trust = trust.with_crls(&crl, &what)?;
        }
        for p in &self.timestamp_certificate_chain {
            trust = trust.with_timestamp_authorities(ironsign::TimestampAuthorities::from_pem(&read(p)?)?);
        }
        match (self.use_signed_timestamps, trust.timestamp_authorities().is_empty()) {
            (Some(true), true) => {
                return Err(InputError::InvalidArgument {
                    name: "--use-signed-timestamps".into(),
                    reason: "needs a timestamp authority (--timestamp-certificate-chain, or one in --trusted-root): there is no public TSA to fall back on".into(),
                }
                .into());
            }
            (Some(false), false) => {
                return Err(InputError::InvalidArgument {
                    name: "--use-signed-timestamps=false".into(),
                    reason: "a timestamp authority is given, and its timestamps are always verified".into(),
                }
                .into());
            }
            _ => {}
        }
        Ok(trust)
    }
}

/// The identity and annotation policy.
#[derive(Debug, Args, Clone)]
pub struct PolicyArgs {
    /// SAN (email, URI or DNS name) the signing certificate must carry.
    #[arg(long = "certificate-identity")]
    pub identity: Vec<String>,
    /// Regular expression a SAN must match (unanchored, as in cosign: use ^…$).
    #[arg(long = "certificate-identity-regexp")]
    pub identity_regexp: Vec<String>,
    /// Subject DN (RFC 4514) the certificate must have (ironsign extension).
    #[arg(long = "certificate-subject")]
    pub subject: Vec<String>,
    /// Regular expression the subject DN must match (ironsign extension).
    #[arg(long = "certificate-subject-regexp")]
    pub subject_regexp: Vec<String>,
    /// Require a codeSigning extended key usage on the leaf (by default a leaf without the
    /// extension is accepted, as cosign accepts it).
    #[arg(long)]
    pub require_code_signing_eku: bool,
    /// Accepted for cosign compatibility; private certificates carry no OIDC issuer.
    #[arg(long = "certificate-oidc-issuer", hide = true)]
    pub oidc_issuer: Option<String>,
    /// Accepted for cosign compatibility; private certificates carry no OIDC issuer.
    #[arg(long = "certificate-oidc-issuer-regexp", hide = true)]
    pub oidc_issuer_regexp: Option<String>,
    /// Accepted for cosign compatibility: there is no transparency log (=false is refused).
    #[arg(long = "insecure-ignore-tlog", hide = true)]
    pub ignore_tlog: Option<bool>,
    /// Accepted for cosign compatibility: there are no SCTs (=false with certificates is refused).
    #[arg(long = "insecure-ignore-sct", hide = true)]
    pub ignore_sct: Option<bool>,
    /// Accepted for cosign v3 compatibility: ironsign reads the legacy format.
    #[arg(long = "new-bundle-format", hide = true)]
    pub new_bundle_format: Option<bool>,
    /// Accepted for cosign compatibility: there is no transparency log (=false is refused).
    #[arg(long = "private-infrastructure", hide = true)]
    pub private_infrastructure: Option<bool>,
}

impl PolicyArgs {
    /// The identity flags given, by name.
    pub fn identity_flags_given(&self) -> Vec<&'static str> {
        let given = [
            ("--certificate-identity", !self.identity.is_empty()),
            ("--certificate-identity-regexp", !self.identity_regexp.is_empty()),
            ("--certificate-subject", !self.subject.is_empty()),
            ("--certificate-subject-regexp", !self.subject_regexp.is_empty()),
            // Asks for SCT checks on certificates, which cannot be had here (refused by `policy`).
            ("--insecure-ignore-sct=false", self.ignore_sct == Some(false)),
        ];
        given.into_iter().filter(|(_, g)| *g).map(|(f, _)| f).collect()
    }

    /// The policy these flags describe, with the annotations to require (the core's rules:
    /// [`PolicySpec::build`]).
    pub fn policy(&self, trust: &TrustRoot, annotations: &BTreeMap<String, String>) -> Result<Policy, Error> {
        // As cosign: without --insecure-ignore-sct a certificate needs an SCT (a key-only
        // verification checks none). ironsign checks none, so asking for it is refused.
        if self.ignore_sct == Some(false) && trust.has_certificate_authorities() {
            return Err(InputError::InvalidArgument {
                name: "--insecure-ignore-sct".into(),
                reason: "ironsign checks no SCTs (private certificates carry none): false cannot be honoured".into(),
            }
            .into());
        }
        let given = |values: &Vec<String>| (!values.is_empty()).then(|| values.clone());
        let spec = PolicySpec {
            identity: given(&self.identity),
            identity_regexp: given(&self.identity_regexp),
            subject: given(&self.subject),
            subject_regexp: given(&self.subject_regexp),
            annotations: annotations.clone(),
            require_code_signing_eku: self.require_code_signing_eku,
            dangerous_any_identity: false,
        };
        let identity_given = [&self.identity, &self.identity_regexp, &self.subject, &self.subject_regexp]
            .iter()
            .any(|values| !values.is_empty());
        if !identity_given && trust.has_certificate_authorities() {
            return Err(InputError::InvalidArgument {
                name: "--certificate-identity".into(),
                reason: "certificate trust needs --certificate-identity or --certificate-identity-regexp (or --certificate-subject)".into(),
            }
            .into());
        }
        Ok(spec.build()?)
    }
}

/// Parses `key=value` annotations.
pub fn parse_annotations(values: &[String]) -> Result<BTreeMap<String, String>, Error> {
    values
        .iter()
        .map(|kv| {
            kv.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())).ok_or_else(|| {
                InputError::InvalidArgument { name: "--annotations".into(), reason: format!("{kv:?} is not key=value") }
                    .into()
            })
        })
        .collect()
}

/// The password for a private key: `IRONSIGN_PASSWORD`, then `COSIGN_PASSWORD`, else a prompt
/// on a terminal, else none.
pub fn key_password(confirm: bool) -> anyhow::Result<Option<Zeroizing<String>>> {
    for var in ["IRONSIGN_PASSWORD", "COSIGN_PASSWORD"] {
        if let Ok(v) = std::env::var(var) {
            return Ok(Some(Zeroizing::new(v)));
        }
    }
    if !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        return Ok(None);
    }
    let first =
        Zeroizing::new(rpassword::prompt_password("Enter password for private key: ").context("reading the password")?);
    if confirm {
        let second = Zeroizing::new(
            rpassword::prompt_password("Enter password for private key again: ").context("reading the password")?,
        );
        anyhow::ensure!(*first == *second, "the passwords do not match");
    }
    Ok(Some(first))
}

/// Loads a private key, asking for a password only when the key is encrypted.
pub fn load_signer(path: &Path) -> anyhow::Result<KeyPairSigner> {
    let pem = Zeroizing::new(read(path)?);
    match KeyPairSigner::from_pem(&pem, None, &path.display().to_string()) {
        Err(ironsign::KeyError::PasswordRequired { .. }) => {
            let password = key_password(false)?.unwrap_or_default();
            Ok(KeyPairSigner::from_pem(&pem, Some(password.as_bytes()), &path.display().to_string())
                .map_err(Error::from)?)
        }
        other => Ok(other.map_err(Error::from)?),
    }
}

/// Reads certificate files.
pub fn read_certificate(path: &Path) -> Result<Certificate, Error> {
    Ok(Certificate::from_pem_or_der(&read(path)?, &path.display().to_string())?)
}

/// Reads a chain file.
pub fn read_chain(path: &Path) -> Result<Vec<Certificate>, Error> {
    Ok(Certificate::from_pem_many(&read(path)?, &path.display().to_string(), ironsign::pki::DEFAULT_MAX_CHAIN)?)
}

/// The signing key and its certificate.
#[derive(Args)]
pub struct SigningArgs {
    /// Private key file (PKCS#8, SEC1, PKCS#1, encrypted PKCS#8, or cosign's encrypted format),
    /// or a key in a PKCS#11 token: pkcs11:token=…;object=…;id=…?module-path=…&pin-value=…,
    /// or a KMS key: awskms://[ENDPOINT]/KEY_ID|alias/NAME|ARN, hashivault://KEY
    #[arg(long, short = 'k')]
    key: PathBuf,
    /// Signing certificate (PEM or DER) for the key.
    #[arg(long, alias = "cert")]
    certificate: Option<PathBuf>,
    /// Its issuing chain: intermediates, then the root last.
    /// (With a PKCS#11 key the certificate is read from the token when not given.)
    #[arg(long = "certificate-chain", alias = "cert-chain")]
    certificate_chain: Option<PathBuf>,
    /// RFC 3161 timestamp authority URL: each signature gets a timestamp, so it still verifies
    /// after the certificate expires.
    #[arg(long = "timestamp-server-url", value_name = "URL")]
    timestamp_server_url: Option<String>,
    /// Refuse a certificate whose extended key usage lacks codeSigning (by default it signs, with
    /// a warning: chain verification by cosign, Kyverno and policy-controller refuses such
    /// signatures, verification by the public key works).
    #[arg(long = "strict-eku")]
    strict_eku: bool,
}

impl SigningArgs {
    /// The signing material these flags name, warnings printed.
    pub fn material(&self) -> anyhow::Result<SigningMaterial> {
        signing_material(
            &self.key,
            self.certificate.as_deref(),
            self.certificate_chain.as_deref(),
            self.timestamp_server_url.as_deref(),
            eku_check(self.strict_eku),
            ["--certificate", "--certificate-chain"],
        )
    }
}

/// `--strict-eku` as the core's check.
pub fn eku_check(strict: bool) -> ironsign::EkuCheck {
    if strict { ironsign::EkuCheck::Strict } else { ironsign::EkuCheck::Warn }
}

/// Signing material from a key (file, PKCS#11 URI or KMS URI), its certificate and chain (its usage checked
/// as `eku` says), and a timestamp authority, warnings printed. `flags` names the certificate and chain flags in errors.
pub fn signing_material(
    key: &Path,
    certificate: Option<&Path>,
    chain: Option<&Path>,
    timestamp_server_url: Option<&str>,
    eku: ironsign::EkuCheck,
    flags: [&str; 2],
) -> anyhow::Result<SigningMaterial> {
    let (signer, token_certificate) = open_signer(key)?;
    let mut material = SigningMaterial::new(signer);
    let certificate = match certificate {
        Some(cert) => Some(read_certificate(cert)?),
        None => token_certificate,
    };
    if let Some(certificate) = certificate {
        let chain = match chain {
            Some(p) => read_chain(p)?,
            None => Vec::new(),
        };
        material = material
            .with_certificate_checked(certificate, chain, std::time::SystemTime::now(), eku)
            .map_err(Error::from)?;
    } else if chain.is_some() {
        anyhow::bail!("{} needs {} (or a certificate in the PKCS#11 token)", flags[1], flags[0]);
    }
    if let Some(url) = timestamp_server_url {
        material = material.with_timestamp_authority(ironsign::TimestampClient::new(url, &[]).map_err(Error::from)?);
    }
    for finding in material.findings() {
        eprintln!("Warning [{}]: {finding}", finding.code());
    }
    Ok(material)
}

/// cosign signing flags accepted for drop-in compatibility; they change nothing here.
#[derive(Debug, Args, Clone)]
pub struct CosignSignCompat {
    /// Accepted for cosign compatibility when false; there is no transparency log to upload to.
    #[arg(long = "tlog-upload", hide = true)]
    _tlog_upload: Option<bool>,
    /// Accepted for cosign compatibility.
    #[arg(short = 'y', long = "yes", hide = true)]
    _yes: bool,
    /// Accepted for cosign v3 compatibility: ironsign writes the legacy format.
    #[arg(long = "new-bundle-format", hide = true)]
    _new_bundle_format: Option<bool>,
    /// Accepted for cosign v3 compatibility.
    #[arg(long = "use-signing-config", hide = true)]
    _use_signing_config: Option<bool>,
}

/// The first of these environment variables that is set.
fn first_env(names: &[&str]) -> Option<Zeroizing<String>> {
    names.iter().find_map(|n| std::env::var(n).ok()).map(Zeroizing::new)
}

/// The PKCS#11 PIN: `IRONSIGN_PKCS11_PIN`, then cosign's `COSIGN_PKCS11_PIN`.
pub fn pkcs11_pin() -> Option<Zeroizing<String>> {
    first_env(&["IRONSIGN_PKCS11_PIN", "COSIGN_PKCS11_PIN"])
}

/// The PKCS#11 module: `IRONSIGN_PKCS11_MODULE_PATH`, then `COSIGN_PKCS11_MODULE_PATH`.
pub fn pkcs11_module() -> Option<PathBuf> {
    first_env(&["IRONSIGN_PKCS11_MODULE_PATH", "COSIGN_PKCS11_MODULE_PATH"]).map(|p| PathBuf::from(p.as_str()))
}

/// A `--key` that is a `pkcs11:` URI, parsed.
pub fn pkcs11_uri(key: &Path) -> Result<Option<ironsign::Pkcs11Uri>, Error> {
    match key.to_str() {
        Some(s) if ironsign::Pkcs11Uri::is_pkcs11(s) => Ok(Some(ironsign::Pkcs11Uri::parse(s)?)),
        _ => Ok(None),
    }
}

/// Opens a signing key: a key file, a KMS URI (configured from the environment, as cosign does),
/// or a PKCS#11 URI (whose token certificate comes back too, unless
/// `COSIGN_PKCS11_IGNORE_CERTIFICATE` is set, as in cosign).
pub fn open_signer(key: &Path) -> anyhow::Result<(Arc<dyn ironsign::Signer>, Option<Certificate>)> {
    if let Some(uri) = key.to_str().filter(|s| ironsign::KmsUri::is_kms(s)) {
        let signer = ironsign::KmsSigner::open_with_process_environment(uri).map_err(Error::from)?;
        return Ok((Arc::new(signer), None));
    }
    match pkcs11_uri(key)? {
        Some(uri) => {
            let pin = pkcs11_pin();
            let signer =
                ironsign::Pkcs11Signer::open(&uri, pkcs11_module().as_deref(), pin.as_deref().map(|p| p.as_str()))
                    .map_err(Error::from)?;
            let certificate = if std::env::var_os("COSIGN_PKCS11_IGNORE_CERTIFICATE").is_some() {
                None
            } else {
                signer.certificate().cloned()
            };
            Ok((Arc::new(signer), certificate))
        }
        None => Ok((Arc::new(load_signer(key)?), None)),
    }
}
