//! Reading and writing images and their attachments, in a registry or an OCI image layout.
//!
//! [`RegistryClient`] speaks the OCI Distribution API (anonymous, basic and bearer-token auth,
//! one token cache for every request) and treats `oci:` image-layout directories as a second
//! backend with the same operations. Every read is bounded by [`Limits`] and every blob or
//! manifest fetched by digest is checked against it.

pub mod auth;
mod bundles;
pub(crate) mod layout;
pub(crate) mod remote;
pub(crate) mod stream;

use crate::cosign::{self, AttachmentKind, Descriptor, Limits, Manifest, SignatureLayer, SignedImage};
use crate::error::{Error, RegistryError};
use crate::reference::{Digest, ImageReference, Location};
pub use auth::{Credential, Keychain};
pub use bundles::BundlePurpose;
pub use layout::REF_NAME;
pub use layout::init as init_layout;
pub use remote::MAX_LISTING_PAGES;
use remote::{Access, ReferrersAnswer, Remote};
use std::collections::BTreeMap;
use std::time::Duration;

/// How to reach registries.
#[derive(Debug, Clone)]
pub struct RegistryOptions {
    /// Registries (`host:port`) reached over plain HTTP. Loopback addresses always are.
    pub insecure_registries: Vec<String>,
    /// Extra CA certificates (PEM) trusted for registry TLS, beside the system's.
    pub ca_certificates_pem: Vec<Vec<u8>>,
    /// Accept any TLS certificate from registries (cosign's `--allow-insecure-registry`, for
    /// testing): the connection is then unauthenticated, as plain HTTP is. What is read is still
    /// checked against its digest and signatures are still verified.
    pub accept_invalid_certificates: bool,
    /// Where credentials come from.
    pub keychain: Keychain,
    /// `User-Agent`.
    pub user_agent: String,
    /// Connection timeout.
    pub connect_timeout: Duration,
    /// Timeout between reads of a response.
    pub read_timeout: Duration,
    /// Longest a whole request may take, response body included, so a registry that trickles an
    /// endless body cannot stall a run. Streamed SBOM transfers get this plus one second per MiB.
    pub request_timeout: Duration,
    /// Bounds on what is read.
    pub limits: Limits,
    /// Most requests to one registry awaiting their answer at once, however many operations run
    /// concurrently (the cap applies until the response headers arrive).
    pub max_requests_per_registry: usize,
}

impl Default for RegistryOptions {
    fn default() -> Self {
        RegistryOptions {
            insecure_registries: Vec::new(),
            ca_certificates_pem: Vec::new(),
            accept_invalid_certificates: false,
            keychain: Keychain::anonymous(),
            user_agent: concat!("ironsign/", env!("CARGO_PKG_VERSION")).into(),
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(60),
            request_timeout: Duration::from_secs(300),
            limits: Limits::default(),
            max_requests_per_registry: 32,
        }
    }
}

/// A manifest's identity: digest, media type, size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestRef {
    /// Its digest.
    pub digest: Digest,
    /// Its media type.
    pub media_type: String,
    /// Its size.
    pub size: u64,
}

/// A manifest's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedManifest {
    /// The exact bytes.
    pub bytes: Vec<u8>,
    /// The media type (from the response, or from the content when the response has none).
    pub media_type: String,
    /// The digest of the bytes.
    pub digest: Digest,
}

/// The media type of manifest bytes: the declared one, else the `mediaType` field, else guessed
/// from the shape (OCI allows omitting it).
pub(crate) fn manifest_media_type(bytes: &[u8], declared: &str) -> String {
    let declared = cosign::media_type_essence(declared);
    if cosign::MANIFEST_MEDIA_TYPES.contains(&declared.as_str()) {
        return declared;
    }
    let v: serde_json::Value = serde_json::from_slice(bytes).unwrap_or_default();
    if let Some(mt) = v.get("mediaType").and_then(|m| m.as_str()) {
        return mt.to_owned();
    }
    if v.get("manifests").is_some() { cosign::OCI_INDEX.into() } else { cosign::OCI_MANIFEST.into() }
}

/// A client for registries and image layouts.
pub struct RegistryClient {
    remote: Remote,
    limits: Limits,
}

impl std::fmt::Debug for RegistryClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryClient").field("limits", &self.limits).finish_non_exhaustive()
    }
}

impl RegistryClient {
    /// A client with these options.
    pub fn new(options: RegistryOptions) -> Result<Self, Error> {
        Ok(RegistryClient { remote: Remote::new(&options)?, limits: options.limits })
    }

    /// The bounds this client applies.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Resolves a reference to the digest of its manifest (a HEAD request for a tag; for a
    /// digest reference, a HEAD as well, to learn the media type and that it exists).
    pub async fn resolve(&self, reference: &ImageReference) -> Result<ManifestRef, Error> {
        let version = reference.version();
        let not_found = || RegistryError::ImageNotFound { reference: reference.to_string() };
        let found = match &reference.location {
            Location::Registry { registry, repository } => {
                let version = version.unwrap_or_else(|| "latest".into());
                self.remote.head_manifest(registry, repository, &version).await?
            }
            Location::Layout { path } => layout::resolve(path, version.as_deref())?,
        };
        let found = found.ok_or_else(not_found)?;
        if let Some(d) = &reference.digest
            && &found.digest != d
        {
            return Err(RegistryError::DigestMismatch {
                what: format!("manifest {reference}"),
                expected: d.to_string(),
                actual: found.digest.to_string(),
            }
            .into());
        }
        Ok(found)
    }

    /// The digest of a reference: the one written in it, without a request, or the tag resolved.
    pub async fn digest_of(&self, reference: &ImageReference) -> Result<Digest, Error> {
        match &reference.digest {
            Some(d) => Ok(d.clone()),
            None => Ok(self.resolve(reference).await?.digest),
        }
    }

    /// A manifest's digest, media type and size by tag or digest (a HEAD request); `None` if
    /// there is none.
    pub async fn head_manifest(&self, location: &Location, reference: &str) -> Result<Option<ManifestRef>, Error> {
        Ok(match location {
            Location::Registry { registry, repository } => {
                self.remote.head_manifest(registry, repository, reference).await?
            }
            Location::Layout { path } => layout::resolve(path, Some(reference))?,
        })
    }

    /// Fetches a manifest by tag or digest; `None` if there is none.
    pub async fn get_manifest(&self, location: &Location, reference: &str) -> Result<Option<FetchedManifest>, Error> {
        let limit = self.limits.max_manifest_size;
        Ok(match location {
            Location::Registry { registry, repository } => {
                self.remote.get_manifest(registry, repository, reference, limit).await?
            }
            Location::Layout { path } => layout::get_manifest(path, reference, limit)?,
        })
    }

    /// Stores a manifest under a tag or by digest, returning its digest.
    pub async fn put_manifest(
        &self,
        location: &Location,
        reference: &str,
        bytes: &[u8],
        media_type: &str,
    ) -> Result<Digest, Error> {
        Ok(match location {
            Location::Registry { registry, repository } => {
                self.remote.put_manifest(registry, repository, reference, bytes, media_type).await?
            }
            Location::Layout { path } => layout::put_manifest(path, reference, bytes, media_type)?,
        })
    }

    /// Deletes a manifest by digest (every tag on it goes too). False if it did not exist.
    pub async fn delete_manifest(&self, location: &Location, digest: &Digest) -> Result<bool, Error> {
        Ok(match location {
            Location::Registry { registry, repository } => {
                self.remote.delete_manifest(registry, repository, digest).await?
            }
            Location::Layout { path } => layout::delete_manifest(path, digest)?,
        })
    }

    /// Whether a blob exists.
    pub async fn blob_exists(&self, location: &Location, digest: &Digest) -> Result<bool, Error> {
        Ok(match location {
            Location::Registry { registry, repository } => {
                self.remote.blob_exists(registry, repository, digest, Access::Pull).await?
            }
            Location::Layout { path } => layout::blob_exists(path, digest)?,
        })
    }

    /// Reads a blob of at most `limit` bytes, checking its digest.
    pub async fn get_blob(&self, location: &Location, digest: &Digest, limit: u64) -> Result<Vec<u8>, Error> {
        Ok(match location {
            Location::Registry { registry, repository } => {
                self.remote.get_blob(registry, repository, digest, limit).await?
            }
            Location::Layout { path } => layout::get_blob(path, digest, limit)?,
        })
    }

    /// Uploads a blob unless it is already there.
    pub async fn put_blob(&self, location: &Location, data: &[u8]) -> Result<Digest, Error> {
        let digest = Digest::sha256(data);
        match location {
            Location::Registry { registry, repository } => {
                if !self.remote.blob_exists(registry, repository, &digest, Access::Push).await? {
                    self.remote
                        .put_blob(registry, repository, &digest, bytes::Bytes::copy_from_slice(data), None)
                        .await?;
                }
            }
            Location::Layout { path } => layout::put_blob(path, &digest, data)?,
        }
        Ok(digest)
    }

    /// Uploads a file as a blob without holding it in memory (for SBOMs): hashes it in one pass,
    /// then streams it unless the blob is already there. Bounded by `Limits::max_sbom_size`.
    pub async fn put_blob_file(&self, location: &Location, source: &std::path::Path) -> Result<(Digest, u64), Error> {
        let limit = self.limits.max_sbom_size;
        match location {
            Location::Registry { registry, repository } => {
                let src = source.to_owned();
                let (digest, size) =
                    tokio::task::spawn_blocking(move || hash_file(&src, limit)).await.map_err(|e| {
                        crate::error::InputError::Io { path: source.display().to_string(), reason: e.to_string() }
                    })??;
                if !self.remote.blob_exists(registry, repository, &digest, Access::Push).await? {
                    self.remote.put_blob_file(registry, repository, &digest, source, size).await?;
                }
                Ok((digest, size))
            }
            Location::Layout { path } => {
                let (path, src) = (path.clone(), source.to_owned());
                Ok(tokio::task::spawn_blocking(move || layout::put_blob_file(&path, &src, limit))
                    .await
                    .map_err(|e| RegistryError::Layout { path: String::new(), reason: e.to_string() })??)
            }
        }
    }

    /// Downloads a blob into the file `destination` without holding it in memory: the content is
    /// written to a temporary file beside it, checked against `digest` and at most `limit` bytes,
    /// and only then renamed into place. Returns the size.
    pub async fn get_blob_to_file(
        &self,
        location: &Location,
        digest: &Digest,
        limit: u64,
        destination: &std::path::Path,
    ) -> Result<u64, Error> {
        let io_error = |e: std::io::Error| crate::error::InputError::io(destination, e);
        let dir = destination.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
        let mut suffix = [0u8; 8];
        let _ = aws_lc_rs::rand::fill(&mut suffix);
        let tmp = dir.join(format!(".ironsign-download-{}", hex::encode(suffix)));
        let result: Result<u64, Error> = async {
            match location {
                Location::Registry { registry, repository } => {
                    let mut file = tokio::fs::File::create(&tmp).await.map_err(io_error)?;
                    let size = self.remote.get_blob_streaming(registry, repository, digest, limit, &mut file).await?;
                    file.sync_all().await.map_err(io_error)?;
                    Ok(size)
                }
                Location::Layout { path } => {
                    let (path, digest, tmp) = (path.clone(), digest.clone(), tmp.clone());
                    tokio::task::spawn_blocking(move || -> Result<u64, Error> {
                        let mut file =
                            std::fs::File::create(&tmp).map_err(|e| crate::error::InputError::io(&tmp, e))?;
                        let size = layout::get_blob_streaming(&path, &digest, limit, &mut file)?;
                        file.sync_all().map_err(|e| crate::error::InputError::io(&tmp, e))?;
                        Ok(size)
                    })
                    .await
                    .map_err(|e| RegistryError::Layout { path: String::new(), reason: e.to_string() })?
                }
            }
        }
        .await;
        match result {
            Ok(size) => {
                tokio::fs::rename(&tmp, destination).await.map_err(io_error)?;
                Ok(size)
            }
            Err(e) => {
                let _ = tokio::fs::remove_file(&tmp).await;
                Err(e)
            }
        }
    }

    /// Lists the tags of a repository (following pagination), at most `limit`.
    pub async fn list_tags(&self, location: &Location, limit: usize) -> Result<Vec<String>, Error> {
        Ok(match location {
            Location::Registry { registry, repository } => self.remote.list_tags(registry, repository, limit).await?,
            Location::Layout { path } => layout::list_tags(path)?,
        })
    }

    /// Reads the attachment manifest (`.sig`, `.att`, `.sbom`) of a digest, bounded by the layer
    /// limit. `None` when there is none.
    pub async fn get_attachment_manifest(
        &self,
        location: &Location,
        digest: &Digest,
        kind: AttachmentKind,
    ) -> Result<Option<(FetchedManifest, Manifest)>, Error> {
        let tag = digest.attachment_tag(kind.suffix());
        let Some(fetched) = self.get_manifest(location, &tag).await? else {
            return Ok(None);
        };
        let manifest = Manifest::parse_bounded(&fetched.bytes, &format!("{tag} manifest"), &self.limits)?;
        Ok(Some((fetched, manifest)))
    }

    /// Fetches an image's signatures in both formats: the layers of its `.sig` manifest with their
    /// payloads, then its Sigstore bundle referrers that are image signatures. A tag costs one
    /// request to resolve; then one for the `.sig` manifest and one per distinct layer blob, one
    /// for the referrers listing (and the fallback tag on a registry without the API), and two
    /// per bundle. Both formats together are bounded by `Limits::max_signatures` and
    /// `Limits::max_fetched_bytes`.
    pub async fn fetch_signatures(&self, reference: &ImageReference) -> Result<SignedImage, Error> {
        let digest = self.digest_of(reference).await?;
        let budget = FetchBudget::new(&self.limits);
        let image = self.fetch_attached_within(reference, &digest, AttachmentKind::Signature, &budget).await?;
        self.with_bundles(reference, image, BundlePurpose::Signatures, &budget).await
    }

    /// Fetches the layers of an attachment manifest of `digest`, payloads included, within
    /// `Limits::max_fetched_bytes`.
    pub async fn fetch_attached(
        &self,
        reference: &ImageReference,
        digest: &Digest,
        kind: AttachmentKind,
    ) -> Result<SignedImage, Error> {
        self.fetch_attached_within(reference, digest, kind, &FetchBudget::new(&self.limits)).await
    }

    pub(crate) async fn fetch_attached_within(
        &self,
        reference: &ImageReference,
        digest: &Digest,
        kind: AttachmentKind,
        budget: &FetchBudget,
    ) -> Result<SignedImage, Error> {
        let manifest = self.read_attached_manifest(reference, digest, kind, budget).await?;
        self.read_attached_blobs(&reference.location, manifest, budget).await
    }

    /// The first half of [`Self::fetch_attached_within`]: the attachment manifest (its digest
    /// says what the attachment holds), its blobs not read yet.
    pub(crate) async fn read_attached_manifest(
        &self,
        reference: &ImageReference,
        digest: &Digest,
        kind: AttachmentKind,
        budget: &FetchBudget,
    ) -> Result<AttachedManifest, Error> {
        let image =
            SignedImage { repository: reference.repository_name(), digest: digest.clone(), signatures: Vec::new() };
        let Some((fetched, manifest)) = self.get_attachment_manifest(&reference.location, digest, kind).await? else {
            return Ok(AttachedManifest { image, digest: None, pending: Vec::new() });
        };
        budget.charge(fetched.bytes.len() as u64, || format!("{} manifest", digest.attachment_tag(kind.suffix())))?;
        budget.count(manifest.layers.len())?;
        let pending = manifest
            .layers
            .into_iter()
            .map(|mut layer| PendingLayer {
                annotations: layer.annotations.take().unwrap_or_default(),
                layer,
                referrer: None,
            })
            .collect();
        Ok(AttachedManifest { image, digest: Some(fetched.digest), pending })
    }

    /// The second half: the layers' blobs.
    pub(crate) async fn read_attached_blobs(
        &self,
        location: &Location,
        manifest: AttachedManifest,
        budget: &FetchBudget,
    ) -> Result<SignedImage, Error> {
        let AttachedManifest { mut image, pending, .. } = manifest;
        image.signatures = self.fetch_layer_blobs(location, pending, budget).await?;
        Ok(image)
    }

    /// Reads the blobs of `pending` layers. Every layer's declared size is checked against
    /// `Limits::max_blob_size` and charged to `budget` before anything is read, so a manifest
    /// naming one large blob many times is refused, not held many times; each distinct digest is
    /// read once, at most 8 at a time.
    pub(crate) async fn fetch_layer_blobs(
        &self,
        location: &Location,
        pending: Vec<PendingLayer>,
        budget: &FetchBudget,
    ) -> Result<Vec<SignatureLayer>, Error> {
        let max_blob = self.limits.max_blob_size;
        // Each distinct digest with the largest size any layer declares for it and how many
        // layers name it.
        let mut distinct: BTreeMap<&Digest, (u64, usize)> = BTreeMap::new();
        for p in &pending {
            let size = p.layer.size;
            if size > max_blob {
                return Err(RegistryError::TooLarge { what: p.what(), size, limit: max_blob }.into());
            }
            budget.charge(size, || p.what())?;
            let (largest, uses) = distinct.entry(&p.layer.digest).or_default();
            (*largest, *uses) = ((*largest).max(size), *uses + 1);
        }
        // Collected before streaming: a stream over the mapping closure makes rustc unable to prove
        // the future `Send` (a higher-ranked lifetime limitation), and async bindings need it.
        let fetches: Vec<_> = distinct
            .iter()
            .map(|(&digest, &(size, _))| async move { Ok((digest, self.get_blob(location, digest, size).await?)) })
            .collect();
        let mut blobs: BTreeMap<&Digest, Vec<u8>> = join_bounded(fetches, 8).await?.into_iter().collect();
        let mut layers = Vec::with_capacity(pending.len());
        for p in &pending {
            let digest = &p.layer.digest;
            let size = blobs.get(digest).map_or(0, |b| b.len() as u64);
            // Read with the largest declared size: a layer declaring less than the blob is
            // refused as its own read would have been.
            if size > p.layer.size {
                return Err(RegistryError::TooLarge { what: p.what(), size, limit: p.layer.size }.into());
            }
            // The last layer naming a blob takes it, the others a copy (charged above).
            let uses = &mut distinct.get_mut(digest).expect("counted above").1;
            *uses -= 1;
            let payload = match *uses {
                0 => blobs.remove(digest),
                _ => blobs.get(digest).cloned(),
            }
            .expect("every distinct digest was read");
            layers.push(SignatureLayer {
                media_type: p.layer.media_type.clone(),
                payload,
                payload_digest: digest.clone(),
                annotations: p.annotations.clone(),
                referrer: p.referrer.clone(),
            });
        }
        Ok(layers)
    }
}

/// An attachment manifest read, its layers' blobs not yet.
pub(crate) struct AttachedManifest {
    image: SignedImage,
    /// The manifest's digest; `None` when there is no such attachment.
    pub(crate) digest: Option<Digest>,
    pending: Vec<PendingLayer>,
}

/// A signature layer whose blob is still to be read: its descriptor, the annotations it gets
/// (the layer's own for a `.sig`/`.att` layer, the referrer manifest's for a bundle) and, for a
/// bundle, the referrer manifest's digest.
pub(crate) struct PendingLayer {
    pub(crate) layer: Descriptor,
    pub(crate) annotations: BTreeMap<String, String>,
    pub(crate) referrer: Option<Digest>,
}

impl PendingLayer {
    fn what(&self) -> String {
        match &self.referrer {
            Some(_) => format!("bundle {}", self.layer.digest),
            None => format!("layer {}", self.layer.digest),
        }
    }
}

/// What one fetch of an image's signatures or attestations may still read, shared by both
/// storage formats and by concurrent reads: `Limits::max_fetched_bytes` bytes and
/// `Limits::max_signatures` signatures. Memory is bounded per verification, not only per blob.
pub(crate) struct FetchBudget {
    max_bytes: u64,
    bytes: std::sync::atomic::AtomicU64,
    max_signatures: usize,
    signatures: std::sync::atomic::AtomicUsize,
}

impl FetchBudget {
    pub(crate) fn new(limits: &Limits) -> Self {
        FetchBudget {
            max_bytes: limits.max_fetched_bytes,
            bytes: 0.into(),
            max_signatures: limits.max_signatures,
            signatures: 0.into(),
        }
    }

    /// Counts `size` more bytes held; over the bound, the fetch fails (`REGISTRY_TOO_LARGE`).
    pub(crate) fn charge(&self, size: u64, what: impl FnOnce() -> String) -> Result<(), RegistryError> {
        use std::sync::atomic::Ordering::Relaxed;
        let total = self.bytes.fetch_add(size, Relaxed).saturating_add(size);
        if total > self.max_bytes {
            return Err(RegistryError::TooLarge {
                what: format!("the data read for this image's signatures, up to {},", what()),
                size: total,
                limit: self.max_bytes,
            });
        }
        Ok(())
    }

    /// Counts `n` more signatures; over the bound, the fetch fails (`REGISTRY_TOO_MANY`).
    pub(crate) fn count(&self, n: usize) -> Result<(), RegistryError> {
        use std::sync::atomic::Ordering::Relaxed;
        let total = self.signatures.fetch_add(n, Relaxed).saturating_add(n);
        if total > self.max_signatures {
            return Err(RegistryError::TooMany {
                what: "the signatures of the image (attachment layers and bundle referrers)".into(),
                count: total,
                limit: self.max_signatures,
            });
        }
        Ok(())
    }
}

/// Where the referrers of a manifest were found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReferrersSource {
    /// The registry's referrers API (`GET /v2/<name>/referrers/<digest>`).
    Api,
    /// The referrers tag schema: an OCI index tagged `sha256-<hex>` (registries without the API).
    FallbackTag,
    /// Neither: the registry has no referrers API and there is no fallback index.
    None,
}

/// The referrers of a manifest: descriptors of the manifests whose `subject` it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Referrers {
    /// Where they were found.
    pub source: ReferrersSource,
    /// The fallback index (its digest, media type and size), when that is where they were found.
    pub fallback_index: Option<ManifestRef>,
    /// The referrer manifests, as the registry or the index describes them.
    pub descriptors: Vec<Descriptor>,
}

impl RegistryClient {
    /// Lists the repositories of a registry (its catalog, `GET /v2/_catalog`, following `Link`
    /// pagination), at most `limit`. Registries may restrict the catalog to administrators.
    pub async fn list_repositories(&self, registry: &str, limit: usize) -> Result<Vec<String>, Error> {
        Ok(self.remote.list_repositories(registry, limit).await?)
    }

    /// The referrers of `digest` (OCI 1.1): the registry's referrers API when it has one, else the
    /// fallback index tagged `sha256-<hex>`. At most `limit` descriptors. An image layout has no
    /// API, so only its fallback tag is read. A `sha256-<hex>` tag that is not an index (such as the
    /// entity copy `cosign copy` tags that way) is not a referrers index.
    pub async fn get_referrers(&self, location: &Location, digest: &Digest, limit: usize) -> Result<Referrers, Error> {
        if let Location::Registry { registry, repository } = location
            && let ReferrersAnswer::Api(descriptors) =
                self.remote.get_referrers(registry, repository, digest, limit).await?
        {
            let descriptors = self.referring_to(location, digest, descriptors).await?;
            return Ok(Referrers { source: ReferrersSource::Api, fallback_index: None, descriptors });
        }
        let tag = digest.attachment_tag("");
        let none = Referrers { source: ReferrersSource::None, fallback_index: None, descriptors: Vec::new() };
        let Some(fetched) = self.get_manifest(location, &tag).await? else {
            return Ok(none);
        };
        if !cosign::is_index(&fetched.media_type) || &fetched.digest == digest {
            return Ok(none);
        }
        let index = Manifest::parse(&fetched.bytes, &format!("referrers index {tag}"))?;
        if index.manifests.len() > limit {
            return Err(RegistryError::TooMany {
                what: format!("referrers index {tag}"),
                count: index.manifests.len(),
                limit,
            }
            .into());
        }
        Ok(Referrers {
            source: ReferrersSource::FallbackTag,
            fallback_index: Some(ManifestRef {
                size: fetched.bytes.len() as u64,
                digest: fetched.digest,
                media_type: fetched.media_type,
            }),
            descriptors: index.manifests,
        })
    }
}

impl RegistryClient {
    /// The listed referrers whose manifest names `digest` as its `subject`. A referrers API may
    /// list more: Harbor's lists every accessory of the digest, including the `.sig` manifests it
    /// links by tag, which have no subject (goharbor/harbor `src/server/registry/referrers.go`).
    /// A listed manifest that is gone or unreadable stays, for its reader to judge.
    async fn referring_to(
        &self,
        location: &Location,
        digest: &Digest,
        descriptors: Vec<Descriptor>,
    ) -> Result<Vec<Descriptor>, Error> {
        let checks = descriptors.into_iter().map(|d| async move {
            let refers = match self.get_manifest(location, d.digest.as_str()).await? {
                None => true,
                Some(fetched) => Manifest::parse(&fetched.bytes, "referrer manifest")
                    .map_or(true, |m| m.subject.as_ref().map(|s| &s.digest) == Some(digest)),
            };
            Ok::<_, Error>(refers.then_some(d))
        });
        Ok(join_bounded(checks, 8).await?.into_iter().flatten().collect())
    }
}

/// SHA-256 and size of a file, read in chunks; refuses files over `limit` bytes.
fn hash_file(path: &std::path::Path, limit: u64) -> Result<(Digest, u64), Error> {
    use std::io::Read as _;
    let io_error = |e: std::io::Error| crate::error::InputError::io(path, e);
    let mut file = std::fs::File::open(path).map_err(io_error)?;
    let mut hasher = remote::StreamingDigest::new();
    let mut buf = vec![0u8; 256 << 10];
    loop {
        let n = file.read(&mut buf).map_err(io_error)?;
        if n == 0 {
            return Ok(hasher.finish());
        }
        hasher.update(&buf[..n]);
        if hasher.size > limit {
            return Err(RegistryError::TooLarge { what: path.display().to_string(), size: hasher.size, limit }.into());
        }
    }
}

/// Runs futures with at most `limit` in flight, keeping their order; fails on the first error.
pub(crate) async fn join_bounded<T, F>(futures: impl IntoIterator<Item = F>, limit: usize) -> Result<Vec<T>, Error>
where
    F: std::future::Future<Output = Result<T, Error>>,
{
    use futures_util::{StreamExt, TryStreamExt};
    futures_util::stream::iter(futures).buffered(limit.max(1)).try_collect().await
}
