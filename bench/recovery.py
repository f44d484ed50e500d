"""Benchmark: how long a service stays unrepaired after its run is killed, per kill point.

Prints figures, asserts nothing (machines are noisy). Run it inside a lab brought up for it:

    lab/lab run -- .venv/bin/python bench/recovery.py [--points out|in|all]

For each side-effect step of a scale-out of acme-web (and of a scale-in, after a scale-out made
a VM to remove), the run is started with short step limits (the crash-safety tests' figures,
tests/integration/crash.py) and its whole process group is SIGKILLed right after the
step (tests/integration/callbacks/kill_after.py). The next run of the service starts as soon as
the dead run's lock has expired - what a trigger arriving then would do - repairs, and acts. The
table gives, per kill point: how long the dead run's lock still held after the kill, the next
run's wall time (repair and its own action) and what the repair added to it (against an ordinary
run of the same action, timed first), the time from the kill to the next run's end (the service
converged), and the goal: what the lock still held at the kill (at most the killed step's own
limit plus the margin), its 1 s resolution, plus one run - the repairing one. Met means no second
run and no operator was needed.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LAB_STATE = Path(os.environ.get("VM_AUTOSCALE_LAB", REPO / ".lab" / "state"))
STATE = LAB_STATE / "statehost" / "vm_autoscale" / "services" / "acme-web.json"
NO_COOLDOWN = ["-e", "scale_out_respect_cooldown=false", "-e", "scale_in_respect_cooldown=false"]
SHORT_LIMITS = {
    "scale_out_lock_margin": 1, "scale_out_call_timeout": 3, "scale_out_lease_timeout": 8,
    "scale_out_vm_timeout": 12, "scale_out_boot_timeout": 12, "scale_out_health_timeout": 8,
    "scale_out_f5_sync_timeout": 6, "scale_out_f5_member_timeout": 20,
    "scale_in_lock_margin": 1, "scale_in_call_timeout": 3, "scale_in_vm_timeout": 12,
    "scale_in_f5_sync_timeout": 6, "scale_in_drain_timeout": 10,
}  # fmt: skip
# (action, kill point, the task right after which the run dies, the playbook of the next run)
POINTS = [
    ("out", "after the lease", "Reserve an address", "scale_out"),
    ("out", "after the clone and power-on", "Clone the service's template", "scale_out"),
    ("out", "after the Prometheus target", "Add the VM to the service's Prometheus targets", "scale_out"),
    ("out", "after the member on the active F5", "Add the member to the pool", "scale_out"),
    ("out", "after the config sync", "Push to the peer by config-sync from the active device - new", "scale_out"),
    ("out", "before the event", "Renew the run lock: record the event", "scale_out"),
    ("in", "after the disable", "Disable the member", "scale_in"),
    ("in", "after the member removal", "Remove the member from the pool", "scale_in"),
    ("in", "after the power-off", "Power off the VM", "scale_out"),
    ("in", "before the lease release", "Delete the VM", "scale_out"),
]  # fmt: skip


def playbook(name: str, *args: str, env: dict | None = None, new_session: bool = False) -> tuple[int, float]:
    argv = [str(REPO / ".venv" / "bin" / "ansible-playbook"), "-i", "inventories/lab", f"playbooks/{name}.yml"]
    started = time.monotonic()
    process = subprocess.run(
        [*argv, "-l", "acme-web", *NO_COOLDOWN, *args], cwd=REPO, env={**os.environ, **(env or {})},
        capture_output=True, text=True, start_new_session=new_session, check=False,
    )  # fmt: skip
    return process.returncode, time.monotonic() - started


def lock_expiry() -> float:
    lock = json.loads(STATE.read_text())["lock"]
    return datetime.strptime(lock["expires_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()


def back_to_the_static_members() -> None:
    """Scale acme-web in until only its static members are left (not timed)."""
    for _attempt in range(5):
        code, _took = playbook("scale_in")
        state = json.loads(STATE.read_text())
        if code != 0 or state.get("instances") in (None, 2):
            return


def one_point(action: str, task: str, next_run: str, ordinary: dict) -> dict:
    if action == "in":
        code, _took = playbook("scale_out")
        if code != 0:
            return {"error": f"the scale-out before the scale-in failed (rc {code})"}
    env = {
        "ANSIBLE_CALLBACKS_ENABLED": "kill_after",
        "ANSIBLE_CALLBACK_PLUGINS": str(REPO / "tests" / "integration" / "callbacks"),
        "VM_AUTOSCALE_TEST_KILL_AFTER": task,
    }
    code, _took = playbook(
        "scale_out" if action == "out" else "scale_in", "-e", json.dumps(SHORT_LIMITS), env=env, new_session=True
    )
    killed_at = time.time()
    if code != -signal.SIGKILL:
        return {"error": f"the run was not killed (rc {code})"}
    expiry = lock_expiry()
    time.sleep(max(0.0, expiry - time.time()) + 1.0)  # the lock's expiry has a 1 s resolution
    code, took = playbook(next_run)
    converged = time.time()
    back_to_the_static_members()
    return {
        "held": expiry - killed_at,
        "next_run": took,
        "kill_to_converged": converged - killed_at,
        "repair": took - ordinary[next_run],
        "goal": (expiry - killed_at) + 1.0 + took,
        "ok": code == 0,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--points", choices=["out", "in", "all"], default="all")
    args = parser.parse_args()
    if not (LAB_STATE / "pki" / "ca.pem").exists():
        print("the lab is not up: run it as 'lab/lab run -- .venv/bin/python bench/recovery.py'", file=sys.stderr)
        return 2
    # The lab's Jenkins jobs disabled: alerts must not start builds beside the runs this bench times.
    os.environ["VM_AUTOSCALE_LAB_PIPELINES"] = "off"
    for setup in ("playbooks/onboard.yml", "playbooks/create_template.yml"):
        subprocess.run([str(REPO / ".venv" / "bin" / "ansible-playbook"), "-i", "inventories/lab", setup],
                       cwd=REPO, capture_output=True, check=True)  # fmt: skip
    code_out, took_out = playbook("scale_out")
    code_in, took_in = playbook("scale_in")
    if code_out or code_in:
        print("an ordinary scale-out or scale-in failed: is acme-web onboarded with its template?", file=sys.stderr)
        return 1
    ordinary = {"scale_out": took_out, "scale_in": took_in}
    print(f"ordinary runs: scale-out {took_out:.1f} s, scale-in {took_in:.1f} s")
    print(f"{'kill point':42} {'lock held':>10} {'next run':>9} {'repair':>7} {'kill->converged':>16} {'goal':>7}  met")
    for action, point, task, next_run in POINTS:
        if args.points not in ("all", action):
            continue
        figures = one_point(action, task, next_run, ordinary)
        name = f"scale-{action}: {point}"
        if "error" in figures:
            print(f"{name:42} {figures['error']}")
            continue
        met = figures["ok"] and figures["kill_to_converged"] <= figures["goal"] + 0.5
        print(
            f"{name:42} {figures['held']:9.1f}s {figures['next_run']:8.1f}s {figures['repair']:6.1f}s "
            f"{figures['kill_to_converged']:15.1f}s {figures['goal']:6.1f}s  {'yes' if met else 'NO'}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
