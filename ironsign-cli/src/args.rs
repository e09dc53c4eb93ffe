//! Flag groups shared by subcommands. Each group turns into one core value, so no field is copied
//! by hand between the CLI and the library. Environment variables are read here and nowhere else.

use anyhow::Context as _;
use clap::Args;
use ironsign::{
    Certificate, Credential, Error, InputError, KeyPairSigner, Keychain, Policy, PolicySpec, PublicKey, RegistryClient,
    RegistryOptions, SigningMaterial, TrustRoot,
};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use zeroize::Zeroizing;

/// How to reach registries.
#[derive(Debug, Args, Clone)]
pub struct RegistryArgs {
    /// Use plain HTTP for this registry (host:port); loopback registries always use it.
    #[arg(long = "allow-http-registry", value_name = "HOST:PORT", num_args = 0..=1, default_missing_value = "*")]
    pub allow_http: Vec<String>,
    /// Accepted for cosign compatibility: the same as --allow-http-registry for every registry given.
    #[arg(long = "allow-insecure-registry", hide = true)]
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

impl RegistryArgs {
    /// The client these flags describe, for the registries `references` name.
    pub fn client(&self, references: &[&ironsign::ImageReference]) -> Result<RegistryClient, Error> {
        let mut options = RegistryOptions::default();
        for r in &self.allow_http {
            if r == "*" || self.allow_insecure {
                options.insecure_registries.extend(references.iter().filter_map(|r| match &r.location {
                    ironsign::Location::Registry { registry, .. } => Some(registry.clone()),
                    ironsign::Location::Layout { .. } => None,
                }));
            } else {
                options.insecure_registries.push(r.clone());
            }
        }
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
    /// Certificate revocation list (PEM or DER) of a CA on the signing path; several allowed. A
    /// certificate listed is rejected (CERT_REVOKED); a CRL past its nextUpdate fails.
    #[arg(long = "crl", value_name = "FILE")]
    pub crl: Vec<PathBuf>,
}

fn read(path: &Path) -> Result<Vec<u8>, Error> {
    std::fs::read(path).map_err(|e| InputError::Io { path: path.display().to_string(), reason: e.to_string() }.into())
}

impl TrustArgs {
    /// Whether any trust flag was given.
    pub fn is_given(&self) -> bool {
        !self.key.is_empty()
            || self.certificate_chain.is_some()
            || !self.ca_roots.is_empty()
            || !self.ca_intermediates.is_empty()
    }

    /// The trust root these flags describe.
    pub fn trust_root(&self) -> Result<TrustRoot, Error> {
        let keys = self
            .key
            .iter()
            .map(|p| Ok(PublicKey::from_pem(&read(p)?, &p.display().to_string())?))
            .collect::<Result<Vec<_>, Error>>()?;
        let trust = if let Some(chain) = &self.certificate_chain {
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
        for p in &self.crl {
            trust = trust.with_crls(&read(p)?, &p.display().to_string())?;
        }
        for p in &self.timestamp_certificate_chain {
            trust = trust.with_timestamp_authorities(ironsign::TimestampAuthorities::from_pem(&read(p)?)?);
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
    /// Accepted for cosign compatibility: there is no transparency log.
    #[arg(long = "insecure-ignore-tlog", hide = true, num_args = 0..=1, default_missing_value = "true")]
    pub ignore_tlog: Option<bool>,
    /// Accepted for cosign compatibility: there are no SCTs.
    #[arg(long = "insecure-ignore-sct", hide = true, num_args = 0..=1, default_missing_value = "true")]
    pub ignore_sct: Option<bool>,
    /// Accepted for cosign v3 compatibility: ironsign reads the legacy format.
    #[arg(long = "new-bundle-format", hide = true, num_args = 0..=1, default_missing_value = "true")]
    pub new_bundle_format: Option<bool>,
}

impl PolicyArgs {
    /// Whether an identity flag was given.
    pub fn is_given(&self) -> bool {
        !(self.identity.is_empty()
            && self.identity_regexp.is_empty()
            && self.subject.is_empty()
            && self.subject_regexp.is_empty())
    }

    /// The policy these flags describe, with the annotations to require (the core's rules:
    /// [`PolicySpec::build`]).
    pub fn policy(&self, trust: &TrustRoot, annotations: &BTreeMap<String, String>) -> Result<Policy, Error> {
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
        if !self.is_given() && trust.has_certificate_authorities() {
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
    /// or a key in a PKCS#11 token: pkcs11:token=…;object=…;id=…?module-path=…&pin-value=…
    #[arg(long)]
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
}

impl SigningArgs {
    /// The signing material these flags name, warnings printed.
    pub fn material(&self) -> anyhow::Result<SigningMaterial> {
        signing_material(
            &self.key,
            self.certificate.as_deref(),
            self.certificate_chain.as_deref(),
            self.timestamp_server_url.as_deref(),
            ["--certificate", "--certificate-chain"],
        )
    }
}

/// Signing material from a key (file or PKCS#11 URI), its certificate and chain, and a timestamp
/// authority, warnings printed. `flags` names the certificate and chain flags in errors.
pub fn signing_material(
    key: &Path,
    certificate: Option<&Path>,
    chain: Option<&Path>,
    timestamp_server_url: Option<&str>,
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
        material = material.with_certificate(certificate, chain, std::time::SystemTime::now()).map_err(Error::from)?;
    } else if chain.is_some() {
        anyhow::bail!("{} needs {} (or a certificate in the PKCS#11 token)", flags[1], flags[0]);
    }
    if let Some(url) = timestamp_server_url {
        material = material.with_timestamp_authority(ironsign::TimestampClient::new(url, &[]).map_err(Error::from)?);
    }
    for w in material.warnings() {
        eprintln!("Warning: {w}");
    }
    Ok(material)
}

/// cosign signing flags accepted for drop-in compatibility; they change nothing here.
#[derive(Debug, Args, Clone)]
pub struct CosignSignCompat {
    /// Accepted for cosign compatibility; there is no transparency log to upload to.
    #[arg(long = "tlog-upload", hide = true, num_args = 0..=1, default_missing_value = "false")]
    _tlog_upload: Option<bool>,
    /// Accepted for cosign compatibility.
    #[arg(short = 'y', long = "yes", hide = true)]
    _yes: bool,
    /// Accepted for cosign v3 compatibility: ironsign writes the legacy format.
    #[arg(long = "new-bundle-format", hide = true, num_args = 0..=1, default_missing_value = "true")]
    _new_bundle_format: Option<bool>,
    /// Accepted for cosign v3 compatibility.
    #[arg(long = "use-signing-config", hide = true, num_args = 0..=1, default_missing_value = "true")]
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

/// Opens a signing key: a key file, or a PKCS#11 URI (whose token certificate comes back too,
/// unless `COSIGN_PKCS11_IGNORE_CERTIFICATE` is set, as in cosign).
pub fn open_signer(key: &Path) -> anyhow::Result<(Arc<dyn ironsign::Signer>, Option<Certificate>)> {
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
