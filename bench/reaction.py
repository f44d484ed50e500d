"""Reaction time to a load step: fixed step vs target tracking, under a timing profile.

Prints figures, asserts nothing (machines are noisy). Run it inside a lab started with the
production timing profile (docs/lab.md, "Timing profiles") - clones of 60 s, guests that boot in
30 s:

    VM_AUTOSCALE_LAB_TIMING=production lab/lab run -- .venv/bin/python bench/reaction.py

For each policy the same story, from acme-web's 2 static VMs at a steady load (60 % of one VM's
CPU: 33 % each): the load steps up 3.5x (100 % each, capped), which needs 4 VMs to hold 60 %.

- ``step``: one VM per alert, the scale-out threshold at 66 % CPU (the tracked band's upper edge,
  so that both policies start acting at the same load): 2 -> 3 (73 %, still above), then after
  the cooldown and the alert's ``for`` again, 3 -> 4 (55.5 %).
- ``target_tracking``: the lab inventory's policy (60 % +- 10 %): ceil(2 x 100 / 60) = 4 in one
  action.

Each is timed from the systems themselves: the load step, the scale-out alert first seen firing
in Prometheus (polled every 0.25 s), the first new member and then the needed 4 members
available on both F5 devices (polled every 0.25 s). The bench plays Alertmanager and Jenkins:
when the alert fires it runs playbooks/autoscale.yml with that notification, as the service's
pipeline does (the real chain adds Alertmanager's group_wait and Jenkins's quiet period, 1 s
each in the lab, printed in the budget). The policy is set by an inventory overlay of acme-web's
``autoscale`` mapping, for onboarding (the rules) and for the runs.

Between the policies the service goes back to its static VMs (playbooks/scale_in.yml) and its
cooldown and breaker state are reset, as the tests' fixture does.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests
import yaml

REPO = Path(__file__).resolve().parents[1]
LAB_STATE = Path(os.environ.get("VM_AUTOSCALE_LAB", REPO / ".lab" / "state"))
sys.path.insert(0, str(REPO / "lab"))
sys.path.insert(0, str(REPO / ".collections"))
from ansible_collections.danacloud.vm_autoscale.plugins.module_utils import _rules  # noqa: E402
from labctl.emulators import control_socket  # noqa: E402 - lab/ is on the path from here
from labctl.httpd import control  # noqa: E402
from labctl.plan import load_plan  # noqa: E402
from labctl.state import default_paths  # noqa: E402

PROMETHEUS = "https://198.18.0.40:9090"
F5 = ("https://198.18.0.21", "https://198.18.0.22")
POOL = "/mgmt/tm/ltm/pool/~Common~acme-web-pool"
STATIC = {"198.18.1.11:80", "198.18.1.12:80"}
CA = str(LAB_STATE / "pki" / "ca.pem")
STEADY = 60  # % of one VM's CPU, shared by the serving members: 30 % each on 2, plus 3 % idle
STEP = 3.5  # the load step
NEEDED = 4  # VMs that hold 60 % at 3.5x (ceil(210 / (60 - 3)) = 4)


def secret(name: str) -> str:
    return (LAB_STATE / "secrets" / name).read_text().strip()


def plg_get(path: str):
    auth = (load_plan().plg["username"], secret("plg_password"))
    return requests.get(f"{PROMETHEUS}{path}", auth=auth, verify=CA, timeout=10).json()


def firing() -> bool:
    for found in plg_get("/api/v1/alerts")["data"]["alerts"]:
        labels = found["labels"]
        if labels.get("alertname") == "VmAutoscaleScaleOut" and labels.get("service") == "acme-web":
            if found["state"] == "firing":
                return True
    return False


def serving() -> int:
    """New members available on both devices (the static ones not counted)."""
    counts = []
    for device in F5:
        auth = ("admin", secret("f5_password"))
        items = requests.get(f"{device}{POOL}/members", auth=auth, verify=CA, timeout=10).json()["items"]
        up = 0
        for member in items:
            if member["name"] in STATIC:
                continue
            stats = requests.get(f"{device}{POOL}/members/~Common~{member['name']}/stats", auth=auth, verify=CA,
                                 timeout=10).json()  # fmt: skip
            (entry,) = stats["entries"].values()
            up += entry["nestedStats"]["entries"]["status.availabilityState"]["description"] == "available"
        counts.append(up)
    return min(counts)


def load(demand: float) -> None:
    control(control_socket(default_paths(), "guests"), "PUT", "/demand/acme-web", {"demand": demand})


def playbook(name: str, *args: str) -> None:
    env = {key: value for key, value in os.environ.items() if key != "VM_AUTOSCALE_LAB_PIPELINES"}
    env["VM_AUTOSCALE_LAB_PIPELINES"] = "off"  # the bench plays the pipeline: the lab's jobs stay disabled
    done = subprocess.run([str(REPO / ".venv" / "bin" / "ansible-playbook"), "-i", "inventories/lab", name, *args],
                          cwd=REPO, capture_output=True, text=True, check=False, env=env)  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"{name} {' '.join(args)} failed:\n{done.stdout[-3000:]}")


def overlay(policy: str, folder: Path) -> Path:
    """An inventory overlay with acme-web's autoscale mapping under the policy being measured (a
    later inventory source replaces a host's variables of an earlier one)."""
    config = yaml.safe_load((REPO / "inventories" / "lab" / "host_vars" / "acme-web.yml").read_text())["autoscale"]
    config = copy.deepcopy(config)
    config["scaling"]["policy"] = policy
    if policy == "step":
        tracking = config["scaling"]["target_tracking"]
        edge = tracking["cpu_percent"] * (100 + tracking["tolerance_percent"]) / 100
        config["monitoring"]["cpu_threshold"] = round(edge)
        config["scaling"]["scale_out_step"] = 1
    path = folder / policy
    (path / "host_vars").mkdir(parents=True)
    hosts = {"all": {"children": {"autoscale_services": {"hosts": {"acme-web": None}}}}}
    (path / "hosts.yml").write_text(yaml.safe_dump(hosts))
    (path / "host_vars" / "acme-web.yml").write_text(yaml.safe_dump({"autoscale": config}))
    return path


def reset() -> None:
    """No cooldown or breaker (the state document gone, the metrics at their initial values)."""
    (LAB_STATE / "statehost" / "vm_autoscale" / "services" / "acme-web.json").unlink(missing_ok=True)
    metrics = LAB_STATE / "statehost" / "textfile" / "vm_autoscale_acme-web_state.prom"
    metrics.write_text(_rules.initial_state_metrics("acme-web", {"static_members": [{}, {}]}))


def notification() -> str:
    labels = {"alertname": "VmAutoscaleScaleOut", "service": "acme-web", "vm_autoscale": "action",
              "autoscale_action": "scale_out", "severity": "info"}  # fmt: skip
    alert = {"status": "firing", "labels": labels, "annotations": {}, "startsAt": "2026-12-07T00:00:00Z",
             "fingerprint": "0123456789abcdef"}  # fmt: skip
    return json.dumps({"version": "4", "status": "firing", "receiver": "autoscale-acme-web", "alerts": [alert]})


def one_policy(policy: str, folder: Path) -> dict:
    extra = overlay(policy, folder)
    body = folder / "notification.json"
    body.write_text(notification())
    playbook("playbooks/onboard.yml", "-l", "acme-web", "-i", str(extra))
    reset()
    load(STEADY)
    time.sleep(20)  # the rate window (30 s in the lab) sees the steady load before the step
    marks: dict = {"actions": 0}
    stop = threading.Event()

    def watch() -> None:  # the members, every 0.25 s, while the runs go on
        while not stop.is_set():
            count = serving()
            if count >= 1 and "first_member" not in marks:
                marks["first_member"] = time.time()
            if count >= NEEDED - len(STATIC) and "full" not in marks:
                marks["full"] = time.time()
            time.sleep(0.25)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    marks["step"] = time.time()
    load(STEADY * STEP)
    try:
        deadline = time.monotonic() + 1200
        while "full" not in marks and time.monotonic() < deadline:
            if firing():
                marks.setdefault("first_firing", time.time())
                playbook("playbooks/autoscale.yml", "-l", "acme-web", "-i", str(extra),
                         "-e", f"autoscale_payload_file={body}", "-e", f"autoscale_run_id=bench-{policy}")  # fmt: skip
                marks["actions"] += 1
                time.sleep(1)
            time.sleep(0.25)
        time.sleep(0.5)
    finally:
        stop.set()
        watcher.join()
        load(0)
        playbook("playbooks/scale_in.yml", "-l", "acme-web", "-i", str(extra), "-e", "scale_in_step=5",
                 "-e", "scale_in_respect_cooldown=false")  # fmt: skip
    if "full" not in marks:
        raise SystemExit(f"{policy}: acme-web did not reach {NEEDED} serving members in 20 min")
    events = LAB_STATE / "statehost" / "vm_autoscale" / "events" / "acme-web.jsonl"
    runs = [e for e in map(json.loads, events.read_text().splitlines()) if str(e["id"]).startswith(f"bench-{policy}")]
    acted = [e for e in runs if e["action"] == "scale_out" and e["status"] == "success"]
    return {
        "load step -> alert firing": marks["first_firing"] - marks["step"],
        "alert firing -> first new member serving": marks["first_member"] - marks["first_firing"],
        f"load step -> {NEEDED} members serving": marks["full"] - marks["step"],
        "scale-out actions": len(acted),
        "scale-out run (lock to record, per action)": [e["duration_seconds"] for e in acted],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--policies", default="step,target_tracking")
    options = parser.parse_args()
    info = LAB_STATE / "lab.json"
    if not info.exists():
        raise SystemExit("no lab is running: run this under 'lab/lab run -- .venv/bin/python bench/reaction.py'")
    profile = json.loads(info.read_text()).get("timing_profile") or {"name": "?"}
    plg = yaml.safe_load((REPO / "inventories" / "lab" / "group_vars" / "all" / "plg.yml").read_text())
    config = yaml.safe_load((REPO / "inventories" / "lab" / "host_vars" / "acme-web.yml").read_text())["autoscale"]
    window = config["monitoring"]["rate_window"]
    minutes = config["monitoring"]["duration_minutes"]
    group_wait = plg.get("alertmanager_autoscale_group_wait", "10s")
    quiet = load_plan().jenkins["quiet_period"]
    playbook("playbooks/create_template.yml", "-l", "acme-web")
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        for policy in options.policies.split(","):
            results[policy] = one_policy(policy, Path(folder))
    playbook("playbooks/onboard.yml", "-l", "acme-web")  # the inventory's own rules again
    names = list(results)
    print(f"reaction of acme-web to a {STEP:g}x load step on 2 VMs ({os.cpu_count()} CPUs); timing profile"
          f" {profile['name']}: clone {profile.get('clone_seconds')} s, power-on {profile.get('power_on_seconds')} s,"
          f" guest boot {profile.get('boot_seconds')} s")  # fmt: skip
    cooldown = config["scaling"]["cooldown_seconds"]
    print(f"  settings: rate window {window}, the alert's for {minutes} min, cooldown {cooldown} s; the real chain"
          f" adds Alertmanager's group_wait {group_wait} and Jenkins's quiet period {quiet} s")  # fmt: skip
    print(f"  {'':<46}" + "".join(f"{name:>22}" for name in names))
    for row in results[names[0]]:
        cells = []
        for name in names:
            value = results[name][row]
            cells.append(", ".join(f"{v:.1f} s" for v in value) if isinstance(value, list)
                         else (f"{value:.1f} s" if isinstance(value, float) else str(value)))  # fmt: skip
        print(f"  {row:<46}" + "".join(f"{cell:>22}" for cell in cells))
    if "target_tracking" in results:
        tracked = results["target_tracking"]
        one = tracked["scale-out run (lock to record, per action)"]
        budget = tracked["load step -> alert firing"] + (one[0] if one else 0) + 2
        reached, actions = tracked[f"load step -> {NEEDED} members serving"], tracked["scale-out actions"]
        print(f"  goal: target tracking reaches {NEEDED} in one action, within the alert window plus group wait"
              f" plus one scale-out ({budget:.0f} s here): {actions} action(s), {reached:.0f} s")  # fmt: skip
    print(json.dumps(results))


if __name__ == "__main__":
    main()
