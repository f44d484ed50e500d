"""meta/runtime.yml's action groups: every module is in vm_autoscale, and each other group holds
exactly the modules that take its shared options, so that module_defaults for a group sets them
on every module it names and on no module that would refuse them."""

import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
# group -> (the doc fragment its modules extend, or the options every module of it takes)
SHARED = {
    "state": ("danacloud.vm_autoscale.state", None),
    "f5": ("danacloud.vm_autoscale.f5", None),
    "vcenter": (None, {"hostname", "port", "username", "password", "validate_certs"}),
    "jenkins": ("danacloud.vm_autoscale.jenkins", None),
}


def documentation(path: Path) -> dict:
    return yaml.safe_load(re.search(r'DOCUMENTATION = r?"""(.*?)"""', path.read_text(), re.S).group(1))


def test_every_module_is_in_vm_autoscale_and_each_group_holds_the_modules_of_its_options():
    groups = yaml.safe_load((REPO / "meta" / "runtime.yml").read_text())["action_groups"]
    docs = {path.stem: documentation(path) for path in sorted((REPO / "plugins" / "modules").glob("*.py"))}
    assert len(docs) >= 11 and sorted(groups["vm_autoscale"]) == sorted(docs)
    assert set(groups) == {"vm_autoscale", *SHARED}
    for group, (fragment, options) in SHARED.items():
        if fragment:
            expected = [
                name for name, doc in docs.items() if fragment in (doc.get("extends_documentation_fragment") or [])
            ]
        else:
            expected = [name for name, doc in docs.items() if options <= set(doc.get("options") or {})]
        assert expected and sorted(groups[group]) == expected, (group, groups[group], expected)
