//! Moving an image with everything attached to it: from repository to repository ([`copy`]), into
//! an OCI image layout that `cosign load` and skopeo's `oci:` transport read ([`save`]), and from a
//! layout (written by ironsign or by `cosign save`) back into a registry ([`load`]). A layout can
//! travel as one tar file ([`save_tar`], [`load_tar`]).
//!
//! What is copied: the image (an index with every platform manifest), the legacy attachment tags
//! `sha256-<hex>.sig`, `.att` and `.sbom` of the image and of each platform manifest, and its OCI
//! 1.1 referrers (read from the registry's referrers API, else from the `sha256-<hex>` fallback
//! index), then the attachments of those attachments (a signed SBOM's `.sig`), one level down.
//! Everything keeps its digest. On the destination, referrers are left to the registry's
//! referrers API when it has one; otherwise the fallback index is updated (read, merged, written).
//!
//! How: manifests are read first (each checked against its digest) into a plan; the destination
//! is asked what it has (HEAD), so a re-run copies only what is missing; missing blobs are
//! streamed from source to destination and hashed on the way (never whole in memory; content
//! that does not hash to its digest is never committed); a blob on another repository of the same
//! registry is mounted instead of copied. Manifests are written children first, and an
//! attachment after its subject.
//!
//! ```no_run
//! # async fn demo() -> Result<(), ironsign::Error> {
//! use ironsign::{ImageReference, RegistryClient, RegistryOptions};
//! use ironsign::transfer::{self, TransferOptions};
//!
//! let client = RegistryClient::new(RegistryOptions::default())?;
//! let source = ImageReference::parse("registry.example/team/app:1.0")?;
//! let destination = ImageReference::parse("mirror.example/team/app")?;
//! let report = transfer::copy(&client, &source, &destination, &TransferOptions::default()).await?;
//! println!("{} blobs copied, {} already there", report.blobs.copied, report.blobs.skipped);
//! # Ok(()) }
//! ```

mod tar;

use crate::cosign::{self, Descriptor, Manifest};
use crate::error::{Error, InputError, RegistryError};
use crate::reference::{Digest, ImageReference, Location};
use crate::registry::stream::BlobCopy;
use crate::registry::{REF_NAME, ReferrersSource, RegistryClient, join_bounded, layout};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// The annotation `cosign save` puts on the entries of index.json to say what each one is.
pub const KIND_ANNOTATION: &str = "kind";
/// [`KIND_ANNOTATION`] of a single-platform image.
pub const KIND_IMAGE: &str = "dev.cosignproject.cosign/image";
/// [`KIND_ANNOTATION`] of a multi-platform index.
pub const KIND_IMAGE_INDEX: &str = "dev.cosignproject.cosign/imageIndex";
/// [`KIND_ANNOTATION`] of the image's `.sig` manifest.
pub const KIND_SIGNATURES: &str = "dev.cosignproject.cosign/sigs";
/// [`KIND_ANNOTATION`] of the image's `.att` manifest.
pub const KIND_ATTESTATIONS: &str = "dev.cosignproject.cosign/atts";

/// How many levels of attachments are followed: the image's, then theirs (a signed SBOM).
const ATTACHMENT_DEPTH: usize = 2;
/// How deep nested indexes are followed.
const MAX_INDEX_DEPTH: usize = 4;
/// Attempts per blob: an interrupted stream cannot be replayed, so the blob starts over.
const BLOB_ATTEMPTS: u32 = 3;

/// What to copy. [`Selection::default`] is everything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Selection {
    /// The image itself (manifests, config, layers) and its tag.
    pub image: bool,
    /// `.sig` tags.
    pub signatures: bool,
    /// `.att` tags.
    pub attestations: bool,
    /// `.sbom` tags.
    pub sboms: bool,
    /// OCI 1.1 referrers (Sigstore bundles and other artifacts) and their fallback index.
    pub referrers: bool,
}

impl Default for Selection {
    fn default() -> Self {
        Selection { image: true, signatures: true, attestations: true, sboms: true, referrers: true }
    }
}

impl Selection {
    /// cosign's `--only`: the listed attachments (`sig`, `att`, `sbom`, and ironsign's
    /// `referrer`), and not the image itself.
    pub fn only<S: AsRef<str>>(kinds: &[S]) -> Result<Self, InputError> {
        let mut s = Selection { image: false, signatures: false, attestations: false, sboms: false, referrers: false };
        for kind in kinds {
            match kind.as_ref().trim() {
                "sig" => s.signatures = true,
                "att" => s.attestations = true,
                "sbom" => s.sboms = true,
                "referrer" | "referrers" => s.referrers = true,
                other => {
                    return Err(InputError::InvalidArgument {
                        name: "only".into(),
                        reason: format!("{other:?}: the values are sig, att, sbom and referrer"),
                    });
                }
            }
        }
        if kinds.is_empty() {
            return Err(InputError::InvalidArgument { name: "only".into(), reason: "name at least one kind".into() });
        }
        Ok(s)
    }

    fn tag_kinds(&self) -> Vec<(&'static str, &'static str)> {
        let mut kinds = Vec::new();
        if self.signatures {
            kinds.push(("signature", "sig"));
        }
        if self.attestations {
            kinds.push(("attestation", "att"));
        }
        if self.sboms {
            kinds.push(("sbom", "sbom"));
        }
        kinds
    }
}

/// Progress of a transfer, for a progress line.
#[derive(Debug, Clone, Copy)]
pub struct TransferProgress {
    /// `plan` (reading manifests), `blobs` (copying blobs) or `manifests` (writing manifests).
    pub phase: &'static str,
    /// Items done in this phase.
    pub done: usize,
    /// Items in this phase (0 while unknown).
    pub total: usize,
    /// Blob bytes copied so far.
    pub bytes: u64,
    /// Blob bytes to copy.
    pub total_bytes: u64,
}

/// A callback receiving [`TransferProgress`].
pub type TransferProgressFn = Arc<dyn Fn(&TransferProgress) + Send + Sync>;

/// Options of [`copy`], [`save`] and [`load`].
#[derive(Clone)]
pub struct TransferOptions {
    /// What to copy.
    pub selection: Selection,
    /// Overwrite a destination tag (the image's or an attachment's) that points elsewhere;
    /// without it that is an error, as in `cosign copy`.
    pub force: bool,
    /// Most blobs (and registry requests) in flight.
    pub max_workers: usize,
    /// Most referrers read per manifest.
    pub max_referrers: usize,
    /// Most manifests in one transfer (image, platforms, attachments).
    pub max_manifests: usize,
    /// Called as the transfer advances.
    pub progress: Option<TransferProgressFn>,
}

impl Default for TransferOptions {
    fn default() -> Self {
        TransferOptions {
            selection: Selection::default(),
            force: false,
            max_workers: 4,
            max_referrers: 1000,
            max_manifests: 10_000,
            progress: None,
        }
    }
}

impl std::fmt::Debug for TransferOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransferOptions")
            .field("selection", &self.selection)
            .field("force", &self.force)
            .field("max_workers", &self.max_workers)
            .finish_non_exhaustive()
    }
}

/// Copied versus already present.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ManifestCounts {
    /// Written to the destination.
    pub copied: usize,
    /// Already there (same digest; a missing tag was still written).
    pub skipped: usize,
}

/// Copied, mounted or already present.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct BlobCounts {
    /// Streamed to the destination.
    pub copied: usize,
    /// Mounted from the source repository (same registry): no bytes moved.
    pub mounted: usize,
    /// Already there.
    pub skipped: usize,
}

/// One attachment the transfer found on the source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TransferredAttachment {
    /// The manifest it is attached to.
    pub subject: Digest,
    /// `signature`, `attestation`, `sbom` or `referrer`.
    pub kind: &'static str,
    /// Its manifest's digest (unchanged on the destination).
    pub digest: Digest,
    /// Its tag on the destination (`sha256-<hex>.sig`, …); none for a referrer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// Whether it was written (false: the destination had it).
    pub copied: bool,
}

/// What a transfer did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TransferReport {
    /// Where from.
    pub source: String,
    /// Where to.
    pub destination: String,
    /// The image's digest, the same on both sides.
    pub digest: Digest,
    /// The image's media type.
    pub media_type: String,
    /// The tag written on the destination, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// Whether the image itself was part of the transfer (see [`Selection::image`]).
    pub image: bool,
    /// Manifests (image, platforms, attachments, referrers).
    pub manifests: ManifestCounts,
    /// Blobs (configs and layers).
    pub blobs: BlobCounts,
    /// Blob bytes streamed.
    pub bytes_copied: u64,
    /// Every attachment found.
    pub attachments: Vec<TransferredAttachment>,
    /// Referrers fallback indexes (`sha256-<hex>` tags) written on the destination.
    pub fallback_indexes_written: usize,
}

/// Copies `source` (a tag or digest, in a registry or an `oci:` layout) with its attachments to
/// `destination`. A destination without tag or digest gets the source's tag (`latest` when the
/// source was given by digest); a destination digest must be the source's.
pub async fn copy(
    client: &RegistryClient,
    source: &ImageReference,
    destination: &ImageReference,
    options: &TransferOptions,
) -> Result<TransferReport, Error> {
    let from = Source::new(client, source.location.clone(), None);
    let root = client.resolve(source).await?;
    let tag = destination_tag(destination, &root.digest, source.tag.as_deref())?;
    Transfer { client, source: from, destination: destination.location.clone(), options }.run(root, tag, false).await
}

/// Writes `source` and its attachments into the OCI image layout `dir` (created if needed), in
/// the shape `cosign save` writes and `cosign load` reads: the index.json entry of the image is
/// annotated `kind: dev.cosignproject.cosign/image` (or `…/imageIndex`), its `.sig` and `.att`
/// manifests `…/sigs` and `…/atts`. Every attachment (platforms' too) is also tagged as in a
/// registry (`org.opencontainers.image.ref.name` = `sha256-<hex>.sig`, …), referrers sit in the
/// `sha256-<hex>` fallback index, and the image carries the source's tag as its ref name, so
/// `skopeo inspect oci:DIR:TAG`, `ironsign verify oci:DIR:TAG` and `ironsign load` read it.
pub async fn save(
    client: &RegistryClient,
    source: &ImageReference,
    dir: &Path,
    options: &TransferOptions,
) -> Result<TransferReport, Error> {
    layout::init(dir)?;
    let from = Source::new(client, source.location.clone(), None);
    let root = client.resolve(source).await?;
    let destination = Location::Layout { path: dir.to_owned() };
    let report = Transfer { client, source: from, destination, options }.run(root, source.tag.clone(), true).await?;
    annotate_kinds(dir, &report)?;
    Ok(report)
}

/// Pushes the image saved in the layout `dir` (by ironsign or by `cosign save`) with its
/// attachments to `destination`. The image is the index.json entry annotated as cosign's image
/// (or image index), else the layout's only entry that is not an attachment. Attachments are
/// found by their tags, else (a `cosign save` layout) by cosign's `kind` annotations, and
/// referrers in the fallback index, else among the blobs (manifests whose `subject` is the
/// image). Every blob and manifest is checked against its digest on the way.
pub async fn load(
    client: &RegistryClient,
    dir: &Path,
    destination: &ImageReference,
    options: &TransferOptions,
) -> Result<TransferReport, Error> {
    let saved = SavedLayout::read(dir)?;
    let root = saved.root.clone();
    let source_tag = saved.root_tag.clone();
    let from = Source::new(client, Location::Layout { path: dir.to_owned() }, Some(saved));
    let root = crate::registry::ManifestRef { digest: root.digest, media_type: root.media_type, size: root.size };
    let tag = destination_tag(destination, &root.digest, source_tag.as_deref())?;
    Transfer { client, source: from, destination: destination.location.clone(), options }.run(root, tag, false).await
}

/// [`save`] into one tar file of the layout (written to a temporary file beside `tar_file`, then
/// renamed). The layout is first written to a directory made inside `scratch` and removed after.
pub async fn save_tar(
    client: &RegistryClient,
    source: &ImageReference,
    tar_file: &Path,
    scratch: &Path,
    options: &TransferOptions,
) -> Result<TransferReport, Error> {
    let dir = ScratchDir::new(scratch)?;
    let report = save(client, source, dir.path(), options).await?;
    let (dir_path, target) = (dir.path().to_owned(), tar_file.to_owned());
    blocking(move || tar::write_layout(&dir_path, &target)).await?;
    drop(dir);
    Ok(report)
}

/// [`load`] from one tar file of a layout (as [`save_tar`] or `tar -C DIR -cf FILE .` of a
/// `cosign save` directory writes it). The tar is unpacked into a directory made inside
/// `scratch` (only `oci-layout`, `index.json` and `blobs/<alg>/<hex>` are taken; links and
/// paths outside are refused), which is removed after.
pub async fn load_tar(
    client: &RegistryClient,
    tar_file: &Path,
    scratch: &Path,
    destination: &ImageReference,
    options: &TransferOptions,
) -> Result<TransferReport, Error> {
    let dir = ScratchDir::new(scratch)?;
    let (dir_path, source) = (dir.path().to_owned(), tar_file.to_owned());
    blocking(move || tar::unpack_layout(&source, &dir_path)).await?;
    let report = load(client, dir.path(), destination, options).await;
    drop(dir);
    report
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T, Error> + Send + 'static) -> Result<T, Error> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::from(RegistryError::Layout { path: String::new(), reason: e.to_string() }))?
}

/// The tag to write on the destination.
fn destination_tag(
    destination: &ImageReference,
    digest: &Digest,
    source_tag: Option<&str>,
) -> Result<Option<String>, Error> {
    if let Some(d) = &destination.digest {
        if d != digest {
            return Err(InputError::InvalidArgument {
                name: "destination".into(),
                reason: format!("{destination} names {d}, but the source is {digest}"),
            }
            .into());
        }
        return Ok(destination.tag.clone());
    }
    Ok(Some(destination.tag.clone().or_else(|| source_tag.map(str::to_owned)).unwrap_or_else(|| "latest".into())))
}

// ---------------------------------------------------------------------------------------------
// Layouts written by `cosign save` (and by `save`).

/// What a saved layout holds at the top: the image and, by cosign's `kind` annotations, its
/// `.sig` and `.att` manifests.
#[derive(Clone)]
struct SavedLayout {
    path: PathBuf,
    root: Descriptor,
    root_tag: Option<String>,
    signatures: Option<Digest>,
    attestations: Option<Digest>,
}

impl SavedLayout {
    fn read(path: &Path) -> Result<Self, Error> {
        let entries = layout::entries(path)?;
        let kind_of = |d: &Descriptor| d.annotations.as_ref().and_then(|a| a.get(KIND_ANNOTATION)).cloned();
        let tag_of = |d: &Descriptor| d.annotations.as_ref().and_then(|a| a.get(REF_NAME)).cloned();
        let by_kind = |kind: &str| entries.iter().find(|d| kind_of(d).as_deref() == Some(kind));
        let root = match by_kind(KIND_IMAGE_INDEX).or_else(|| by_kind(KIND_IMAGE)) {
            Some(d) => d.clone(),
            None => {
                let images: Vec<&Descriptor> = entries
                    .iter()
                    .filter(|d| !tag_of(d).is_some_and(|t| t.starts_with("sha256-")) && kind_of(d).is_none())
                    .collect();
                match images.as_slice() {
                    [one] => (*one).clone(),
                    [] => {
                        return Err(RegistryError::Layout {
                            path: path.display().to_string(),
                            reason: "index.json names no image".into(),
                        }
                        .into());
                    }
                    _ => {
                        return Err(RegistryError::Layout {
                            path: path.display().to_string(),
                            reason: format!(
                                "index.json names {} images and none is annotated {KIND_ANNOTATION}={KIND_IMAGE}",
                                images.len()
                            ),
                        }
                        .into());
                    }
                }
            }
        };
        Ok(SavedLayout {
            path: path.to_owned(),
            root_tag: tag_of(&root).filter(|t| !t.starts_with("sha256-")),
            signatures: by_kind(KIND_SIGNATURES).map(|d| d.digest.clone()),
            attestations: by_kind(KIND_ATTESTATIONS).map(|d| d.digest.clone()),
            root,
        })
    }

    /// The manifests among the blobs that have a `subject`, by subject (how `cosign load` finds
    /// the referrers `cosign save` wrote: only as blobs). Only blobs small enough to be manifests
    /// are read, each checked against its digest.
    fn scan_referrers(&self, limit: u64) -> Result<BTreeMap<Digest, Vec<Descriptor>>, Error> {
        let mut found: BTreeMap<Digest, Vec<Descriptor>> = BTreeMap::new();
        for blob in layout::blob_digests(&self.path)? {
            if layout::blob_size(&self.path, &blob).is_none_or(|s| s > limit) {
                continue;
            }
            let bytes = layout::get_blob(&self.path, &blob, limit)?;
            if bytes.first() != Some(&b'{') {
                continue;
            }
            let Ok(m) = Manifest::parse(&bytes, "blob") else { continue };
            let Some(subject) = m.subject else { continue };
            found.entry(subject.digest).or_default().push(Descriptor {
                media_type: crate::registry::manifest_media_type(&bytes, ""),
                size: bytes.len() as u64,
                digest: blob,
                annotations: m.annotations.clone(),
                platform: None,
                artifact_type: m.artifact_type.clone().or_else(|| m.config.map(|c| c.media_type)),
            });
        }
        Ok(found)
    }
}

/// Adds cosign's `kind` annotations to the entries of a saved layout.
fn annotate_kinds(dir: &Path, report: &TransferReport) -> Result<(), Error> {
    let root_kind = if cosign::is_index(&report.media_type) { KIND_IMAGE_INDEX } else { KIND_IMAGE };
    let tag_kind = |tag: &str| {
        if tag == report.digest.attachment_tag("sig") {
            Some(KIND_SIGNATURES)
        } else if tag == report.digest.attachment_tag("att") {
            Some(KIND_ATTESTATIONS)
        } else {
            None
        }
    };
    layout::update_entries(dir, |entries| {
        for e in entries.iter_mut() {
            let tag = e.annotations.as_ref().and_then(|a| a.get(REF_NAME)).cloned();
            let kind = match tag.as_deref() {
                Some(t) if t.starts_with("sha256-") => tag_kind(t),
                _ if e.digest == report.digest => Some(root_kind),
                _ => None,
            };
            if let Some(kind) = kind {
                e.annotations.get_or_insert_with(BTreeMap::new).insert(KIND_ANNOTATION.into(), kind.into());
            }
        }
    })?;
    Ok(())
}

/// A directory removed when dropped.
struct ScratchDir(PathBuf);

impl ScratchDir {
    fn new(parent: &Path) -> Result<Self, Error> {
        let mut b = [0u8; 8];
        let _ = aws_lc_rs::rand::fill(&mut b);
        let dir = parent.join(format!(".ironsign-layout-{}", hex::encode(b)));
        std::fs::create_dir_all(&dir).map_err(|e| InputError::io(&dir, e))?;
        Ok(ScratchDir(dir))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

// ---------------------------------------------------------------------------------------------
// The source side: a repository or layout, with cosign-save layouts' ways of naming attachments.

struct Source<'a> {
    client: &'a RegistryClient,
    location: Location,
    saved: Option<SavedLayout>,
    /// The referrers found among a saved layout's blobs, by subject (read once).
    scanned: tokio::sync::OnceCell<BTreeMap<Digest, Vec<Descriptor>>>,
}

impl<'a> Source<'a> {
    fn new(client: &'a RegistryClient, location: Location, saved: Option<SavedLayout>) -> Self {
        Source { client, location, saved, scanned: Default::default() }
    }

    /// A manifest by digest, checked against it.
    async fn manifest(&self, digest: &Digest) -> Result<crate::registry::FetchedManifest, Error> {
        let fetched = self
            .client
            .get_manifest(&self.location, digest.as_str())
            .await?
            .ok_or_else(|| RegistryError::ImageNotFound { reference: format!("{}@{digest}", self.location) })?;
        if &fetched.digest != digest {
            return Err(RegistryError::DigestMismatch {
                what: format!("manifest {}@{digest}", self.location),
                expected: digest.to_string(),
                actual: fetched.digest.to_string(),
            }
            .into());
        }
        Ok(fetched)
    }

    /// The attachment manifest of `subject` with this tag suffix: its tag, or in a `cosign save`
    /// layout the entry annotated with the matching kind (for the saved image only).
    async fn attachment(
        &self,
        subject: &Digest,
        suffix: &str,
    ) -> Result<Option<crate::registry::FetchedManifest>, Error> {
        let tag = subject.attachment_tag(suffix);
        if let Some(found) = self.client.get_manifest(&self.location, &tag).await? {
            return Ok(Some(found));
        }
        let Some(saved) = self.saved.as_ref().filter(|s| &s.root.digest == subject) else {
            return Ok(None);
        };
        let by_kind = match suffix {
            "sig" => saved.signatures.as_ref(),
            "att" => saved.attestations.as_ref(),
            _ => None,
        };
        match by_kind {
            Some(d) => Ok(Some(self.manifest(d).await?)),
            None => Ok(None),
        }
    }

    /// The referrers of `subject`, and the source's fallback index bytes when that is where they are.
    async fn referrers(&self, subject: &Digest, limit: usize) -> Result<(Vec<Descriptor>, Option<Vec<u8>>), Error> {
        let found = self.client.get_referrers(&self.location, subject, limit).await?;
        match found.source {
            ReferrersSource::FallbackTag => {
                let index = match &found.fallback_index {
                    Some(f) => Some(self.manifest(&f.digest).await?.bytes),
                    None => None,
                };
                Ok((found.descriptors, index))
            }
            ReferrersSource::Api => Ok((found.descriptors, None)),
            ReferrersSource::None => {
                let Some(saved) = &self.saved else { return Ok((Vec::new(), None)) };
                let by_subject = self
                    .scanned
                    .get_or_try_init(|| {
                        let (saved, limit) = (saved.clone(), self.client.limits().max_manifest_size);
                        blocking(move || saved.scan_referrers(limit))
                    })
                    .await?;
                Ok((by_subject.get(subject).cloned().unwrap_or_default(), None))
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The plan and its execution.

/// A manifest to write, with the blobs it names.
struct Planned {
    digest: Digest,
    media_type: String,
    bytes: Vec<u8>,
    blobs: Vec<Descriptor>,
    tag: Option<String>,
    /// The transfer's image: in a layout, an index.json entry even without a tag.
    root: bool,
    /// Index into the report's attachments, for attachments.
    attachment: Option<usize>,
}

/// Referrers of one subject to register on the destination.
struct ReferrerGroup {
    subject: Digest,
    descriptors: Vec<Descriptor>,
    source_index: Option<Vec<u8>>,
}

struct Transfer<'a> {
    client: &'a RegistryClient,
    source: Source<'a>,
    destination: Location,
    options: &'a TransferOptions,
}

#[derive(Default)]
struct Plan {
    manifests: Vec<Planned>,
    seen: HashSet<Digest>,
    attachments: Vec<TransferredAttachment>,
    referrers: Vec<ReferrerGroup>,
}

impl Transfer<'_> {
    async fn run(
        &self,
        root: crate::registry::ManifestRef,
        tag: Option<String>,
        root_entry: bool,
    ) -> Result<TransferReport, Error> {
        let selection = self.options.selection;
        let mut plan = Plan::default();
        self.progress("plan", 0, 0, 0, 0);
        // The image: every manifest of its tree, children first.
        let mut entities = Vec::new();
        self.add_tree(&mut plan, &root.digest, 0, selection.image, &mut entities).await?;
        if selection.image
            && let Some(p) = plan.manifests.iter_mut().find(|p| p.digest == root.digest)
        {
            p.tag = tag.clone();
            p.root = root_entry || tag.is_none();
        }
        // Attachments of every manifest of the image, then theirs.
        let mut frontier = entities;
        for _depth in 0..ATTACHMENT_DEPTH {
            let mut next = Vec::new();
            for subject in &frontier {
                self.add_attachments(&mut plan, subject, &mut next).await?;
            }
            frontier = next;
        }
        let report = self.execute(plan, &root, tag.filter(|_| selection.image)).await?;
        Ok(report)
    }

    fn progress(&self, phase: &'static str, done: usize, total: usize, bytes: u64, total_bytes: u64) {
        if let Some(p) = &self.options.progress {
            p(&TransferProgress { phase, done, total, bytes, total_bytes });
        }
    }

    /// Adds `digest` and (for an index) its children to the plan, children first; `entities`
    /// receives every manifest of the tree (whose attachments are copied). With `write` false the
    /// tree is only walked.
    async fn add_tree(
        &self,
        plan: &mut Plan,
        digest: &Digest,
        depth: usize,
        write: bool,
        entities: &mut Vec<Digest>,
    ) -> Result<Option<usize>, Error> {
        if !plan.seen.insert(digest.clone()) {
            return Ok(None);
        }
        if plan.seen.len() > self.options.max_manifests {
            return Err(RegistryError::TooMany {
                what: format!("manifests to transfer from {}", self.source.location),
                count: plan.seen.len(),
                limit: self.options.max_manifests,
            }
            .into());
        }
        let fetched = self.source.manifest(digest).await?;
        let what = format!("manifest {}@{digest}", self.source.location);
        let manifest = Manifest::parse(&fetched.bytes, &what)?;
        entities.push(digest.clone());
        if cosign::is_index(&fetched.media_type) {
            if depth >= MAX_INDEX_DEPTH {
                return Err(RegistryError::TooMany { what, count: depth + 1, limit: MAX_INDEX_DEPTH }.into());
            }
            for child in &manifest.manifests {
                Box::pin(self.add_tree(plan, &child.digest, depth + 1, write, entities)).await?;
            }
        }
        if !write {
            return Ok(None);
        }
        let mut blobs = Vec::new();
        blobs.extend(manifest.config.iter().cloned());
        blobs.extend(manifest.layers.iter().cloned());
        if blobs.len() > self.client.limits().max_layers + 1 {
            return Err(
                RegistryError::TooMany { what, count: blobs.len(), limit: self.client.limits().max_layers }.into()
            );
        }
        plan.manifests.push(Planned {
            digest: digest.clone(),
            media_type: fetched.media_type,
            bytes: fetched.bytes,
            blobs,
            tag: None,
            root: false,
            attachment: None,
        });
        Ok(Some(plan.manifests.len() - 1))
    }

    async fn add_attachments(&self, plan: &mut Plan, subject: &Digest, next: &mut Vec<Digest>) -> Result<(), Error> {
        let selection = self.options.selection;
        for (kind, suffix) in selection.tag_kinds() {
            let Some(found) = self.source.attachment(subject, suffix).await? else { continue };
            if plan.seen.contains(&found.digest) {
                continue;
            }
            let mut walked = Vec::new();
            if let Some(i) = self.add_tree(plan, &found.digest, 0, true, &mut walked).await? {
                let tag = subject.attachment_tag(suffix);
                plan.attachments.push(TransferredAttachment {
                    subject: subject.clone(),
                    kind,
                    digest: found.digest.clone(),
                    tag: Some(tag.clone()),
                    copied: false,
                });
                plan.manifests[i].tag = Some(tag);
                plan.manifests[i].attachment = Some(plan.attachments.len() - 1);
            }
            next.extend(walked);
        }
        if selection.referrers {
            let (descriptors, source_index) = self.source.referrers(subject, self.options.max_referrers).await?;
            if descriptors.is_empty() {
                return Ok(());
            }
            for d in &descriptors {
                let mut walked = Vec::new();
                if let Some(i) = self.add_tree(plan, &d.digest, 0, true, &mut walked).await? {
                    plan.attachments.push(TransferredAttachment {
                        subject: subject.clone(),
                        kind: "referrer",
                        digest: d.digest.clone(),
                        tag: None,
                        copied: false,
                    });
                    plan.manifests[i].attachment = Some(plan.attachments.len() - 1);
                }
                next.extend(walked);
            }
            plan.referrers.push(ReferrerGroup { subject: subject.clone(), descriptors, source_index });
        }
        Ok(())
    }

    async fn execute(
        &self,
        mut plan: Plan,
        root: &crate::registry::ManifestRef,
        tag: Option<String>,
    ) -> Result<TransferReport, Error> {
        let client = self.client;
        let dst = &self.destination;
        let workers = self.options.max_workers.max(1);
        // What the destination has: every manifest by digest, and the tags to be written.
        let present: Vec<bool> = join_bounded(
            plan.manifests
                .iter()
                .map(|p| async move { Ok(client.head_manifest(dst, p.digest.as_str()).await?.is_some()) }),
            workers,
        )
        .await?;
        let tagged: Vec<(usize, String)> =
            plan.manifests.iter().enumerate().filter_map(|(i, p)| p.tag.clone().map(|t| (i, t))).collect();
        let tag_targets: Vec<Option<Digest>> = join_bounded(
            tagged.iter().map(|(_, t)| async move { Ok(client.head_manifest(dst, t).await?.map(|m| m.digest)) }),
            workers,
        )
        .await?;
        let mut tag_present = vec![false; plan.manifests.len()];
        for ((i, t), target) in tagged.iter().zip(&tag_targets) {
            match target {
                Some(d) if d == &plan.manifests[*i].digest => tag_present[*i] = true,
                Some(d) if !self.options.force => {
                    return Err(InputError::InvalidArgument {
                        name: "force".into(),
                        reason: format!(
                            "{dst}:{t} already exists as {d}, the source has {}; overwrite it with force",
                            plan.manifests[*i].digest
                        ),
                    }
                    .into());
                }
                _ => {}
            }
        }
        // The blobs of the manifests the destination lacks (a registry refuses a manifest whose
        // blobs are missing, so a present manifest's blobs are present), minus those it has.
        let mut wanted: BTreeMap<Digest, u64> = BTreeMap::new();
        for (p, present) in plan.manifests.iter().zip(&present) {
            if !present {
                for b in &p.blobs {
                    wanted.insert(b.digest.clone(), b.size);
                }
            }
        }
        let wanted: Vec<(Digest, u64)> = wanted.into_iter().collect();
        let have: Vec<bool> =
            join_bounded(wanted.iter().map(|(d, _)| async move { client.has_blob_for_push(dst, d).await }), workers)
                .await?;
        let missing: Vec<&(Digest, u64)> = wanted.iter().zip(&have).filter(|(_, h)| !**h).map(|(w, _)| w).collect();
        let total_bytes: u64 = missing.iter().map(|(_, s)| s).sum();
        let bytes = Arc::new(AtomicU64::new(0));
        let done = Arc::new(AtomicUsize::new(0));
        let on_chunk: crate::registry::stream::ChunkCallback = {
            let (bytes, done, progress, total) =
                (bytes.clone(), done.clone(), self.options.progress.clone(), missing.len());
            Arc::new(move |n| {
                let b = bytes.fetch_add(n, Ordering::Relaxed) + n;
                if let Some(p) = &progress {
                    p(&TransferProgress {
                        phase: "blobs",
                        done: done.load(Ordering::Relaxed),
                        total,
                        bytes: b,
                        total_bytes,
                    });
                }
            })
        };
        self.progress("blobs", 0, missing.len(), 0, total_bytes);
        let copies: Vec<BlobCopy> = join_bounded(
            missing.iter().map(|(digest, size)| {
                let on_chunk = on_chunk.clone();
                let done = done.clone();
                async move {
                    let outcome = self.copy_blob(digest, *size, on_chunk).await?;
                    done.fetch_add(1, Ordering::Relaxed);
                    Ok(outcome)
                }
            }),
            workers,
        )
        .await?;
        self.progress("blobs", missing.len(), missing.len(), bytes.load(Ordering::Relaxed), total_bytes);
        let mut blobs = BlobCounts { skipped: wanted.len() - missing.len(), ..Default::default() };
        let mut bytes_copied = 0;
        for c in &copies {
            match c {
                BlobCopy::Mounted => blobs.mounted += 1,
                BlobCopy::Copied(n) => {
                    blobs.copied += 1;
                    bytes_copied += n;
                }
            }
        }
        // Manifests, in plan order: children before their index, a subject before its attachments.
        let mut manifests = ManifestCounts::default();
        let total = plan.manifests.len();
        for (i, p) in plan.manifests.iter().enumerate() {
            if present[i] {
                manifests.skipped += 1;
            } else {
                manifests.copied += 1;
                if let Some(a) = p.attachment {
                    plan.attachments[a].copied = true;
                }
            }
            if !(present[i] && (p.tag.is_none() || tag_present[i])) {
                self.put_manifest(p).await?;
            }
            self.progress("manifests", i + 1, total, bytes_copied, total_bytes);
        }
        let mut fallback_indexes_written = 0;
        for group in &plan.referrers {
            if self.register_referrers(group).await? {
                fallback_indexes_written += 1;
            }
        }
        Ok(TransferReport {
            source: self.source.location.to_string(),
            destination: dst.to_string(),
            digest: root.digest.clone(),
            media_type: root.media_type.clone(),
            tag,
            image: self.options.selection.image,
            manifests,
            blobs,
            bytes_copied,
            attachments: plan.attachments,
            fallback_indexes_written,
        })
    }

    /// One blob, retried from the start when the transfer breaks (a stream cannot be replayed);
    /// content that does not match its digest is not retried.
    async fn copy_blob(
        &self,
        digest: &Digest,
        size: u64,
        on_chunk: crate::registry::stream::ChunkCallback,
    ) -> Result<BlobCopy, Error> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result =
                self.client.copy_blob(&self.source.location, &self.destination, digest, size, on_chunk.clone()).await;
            match result {
                Err(Error::Registry(RegistryError::Transport { .. } | RegistryError::Http { .. }))
                    if attempt < BLOB_ATTEMPTS =>
                {
                    tracing::debug!(%digest, attempt, "blob transfer interrupted; starting it over");
                }
                other => return other,
            }
        }
    }

    async fn put_manifest(&self, p: &Planned) -> Result<(), Error> {
        let dst = &self.destination;
        match (&p.tag, dst) {
            (Some(tag), _) => {
                self.client.put_manifest(dst, tag, &p.bytes, &p.media_type).await?;
            }
            (None, Location::Layout { path }) if !p.root => {
                // Untagged manifests of a layout are blobs only: index.json lists what is tagged.
                layout::put_blob(path, &p.digest, &p.bytes)?;
            }
            (None, _) => {
                self.client.put_manifest(dst, p.digest.as_str(), &p.bytes, &p.media_type).await?;
            }
        }
        Ok(())
    }

    /// Makes the destination list `group`'s referrers: nothing to do when its registry has the
    /// referrers API; otherwise the fallback index is merged and written. True when written.
    async fn register_referrers(&self, group: &ReferrerGroup) -> Result<bool, Error> {
        let existing = self.client.get_referrers(&self.destination, &group.subject, self.options.max_referrers).await?;
        if existing.source == ReferrersSource::Api {
            return Ok(false);
        }
        let known: BTreeSet<&Digest> = existing.descriptors.iter().map(|d| &d.digest).collect();
        let new: Vec<&Descriptor> = group.descriptors.iter().filter(|d| !known.contains(&d.digest)).collect();
        if new.is_empty() {
            return Ok(false);
        }
        let bytes = match (&group.source_index, existing.descriptors.is_empty()) {
            // Nothing there yet: the source's index, byte for byte (its digest is kept too).
            (Some(source_index), true) => source_index.clone(),
            _ => {
                let mut manifests = existing.descriptors.clone();
                manifests.extend(new.into_iter().cloned());
                serde_json::to_vec(&serde_json::json!({
                    "schemaVersion": 2,
                    "mediaType": cosign::OCI_INDEX,
                    "manifests": manifests,
                }))
                .map_err(|e| RegistryError::InvalidResponse { what: "referrers index".into(), reason: e.to_string() })?
            }
        };
        let tag = group.subject.attachment_tag("");
        self.client.put_manifest(&self.destination, &tag, &bytes, cosign::OCI_INDEX).await?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests;
