"""Benchmark of scale_out.yml and scale_in.yml on the lab, broken down by phase.

Prints figures, asserts nothing (machines are noisy). Run it inside a lab brought up for it:

    lab/lab run -- .venv/bin/python bench/scale.py [--rounds 3] [--entry | --alert] [--boot-delay S]

Each round scales acme-web out by one VM and back in (cooldown off), and times every task from
the json callback's task durations, summed per phase. The automation's own overhead is the
scale-out's wall time minus clone/power-on and boot/health (which belong to vCenter and the
guest; the lab's guests boot in guests.boot_delay seconds, lab/plan.yml, or --boot-delay).
Target: under 10 s.

--entry runs playbooks/autoscale.yml with an explicit action. --alert runs it the way the
pipelines do: each round raises acme-web's load until its real scale-out alert fires in
Prometheus, then hands autoscale.yml that alert as an Alertmanager notification, so the phase
"verify" (Prometheus asked whether the alert fires now) is in the figures; the scale-in that
follows is an explicit action. A round then takes about 2.5 minutes: the alert's rate window
and `for`, after the cooldown the last round left in the rule's guard.
"""

from __future__ import annotations

import argparse
import json
import os
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LAB_STATE = Path(os.environ.get("VM_AUTOSCALE_LAB", REPO / ".lab" / "state"))
PROMETHEUS = "https://198.18.0.40:9090"
sys.path.insert(0, str(REPO / "lab"))
from labctl.emulators import control_socket  # noqa: E402 - lab/ is on the path from here
from labctl.httpd import control  # noqa: E402
from labctl.state import default_paths  # noqa: E402

PHASES = {
    "scale_out": [
        ("verify", ("Read what the notification asks", "Ask Prometheus", "Decide")),
        ("lock, guards, plan", ("run's id", "run lock (present)", "service's state", "guards' state", "F5 devices",
                                "devices the member", "no device is active", "Read the pool on every",
                                "VMs in vCenter", "Count the instances", "devices disagree", "nothing is done",
                                "Predict", "The plan")),
        ("IP lease", ("Reserve an address", "Remember the lease")),
        ("clone + power-on", ("Clone the service's template", "Remember the VM")),
        ("boot + health", ("Wait for the VM to boot", "health endpoint")),
        ("confirm lease", ("Confirm the lease",)),
        ("Prometheus target", ("Prometheus targets",)),
        ("F5 add + sync", ("Add the member", "device - new member", "Remember the member")),
        ("F5 member up", ("marks the member available",)),
        ("record, unlock", ("Record the scale-out", "Report", "run lock (absent)")),
        ("intent, lock renewals", ("Renew the run lock", "Renew the lock for", "Say what this run is about to do",
                                   "Mark the member removed")),
    ],
    "scale_in": [
        ("lock, guards, pick", ("run's id", "run lock (present)", "service's state", "F5 devices", "devices the member",
                                "no device is active", "Read the pool on every", "VMs in vCenter", "says about itself",
                                "Pick the VMs", "devices disagree", "nothing is done", "The plan")),
        ("F5 disable + sync", ("Its address", "Disable the member", "device - disabled member",
                               "Remember it is disabled")),
        ("drain", ("Drain", "still count connections", "drain that timed out", "Remember the drain")),
        ("F5 remove + sync", ("address leased", "Remember it", "Remove the member from the pool",
                              "device - removal")),
        ("target, VM, lease", ("Prometheus targets", "Power off the VM", "Delete the VM", "Release the address",
                               "could not be undone", "removal step", "Remember the removal")),
        ("record, unlock", ("Record the scale-in", "Report", "run lock (absent)")),
        ("intent, lock renewals", ("Renew the run lock", "Renew the lock for", "Say what this run is about to do",
                                   "Mark the member removed")),
    ],
}  # fmt: skip
# Tasks shared by several phases (the config sync's wait and check): they belong to the phase of
# the task before them.
STICKY = ("device group is in sync",)


def seconds(duration: dict) -> float:
    start, end = (datetime.fromisoformat(duration[key].replace("Z", "+00:00")) for key in ("start", "end"))
    return (end - start).total_seconds()


def run(playbook: str, *extra: str) -> tuple[float, dict]:
    env = {**os.environ, "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json"}
    started = time.monotonic()
    proc = subprocess.run(
        [str(REPO / ".venv" / "bin" / "ansible-playbook"), "-i", "inventories/lab", playbook, "-l", "acme-web", *extra],
        cwd=REPO, capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    wall = time.monotonic() - started
    if proc.returncode != 0:
        raise SystemExit(f"{playbook} failed:\n{proc.stdout[-3000:]}{proc.stderr[-1000:]}")
    tasks = [task for play in json.loads(proc.stdout)["plays"] for task in play["tasks"]]
    return wall, [(task["task"]["name"], seconds(task["task"]["duration"])) for task in tasks]


def by_phase(action: str, durations: list) -> dict:
    totals = {name: 0.0 for name, _keys in PHASES[action]}
    totals["other"] = 0.0
    phase = "other"
    for task, took in durations:
        if not any(key in task for key in STICKY):
            phase = next((name for name, keys in PHASES[action] if any(key in task for key in keys)), "other")
        totals[phase] += took
    return totals


def load(demand: int) -> None:
    subprocess.run([str(REPO / "lab" / "load"), "acme-web", str(demand)], capture_output=True, check=True)


def firing_alert(context: ssl.SSLContext, timeout: float = 400) -> dict:
    """acme-web's scale-out alert once Prometheus fires it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with urllib.request.urlopen(f"{PROMETHEUS}/api/v1/alerts", context=context, timeout=10) as response:  # noqa: S310
            for alert in json.load(response)["data"]["alerts"]:
                labels = alert["labels"]
                wanted = ("VmAutoscaleScaleOut", "acme-web", "firing")
                if (labels.get("alertname"), labels.get("service"), alert["state"]) == wanted:
                    return alert
        time.sleep(1)
    raise SystemExit("acme-web's scale-out alert did not fire")


def notification(alert: dict) -> dict:
    """The alert as Alertmanager's webhook posts it."""
    labels = alert["labels"]
    return {
        "version": "4", "status": "firing", "receiver": "autoscale-acme-web",
        "groupLabels": {"service": "acme-web", "autoscale_action": labels.get("autoscale_action", "scale_out")},
        "commonLabels": labels, "commonAnnotations": alert.get("annotations", {}),
        "alerts": [{"status": "firing", "labels": labels, "annotations": alert.get("annotations", {}),
                    "startsAt": alert["activeAt"], "fingerprint": "bench"}],
    }  # fmt: skip


def boot_delay(seconds: float) -> None:
    control(control_socket(default_paths(), "guests"), "PUT", "/settings/boot_delay", {"seconds": seconds})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--entry", action="store_true", help="run the entry point, playbooks/autoscale.yml, with an explicit action"
    )
    parser.add_argument(
        "--alert", action="store_true", help="run playbooks/autoscale.yml on a real firing alert (see above)"
    )
    parser.add_argument("--boot-delay", type=float, help="the guests' boot delay in seconds for this run (0: none)")
    options = parser.parse_args()
    if not (LAB_STATE / "lab.json").exists():
        raise SystemExit("no lab is running: run this under 'lab/lab run -- .venv/bin/python bench/scale.py'")
    if options.boot_delay is not None:
        boot_delay(options.boot_delay)
    context = ssl.create_default_context(cafile=str(LAB_STATE / "pki" / "ca.pem"))
    body = Path(tempfile.mkdtemp()) / "notification.json"
    # The lab's Jenkins jobs disabled: the alerts this bench raises must not start builds that
    # would run autoscale.yml beside the one it times.
    os.environ["VM_AUTOSCALE_LAB_PIPELINES"] = "off"
    for playbook in ("playbooks/onboard.yml", "playbooks/create_template.yml"):
        subprocess.run([str(REPO / ".venv" / "bin" / "ansible-playbook"), "-i", "inventories/lab", playbook],
                       cwd=REPO, capture_output=True, check=True)  # fmt: skip
    results: dict = {"scale_out": [], "scale_in": []}
    no_cooldown = ("-e", "scale_out_respect_cooldown=false", "-e", "scale_in_respect_cooldown=false")
    for _round in range(options.rounds):
        for action in ("scale_out", "scale_in"):
            if options.alert and action == "scale_out":
                load(400)
                body.write_text(json.dumps(notification(firing_alert(context))))
                load(0)
                wall, durations = run("playbooks/autoscale.yml", "-e", f"autoscale_payload_file={body}")
            elif options.entry or options.alert:
                wall, durations = run("playbooks/autoscale.yml", "-e", f"autoscale_action={action}", *no_cooldown)
            else:
                wall, durations = run(f"playbooks/{action}.yml", *no_cooldown)
            results[action].append((wall, by_phase(action, durations)))
    what = (
        "playbooks/autoscale.yml (scale-out on a firing alert, scale-in explicit)" if options.alert
        else "playbooks/autoscale.yml (explicit action)" if options.entry
        else "scale_out.yml / scale_in.yml"
    )  # fmt: skip
    delay = "lab/plan.yml's" if options.boot_delay is None else f"{options.boot_delay:g} s"
    print(f"{what} on the lab ({os.cpu_count()} CPUs), acme-web, {delay} boot delay, {options.rounds} rounds, medians:")
    for action, rounds in results.items():
        walls = [wall for wall, _phases in rounds]
        print(f"\n{action}: wall {statistics.median(walls):.1f} s (min {min(walls):.1f}, max {max(walls):.1f})")
        for phase in rounds[0][1]:
            print(f"  {phase:<22} {statistics.median(p[phase] for _w, p in rounds):6.1f} s")
        if action == "scale_out":
            own = [wall - p["clone + power-on"] - p["boot + health"] for wall, p in rounds]
            overhead = statistics.median(own)
            print(f"  automation's own overhead (wall - clone - boot/health): {overhead:.1f} s (target < 10 s)")


if __name__ == "__main__":
    main()
