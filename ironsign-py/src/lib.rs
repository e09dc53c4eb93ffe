//! `ironsign._ironsign`: the native module of the `ironsign` Python package.
//!
//! A thin binding over the `ironsign` crate: every function converts its arguments, calls the
//! core, and converts the result or maps the error ([`errors`], one `match`). The only decisions
//! taken here are the ones the core leaves to its caller: which credential files to read (from the
//! environment, as the CLI does) and the Tokio runtime to run on.
//!
//! Layout, for adding capabilities: results in [`results`] (one `result_class!` each), inputs
//! (signer, trust, policy) in [`material`], registry operations in [`registry`] as one
//! `Client` future per operation wrapped twice (blocking and asyncio); attestation, SBOM and Rego
//! inputs in [`attest`]; certificate tooling (inspect, check, renewal, CSR) in [`certs`].

mod attest;
mod blobs;
mod certs;
mod convert;
mod errors;
mod material;
mod registry;
mod resign;
mod results;
mod transfer;
mod trust;

use pyo3::prelude::*;

#[pymodule(gil_used = false)]
mod _ironsign {
    #[pymodule_export]
    use crate::attest::PyRegoPolicy;
    #[pymodule_export]
    use crate::blobs::{BlobVerification, PySignedBlob, attest_blob, sign_blob};
    #[pymodule_export]
    use crate::certs::{check_certificate, create_csr, inspect_certificate, verify_renewal};
    #[pymodule_export]
    use crate::errors::{_error_classes, _raise_error};
    #[pymodule_export]
    use crate::material::{PyPolicy, PySigner, PyTrustRoot, PyVerifier, generate_key_pair};
    #[pymodule_export]
    use crate::registry::{PyAsyncRegistryClient, PyRegistryClient};
    #[pymodule_export]
    use crate::resign::{ResignPlan, ResignReport};
    #[pymodule_export]
    use crate::results::{
        ArtifactTree, AttachReport, AttestReport, AttestationResult, CertificateDetails, CertificateSummary,
        CertificateWarning, CheckFinding, CheckReport, InspectionReport, RenewalReport, SbomDownload, SignReport,
        SignatureLayer, SignaturePayload, SignatureRejection, SignedEntry, SignedImage, VerificationResult,
        VerifiedAttestation, VerifiedSignature,
    };
    #[pymodule_export]
    use crate::transfer::{GcPlan, GcReport, TransferReport};
    #[pymodule_export]
    use crate::{material::_bench_rust_verify_only, registry::_bench_rust_verify_loop};
    #[pymodule_export]
    use crate::{results::TrustConfigVerification, trust::PyTrustConfig, trust::instructions};

    use pyo3::prelude::*;

    #[pymodule_init]
    fn init(m: &Bound<'_, PyModule>) -> PyResult<()> {
        m.add("__version__", env!("CARGO_PKG_VERSION"))
    }
}
