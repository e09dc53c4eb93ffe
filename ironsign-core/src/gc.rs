//! Garbage collection of orphaned attachments, and `clean` of one image's attachments.
//!
//! cosign stores attachments under tags derived from the subject's digest
//! (`sha256-<hex>.sig|att|sbom`, and the OCI referrers fallback index `sha256-<hex>`). When the
//! subject is deleted, or a mutable tag moves away from it, those tags stay behind; cosign has no
//! sweep (cosign.md §10). This module finds them and deletes them **by digest** (Harbor cannot
//! delete tags; distribution deletes every tag on a digest).
//!
//! The work is split so that nothing live is deleted:
//! * [`scan_repository`] / [`scan`] list the tags, resolve every one of them (HEAD), compute what
//!   the ordinary (non-attachment) tags reach (directly, as children of an index they point
//!   to, or as OCI 1.1 referrers of what they reach) and classify each attachment tag. It
//!   deletes nothing; the result is a [`GcPlan`].
//! * [`execute`] scans each repository again and deletes only what both scans call an orphan, and,
//!   right before each deletion, checks again that the tag still points to the planned digest,
//!   that the subject is still missing (or still unreachable), and that no ordinary tag points to
//!   the digest. An image pushed between the scan and the deletion keeps its attachments.
//!
//! The remaining window is the one between the last check and the DELETE request: the
//! distribution API has no conditional delete.
//!
//! ```no_run
//! # async fn demo() -> Result<(), ironsign::Error> {
//! use ironsign::gc::{self, GcOptions};
//! use ironsign::{ImageReference, RegistryClient, RegistryOptions};
//!
//! let client = RegistryClient::new(RegistryOptions::default())?;
//! let repository = ImageReference::parse("registry.example/team/app")?.location;
//! let options = GcOptions { include_untagged: true, ..GcOptions::default() };
//! let plan = gc::scan(&client, &[repository], &options).await; // deletes nothing
//! for orphan in &plan.repositories[0].orphans {
//!     println!("{} ({:?})", orphan.tag, orphan.reason);
//! }
//! let report = gc::execute(&client, &plan, &options).await; // re-checks, then deletes by digest
//! println!("{} deleted, {} kept by the re-checks", report.summary.deleted, report.summary.skipped);
//! # Ok(()) }
//! ```

use crate::cosign::{self, AttachmentKind, Manifest};
use crate::error::{Error, InputError, RegistryError};
use crate::reference::{Digest, ImageReference, Location};
use crate::registry::{ManifestRef, ReferrersSource, RegistryClient};
use futures_util::StreamExt;
use serde::Serialize;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

/// Media type of a serialised [`GcPlan`].
pub const PLAN_MEDIA_TYPE: &str = "application/vnd.ironsign.gc-plan+json;version=0.1";
/// Media type of a serialised [`GcReport`].
pub const REPORT_MEDIA_TYPE: &str = "application/vnd.ironsign.gc-report+json;version=0.1";
/// The annotation holding a manifest's creation time (RFC 3339), written on referrer manifests.
pub const CREATED_ANNOTATION: &str = "org.opencontainers.image.created";

/// How deep nested indexes are followed when computing reachability (deeper is an error).
const MAX_INDEX_DEPTH: usize = 4;
/// How long a chain of referrers (a referrer of a referrer of an image …) is followed; a longer
/// chain is kept.
const MAX_REFERRER_DEPTH: usize = 8;

/// What an attachment tag holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GcKind {
    /// `sha256-<hex>.sig`
    Signature,
    /// `sha256-<hex>.att`
    Attestation,
    /// `sha256-<hex>.sbom`
    Sbom,
    /// `sha256-<hex>`: an OCI referrers fallback index.
    ReferrersIndex,
    /// A referrer manifest (untagged, with a `subject`), listed by a fallback index or the API.
    Referrer,
}

impl GcKind {
    /// The attachment kind of a legacy tag.
    pub fn attachment(self) -> Option<AttachmentKind> {
        match self {
            GcKind::Signature => Some(AttachmentKind::Signature),
            GcKind::Attestation => Some(AttachmentKind::Attestation),
            GcKind::Sbom => Some(AttachmentKind::Sbom),
            GcKind::ReferrersIndex | GcKind::Referrer => None,
        }
    }
}

/// Parses an attachment tag: `^sha256-[0-9a-f]{64}(\.(sig|att|sbom))?$` → (subject, kind).
pub fn parse_attachment_tag(tag: &str) -> Option<(Digest, GcKind)> {
    let rest = tag.strip_prefix("sha256-")?;
    let (hex, kind) = match rest.split_once('.') {
        None => (rest, GcKind::ReferrersIndex),
        Some((hex, "sig")) => (hex, GcKind::Signature),
        Some((hex, "att")) => (hex, GcKind::Attestation),
        Some((hex, "sbom")) => (hex, GcKind::Sbom),
        Some(_) => return None,
    };
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        return None;
    }
    Some((Digest::parse(&format!("sha256:{hex}")).ok()?, kind))
}

/// Progress of a scan, for a progress indicator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GcProgress<'a> {
    /// The repository being scanned.
    pub repository: &'a str,
    /// `tags` (resolving tags), `subjects` (checking subjects) or `delete`.
    pub phase: &'static str,
    /// Done so far in this phase.
    pub done: usize,
    /// Total in this phase.
    pub total: usize,
}

/// A callback receiving [`GcProgress`].
pub type ProgressFn = Arc<dyn Fn(&GcProgress<'_>) + Send + Sync>;
/// A callback called right before the final checks of each deletion (a test and audit seam).
pub type BeforeDeleteFn = Arc<dyn Fn(&Orphan) + Send + Sync>;

/// Whose rules the collection runs beside: which attachments the registry itself deletes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RegistryFlavor {
    /// A registry that deletes nothing by itself: every orphaned attachment is ironsign's.
    #[default]
    Generic,
    /// Harbor ([`crate::harbor`]): a `.sig` that Harbor links to its image as a
    /// `signature.cosign` accessory is deleted by Harbor with the image (a deletion, or Harbor's
    /// GC of untagged artifacts), so while that image exists it is left to Harbor. `.att`,
    /// `.sbom` and fallback indexes are ordinary artifacts to Harbor, never deleted with their
    /// image: those are collected as usual. Only registry repositories can be Harbor's.
    Harbor,
}

impl RegistryFlavor {
    /// Parses `generic` or `harbor`; anything else is refused.
    pub fn parse(name: &str) -> Result<Self, InputError> {
        match name {
            "generic" => Ok(RegistryFlavor::Generic),
            "harbor" => Ok(RegistryFlavor::Harbor),
            other => Err(InputError::InvalidArgument {
                name: "registry_flavor".into(),
                reason: format!("{other:?} is not a registry flavor (generic, harbor)"),
            }),
        }
    }
}

/// Options of a scan and of [`execute`].
#[derive(Clone)]
pub struct GcOptions {
    /// Also collect attachments whose subject exists but is reachable from no ordinary tag
    /// (directly, through an index, or as an OCI 1.1 referrer of what one reaches): what a moved
    /// mutable tag leaves behind.
    pub include_untagged: bool,
    /// Only collect orphans older than this. The age is the `org.opencontainers.image.created`
    /// annotation of the attachment (or, for a fallback index, of its newest referrer): the
    /// distribution API reports no time for tags or manifests. An orphan whose age cannot be
    /// established is kept.
    pub older_than: Option<Duration>,
    /// Whose deletion rules apply beside ironsign's.
    pub registry_flavor: RegistryFlavor,
    /// The time ages are measured from.
    pub now: SystemTime,
    /// Most requests in flight.
    pub max_workers: usize,
    /// Most tags read per repository.
    pub max_tags: usize,
    /// Most repositories read from a catalog.
    pub max_repositories: usize,
    /// Receives progress.
    pub progress: Option<ProgressFn>,
    /// Called right before the final checks of each deletion.
    pub before_delete: Option<BeforeDeleteFn>,
}

impl std::fmt::Debug for GcOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GcOptions")
            .field("include_untagged", &self.include_untagged)
            .field("older_than", &self.older_than)
            .field("registry_flavor", &self.registry_flavor)
            .field("max_workers", &self.max_workers)
            .field("max_tags", &self.max_tags)
            .field("max_repositories", &self.max_repositories)
            .finish_non_exhaustive()
    }
}

impl Default for GcOptions {
    fn default() -> Self {
        GcOptions {
            include_untagged: false,
            older_than: None,
            registry_flavor: RegistryFlavor::Generic,
            now: SystemTime::now(),
            max_workers: 8,
            max_tags: 100_000,
            max_repositories: 10_000,
            progress: None,
            before_delete: None,
        }
    }
}

impl GcOptions {
    fn report(&self, repository: &str, phase: &'static str, done: usize, total: usize) {
        if let Some(p) = &self.progress {
            p(&GcProgress { repository, phase, done, total });
        }
    }
}

/// Why an attachment is an orphan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OrphanReason {
    /// The subject manifest does not exist (HEAD 404).
    SubjectMissing,
    /// The subject exists but no ordinary tag reaches it (`include_untagged`).
    SubjectUntagged,
}

/// Why an attachment is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeepReason {
    /// An ordinary tag reaches the subject: directly, through an index, or (with
    /// `include_untagged`) as an OCI 1.1 referrer of what one reaches.
    SubjectTagged,
    /// The subject exists, untagged, and `include_untagged` is off.
    SubjectPresent,
    /// The subject is itself a kept attachment (e.g. a signature of an `.sbom` manifest).
    SubjectIsKeptAttachment,
    /// The attachment's digest is also what a live tag points to: deleting it by digest would
    /// remove that tag too.
    SharedDigest,
    /// Younger than `older_than`.
    TooRecent,
    /// `older_than` was given and the age cannot be established.
    AgeUnknown,
    /// Harbor links it to its existing image as a `signature.cosign` accessory and deletes it
    /// with that image ([`RegistryFlavor::Harbor`]).
    HarborDeletesWithImage,
}

/// An attachment to delete.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Orphan {
    /// The tag.
    pub tag: String,
    /// What it holds.
    pub kind: GcKind,
    /// The subject digest named by the tag.
    pub subject: Digest,
    /// The digest of the attachment manifest (what is deleted).
    pub digest: Digest,
    /// Why it is an orphan.
    pub reason: OrphanReason,
    /// For a fallback index: the referrer manifests it lists whose subject is the same digest
    /// (deleted before the index).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub referrers: Vec<Digest>,
    /// Its creation time, when known (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
}

/// An attachment that stays.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeptAttachment {
    /// The tag.
    pub tag: String,
    /// What it holds.
    pub kind: GcKind,
    /// The subject digest.
    pub subject: Digest,
    /// The attachment manifest digest.
    pub digest: Digest,
    /// Why it stays.
    pub reason: KeepReason,
}

/// The plan for one repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RepositoryPlan {
    /// `registry/name` or `oci:DIR`.
    pub repository: String,
    /// The repository.
    #[serde(skip)]
    pub location: Option<Location>,
    /// Tags listed.
    pub tags: usize,
    /// Ordinary (non-attachment) tags.
    pub ordinary_tags: usize,
    /// Attachment tags.
    pub attachment_tags: usize,
    /// Manifests reachable from ordinary tags.
    pub reachable_manifests: usize,
    /// What would be deleted.
    pub orphans: Vec<Orphan>,
    /// What stays, with why.
    pub kept: Vec<KeptAttachment>,
}

/// A repository that could not be scanned (nothing is deleted there).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RepositoryError {
    /// The repository.
    pub repository: String,
    /// The error's stable code.
    pub code: &'static str,
    /// The message.
    pub message: String,
}

/// Totals of a plan.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PlanSummary {
    /// Repositories scanned.
    pub repositories: usize,
    /// Tags listed.
    pub tags: usize,
    /// Attachment tags found.
    pub attachments: usize,
    /// Orphans found.
    pub orphans: usize,
    /// Attachments kept.
    pub kept: usize,
    /// Repositories that failed.
    pub failed_repositories: usize,
}

/// What a scan found: a dry run's output and [`execute`]'s input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GcPlan {
    /// [`PLAN_MEDIA_TYPE`].
    pub media_type: &'static str,
    /// Whether untagged subjects count as orphans.
    pub include_untagged: bool,
    /// Whose deletion rules applied.
    pub registry_flavor: RegistryFlavor,
    /// The age threshold in seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub older_than_seconds: Option<u64>,
    /// Per repository.
    pub repositories: Vec<RepositoryPlan>,
    /// Repositories that could not be scanned.
    pub errors: Vec<RepositoryError>,
    /// Totals.
    pub summary: PlanSummary,
}

/// Why a planned deletion was not done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    /// The second scan no longer calls it an orphan (the subject came back, was tagged, …).
    NoLongerOrphan,
    /// The tag now points to another digest, or is gone.
    TagChanged,
    /// The subject exists again (checked right before deleting).
    SubjectReappeared,
    /// An ordinary tag points to the digest.
    DigestInUse,
}

/// One deletion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Deleted {
    /// The repository.
    pub repository: String,
    /// The attachment tag (or, for a referrer manifest, the fallback tag listing it).
    pub tag: String,
    /// The deleted manifest digest.
    pub digest: Digest,
    /// What it was.
    pub kind: GcKind,
    /// False when the registry said it was already gone.
    pub existed: bool,
}

/// A planned deletion that was skipped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    /// The repository.
    pub repository: String,
    /// The tag.
    pub tag: String,
    /// The digest.
    pub digest: Digest,
    /// Why.
    pub reason: SkipReason,
}

/// A deletion that failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failed {
    /// The repository.
    pub repository: String,
    /// The tag.
    pub tag: String,
    /// The error's stable code.
    pub code: &'static str,
    /// The message.
    pub message: String,
}

/// Totals of a report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ReportSummary {
    /// Repositories scanned.
    pub repositories: usize,
    /// Tags listed.
    pub tags: usize,
    /// Attachments kept (the plan's kept plus the skipped).
    pub kept: usize,
    /// Manifests deleted.
    pub deleted: usize,
    /// Planned deletions skipped by the re-checks.
    pub skipped: usize,
    /// Deletions that failed.
    pub failed: usize,
}

/// What [`execute`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GcReport {
    /// [`REPORT_MEDIA_TYPE`].
    pub media_type: &'static str,
    /// Deleted manifests.
    pub deleted: Vec<Deleted>,
    /// Skipped deletions.
    pub skipped: Vec<Skipped>,
    /// Failed deletions and repositories.
    pub failed: Vec<Failed>,
    /// Totals.
    pub summary: ReportSummary,
}

// ---------------------------------------------------------------------------------------------
// Scanning.

#[derive(Debug, Clone)]
struct AttachmentTag {
    tag: String,
    kind: GcKind,
    subject: Digest,
    manifest: ManifestRef,
}

/// Every tag of a repository resolved, and what the ordinary tags reach.
#[derive(Debug, Default)]
struct Snapshot {
    tags: usize,
    /// Digests ordinary tags point to.
    ordinary: HashSet<Digest>,
    ordinary_tags: usize,
    /// Ordinary digests plus the manifests of the indexes they point to (recursively) and, with
    /// `include_untagged`, the referrers of those among the attachment subjects (recursively).
    reachable: HashSet<Digest>,
    attachments: Vec<AttachmentTag>,
}

async fn run_bounded<T, F>(futures: impl IntoIterator<Item = F>, workers: usize) -> Vec<T>
where
    F: std::future::Future<Output = T>,
{
    futures_util::stream::iter(futures).buffer_unordered(workers.max(1)).collect().await
}

async fn snapshot(
    client: &RegistryClient,
    location: &Location,
    options: &GcOptions,
    phase: &'static str,
) -> Result<Snapshot, Error> {
    let repository = location.to_string();
    let tags = client.list_tags(location, options.max_tags).await?;
    let total = tags.len();
    let done = AtomicUsize::new(0);
    options.report(&repository, phase, 0, total);
    let heads = run_bounded(
        tags.iter().map(|tag| {
            let (done, repository) = (&done, &repository);
            async move {
                let r = client.head_manifest(location, tag).await;
                let n = done.fetch_add(1, Ordering::Relaxed) + 1;
                if n % 64 == 0 || n == total {
                    options.report(repository, phase, n, total);
                }
                r.map(|m| (tag.clone(), m))
            }
        }),
        options.max_workers,
    )
    .await;
    let mut snap = Snapshot { tags: total, ..Default::default() };
    let mut index_roots = Vec::new();
    for head in heads {
        // A tag deleted between the listing and its HEAD is simply gone.
        let (tag, Some(manifest)) = head? else { continue };
        match parse_attachment_tag(&tag) {
            // A `sha256-<hex>` tag that is not an index, or that is the image itself (cosign copy
            // tags the copied entity that way), is an ordinary tag.
            Some((subject, GcKind::ReferrersIndex))
                if !cosign::is_index(&manifest.media_type) || manifest.digest == subject =>
            {
                ordinary(&mut snap, &mut index_roots, manifest)
            }
            Some((subject, kind)) => snap.attachments.push(AttachmentTag { tag, kind, subject, manifest }),
            None => ordinary(&mut snap, &mut index_roots, manifest),
        }
    }
    // Children of indexes that ordinary tags point to are reachable too.
    let mut seen: HashSet<Digest> = HashSet::new();
    let mut frontier: Vec<Digest> = index_roots;
    for _depth in 0..MAX_INDEX_DEPTH {
        frontier.retain(|d| seen.insert(d.clone()));
        if frontier.is_empty() {
            break;
        }
        let fetched = run_bounded(
            frontier.iter().map(|d| async move {
                let m = client.get_manifest(location, d.as_str()).await?;
                Ok::<_, Error>(m.map(|m| (d.clone(), m)))
            }),
            options.max_workers,
        )
        .await;
        let mut next = Vec::new();
        for f in fetched {
            let Some((digest, fetched)) = f? else { continue };
            let index = Manifest::parse(&fetched.bytes, &format!("index {digest}"))?;
            let limit = client.limits().max_layers;
            if index.manifests.len() > limit {
                return Err(RegistryError::TooMany {
                    what: format!("index {digest}"),
                    count: index.manifests.len(),
                    limit,
                }
                .into());
            }
            for child in index.manifests {
                snap.reachable.insert(child.digest.clone());
                if cosign::is_index(&child.media_type) {
                    next.push(child.digest);
                }
            }
        }
        frontier = next;
    }
    // Children below the depth bound are unknown, and unknown must not read as unreachable.
    frontier.retain(|d| !seen.contains(d));
    if !frontier.is_empty() {
        return Err(RegistryError::TooMany {
            what: format!("levels of nested indexes in {repository}"),
            count: MAX_INDEX_DEPTH + 1,
            limit: MAX_INDEX_DEPTH,
        }
        .into());
    }
    if options.include_untagged {
        add_live_referrers(client, location, &mut snap, options).await?;
    }
    Ok(snap)
}

/// Adds to `snap.reachable` every attachment subject that is an OCI 1.1 referrer of a reachable
/// manifest, directly or through other referrers (a signed SBOM attached as a referrer of a live
/// image): its `.sig`/`.att`/`.sbom` tags and fallback index are live. A referrer is by definition
/// a manifest whose `subject` names another (the referrers API and the fallback index list
/// exactly those), so each unreachable subject's own `subject` chain is read, one GET per
/// manifest, rather than the referrers of every reachable manifest. Only `include_untagged`
/// needs this: without it an existing subject is never collected.
async fn add_live_referrers(
    client: &RegistryClient,
    location: &Location,
    snap: &mut Snapshot,
    options: &GcOptions,
) -> Result<(), Error> {
    // What each manifest met names as its subject (`None`: none, or the manifest is gone).
    let mut subject_of: HashMap<Digest, Option<Digest>> = HashMap::new();
    // Manifests whose subject cannot be known: kept, since unknown must not read as unreachable.
    let mut unknown: HashSet<Digest> = HashSet::new();
    let mut frontier: BTreeSet<Digest> =
        snap.attachments.iter().map(|a| a.subject.clone()).filter(|s| !snap.reachable.contains(s)).collect();
    for _depth in 0..MAX_REFERRER_DEPTH {
        frontier.retain(|d| !subject_of.contains_key(d) && !snap.reachable.contains(d));
        if frontier.is_empty() {
            break;
        }
        let fetched = run_bounded(
            frontier.iter().map(|d| async move {
                let Some(m) = client.get_manifest(location, d.as_str()).await? else {
                    return Ok::<_, Error>((d.clone(), Ok(None)));
                };
                let subject = Manifest::parse(&m.bytes, &format!("manifest {d}")).map(|m| m.subject.map(|s| s.digest));
                Ok((d.clone(), subject))
            }),
            options.max_workers,
        )
        .await;
        let mut next = BTreeSet::new();
        for f in fetched {
            match f? {
                (digest, Ok(subject)) => {
                    next.extend(subject.clone());
                    subject_of.insert(digest, subject);
                }
                (digest, Err(_unreadable)) => {
                    unknown.insert(digest.clone());
                    subject_of.insert(digest, None);
                }
            }
        }
        frontier = next;
    }
    // A chain longer than the bound is kept whole, like an unreadable manifest.
    unknown.extend(frontier.into_iter().filter(|d| !subject_of.contains_key(d) && !snap.reachable.contains(d)));
    let starts: Vec<Digest> = subject_of.keys().cloned().collect();
    for start in starts {
        let mut chain = vec![start];
        let live = loop {
            let last = chain.last().expect("the chain starts with one digest");
            if snap.reachable.contains(last) || unknown.contains(last) {
                break true;
            }
            match subject_of.get(last).cloned().flatten() {
                // A cycle of subjects reaches nothing live.
                Some(parent) if !chain.contains(&parent) => chain.push(parent),
                _ => break false,
            }
        };
        if live {
            snap.reachable.extend(chain);
        }
    }
    Ok(())
}

fn ordinary(snap: &mut Snapshot, index_roots: &mut Vec<Digest>, manifest: ManifestRef) {
    snap.ordinary_tags += 1;
    snap.ordinary.insert(manifest.digest.clone());
    snap.reachable.insert(manifest.digest.clone());
    if cosign::is_index(&manifest.media_type) {
        index_roots.push(manifest.digest);
    }
}

/// Scans one repository (or image layout) and returns its plan. Deletes nothing.
pub async fn scan_repository(
    client: &RegistryClient,
    location: &Location,
    options: &GcOptions,
) -> Result<RepositoryPlan, Error> {
    if options.registry_flavor == RegistryFlavor::Harbor && !matches!(location, Location::Registry { .. }) {
        return Err(InputError::InvalidArgument {
            name: "registry_flavor".into(),
            reason: format!("{location} is an image layout, not a Harbor repository"),
        }
        .into());
    }
    let snap = snapshot(client, location, options, "tags").await?;
    classify(client, location, &snap, options).await
}

async fn classify(
    client: &RegistryClient,
    location: &Location,
    snap: &Snapshot,
    options: &GcOptions,
) -> Result<RepositoryPlan, Error> {
    let repository = location.to_string();
    // Does each unreachable subject exist? One HEAD per distinct subject.
    let unreachable: BTreeSet<&Digest> =
        snap.attachments.iter().map(|a| &a.subject).filter(|s| !snap.reachable.contains(*s)).collect();
    let total = unreachable.len();
    let done = AtomicUsize::new(0);
    let exists: HashMap<Digest, bool> = run_bounded(
        unreachable.iter().map(|subject| {
            let (done, repository) = (&done, &repository);
            async move {
                let r = client.head_manifest(location, subject.as_str()).await;
                let n = done.fetch_add(1, Ordering::Relaxed) + 1;
                if n % 64 == 0 || n == total {
                    options.report(repository, "subjects", n, total);
                }
                r.map(|m| ((*subject).clone(), m.is_some()))
            }
        }),
        options.max_workers,
    )
    .await
    .into_iter()
    .collect::<Result<_, Error>>()?;

    let mut kept: Vec<KeptAttachment> = Vec::new();
    let mut candidates: Vec<(AttachmentTag, OrphanReason)> = Vec::new();
    let keep = |a: &AttachmentTag, reason| KeptAttachment {
        tag: a.tag.clone(),
        kind: a.kind,
        subject: a.subject.clone(),
        digest: a.manifest.digest.clone(),
        reason,
    };
    for a in &snap.attachments {
        if snap.reachable.contains(&a.subject) {
            kept.push(keep(a, KeepReason::SubjectTagged));
        } else if !exists.get(&a.subject).copied().unwrap_or(true) {
            candidates.push((a.clone(), OrphanReason::SubjectMissing));
        } else if options.include_untagged {
            candidates.push((a.clone(), OrphanReason::SubjectUntagged));
        } else {
            kept.push(keep(a, KeepReason::SubjectPresent));
        }
    }
    if options.registry_flavor == RegistryFlavor::Harbor {
        let (harbor, ours) = harbor_accessories(client, location, candidates, options).await?;
        candidates = ours;
        kept.extend(harbor.iter().map(|a| keep(a, KeepReason::HarborDeletesWithImage)));
    }
    // An attachment of a kept attachment is kept (to a fixpoint).
    let mut kept_digests: HashSet<Digest> = kept.iter().map(|k| k.digest.clone()).collect();
    loop {
        let (stay, go): (Vec<_>, Vec<_>) = candidates.into_iter().partition(|(a, _)| kept_digests.contains(&a.subject));
        candidates = go;
        if stay.is_empty() {
            break;
        }
        for (a, _) in stay {
            kept_digests.insert(a.manifest.digest.clone());
            kept.push(keep(&a, KeepReason::SubjectIsKeptAttachment));
        }
    }
    // Deleting by digest removes every tag on it: never delete what a live tag points to.
    let (candidates, shared): (Vec<_>, Vec<_>) = candidates
        .into_iter()
        .partition(|(a, _)| !snap.reachable.contains(&a.manifest.digest) && !kept_digests.contains(&a.manifest.digest));
    kept.extend(shared.iter().map(|(a, _)| keep(a, KeepReason::SharedDigest)));

    // Referrer manifests listed by orphaned fallback indexes; creation times when asked for.
    let detailed = run_bounded(
        candidates.into_iter().map(|(a, reason)| async move {
            let mut orphan = Orphan {
                tag: a.tag.clone(),
                kind: a.kind,
                subject: a.subject.clone(),
                digest: a.manifest.digest.clone(),
                reason,
                referrers: Vec::new(),
                created: None,
            };
            let mut created: Vec<String> = Vec::new();
            if (a.kind == GcKind::ReferrersIndex || options.older_than.is_some())
                && let Some(fetched) = client.get_manifest(location, a.manifest.digest.as_str()).await?
            {
                let m = Manifest::parse(&fetched.bytes, &format!("{} manifest", a.tag))?;
                created.extend(m.annotations.as_ref().and_then(|x| x.get(CREATED_ANNOTATION)).cloned());
                if a.kind == GcKind::ReferrersIndex {
                    let limit = client.limits().max_layers;
                    if m.manifests.len() > limit {
                        return Err(Error::from(RegistryError::TooMany {
                            what: format!("referrers index {}", a.tag),
                            count: m.manifests.len(),
                            limit,
                        }));
                    }
                    for d in &m.manifests {
                        let Some(r) = client.get_manifest(location, d.digest.as_str()).await? else { continue };
                        let rm = Manifest::parse(&r.bytes, &format!("referrer {}", d.digest))?;
                        // Only what really refers to this subject goes with the index.
                        if rm.subject.as_ref().map(|s| &s.digest) == Some(&a.subject) {
                            created.extend(rm.annotations.as_ref().and_then(|x| x.get(CREATED_ANNOTATION)).cloned());
                            orphan.referrers.push(d.digest.clone());
                        }
                    }
                }
            }
            orphan.created = created.into_iter().max_by_key(|c| parse_time(c).unwrap_or(SystemTime::UNIX_EPOCH));
            Ok::<_, Error>(orphan)
        }),
        options.max_workers,
    )
    .await;
    let mut orphans = Vec::new();
    for o in detailed {
        let mut o = o?;
        o.referrers.retain(|d| !snap.reachable.contains(d) && !kept_digests.contains(d));
        match options.older_than {
            None => orphans.push(o),
            Some(min_age) => match o.created.as_deref().and_then(parse_time) {
                None => kept.push(KeptAttachment {
                    tag: o.tag,
                    kind: o.kind,
                    subject: o.subject,
                    digest: o.digest,
                    reason: KeepReason::AgeUnknown,
                }),
                Some(t) if options.now.duration_since(t).unwrap_or_default() < min_age => kept.push(KeptAttachment {
                    tag: o.tag,
                    kind: o.kind,
                    subject: o.subject,
                    digest: o.digest,
                    reason: KeepReason::TooRecent,
                }),
                Some(_) => orphans.push(o),
            },
        }
    }
    orphans.sort_by(|a, b| a.tag.cmp(&b.tag));
    kept.sort_by(|a, b| a.tag.cmp(&b.tag));
    Ok(RepositoryPlan {
        repository,
        location: Some(location.clone()),
        tags: snap.tags,
        ordinary_tags: snap.ordinary_tags,
        attachment_tags: snap.attachments.len(),
        reachable_manifests: snap.reachable.len(),
        orphans,
        kept,
    })
}

/// Splits candidates into the `.sig` tags Harbor deletes with their existing image (its
/// `signature.cosign` accessories, judged by [`crate::harbor::accessories`] on the manifest as
/// pushed by that tag) and the rest. A `.sig` that cannot be read stays with Harbor: unknown must
/// not read as deletable.
async fn harbor_accessories(
    client: &RegistryClient,
    location: &Location,
    candidates: Vec<(AttachmentTag, OrphanReason)>,
    options: &GcOptions,
) -> Result<(Vec<AttachmentTag>, Vec<(AttachmentTag, OrphanReason)>), Error> {
    let Location::Registry { repository, .. } = location else { return Ok((Vec::new(), candidates)) };
    let judged = run_bounded(
        candidates.into_iter().map(|(a, reason)| async move {
            // Harbor removes its accessories with the image; one whose image is gone was never linked.
            if a.kind != GcKind::Signature || reason != OrphanReason::SubjectUntagged {
                return Ok::<_, Error>((a, reason, false));
            }
            let linked = match client.get_manifest(location, a.manifest.digest.as_str()).await? {
                None => true,
                Some(fetched) => {
                    let push = crate::harbor::ManifestPush {
                        repository,
                        reference: &a.tag,
                        content_type: &fetched.media_type,
                        body: &fetched.bytes,
                    };
                    crate::harbor::accessories(&push, crate::harbor::HarborRelease::SIGSTORE_BUNDLE)
                        .iter()
                        .any(|x| x.kind == crate::harbor::AccessoryType::CosignSignature && x.subject == a.subject)
                }
            };
            Ok((a, reason, linked))
        }),
        options.max_workers,
    )
    .await;
    let (mut harbor, mut ours) = (Vec::new(), Vec::new());
    for j in judged {
        let (a, reason, linked) = j?;
        if linked { harbor.push(a) } else { ours.push((a, reason)) }
    }
    Ok((harbor, ours))
}

fn parse_time(s: &str) -> Option<SystemTime> {
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()?;
    let secs = u64::try_from(t.unix_timestamp()).ok()?;
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
}

/// The repositories of a registry's catalog, as locations.
pub async fn catalog(client: &RegistryClient, registry: &str, options: &GcOptions) -> Result<Vec<Location>, Error> {
    let names = client.list_repositories(registry, options.max_repositories).await?;
    Ok(names.into_iter().map(|repository| Location::Registry { registry: registry.to_owned(), repository }).collect())
}

/// Scans several repositories, one after the other (each scan is itself concurrent). A
/// repository that fails is recorded in [`GcPlan::errors`] and the others are still scanned.
pub async fn scan(client: &RegistryClient, locations: &[Location], options: &GcOptions) -> GcPlan {
    let mut plan = GcPlan {
        media_type: PLAN_MEDIA_TYPE,
        include_untagged: options.include_untagged,
        registry_flavor: options.registry_flavor,
        older_than_seconds: options.older_than.map(|d| d.as_secs()),
        repositories: Vec::new(),
        errors: Vec::new(),
        summary: PlanSummary::default(),
    };
    for location in locations {
        match scan_repository(client, location, options).await {
            Ok(r) => plan.repositories.push(r),
            Err(e) => plan.errors.push(RepositoryError {
                repository: location.to_string(),
                code: e.code(),
                message: e.to_string(),
            }),
        }
    }
    plan.summary = PlanSummary {
        repositories: plan.repositories.len(),
        tags: plan.repositories.iter().map(|r| r.tags).sum(),
        attachments: plan.repositories.iter().map(|r| r.attachment_tags).sum(),
        orphans: plan.repositories.iter().map(|r| r.orphans.len()).sum(),
        kept: plan.repositories.iter().map(|r| r.kept.len()).sum(),
        failed_repositories: plan.errors.len(),
    };
    plan
}

// ---------------------------------------------------------------------------------------------
// Deleting.

/// Deletes the orphans of `plan`: each repository is scanned again, only what both scans call an
/// orphan (same tag, digest and subject) is considered, and right before each deletion the tag,
/// the subject and the ordinary tags are checked once more (see the module documentation).
pub async fn execute(client: &RegistryClient, plan: &GcPlan, options: &GcOptions) -> GcReport {
    let mut report = GcReport {
        media_type: REPORT_MEDIA_TYPE,
        deleted: Vec::new(),
        skipped: Vec::new(),
        failed: Vec::new(),
        summary: ReportSummary::default(),
    };
    let options = GcOptions { include_untagged: plan.include_untagged, ..options.clone() };
    let mut kept = 0;
    for repo in &plan.repositories {
        kept += repo.kept.len();
        let Some(location) = &repo.location else { continue };
        if repo.orphans.is_empty() {
            continue;
        }
        let fail = |tag: &str, e: &Error| Failed {
            repository: repo.repository.clone(),
            tag: tag.to_owned(),
            code: e.code(),
            message: e.to_string(),
        };
        // The second scan: what it does not call an orphan any more is skipped.
        let fresh = match snapshot(client, location, &options, "recheck").await {
            Ok(s) => s,
            Err(e) => {
                report.failed.push(fail("", &e));
                continue;
            }
        };
        let again = match classify(client, location, &fresh, &options).await {
            Ok(p) => p,
            Err(e) => {
                report.failed.push(fail("", &e));
                continue;
            }
        };
        let still: HashMap<&str, &Orphan> = again.orphans.iter().map(|o| (o.tag.as_str(), o)).collect();
        let total = repo.orphans.len();
        let done = AtomicUsize::new(0);
        let outcomes = run_bounded(
            repo.orphans.iter().map(|planned| {
                let (fresh, still, options, done) = (&fresh, &still, &options, &done);
                async move {
                    let r = delete_checked(
                        client,
                        location,
                        planned,
                        still.get(planned.tag.as_str()).copied(),
                        fresh,
                        options,
                    )
                    .await;
                    let n = done.fetch_add(1, Ordering::Relaxed) + 1;
                    options.report(&repo.repository, "delete", n, total);
                    (planned, r)
                }
            }),
            options.max_workers,
        )
        .await;
        for (planned, outcome) in outcomes {
            match outcome {
                Ok(Outcome::Deleted(d)) => report.deleted.extend(d.into_iter().map(|(digest, kind, existed)| {
                    Deleted { repository: repo.repository.clone(), tag: planned.tag.clone(), digest, kind, existed }
                })),
                Ok(Outcome::Skipped(reason)) => report.skipped.push(Skipped {
                    repository: repo.repository.clone(),
                    tag: planned.tag.clone(),
                    digest: planned.digest.clone(),
                    reason,
                }),
                Err(e) => report.failed.push(fail(&planned.tag, &e)),
            }
        }
    }
    report.deleted.sort_by(|a, b| (&a.repository, &a.tag).cmp(&(&b.repository, &b.tag)));
    report.skipped.sort_by(|a, b| (&a.repository, &a.tag).cmp(&(&b.repository, &b.tag)));
    report.summary = ReportSummary {
        repositories: plan.repositories.len(),
        tags: plan.summary.tags,
        kept: kept + report.skipped.len(),
        deleted: report.deleted.len(),
        skipped: report.skipped.len(),
        failed: report.failed.len() + plan.errors.len(),
    };
    for e in &plan.errors {
        report.failed.push(Failed {
            repository: e.repository.clone(),
            tag: String::new(),
            code: e.code,
            message: e.message.clone(),
        });
    }
    report
}

enum Outcome {
    Deleted(Vec<(Digest, GcKind, bool)>),
    Skipped(SkipReason),
}

async fn delete_checked(
    client: &RegistryClient,
    location: &Location,
    planned: &Orphan,
    again: Option<&Orphan>,
    fresh: &Snapshot,
    options: &GcOptions,
) -> Result<Outcome, Error> {
    let Some(again) = again else { return Ok(Outcome::Skipped(SkipReason::NoLongerOrphan)) };
    if again.digest != planned.digest || again.subject != planned.subject {
        return Ok(Outcome::Skipped(SkipReason::TagChanged));
    }
    if let Some(hook) = &options.before_delete {
        hook(planned);
    }
    // Right before deleting: the tag still points to the planned digest ...
    match client.head_manifest(location, &planned.tag).await? {
        Some(m) if m.digest == planned.digest => {}
        _ => return Ok(Outcome::Skipped(SkipReason::TagChanged)),
    }
    // ... the subject is still missing (an image pushed meanwhile keeps its attachments) ...
    if planned.reason == OrphanReason::SubjectMissing
        && client.head_manifest(location, planned.subject.as_str()).await?.is_some()
    {
        return Ok(Outcome::Skipped(SkipReason::SubjectReappeared));
    }
    // ... and no ordinary tag points to what is deleted.
    if fresh.reachable.contains(&planned.digest) || fresh.reachable.contains(&planned.subject) {
        return Ok(Outcome::Skipped(SkipReason::DigestInUse));
    }
    let mut deleted = Vec::new();
    for r in again.referrers.iter().filter(|r| planned.referrers.contains(r)) {
        if fresh.reachable.contains(r) {
            continue;
        }
        let existed = client.delete_manifest(location, r).await?;
        deleted.push((r.clone(), GcKind::Referrer, existed));
    }
    let existed = client.delete_manifest(location, &planned.digest).await?;
    deleted.push((planned.digest.clone(), planned.kind, existed));
    Ok(Outcome::Deleted(deleted))
}

// ---------------------------------------------------------------------------------------------
// clean

/// What [`clean`] removes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CleanType {
    /// The `.sig` tag.
    Signature,
    /// The `.att` tag.
    Attestation,
    /// The `.sbom` tag.
    Sbom,
    /// OCI 1.1 referrers of the image and the fallback index.
    Referrer,
    /// All of the above.
    All,
}

impl CleanType {
    fn kinds(self) -> Vec<GcKind> {
        match self {
            CleanType::Signature => vec![GcKind::Signature],
            CleanType::Attestation => vec![GcKind::Attestation],
            CleanType::Sbom => vec![GcKind::Sbom],
            CleanType::Referrer => vec![GcKind::ReferrersIndex],
            CleanType::All => vec![GcKind::Signature, GcKind::Attestation, GcKind::Sbom, GcKind::ReferrersIndex],
        }
    }
}

/// One manifest [`clean`] removed or left.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CleanEntry {
    /// The tag (for a referrer manifest, none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// The manifest digest.
    pub digest: Digest,
    /// What it is.
    pub kind: GcKind,
}

/// What [`clean`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CleanReport {
    /// The repository.
    pub repository: String,
    /// The image digest whose attachments were removed.
    pub subject: Digest,
    /// Whether the image itself exists.
    pub subject_exists: bool,
    /// Removed manifests.
    pub removed: Vec<CleanEntry>,
    /// Manifests left because another live tag points to the same digest.
    pub kept_shared: Vec<CleanEntry>,
}

/// Removes one image's attachments by digest: its `.sig`/`.att`/`.sbom` tags and, for
/// [`CleanType::Referrer`]/[`CleanType::All`], its referrer manifests and fallback index. Unlike
/// cosign clean it works when the image is gone: give it by digest. A manifest another tag (not
/// being removed) points to is left, since deleting by digest would remove that tag too.
pub async fn clean(
    client: &RegistryClient,
    image: &ImageReference,
    what: CleanType,
    options: &GcOptions,
) -> Result<CleanReport, Error> {
    let location = &image.location;
    let (subject, subject_exists) = match &image.digest {
        Some(d) => (d.clone(), client.head_manifest(location, d.as_str()).await?.is_some()),
        None => (client.resolve(image).await?.digest, true),
    };
    let kinds = what.kinds();
    let removing: BTreeSet<String> = kinds.iter().map(|k| subject.attachment_tag(tag_suffix(*k))).collect();
    // What every other tag points to.
    let tags = client.list_tags(location, options.max_tags).await?;
    let others = run_bounded(
        tags.iter().filter(|t| !removing.contains(*t)).map(|t| client.head_manifest(location, t)),
        options.max_workers,
    )
    .await;
    let mut live: HashSet<Digest> = HashSet::new();
    for o in others {
        live.extend(o?.map(|m| m.digest));
    }
    if subject_exists {
        live.insert(subject.clone());
    }
    let mut report = CleanReport {
        repository: location.to_string(),
        subject: subject.clone(),
        subject_exists,
        removed: Vec::new(),
        kept_shared: Vec::new(),
    };
    for kind in kinds {
        if kind == GcKind::ReferrersIndex {
            let referrers = client.get_referrers(location, &subject, client.limits().max_layers).await?;
            for d in &referrers.descriptors {
                let Some(m) = client.get_manifest(location, d.digest.as_str()).await? else { continue };
                let m = Manifest::parse(&m.bytes, &format!("referrer {}", d.digest))?;
                if m.subject.as_ref().map(|s| &s.digest) != Some(&subject) {
                    continue;
                }
                let entry = CleanEntry { tag: None, digest: d.digest.clone(), kind: GcKind::Referrer };
                if live.contains(&d.digest) {
                    report.kept_shared.push(entry);
                } else {
                    client.delete_manifest(location, &d.digest).await?;
                    report.removed.push(entry);
                }
            }
            if referrers.source != ReferrersSource::FallbackTag {
                continue;
            }
        }
        let tag = subject.attachment_tag(tag_suffix(kind));
        let Some(m) = client.head_manifest(location, &tag).await? else { continue };
        if kind == GcKind::ReferrersIndex && (!cosign::is_index(&m.media_type) || m.digest == subject) {
            continue;
        }
        let entry = CleanEntry { tag: Some(tag), digest: m.digest.clone(), kind };
        if live.contains(&m.digest) {
            report.kept_shared.push(entry);
        } else {
            client.delete_manifest(location, &m.digest).await?;
            report.removed.push(entry);
        }
    }
    Ok(report)
}

fn tag_suffix(kind: GcKind) -> &'static str {
    kind.attachment().map_or("", AttachmentKind::suffix)
}

/// Parses a duration such as `30d`, `12h`, `90m`, `45s`, `2w` (or a sum: `1d12h`).
pub fn parse_duration(s: &str) -> Result<Duration, InputError> {
    let bad = || InputError::InvalidArgument {
        name: "duration".into(),
        reason: format!("{s:?} is not a duration such as 30d, 12h, 90m, 45s, 2w or 1d12h"),
    };
    let mut total: u64 = 0;
    let mut number = String::new();
    for c in s.trim().chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            'w' => 7 * 86_400,
            _ => return Err(bad()),
        };
        let n: u64 = number.parse().map_err(|_| bad())?;
        total = n.checked_mul(unit).and_then(|v| total.checked_add(v)).ok_or_else(bad)?;
        number.clear();
    }
    if !number.is_empty() || s.trim().is_empty() {
        return Err(bad());
    }
    Ok(Duration::from_secs(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attachment_tags() {
        let hex = "a".repeat(64);
        assert_eq!(parse_attachment_tag(&format!("sha256-{hex}.sig")).unwrap().1, GcKind::Signature);
        assert_eq!(parse_attachment_tag(&format!("sha256-{hex}.att")).unwrap().1, GcKind::Attestation);
        assert_eq!(parse_attachment_tag(&format!("sha256-{hex}.sbom")).unwrap().1, GcKind::Sbom);
        let (d, k) = parse_attachment_tag(&format!("sha256-{hex}")).unwrap();
        assert_eq!((d.as_str(), k), (format!("sha256:{hex}").as_str(), GcKind::ReferrersIndex));
        for bad in [
            format!("sha256-{hex}.sig2"),
            format!("sha256-{}.sig", "A".repeat(64)),
            format!("sha256-{}.sig", "a".repeat(63)),
            format!("v1-{hex}.sig"),
            format!("xsha256-{hex}.sig"),
            "latest".into(),
        ] {
            assert!(parse_attachment_tag(&bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30d").unwrap(), Duration::from_secs(30 * 86_400));
        assert_eq!(parse_duration("1d12h").unwrap(), Duration::from_secs(36 * 3600));
        assert_eq!(parse_duration("45s").unwrap(), Duration::from_secs(45));
        for bad in ["", "d", "12", "3y", "-1d", "99999999999999999999w"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
