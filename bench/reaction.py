"""Reaction time of the alert-to-VM chain through Jenkins, broken down by stage.

Prints figures, asserts nothing (machines are noisy). Run it inside a lab brought up for it:

    lab/lab run -- .venv/bin/python bench/reaction.py [--rounds 1] [--boot-delay S]

Each round raises acme-web's load and timestamps, from the systems themselves:
  load raised -> alert pending (Prometheus's activeAt) -> alert firing (first seen firing,
  polled every 0.25 s) -> webhook received (the lab Jenkins's webhook log) -> build started (the
  build's timestamp) -> member up (the new member available on both F5 devices, polled every
  0.25 s) -> build finished.
It prints the settings that produced them: the rule's `for` and rate window, Alertmanager's
group_wait, Jenkins's quiet period and the guests' boot delay. The automation's own part is
"build started -> member up" minus the clone and the boot; the role's own duration (lock to
record) comes from the build's event in the state host's event log. Then the load is dropped
and the round waits for the scale-in through the same chain, so that the next round starts
from the static members.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import requests
import yaml

REPO = Path(__file__).resolve().parents[1]
LAB_STATE = Path(os.environ.get("VM_AUTOSCALE_LAB", REPO / ".lab" / "state"))
sys.path.insert(0, str(REPO / "lab"))
from labctl.emulators import control_socket  # noqa: E402 - lab/ is on the path from here
from labctl.httpd import control  # noqa: E402
from labctl.state import default_paths  # noqa: E402

PROMETHEUS = "https://198.18.0.40:9090"
JENKINS = "https://198.18.0.30"
F5 = ("https://198.18.0.21", "https://198.18.0.22")
JOB = "autoscale-acme-web"
POOL = "/mgmt/tm/ltm/pool/~Common~acme-web-pool"
STATIC = {"198.18.1.11:80", "198.18.1.12:80"}
CA = str(LAB_STATE / "pki" / "ca.pem")


def secret(name: str) -> str:
    return (LAB_STATE / "secrets" / name).read_text().strip()


def jenkins(path: str):
    answer = requests.get(f"{JENKINS}{path}", auth=("automation", secret("jenkins_api_token")), verify=CA, timeout=10)
    answer.raise_for_status()
    return answer.json()


def f5(device: str, path: str):
    return requests.get(f"{device}{path}", auth=("admin", secret("f5_password")), verify=CA, timeout=10)


def alert(state: str) -> dict | None:
    answer = requests.get(f"{PROMETHEUS}/api/v1/alerts", verify=CA, timeout=10).json()
    for found in answer["data"]["alerts"]:
        labels = found["labels"]
        if labels.get("alertname") == "VmAutoscaleScaleOut" and labels.get("service") == "acme-web":
            if found["state"] == state:
                return found
    return None


def new_member_up() -> bool:
    names = {m["name"] for m in f5(F5[0], f"{POOL}/members").json()["items"]} - STATIC
    if not names:
        return False
    for device in F5:
        for name in names:
            answer = f5(device, f"{POOL}/members/~Common~{name}/stats")
            if answer.status_code != 200:
                return False
            (entry,) = answer.json()["entries"].values()
            if entry["nestedStats"]["entries"]["status.availabilityState"]["description"] != "available":
                return False
    return True


def back_to_static() -> bool:
    return all({m["name"] for m in f5(device, f"{POOL}/members").json()["items"]} == STATIC for device in F5)


def poll(predicate, timeout: float, what: str, interval: float = 0.25):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value, time.time()
        time.sleep(interval)
    raise SystemExit(f"timed out after {timeout:g} s waiting for {what}")


def load(demand: int) -> None:
    subprocess.run([str(REPO / "lab" / "load"), "acme-web", str(demand)], capture_output=True, check=True)


def epoch(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def playbook(name: str) -> None:
    env = {key: value for key, value in os.environ.items() if key != "VM_AUTOSCALE_LAB_PIPELINES"}
    subprocess.run([str(REPO / ".venv" / "bin" / "ansible-playbook"), "-i", "inventories/lab", name],
                   cwd=REPO, capture_output=True, check=True, env=env)  # fmt: skip


def one_round() -> dict:
    builds_before = {b["number"] for b in jenkins(f"/job/{JOB}/api/json?tree=builds[number]").get("builds", [])}
    hooks_before = len(control(control_socket(default_paths(), "jenkins"), "GET", "/webhooks"))
    raised = time.time()
    load(400)
    pending, _seen = poll(lambda: alert("pending") or alert("firing"), 300, "the alert to be pending")
    _firing, firing_seen = poll(lambda: alert("firing"), 300, "the alert to fire")

    def webhook():
        hooks = control(control_socket(default_paths(), "jenkins"), "GET", "/webhooks")[hooks_before:]
        return next((hook for hook in hooks if hook["job"] == JOB and hook["triggered"]), None)

    hook, _seen = poll(webhook, 120, "Alertmanager's post")

    def build():
        numbers = {b["number"] for b in jenkins(f"/job/{JOB}/api/json?tree=builds[number]").get("builds", [])}
        new = sorted(numbers - builds_before)
        return jenkins(f"/job/{JOB}/{new[0]}/api/json") if new else None

    started, _seen = poll(build, 120, "the build to start")
    _up, member_up = poll(new_member_up, 300, "the new member to be available on both devices")
    load(0)

    def finished():
        answer = jenkins(f"/job/{JOB}/{started['number']}/api/json")
        return answer if not answer["building"] else None

    done, _seen = poll(finished, 120, "the build to finish")
    log = LAB_STATE / "statehost" / "vm_autoscale" / "events" / "acme-web.jsonl"
    run_id = f"jenkins-{JOB}-{started['number']}"
    event = next((e for e in map(json.loads, log.read_text().splitlines()) if e["id"] == run_id), {})
    stages = {
        "load raised -> alert pending": epoch(pending["activeAt"]) - raised,
        "alert pending -> firing": firing_seen - epoch(pending["activeAt"]),
        "firing -> webhook received": hook["time"] - firing_seen,
        "webhook -> build started": started["timestamp"] / 1000 - hook["time"],
        "build started -> member up": member_up - started["timestamp"] / 1000,
        "member up -> build finished": (done["timestamp"] + done["duration"]) / 1000 - member_up,
    }
    stages["total: load raised -> member up"] = member_up - raised
    if event.get("status") == "success":
        stages["(the role's scale-out, lock to record, by its event)"] = float(event["duration_seconds"])
    poll(back_to_static, 600, "the scale-in back to the static members", interval=2)
    return stages


def settings() -> str:
    """The settings that shape the reaction time, read from the lab's inventory and plan."""
    config = yaml.safe_load((REPO / "inventories" / "lab" / "host_vars" / "acme-web.yml").read_text())["autoscale"]
    monitoring = config["monitoring"]
    plg = yaml.safe_load((REPO / "inventories" / "lab" / "group_vars" / "all" / "plg.yml").read_text())
    plan = yaml.safe_load((REPO / "lab" / "plan.yml").read_text())
    return (
        f"rule for {monitoring['duration_minutes']} min, rate window {monitoring['rate_window']}, "
        f"Alertmanager group_wait {plg.get('alertmanager_autoscale_group_wait', '10s')}, "
        f"evaluation and scrape every {plan['monitoring']['evaluation_interval']}, "
        f"Jenkins quiet period {plan['infrastructure']['jenkins']['quiet_period']} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--boot-delay", type=float, help="the guests' boot delay in seconds for this run")
    options = parser.parse_args()
    if not (LAB_STATE / "lab.json").exists():
        raise SystemExit("no lab is running: run this under 'lab/lab run -- .venv/bin/python bench/reaction.py'")
    if options.boot_delay is not None:
        guests = control_socket(default_paths(), "guests")
        control(guests, "PUT", "/settings/boot_delay", {"seconds": options.boot_delay})
    for name in ("playbooks/onboard.yml", "playbooks/create_template.yml"):
        playbook(name)  # the jobs enabled (VM_AUTOSCALE_LAB_PIPELINES is not off here)
    rounds = [one_round() for _round in range(options.rounds)]
    delay = "lab/plan.yml's" if options.boot_delay is None else f"{options.boot_delay:g} s"
    print(f"reaction time of acme-web's scale-out through Jenkins ({os.cpu_count()} CPUs, {options.rounds} rounds,"
          f" medians; {delay} boot delay)")  # fmt: skip
    print(f"  settings: {settings()}")
    for stage in rounds[0]:
        values = [stages[stage] for stages in rounds if stage in stages]
        print(f"  {stage:<46} {statistics.median(values):6.1f} s")
    print(json.dumps(rounds))


if __name__ == "__main__":
    main()
