"""ironsign: sign and verify OCI images in Sigstore cosign's formats with your own X.509 PKI.

In-process binding of the ``ironsign`` Rust library::

    import ironsign

    reg = ironsign.RegistryClient()
    signer = ironsign.Signer.from_key_file("leaf.key", certificate="leaf.pem", chain="chain.pem")
    reg.sign("registry.example/team/app@sha256:...", signer, annotations={"build": "123"})
    reg.attest("registry.example/team/app@sha256:...", signer, predicate_type="vuln",
               predicate="trivy-report.json")

    trust = ironsign.TrustRoot.from_pem_files(roots=["root.pem"])
    policy = ironsign.Policy(identity="signer@example.com")
    result = reg.verify("registry.example/team/app:1.0", trust, policy)
    print(result.signatures[0].certificate.subject)

Blocking calls release the GIL; ``ironsign.aio.RegistryClient`` has the same methods as
coroutines. Errors derive from :class:`IronsignError` and carry a stable ``code``.
"""

from ironsign._errors import (
    CertificateError,
    ImageNotFoundError,
    InputError,
    InvalidPolicyError,
    IronsignError,
    KeyMaterialError,
    NoMatchingSignatureError,
    NoSignaturesError,
    PolicyDeniedError,
    PredicateError,
    RegistryError,
    SbomFormatError,
    TimestampError,
    VerificationError,
)
from ironsign._ironsign import (
    AttachReport,
    AttestationResult,
    ArtifactTree,
    BlobVerification,
    SignedBlob,
    attest_blob,
    sign_blob,
    AttestReport,
    CertificateDetails,
    CertificateSummary,
    CertificateWarning,
    CheckFinding,
    CheckReport,
    InspectionReport,
    RegoPolicy,
    RenewalReport,
    SbomDownload,
    TransferReport,
    GcPlan,
    GcReport,
    ResignPlan,
    ResignReport,
    VerifiedAttestation,
    Policy,
    RegistryClient,
    SignatureLayer,
    SignaturePayload,
    SignatureRejection,
    SignedEntry,
    SignedImage,
    Signer,
    SignReport,
    TrustConfig,
    TrustConfigVerification,
    TrustRoot,
    VerificationResult,
    VerifiedSignature,
    Verifier,
    __version__,
    check_certificate,
    create_csr,
    generate_key_pair,
    inspect_certificate,
    instructions,
    verify_renewal,
)

__all__ = [
    "__version__",
    # Clients and inputs
    "RegistryClient",
    "Signer",
    "TrustRoot",
    "Policy",
    "Verifier",
    "RegoPolicy",
    "generate_key_pair",
    # Blobs
    "sign_blob",
    "attest_blob",
    "SignedBlob",
    "BlobVerification",
    # Trust configurations and verification instructions
    "TrustConfig",
    "TrustConfigVerification",
    "instructions",
    # Certificate tooling
    "inspect_certificate",
    "check_certificate",
    "verify_renewal",
    "create_csr",
    # Results
    "SignReport",
    "SignedEntry",
    "SignedImage",
    "SignatureLayer",
    "VerificationResult",
    "VerifiedSignature",
    "SignatureRejection",
    "SignaturePayload",
    "CertificateSummary",
    "AttestReport",
    "TransferReport",
    "GcPlan",
    "GcReport",
    "ResignPlan",
    "ResignReport",
    "AttestationResult",
    "VerifiedAttestation",
    "AttachReport",
    "SbomDownload",
    "ArtifactTree",
    "InspectionReport",
    "CertificateDetails",
    "CertificateWarning",
    "CheckReport",
    "CheckFinding",
    "RenewalReport",
    # Errors
    "IronsignError",
    "VerificationError",
    "NoSignaturesError",
    "NoMatchingSignatureError",
    "PolicyDeniedError",
    "RegistryError",
    "ImageNotFoundError",
    "KeyMaterialError",
    "CertificateError",
    "InputError",
    "PredicateError",
    "SbomFormatError",
    "InvalidPolicyError",
    "TimestampError",
]
