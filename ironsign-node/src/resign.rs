//! Certificate rotation (`resignPlan`, `resignApply`) on [`RegistryClient`]: Promises on napi's
//! Tokio runtime. The same plan and report as `ironsign resign --output json`.

use crate::convert::{Bytes, bytes, to_js};
use crate::errors::invalid_argument;
use crate::registry::{RegistryClient, spawn};
use crate::transfer::{getrandom_id, on_blocking_thread, repository};
use crate::{Policy, Signer, TrustRoot};
use ironsign::rotation::{self, ResignOptions, ResignPlan, RotationCriterion};
use ironsign::{Certificate, Error, SignOptions};
use napi::Env;
use napi::bindgen_prelude::PromiseRaw;
use napi_derive::napi;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

/// Options of [`RegistryClient::resign_plan`]: exactly one of `expiresWithinDays` and `signedBy`.
#[napi(object, object_to_js = false)]
pub struct ResignPlanOptions {
    /// Candidates: the newest valid signature's certificate expires within this many days.
    pub expires_within_days: Option<u32>,
    /// Candidates: the newest valid signature was made with this certificate (PEM or DER).
    pub signed_by: Option<Bytes>,
    /// Add every repository of this registry's catalog.
    pub all_repositories: Option<String>,
    /// Most tags read per repository (default 100000).
    pub max_tags: Option<u32>,
    /// Most repositories read from the catalog (default 10000).
    pub max_repositories: Option<u32>,
}

/// Plans kept for `resignApply`, by id: a plan crosses to JS as a plain object, and signing uses
/// the binding's own copy rather than a JS object that may have been edited.
fn plans() -> &'static Mutex<HashMap<String, Arc<ResignPlan>>> {
    static PLANS: std::sync::OnceLock<Mutex<HashMap<String, Arc<ResignPlan>>>> = std::sync::OnceLock::new();
    PLANS.get_or_init(Default::default)
}

fn criterion(options: &ResignPlanOptions) -> Result<RotationCriterion, Error> {
    match (options.expires_within_days, &options.signed_by) {
        (Some(days), None) => Ok(RotationCriterion::ExpiresWithin(Duration::from_secs(u64::from(days) * 86_400))),
        (None, Some(cert)) => {
            Ok(RotationCriterion::SignedBy(Box::new(Certificate::from_pem_or_der(&bytes(cert), "signedBy")?)))
        }
        _ => Err(invalid_argument("expiresWithinDays/signedBy", "give exactly one of expiresWithinDays and signedBy")),
    }
}

#[napi]
impl RegistryClient {
    /// Scans repositories (`REGISTRY/REPO` or `oci:DIR`) for images whose newest signature valid
    /// under `trust` and `policy` is due (its certificate expires within `expiresWithinDays`, or
    /// is `signedBy`). Signs nothing: give the plan to `resignApply`.
    #[napi(ts_return_type = "Promise<ResignPlan>")]
    pub fn resign_plan<'env>(
        &self,
        env: &'env Env,
        repositories: Vec<String>,
        trust: &TrustRoot,
        policy: &Policy,
        options: ResignPlanOptions,
    ) -> napi::Result<PromiseRaw<'env, Value>> {
        let client = self.inner.clone();
        let (verifier, policy) = (trust.verifier.clone(), policy.policy.clone());
        let criterion = criterion(&options);
        let max_tags = options.max_tags.map_or(100_000, |n| n as usize);
        let max_repositories = options.max_repositories.map_or(10_000, |n| n as usize);
        let all = options.all_repositories;
        spawn(
            env,
            async move {
                let mut locations = repositories.iter().map(|r| repository(r)).collect::<Result<Vec<_>, _>>()?;
                let options = ResignOptions { criterion: criterion?, max_tags, now: SystemTime::now() };
                let plan = on_blocking_thread("resignPlan", move |h| {
                    h.block_on(async {
                        if let Some(registry) = &all {
                            for repo in client.list_repositories(registry, max_repositories).await? {
                                locations.push(repository(&format!("{registry}/{repo}"))?);
                            }
                        }
                        let mut seen = std::collections::HashSet::new();
                        locations.retain(|l| seen.insert(l.clone()));
                        Ok(rotation::plan(&client, &locations, &verifier, &policy, &options, &|_| {}).await)
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

    /// Signs every candidate of a plan from `resignPlan` (by its `planId`) with `signer`,
    /// appending one signature each (the old ones stay). A plan is applied at most once; a
    /// failure is reported per image, not thrown.
    #[napi(ts_return_type = "Promise<ResignReport>")]
    pub fn resign_apply<'env>(
        &self,
        env: &'env Env,
        #[napi(ts_arg_type = "ResignPlan")] plan: Value,
        signer: &Signer,
    ) -> napi::Result<PromiseRaw<'env, Value>> {
        let (client, material) = (self.inner.clone(), signer.material.clone());
        let id = plan.get("planId").and_then(Value::as_str).map(str::to_owned);
        spawn(
            env,
            async move {
                let id = id.ok_or_else(|| invalid_argument("plan", "not a plan from resignPlan (no planId)"))?;
                let plan = plans()
                    .lock()
                    .ok()
                    .and_then(|mut p| p.remove(&id))
                    .ok_or_else(|| invalid_argument("plan", "unknown or already applied planId"))?;
                let report = on_blocking_thread("resignApply", move |h| {
                    Ok(h.block_on(rotation::apply(&client, &plan, &material, &SignOptions::default(), &|_| {})))
                })
                .await?;
                Ok(to_js(&report))
            },
            |_, value| Ok(value),
        )
    }
}
