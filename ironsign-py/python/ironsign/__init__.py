"""ironsign: sign and verify OCI images in Sigstore cosign's formats with your own X.509 PKI.

In-process binding of the ``ironsign`` Rust library::

    import ironsign

    reg = ironsign.RegistryClient()
    signer = ironsign.Signer.from_key_file("leaf.key", certificate="leaf.pem", chain="chain.pem")
    reg.sign("registry.example/team/app@sha256:...", signer, annotations={"build": "123"})

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
    IronsignError,
    KeyMaterialError,
    NoMatchingSignatureError,
    NoSignaturesError,
    RegistryError,
    VerificationError,
)
from ironsign._ironsign import (
    CertificateSummary,
    Policy,
    RegistryClient,
    SignatureLayer,
    SignaturePayload,
    SignatureRejection,
    SignedEntry,
    SignedImage,
    Signer,
    SignReport,
    TrustRoot,
    VerificationResult,
    VerifiedSignature,
    Verifier,
    __version__,
    generate_key_pair,
)

__all__ = [
    "__version__",
    # Clients and inputs
    "RegistryClient",
    "Signer",
    "TrustRoot",
    "Policy",
    "Verifier",
    "generate_key_pair",
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
    # Errors
    "IronsignError",
    "VerificationError",
    "NoSignaturesError",
    "NoMatchingSignatureError",
    "RegistryError",
    "ImageNotFoundError",
    "KeyMaterialError",
    "CertificateError",
    "InputError",
]
