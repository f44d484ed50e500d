# Copyright: (c) 2026, Dana Cloud platform team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rule for a service's name, in one place. Private to the collection.

A service's name becomes its Jenkins job (``autoscale-<service>``), its file names on the state
and PLG hosts, and its Prometheus label, so it must be a DNS label that is safe in all of them:
lower-case letters, digits and ``-``, neither first nor last, at most 40 characters (the job's
name stays a readable DNS label). The inventory's validation (``_model``), the state store, the
alert requests, the Jenkins module and the offboarding roles (filter
``autoscale_invalid_services``) all ask here.
"""

from __future__ import annotations

import re

MAX_SERVICE = 40
# \A and \Z, not ^ and $: "$" would also accept a name followed by a newline
SERVICE = re.compile(rf"\A[a-z0-9](?:[a-z0-9-]{{0,{MAX_SERVICE - 2}}}[a-z0-9])?\Z")
SERVICE_RULE = f"lower-case letters, digits and '-', at most {MAX_SERVICE} characters, not starting or ending with '-'"


def is_service(value) -> bool:
    """Whether ``value`` is a valid service name."""
    return isinstance(value, str) and SERVICE.match(value) is not None
