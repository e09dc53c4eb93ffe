//! Transfer (`copy`, `save`, `load`), artifact listing (`listArtifacts`) and orphan garbage
//! collection (`gcPlan`, `gcApply`) on [`RegistryClient`]: Promises on napi's Tokio runtime.

use crate::convert::to_js;
use crate::errors::invalid_argument;
use crate::registry::{RegistryClient, parse, spawn};
use crate::{Policy, TrustRoot};
use ironsign::gc::{GcOptions, GcPlan};
use ironsign::transfer::{self, Selection, TransferOptions};
use ironsign::{Error, ImageReference, Location};
use napi::Env;
use napi::bindgen_prelude::PromiseRaw;
use napi::tokio;
use napi_derive::napi;
use serde_json::Value;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// Options of [`RegistryClient::copy`], `save` and `load`.
#[napi(object, object_to_js = false)]
pub struct TransferOptionsJs {
    /// Copy only these attachments, not the image (cosign's `--only`).
    #[napi(ts_type = "Array<'sig' | 'att' | 'sbom' | 'referrer'> | null")]
    pub only: Option<Option<Vec<String>>>,
    /// Overwrite destination tags that point elsewhere.
    pub force: Option<bool>,
    /// Most blobs copied at once (default 4).
    pub max_workers: Option<u32>,
}

/// Where `save` writes and `load` reads: a layout directory or one tar file.
#[napi(object, object_to_js = false)]
pub struct LayoutTarget {
    /// An OCI image-layout directory (cosign save's format).
    pub dir: Option<String>,
    /// One tar file of the layout.
    pub tar: Option<String>,
}

/// Options of [`RegistryClient::list_artifacts`].
#[napi(object, object_to_js = false)]
pub struct ListArtifactsOptions {
    /// List the platform manifests of an index too (default true).
    pub platforms: Option<bool>,
}

/// Options of [`RegistryClient::gc_plan`].
#[napi(object, object_to_js = false)]
pub struct GcPlanOptions {
    /// Add every repository of this registry's catalog.
    pub all_repositories: Option<String>,
    /// Also collect attachments whose image exists but no ordinary tag reaches.
    pub include_untagged: Option<bool>,
    /// Only orphans older than this (`30d`, `12h`).
    pub older_than: Option<String>,
    /// Most registry requests in flight (default 8).
    pub max_workers: Option<u32>,
}

fn transfer_options(options: Option<TransferOptionsJs>) -> Result<TransferOptions, Error> {
    let Some(o) = options else { return Ok(TransferOptions::default()) };
    let selection = match o.only.flatten() {
        Some(kinds) => Selection::only(&kinds)?,
        None => Selection::default(),
    };
    Ok(TransferOptions {
        selection,
        force: o.force.unwrap_or(false),
        max_workers: o.max_workers.map_or(4, |n| n as usize),
        ..Default::default()
    })
}

fn layout_target(target: LayoutTarget) -> Result<(Option<PathBuf>, Option<PathBuf>), Error> {
    match (target.dir, target.tar) {
        (Some(d), None) => Ok((Some(d.into()), None)),
        (None, Some(t)) => Ok((None, Some(t.into()))),
        _ => Err(invalid_argument("dir/tar", "give exactly one of dir and tar")),
    }
}

/// Runs a core future whose type rustc cannot prove `Send` on a blocking thread of the runtime.
pub(crate) async fn on_blocking_thread<T: Send + 'static>(
    name: &'static str,
    run: impl FnOnce(tokio::runtime::Handle) -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    let handle = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || run(handle)).await.map_err(|e| invalid_argument(name, e.to_string()))?
}

/// Plans kept for `gcApply`, by id: a plan crosses to JS as a plain object, and the deletion
/// re-reads its own copy rather than trusting a JS object that may have been edited.
fn plans() -> &'static Mutex<HashMap<String, Arc<GcPlan>>> {
    static PLANS: std::sync::OnceLock<Mutex<HashMap<String, Arc<GcPlan>>>> = std::sync::OnceLock::new();
    PLANS.get_or_init(Default::default)
}

#[napi]
impl RegistryClient {
    /// Copies `source` (every platform) with its `.sig`, `.att` and `.sbom` tags and OCI
    /// referrers to `destination`, keeping every digest; a re-run copies only what is missing.
    #[napi(ts_return_type = "Promise<TransferReport>")]
    pub fn copy<'env>(
        &self,
        env: &'env Env,
        source: String,
        destination: String,
        options: Option<TransferOptionsJs>,
    ) -> napi::Result<PromiseRaw<'env, Value>> {
        let (client, options) = (self.inner.clone(), transfer_options(options));
        spawn(
            env,
            async move {
                let (source, destination, options) = (parse(&source)?, parse(&destination)?, options?);
                let report = on_blocking_thread("copy", move |h| {
                    h.block_on(transfer::copy(&client, &source, &destination, &options))
                })
                .await?;
                Ok(to_js(&report))
            },
            |_, value| Ok(value),
        )
    }

    /// Saves `reference` with its attachments as an OCI image layout (`{ dir }`, cosign save's
    /// format) or one tar file of it (`{ tar }`).
    #[napi(ts_return_type = "Promise<TransferReport>")]
    pub fn save<'env>(
        &self,
        env: &'env Env,
        reference: String,
        target: LayoutTarget,
        options: Option<TransferOptionsJs>,
    ) -> napi::Result<PromiseRaw<'env, Value>> {
        let (client, options, target) = (self.inner.clone(), transfer_options(options), layout_target(target));
        spawn(
            env,
            async move {
                let (reference, options, target) = (parse(&reference)?, options?, target?);
                let report = on_blocking_thread("save", move |h| match target {
                    (Some(dir), _) => h.block_on(transfer::save(&client, &reference, &dir, &options)),
                    (_, tar) => {
                        let tar = tar.unwrap_or_default();
                        let scratch = tar.parent().filter(|p| !p.as_os_str().is_empty()).map(PathBuf::from);
                        let scratch = scratch.unwrap_or_else(|| PathBuf::from("."));
                        h.block_on(transfer::save_tar(&client, &reference, &tar, &scratch, &options))
                    }
                })
                .await?;
                Ok(to_js(&report))
            },
            |_, value| Ok(value),
        )
    }

    /// Pushes the image saved in a layout (`{ dir }` or `{ tar }`, written by `save` or by
    /// `cosign save`) with its attachments to `destination`. Every digest is checked.
    #[napi(ts_return_type = "Promise<TransferReport>")]
    pub fn load<'env>(
        &self,
        env: &'env Env,
        destination: String,
        target: LayoutTarget,
        options: Option<TransferOptionsJs>,
    ) -> napi::Result<PromiseRaw<'env, Value>> {
        let (client, options, target) = (self.inner.clone(), transfer_options(options), layout_target(target));
        spawn(
            env,
            async move {
                let (destination, options, target) = (parse(&destination)?, options?, target?);
                let report = on_blocking_thread("load", move |h| match target {
                    (Some(dir), _) => h.block_on(transfer::load(&client, &dir, &destination, &options)),
                    (_, tar) => h.block_on(transfer::load_tar(
                        &client,
                        &tar.unwrap_or_default(),
                        &std::env::temp_dir(),
                        &destination,
                        &options,
                    )),
                })
                .await?;
                Ok(to_js(&report))
            },
            |_, value| Ok(value),
        )
    }

    /// Everything attached to `reference`: signatures, attestations, SBOMs and OCI 1.1
    /// referrers, per platform (the `ironsign tree --output json` document). With `trust` and
    /// `policy`, each signature's verification status (`verified`, or `rejected` with its code)
    /// is included; one without the other is an `INVALID_ARGUMENT`.
    #[napi(ts_return_type = "Promise<ArtifactTree>")]
    pub fn list_artifacts<'env>(
        &self,
        env: &'env Env,
        reference: String,
        trust: Option<&TrustRoot>,
        policy: Option<&Policy>,
        options: Option<ListArtifactsOptions>,
    ) -> napi::Result<PromiseRaw<'env, Value>> {
        let client = self.inner.clone();
        let platforms = options.and_then(|o| o.platforms).unwrap_or(true);
        let verification = match (trust, policy) {
            (Some(t), Some(p)) => Ok(Some((t.verifier.clone(), p.policy.clone()))),
            (None, None) => Ok(None),
            _ => Err(invalid_argument("trust, policy", "give both to verify the listed signatures, or neither")),
        };
        spawn(
            env,
            async move {
                let verification = verification?;
                let reference = parse(&reference)?;
                let tree = on_blocking_thread("listArtifacts", move |h| {
                    let options = ironsign::ListOptions {
                        platforms,
                        verification: verification.as_ref().map(|(v, p)| (v.as_ref(), p.as_ref())),
                        ..Default::default()
                    };
                    h.block_on(ironsign::list_artifacts(&client, &reference, &options))
                })
                .await?;
                Ok(to_js(&tree))
            },
            |_, value| Ok(value),
        )
    }

    /// Scans repositories (`REGISTRY/REPO` or `oci:DIR`) for attachments whose image is gone
    /// (or, `includeUntagged`, untagged). Deletes nothing: give the plan to `gcApply`.
    #[napi(ts_return_type = "Promise<GcPlan>")]
    pub fn gc_plan<'env>(
        &self,
        env: &'env Env,
        repositories: Vec<String>,
        options: Option<GcPlanOptions>,
    ) -> napi::Result<PromiseRaw<'env, Value>> {
        let client = self.inner.clone();
        let o = options.unwrap_or(GcPlanOptions {
            all_repositories: None,
            include_untagged: None,
            older_than: None,
            max_workers: None,
        });
        spawn(
            env,
            async move {
                let mut locations = repositories.iter().map(|r| repository(r)).collect::<Result<Vec<_>, _>>()?;
                let older_than = o.older_than.as_deref().map(ironsign::gc::parse_duration).transpose()?;
                let options = GcOptions {
                    include_untagged: o.include_untagged.unwrap_or(false),
                    older_than,
                    max_workers: o.max_workers.map_or(8, |n| n as usize),
                    ..Default::default()
                };
                let all = o.all_repositories;
                let plan = on_blocking_thread("gcPlan", move |h| {
                    h.block_on(async {
                        if let Some(registry) = &all {
                            locations.extend(ironsign::gc::catalog(&client, registry, &options).await?);
                        }
                        let mut seen = std::collections::HashSet::new();
                        locations.retain(|l| seen.insert(l.clone()));
                        Ok(ironsign::gc::scan(&client, &locations, &options).await)
                    })
                })
                .await?;
                let mut id = [0u8; 16];
                getrandom_id(&mut id);
                let id = id.iter().map(|b| format!("{b:02x}")).collect::<String>();
                let mut value = to_js(&plan);
                if let Value::Object(map) = &mut value {
                    map.insert("planId".into(), Value::String(id.clone()));
                }
                if let Ok(mut p) = plans().lock() {
                    p.insert(id, Arc::new(plan));
                }
                Ok(value)
            },
            |_, value| Ok(value),
        )
    }

    /// Deletes the orphans of a plan from `gcPlan` (by its `planId`) by digest, re-checking each
    /// right before deleting it. A plan is applied at most once.
    #[napi(ts_return_type = "Promise<GcReport>")]
    pub fn gc_apply<'env>(
        &self,
        env: &'env Env,
        #[napi(ts_arg_type = "GcPlan")] plan: Value,
        max_workers: Option<u32>,
    ) -> napi::Result<PromiseRaw<'env, Value>> {
        let client = self.inner.clone();
        let id = plan.get("planId").and_then(Value::as_str).map(str::to_owned);
        spawn(
            env,
            async move {
                let id = id.ok_or_else(|| invalid_argument("plan", "not a plan from gcPlan (no planId)"))?;
                let plan = plans()
                    .lock()
                    .ok()
                    .and_then(|mut p| p.remove(&id))
                    .ok_or_else(|| invalid_argument("plan", "unknown or already applied planId"))?;
                let options = GcOptions {
                    include_untagged: plan.include_untagged,
                    registry_flavor: plan.registry_flavor,
                    older_than: plan.older_than_seconds.map(std::time::Duration::from_secs),
                    max_workers: max_workers.map_or(8, |n| n as usize),
                    ..Default::default()
                };
                let report = on_blocking_thread("gcApply", move |h| {
                    Ok(h.block_on(ironsign::gc::execute(&client, &plan, &options)))
                })
                .await?;
                Ok(to_js(&report))
            },
            |_, value| Ok(value),
        )
    }
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

/// A random plan id (the pid and time are enough: ids only need to be unique in this process).
pub(crate) fn getrandom_id(out: &mut [u8; 16]) {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
    out[..8].copy_from_slice(&n.to_le_bytes());
    out[8..].copy_from_slice(&t.to_le_bytes());
}
