//! OCI image-layout directories (image-spec `image-layout.md`) as a registry: `index.json` entries
//! annotated with `org.opencontainers.image.ref.name` are the tags, `blobs/<alg>/<hex>` the content.
//! Updates of `index.json` are atomic (write, then rename) and serialised by a lock on the
//! `oci-layout` file, so concurrent signers in several processes do not lose entries.

use super::{FetchedManifest, ManifestRef};
use crate::cosign::Descriptor;
use crate::error::RegistryError;
use crate::reference::Digest;
use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The annotation that names a tag in an image layout.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";

fn err(path: &Path, reason: impl std::fmt::Display) -> RegistryError {
    RegistryError::Layout { path: path.display().to_string(), reason: reason.to_string() }
}

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Index {
    schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    media_type: Option<String>,
    #[serde(default)]
    manifests: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    annotations: Option<BTreeMap<String, String>>,
}

/// Creates an empty layout at `path` if there is none.
pub fn init(path: &Path) -> Result<(), RegistryError> {
    fs::create_dir_all(path.join("blobs/sha256")).map_err(|e| err(path, e))?;
    if !path.join("oci-layout").exists() {
        fs::write(path.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).map_err(|e| err(path, e))?;
    }
    if !path.join("index.json").exists() {
        write_atomic(
            path,
            &path.join("index.json"),
            br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#,
        )?;
    }
    Ok(())
}

fn check(path: &Path) -> Result<(), RegistryError> {
    if !path.join("oci-layout").is_file() {
        return Err(err(path, "not an OCI image layout (no oci-layout file)"));
    }
    Ok(())
}

fn read_index(path: &Path) -> Result<Index, RegistryError> {
    check(path)?;
    let bytes = fs::read(path.join("index.json")).map_err(|e| err(path, format!("index.json: {e}")))?;
    serde_json::from_slice(&bytes).map_err(|e| err(path, format!("index.json: {e}")))
}

fn blob_path(path: &Path, digest: &Digest) -> PathBuf {
    path.join("blobs").join(digest.algorithm()).join(digest.hex())
}

fn write_atomic(dir: &Path, target: &Path, data: &[u8]) -> Result<(), RegistryError> {
    let parent = target.parent().unwrap_or(dir);
    let mut tmp = tempfile_in(parent).map_err(|e| err(dir, e))?;
    tmp.1.write_all(data).and_then(|_| tmp.1.sync_all()).map_err(|e| err(dir, e))?;
    fs::rename(&tmp.0, target).map_err(|e| err(dir, e))?;
    Ok(())
}

fn tempfile_in(dir: &Path) -> std::io::Result<(PathBuf, fs::File)> {
    let mut b = [0u8; 8];
    let _ = aws_lc_rs::rand::fill(&mut b);
    let p = dir.join(format!(".tmp-{}", hex::encode(b)));
    let f = fs::OpenOptions::new().write(true).create_new(true).open(&p)?;
    Ok((p, f))
}

/// Runs `update` on index.json under an exclusive lock.
fn update_index(path: &Path, update: impl FnOnce(&mut Index)) -> Result<(), RegistryError> {
    check(path)?;
    let lock = fs::File::open(path.join("oci-layout")).map_err(|e| err(path, e))?;
    lock.lock().map_err(|e| err(path, format!("lock: {e}")))?;
    let mut index = read_index(path)?;
    update(&mut index);
    let bytes = serde_json::to_vec(&index).map_err(|e| err(path, e))?;
    let result = write_atomic(path, &path.join("index.json"), &bytes);
    let _ = lock.unlock();
    result
}

fn find<'a>(index: &'a Index, reference: &str) -> Option<&'a Descriptor> {
    if reference.contains(':') {
        index.manifests.iter().find(|d| d.digest.as_str() == reference)
    } else {
        index
            .manifests
            .iter()
            .find(|d| d.annotations.as_ref().and_then(|a| a.get(REF_NAME)).map(String::as_str) == Some(reference))
    }
}

/// Resolves a tag or digest; with neither, the only untagged-or-tagged image in the layout that
/// is not an attachment.
pub(crate) fn resolve(path: &Path, reference: Option<&str>) -> Result<Option<ManifestRef>, RegistryError> {
    let index = read_index(path)?;
    let found = match reference {
        Some(r) => find(&index, r).cloned(),
        None => {
            let images: Vec<&Descriptor> = index.manifests.iter().filter(|d| !is_attachment_tag(d)).collect();
            match images.as_slice() {
                [one] => Some((*one).clone()),
                [] => None,
                _ => {
                    return Err(err(
                        path,
                        "the layout holds several images; name one with oci:DIR:TAG or oci:DIR@sha256:…",
                    ));
                }
            }
        }
    };
    match found {
        Some(d) => Ok(Some(ManifestRef { digest: d.digest, media_type: d.media_type, size: d.size })),
        // A digest reference may name a child manifest that only a blob holds.
        None => match reference.and_then(|r| Digest::parse(r).ok()) {
            Some(digest) if blob_path(path, &digest).is_file() => {
                let m = get_manifest(path, digest.as_str(), u64::MAX)?.ok_or_else(|| err(path, "manifest vanished"))?;
                Ok(Some(ManifestRef { size: m.bytes.len() as u64, digest: m.digest, media_type: m.media_type }))
            }
            _ => Ok(None),
        },
    }
}

fn is_attachment_tag(d: &Descriptor) -> bool {
    d.annotations.as_ref().and_then(|a| a.get(REF_NAME)).is_some_and(|n| n.starts_with("sha256-"))
}

pub(crate) fn get_manifest(path: &Path, reference: &str, limit: u64) -> Result<Option<FetchedManifest>, RegistryError> {
    let index = read_index(path)?;
    let (digest, media_type) = match find(&index, reference) {
        Some(d) => (d.digest.clone(), Some(d.media_type.clone())),
        None => match Digest::parse(reference) {
            Ok(d) if blob_path(path, &d).is_file() => (d, None),
            _ => return Ok(None),
        },
    };
    let bytes = get_blob(path, &digest, limit)?;
    let media_type = super::manifest_media_type(&bytes, media_type.as_deref().unwrap_or(""));
    Ok(Some(FetchedManifest { bytes, media_type, digest }))
}

pub(crate) fn put_manifest(
    path: &Path,
    reference: &str,
    bytes: &[u8],
    media_type: &str,
) -> Result<Digest, RegistryError> {
    let digest = Digest::sha256(bytes);
    put_blob(path, &digest, bytes)?;
    let tag = (!reference.contains(':')).then(|| reference.to_owned());
    update_index(path, |index| {
        match &tag {
            Some(tag) => index.manifests.retain(|d| d.annotations.as_ref().and_then(|a| a.get(REF_NAME)) != Some(tag)),
            None => index
                .manifests
                .retain(|d| !(d.digest == digest && d.annotations.as_ref().is_none_or(|a| !a.contains_key(REF_NAME)))),
        }
        let annotations = tag.map(|t| BTreeMap::from([(REF_NAME.to_owned(), t)]));
        index.manifests.push(Descriptor {
            media_type: media_type.to_owned(),
            size: bytes.len() as u64,
            digest: digest.clone(),
            annotations,
            platform: None,
            artifact_type: None,
        });
    })?;
    Ok(digest)
}

pub(crate) fn delete_manifest(path: &Path, digest: &Digest) -> Result<bool, RegistryError> {
    let mut removed = false;
    update_index(path, |index| {
        let before = index.manifests.len();
        index.manifests.retain(|d| &d.digest != digest);
        removed = index.manifests.len() != before;
    })?;
    Ok(removed)
}

pub(crate) fn blob_exists(path: &Path, digest: &Digest) -> Result<bool, RegistryError> {
    check(path)?;
    Ok(blob_path(path, digest).is_file())
}

pub(crate) fn get_blob(path: &Path, digest: &Digest, limit: u64) -> Result<Vec<u8>, RegistryError> {
    check(path)?;
    let p = blob_path(path, digest);
    let size = fs::metadata(&p).map_err(|e| err(path, format!("blob {digest}: {e}")))?.len();
    if size > limit {
        return Err(RegistryError::TooLarge { what: format!("blob {digest}"), size, limit });
    }
    let bytes = fs::read(&p).map_err(|e| err(path, format!("blob {digest}: {e}")))?;
    if !digest.matches(&bytes) {
        return Err(RegistryError::DigestMismatch {
            what: format!("blob in {}", path.display()),
            expected: digest.to_string(),
            actual: Digest::sha256(&bytes).to_string(),
        });
    }
    Ok(bytes)
}

pub(crate) fn put_blob(path: &Path, digest: &Digest, data: &[u8]) -> Result<(), RegistryError> {
    check(path)?;
    if !digest.matches(data) {
        return Err(RegistryError::DigestMismatch {
            what: "blob to write".into(),
            expected: digest.to_string(),
            actual: Digest::sha256(data).to_string(),
        });
    }
    let target = blob_path(path, digest);
    if target.is_file() {
        return Ok(());
    }
    fs::create_dir_all(target.parent().unwrap_or(path)).map_err(|e| err(path, e))?;
    write_atomic(path, &target, data)
}

/// Copies a file into the layout's blobs while hashing it; returns its digest and size.
pub(crate) fn put_blob_file(path: &Path, source: &Path, limit: u64) -> Result<(Digest, u64), RegistryError> {
    use std::io::Read as _;
    check(path)?;
    let dir = path.join("blobs").join("sha256");
    fs::create_dir_all(&dir).map_err(|e| err(path, e))?;
    let mut input = fs::File::open(source).map_err(|e| err(path, format!("{}: {e}", source.display())))?;
    let (tmp, mut out) = tempfile_in(&dir).map_err(|e| err(path, e))?;
    let result = (|| {
        let mut hasher = super::remote::StreamingDigest::new();
        let mut buf = vec![0u8; 256 << 10];
        loop {
            let n = input.read(&mut buf).map_err(|e| err(path, format!("{}: {e}", source.display())))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            if hasher.size > limit {
                return Err(RegistryError::TooLarge { what: source.display().to_string(), size: hasher.size, limit });
            }
            out.write_all(&buf[..n]).map_err(|e| err(path, e))?;
        }
        out.sync_all().map_err(|e| err(path, e))?;
        let (digest, size) = hasher.finish();
        fs::rename(&tmp, blob_path(path, &digest)).map_err(|e| err(path, e))?;
        Ok((digest, size))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Copies a blob to `out` while hashing it; refuses more than `limit` bytes and content that
/// does not hash to `digest`. The caller must discard `out` on error.
pub(crate) fn get_blob_streaming(
    path: &Path,
    digest: &Digest,
    limit: u64,
    out: &mut dyn Write,
) -> Result<u64, RegistryError> {
    use std::io::Read as _;
    check(path)?;
    let p = blob_path(path, digest);
    let mut input = fs::File::open(&p).map_err(|e| err(path, format!("blob {digest}: {e}")))?;
    let mut hasher = super::remote::StreamingDigest::new();
    let mut buf = vec![0u8; 256 << 10];
    loop {
        let n = input.read(&mut buf).map_err(|e| err(path, format!("blob {digest}: {e}")))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        if hasher.size > limit {
            return Err(RegistryError::TooLarge { what: format!("blob {digest}"), size: hasher.size, limit });
        }
        out.write_all(&buf[..n]).map_err(|e| err(path, e))?;
    }
    hasher.check(digest, &format!("blob in {}", path.display()))
}

pub(crate) fn list_tags(path: &Path) -> Result<Vec<String>, RegistryError> {
    let index = read_index(path)?;
    Ok(index.manifests.iter().filter_map(|d| d.annotations.as_ref()?.get(REF_NAME).cloned()).collect())
}

// Streaming transfer (`crate::transfer`): blob files opened and written piecewise, and the
// index.json entries read and rewritten whole.

/// Opens a blob's file for reading.
pub(crate) fn open_blob(path: &Path, digest: &Digest) -> Result<fs::File, RegistryError> {
    check(path)?;
    fs::File::open(blob_path(path, digest)).map_err(|e| err(path, format!("blob {digest}: {e}")))
}

/// A new temporary file beside the blobs of `digest`'s algorithm, to be renamed into place by
/// [`commit_blob`] once its content is verified.
pub(crate) fn temp_blob(path: &Path, digest: &Digest) -> Result<(PathBuf, fs::File), RegistryError> {
    check(path)?;
    let dir = path.join("blobs").join(digest.algorithm());
    fs::create_dir_all(&dir).map_err(|e| err(path, e))?;
    tempfile_in(&dir).map_err(|e| err(path, e))
}

/// Moves a verified temporary file to the blob path of `digest`.
pub(crate) fn commit_blob(path: &Path, tmp: &Path, digest: &Digest) -> Result<(), RegistryError> {
    fs::rename(tmp, blob_path(path, digest)).map_err(|e| err(path, e))
}

/// The entries of index.json.
pub(crate) fn entries(path: &Path) -> Result<Vec<Descriptor>, RegistryError> {
    Ok(read_index(path)?.manifests)
}

/// Rewrites the entries of index.json under the lock.
pub(crate) fn update_entries(path: &Path, update: impl FnOnce(&mut Vec<Descriptor>)) -> Result<(), RegistryError> {
    update_index(path, |index| update(&mut index.manifests))
}

/// The digests of the blobs a layout holds (`blobs/sha256/*`), for finding manifests no entry names.
pub(crate) fn blob_digests(path: &Path) -> Result<Vec<Digest>, RegistryError> {
    check(path)?;
    let dir = path.join("blobs").join("sha256");
    let mut found = Vec::new();
    for entry in fs::read_dir(&dir).map_err(|e| err(path, e))? {
        let name = entry.map_err(|e| err(path, e))?.file_name();
        if let Ok(d) = Digest::parse(&format!("sha256:{}", name.to_string_lossy())) {
            found.push(d);
        }
    }
    found.sort();
    Ok(found)
}

/// The size of a blob file, if it exists.
pub(crate) fn blob_size(path: &Path, digest: &Digest) -> Option<u64> {
    fs::metadata(blob_path(path, digest)).ok().filter(|m| m.is_file()).map(|m| m.len())
}
