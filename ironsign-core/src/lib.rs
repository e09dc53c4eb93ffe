//! # ironsign
//!
//! Sign and verify OCI container images in **Sigstore cosign's formats** with an organisation's
//! **own X.509 PKI**: a code-signing certificate from a private root, no Fulcio, no Rekor.
//! What ironsign writes, cosign verifies; what cosign writes, ironsign reads.
//!
//! ## Design
//!
//! * **Fetching is separate from verifying.** [`RegistryClient`] reads and writes registries and
//!   OCI image-layout directories (async, bounded by [`Limits`]). It produces plain data,
//!   a [`SignedImage`]. Verifying that data is synchronous, pure and does no I/O.
//! * **Trust, entity and policy are three inputs.** A [`Verifier`] is built once from a
//!   [`TrustRoot`] (root CAs, intermediates, public keys); each call takes the [`SignedImage`] and
//!   a [`Policy`] (identity, annotations). Skipping the identity is spelled
//!   [`Policy::dangerous_any_identity`].
//! * **The result records only what was proven** ([`VerificationResult`]), and every error is a
//!   typed enum with a stable [`code`](Error::code).
//! * **No environment, no defaults from outside.** The library never reads environment variables;
//!   the CLI and bindings do.
//!
//! ## Signing and verifying
//!
//! ```no_run
//! # async fn demo() -> Result<(), ironsign::Error> {
//! use ironsign::{Certificate, ImageReference, KeyPairSigner, Policy, Identity, RegistryClient,
//!     RegistryOptions, SignOptions, SigningMaterial, TrustRoot, Verifier};
//! use std::sync::Arc;
//!
//! let client = RegistryClient::new(RegistryOptions::default())?;
//! let image = ImageReference::parse("registry.example/team/app:1.0")?;
//!
//! // Sign with a key, its code-signing certificate and the chain (intermediates, root last).
//! let signer = KeyPairSigner::from_file("leaf.key".as_ref(), None)?;
//! let cert = Certificate::from_pem_or_der(&std::fs::read("leaf.pem").unwrap(), "leaf.pem")?;
//! let chain = Certificate::from_pem_many(&std::fs::read("chain.pem").unwrap(), "chain.pem", 10)?;
//! let material = SigningMaterial::new(Arc::new(signer))
//!     .with_certificate(cert, chain, std::time::SystemTime::now())?;
//! ironsign::sign::sign_image(&client, &image, &material, &SignOptions::default()).await?;
//!
//! // Verify against the root, requiring the signer's SAN.
//! let trust = TrustRoot::from_pem(&std::fs::read("root.pem").unwrap(), None)?;
//! let verifier = Verifier::new(trust);
//! let signed = client.fetch_signatures(&image).await?;
//! let result = verifier.verify(&signed, &Policy::identity(Identity::san("signer@example.com")))?;
//! println!("signed by {}", result.signatures[0].certificate().unwrap().subject);
//! # Ok(()) }
//! ```

//!
//! ## Attestations and SBOMs
//!
//! [`attach::attest_image`] signs an in-toto statement ([`intoto`]) in a DSSE envelope
//! ([`dsse`]) and appends it to the image's `.att` tag as cosign does; [`predicates`] builds the
//! predicate bodies of cosign's `--type` shortcuts, the vulnerability predicate from Grype,
//! Trivy, Anchore Enterprise and twistcli reports, and the scan-tracker predicate validated
//! against its shipped schema ([`schema`]). [`Verifier::verify_attestations`] checks them with
//! the same trust and identity policy as signatures, plus optional Rego policies
//! ([`RegoPolicy`]). [`attach::attach_sbom`] streams an SBOM whose format [`sbom`] detected to
//! the `.sbom` tag; [`download`] prints attachments in cosign's shapes.
//!
//! ## Sigstore bundles
//!
//! cosign v3 stores signatures and attestations as Sigstore bundle v0.3 referrers ([`bundle`]).
//! [`RegistryClient::fetch_signatures`] and [`RegistryClient::fetch_attestations`] return the
//! legacy tag layers and the bundles together; the [`Verifier`] checks both with the same trust
//! and policy, and each verified signature's [`SignatureFormat`] says which it was.
//! [`SignOptions::format`] and [`attach::AttestOptions::format`] write bundles instead of the
//! legacy tags ([`referrers`]: the referrers API, else the `sha256-<hex>` referrers tag).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod attach;
pub mod batch;
pub mod blob;
pub mod bundle;
pub mod cosign;
pub mod csr;
pub mod download;
pub mod dsse;
pub mod error;
pub mod gc;
pub mod harbor;
pub mod intoto;
pub mod keys;
pub mod list;
pub mod pki;
pub mod predicates;
pub mod reference;
pub mod referrers;
pub mod registry;
pub mod sbom;
pub mod schema;
pub mod shard;
pub mod sign;
pub mod transfer;
pub mod verify;
// Verification instructions and admission policies from one trust configuration (issue 8).
pub mod instructions;
pub mod trust_config;
pub mod trusted_root;
// PKI lifecycle: timestamps, hardware keys, rotation.
pub mod rotation;
pub mod tsa;

// The public interface is:
pub use batch::{BatchOptions, SignatureScope, VerifiedImage};
pub use blob::{BlobEvidence, BlobFormat, SignedBlob};
pub use cosign::{Limits, SignatureFormat, SignatureLayer, SignedImage};
pub use error::TimestampError;
pub use error::{
    CertificateError, Error, ErrorFamily, InputError, KeyError, RegistryError, RejectionReason, SignatureRejection,
    VerificationError,
};
pub use gc::{CleanType, GcOptions, GcPlan, GcReport};
pub use instructions::{Instructions, InstructionsFormat, InstructionsOptions};
#[cfg(feature = "hashivault")]
pub use keys::kms::VaultConfig;
pub use keys::kms::{KmsConfig, KmsSigner, KmsUri};
#[cfg(feature = "pkcs11")]
pub use keys::pkcs11::{Pkcs11Signer, Pkcs11Uri};
pub use keys::{KeyAlgorithm, KeyKind, KeyPairSigner, PublicKey, Signer};
pub use list::{ArtifactTree, ListOptions, list_artifacts};
pub use pki::{Certificate, CertificateSummary, EkuRule, TrustRoot};
pub use reference::{Digest, ImageReference, Location};
pub use registry::{Credential, Keychain, RegistryClient, RegistryOptions};
pub use sign::{DetachedSignature, EkuCheck, MaterialFinding, SignOptions, SignReport, SignedEntry, SigningMaterial};
pub use transfer::{Selection, TransferOptions, TransferReport};
pub use trust_config::TrustConfig;
pub use tsa::{TimestampAuthorities, TimestampClient, VerifiedTimestamp};
pub use verify::attestation::{AttestationResult, VerifiedAttestation};
pub use verify::blob::BlobVerification;
pub use verify::rego::RegoPolicy;
pub use verify::{
    Identity, IdentityField, Policy, PolicySpec, RESULT_WINDOW, ResultCacheStats, VerificationResult,
    VerifiedSignature, Verifier,
};
