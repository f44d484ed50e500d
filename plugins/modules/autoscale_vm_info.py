#!/usr/bin/python
# Copyright: (c) 2026, Dana Cloud platform team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: autoscale_vm_info
short_description: Every VM the autoscaler made, in the whole vCenter, in one call
version_added: 0.1.0
description:
  - Lists the VMs that carry the autoscaler's own mark (the advanced setting
    C(guestinfo.vm_autoscale.role=autoscaled), set at clone time) across every folder and
    service of the vCenter, with their service, address and power state, in one property
    collector call (names and advanced settings only).
  - The site-wide cap of autoscaled VMs and a service's instance count (its F5 members plus its
    autoscaled VMs that are not members) are counted from it.
  - The VMs of the services' warm pools (C(guestinfo.vm_autoscale.role=warm), cloned ahead,
    powered off, outside the F5 pools) are listed apart in RV(warm), with the template and its
    version they were cloned from; they count in RV(total) (the site-wide cap), not in RV(vms).
  - Templates are left out of RV(vms); O(templates) names templates to look up in the same call.
author:
  - Dana Cloud platform team (@danacloud)
attributes:
  check_mode:
    description: Reads only.
    support: full
  diff_mode:
    description: Reads only.
    support: none
options:
  hostname:
    description:
      - The vCenter host name or address.
      - If not given, the environment variable E(VMWARE_HOST) is used.
    type: str
  username:
    description:
      - The vCenter user; read-only rights on every VM are enough.
      - If not given, the environment variable E(VMWARE_USER) is used.
    type: str
    aliases: [admin, user]
  password:
    description:
      - The vCenter password.
      - If not given, the environment variable E(VMWARE_PASSWORD) is used.
    type: str
    aliases: [pass, pwd]
  validate_certs:
    description:
      - Check the vCenter certificate. Set to V(false) only in a lab.
      - If not given, the environment variable E(VMWARE_VALIDATE_CERTS) is used.
    type: bool
    default: true
  port:
    description:
      - The vCenter HTTPS port.
      - If not given, the environment variable E(VMWARE_PORT) is used.
    type: int
    default: 443
  proxy_host:
    description:
      - A proxy that relays every HTTPS request to vCenter.
      - If not given, the environment variable E(VMWARE_PROXY_HOST) is used.
    type: str
  proxy_port:
    description:
      - The port of O(proxy_host).
      - If not given, the environment variable E(VMWARE_PROXY_PORT) is used.
    type: int
  templates:
    description:
      - Names of templates to look up (a service's C(autoscale.template.name)), answered in
        RV(templates) - whether an object of that name exists, is a template, and how many share
        the name. Read in the same call, at no extra cost.
    type: list
    elements: str
    default: []
notes:
  - The connection options are those of C(community.vmware), read by its C(vmware_argument_spec).
requirements:
  - pyVmomi
"""

EXAMPLES = r"""
- name: The autoscaled VMs of every service
  danacloud.vm_autoscale.autoscale_vm_info:
    hostname: "{{ vcenter_hostname }}"
    username: "{{ vcenter_username }}"
    password: "{{ vcenter_password }}"
  delegate_to: localhost
  register: autoscaled

- name: The same, and is the service's template there
  danacloud.vm_autoscale.autoscale_vm_info:
    hostname: "{{ vcenter_hostname }}"
    username: "{{ vcenter_username }}"
    password: "{{ vcenter_password }}"
    templates: [acme-web-tmpl]
  delegate_to: localhost
  register: site
  # site.templates['acme-web-tmpl'].template is true when it can be cloned from
"""

RETURN = r"""
vms:
  description: The autoscaled VMs, sorted by name.
  returned: always
  type: list
  elements: dict
  sample: [{"name": "acme-web-auto-0001", "service": "acme-web", "ip": "198.18.1.100",
            "created_at": "2026-11-22T10:00:00Z", "power_state": "poweredOn", "moid": "vm-42"}]
by_service:
  description: How many autoscaled VMs each service has.
  returned: always
  type: dict
  sample: {"acme-web": 2, "globex-api": 1}
total:
  description:
    - How many autoscaled VMs the vCenter holds, all services together, warm VMs included (what
      the site-wide cap counts).
  returned: always
  type: int
warm:
  description:
    - The warm VMs of every service, oldest first (C(created_at), then name), each with the
      template (C(template)) and the template's version (C(template_version), the time
      C(create_template.yml) recorded) it was cloned from.
  returned: always
  type: list
  elements: dict
  sample: [{"name": "acme-web-auto-0003", "service": "acme-web", "ip": "198.18.1.102",
            "created_at": "2026-11-22T10:00:00Z", "power_state": "poweredOff", "moid": "vm-43",
            "template": "acme-web-tmpl", "template_version": "2026-11-20T08:00:00Z"}]
warm_by_service:
  description: How many warm VMs each service has.
  returned: always
  type: dict
  sample: {"acme-web": 2}
templates:
  description:
    - For each name of O(templates) - C(exists) (an object of that name is in the vCenter),
      C(template) (exactly one has the name and it is a template) and C(count) (objects with the
      name; more than one makes a clone by name ambiguous).
  returned: always
  type: dict
  sample: {"acme-web-tmpl": {"exists": true, "template": true, "count": 1}}
"""

from ansible.module_utils.basic import AnsibleModule, env_fallback
from ansible_collections.danacloud.vm_autoscale.plugins.module_utils._failure import ModuleFailure, run

try:
    from ansible_collections.community.vmware.plugins.module_utils.vmware import PyVmomi
    from pyVmomi import vim

    HAS_PYVMOMI = True
except ImportError:  # reported in main()
    HAS_PYVMOMI = False

PREFIX = "guestinfo.vm_autoscale."

# The connection options of community.vmware (its base_argument_spec), spelled out so the
# module's interface does not depend on that collection being importable.
ARGUMENT_SPEC = {
    "hostname": {"type": "str", "fallback": (env_fallback, ["VMWARE_HOST"])},
    "username": {"type": "str", "aliases": ["user", "admin"], "fallback": (env_fallback, ["VMWARE_USER"])},
    "password": {
        "type": "str",
        "aliases": ["pass", "pwd"],
        "no_log": True,
        "fallback": (env_fallback, ["VMWARE_PASSWORD"]),
    },
    "port": {"type": "int", "default": 443, "fallback": (env_fallback, ["VMWARE_PORT"])},
    "validate_certs": {"type": "bool", "default": True, "fallback": (env_fallback, ["VMWARE_VALIDATE_CERTS"])},
    "proxy_host": {"type": "str", "fallback": (env_fallback, ["VMWARE_PROXY_HOST"])},
    "proxy_port": {"type": "int", "fallback": (env_fallback, ["VMWARE_PROXY_PORT"])},
    "templates": {"type": "list", "elements": "str", "default": []},
}


def _autoscaled(objects, role: str = "autoscaled") -> list:
    """The VMs (not templates) whose ``guestinfo.vm_autoscale.role`` is ``role``."""
    vms = []
    for item in objects:
        props = {prop.name: prop.val for prop in item.propSet}
        if props.get("config.template"):
            continue
        settings = {
            option.key[len(PREFIX) :]: str(option.value)
            for option in props.get("config.extraConfig") or []
            if option.key.startswith(PREFIX)
        }
        if settings.get("role") != role:
            continue
        vm = {
            "name": props.get("name"),
            "service": settings.get("service", ""),
            "ip": settings.get("ip", ""),
            "created_at": settings.get("created_at", ""),
            "power_state": str(props.get("runtime.powerState", "")),
            "moid": item.obj._moId,
        }
        if role == "warm":
            vm.update(template=settings.get("template", ""), template_version=settings.get("template_version", ""))
        vms.append(vm)
    if role == "warm":
        return sorted(vms, key=lambda vm: (vm["created_at"], vm["name"] or ""))
    return sorted(vms, key=lambda vm: vm["name"] or "")


def _templates(objects, names) -> dict:
    """{name: {exists, template, count}} for each asked name, from the same objects."""
    found: dict = {name: [] for name in names}
    for item in objects:
        props = {prop.name: prop.val for prop in item.propSet}
        if props.get("name") in found:
            found[props["name"]].append(bool(props.get("config.template")))
    return {
        name: {"exists": bool(kinds), "template": kinds == [True], "count": len(kinds)} for name, kinds in found.items()
    }


def _list(module: AnsibleModule) -> dict:
    action = f"list the autoscaled VMs in vCenter {module.params['hostname']}"
    if not HAS_PYVMOMI:
        raise ModuleFailure(action, "the module needs pyVmomi and community.vmware on the controller")
    client = PyVmomi(module)
    properties = ["name", "config.template", "config.extraConfig", "runtime.powerState"]
    try:
        objects = client.get_managed_objects_properties(vim.VirtualMachine, properties)
    except (vim.fault.VimFault, OSError) as exc:
        raise ModuleFailure(action, exc) from exc
    vms, warm = _autoscaled(objects), _autoscaled(objects, "warm")
    templates = _templates(objects, module.params["templates"])
    return {
        "changed": False,
        "vms": vms,
        "by_service": _by_service(vms),
        "warm": warm,
        "warm_by_service": _by_service(warm),
        "total": len(vms) + len(warm),
        "templates": templates,
    }


def _by_service(vms: list) -> dict:
    counts: dict = {}
    for vm in vms:
        counts[vm["service"]] = counts.get(vm["service"], 0) + 1
    return counts


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    run(module, _list)


if __name__ == "__main__":
    main()
