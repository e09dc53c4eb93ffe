//! Blobs copied as streams (for [`crate::transfer`]): the content flows from its source to its
//! destination in chunks and is hashed on the way, so memory stays bounded whatever the blob's
//! size, and content that does not hash to its digest is never committed: a registry upload is
//! aborted mid-body, a layout's temporary file is deleted.

use super::{RegistryClient, layout};
use crate::error::{Error, RegistryError};
use crate::reference::{Digest, Location};
use bytes::Bytes;
use futures_util::{Stream, StreamExt as _};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

/// A blob's content in chunks.
pub(crate) type ByteStream = Pin<Box<dyn Stream<Item = std::io::Result<Bytes>> + Send>>;

/// Called with the size of every chunk that passed through.
pub(crate) type ChunkCallback = Arc<dyn Fn(u64) + Send + Sync>;

/// What happened to one blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BlobCopy {
    /// Mounted from another repository of the same registry: no bytes moved.
    Mounted,
    /// Streamed: this many bytes.
    Copied(u64),
}

impl RegistryClient {
    /// Whether `location` holds the blob (asked with push access for a registry, so that the
    /// token obtained also serves the upload that may follow).
    pub(crate) async fn has_blob_for_push(&self, location: &Location, digest: &Digest) -> Result<bool, Error> {
        Ok(match location {
            Location::Registry { registry, repository } => {
                self.remote.blob_exists(registry, repository, digest, super::remote::Access::Push).await?
            }
            Location::Layout { path } => layout::blob_exists(path, digest)?,
        })
    }

    /// Opens a blob as a stream of chunks; the caller verifies them ([`Verifying`]).
    pub(crate) async fn open_blob_stream(&self, location: &Location, digest: &Digest) -> Result<ByteStream, Error> {
        Ok(match location {
            Location::Registry { registry, repository } => {
                let resp = self.remote.open_blob(registry, repository, digest).await?;
                Box::pin(resp.bytes_stream().map(|chunk| chunk.map_err(std::io::Error::other)))
            }
            Location::Layout { path } => file_stream(tokio::fs::File::from_std(layout::open_blob(path, digest)?)),
        })
    }

    /// Copies one blob of `size` bytes from `source` to `destination`, verifying its digest as it
    /// streams; mounts it instead when both are repositories of the same registry. The caller
    /// has checked that the destination lacks it.
    pub(crate) async fn copy_blob(
        &self,
        source: &Location,
        destination: &Location,
        digest: &Digest,
        size: u64,
        on_chunk: ChunkCallback,
    ) -> Result<BlobCopy, Error> {
        let what = format!("blob {digest} from {source}");
        let failure: Arc<Mutex<Option<RegistryError>>> = Arc::default();
        let take_failure = || failure.lock().ok().and_then(|mut f| f.take());
        match destination {
            Location::Registry { registry, repository } => {
                let mount_from = match source {
                    Location::Registry { registry: from_registry, repository: from }
                        if from_registry == registry && from != repository =>
                    {
                        Some(from.as_str())
                    }
                    _ => None,
                };
                let Some(put_url) = self.remote.begin_upload(registry, repository, digest, mount_from).await? else {
                    return Ok(BlobCopy::Mounted);
                };
                let stream = self.open_blob_stream(source, digest).await?;
                let verified = Verifying::new(stream, digest.clone(), size, what, failure.clone(), on_chunk);
                let body = reqwest::Body::wrap_stream(verified);
                let result = self.remote.put_upload_body(registry, repository, &put_url, size, body).await;
                match (result, take_failure()) {
                    (_, Some(e)) => Err(e.into()),
                    (Err(e), None) => Err(e.into()),
                    (Ok(()), None) => Ok(BlobCopy::Copied(size)),
                }
            }
            Location::Layout { path } => {
                use tokio::io::AsyncWriteExt as _;
                let (tmp, file) = layout::temp_blob(path, digest)?;
                let io_error = |e: std::io::Error| RegistryError::Layout {
                    path: path.display().to_string(),
                    reason: format!("writing blob {digest}: {e}"),
                };
                let result: Result<(), Error> = async {
                    let mut file = tokio::fs::File::from_std(file);
                    let stream = self.open_blob_stream(source, digest).await?;
                    let mut verified = Verifying::new(stream, digest.clone(), size, what, failure.clone(), on_chunk);
                    while let Some(chunk) = verified.next().await {
                        let chunk = chunk.map_err(|e| take_failure().unwrap_or_else(|| io_error(e)))?;
                        file.write_all(&chunk).await.map_err(io_error)?;
                    }
                    file.sync_all().await.map_err(io_error)?;
                    Ok(())
                }
                .await;
                match result {
                    Ok(()) => {
                        layout::commit_blob(path, &tmp, digest)?;
                        Ok(BlobCopy::Copied(size))
                    }
                    Err(e) => {
                        let _ = std::fs::remove_file(&tmp);
                        Err(e)
                    }
                }
            }
        }
    }
}

/// A file as a stream of 256 KiB chunks.
pub(crate) fn file_stream(file: tokio::fs::File) -> ByteStream {
    use tokio::io::AsyncReadExt as _;
    Box::pin(futures_util::stream::try_unfold(file, |mut file| async move {
        let mut buf = vec![0u8; 256 << 10];
        let n = file.read(&mut buf).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.truncate(n);
        Ok(Some((Bytes::from(buf), file)))
    }))
}

/// Passes a blob's chunks through while hashing them. More bytes than declared, or content that
/// does not hash to the digest, ends the stream with an error (so an upload carrying it is
/// aborted) and leaves the typed error in `failure`.
pub(crate) struct Verifying {
    inner: ByteStream,
    hasher: Option<super::remote::StreamingDigest>,
    expected: Digest,
    size: u64,
    what: String,
    failure: Arc<Mutex<Option<RegistryError>>>,
    on_chunk: ChunkCallback,
}

impl Verifying {
    pub(crate) fn new(
        inner: ByteStream,
        expected: Digest,
        size: u64,
        what: String,
        failure: Arc<Mutex<Option<RegistryError>>>,
        on_chunk: ChunkCallback,
    ) -> Self {
        let hasher = Some(super::remote::StreamingDigest::new());
        Verifying { inner, hasher, expected, size, what, failure, on_chunk }
    }

    fn fail(&mut self, error: RegistryError) -> Poll<Option<std::io::Result<Bytes>>> {
        let message = error.to_string();
        if let Ok(mut f) = self.failure.lock() {
            f.get_or_insert(error);
        }
        self.hasher = None;
        Poll::Ready(Some(Err(std::io::Error::other(message))))
    }
}

impl Stream for Verifying {
    type Item = std::io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.hasher.is_none() {
            return Poll::Ready(None);
        }
        match this.inner.as_mut().poll_next(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e))),
            Poll::Ready(Some(Ok(chunk))) => {
                let hasher = this.hasher.as_mut().expect("checked above");
                hasher.update(&chunk);
                if hasher.size > this.size {
                    let size = hasher.size;
                    return this.fail(RegistryError::TooLarge { what: this.what.clone(), size, limit: this.size });
                }
                // A body of known length may not be polled past its last byte: check the digest
                // before that byte leaves, so tampered content is never complete on the other side.
                if hasher.size == this.size {
                    let hasher = this.hasher.take().expect("checked above");
                    if let Err(e) = hasher.check(&this.expected, &this.what) {
                        return this.fail(e);
                    }
                }
                (this.on_chunk)(chunk.len() as u64);
                Poll::Ready(Some(Ok(chunk)))
            }
            Poll::Ready(None) => {
                let hasher = this.hasher.take().expect("checked above");
                match hasher.check(&this.expected, &this.what) {
                    Ok(_) => Poll::Ready(None),
                    Err(e) => this.fail(e),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks(parts: &[&[u8]]) -> ByteStream {
        let items: Vec<std::io::Result<Bytes>> = parts.iter().map(|p| Ok(Bytes::copy_from_slice(p))).collect();
        Box::pin(futures_util::stream::iter(items))
    }

    /// Drains a verifying stream: the bytes let through, and the typed failure if any.
    fn drain(parts: &[&[u8]], expected: &Digest, size: u64) -> (Vec<u8>, Option<RegistryError>) {
        let failure: Arc<Mutex<Option<RegistryError>>> = Arc::default();
        let seen = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let counter = seen.clone();
        let on_chunk: ChunkCallback = Arc::new(move |n| {
            counter.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
        });
        let mut stream =
            Verifying::new(chunks(parts), expected.clone(), size, "blob".into(), failure.clone(), on_chunk);
        let out = tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
            let mut out = Vec::new();
            while let Some(chunk) = stream.next().await {
                match chunk {
                    Ok(c) => out.extend_from_slice(&c),
                    Err(_) => break,
                }
            }
            out
        });
        assert_eq!(seen.load(std::sync::atomic::Ordering::Relaxed), out.len() as u64);
        let failed = failure.lock().unwrap().take();
        (out, failed)
    }

    #[test]
    fn matching_content_passes_whole() {
        let digest = Digest::sha256(b"hello world");
        let (out, failure) = drain(&[b"hello ", b"world"], &digest, 11);
        assert_eq!(out, b"hello world");
        assert!(failure.is_none());
    }

    #[test]
    fn the_last_byte_of_tampered_content_is_withheld() {
        let digest = Digest::sha256(b"hello world");
        let (out, failure) = drain(&[b"hello ", b"w0rld"], &digest, 11);
        assert_eq!(out, b"hello ", "the final chunk must not leave");
        match failure {
            Some(RegistryError::DigestMismatch { expected, actual, .. }) => {
                assert_eq!(expected, digest.as_str());
                assert_eq!(actual, Digest::sha256(b"hello w0rld").as_str());
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn more_bytes_than_declared_or_fewer_fail() {
        let digest = Digest::sha256(b"hello");
        let (out, failure) = drain(&[b"hel", b"lo!!"], &digest, 5);
        assert_eq!(out, b"hel");
        assert!(matches!(failure, Some(RegistryError::TooLarge { size: 7, limit: 5, .. })), "{failure:?}");
        let (_, failure) = drain(&[b"hel"], &digest, 5);
        assert!(matches!(failure, Some(RegistryError::DigestMismatch { .. })), "{failure:?}");
    }
}
