"""autoscale_vm_info: what it makes of the objects vCenter's property collector returns.

The objects are built like pyVmomi's ObjectContent (obj with _moId, propSet of name/val); the
module's main() is driven with a client that returns them, so the options and answers are real.
"""

from types import SimpleNamespace

import pytest
from ansible_collections.danacloud.vm_autoscale.plugins.modules import autoscale_vm_info


def content(moid, name, template=False, settings=None, power="poweredOn"):
    extra = [
        SimpleNamespace(key=f"guestinfo.vm_autoscale.{key}", value=value) for key, value in (settings or {}).items()
    ]
    extra.append(SimpleNamespace(key="guestinfo.other", value="x"))
    props = {"name": name, "config.template": template, "config.extraConfig": extra, "runtime.powerState": power}
    return SimpleNamespace(
        obj=SimpleNamespace(_moId=moid), propSet=[SimpleNamespace(name=k, val=v) for k, v in props.items()]
    )


SITE = [
    content("vm-1", "acme-web-auto-0002", settings={"role": "autoscaled", "service": "acme-web", "ip": "198.18.1.101"}),
    content("vm-2", "acme-web-auto-0001", settings={"role": "autoscaled", "service": "acme-web", "ip": "198.18.1.100"}),
    content(
        "vm-3", "globex-api-auto-0001", settings={"role": "autoscaled", "service": "globex-api"}, power="poweredOff"
    ),
    content("vm-4", "acme-web-01"),  # a static member: not the autoscaler's
    content("vm-5", "acme-web-tmpl", template=True, settings={"role": "autoscaled", "service": "acme-web"}),
    content("vm-6", "globex-api-tmpl"),  # a VM, not a template
    content("vm-7", "twice-tmpl", template=True),
    content("vm-8", "twice-tmpl", template=True),
]


@pytest.fixture
def site(monkeypatch):
    class Client:
        def __init__(self, module):
            self.module = module

        def get_managed_objects_properties(self, vim_type, properties):
            assert set(properties) == {"name", "config.template", "config.extraConfig", "runtime.powerState"}
            return SITE

    monkeypatch.setattr(autoscale_vm_info, "PyVmomi", Client)
    monkeypatch.setattr(autoscale_vm_info, "HAS_PYVMOMI", True)


def test_only_the_autoscalers_vms_are_listed_sorted_and_counted_templates_left_out(run_module, site):
    result = run_module(
        autoscale_vm_info.main, {"hostname": "127.0.0.1", "username": "reader", "password": "s3cret-lab"}
    )
    assert [vm["name"] for vm in result["vms"]] == ["acme-web-auto-0001", "acme-web-auto-0002", "globex-api-auto-0001"]
    assert result["vms"][0] == {"name": "acme-web-auto-0001", "service": "acme-web", "ip": "198.18.1.100",
                                "created_at": "", "power_state": "poweredOn", "moid": "vm-2"}  # fmt: skip
    assert result["by_service"] == {"acme-web": 2, "globex-api": 1} and result["total"] == 3
    assert result["templates"] == {} and not result["changed"]


def test_templates_asked_for_are_told_apart_missing_a_vm_or_ambiguous(run_module, site):
    asked = ["acme-web-tmpl", "globex-api-tmpl", "twice-tmpl", "never-made"]
    result = run_module(autoscale_vm_info.main, {"hostname": "127.0.0.1", "templates": asked})
    assert result["templates"] == {
        "acme-web-tmpl": {"exists": True, "template": True, "count": 1},
        "globex-api-tmpl": {"exists": True, "template": False, "count": 1},
        "twice-tmpl": {"exists": True, "template": False, "count": 2},
        "never-made": {"exists": False, "template": False, "count": 0},
    }
