//! Transfer (`copy`, `save`, `load`) and orphan garbage collection (`gc_plan`, `gc_apply`): the
//! `Client` futures behind the methods of both registry client classes, and their results.

use crate::convert::json_to_py;
use crate::errors::invalid_argument;
use crate::registry::Client;
use crate::results::{result_class, to_json, to_value};
use ironsign::gc::{GcOptions, GcPlan as CoreGcPlan};
use ironsign::transfer::{self, Selection, TransferOptions};
use ironsign::{Error, ImageReference, Location};
use pyo3::prelude::*;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

result_class! {
    /// What a copy, save or load did: the image's digest (the same on both sides), manifests and
    /// blobs copied versus already there, bytes streamed, and every attachment found.
    TransferReport(ironsign::TransferReport) as "TransferReport",
    repr = |r| format!("digest={:?}, destination={:?}, manifests_copied={}, blobs_copied={}", r.digest.as_str(), r.destination, r.manifests.copied, r.blobs.copied);
    {
        /// Where from.
        #[getter]
        fn source(&self) -> &str { &self.0.source }
        /// Where to.
        #[getter]
        fn destination(&self) -> &str { &self.0.destination }
        /// The image's digest.
        #[getter]
        fn digest(&self) -> &str { self.0.digest.as_str() }
        /// The tag written on the destination, if any.
        #[getter]
        fn tag(&self) -> Option<&str> { self.0.tag.as_deref() }
        /// Whether the image itself was transferred (false with `only=`).
        #[getter]
        fn image(&self) -> bool { self.0.image }
        /// Manifests written to the destination.
        #[getter]
        fn manifests_copied(&self) -> usize { self.0.manifests.copied }
        /// Manifests the destination had.
        #[getter]
        fn manifests_skipped(&self) -> usize { self.0.manifests.skipped }
        /// Blobs streamed.
        #[getter]
        fn blobs_copied(&self) -> usize { self.0.blobs.copied }
        /// Blobs mounted from the source repository (same registry).
        #[getter]
        fn blobs_mounted(&self) -> usize { self.0.blobs.mounted }
        /// Blobs the destination had.
        #[getter]
        fn blobs_skipped(&self) -> usize { self.0.blobs.skipped }
        /// Blob bytes streamed.
        #[getter]
        fn bytes_copied(&self) -> u64 { self.0.bytes_copied }
        /// Every attachment found (dicts: subject, kind, digest, tag, copied).
        #[getter]
        fn attachments<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> { json_to_py(py, &to_value(&self.0.attachments)?) }
    }
}

result_class! {
    /// What a garbage-collection scan found: per repository, the orphans (with why) and the kept
    /// attachments (with why). Nothing is deleted until it is given to `gc_apply`.
    GcPlan(Arc<CoreGcPlan>) as "GcPlan",
    repr = |p| format!("repositories={}, orphans={}, kept={}", p.summary.repositories, p.summary.orphans, p.summary.kept);
    {
        /// Whether untagged subjects counted as orphans.
        #[getter]
        fn include_untagged(&self) -> bool { self.0.include_untagged }
        /// Per repository (dicts: repository, tags, orphans, kept, …).
        #[getter]
        fn repositories<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> { json_to_py(py, &to_value(&self.0.repositories)?) }
        /// Repositories that could not be scanned (dicts: repository, code, message).
        #[getter]
        fn errors<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> { json_to_py(py, &to_value(&self.0.errors)?) }
        /// Totals (a dict: repositories, tags, attachments, orphans, kept, failed_repositories).
        #[getter]
        fn summary<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> { json_to_py(py, &to_value(&self.0.summary)?) }
    }
}

result_class! {
    /// What `gc_apply` did: deleted, skipped (with the re-check that kept it) and failed.
    GcReport(ironsign::GcReport) as "GcReport",
    repr = |r| format!("deleted={}, skipped={}, failed={}", r.summary.deleted, r.summary.skipped, r.summary.failed);
    {
        /// Deleted manifests (dicts: repository, tag, digest, …).
        #[getter]
        fn deleted<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> { json_to_py(py, &to_value(&self.0.deleted)?) }
        /// Deletions skipped by the re-checks (dicts with a reason).
        #[getter]
        fn skipped<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> { json_to_py(py, &to_value(&self.0.skipped)?) }
        /// Failed deletions and repositories (dicts with a code).
        #[getter]
        fn failed<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> { json_to_py(py, &to_value(&self.0.failed)?) }
        /// Totals (a dict).
        #[getter]
        fn summary<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> { json_to_py(py, &to_value(&self.0.summary)?) }
    }
}

/// `only=`, `force=`, `max_workers=` as core options.
pub fn transfer_options(only: Option<Vec<String>>, force: bool, max_workers: usize) -> Result<TransferOptions, Error> {
    let selection = match only {
        Some(kinds) => Selection::only(&kinds)?,
        None => Selection::default(),
    };
    Ok(TransferOptions { selection, force, max_workers, ..Default::default() })
}

/// `dir=` or `tar=`, exactly one.
pub fn layout_target(dir: Option<PathBuf>, tar: Option<PathBuf>) -> Result<(Option<PathBuf>, Option<PathBuf>), Error> {
    match (&dir, &tar) {
        (Some(_), None) | (None, Some(_)) => Ok((dir, tar)),
        _ => Err(invalid_argument("dir/tar", "give exactly one of dir= and tar=")),
    }
}

/// `gc_plan`'s arguments as core options.
pub fn gc_options(include_untagged: bool, older_than: Option<&str>, max_workers: usize) -> Result<GcOptions, Error> {
    let older_than = older_than.map(ironsign::gc::parse_duration).transpose()?;
    Ok(GcOptions { include_untagged, older_than, max_workers, ..Default::default() })
}

pub(crate) fn repository(reference: &str) -> Result<Location, Error> {
    let r = ImageReference::parse(reference)?;
    if r.tag.is_some() || r.digest.is_some() {
        return Err(invalid_argument(
            "repositories",
            format!("{reference:?}: give a repository without a tag or digest"),
        ));
    }
    Ok(r.location)
}

/// Runs a core future whose type rustc cannot prove `Send` on a blocking thread of the runtime.
pub(crate) async fn on_blocking_thread<T: Send + 'static>(
    name: &'static str,
    run: impl FnOnce(tokio::runtime::Handle) -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    let handle = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || run(handle)).await.map_err(|e| invalid_argument(name, e.to_string()))?
}

impl Client {
    pub fn copy(
        &self,
        source: &str,
        destination: &str,
        options: Result<TransferOptions, Error>,
    ) -> impl Future<Output = Result<ironsign::TransferReport, Error>> + Send + 'static {
        let client = self.inner.clone();
        let parsed = ImageReference::parse(source).and_then(|s| Ok((s, ImageReference::parse(destination)?)));
        async move {
            let ((source, destination), options) = (parsed?, options?);
            on_blocking_thread("copy", move |h| h.block_on(transfer::copy(&client, &source, &destination, &options)))
                .await
        }
    }

    pub fn save(
        &self,
        reference: &str,
        target: Result<(Option<PathBuf>, Option<PathBuf>), Error>,
        options: Result<TransferOptions, Error>,
    ) -> impl Future<Output = Result<ironsign::TransferReport, Error>> + Send + 'static {
        let (client, reference) = (self.inner.clone(), ImageReference::parse(reference));
        async move {
            let (reference, target, options) = (reference?, target?, options?);
            on_blocking_thread("save", move |h| match target {
                (Some(dir), _) => h.block_on(transfer::save(&client, &reference, &dir, &options)),
                (None, Some(tar)) => {
                    let scratch = tar.parent().filter(|p| !p.as_os_str().is_empty()).map(PathBuf::from);
                    let scratch = scratch.unwrap_or_else(|| PathBuf::from("."));
                    h.block_on(transfer::save_tar(&client, &reference, &tar, &scratch, &options))
                }
                (None, None) => Err(invalid_argument("dir/tar", "give exactly one of dir= and tar=")),
            })
            .await
        }
    }

    pub fn load(
        &self,
        destination: &str,
        target: Result<(Option<PathBuf>, Option<PathBuf>), Error>,
        options: Result<TransferOptions, Error>,
    ) -> impl Future<Output = Result<ironsign::TransferReport, Error>> + Send + 'static {
        let (client, destination) = (self.inner.clone(), ImageReference::parse(destination));
        async move {
            let (destination, target, options) = (destination?, target?, options?);
            on_blocking_thread("load", move |h| match target {
                (Some(dir), _) => h.block_on(transfer::load(&client, &dir, &destination, &options)),
                (None, Some(tar)) => {
                    h.block_on(transfer::load_tar(&client, &tar, &std::env::temp_dir(), &destination, &options))
                }
                (None, None) => Err(invalid_argument("dir/tar", "give exactly one of dir= and tar=")),
            })
            .await
        }
    }

    pub fn gc_plan(
        &self,
        repositories: Vec<String>,
        all_repositories: Option<String>,
        options: Result<GcOptions, Error>,
    ) -> impl Future<Output = Result<Arc<CoreGcPlan>, Error>> + Send + 'static {
        let client = self.inner.clone();
        let locations = repositories.iter().map(|r| repository(r)).collect::<Result<Vec<_>, _>>();
        async move {
            let (mut locations, options) = (locations?, options?);
            on_blocking_thread("gc_plan", move |h| {
                h.block_on(async {
                    if let Some(registry) = &all_repositories {
                        locations.extend(ironsign::gc::catalog(&client, registry, &options).await?);
                    }
                    let mut seen = std::collections::HashSet::new();
                    locations.retain(|l| seen.insert(l.clone()));
                    Ok(Arc::new(ironsign::gc::scan(&client, &locations, &options).await))
                })
            })
            .await
        }
    }

    pub fn gc_apply(
        &self,
        plan: Arc<CoreGcPlan>,
        max_workers: usize,
    ) -> impl Future<Output = Result<ironsign::GcReport, Error>> + Send + 'static {
        let client = self.inner.clone();
        async move {
            let options = GcOptions {
                include_untagged: plan.include_untagged,
                registry_flavor: plan.registry_flavor,
                max_workers,
                ..Default::default()
            };
            let options =
                GcOptions { older_than: plan.older_than_seconds.map(std::time::Duration::from_secs), ..options };
            on_blocking_thread("gc_apply", move |h| Ok(h.block_on(ironsign::gc::execute(&client, &plan, &options))))
                .await
        }
    }
}
