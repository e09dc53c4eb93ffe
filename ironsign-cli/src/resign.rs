//! `ironsign resign`: sign again the images whose newest valid signature comes from an expiring
//! (or a given) certificate. A dry run (the plan) unless `--apply`.

use crate::args::{self, PolicyArgs, RegistryArgs, SigningArgs};
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
    signing: SigningArgs,
    /// Root CAs a valid signature chains to (PEM bundle; several files allowed).
    #[arg(long = "ca-roots", value_name = "FILE", required = true)]
    ca_roots: Vec<PathBuf>,
    /// Intermediate CAs for path building.
    #[arg(long = "ca-intermediates", value_name = "FILE")]
    ca_intermediates: Vec<PathBuf>,
    /// Timestamp authority certificates, as for verify.
    #[arg(long = "timestamp-certificate-chain", value_name = "FILE")]
    timestamp_certificate_chain: Vec<PathBuf>,
    /// The identity a valid signature carries, as for verify.
    #[command(flatten)]
    policy: PolicyArgs,
    /// Most tags read per repository.
    #[arg(long = "max-tags", default_value_t = 100_000)]
    max_tags: usize,
    /// Most repositories read from the catalog.
    #[arg(long = "max-repositories", default_value_t = 10_000)]
    max_repositories: usize,
    #[command(flatten)]
    registry: RegistryArgs,
    #[arg(long, short = 'o', value_enum, default_value_t)]
    pub output: Output,
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
    let read_all = |paths: &[PathBuf]| -> Result<Vec<ironsign::Certificate>, Error> {
        let mut out = Vec::new();
        for p in paths {
            let data = std::fs::read(p)
                .map_err(|e| ironsign::InputError::Io { path: p.display().to_string(), reason: e.to_string() })?;
            out.extend(ironsign::Certificate::from_pem_many(&data, &p.display().to_string(), 100)?);
        }
        Ok(out)
    };
    let mut trust = ironsign::TrustRoot::from_certificates(read_all(&c.ca_roots)?, read_all(&c.ca_intermediates)?)?;
    if !c.timestamp_certificate_chain.is_empty() {
        trust = trust.with_timestamp_authorities(ironsign::TimestampAuthorities::from_certificates(read_all(
            &c.timestamp_certificate_chain,
        )?)?);
    }
    let policy = c.policy.policy(&trust, &Default::default())?;
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
        let material = c.signing.material()?;
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
