//! `tree`, `gc` and `clean`: flags in, library calls, output. Every decision is the library's
//! (`ironsign::list`, `ironsign::gc`).

use crate::args::{self, PolicyArgs, RegistryArgs, TrustArgs};
use crate::{Output, parse_ref};
use anyhow::Context as _;
use ironsign::gc::{self, CleanType, GcOptions, GcPlan, GcReport};
use ironsign::list::{ArtifactTree, AttachmentGroup, EntryStatus, ListOptions, SignerInfo};
use ironsign::{Error, ImageReference, InputError, Location, Verifier};
use std::io::{IsTerminal, Write};
use std::sync::Arc;

#[derive(clap::Args)]
pub struct TreeCmd {
    /// The image: REGISTRY/REPO[:TAG|@DIGEST] or oci:DIR[:TAG|@DIGEST].
    image: String,
    /// Do not list the platform manifests of a multi-platform image.
    #[arg(long = "no-platforms")]
    no_platforms: bool,
    /// Verify each signature and show its status (needs --key, --ca-roots or --certificate-chain).
    #[command(flatten)]
    trust: TrustArgs,
    #[command(flatten)]
    policy: PolicyArgs,
    /// key=value the payload's "optional" object must hold (with trust flags).
    #[arg(short = 'a', long = "annotations")]
    annotations: Vec<String>,
    #[command(flatten)]
    registry: RegistryArgs,
    #[arg(long, short = 'o', value_enum, default_value_t)]
    pub output: Output,
}

#[derive(clap::Args)]
pub struct GcCmd {
    /// Repositories to scan: REGISTRY/REPO or oci:DIR.
    repositories: Vec<String>,
    /// A repository to scan (repeatable; same as a positional argument).
    #[arg(long = "repository", value_name = "REGISTRY/REPO")]
    repository: Vec<String>,
    /// Scan every repository of this registry's catalog (GET /v2/_catalog, paginated).
    #[arg(long = "all-repositories", value_name = "REGISTRY")]
    all_repositories: Option<String>,
    /// Also collect attachments whose image exists but is reachable from no ordinary tag
    /// (directly, through an index, or as an OCI 1.1 referrer of what one reaches): what a moved
    /// mutable tag leaves behind.
    #[arg(long = "include-untagged")]
    include_untagged: bool,
    /// Only collect orphans older than this (30d, 12h, 1d12h). The age comes from the
    /// org.opencontainers.image.created annotation; orphans without one are kept.
    #[arg(long = "older-than", value_name = "DURATION")]
    older_than: Option<String>,
    /// Whose deletion rules apply beside ironsign's: generic, or harbor (a `.sig` Harbor links to
    /// its image is left for Harbor to delete with it; `.att` and `.sbom` are collected).
    #[arg(long = "registry-flavor", value_name = "FLAVOR", default_value = "generic")]
    registry_flavor: String,
    /// Delete the orphans (by digest). Without it, only the plan is printed.
    #[arg(long)]
    delete: bool,
    /// Most registry requests in flight.
    #[arg(long = "max-workers", default_value_t = 8)]
    max_workers: usize,
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

#[derive(Clone, Copy, clap::ValueEnum)]
enum CleanTypeArg {
    Signature,
    Attestation,
    Sbom,
    Referrer,
    All,
}

#[derive(clap::Args)]
pub struct CleanCmd {
    /// The image: REGISTRY/REPO:TAG, or REGISTRY/REPO@DIGEST (also when the image is gone).
    image: String,
    /// What to remove.
    #[arg(long = "type", value_enum, default_value = "all")]
    kind: CleanTypeArg,
    /// Do not ask for confirmation.
    #[arg(long, short = 'f')]
    force: bool,
    #[command(flatten)]
    registry: RegistryArgs,
    #[arg(long, short = 'o', value_enum, default_value_t)]
    pub output: Output,
}

fn trust_given(t: &TrustArgs) -> bool {
    !t.key.is_empty() || t.certificate_chain.is_some() || !t.ca_roots.is_empty() || t.trusted_root.is_some()
}

pub async fn tree(c: TreeCmd) -> anyhow::Result<()> {
    let image = parse_ref(&c.image)?;
    let client = c.registry.client(&[&image])?;
    let verification = if trust_given(&c.trust) {
        let trust = c.trust.trust_root()?;
        let policy = c.policy.policy(&trust, &args::parse_annotations(&c.annotations)?)?;
        Some((Verifier::new(trust), policy))
    } else {
        // Without trust nothing is verified: a verification flag alone would be ignored.
        let mut stray = c.trust.given_flags();
        stray.extend(c.policy.identity_flags_given());
        if c.policy.require_code_signing_eku {
            stray.push("--require-code-signing-eku");
        }
        if !c.annotations.is_empty() {
            stray.push("--annotations");
        }
        if let Some(first) = stray.first() {
            return Err(Error::from(InputError::InvalidArgument {
                name: (*first).into(),
                reason: format!(
                    "{} only apply when verifying: give --key, --ca-roots or --certificate-chain too",
                    stray.join(", ")
                ),
            })
            .into());
        }
        None
    };
    let options = ListOptions {
        verification: verification.as_ref().map(|(v, p)| (v, p)),
        platforms: !c.no_platforms,
        ..Default::default()
    };
    let tree = ironsign::list_artifacts(&client, &image, &options).await?;
    match c.output {
        Output::Json => outln!("{}", serde_json::to_string_pretty(&tree)?),
        Output::Text => {
            let mut out = String::new();
            render_tree(&mut out, &tree, "");
            out!("{out}");
        }
    }
    Ok(())
}

fn render_signer(out: &mut String, pad: &str, signer: &Option<SignerInfo>, error: &Option<String>, key_only: bool) {
    if let Some(s) = signer {
        out.push_str(&format!("{pad}signer: {}\n", s.subject));
        if !s.sans.is_empty() {
            out.push_str(&format!("{pad}SANs: {}\n", s.sans.join(", ")));
        }
        out.push_str(&format!("{pad}issuer: {}\n{pad}expires: {}\n", s.issuer, s.not_after));
    } else if let Some(e) = error {
        out.push_str(&format!("{pad}certificate unreadable: {e}\n"));
    } else if key_only {
        out.push_str(&format!("{pad}signer: key only (no certificate)\n"));
    }
}

fn group_header<T>(out: &mut String, indent: &str, icon: &str, what: &str, g: &AttachmentGroup<T>) {
    out.push_str(&format!("{indent}└── {icon} {what} for an image tag: {}\n", g.tag));
}

/// Text like `cosign tree`, with per-entry signer, predicate and status lines.
fn render_tree(out: &mut String, t: &ArtifactTree, indent: &str) {
    if indent.is_empty() {
        out.push_str(&format!("📦 Supply Chain Security Related artifacts for an image: {}\n", t.reference));
        if t.is_empty() {
            out.push_str(&format!("No Supply Chain Security Related Artifacts found for image {}\n", t.reference));
            return;
        }
    }
    let item = format!("{indent}   └── ");
    let pad = format!("{indent}         ");
    if let Some(g) = &t.signatures {
        group_header(out, indent, "🔐", "Signatures", g);
        for e in &g.entries {
            out.push_str(&format!("{item}🍒 {}\n", e.digest));
            render_signer(out, &pad, &e.signer, &e.certificate_error, e.key_only);
            match &e.status {
                EntryStatus::NotChecked => {}
                EntryStatus::Verified { matched_identity } => out.push_str(&format!(
                    "{pad}status: ✅ verified{}\n",
                    matched_identity.as_deref().map(|i| format!(" ({i})")).unwrap_or_default()
                )),
                EntryStatus::Rejected { code, message } => {
                    out.push_str(&format!("{pad}status: ❌ rejected [{code}]: {message}\n"))
                }
            }
        }
    }
    if let Some(g) = &t.sboms {
        group_header(out, indent, "📦", "SBOMs", g);
        for e in &g.entries {
            out.push_str(&format!("{item}🍒 {}\n{pad}media type: {}, {} bytes\n", e.digest, e.media_type, e.size));
        }
    }
    if let Some(g) = &t.attestations {
        group_header(out, indent, "💾", "Attestations", g);
        for e in &g.entries {
            out.push_str(&format!("{item}🍒 {}\n", e.digest));
            if let Some(p) = &e.predicate_type {
                out.push_str(&format!("{pad}predicate: {p}\n"));
            }
            if let Some(err) = &e.decode_error {
                out.push_str(&format!("{pad}undecodable: {err}\n"));
            }
            render_signer(out, &pad, &e.signer, &e.certificate_error, e.key_only);
        }
    }
    for r in &t.referrers.entries {
        let what = r.predicate_type.as_deref().or(r.artifact_type.as_deref()).unwrap_or("unknown");
        out.push_str(&format!("{indent}└── 🔗 {what} artifacts via OCI referrer: {}\n", r.digest));
        if let Some(b) = &r.bundle {
            out.push_str(&format!("{pad}format: Sigstore bundle ({})\n", b.content.replace('_', " ")));
            render_signer(out, &pad, &b.signer, &b.certificate_error, b.public_key_hint.is_some());
        }
        match &r.status {
            None | Some(EntryStatus::NotChecked) => {}
            Some(EntryStatus::Verified { matched_identity }) => out.push_str(&format!(
                "{pad}status: ✅ verified{}\n",
                matched_identity.as_deref().map(|i| format!(" ({i})")).unwrap_or_default()
            )),
            Some(EntryStatus::Rejected { code, message }) => {
                out.push_str(&format!("{pad}status: ❌ rejected [{code}]: {message}\n"))
            }
        }
        if let Some(e) = &r.error {
            out.push_str(&format!("{pad}unreadable: {e}\n"));
        }
    }
    for p in &t.platforms {
        let platform = p.platform.as_ref().map(ToString::to_string).unwrap_or_else(|| "unknown platform".into());
        out.push_str(&format!("{indent}└── 🖥  {platform}: {}\n", p.reference));
        if p.is_empty() {
            out.push_str(&format!("{indent}   └── (nothing attached)\n"));
        }
        render_tree(out, p, &format!("{indent}   "));
    }
}

/// A progress line on stderr, only on a terminal.
fn progress() -> Option<gc::ProgressFn> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    Some(Arc::new(|p: &gc::GcProgress<'_>| {
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[2K{}: {} {}/{}", p.repository, p.phase, p.done, p.total);
        if p.done == p.total {
            let _ = writeln!(err);
        }
        let _ = err.flush();
    }))
}

pub(crate) fn repository_location(s: &str) -> Result<Location, Error> {
    let r = ImageReference::parse(s)?;
    if r.tag.is_some() || r.digest.is_some() {
        return Err(InputError::InvalidArgument {
            name: "repository".into(),
            reason: format!("{s:?}: give a repository without a tag or digest"),
        }
        .into());
    }
    Ok(r.location)
}

pub async fn gc(c: GcCmd) -> anyhow::Result<()> {
    let mut locations =
        c.repositories.iter().chain(&c.repository).map(|r| repository_location(r)).collect::<Result<Vec<_>, _>>()?;
    anyhow::ensure!(
        !locations.is_empty() || c.all_repositories.is_some(),
        Error::from(InputError::InvalidArgument {
            name: "repositories".into(),
            reason: "give repositories (REGISTRY/REPO, --repository) or --all-repositories REGISTRY".into(),
        })
    );
    let older_than = c.older_than.as_deref().map(gc::parse_duration).transpose().map_err(Error::from)?;
    let shard = parse_shard(c.shard.as_deref())?;
    let registry_flavor = gc::RegistryFlavor::parse(&c.registry_flavor).map_err(Error::from)?;
    let options = GcOptions {
        include_untagged: c.include_untagged,
        older_than,
        registry_flavor,
        max_workers: c.max_workers,
        max_tags: c.max_tags,
        max_repositories: c.max_repositories,
        progress: progress(),
        ..Default::default()
    };
    let refs: Vec<ImageReference> = c
        .all_repositories
        .iter()
        .map(|r| parse_ref(&format!("{r}/catalog")))
        .chain(locations.iter().map(|l| Ok(ImageReference { location: l.clone(), tag: None, digest: None })))
        .collect::<Result<_, _>>()?;
    let client = c.registry.client(&refs.iter().collect::<Vec<_>>())?;
    if let Some(registry) = &c.all_repositories {
        locations.extend(gc::catalog(&client, registry, &options).await?);
    }
    let mut seen = std::collections::HashSet::new();
    locations.retain(|l| seen.insert(l.clone()));
    let locations = shard.select(locations);
    let plan = gc::scan(&client, &locations, &options).await;
    let failed = if c.delete {
        let report = gc::execute(&client, &plan, &options).await;
        match c.output {
            Output::Json => outln!("{}", serde_json::json!({"plan": plan, "report": report})),
            Output::Text => print_report(&plan, &report)?,
        }
        report.summary.failed
    } else {
        match c.output {
            Output::Json => outln!("{}", serde_json::to_string_pretty(&plan)?),
            Output::Text => print_plan(&plan)?,
        }
        plan.errors.len()
    };
    anyhow::ensure!(failed == 0, "{failed} repositories or deletions failed (see above)");
    Ok(())
}

/// `--shard INDEX/COUNT`, or the whole catalog.
pub(crate) fn parse_shard(value: Option<&str>) -> Result<ironsign::shard::Shard, Error> {
    let Some(value) = value else { return Ok(Default::default()) };
    ironsign::shard::Shard::parse(value).map_err(|e| {
        match e {
            // The core names its field; the CLI user typed a flag.
            InputError::InvalidArgument { reason, .. } => {
                InputError::InvalidArgument { name: "--shard".into(), reason }
            }
            other => other,
        }
        .into()
    })
}

fn print_plan(plan: &GcPlan) -> std::io::Result<()> {
    for r in &plan.repositories {
        outln!(
            "{}: {} tags ({} ordinary, {} attachments), {} orphans, {} kept",
            r.repository,
            r.tags,
            r.ordinary_tags,
            r.attachment_tags,
            r.orphans.len(),
            r.kept.len()
        );
        for o in &r.orphans {
            let reason = serde_json::to_value(o.reason).ok().and_then(|v| v.as_str().map(str::to_owned));
            outln!("  orphan {}:{} ({}) {}", r.repository, o.tag, reason.unwrap_or_default(), o.digest);
            for d in &o.referrers {
                outln!("    referrer {d}");
            }
        }
    }
    for e in &plan.errors {
        outln!("{}: failed [{}]: {}", e.repository, e.code, e.message);
    }
    let s = &plan.summary;
    outln!(
        "Scanned {} repositories, {} tags, {} attachments: {} orphans, {} kept (dry run: nothing deleted; use --delete)",
        s.repositories,
        s.tags,
        s.attachments,
        s.orphans,
        s.kept
    );
    Ok(())
}

fn print_report(plan: &GcPlan, report: &GcReport) -> std::io::Result<()> {
    for d in &report.deleted {
        outln!("deleted {}@{} ({})", d.repository, d.digest, d.tag);
    }
    for s in &report.skipped {
        let reason = serde_json::to_value(s.reason).ok().and_then(|v| v.as_str().map(str::to_owned));
        outln!("kept {}:{} ({}: re-checked before deleting)", s.repository, s.tag, reason.unwrap_or_default());
    }
    for f in &report.failed {
        outln!("failed {}:{} [{}]: {}", f.repository, f.tag, f.code, f.message);
    }
    let s = &report.summary;
    outln!(
        "Scanned {} repositories, {} tags: {} deleted, {} kept, {} skipped, {} failed",
        s.repositories,
        plan.summary.tags,
        s.deleted,
        s.kept,
        s.skipped,
        s.failed
    );
    Ok(())
}

pub async fn clean(c: CleanCmd) -> anyhow::Result<()> {
    let image = parse_ref(&c.image)?;
    let client = c.registry.client(&[&image])?;
    let what = match c.kind {
        CleanTypeArg::Signature => CleanType::Signature,
        CleanTypeArg::Attestation => CleanType::Attestation,
        CleanTypeArg::Sbom => CleanType::Sbom,
        CleanTypeArg::Referrer => CleanType::Referrer,
        CleanTypeArg::All => CleanType::All,
    };
    if !c.force {
        anyhow::ensure!(
            std::io::stdin().is_terminal(),
            Error::from(InputError::InvalidArgument {
                name: "--force".into(),
                reason: "not on a terminal: pass --force to remove without confirmation".into(),
            })
        );
        eprint!("This will delete the attachments of {image} from the registry. Are you sure? [y/N] ");
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer).context("reading the answer")?;
        anyhow::ensure!(matches!(answer.trim(), "y" | "Y" | "yes"), "aborted");
    }
    let report = gc::clean(&client, &image, what, &GcOptions::default()).await?;
    match c.output {
        Output::Json => outln!("{}", serde_json::to_string_pretty(&report)?),
        Output::Text => {
            for e in &report.removed {
                match &e.tag {
                    Some(t) => eprintln!("Removed {}:{t} from {image} ({})", report.repository, e.digest),
                    None => eprintln!("Removed referrer {}@{} from {image}", report.repository, e.digest),
                }
            }
            for e in &report.kept_shared {
                eprintln!(
                    "Kept {} ({}): another tag points to the same manifest",
                    e.digest,
                    e.tag.as_deref().unwrap_or("referrer")
                );
            }
            if report.removed.is_empty() {
                eprintln!("Nothing attached to {image} to remove");
            }
        }
    }
    Ok(())
}
