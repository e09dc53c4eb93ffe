"""Fail closed: every trust, policy and timestamp option of the verifying calls changes the
outcome on a case built for it (the options are read from the stubs, so a new option without a
case fails here), and the binding gives every PKI fixture the verdict and rejection code the CLI
gives (`ironsign verify --output json`)."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import ironsign
from conftest import SCRIPTS, make_images, run

STUBS = Path(ironsign.__file__).parent / "_ironsign.pyi"
IDENTITY = "signer@example.com"
SUBJECT = "CN=Ironsign Test Signer,OU=Pipeline,O=Ironsign Test,C=US"

# The verifying calls, and which of their parameters are options: every parameter of the trust
# constructors and of Policy, the parameters with a default of the registry calls.
SURFACE = {
    "TrustRoot": ("from_pem", "from_pem_files", "from_chain_pem", "from_chain_file", "from_public_key_pem",
                  "from_public_key_files", "with_timestamp_authorities", "with_crls"),
    "Policy": ("__new__",),
    "RegistryClient": ("verify", "verify_attestation", "list_artifacts", "resign_plan"),
}


def stub_parameters(cls: str, method: str) -> list[tuple[str, bool]]:
    """(name, has a default) of each parameter of `cls.method` in the stubs, self/cls aside."""
    for node in ast.parse(STUBS.read_text()).body:
        if isinstance(node, ast.ClassDef) and node.name == cls:
            for fn in node.body:
                if isinstance(fn, ast.FunctionDef) and fn.name == method:
                    a = fn.args
                    positional = a.posonlyargs + a.args
                    first_default = len(positional) - len(a.defaults)
                    out = [(p.arg, i >= first_default) for i, p in enumerate(positional)]
                    out += [(p.arg, d is not None) for p, d in zip(a.kwonlyargs, a.kw_defaults)]
                    return [(n, d) for n, d in out if n not in ("self", "cls")]
    raise AssertionError(f"{cls}.{method} is not in the stubs")


def stub_options() -> set[str]:
    out = set()
    for cls, methods in SURFACE.items():
        for method in methods:
            for name, has_default in stub_parameters(cls, method):
                if cls != "RegistryClient" or has_default:
                    out.add(f"{cls}.{method}({name})")
    return out


@dataclass
class World:
    """Images built for the cases, and what verifies them."""

    pki: Path
    registry: str
    client: ironsign.RegistryClient
    trust: ironsign.TrustRoot
    policy: ironsign.Policy
    good: str  # signed by the leaf with its chain, annotated env=prod; attested; timestamped
    chainless: str  # signed by the leaf, no chain in the signature
    noeku: str  # signed by a leaf without an extended key usage
    otherid: str  # signed by a leaf of another SAN
    key_only: str  # signed with the leaf key, no certificate
    index: str  # a two-platform index, signed
    repo: str  # the repository of `good` and a second signed image
    crl_revoking_leaf: bytes
    other_pub: Path  # a public key that made none of the signatures

    def file(self, name: str) -> Path:
        return self.pki / name

    def pem(self, name: str) -> bytes:
        return (self.pki / name).read_bytes()


@pytest.fixture(scope="module")
def world(pki: Path, registry: str, client: ironsign.RegistryClient, trust: ironsign.TrustRoot,
          policy: ironsign.Policy, signer: ironsign.Signer, tsa_url: str,
          tmp_path_factory: pytest.TempPathFactory) -> World:
    repo = f"py/fail-closed-{uuid.uuid4().hex[:8]}"
    good, second = make_images(registry, repo, count=2)
    stamped = signer.with_timestamp_server(f"{tsa_url}/ecdsa")
    client.sign(good.ref, stamped, annotations={"env": "prod"})
    client.sign(second.ref, signer)
    client.attest(good.ref, signer, predicate={"a": 1})

    def signed(key: str, cert: str | None, chain: str | None = "chain.pem") -> str:
        image = make_images(registry, f"py/fail-closed-{uuid.uuid4().hex[:8]}")[0]
        s = ironsign.Signer.from_key_file(pki / key, certificate=pki / cert if cert else None,
                                          chain=pki / chain if cert and chain else None)
        client.sign(image.ref, s)
        return image.ref

    index = make_images(registry, f"py/fail-closed-{uuid.uuid4().hex[:8]}", platforms="linux/amd64,linux/arm64")[0]
    client.sign(index.ref, signer, recursive=True)
    files = tmp_path_factory.mktemp("fail-closed")
    crl = files / "revokes-leaf.crl"
    run(SCRIPTS / "make-test-crl", pki, "inter", crl, "leaf")
    other_pub = files / "other.pub"
    other_pub.write_text(ironsign.Signer.from_key_file(pki / "leaf-rsa.key").public_key_pem)
    return World(
        pki=pki, registry=registry, client=client, trust=trust, policy=policy,
        good=good.ref,
        chainless=signed("leaf.key", "leaf.pem", None),
        noeku=signed("leaf-noeku.key", "leaf-noeku.pem"),
        otherid=signed("leaf-otherid.key", "leaf-otherid.pem"),
        key_only=signed("leaf.key", None),
        index=index.ref,
        repo=f"{registry}/{repo}",
        crl_revoking_leaf=crl.read_bytes(),
        other_pub=other_pub,
    )


def resign(w: World, **options: Any) -> ironsign.ResignPlan:
    return w.client.resign_plan([w.repo], w.trust, w.policy, **options)


def whole_registry(w: World, **options: Any) -> ironsign.ResignPlan:
    return w.client.resign_plan([], w.trust, w.policy, all_repositories=w.registry, expires_within_days=400, **options)


def examined(plan: ironsign.ResignPlan) -> str:
    """How many images the plan looked at (or could not read)."""
    return str(len(plan.candidates) + len(plan.skipped) + len(plan.errors))


def expect(actual: str, expected: str | tuple[str, ...]) -> None:
    """`expected`, or one of them (a bound may truncate or refuse: either shows it is honoured)."""
    allowed = expected if isinstance(expected, tuple) else (expected,)
    assert actual in allowed, f"{actual!r} is not {expected!r}"


def outcome(call: Callable[[], object]) -> str:
    """A string the call returns, `ok` for any other value, or the error code (with the rejection
    codes)."""
    try:
        value = call()
    except ironsign.NoMatchingSignatureError as e:
        return f"{e.code}:{','.join(r['code'] for r in e.rejections)}"
    except ironsign.IronsignError as e:
        return e.code
    return value if isinstance(value, str) else "ok"


def case(*pairs: tuple[Callable[[World], object], str | tuple[str, ...]]) -> Callable[[World], None]:
    """A case: each call (given the world) has the outcome beside it."""
    def run_case(w: World) -> None:
        for call, expected in pairs:
            expect(outcome(lambda: call(w)), expected)
    return run_case


REFUSED = "NO_MATCHING_SIGNATURE"
ROOT = "root.pem"
OTHER_ROOT = "other-root.pem"


def verify(image: Callable[[World], str], trust: Callable[[World], ironsign.TrustRoot] | None = None,
           policy: Callable[[], ironsign.Policy] | None = None) -> Callable[[World], object]:
    return lambda w: w.client.verify(image(w), trust(w) if trust else w.trust, policy() if policy else w.policy)


def good(w: World) -> str:
    return w.good


def chainless(w: World) -> str:
    return w.chainless


def key_only(w: World) -> str:
    return w.key_only


def otherid(w: World) -> str:
    return w.otherid


def noeku(w: World) -> str:
    return w.noeku


def ident(**kw: Any) -> Callable[[], ironsign.Policy]:
    return lambda: ironsign.Policy(**kw)


DENY = Path(__file__).parent / "deny.rego"

CASES: dict[str, Callable[[World], None]] = {
    # Trust material: the right value accepts, another refuses.
    "TrustRoot.from_pem(roots)": case(
        (verify(good, lambda w: ironsign.TrustRoot.from_pem(w.pem(ROOT))), "ok"),
        (verify(good, lambda w: ironsign.TrustRoot.from_pem(w.pem(OTHER_ROOT))), f"{REFUSED}:CERT_UNTRUSTED_CHAIN")),
    "TrustRoot.from_pem(intermediates)": case(
        (verify(chainless, lambda w: ironsign.TrustRoot.from_pem(w.pem(ROOT))), f"{REFUSED}:CERT_UNTRUSTED_CHAIN"),
        (verify(chainless, lambda w: ironsign.TrustRoot.from_pem(w.pem(ROOT), w.pem("inter.pem"))), "ok")),
    "TrustRoot.from_pem_files(roots)": case(
        (verify(good, lambda w: ironsign.TrustRoot.from_pem_files(w.file(ROOT))), "ok"),
        (verify(good, lambda w: ironsign.TrustRoot.from_pem_files(w.file(OTHER_ROOT))),
         f"{REFUSED}:CERT_UNTRUSTED_CHAIN")),
    "TrustRoot.from_pem_files(intermediates)": case(
        (verify(chainless, lambda w: ironsign.TrustRoot.from_pem_files(w.file(ROOT))),
         f"{REFUSED}:CERT_UNTRUSTED_CHAIN"),
        (verify(chainless, lambda w: ironsign.TrustRoot.from_pem_files(w.file(ROOT), w.file("inter.pem"))), "ok")),
    "TrustRoot.from_chain_pem(chain)": case(
        (verify(good, lambda w: ironsign.TrustRoot.from_chain_pem(w.pem("chain.pem"))), "ok"),
        (verify(good, lambda w: ironsign.TrustRoot.from_chain_pem(w.pem("other-chain.pem"))),
         f"{REFUSED}:CERT_UNTRUSTED_CHAIN")),
    "TrustRoot.from_chain_file(path)": case(
        (verify(good, lambda w: ironsign.TrustRoot.from_chain_file(w.file("chain.pem"))), "ok"),
        (verify(good, lambda w: ironsign.TrustRoot.from_chain_file(w.file("other-chain.pem"))),
         f"{REFUSED}:CERT_UNTRUSTED_CHAIN")),
    "TrustRoot.from_public_key_pem(keys)": case(
        (verify(key_only, lambda w: ironsign.TrustRoot.from_public_key_pem(w.pem("leaf.pub")), ident()), "ok"),
        (verify(key_only, lambda w: ironsign.TrustRoot.from_public_key_pem(w.other_pub.read_bytes()), ident()),
         f"{REFUSED}:BAD_SIGNATURE")),
    "TrustRoot.from_public_key_files(paths)": case(
        (verify(key_only, lambda w: ironsign.TrustRoot.from_public_key_files(w.file("leaf.pub")), ident()), "ok"),
        (verify(key_only, lambda w: ironsign.TrustRoot.from_public_key_files(w.other_pub), ident()),
         f"{REFUSED}:BAD_SIGNATURE")),
    # `good` carries a timestamp: verified against the TSA roots given, ignored without any.
    "TrustRoot.with_timestamp_authorities(pem)": case(
        (lambda w: str("timestamp" in w.client.verify(w.good, w.trust, w.policy).signatures[0].checks), "False"),
        (lambda w: str("timestamp" in w.client.verify(
            w.good, w.trust.with_timestamp_authorities(w.pem("tsa-ecdsa-chain.pem")), w.policy).signatures[0].checks),
         "True"),
        (verify(good, lambda w: w.trust.with_timestamp_authorities(w.pem(OTHER_ROOT))),
         f"{REFUSED}:TIMESTAMP_UNTRUSTED")),
    "TrustRoot.with_crls(crls)": case(
        (verify(good), "ok"),
        (verify(good, lambda w: w.trust.with_crls(w.crl_revoking_leaf)), f"{REFUSED}:CERT_REVOKED")),
    # Policy: each identity form honoured; an empty pattern (which would match any SAN) refused.
    "Policy.__new__(identity)": case(
        (verify(good, policy=ident(identity=IDENTITY)), "ok"),
        (verify(otherid, policy=ident(identity=IDENTITY)), f"{REFUSED}:IDENTITY_MISMATCH"),
        (lambda w: ironsign.Policy(identity=[]), "INVALID_ARGUMENT")),
    "Policy.__new__(identity_regexp)": case(
        (verify(good, policy=ident(identity_regexp="^signer@")), "ok"),
        (verify(good, policy=ident(identity_regexp="^someone@")), f"{REFUSED}:IDENTITY_MISMATCH"),
        (lambda w: ironsign.Policy(identity_regexp=""), "INVALID_ARGUMENT"),
        (lambda w: ironsign.Policy(identity=IDENTITY, identity_regexp="^x"), "INVALID_ARGUMENT")),
    "Policy.__new__(subject)": case(
        (verify(good, policy=ident(subject=SUBJECT)), "ok"),
        (verify(good, policy=ident(subject="CN=Someone")), f"{REFUSED}:IDENTITY_MISMATCH")),
    "Policy.__new__(subject_regexp)": case(
        (verify(good, policy=ident(subject_regexp="CN=Ironsign Test Signer")), "ok"),
        (verify(good, policy=ident(subject_regexp="CN=Someone")), f"{REFUSED}:IDENTITY_MISMATCH")),
    "Policy.__new__(annotations)": case(
        (verify(good, policy=ident(identity=IDENTITY, annotations={"env": "prod"})), "ok"),
        (verify(good, policy=ident(identity=IDENTITY, annotations={"env": "dev"})), f"{REFUSED}:ANNOTATION_MISMATCH")),
    "Policy.__new__(require_code_signing_eku)": case(
        (verify(noeku), "ok"),
        (verify(noeku, policy=ident(identity=IDENTITY, require_code_signing_eku=True)),
         f"{REFUSED}:CERT_NO_CODE_SIGNING")),
    "Policy.__new__(dangerous_any_identity)": case(
        (verify(otherid, policy=ident(dangerous_any_identity=True)), "ok"),
        (verify(otherid, policy=ident()), "INVALID_ARGUMENT"),
        (lambda w: ironsign.Policy(identity=IDENTITY, dangerous_any_identity=True), "INVALID_ARGUMENT")),
    # Attestations: the predicate type and the Rego policies.
    "RegistryClient.verify_attestation(predicate_type)": case(
        (lambda w: w.client.verify_attestation(w.good, w.trust, w.policy, predicate_type="custom"), "ok"),
        (lambda w: w.client.verify_attestation(w.good, w.trust, w.policy, predicate_type="vuln"),
         f"{REFUSED}:PREDICATE_TYPE_MISMATCH")),
    "RegistryClient.verify_attestation(rego_policies)": case(
        (lambda w: w.client.verify_attestation(w.good, w.trust, w.policy, rego_policies=[]), "ok"),
        (lambda w: w.client.verify_attestation(w.good, w.trust, w.policy, rego_policies=[DENY]), "POLICY_DENIED")),
    # The tree: trust and policy verify each signature; one without the other is refused.
    "RegistryClient.list_artifacts(trust)": case(
        (lambda w: str(states(w.client.list_artifacts(w.good))), "['not_checked']"),
        (lambda w: str(states(w.client.list_artifacts(w.good, w.trust, w.policy))), "['verified']"),
        (lambda w: str(states(w.client.list_artifacts(w.good, ironsign.TrustRoot.from_pem(w.pem(OTHER_ROOT)),
                                                      w.policy))), "['rejected']"),
        (lambda w: w.client.list_artifacts(w.good, w.trust), "INVALID_ARGUMENT")),
    "RegistryClient.list_artifacts(policy)": case(
        (lambda w: str(states(w.client.list_artifacts(w.good, w.trust, ironsign.Policy(identity="x@example.com")))),
         "['rejected']"),
        (lambda w: w.client.list_artifacts(w.good, policy=w.policy), "INVALID_ARGUMENT")),
    # Which verified signatures are listed, never the verdict (tests/tests/requests.rs proves
    # what it reads): both values verify a good image and refuse another root the same way.
    "RegistryClient.verify(all_signatures)": case(
        (lambda w: w.client.verify(w.good, w.trust, w.policy, all_signatures=True), "ok"),
        (lambda w: w.client.verify(w.good, ironsign.TrustRoot.from_pem(w.pem(OTHER_ROOT)), w.policy,
                                   all_signatures=True), f"{REFUSED}:CERT_UNTRUSTED_CHAIN")),
    "RegistryClient.list_artifacts(platforms)": case(
        (lambda w: str([len(w.client.list_artifacts(w.index, platforms=p).platforms) for p in (True, False)]),
         "[2, 0]")),
    # Re-signing: each option changes the plan.
    "RegistryClient.resign_plan(expires_within_days)": case(
        (lambda w: str([len(resign(w, expires_within_days=d).candidates) for d in (400, 30)]), "[2, 0]")),
    "RegistryClient.resign_plan(signed_by)": case(
        (lambda w: str([len(resign(w, signed_by=w.file(c)).candidates) for c in ("leaf.pem", "leaf-rsa.pem")]),
         "[2, 0]")),
    "RegistryClient.resign_plan(max_tags)": case(
        (lambda w: str(len(resign(w, expires_within_days=400).candidates)), "2"),
        (lambda w: str(len(resign(w, expires_within_days=400, max_tags=1).candidates) < 2),
         ("True", "REGISTRY_TOO_MANY"))),
    "RegistryClient.resign_plan(all_repositories)": case(
        (lambda w: str(w.good in [c["image"] for c in whole_registry(w).candidates]), "True"),
        (lambda w: str(len(w.client.resign_plan([], w.trust, w.policy, expires_within_days=400).candidates)), "0")),
    "RegistryClient.resign_plan(max_repositories)": case(
        (lambda w: str(int(examined(whole_registry(w, max_repositories=1)))
                       < int(examined(whole_registry(w, max_repositories=100_000)))), ("True", "REGISTRY_TOO_MANY"))),
}


def states(tree: ironsign.ArtifactTree) -> list[str]:
    return re.findall(r'"state": "(\w+)"', json.dumps(tree.to_dict()))


def test_every_option_has_a_case() -> None:
    assert stub_options() == set(CASES), "an option without a case (or a case without an option)"
    # The asyncio client takes the very same options.
    for method in SURFACE["RegistryClient"]:
        assert stub_parameters("AsyncRegistryClient", method) == stub_parameters("RegistryClient", method)


@pytest.mark.parametrize("option", sorted(CASES))
def test_option_changes_the_outcome(option: str, world: World) -> None:
    CASES[option](world)


def cli_outcome(ironsign_bin: Path, image: str, fx: dict[str, Any]) -> str:
    args = [str(ironsign_bin), "verify", "--ca-roots", *fx["roots"], "--crl", fx["crl"],
            "--certificate-identity", fx["identity"], "-o", "json", image]
    out = subprocess.run(args, capture_output=True, text=True)
    if out.returncode == 0:
        return "ok"
    error = json.loads(out.stdout)["error"]
    rejections = error["details"].get("NoMatchingSignature", {}).get("rejections", [])
    return f"{error['code']}:{','.join(r['code'] for r in rejections)}" if rejections else str(error["code"])


@pytest.fixture(scope="module")
def verdicts(pki: Path, registry: str, ironsign_bin: Path,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    out = tmp_path_factory.mktemp("verdicts")
    yield json.loads(run(SCRIPTS / "make-verdict-fixtures", registry, pki, out, ironsign_bin))


def test_two_roads_one_answer(verdicts: dict[str, Any], client: ironsign.RegistryClient,
                              ironsign_bin: Path) -> None:
    fx = verdicts
    trust = ironsign.TrustRoot.from_pem_files(fx["roots"]).with_crls(Path(fx["crl"]).read_bytes())
    policy = ironsign.Policy(identity=fx["identity"])
    seen = {}
    for name, image in fx["fixtures"].items():
        api = outcome(lambda: client.verify(image, trust, policy))
        cli = cli_outcome(ironsign_bin, image, fx)
        expected = fx["expected"][name]
        assert api == cli, f"{name}: Python says {api}, the CLI says {cli}"
        assert api == ("ok" if expected is None else f"NO_MATCHING_SIGNATURE:{expected}"), name
        seen[name] = api
    assert len(set(seen.values())) == len(seen), f"two fixtures share a verdict: {seen}"
