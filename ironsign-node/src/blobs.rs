//! Blobs: [`sign_blob`], [`attest_blob`] and [`TrustRoot::verify_blob`] /
//! [`TrustRoot::verify_blob_attestation`], argument conversion only (the core's
//! [`ironsign::blob`] and [`ironsign::Verifier::verify_blob`] decide). Signing and verification
//! run on a runtime worker, never on the JS thread; the Python binding has the same API.

use crate::convert::{Bytes, JsonValue, bytes, to_js};
use crate::registry::spawn;
use crate::{Policy, Signer, TrustRoot};
use ironsign::blob::{BlobFormat, SignedBlob as CoreSignedBlob};
use ironsign::predicates::PredicateKind;
use ironsign::{BlobEvidence, Error};
use napi::bindgen_prelude::{Buffer, Either3, PromiseRaw};
use napi::{Env, Result};
use napi_derive::napi;
use serde_json::Value;

/// A signed blob or blob attestation and every output cosign writes for it.
#[napi]
pub struct SignedBlob(CoreSignedBlob);

#[napi]
impl SignedBlob {
    /// The raw signature (for an attestation, the DSSE signature).
    #[napi(getter)]
    pub fn signature(&self) -> Buffer {
        self.0.signature.clone().into()
    }

    /// The base64 signature `cosign sign-blob` prints.
    #[napi(getter)]
    pub fn signature_base64(&self) -> String {
        self.0.signature_base64()
    }

    /// The DSSE envelope JSON `cosign attest-blob` prints, for an attestation; else null.
    #[napi(getter)]
    pub fn envelope(&self) -> Option<Buffer> {
        self.0.envelope_json().map(Buffer::from)
    }

    /// What `--output-certificate` holds (base64 of the certificate's PEM), if signed with one.
    #[napi(getter)]
    pub fn certificate_output(&self) -> Option<String> {
        self.0.certificate_output()
    }

    /// What `--rfc3161-timestamp` holds, if timestamped.
    #[napi(getter)]
    pub fn timestamp(&self) -> Option<String> {
        self.0.timestamp_json()
    }

    /// cosign v2's JSON bundle.
    #[napi]
    pub fn legacy_bundle(&self) -> Buffer {
        self.0.legacy_bundle().into()
    }

    /// The Sigstore bundle v0.3 (cosign v3's format).
    #[napi]
    pub fn sigstore_bundle(&self) -> Buffer {
        self.0.sigstore_bundle().into()
    }
}

/// Signs `blob` as `cosign sign-blob` does (timestamped when the signer has a timestamp server).
#[napi(ts_return_type = "Promise<SignedBlob>")]
pub fn sign_blob<'env>(env: &'env Env, blob: Bytes, signer: &Signer) -> Result<PromiseRaw<'env, SignedBlob>> {
    let (blob, material) = (bytes(&blob), signer.material.clone());
    spawn(env, async move { ironsign::blob::sign_blob(&blob, &material).await }, |_, signed| Ok(SignedBlob(signed)))
}

/// Options of [`attest_blob`].
#[napi(object, object_to_js = false)]
pub struct AttestBlobOptions {
    /// The predicate input, as `--predicate`'s file content: a Buffer or string, or an object
    /// (serialised as JSON).
    #[napi(ts_type = "Buffer | string | object")]
    pub predicate: Either3<Buffer, String, JsonValue>,
    /// A cosign `--type` shortcut (default `custom`) or a URI.
    pub predicate_type: Option<String>,
    /// The blob, whose SHA-256 the statement names; or give `digest`.
    pub blob: Option<Bytes>,
    /// The blob's digest, `sha256:<hex>` (cosign's `--hash`), instead of `blob`.
    pub digest: Option<String>,
    /// What the timestamp covers, as each cosign version writes it: `sigstore_bundle` (the
    /// default: the DSSE signature), `legacy_bundle` or `detached` (the envelope).
    #[napi(ts_type = "'detached' | 'legacy_bundle' | 'sigstore_bundle'")]
    pub format: Option<String>,
}

/// Attests a blob as `cosign attest-blob` does: an in-toto statement whose subject is `name`
/// (its last path component) with the blob's SHA-256, over the predicate.
#[napi(ts_return_type = "Promise<SignedBlob>")]
pub fn attest_blob<'env>(
    env: &'env Env,
    name: String,
    signer: &Signer,
    options: AttestBlobOptions,
) -> Result<PromiseRaw<'env, SignedBlob>> {
    let material = signer.material.clone();
    let predicate = match &options.predicate {
        Either3::A(buffer) => buffer.to_vec(),
        Either3::B(text) => text.as_bytes().to_vec(),
        Either3::C(JsonValue(v)) => serde_json::to_vec(v).unwrap_or_default(),
    };
    let blob = options.blob.as_ref().map(bytes);
    spawn(
        env,
        async move {
            let format = BlobFormat::parse(options.format.as_deref().unwrap_or("sigstore_bundle"))?;
            let digest = ironsign::blob::blob_digest(blob.as_deref(), options.digest.as_deref())?;
            let predicate_type = options.predicate_type.as_deref().unwrap_or("custom");
            let now = std::time::SystemTime::now();
            let statement =
                ironsign::blob::attestation_statement(&name, &digest, predicate_type, &predicate, "predicate", now)?;
            ironsign::blob::attest_blob(&statement, &material, format).await
        },
        |_, signed| Ok(SignedBlob(signed)),
    )
}

/// What came with a blob to verify it: a `bundle` (either cosign format), or a `signature`
/// (base64, as `sign-blob` writes it; for an attestation the envelope JSON) with an optional
/// `certificate` and RFC 3161 `timestamp` file content.
#[napi(object, object_to_js = false)]
pub struct BlobEvidenceJs {
    pub signature: Option<Bytes>,
    pub certificate: Option<Bytes>,
    pub timestamp: Option<Bytes>,
    pub bundle: Option<Bytes>,
}

impl BlobEvidenceJs {
    fn evidence(&self) -> BlobEvidence {
        BlobEvidence {
            signature: self.signature.as_ref().map(bytes),
            certificate: self.certificate.as_ref().map(bytes),
            timestamp: self.timestamp.as_ref().map(bytes),
            bundle: self.bundle.as_ref().map(bytes),
        }
    }
}

/// Options of [`TrustRoot::verify_blob_attestation`]: the evidence, and what the statement must
/// say.
#[napi(object, object_to_js = false)]
pub struct VerifyBlobAttestationOptions {
    pub signature: Option<Bytes>,
    pub certificate: Option<Bytes>,
    pub timestamp: Option<Bytes>,
    pub bundle: Option<Bytes>,
    /// The blob, whose SHA-256 the statement must name; or give `digest`.
    pub blob: Option<Bytes>,
    /// The blob's digest (`sha256:<hex>`), instead of `blob`.
    pub digest: Option<String>,
    /// The predicate type required: a `--type` shortcut (default `custom`) or a URI.
    pub predicate_type: Option<String>,
    /// `false` skips the subject check (cosign's `--check-claims=false`); default true.
    pub check_claims: Option<bool>,
}

#[napi]
impl TrustRoot {
    /// Verifies a blob's signature against this trust and `policy`. Resolves to what was
    /// proven; rejects with `NO_MATCHING_SIGNATURE` (whose `details.rejections` say why) or
    /// `INVALID_ARGUMENT` (evidence missing, or a bundle given with loose parts).
    #[napi(ts_return_type = "Promise<BlobVerification>")]
    pub fn verify_blob<'env>(
        &self,
        env: &'env Env,
        blob: Bytes,
        policy: &Policy,
        evidence: BlobEvidenceJs,
    ) -> Result<PromiseRaw<'env, Value>> {
        let (verifier, policy) = (self.verifier.clone(), policy.policy.clone());
        let (blob, evidence) = (bytes(&blob), evidence.evidence());
        spawn(env, async move { Ok(to_js(&verifier.verify_blob(&blob, &evidence, &policy)?)) }, |_, v| Ok(v))
    }

    /// Verifies a blob attestation: signed under this trust and `policy`, its statement naming
    /// the blob's digest (unless `checkClaims: false`) with the predicate type asked for.
    #[napi(ts_return_type = "Promise<BlobVerification>")]
    pub fn verify_blob_attestation<'env>(
        &self,
        env: &'env Env,
        policy: &Policy,
        options: VerifyBlobAttestationOptions,
    ) -> Result<PromiseRaw<'env, Value>> {
        let (verifier, policy) = (self.verifier.clone(), policy.policy.clone());
        let evidence = BlobEvidenceJs {
            signature: options.signature,
            certificate: options.certificate,
            timestamp: options.timestamp,
            bundle: options.bundle,
        }
        .evidence();
        let blob = options.blob.as_ref().map(bytes);
        spawn(
            env,
            async move {
                let check_claims = options.check_claims.unwrap_or(true);
                let subject =
                    ironsign::blob::attestation_subject(check_claims, blob.as_deref(), options.digest.as_deref())?;
                let kind = PredicateKind::parse(options.predicate_type.as_deref().unwrap_or("custom"))?;
                let result =
                    verifier.verify_blob_attestation(subject.as_ref(), &evidence, &policy, Some(kind.uri()))?;
                Ok::<_, Error>(to_js(&result))
            },
            |_, v| Ok(v),
        )
    }
}
