# Copyright: (c) 2026, Dana Cloud platform team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The errors of the autoscaler's IP address management (``_ipam`` and its parts).

Nothing in these modules talks to Ansible: they raise ``IpamError`` subclasses, and
``ip_pool_allocate`` turns them into its one ``fail_json``.
"""

from __future__ import annotations


class IpamError(Exception):
    """Base of every error this module raises; the message is meant for the operator."""


class PoolDefinitionError(IpamError):
    """The pool definition given to the module is not valid; ``field`` names the culprit."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field = field_name


class LeaseFileError(IpamError):
    """The lease file cannot be read, is not JSON, or does not follow the schema."""


class LockTimeout(IpamError):
    """The lease file stayed locked (or every free address stayed held) for too long."""


class LeaseConflict(IpamError):
    """The request contradicts the leases on record (other owner, other service...)."""


class PoolExhausted(IpamError):
    """No address of the pool can be handed out."""


class ProbeError(IpamError):
    """A probe could not run at all (no route to the subnet, no ping, no permission)."""
