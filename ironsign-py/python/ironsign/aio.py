"""The asyncio flavour: ``ironsign.aio.RegistryClient`` takes the same arguments as
``ironsign.RegistryClient`` and has the same methods, as coroutines::

    reg = ironsign.aio.RegistryClient()
    result = await reg.verify("registry.example/team/app:1.0", trust, policy)

Signers, trust roots, policies and results are the ones of ``ironsign``.
"""

from ironsign._ironsign import AsyncRegistryClient
from ironsign._ironsign import AsyncRegistryClient as RegistryClient

__all__ = ["AsyncRegistryClient", "RegistryClient"]
