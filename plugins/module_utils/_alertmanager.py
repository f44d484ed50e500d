# Copyright: (c) 2026, Dana Cloud platform team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""alertmanager.yml from the operator's base configuration plus a route per autoscaled service.

Private to the collection; behind the filter ``autoscale_alertmanager_config``. Routing:

- a service's scale alerts (``service="<s>"``, ``vm_autoscale="action"``) go to the receiver
  ``autoscale-<s>``: a webhook to the service's Jenkins Generic Webhook Trigger, authenticated by
  the service's token as a bearer credential read from a file (never in the URL);
- the operator alerts of every service (``vm_autoscale="operator"``) go to the operator's receiver;
- everything else follows the operator's own routes, which come after these.

A firing scale-out inhibits the scale-in of the same service.
"""

from __future__ import annotations

import copy

OWNED_PREFIX = "autoscale-"
INHIBIT = {
    "source_matchers": ['autoscale_action="scale_out"'],
    "target_matchers": ['autoscale_action="scale_in"'],
    "equal": ["service"],
}


class AlertmanagerConfigError(Exception):
    """The base configuration or the settings cannot make a valid alertmanager.yml."""


def service_receiver(service: str, settings: dict) -> dict:
    http_config: dict = {
        "authorization": {"type": "Bearer", "credentials_file": f"{settings['secrets_dir']}/webhook-{service}.token"}
    }
    if settings.get("tls_config"):
        http_config["tls_config"] = copy.deepcopy(settings["tls_config"])
    return {
        "name": f"{OWNED_PREFIX}{service}",
        "webhook_configs": [{"url": settings["webhook_url"], "send_resolved": False, "http_config": http_config}],
    }


def service_route(service: str, settings: dict) -> dict:
    return {
        "receiver": f"{OWNED_PREFIX}{service}",
        "matchers": [f'service="{service}"', 'vm_autoscale="action"'],
        "group_by": ["service", "autoscale_action"],
        "group_wait": settings["group_wait"],
        "group_interval": settings["group_interval"],
        "repeat_interval": settings["repeat_interval"],
    }


def render(base: dict, services: list, settings: dict) -> dict:
    """The whole configuration; raises AlertmanagerConfigError naming what is wrong."""
    if not isinstance(base, dict) or not isinstance(base.get("route"), dict):
        raise AlertmanagerConfigError("the base configuration needs a route (with the default receiver)")
    receivers = [r for r in base.get("receivers") or [] if not str(r.get("name", "")).startswith(OWNED_PREFIX)]
    names = {r.get("name") for r in receivers}
    operator = settings.get("operator_receiver") or base["route"].get("receiver")
    if operator not in names:
        known = ", ".join(sorted(map(str, names)))
        raise AlertmanagerConfigError(
            f"the operator receiver {operator!r} is not among the base configuration's receivers ({known})"
        )
    rendered = copy.deepcopy(base)
    own_routes = [service_route(service, settings) for service in sorted(services)]
    operator_route = {
        "receiver": operator,
        "matchers": ['vm_autoscale="operator"'],
        "group_by": ["service", "alertname"],
    }
    base_routes = [
        r for r in base["route"].get("routes") or [] if not str(r.get("receiver", "")).startswith(OWNED_PREFIX)
    ]
    base_routes = [r for r in base_routes if r != operator_route]
    rendered["route"]["routes"] = [*own_routes, operator_route, *base_routes]
    rendered["receivers"] = [*receivers, *(service_receiver(service, settings) for service in sorted(services))]
    inhibit = [rule for rule in base.get("inhibit_rules") or [] if rule != INHIBIT]
    rendered["inhibit_rules"] = [*inhibit, copy.deepcopy(INHIBIT)]
    return rendered
