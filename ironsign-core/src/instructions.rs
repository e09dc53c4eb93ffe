//! Verification instructions and admission policies for the users of signed images, generated from
//! one [`TrustConfig`].
//!
//! Every generator is pure: it turns the configuration (and optionally the image) into files.
//!
//! | format | files |
//! |---|---|
//! | [`Cosign`](InstructionsFormat::Cosign) | `verify-cosign-v2.sh`, `verify-cosign-v3.sh`: fetch the root CA, check its SHA-256, run `cosign verify` and one `cosign verify-attestation` per required predicate type |
//! | [`Kyverno`](InstructionsFormat::Kyverno) | a `ClusterPolicy` (`kyverno.io/v1`) and an `ImageValidatingPolicy` (`policies.kyverno.io/v1`) |
//! | [`PolicyController`](InstructionsFormat::PolicyController) | a `TrustRoot` holding every intermediate and the roots, and a `ClusterImagePolicy` |
//! | [`Podman`](InstructionsFormat::Podman) | `policy.json` (`sigstoreSigned` with `pki`, containers/image ≥ 5.35), `policy-keypath.json` (`keyPath`, older releases, when signing keys are configured), `registries.d/<name>.yaml`, the PEM files |
//! | [`Markdown`](InstructionsFormat::Markdown), [`Html`](InstructionsFormat::Html) | a page for people: the image, the signer, the root CA fingerprint, the commands |
//!
//! Verification by key ([`VerificationBasis`]): a configuration anchored on `keys`, or given the
//! signing certificate when its extended key usage lacks codeSigning (which every consumer's
//! chain verification requires, [`CODE_SIGNING_REQUIRED_BY`]), gets key-based output in every
//! format: `cosign verify --key`, Kyverno `keys.publicKeys`/`cosign.key`, a policy-controller
//! `key` authority, podman `keyPath`; each file says why.
//!
//! The traps each consumer sets for a private CA without Fulcio or Rekor are handled here: cosign
//! needs `--insecure-ignore-tlog --insecure-ignore-sct` and an issuer regexp of `.*` (a private
//! certificate has no OIDC issuer extension), and v3 `--new-bundle-format=false`; Kyverno needs a
//! non-empty `rekor.url` even with `ignoreTlog`, and `ctlog.ignoreSCT` to stay offline (what else
//! Kyverno requires is below);
//! policy-controller ignores the chain a signature carries, so its `TrustRoot` holds every
//! intermediate, and `keyless.url` is a placeholder it never contacts; containers/image matches
//! only an exact email (`subjectEmail`) or DNS name (`subjectHostname`).
//!
//! What Kyverno v1.19.1 requires of a private PKI, from its sources (written at the top of both
//! generated policies and on the Markdown page; proven by `tests/tests/kyverno.rs`):
//! * codeSigning EKU: the ClusterPolicy verifier (`pkg/image/verifiers/cpol/cosign/cosign.go`,
//!   `buildCosignOptions`) hands the roots to cosign v3.1.2, whose `TrustedCert`
//!   (`pkg/cosign/verify.go`) verifies the chain with `KeyUsages: [CodeSigning]`.
//! * The bundle path ignores the roots: with `type: SigstoreBundle`,
//!   `pkg/image/verifiers/cpol/cosign/sigstore.go` (`getTrustedMaterial`) uses the TUF trusted
//!   root for every non-key attestor; `roots` is never read there.
//! * The ImageValidatingPolicy initialises TUF: `pkg/image/verifiers/ivpol/cosign/opts.go`
//!   (`checkOptions`) skips `initTUFAndFetch` only for key or certificate attestors with
//!   `insecureIgnoreTlog`; a keyless attestor always initialises TUF, from
//!   `tuf.DefaultRemoteRoot` unless `tuf.mirror` is set: an air-gap trap.
//! * The attestation conditions see cosign's predicate: a report without a scan time carries Go's
//!   zero time, not an empty string, so the generated condition refuses both.

use crate::error::{Error, InputError};
use crate::pki::Certificate;
use crate::predicates::{GO_ZERO_TIME, VULN};
use crate::reference::ImageReference;
use crate::trust_config::{CertificateEntry, SignerIdentity, TrustConfig};
use base64::Engine as _;
use serde::Serialize;
use serde_json::{Value, json};

/// Kyverno's `keyless.rekor.url` must be non-empty even when the log is ignored; this is never
/// contacted with `ignoreTlog: true`.
pub const REKOR_URL_PLACEHOLDER: &str = "https://rekor.sigstore.dev";
/// policy-controller's `keyless.url` (a Fulcio URL) is required; with `trustRootRef` it is never
/// contacted.
pub const FULCIO_URL_PLACEHOLDER: &str = "https://fulcio.sigstore.dev";
/// Where the podman files expect the PEM files by default.
pub const DEFAULT_PODMAN_CERTIFICATE_DIR: &str = "/etc/pki/containers";

/// The same requirements, for the Markdown page.
const KYVERNO_PAGE_NOTE: &str = "\n## Kyverno\n\n\
What Kyverno (checked against v1.19.1) requires of this private PKI:\n\n\
- The signing certificate must carry the **codeSigning** extended key usage, and so must every \
intermediate that restricts EKUs: Kyverno verifies certificate chains through cosign, which asks \
for codeSigning.\n\
- Use the **ClusterPolicy**, which reads cosign's legacy format. Its Sigstore bundle path \
(`type: SigstoreBundle`) ignores the roots given in the policy and trusts only Sigstore's public \
root, fetched over TUF.\n\
- The **ImageValidatingPolicy** initialises Sigstore's TUF client before verifying anything, from \
`tuf-repo-cdn.sigstore.dev` unless `tuf.mirror` names a mirror you run: in an air gap it refuses \
every image.\n";

/// What Kyverno v1.19.1 really requires of a private PKI, at the top of both generated policies
/// (each claim is from Kyverno's and cosign's sources, cited in the module documentation).
const KYVERNO_HEADER: &str = "\
# Generated by ironsign. What Kyverno (checked against v1.19.1) requires of this private PKI:
# - Signing certificates must carry the codeSigning extended key usage, and so must every
#   intermediate that restricts EKUs: cosign verifies certificate chains for codeSigning.
# - Signatures are read in cosign's legacy format (`.sig`/`.att` tags). Kyverno's Sigstore bundle
#   path (`type: SigstoreBundle`) ignores the roots configured here and trusts only Sigstore's
#   public-good root from TUF: do not switch this policy to it for a private CA.
# - The ImageValidatingPolicy's keyless attestor initialises Sigstore's TUF client before any
#   verification, from tuf-repo-cdn.sigstore.dev unless `tuf.mirror` names a mirror you run: in an
#   air gap it refuses every image. Use the ClusterPolicy there.
";

/// Which instructions to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum InstructionsFormat {
    /// cosign v2 and v3 shell scripts.
    Cosign,
    /// Kyverno ClusterPolicy and ImageValidatingPolicy.
    Kyverno,
    /// Sigstore policy-controller TrustRoot and ClusterImagePolicy.
    PolicyController,
    /// podman/skopeo/cri-o policy.json and registries.d.
    Podman,
    /// A Markdown page.
    Markdown,
    /// An HTML page.
    Html,
}

impl InstructionsFormat {
    /// Every format.
    pub const ALL: [InstructionsFormat; 6] = [
        InstructionsFormat::Cosign,
        InstructionsFormat::Kyverno,
        InstructionsFormat::PolicyController,
        InstructionsFormat::Podman,
        InstructionsFormat::Markdown,
        InstructionsFormat::Html,
    ];

    /// The name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            InstructionsFormat::Cosign => "cosign",
            InstructionsFormat::Kyverno => "kyverno",
            InstructionsFormat::PolicyController => "policy-controller",
            InstructionsFormat::Podman => "podman",
            InstructionsFormat::Markdown => "markdown",
            InstructionsFormat::Html => "html",
        }
    }

    /// Parses a name.
    pub fn parse(name: &str) -> Result<Self, InputError> {
        Self::ALL.into_iter().find(|f| f.name() == name).ok_or_else(|| InputError::InvalidArgument {
            name: "format".into(),
            reason: format!(
                "{name:?} is not one of {}",
                Self::ALL.iter().map(|f| f.name()).collect::<Vec<_>>().join(", ")
            ),
        })
    }
}

/// Choices the trust configuration does not make.
#[derive(Debug, Clone, Default)]
pub struct InstructionsOptions {
    /// The directory podman's `policy.json` names for the PEM files
    /// ([`DEFAULT_PODMAN_CERTIFICATE_DIR`] when `None`).
    pub podman_certificate_dir: Option<String>,
    /// The certificate the signer signs with (what `cosign sign --certificate` attaches). It must
    /// be the configured signer's ([`TrustConfig::check_signing_certificate`]); when its extended
    /// key usage lacks codeSigning, every consumer verifies by its public key instead of its chain
    /// ([`verification_basis`]).
    pub signing_certificate: Option<Certificate>,
}

/// How the generated instructions verify signatures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum VerificationBasis {
    /// The certificate chain to the configured roots, and the configured identity.
    Chain,
    /// The key the configuration anchors on (`keys`).
    ConfiguredKey,
    /// The public key of the signing certificate given, whose extended key usage lacks
    /// codeSigning: every consumer's chain verification would refuse it.
    CertificateKey {
        /// The certificate's subject.
        subject: String,
        /// Its extended key usages (without codeSigning).
        extended_key_usage: Vec<String>,
        /// The SHA-256 of its SubjectPublicKeyInfo, hex.
        key_fingerprint: String,
    },
}

/// Where each consumer refuses a certificate chain without codeSigning: the consumer and the
/// source that says so. Checked in the consumers' sources: all of them verify with Go's
/// `x509.Certificate.Verify` and `KeyUsages: [ExtKeyUsageCodeSigning]`, so a leaf whose EKU lists
/// only serverAuth/clientAuth fails in each; a bare key is verified without any certificate usage.
pub const CODE_SIGNING_REQUIRED_BY: [(&str, &str); 4] = [
    // cosign v2.6.5 and v3.1.3, pkg/cosign/verify.go: ValidateAndUnpackCert calls TrustedCert,
    // whose VerifyOptions carry KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}.
    ("cosign (--ca-roots, --certificate-chain)", "pkg/cosign/verify.go, TrustedCert"),
    // Kyverno v1.19.1, pkg/image/verifiers/cpol/cosign/cosign.go: the roots become
    // cosignOpts.RootCerts and cosign v3.1.2's TrustedCert verifies the chain.
    (
        "Kyverno (keyless roots, certificates.certChain)",
        "pkg/image/verifiers/cpol/cosign/cosign.go, through cosign's TrustedCert",
    ),
    // policy-controller v0.13.1, pkg/webhook/validator.go: the TrustRoot's certificate
    // authorities become RootCerts/IntermediateCerts for cosign v2.5.0's TrustedCert.
    ("Sigstore policy-controller (keyless with a TrustRoot)", "pkg/webhook/validator.go, through cosign's TrustedCert"),
    // containers/image v5.42.0, signature/pki_cert.go: verifyPKI verifies the leaf with
    // KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}.
    ("podman, skopeo and cri-o (containers/image sigstoreSigned pki)", "signature/pki_cert.go, verifyPKI"),
];

/// Decides how the instructions verify: by key when the configuration anchors on keys, or when
/// the signing certificate given lacks codeSigning (every consumer listed in
/// [`CODE_SIGNING_REQUIRED_BY`] would refuse its chain); by chain otherwise, including for a
/// certificate with codeSigning or with no extended key usage at all (which Go's x509 accepts).
/// The certificate must be the configured signer's.
pub fn verification_basis(
    config: &TrustConfig,
    signing_certificate: Option<&Certificate>,
) -> Result<VerificationBasis, Error> {
    let configured = if config.keys().is_empty() { VerificationBasis::Chain } else { VerificationBasis::ConfiguredKey };
    let Some(certificate) = signing_certificate else { return Ok(configured) };
    config.check_signing_certificate(certificate)?;
    match (&configured, certificate.code_signing_eku_gap(), &certificate.summary().extended_key_usage) {
        (VerificationBasis::Chain, Some(_), Some(eku)) => Ok(VerificationBasis::CertificateKey {
            subject: certificate.subject().to_owned(),
            extended_key_usage: eku.clone(),
            key_fingerprint: certificate.public_key()?.fingerprint(),
        }),
        _ => Ok(configured),
    }
}

/// One generated file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GeneratedFile {
    /// Its relative path.
    pub path: String,
    /// Its media type.
    pub media_type: &'static str,
    /// Its content.
    pub content: String,
}

/// What a generator produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Instructions {
    /// The format.
    pub format: InstructionsFormat,
    /// The files, the main one first.
    pub files: Vec<GeneratedFile>,
    /// How they verify signatures.
    pub verification: VerificationBasis,
}

impl Instructions {
    /// The file at `path`.
    pub fn file(&self, path: &str) -> Option<&GeneratedFile> {
        self.files.iter().find(|f| f.path == path)
    }

    /// Every file in one text, each introduced by a comment line naming it (YAML documents are
    /// separated by `---` so the text applies as one stream).
    pub fn to_text(&self) -> String {
        if let [only] = self.files.as_slice() {
            return only.content.clone();
        }
        let mut out = String::new();
        for (i, f) in self.files.iter().enumerate() {
            let yaml = f.media_type == YAML;
            if i > 0 {
                out.push_str(if yaml { "---\n" } else { "\n" });
            }
            match f.media_type {
                YAML | SHELL => out.push_str(&format!("# {}\n", f.path)),
                _ => out.push_str(&format!("==> {} <==\n", f.path)),
            }
            out.push_str(&f.content);
        }
        out
    }
}

const YAML: &str = "application/yaml";
const SHELL: &str = "text/x-shellscript";
const JSON: &str = "application/json";
const PEM: &str = "application/x-pem-file";

/// Generates `format` for `config`. With `image`, the instructions name it (and it must be
/// covered by the configuration); without, they take it as an argument or cover every pattern.
pub fn generate(
    format: InstructionsFormat,
    config: &TrustConfig,
    image: Option<&ImageReference>,
    options: &InstructionsOptions,
) -> Result<Instructions, Error> {
    if let Some(image) = image {
        config.check_covers(image)?;
    }
    let basis = verification_basis(config, options.signing_certificate.as_ref())?;
    let keyed;
    let (config, chain) = match (&basis, &options.signing_certificate) {
        (VerificationBasis::CertificateKey { .. }, Some(certificate)) => {
            keyed = config.anchored_on_key(certificate.public_key()?);
            (&keyed, Some(SignerChain { config, certificate }))
        }
        _ => (config, None),
    };
    check_key_anchor(config)?;
    let why = key_reason(&basis, chain.as_ref());
    let why = why.as_deref();
    let files = match format {
        InstructionsFormat::Cosign => {
            vec![cosign_script(config, image, false, why), cosign_script(config, image, true, why)]
        }
        InstructionsFormat::Kyverno => {
            vec![kyverno_cluster_policy(config, why)?, kyverno_image_validating_policy(config, why)?]
        }
        InstructionsFormat::PolicyController => policy_controller(config, why)?,
        InstructionsFormat::Podman => podman(config, options)?,
        InstructionsFormat::Markdown => vec![page(config, image, PageKind::Markdown, why, chain.as_ref())],
        InstructionsFormat::Html => vec![page(config, image, PageKind::Html, why, chain.as_ref())],
    };
    Ok(Instructions { format, files, verification: basis })
}

/// The configured chain of a signer verified by its certificate's key: what still identifies the
/// signer for people.
struct SignerChain<'a> {
    config: &'a TrustConfig,
    certificate: &'a Certificate,
}

/// Verification by key names one key: cosign takes one `--key`, and each policy names the key
/// its signatures must verify with.
fn check_key_anchor(config: &TrustConfig) -> Result<(), InputError> {
    match config.keys().len() {
        0 | 1 => Ok(()),
        n => Err(InputError::InvalidArgument {
            name: "keys".into(),
            reason: format!("cosign verifies with one --key and the configuration anchors on {n}: list one key"),
        }),
    }
}

/// Why verification is by key, for the generated pages and scripts.
pub const KEY_ANCHOR_REASON: &str = "The signer publishes its public key as the trust anchor. Its certificate's extended key usage lacks codeSigning (serverAuth/clientAuth, the shape of a DoD PKI certificate), which chain verification refuses in cosign (--ca-roots, --certificate-chain), Kyverno and policy-controller; verification by the public key (--key with --insecure-ignore-tlog, there being no transparency log) accepts the signatures.";

/// Why the instructions verify by key, in words (`None` for chain verification).
fn key_reason(basis: &VerificationBasis, chain: Option<&SignerChain<'_>>) -> Option<String> {
    match (basis, chain) {
        (VerificationBasis::Chain, _) => None,
        (VerificationBasis::CertificateKey { subject, extended_key_usage, key_fingerprint }, Some(chain)) => {
            let consumers: Vec<String> =
                CODE_SIGNING_REQUIRED_BY.iter().map(|(consumer, source)| format!("{consumer} [{source}]")).collect();
            Some(format!(
                "The signing certificate {subject:?} has extended key usage [{}], without codeSigning. Chain verification requires codeSigning in every consumer: {}. So these instructions verify by the certificate's public key (SHA-256 of its SubjectPublicKeyInfo: {key_fingerprint}), with the transparency log ignored as there is none. The certificate chain still identifies the signer for people: it is issued under {} to {}.",
                extended_key_usage.join(", "),
                consumers.join("; "),
                root_subjects(chain.config),
                chain.config.identity().map(identity_text).unwrap_or_default(),
            ))
        }
        _ => Some(KEY_ANCHOR_REASON.to_owned()),
    }
}

/// The identity of a configuration anchored on roots (key anchors are refused before the
/// generators that need one).
fn cert_identity(config: &TrustConfig) -> Result<&SignerIdentity, InputError> {
    config.identity().ok_or_else(|| InputError::InvalidArgument {
        name: "identity".into(),
        reason: "the configuration anchors on keys and names no identity".into(),
    })
}

/// Who signs, in words: the identity, or the key's fingerprint.
fn signer_text(config: &TrustConfig) -> String {
    match (config.identity(), config.keys()) {
        (Some(identity), _) => identity_text(identity),
        (None, keys) => {
            keys.iter().map(|k| format!("the key sha256:{}", k.fingerprint())).collect::<Vec<_>>().join(" or ")
        }
    }
}

/// Where the scripts write the signing public key of a key-anchored configuration.
fn key_file_name(config: &TrustConfig) -> String {
    format!("{}-signing-key.pub", config.name())
}

fn all_certificates(entries: &[CertificateEntry]) -> Vec<&Certificate> {
    entries.iter().flat_map(|e| &e.certificates).collect()
}

fn pem_bundle<'a>(certs: impl IntoIterator<Item = &'a Certificate>) -> String {
    certs.into_iter().map(Certificate::to_pem).collect()
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data).as_ref())
}

/// `AB:CD:…`, as `openssl x509 -fingerprint -sha256` prints it.
pub fn colon_fingerprint(hex_fingerprint: &str) -> String {
    hex_fingerprint
        .as_bytes()
        .chunks(2)
        .map(|c| String::from_utf8_lossy(c).to_uppercase())
        .collect::<Vec<_>>()
        .join(":")
}

fn file_names(config: &TrustConfig) -> (String, String, String) {
    let n = config.name();
    (format!("{n}-roots.pem"), format!("{n}-intermediates.pem"), format!("{n}-tsa-chain.pem"))
}

// ---------------------------------------------------------------------------------------------
// cosign

/// Quotes for POSIX sh.
fn sh_quote(s: &str) -> String {
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "@%+=:,./_-".contains(c)) {
        return s.to_owned();
    }
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// One cosign invocation: the subcommand, its flags (with values), then the image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CosignCommand {
    /// `verify` or `verify-attestation`.
    pub subcommand: &'static str,
    /// Flags in order, each with its value when it takes one.
    pub flags: Vec<(String, Option<String>)>,
}

impl CosignCommand {
    /// The arguments after `cosign`, the image last.
    pub fn argv(&self, image: &str) -> Vec<String> {
        let mut out = vec![self.subcommand.to_owned()];
        for (flag, value) in &self.flags {
            out.push(flag.clone());
            out.extend(value.clone());
        }
        out.push(image.to_owned());
        out
    }

    /// As a shell command over several lines; `image` is inserted as is (already quoted).
    pub fn render(&self, image: &str) -> String {
        let mut lines = vec![format!("cosign {}", self.subcommand)];
        for (flag, value) in &self.flags {
            lines.push(match value {
                Some(v) => format!("{flag} {}", sh_quote(v)),
                None => flag.clone(),
            });
        }
        lines.push(image.to_owned());
        lines.join(" \\\n  ")
    }
}

/// The cosign commands that verify an image under `config`: `verify`, then one
/// `verify-attestation` per required predicate type. `v3` adds `--new-bundle-format=false`.
/// The file names are those the scripts write (`<name>-roots.pem`, …).
pub fn cosign_commands(config: &TrustConfig, v3: bool) -> Vec<CosignCommand> {
    let (roots, intermediates, tsa) = file_names(config);
    let flag = |f: &str, v: &str| (f.to_owned(), Some(v.to_owned()));
    let mut flags = Vec::new();
    match config.identity() {
        // Anchored on the key: no certificate is checked but for its validity (cosign's rule).
        None => flags.push(flag("--key", &key_file_name(config))),
        Some(identity) => {
            flags.push(flag("--ca-roots", &roots));
            if !config.intermediates().is_empty() {
                flags.push(flag("--ca-intermediates", &intermediates));
            }
            flags.push(match identity {
                SignerIdentity::San(s) => flag("--certificate-identity", s),
                SignerIdentity::SanRegex(r) => flag("--certificate-identity-regexp", r),
            });
            // A private certificate has no OIDC issuer extension: it reads as "", which '.*' matches.
            flags.push(flag("--certificate-oidc-issuer-regexp", ".*"));
        }
    }
    flags.push(("--insecure-ignore-tlog".to_owned(), None));
    if config.identity().is_some() {
        flags.push(("--insecure-ignore-sct".to_owned(), None));
    }
    if config.tsa_chain().is_some() {
        flags.push(("--use-signed-timestamps".to_owned(), None));
        flags.push(flag("--timestamp-certificate-chain", &tsa));
    }
    if v3 {
        // v3 looks for Sigstore bundles first; ironsign signatures are in the .sig/.att tags.
        flags.push(("--new-bundle-format=false".to_owned(), None));
    }
    let mut commands = vec![CosignCommand { subcommand: "verify", flags: flags.clone() }];
    for t in config.required_predicate_types() {
        let mut f = vec![flag("--type", t)];
        f.extend(flags.iter().cloned());
        commands.push(CosignCommand { subcommand: "verify-attestation", flags: f });
    }
    commands
}

/// Shell lines that fetch (or write) certificate entries into `target` and check their SHA-256.
fn fetch_certificates(entries: &[CertificateEntry], target: &str, what: &str) -> String {
    let mut out = String::new();
    let mut parts = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        let part = if entries.len() == 1 { target.to_owned() } else { format!("{target}.{}", i + 1) };
        match &e.url {
            Some(url) => {
                out.push_str(&format!("curl -fsSL -o {} {}\n", sh_quote(&part), sh_quote(url)));
                out.push_str(&format!("check_sha256 {} {}\n", sh_quote(&part), sha256_hex(&e.source)));
            }
            None => {
                out.push_str(&format!("cat > {} <<'PEM'\n{}PEM\n", sh_quote(&part), pem_bundle(&e.certificates)));
            }
        }
        parts.push(part);
    }
    if entries.len() > 1 {
        out.push_str(&format!(
            "cat {} > {}\n",
            parts.iter().map(|p| sh_quote(p)).collect::<Vec<_>>().join(" "),
            sh_quote(target)
        ));
    }
    let fingerprints: Vec<String> = entries
        .iter()
        .flat_map(|e| &e.certificates)
        .map(|c| format!("#   {}  SHA-256 {}", c.subject(), colon_fingerprint(&c.summary().sha256_fingerprint)))
        .collect();
    format!("# {what}:\n{}\n{out}", fingerprints.join("\n"))
}

fn cosign_script(config: &TrustConfig, image: Option<&ImageReference>, v3: bool, why: Option<&str>) -> GeneratedFile {
    let (roots, intermediates, tsa) = file_names(config);
    let (label, file) =
        if v3 { ("cosign v3.x", "verify-cosign-v3.sh") } else { ("cosign v2.x", "verify-cosign-v2.sh") };
    let mut s = String::from("#!/bin/sh\n");
    let under = under_roots(config);
    s.push_str(&format!(
        "# Verify an image of {} with {label}: signed by {}{under} (ironsign trust configuration {:?}).\n",
        config.images().iter().map(|p| p.as_str()).collect::<Vec<_>>().join(", "),
        signer_text(config),
        config.name()
    ));
    if let Some(why) = why {
        s.push_str(&format!("#\n# {why}\n"));
    }
    s.push_str(
        "# Generated by `ironsign instructions cosign`. Give the image by digest (REPO@sha256:...).\nset -eu\n\n",
    );
    match image {
        Some(i) => s.push_str(&format!("IMAGE=\"${{1:-{}}}\"\n\n", i)),
        None => s.push_str("IMAGE=\"${1:?usage: $0 REGISTRY/REPOSITORY@sha256:DIGEST}\"\n\n"),
    }
    s.push_str(
        "check_sha256() {\n  actual=$( (sha256sum \"$1\" 2>/dev/null || shasum -a 256 \"$1\") | cut -d' ' -f1)\n  if [ \"$actual\" != \"$2\" ]; then\n    echo \"$1: SHA-256 is $actual, expected $2; not trusting it\" >&2\n    exit 1\n  fi\n}\n\n",
    );
    if config.roots().is_empty() {
        s.push_str(&write_keys(config));
    } else {
        s.push_str(&fetch_certificates(config.roots(), &roots, "Root CA certificates"));
    }
    if !config.intermediates().is_empty() {
        s.push('\n');
        s.push_str(&fetch_certificates(config.intermediates(), &intermediates, "Intermediate CA certificates"));
    }
    if let Some(chain) = config.tsa_chain() {
        s.push('\n');
        s.push_str(&fetch_certificates(std::slice::from_ref(chain), &tsa, "Timestamp authority chain"));
    }
    for command in cosign_commands(config, v3) {
        s.push('\n');
        match command.flags.first() {
            Some((flag, Some(t))) if flag == "--type" => s.push_str(&format!("# The {t} attestation\n")),
            _ => s.push_str("# The signature\n"),
        }
        s.push_str(&command.render("\"$IMAGE\""));
        s.push('\n');
    }
    GeneratedFile { path: file.into(), media_type: SHELL, content: s }
}

/// Shell lines that write the signing public key, its fingerprint in a comment.
fn write_keys(config: &TrustConfig) -> String {
    let pems: String = config.keys().iter().map(|k| k.to_pem()).collect();
    let fingerprints: Vec<String> =
        config.keys().iter().map(|k| format!("#   SHA-256 of the SubjectPublicKeyInfo: {}", k.fingerprint())).collect();
    format!(
        "# The signing public key (the trust anchor):\n{}\ncat > {} <<'PEM'\n{pems}PEM\n",
        fingerprints.join("\n"),
        sh_quote(&key_file_name(config))
    )
}

fn identity_text(identity: &SignerIdentity) -> String {
    match identity {
        SignerIdentity::San(s) => format!("SAN {s}"),
        SignerIdentity::SanRegex(r) => format!("a SAN matching /{r}/"),
    }
}

/// ` under "ROOT"` for a configuration anchored on roots, nothing for one anchored on keys.
fn under_roots(config: &TrustConfig) -> String {
    if config.roots().is_empty() { String::new() } else { format!(" under {}", root_subjects(config)) }
}

fn root_subjects(config: &TrustConfig) -> String {
    all_certificates(config.roots()).iter().map(|c| format!("{:?}", c.subject())).collect::<Vec<_>>().join(", ")
}

// ---------------------------------------------------------------------------------------------
// Kyverno

/// Kyverno `imageReferences` are wildcards over the whole reference (tag or digest included),
/// and `*` also crosses `/`: a pattern ending in a wildcard is kept, any other gets `:*` and `@*`.
/// Kyverno's `*` is broader than ironsign's, so the policy covers at least the configured images.
fn kyverno_references(config: &TrustConfig) -> Vec<String> {
    let mut out = Vec::new();
    for p in config.images() {
        let p = p.as_str().replace("**", "*");
        if p.ends_with('*') {
            out.push(p);
        } else {
            out.push(format!("{p}:*"));
            out.push(format!("{p}@*"));
        }
    }
    out
}

/// The ClusterPolicy attestors: the signing key, or the roots and identity (`keyless`).
fn kyverno_attestors(config: &TrustConfig) -> Result<Value, Error> {
    let [key] = config.keys() else { return kyverno_keyless(config) };
    let mut keys = json!({
        "publicKeys": key.to_pem(),
        // Without a rekor block Kyverno asks the public Rekor for the signature's log entry.
        "rekor": {"url": REKOR_URL_PLACEHOLDER, "ignoreTlog": true},
        "ctlog": {"ignoreSCT": true},
    });
    if let Some(tsa) = config.tsa_chain() {
        keys["ctlog"]["tsaCertChain"] = json!(pem_bundle(&tsa.certificates));
    }
    Ok(json!([{"count": 1, "entries": [{"keys": keys}]}]))
}

/// What the top of a Kyverno policy says: why by key, or what Kyverno requires of a private PKI.
fn kyverno_header(why: Option<&str>) -> String {
    match why {
        None => KYVERNO_HEADER.to_owned(),
        Some(why) => format!(
            "# Generated by ironsign. Signatures are verified by the signing public key, in cosign's legacy\n# format (`.sig`/`.att` tags), offline (no transparency log, no SCT). Why by key:\n{}",
            comment_lines(why)
        ),
    }
}

/// Kyverno v1.19.1's ImageValidatingPolicy refuses every attestation verified without a
/// transparency log: `VerifyAttestationSignature` (pkg/image/verifiers/ivpol/cosign/verifier.go)
/// fails on cosign's `verified == false` ("cosign bundle verification failed") where
/// `VerifyImageSignature` exempts `insecureIgnoreTlog`. Proven by tests/tests/instructions_by_key.rs.
const KYVERNO_IVP_ATTESTATION_NOTE: &str = "\
# - Kyverno (checked against v1.19.1) refuses every attestation in this ImageValidatingPolicy:
#   verifyAttestationSignatures fails without a transparency log entry, even with
#   insecureIgnoreTlog (which it honours for image signatures only). Use the ClusterPolicy to
#   require attestations.
";

/// `text` as `# ` comment lines of at most about 100 characters.
fn comment_lines(text: &str) -> String {
    let mut out = String::new();
    let mut line = String::from("#");
    for word in text.split_whitespace() {
        if line.len() + word.len() > 98 {
            out.push_str(&line);
            out.push('\n');
            line = String::from("#");
        }
        line.push(' ');
        line.push_str(word);
    }
    out.push_str(&line);
    out.push('\n');
    out
}

fn kyverno_keyless(config: &TrustConfig) -> Result<Value, Error> {
    let roots = pem_bundle(all_certificates(config.roots()));
    let mut keyless = json!({
        "roots": roots,
        // Required non-empty by Kyverno's validation even with ignoreTlog; never contacted.
        "rekor": {"url": REKOR_URL_PLACEHOLDER, "ignoreTlog": true},
        // Without it Kyverno fetches CT log keys over TUF (no network in an air gap).
        "ctlog": {"ignoreSCT": true},
    });
    match cert_identity(config)? {
        SignerIdentity::San(s) => keyless["subject"] = json!(s),
        SignerIdentity::SanRegex(r) => keyless["subjectRegExp"] = json!(r),
    }
    if let Some(tsa) = config.tsa_chain() {
        keyless["ctlog"]["tsaCertChain"] = json!(pem_bundle(&tsa.certificates));
    }
    Ok(json!([{"count": 1, "entries": [{"keyless": keyless}]}]))
}

fn to_yaml(value: &Value, what: &str) -> Result<String, Error> {
    serde_saphyr::to_string(value).map_err(|e| {
        InputError::InvalidArgument { name: what.into(), reason: format!("cannot write YAML: {e}") }.into()
    })
}

fn kyverno_cluster_policy(config: &TrustConfig, why: Option<&str>) -> Result<GeneratedFile, Error> {
    let attestors = kyverno_attestors(config)?;
    let attestations: Vec<Value> = config
        .required_predicate_types()
        .iter()
        .map(|t| {
            let mut a = json!({
                "type": t,
                // The deprecated alias, for Kyverno releases before 1.13.
                "predicateType": t,
                // Always repeated: without attestors Kyverno would verify against public Sigstore.
                "attestors": attestors.clone(),
            });
            if t == VULN {
                a["conditions"] = json!([{"all": [{
                    "key": "{{ metadata.scanFinishedOn || '' }}",
                    "operator": "NotEquals",
                    "value": "",
                    "message": "the vulnerability attestation has no scan time (metadata.scanFinishedOn)",
                }, {
                    // cosign and ironsign write Go's zero time for a report without a scan time.
                    "key": "{{ metadata.scanFinishedOn || '' }}",
                    "operator": "NotEquals",
                    "value": GO_ZERO_TIME,
                    "message": "the vulnerability attestation has no scan time (metadata.scanFinishedOn is the zero time)",
                }]}]);
            }
            a
        })
        .collect();
    let mut verify = json!({
        "imageReferences": kyverno_references(config),
        "failureAction": "Enforce",
        "mutateDigest": true,
        "verifyDigest": true,
        "required": true,
        "attestors": attestors,
    });
    if !attestations.is_empty() {
        verify["attestations"] = json!(attestations);
    }
    let policy = json!({
        "apiVersion": "kyverno.io/v1",
        "kind": "ClusterPolicy",
        "metadata": {
            "name": format!("{}-verify-images", config.name()),
            "annotations": {
                "policies.kyverno.io/title": format!("Verify images signed under the {} PKI", config.name()),
                "policies.kyverno.io/description": format!(
                    "Generated by ironsign: images of {} must be signed by {}{}.",
                    config.images().iter().map(|p| p.as_str()).collect::<Vec<_>>().join(", "),
                    signer_text(config),
                    under_roots(config)
                ),
            },
        },
        "spec": {
            "background": false,
            "webhookConfiguration": {"failurePolicy": "Fail", "timeoutSeconds": 30},
            "rules": [{
                "name": "verify-signature",
                "match": {"any": [{"resources": {"kinds": ["Pod"]}}]},
                "verifyImages": [verify],
            }],
        },
    });
    Ok(GeneratedFile {
        path: "kyverno-clusterpolicy.yaml".into(),
        media_type: YAML,
        content: format!("{}{}", kyverno_header(why), to_yaml(&policy, "kyverno")?),
    })
}

fn kyverno_image_validating_policy(config: &TrustConfig, why: Option<&str>) -> Result<GeneratedFile, Error> {
    let mut ctlog = json!({"insecureIgnoreTlog": true, "insecureIgnoreSCT": true});
    if let Some(tsa) = config.tsa_chain() {
        ctlog["tsaCertChain"] = json!(pem_bundle(&tsa.certificates));
    }
    // A key attestor with insecureIgnoreTlog is the one kind that skips TUF
    // (pkg/image/verifiers/ivpol/cosign/opts.go, checkOptions): this policy works offline.
    let mut cosign = match config.keys() {
        [key] => json!({"key": {"data": key.to_pem()}}),
        _ => {
            let identity = match cert_identity(config)? {
                SignerIdentity::San(s) => json!({"issuerRegExp": ".*", "subject": s}),
                SignerIdentity::SanRegex(r) => json!({"issuerRegExp": ".*", "subjectRegExp": r}),
            };
            json!({"keyless": {"identities": [identity], "roots": pem_bundle(all_certificates(config.roots()))}})
        }
    };
    cosign["ctlog"] = ctlog;
    let attestor = json!({"name": "ironsign", "cosign": cosign});
    let mut validations = vec![json!({
        "expression": "images.containers.map(image, verifyImageSignatures(image, [attestors.ironsign])).all(e, e > 0)",
        "message": format!("the image is not signed by {}", signer_text(config)),
    })];
    let mut attestations = Vec::new();
    for (i, t) in config.required_predicate_types().iter().enumerate() {
        let name = format!("attestation{i}");
        validations.push(json!({
            "expression": format!(
                "images.containers.map(image, verifyAttestationSignatures(image, attestations.{name}, [attestors.ironsign])).all(e, e > 0)"
            ),
            "message": format!("the {t} attestation is missing or not signed by {}", signer_text(config)),
        }));
        attestations.push(json!({"name": name, "intoto": {"type": t}}));
    }
    let mut spec = json!({
        "validationActions": ["Deny"],
        "webhookConfiguration": {"timeoutSeconds": 30},
        "evaluation": {"background": {"enabled": false}},
        "matchConstraints": {"resourceRules": [{
            "apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"], "resources": ["pods"],
        }]},
        "matchImageReferences": kyverno_references(config).into_iter().map(|g| json!({"glob": g})).collect::<Vec<_>>(),
        "validationConfigurations": {"mutateDigest": true, "verifyDigest": true, "required": true},
        "attestors": [attestor],
        "validations": validations,
    });
    if !attestations.is_empty() {
        spec["attestations"] = json!(attestations);
    }
    let ivp_note = match (why, config.required_predicate_types()) {
        (Some(_), [_, ..]) => KYVERNO_IVP_ATTESTATION_NOTE,
        _ => "",
    };
    let policy = json!({
        "apiVersion": "policies.kyverno.io/v1",
        "kind": "ImageValidatingPolicy",
        "metadata": {"name": format!("{}-verify-images", config.name())},
        "spec": spec,
    });
    Ok(GeneratedFile {
        path: "kyverno-imagevalidatingpolicy.yaml".into(),
        media_type: YAML,
        content: format!("{}{ivp_note}{}", kyverno_header(why), to_yaml(&policy, "kyverno")?),
    })
}

// ---------------------------------------------------------------------------------------------
// policy-controller

/// policy-controller globs (`*` within a segment, `**` across) match the whole reference, tag or
/// digest included: a pattern ending in a wildcard is kept, any other gets `:**` and `@**`.
fn policy_controller_globs(config: &TrustConfig) -> Vec<String> {
    let mut out = Vec::new();
    for p in config.images() {
        let p = p.as_str();
        if p.ends_with('*') {
            out.push(p.to_owned());
        } else {
            out.push(format!("{p}:**"));
            out.push(format!("{p}@**"));
        }
    }
    out
}

fn subject_of(cert: &Certificate) -> Value {
    use const_oid::db::rfc4519::{COMMON_NAME, ORGANIZATION_NAME};
    let attr = |oid| cert.subject_attribute(oid).unwrap_or_else(|| cert.subject().to_owned());
    json!({"organization": attr(ORGANIZATION_NAME), "commonName": attr(COMMON_NAME)})
}

/// The attestations a policy-controller authority requires.
fn policy_controller_attestations(config: &TrustConfig) -> Vec<Value> {
    config
        .required_predicate_types()
        .iter()
        .enumerate()
        .map(|(i, t)| {
            json!({
                "name": format!("attestation{i}"),
                // The full URI: a shortcut like `vuln` makes cosign re-encode the statement.
                "predicateType": t,
                "policy": {"type": "cue", "data": format!("predicateType: {}\n", serde_json::to_string(t).unwrap_or_default())},
            })
        })
        .collect()
}

fn policy_controller_image_policy(
    config: &TrustConfig,
    mut authority: Value,
    header: &str,
) -> Result<GeneratedFile, Error> {
    let attestations = policy_controller_attestations(config);
    if !attestations.is_empty() {
        authority["attestations"] = json!(attestations);
    }
    let policy = json!({
        "apiVersion": "policy.sigstore.dev/v1beta1",
        "kind": "ClusterImagePolicy",
        "metadata": {"name": config.name()},
        "spec": {"images": policy_controller_globs(config).into_iter().map(|g| json!({"glob": g})).collect::<Vec<_>>(),
                 "authorities": [authority]},
    });
    Ok(GeneratedFile {
        path: "policy-controller-clusterimagepolicy.yaml".into(),
        media_type: YAML,
        content: format!("{header}{}", to_yaml(&policy, "policy-controller")?),
    })
}

fn policy_controller(config: &TrustConfig, why: Option<&str>) -> Result<Vec<GeneratedFile>, Error> {
    if let [key] = config.keys() {
        // A key authority needs no TrustRoot; an RFC 3161 requirement would need one holding
        // only timestamp authorities, which is not generated (refused rather than dropped).
        if config.tsa_chain().is_some() {
            return Err(InputError::InvalidArgument {
                name: "tsa".into(),
                reason: "policy-controller: a key authority with a required RFC 3161 timestamp is not generated; remove tsa or verify by chain".into(),
            }
            .into());
        }
        let authority = json!({
            "name": config.name(),
            // No ctlog block: policy-controller then checks no transparency log entry.
            "key": {"data": key.to_pem(), "hashAlgorithm": "sha256"},
        });
        let header = format!(
            "# Generated by ironsign. Signatures are verified by the signing public key. Why by key:\n{}",
            comment_lines(why.unwrap_or(KEY_ANCHOR_REASON))
        );
        return Ok(vec![policy_controller_image_policy(config, authority, &header)?]);
    }
    let b64 = |s: String| base64::engine::general_purpose::STANDARD.encode(s);
    let roots = all_certificates(config.roots());
    // Intermediates first, roots last; policy-controller tells them apart by self-signature.
    let mut chain = all_certificates(config.intermediates());
    chain.extend(roots.iter().copied());
    let uri =
        config.roots().iter().find_map(|e| e.url.clone()).unwrap_or_else(|| format!("urn:ironsign:{}", config.name()));
    let mut keys = json!({
        "certificateAuthorities": [{"subject": subject_of(roots[0]), "uri": uri, "certChain": b64(pem_bundle(chain))}],
    });
    if let Some(tsa) = config.tsa_chain() {
        let first = &tsa.certificates[0];
        keys["timestampAuthorities"] = json!([{
            "subject": subject_of(first),
            "uri": tsa.url.clone().unwrap_or_else(|| format!("urn:ironsign:{}:tsa", config.name())),
            "certChain": b64(pem_bundle(&tsa.certificates)),
        }]);
    }
    let trust_root = json!({
        "apiVersion": "policy.sigstore.dev/v1alpha1",
        "kind": "TrustRoot",
        "metadata": {"name": config.name()},
        "spec": {"sigstoreKeys": keys},
    });
    let identity = match cert_identity(config)? {
        SignerIdentity::San(s) => json!({"issuerRegExp": ".*", "subject": s}),
        SignerIdentity::SanRegex(r) => json!({"issuerRegExp": ".*", "subjectRegExp": r}),
    };
    let mut authority = json!({
        "name": config.name(),
        "keyless": {
            // Required; with trustRootRef the webhook never contacts it.
            "url": FULCIO_URL_PLACEHOLDER,
            "trustRootRef": config.name(),
            "insecureIgnoreSCT": true,
            "identities": [identity],
        },
    });
    if config.tsa_chain().is_some() {
        authority["rfc3161timestamp"] = json!({"trustRootRef": config.name()});
    }
    Ok(vec![
        policy_controller_image_policy(config, authority, "")?,
        GeneratedFile {
            path: "policy-controller-trustroot.yaml".into(),
            media_type: YAML,
            content: to_yaml(&trust_root, "policy-controller")?,
        },
    ])
}

// ---------------------------------------------------------------------------------------------
// podman (containers/image)

/// containers/image scopes: a registry or repository prefix (the most specific one wins).
fn podman_scopes(config: &TrustConfig) -> Vec<String> {
    let mut scopes: Vec<String> = config.images().iter().map(|p| p.literal_prefix().to_owned()).collect();
    scopes.sort();
    scopes.dedup();
    scopes
}

fn podman(config: &TrustConfig, options: &InstructionsOptions) -> Result<Vec<GeneratedFile>, Error> {
    let dir = options.podman_certificate_dir.as_deref().unwrap_or(DEFAULT_PODMAN_CERTIFICATE_DIR).trim_end_matches('/');
    let policy_for = |requirement: Value| {
        let mut docker = serde_json::Map::new();
        for scope in podman_scopes(config) {
            let mut r = requirement.clone();
            // cosign signatures name the repository only, so only matchRepository fits.
            r["signedIdentity"] = json!({"type": "matchRepository"});
            docker.insert(scope, json!([r]));
        }
        let policy = json!({"default": [{"type": "reject"}], "transports": {"docker": docker}});
        serde_json::to_string_pretty(&policy).map(|s| s + "\n").unwrap_or_default()
    };
    let mut registries = String::from(
        "# containers/image reads cosign signatures from the sha256-<digest>.sig tag only with this.\ndocker:\n",
    );
    for scope in podman_scopes(config) {
        registries.push_str(&format!("  {scope}:\n    use-sigstore-attachments: true\n"));
    }
    let registries =
        GeneratedFile { path: format!("registries.d/{}.yaml", config.name()), media_type: YAML, content: registries };
    if let [key] = config.keys() {
        // keyPath: every containers/image release with sigstoreSigned reads it.
        let key_file = key_file_name(config);
        return Ok(vec![
            GeneratedFile {
                path: "policy.json".into(),
                media_type: JSON,
                content: policy_for(json!({"type": "sigstoreSigned", "keyPath": format!("{dir}/{key_file}")})),
            },
            registries,
            GeneratedFile { path: key_file, media_type: PEM, content: key.to_pem() },
        ]);
    }
    let (roots, intermediates, _) = file_names(config);
    let mut pki = json!({"caRootsPath": format!("{dir}/{roots}")});
    if !config.intermediates().is_empty() {
        pki["caIntermediatesPath"] = json!(format!("{dir}/{intermediates}"));
    }
    match cert_identity(config)? {
        SignerIdentity::San(s) if s.contains('@') && !s.contains(':') => pki["subjectEmail"] = json!(s),
        SignerIdentity::San(s) if !s.contains(':') && !s.contains('/') => pki["subjectHostname"] = json!(s),
        other => {
            return Err(InputError::InvalidArgument {
                name: "identity".into(),
                reason: format!(
                    "containers/image matches only an exact email (subjectEmail) or DNS name (subjectHostname), not {}",
                    identity_text(other)
                ),
            }
            .into());
        }
    }
    let mut files = vec![GeneratedFile {
        path: "policy.json".into(),
        media_type: JSON,
        content: policy_for(json!({"type": "sigstoreSigned", "pki": pki})),
    }];
    let public_key = format!("{}-signer.pub", config.name());
    if !config.signing_keys().is_empty() {
        files.push(GeneratedFile {
            path: "policy-keypath.json".into(),
            media_type: JSON,
            content: policy_for(json!({"type": "sigstoreSigned", "keyPath": format!("{dir}/{public_key}")})),
        });
    }
    files.push(registries);
    files.push(GeneratedFile { path: roots, media_type: PEM, content: pem_bundle(all_certificates(config.roots())) });
    if !config.intermediates().is_empty() {
        files.push(GeneratedFile {
            path: intermediates,
            media_type: PEM,
            content: pem_bundle(all_certificates(config.intermediates())),
        });
    }
    if !config.signing_keys().is_empty() {
        let pems: String = config.signing_keys().iter().map(|k| k.to_pem()).collect();
        files.push(GeneratedFile { path: public_key, media_type: PEM, content: pems });
    }
    Ok(files)
}

// ---------------------------------------------------------------------------------------------
// Pages

#[derive(Clone, Copy, PartialEq, Eq)]
enum PageKind {
    Markdown,
    Html,
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

/// Each root CA: subject, colon fingerprint, end of validity, download URL.
fn root_rows(config: &TrustConfig) -> Vec<(String, String, String, Option<String>)> {
    let mut rows = Vec::new();
    for e in config.roots() {
        for c in &e.certificates {
            rows.push((
                c.subject().to_owned(),
                colon_fingerprint(&c.summary().sha256_fingerprint),
                c.summary().not_after.clone(),
                e.url.clone(),
            ));
        }
    }
    rows
}

fn page(
    config: &TrustConfig,
    image: Option<&ImageReference>,
    kind: PageKind,
    why: Option<&str>,
    chain: Option<&SignerChain<'_>>,
) -> GeneratedFile {
    let image_text = image.map(|i| i.to_string());
    let subject =
        image_text.clone().unwrap_or_else(|| config.images().iter().map(|p| p.as_str()).collect::<Vec<_>>().join(", "));
    let target = image_text.clone().unwrap_or_else(|| "IMAGE@sha256:DIGEST".into());
    let (roots_file, _, _) = file_names(config);
    let root_rows = root_rows(config);
    let download = |e: &CertificateEntry| e.url.clone();
    let v2 = cosign_commands(config, false);
    let v3 = cosign_commands(config, true);
    let render =
        |cmds: &[CosignCommand]| cmds.iter().map(|c| c.render(&sh_quote(&target))).collect::<Vec<_>>().join("\n\n");
    let fetch = match config.roots().iter().find_map(download) {
        Some(url) => format!(
            "curl -fsSL -o {} {}\nopenssl x509 -in {} -noout -fingerprint -sha256",
            sh_quote(&roots_file),
            sh_quote(&url),
            sh_quote(&roots_file)
        ),
        None => format!(
            "# Save the root CA certificate below as {roots_file}, then check its fingerprint:\nopenssl x509 -in {} -noout -fingerprint -sha256",
            sh_quote(&roots_file)
        ),
    };
    let attestations = config.required_predicate_types();
    let signer = signer_text(config);
    let roots_pem = pem_bundle(all_certificates(config.roots()));
    if let Some(why) = why {
        return key_page(config, kind, &subject, &render(&v2), &render(&v3), why, chain);
    }
    match kind {
        PageKind::Markdown => {
            let mut s = format!("# Verifying {subject}\n\n");
            s.push_str(&format!("Signed by **{signer}** with a certificate issued under this root CA:\n\n"));
            s.push_str("| root CA | SHA-256 fingerprint | valid until |\n|---|---|---|\n");
            for (subj, fp, until, url) in &root_rows {
                let name = match url {
                    Some(u) => format!("[{subj}]({u})"),
                    None => subj.clone(),
                };
                s.push_str(&format!("| {name} | `{fp}` | {until} |\n"));
            }
            if !attestations.is_empty() {
                s.push_str(&format!(
                    "\nEvery image also carries signed attestations of type {}.\n",
                    attestations.iter().map(|t| format!("`{t}`")).collect::<Vec<_>>().join(", ")
                ));
            }
            s.push_str(&format!(
                "\n## 1. Get the root CA\n\n```sh\n{fetch}\n```\n\nThe fingerprint must read as above.\n"
            ));
            if config.roots().iter().all(|e| e.url.is_none()) {
                s.push_str(&format!("\n```\n{roots_pem}```\n"));
            }
            if !config.intermediates().is_empty() {
                s.push_str("\nThe intermediate CAs and the full scripts: `ironsign instructions cosign`.\n");
            }
            s.push_str(&format!("\n## 2. Verify with cosign v2\n\n```sh\n{}\n```\n", render(&v2)));
            s.push_str(&format!("\n## 3. Verify with cosign v3\n\n```sh\n{}\n```\n", render(&v3)));
            s.push_str("\nAdmission policies for Kyverno, Sigstore policy-controller and podman: `ironsign instructions kyverno|policy-controller|podman`.\n");
            s.push_str(KYVERNO_PAGE_NOTE);
            GeneratedFile { path: "verify.md".into(), media_type: "text/markdown", content: s }
        }
        PageKind::Html => {
            let e = html_escape;
            let mut s = String::from("<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
            s.push_str(&format!("<title>Verifying {}</title>\n", e(&subject)));
            s.push_str("<style>body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;line-height:1.5}pre{background:#f4f4f4;padding:1rem;overflow-x:auto}code{font-size:.9em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3rem .6rem;text-align:left}</style>\n</head>\n<body>\n");
            s.push_str(&format!("<h1>Verifying <code>{}</code></h1>\n", e(&subject)));
            s.push_str(&format!(
                "<p>Signed by <strong>{}</strong> with a certificate issued under this root CA:</p>\n",
                e(&signer)
            ));
            s.push_str("<table>\n<tr><th>root CA</th><th>SHA-256 fingerprint</th><th>valid until</th></tr>\n");
            for (subj, fp, until, url) in &root_rows {
                let name = match url {
                    Some(u) => format!("<a href=\"{}\">{}</a>", e(u), e(subj)),
                    None => e(subj),
                };
                s.push_str(&format!("<tr><td>{name}</td><td><code>{}</code></td><td>{}</td></tr>\n", e(fp), e(until)));
            }
            s.push_str("</table>\n");
            if !attestations.is_empty() {
                s.push_str(&format!(
                    "<p>Every image also carries signed attestations of type {}.</p>\n",
                    attestations.iter().map(|t| format!("<code>{}</code>", e(t))).collect::<Vec<_>>().join(", ")
                ));
            }
            s.push_str(&format!(
                "<h2>1. Get the root CA</h2>\n<pre><code>{}</code></pre>\n<p>The fingerprint must read as above.</p>\n",
                e(&fetch)
            ));
            if config.roots().iter().all(|r| r.url.is_none()) {
                s.push_str(&format!("<pre><code>{}</code></pre>\n", e(&roots_pem)));
            }
            s.push_str(&format!("<h2>2. Verify with cosign v2</h2>\n<pre><code>{}</code></pre>\n", e(&render(&v2))));
            s.push_str(&format!("<h2>3. Verify with cosign v3</h2>\n<pre><code>{}</code></pre>\n", e(&render(&v3))));
            s.push_str("<p>Admission policies for Kyverno, Sigstore policy-controller and podman: <code>ironsign instructions kyverno|policy-controller|podman</code>.</p>\n</body>\n</html>\n");
            GeneratedFile { path: "verify.html".into(), media_type: "text/html", content: s }
        }
    }
}

/// Where the admission policies of a key-based page come from.
const POLICIES_BY_KEY: &str = "Admission policies verifying by the same key, for Kyverno, Sigstore policy-controller and podman: ironsign instructions kyverno|policy-controller|podman, with the same trust configuration (and signing certificate).";

/// The page of a configuration anchored on keys: why verification is by key, the key and its
/// fingerprint, the cosign commands.
fn key_page(
    config: &TrustConfig,
    kind: PageKind,
    subject: &str,
    v2: &str,
    v3: &str,
    why: &str,
    chain: Option<&SignerChain<'_>>,
) -> GeneratedFile {
    let key_file = key_file_name(config);
    let pems: String = config.keys().iter().map(|k| k.to_pem()).collect();
    let fingerprints: Vec<String> = config.keys().iter().map(|k| k.fingerprint()).collect();
    let check = format!(
        "# Save the public key below as {key_file}, then check its fingerprint:\nopenssl pkey -pubin -in {} -outform DER | sha256sum",
        sh_quote(&key_file)
    );
    let attestations = config.required_predicate_types();
    let types = |quote: &dyn Fn(&str) -> String| attestations.iter().map(|t| quote(t)).collect::<Vec<_>>().join(", ");
    match kind {
        PageKind::Markdown => {
            let mut s = format!("# Verifying {subject}\n\n");
            s.push_str(&format!(
                "Signed with the key whose SHA-256 (of its SubjectPublicKeyInfo) is `{}`.\n\n",
                fingerprints.join("`, `")
            ));
            s.push_str(&format!("**Why by key:** {why}\n"));
            if let Some(chain) = chain {
                s.push_str(&format!(
                    "\nThe signer, for people: the certificate `{}` names {} and is issued under this root CA:\n\n| root CA | SHA-256 fingerprint | valid until |\n|---|---|---|\n",
                    chain.certificate.subject(),
                    chain.config.identity().map(identity_text).unwrap_or_default()
                ));
                for (subj, fp, until, _) in root_rows(chain.config) {
                    s.push_str(&format!("| {subj} | `{fp}` | {until} |\n"));
                }
                s.push_str(&format!("\n```\n{}```\n", chain.certificate.to_pem()));
            }
            if !attestations.is_empty() {
                s.push_str(&format!(
                    "\nEvery image also carries signed attestations of type {}.\n",
                    types(&|t| format!("`{t}`"))
                ));
            }
            s.push_str(&format!("\n## 1. Get the public key\n\n```sh\n{check}\n```\n\nThe fingerprint must read as above.\n\n```\n{pems}```\n"));
            s.push_str(&format!("\n## 2. Verify with cosign v2\n\n```sh\n{v2}\n```\n"));
            s.push_str(&format!("\n## 3. Verify with cosign v3\n\n```sh\n{v3}\n```\n"));
            s.push_str(&format!("\n{POLICIES_BY_KEY}\n"));
            GeneratedFile { path: "verify.md".into(), media_type: "text/markdown", content: s }
        }
        PageKind::Html => {
            let e = html_escape;
            let mut s = String::from("<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
            s.push_str(&format!("<title>Verifying {}</title>\n</head>\n<body>\n", e(subject)));
            s.push_str(&format!("<h1>Verifying <code>{}</code></h1>\n", e(subject)));
            s.push_str(&format!(
                "<p>Signed with the key whose SHA-256 (of its SubjectPublicKeyInfo) is <code>{}</code>.</p>\n",
                e(&fingerprints.join(", "))
            ));
            s.push_str(&format!("<p><strong>Why by key:</strong> {}</p>\n", e(why)));
            if let Some(chain) = chain {
                s.push_str(&format!(
                    "<p>The signer, for people: the certificate <code>{}</code> names {} and is issued under this root CA:</p>\n<table>\n<tr><th>root CA</th><th>SHA-256 fingerprint</th><th>valid until</th></tr>\n",
                    e(chain.certificate.subject()),
                    e(&chain.config.identity().map(identity_text).unwrap_or_default())
                ));
                for (subj, fp, until, _) in root_rows(chain.config) {
                    s.push_str(&format!(
                        "<tr><td>{}</td><td><code>{}</code></td><td>{}</td></tr>\n",
                        e(&subj),
                        e(&fp),
                        e(&until)
                    ));
                }
                s.push_str(&format!("</table>\n<pre><code>{}</code></pre>\n", e(&chain.certificate.to_pem())));
            }
            if !attestations.is_empty() {
                s.push_str(&format!(
                    "<p>Every image also carries signed attestations of type {}.</p>\n",
                    types(&|t| format!("<code>{}</code>", e(t)))
                ));
            }
            s.push_str(&format!(
                "<h2>1. Get the public key</h2>\n<pre><code>{}</code></pre>\n<p>The fingerprint must read as above.</p>\n<pre><code>{}</code></pre>\n",
                e(&check),
                e(&pems)
            ));
            s.push_str(&format!("<h2>2. Verify with cosign v2</h2>\n<pre><code>{}</code></pre>\n", e(v2)));
            s.push_str(&format!(
                "<h2>3. Verify with cosign v3</h2>\n<pre><code>{}</code></pre>\n<p>{}</p>\n</body>\n</html>\n",
                e(v3),
                e(POLICIES_BY_KEY)
            ));
            GeneratedFile { path: "verify.html".into(), media_type: "text/html", content: s }
        }
    }
}
