"""The exception hierarchy. The native module raises these; the mapping from the Rust error
(one ``match`` on ``ironsign::Error``) lives in ``ironsign-py/src/errors.rs``.

Every exception carries ``code`` (stable, e.g. ``"NO_MATCHING_SIGNATURE"``), ``family``
(``"verification"``, ``"registry"``, ``"key"``, ``"certificate"``, ``"input"``) and ``details``
(the structured Rust error as a dict, e.g. ``{"NoMatchingSignature": {"rejections": [...]}}``).
"""

from __future__ import annotations

from typing import Any

__all__ = [
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
]


class IronsignError(Exception):
    """Base class of every error ironsign raises."""

    code: str
    family: str
    details: dict[str, Any]

    def __init__(self, message: str, code: str, family: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.family = family
        self.details = details if details is not None else {}

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.message, self.code, self.family, self.details))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, code={self.code!r})"


class VerificationError(IronsignError):
    """The image is not trusted: the security verdict. Catch this to mean "do not deploy"."""


class NoSignaturesError(VerificationError):
    """The image has no signatures at all (code ``NO_SIGNATURES``)."""


class NoMatchingSignatureError(VerificationError):
    """Signatures exist, but none passed every check (code ``NO_MATCHING_SIGNATURE``).
    ``details["NoMatchingSignature"]["rejections"]`` lists why each was rejected."""

    @property
    def rejections(self) -> list[dict[str, Any]]:
        """Each signature's first failed check (index, layer_digest, reason)."""
        inner = self.details.get("NoMatchingSignature", {})
        rejections: list[dict[str, Any]] = inner.get("rejections", [])
        return rejections


class PolicyDeniedError(VerificationError):
    """Attestations passed every signature check, but a Rego policy denied at least one of them
    (code ``POLICY_DENIED``). ``denials`` lists which, and why."""

    @property
    def denials(self) -> list[dict[str, Any]]:
        """Each denied attestation (index, layer_digest, code, reason)."""
        inner = self.details.get("PolicyDenied", {})
        denials: list[dict[str, Any]] = inner.get("denials", [])
        return denials


class RegistryError(IronsignError):
    """A registry or OCI layout could not be read or written (transport, auth, HTTP, limits)."""


class ImageNotFoundError(RegistryError):
    """The image (tag or digest) does not exist (code ``IMAGE_NOT_FOUND``)."""


class KeyMaterialError(IronsignError):
    """A private or public key could not be used: parse errors, a missing or wrong password, an
    unsupported key, a failed signing operation. (Not named ``KeyError``, which would shadow the
    builtin.)"""


class CertificateError(IronsignError):
    """A certificate could not be parsed, or fails a check when signing or loading trust."""


class TimestampError(IronsignError):
    """An RFC 3161 timestamp could not be obtained from the timestamp authority when signing
    (``TIMESTAMP_REQUEST``), or a token is malformed or does not verify (``TIMESTAMP_*``)."""


class InputError(IronsignError, ValueError):
    """Bad input from the caller: an image reference, a file, an argument (also a ``ValueError``)."""


class PredicateError(InputError):
    """A predicate cannot be built from the input: ``INVALID_PREDICATE`` (not what the predicate
    type needs), ``PREDICATE_SCHEMA_VIOLATION`` (breaks the predicate's JSON Schema; ``details``
    has the JSON Pointer) or ``UNKNOWN_SCANNER`` (a vulnerability report from an unrecognised
    scanner, and ``scanner=`` not given)."""


class SbomFormatError(InputError):
    """An SBOM is in no recognised format (``UNKNOWN_SBOM_FORMAT``), or not in the one declared
    (``SBOM_FORMAT_MISMATCH``)."""


class InvalidPolicyError(InputError):
    """A Rego policy does not parse, or is not ``package signature`` (``INVALID_POLICY``)."""


for _cls in (
    IronsignError,
    VerificationError,
    NoSignaturesError,
    NoMatchingSignatureError,
    PolicyDeniedError,
    RegistryError,
    ImageNotFoundError,
    KeyMaterialError,
    CertificateError,
    TimestampError,
    InputError,
    PredicateError,
    SbomFormatError,
    InvalidPolicyError,
):
    _cls.__module__ = "ironsign"
del _cls
