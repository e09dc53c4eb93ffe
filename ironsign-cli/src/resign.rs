//! `ironsign resign`: sign again the images whose newest valid signature comes from an expiring
//! (or a given) certificate. A dry run (the plan) unless `--apply`.

use crate::args::{self, PolicyArgs, RegistryArgs, TrustArgs};
use crate::{Output, parse_ref};
use ironsign::rotation::{self, ResignOptions, RotationCriterion};
use ironsign::{Error, ImageReference, SignOptions, Verifier};
use std::io::IsTerminal as _;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct ResignCmd {
    /// Repositories to scan: REGISTRY/REPO or oci:DIR.
    repositories: Vec<String>,
    /// Scan every repository of this registry's catalog.
    #[arg(long = "all-repositories", value_name = "REGISTRY")]
    all_repositories: Option<String>,
    /// Candidates: the newest valid signature's certificate expires within this many days.
    #[arg(long = "expires-within-days", value_name = "DAYS", conflicts_with = "signed_by")]
    expires_within_days: Option<u64>,
    /// Candidates: the newest valid signature was made with this certificate.
    #[arg(long = "signed-by-certificate", value_name = "FILE")]
    signed_by: Option<PathBuf>,
    /// Sign the candidates (without it, only the plan is printed).
    #[arg(long)]
    apply: bool,
    /// The new key and certificate.
    #[command(flatten)]
    signing: NewSigningArgs,
    /// What a valid signature chains to: the trust flags of verify, with the same meaning.
    #[command(flatten)]
    trust: TrustArgs,
    /// The identity a valid signature carries, as for verify.
    #[command(flatten)]
    policy: PolicyArgs,
    /// key=value a valid signature's payload holds in "optional", as for verify; the new
    /// signatures carry them too.
    #[arg(short = 'a', long = "annotations")]
    annotations: Vec<String>,
    /// Most tags read per repository.
    #[arg(long = "max-tags", default_value_t = 100_000)]
    max_tags: usize,
    /// Most repositories read from the catalog.
    #[arg(long = "max-repositories", default_value_t = 10_000)]
    max_repositories: usize,
    /// Scan only this shard of the repositories: INDEX/COUNT (1 ≤ INDEX ≤ COUNT), by a stable
    /// hash of the repository name, so COUNT jobs together scan each repository exactly once.
    #[arg(long = "shard", value_name = "INDEX/COUNT")]
    shard: Option<String>,
    #[command(flatten)]
    registry: RegistryArgs,
    #[arg(long, short = 'o', value_enum, default_value_t)]
    pub output: Output,
}

/// The material the candidates are signed with. Named apart from verify's `--key` and
/// `--certificate-chain`, which resign takes with verify's meaning (the trust the old signatures
/// are checked against).
#[derive(clap::Args)]
struct NewSigningArgs {
    /// The new private key: a file (as for sign --key), a pkcs11: URI or a KMS URI (awskms://…,
    /// hashivault://…).
    #[arg(long = "new-key", value_name = "FILE")]
    new_key: PathBuf,
    /// The new signing certificate (PEM or DER) for that key.
    #[arg(long = "new-certificate", value_name = "FILE")]
    new_certificate: Option<PathBuf>,
    /// Its issuing chain: intermediates, then the root last.
    #[arg(long = "new-certificate-chain", value_name = "FILE")]
    new_certificate_chain: Option<PathBuf>,
    /// RFC 3161 timestamp authority URL for the new signatures.
    #[arg(long = "timestamp-server-url", value_name = "URL")]
    timestamp_server_url: Option<String>,
    /// Refuse a new certificate whose extended key usage lacks codeSigning (as sign --strict-eku).
    #[arg(long = "strict-eku")]
    strict_eku: bool,
}

pub async fn resign(c: ResignCmd) -> anyhow::Result<()> {
    let mut locations =
        c.repositories.iter().map(|r| crate::lifecycle::repository_location(r)).collect::<Result<Vec<_>, _>>()?;
    anyhow::ensure!(
        !locations.is_empty() || c.all_repositories.is_some(),
        "give repositories (REGISTRY/REPO) or --all-repositories REGISTRY"
    );
    let criterion = match (&c.expires_within_days, &c.signed_by) {
        (Some(days), None) => RotationCriterion::ExpiresWithin(std::time::Duration::from_secs(days * 86_400)),
        (None, Some(cert)) => RotationCriterion::SignedBy(Box::new(args::read_certificate(cert)?)),
        _ => anyhow::bail!("give --expires-within-days DAYS or --signed-by-certificate FILE"),
    };
    // The same trust and policy as verify, built by the same code: what verify refuses never
    // makes an image due.
    let shard = crate::lifecycle::parse_shard(c.shard.as_deref())?;
    let trust = c.trust.trust_root()?;
    let policy = c.policy.policy(&trust, &args::parse_annotations(&c.annotations)?)?;
    let refs: Vec<ImageReference> = c
        .all_repositories
        .iter()
        .map(|r| parse_ref(&format!("{r}/catalog")))
        .chain(locations.iter().map(|l| Ok(ImageReference { location: l.clone(), tag: None, digest: None })))
        .collect::<Result<_, Error>>()?;
    let client = c.registry.client(&refs.iter().collect::<Vec<_>>())?;
    if let Some(registry) = &c.all_repositories {
        for repo in client.list_repositories(registry, c.max_repositories).await? {
            locations.push(crate::lifecycle::repository_location(&format!("{registry}/{repo}"))?);
        }
    }
    let locations = shard.select(locations);
    let terminal = std::io::stderr().is_terminal();
    let progress = move |label: &'static str| {
        move |n: usize| {
            if terminal {
                eprint!("\r{label} {n} images");
            }
        }
    };
    let options = ResignOptions { criterion, max_tags: c.max_tags, now: std::time::SystemTime::now() };
    let verifier = Verifier::new(trust);
    let plan = rotation::plan(&client, &locations, &verifier, &policy, &options, &progress("examined")).await;
    if terminal {
        eprintln!();
    }
    let report = if c.apply && !plan.candidates.is_empty() {
        let s = &c.signing;
        let material = args::signing_material(
            &s.new_key,
            s.new_certificate.as_deref(),
            s.new_certificate_chain.as_deref(),
            s.timestamp_server_url.as_deref(),
            args::eku_check(s.strict_eku),
            ["--new-certificate", "--new-certificate-chain"],
        )?;
        let report = rotation::apply(&client, &plan, &material, &SignOptions::default(), &progress("signed")).await;
        if terminal {
            eprintln!();
        }
        Some(report)
    } else {
        None
    };
    match c.output {
        Output::Json => outln!("{}", serde_json::json!({"plan": plan, "report": report})),
        Output::Text => {
            for cand in &plan.candidates {
                outln!(
                    "{} {} ({}; signed by {:?}, expires {} in {} days)",
                    if report.is_some() { "resign" } else { "would resign" },
                    cand.image,
                    cand.tags.join(", "),
                    cand.signer.subject,
                    cand.signer.not_after,
                    cand.expires_in_days
                );
            }
            for skipped in plan.skipped.iter().filter(|s| !s.rejections.is_empty()) {
                eprintln!(
                    "left alone {}: no signature verifies under the trust given ({})",
                    skipped.image,
                    skipped.rejections.join(", ")
                );
            }
            for (what, e) in &plan.errors {
                eprintln!("Error reading {what}: {e}");
            }
        }
    }
    let failed = report.as_ref().map(|r| r.failed.len()).unwrap_or(0);
    for (image, code, message) in report.iter().flat_map(|r| &r.failed) {
        eprintln!("Error signing {image} [{code}]: {message}");
    }
    eprintln!(
        "Summary: {} images examined, {} to resign, {} left alone, {} signed, {} failed, {} read errors{}",
        plan.candidates.len() + plan.skipped.len(),
        plan.candidates.len(),
        plan.skipped.len(),
        report.as_ref().map(|r| r.signed.len()).unwrap_or(0),
        failed,
        plan.errors.len(),
        if c.apply { "" } else { " (dry run: --apply signs)" }
    );
    anyhow::ensure!(failed == 0 && plan.errors.is_empty(), "resign did not complete");
    Ok(())
}
