//! Certificate rotation (`resign_plan`, `resign_apply`): the `Client` futures behind the methods
//! of both registry client classes, and their results. The same plan and report as
//! `ironsign resign --output json`.

use crate::convert::json_to_py;
use crate::errors::invalid_argument;
use crate::material::{PyPolicy, PySigner, PyTrustRoot};
use crate::registry::Client;
use crate::results::{result_class, to_json, to_value};
use crate::transfer::{on_blocking_thread, repository};
use ironsign::rotation::{self, ResignOptions, ResignPlan as CoreResignPlan, RotationCriterion};
use ironsign::{Certificate, Error, SignOptions};
use pyo3::prelude::*;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

result_class! {
    /// Which images `resign_apply` would sign again: the candidates (whose newest valid signature
    /// is due), the images left alone (with why) and the repositories that could not be read.
    /// Nothing is signed until it is given to `resign_apply`.
    ResignPlan(Arc<CoreResignPlan>) as "ResignPlan",
    repr = |p| format!("candidates={}, skipped={}, errors={}", p.candidates.len(), p.skipped.len(), p.errors.len());
    {
        /// The plan's media type.
        #[getter]
        fn media_type(&self) -> &str { self.0.media_type }
        /// Images to sign again (dicts: image, tags, signer, expires_in_days).
        #[getter]
        fn candidates<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> { json_to_py(py, &to_value(&self.0.candidates)?) }
        /// Images left alone (dicts: image, reason: `not_due`, `key_only` or a verification code).
        #[getter]
        fn skipped<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> { json_to_py(py, &to_value(&self.0.skipped)?) }
        /// What could not be read (`[repository or reference, message]` pairs).
        #[getter]
        fn errors<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> { json_to_py(py, &to_value(&self.0.errors)?) }
    }
}

result_class! {
    /// What `resign_apply` did: the images signed, and those that failed.
    ResignReport(rotation::ResignReport) as "ResignReport",
    repr = |r| format!("signed={}, failed={}", r.signed.len(), r.failed.len());
    {
        /// Images signed (`repository@digest`).
        #[getter]
        fn signed(&self) -> Vec<String> { self.0.signed.clone() }
        /// Images that failed (`[image, code, message]` triples).
        #[getter]
        fn failed<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> { json_to_py(py, &to_value(&self.0.failed)?) }
    }
}

/// `expires_within_days=` or `signed_by=`, exactly one.
pub fn criterion(
    expires_within_days: Option<u64>,
    signed_by: Option<Result<Certificate, Error>>,
) -> Result<RotationCriterion, Error> {
    match (expires_within_days, signed_by) {
        (Some(days), None) => Ok(RotationCriterion::ExpiresWithin(Duration::from_secs(days.saturating_mul(86_400)))),
        (None, Some(cert)) => Ok(RotationCriterion::SignedBy(Box::new(cert?))),
        _ => Err(invalid_argument(
            "expires_within_days/signed_by",
            "give exactly one of expires_within_days= and signed_by=",
        )),
    }
}

/// `resign_plan`'s scan arguments.
pub struct ResignScan {
    pub repositories: Vec<String>,
    pub all_repositories: Option<String>,
    pub criterion: Result<RotationCriterion, Error>,
    pub max_tags: usize,
    pub max_repositories: usize,
}

impl Client {
    pub fn resign_plan(
        &self,
        scan: ResignScan,
        trust: &PyTrustRoot,
        policy: &PyPolicy,
    ) -> impl Future<Output = Result<Arc<CoreResignPlan>, Error>> + Send + 'static {
        let client = self.inner.clone();
        let (verifier, policy) = (trust.verifier.clone(), policy.policy.clone());
        let locations = scan.repositories.iter().map(|r| repository(r)).collect::<Result<Vec<_>, _>>();
        async move {
            let (mut locations, criterion) = (locations?, scan.criterion?);
            let options = ResignOptions { criterion, max_tags: scan.max_tags, now: SystemTime::now() };
            on_blocking_thread("resign_plan", move |h| {
                h.block_on(async {
                    if let Some(registry) = &scan.all_repositories {
                        for repo in client.list_repositories(registry, scan.max_repositories).await? {
                            locations.push(repository(&format!("{registry}/{repo}"))?);
                        }
                    }
                    let mut seen = std::collections::HashSet::new();
                    locations.retain(|l| seen.insert(l.clone()));
                    let plan = rotation::plan(&client, &locations, &verifier, &policy, &options, &|_| {}).await;
                    Ok(Arc::new(plan))
                })
            })
            .await
        }
    }

    pub fn resign_apply(
        &self,
        plan: Arc<CoreResignPlan>,
        signer: &PySigner,
    ) -> impl Future<Output = Result<rotation::ResignReport, Error>> + Send + 'static {
        let (client, material) = (self.inner.clone(), signer.material.clone());
        async move {
            on_blocking_thread("resign_apply", move |h| {
                Ok(h.block_on(rotation::apply(&client, &plan, &material, &SignOptions::default(), &|_| {})))
            })
            .await
        }
    }
}
