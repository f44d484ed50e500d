"""plugins/filter/autoscale.py imports each module_utils only when a filter needs it.

ansible-core loads the filter plugin in the worker it forks for every task that uses one of its
filters - nearly every task of the scale roles - so what the file imports up front is paid once
per task (about 45 ms of CPU when it imported all nine). Run in a fresh interpreter: importing the
plugin here would load ansible's controller side into the unit tests' process.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1].parent
PROBE = """
import json, sys
sys.path.insert(0, {collections!r})
def ours():
    return sorted(name.rsplit(".", 1)[-1] for name in sys.modules
                  if name.startswith("ansible_collections.danacloud.vm_autoscale.plugins.module_utils."))
from ansible_collections.danacloud.vm_autoscale.plugins.filter import autoscale
loaded = {{"plugin": ours()}}
config = autoscale.autoscale_config({{}}, "acme-web")
loaded["autoscale_config"] = ours()
autoscale.autoscale_plan({{"state": {{}}, "enabled": True, "respect_cooldown": True}}, "guards")
loaded["autoscale_plan"] = ours()
loaded["filters"] = sorted(autoscale.FilterModule().filters())
loaded["invalid"] = autoscale.autoscale_invalid_services(["acme-web", "Bad", "a" * 41, "x\\n", "-a", None, "x" * 40])
loaded["targets_file"] = autoscale.autoscale_targets_file("acme-web", "/etc/prometheus/file_sd")
from ansible_collections.danacloud.vm_autoscale.plugins.module_utils import _monitoring
settings = {{"file_sd_dir": "/etc/prometheus/file_sd", "rules_dir": "/r", "textfile_dir": "/t"}}
loaded["onboarding_auto"] = _monitoring.paths("acme-web", settings)["auto"]
refused = []
for name, folder in (("acme-web/../x", "/f"), ("Bad", "/f"), ("acme-web", ""), ("acme-web", None)):
    try:
        autoscale.autoscale_targets_file(name, folder)
    except Exception as exc:
        refused.append(str(exc))
loaded["targets_file_refused"] = refused
print(json.dumps(loaded))
"""


def test_the_filter_plugin_imports_a_module_utils_only_with_the_filter_that_needs_it():
    code = PROBE.format(collections=str(REPO / ".collections"))
    env = {key: value for key, value in os.environ.items() if key != "VM_AUTOSCALE_BYTECODE_CACHE"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    loaded = json.loads(done.stdout.splitlines()[-1])
    assert loaded["plugin"] == []
    assert loaded["autoscale_config"] == ["_model", "_names"]  # the model checks names by _names' rule
    assert loaded["autoscale_plan"] == ["_model", "_names", "_plan"]
    assert "autoscale_plan" in loaded["filters"] and len(loaded["filters"]) == 21
    # the scale roles' targets file is the one onboarding creates (_monitoring names both)
    assert loaded["targets_file"] == "/etc/prometheus/file_sd/vm_autoscale-acme-web-auto.json"
    assert loaded["targets_file"] == loaded["onboarding_auto"]
    refused = loaded["targets_file_refused"]
    assert len(refused) == 4 and all(message.startswith("autoscale_targets_file: ") for message in refused), refused
    # the one rule for a service's name (_names), as the offboarding roles ask it
    assert loaded["invalid"] == ["Bad", "a" * 41, "x\n", "-a", None]
