"""The lab, started once per test session; helpers to run playbooks and read systems back.

Integration tests run inside the lab's network namespace ('make test' runs the whole test
command under 'lab/lab netns'); outside one they refuse to start rather than touch the network.
"""

from __future__ import annotations

import json
import os
import resource
import ssl
import subprocess
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from ansible_collections.danacloud.vm_autoscale.plugins.module_utils import _rules
from labclient import F5_A, F5_B, emulator
from labctl import netns, vcsim
from labctl.plan import load_plan
from labctl.state import client_environment, default_paths
from pyVim.connect import Disconnect
from scaling import members, remove_autoscaled

REPO = Path(__file__).resolve().parents[2]
LAB = REPO / "lab" / "lab"


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/integration" in str(item.fspath):
            item.add_marker(pytest.mark.lab)


def _cpu_seconds() -> float:
    """CPU time of this process and of every process it has waited for (ansible-playbook and its modules)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


@pytest.fixture(autouse=True)
def cpu_seconds(record_property):
    """Record the CPU a test used (junit property ``cpu_seconds``; tests/shards.py adds it up).

    The lab's daemons are not counted: they are not this process's children until the lab stops.
    """
    before = _cpu_seconds()
    yield
    record_property("cpu_seconds", round(_cpu_seconds() - before, 2))


@dataclass
class Lab:
    info: dict
    state: Path
    ca: Path

    @property
    def vcenter_password(self) -> str:
        return (self.state / "secrets" / "vcenter_password").read_text().strip()

    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca))


@pytest.fixture(scope="session")
def lab():
    problem = netns.isolation_problem()
    if problem:
        pytest.exit(f"integration tests run only inside the lab namespace ({problem}); use 'make test'", returncode=2)
    up = subprocess.run([str(LAB), "up"], capture_output=True, text=True, check=False)
    if up.returncode != 0:
        subprocess.run([str(LAB), "down"], capture_output=True, check=False)
        pytest.exit(f"the lab did not start:\n{up.stdout}{up.stderr}", returncode=3)
    paths = default_paths()
    os.environ.update(client_environment(paths))  # now with this run's vault password file
    # The services' Jenkins jobs stay disabled, so that alerts raised by the tests do not start
    # real scale actions through Jenkins; the pipeline tests turn them on for themselves.
    os.environ["VM_AUTOSCALE_LAB_PIPELINES"] = "off"
    try:
        yield Lab(info=json.loads(paths.info.read_text()), state=paths.state, ca=paths.pki / "ca.pem")
    finally:
        down = subprocess.run([str(LAB), "down"], capture_output=True, text=True, check=False)
        # What each daemon used (tests/shards.py adds it up for the run's figures).
        (paths.state.parent / "lab-down.log").write_text(down.stdout + down.stderr)


@pytest.fixture
def vsphere(lab):
    """The lab vCenter's content (pyVmomi), logged in for the test."""
    paths = default_paths()
    si = vcsim.connect(load_plan(), paths, paths.secrets / "vcenter_password")
    yield si.RetrieveContent()
    Disconnect(si)


UNEMULATED_LOGS = ("f5/unemulated.jsonl", "jenkins/unemulated.jsonl")


def _unemulated_lines() -> dict[str, list[str]]:
    state = default_paths().state
    found = {}
    for name in UNEMULATED_LOGS:
        path = state / name
        found[name] = path.read_text().splitlines() if path.exists() else []
    return found


@pytest.fixture(autouse=True)
def no_unemulated_requests(request):
    """Fail a test that made an emulator answer something it does not model faithfully.

    An emulator that answers 404 for an unimplemented path makes a client believe the object
    is absent: every such request is recorded by the emulator, and this check turns it into a
    test failure. Tests that provoke one on purpose are marked ``allow_unemulated``.
    """
    before = _unemulated_lines()
    yield
    if request.node.get_closest_marker("allow_unemulated"):
        return
    after = _unemulated_lines()
    new = [line for name, lines in after.items() for line in lines[len(before.get(name, [])) :]]
    if new:
        pytest.fail("the test made an emulator answer requests it does not emulate:\n" + "\n".join(new))


@dataclass
class PlaybookRun:
    returncode: int
    stdout: str
    stderr: str
    result: dict | None  # the json callback's document

    def task(self, name: str, host: str = "plg-lab") -> dict:
        for play in (self.result or {}).get("plays", []):
            for task in play["tasks"]:
                # Role tasks are named "<role> : <task>" by ansible.
                if task["task"]["name"] == name or task["task"]["name"].endswith(f" : {name}"):
                    return task["hosts"][host]
        raise KeyError(f"no task named {name!r} in the run")

    def once(self, name: str) -> dict:
        """The result of a run_once task, whichever host ran it (the play's first)."""
        for play in (self.result or {}).get("plays", []):
            for task in play["tasks"]:
                if task["task"]["name"] == name or task["task"]["name"].endswith(f" : {name}"):
                    assert len(task["hosts"]) == 1, f"{name!r} ran on {sorted(task['hosts'])}, not once"
                    return next(iter(task["hosts"].values()))
        raise KeyError(f"no task named {name!r} in the run")

    @property
    def stats(self) -> dict:
        return (self.result or {}).get("stats", {})

    @property
    def failed(self) -> list[str]:
        """``<task>: <message>`` of every failed task result (rescued ones too): what to show when a run fails."""
        found = []
        for play in (self.result or {}).get("plays", []):
            for task in play["tasks"]:
                for host, result in task["hosts"].items():
                    if result.get("failed"):
                        found.append(f"{host}: {task['task']['name']}: {str(result.get('msg', ''))[:800]}")
        return found or [self.stdout[-2000:] + self.stderr[-1000:]]


@pytest.fixture
def run_playbook(lab, tmp_path, request):
    """Run a playbook (a path, or the YAML text of one) against the lab inventory.

    ``run_playbook.start(...)`` starts it in the background instead, for a test that changes the lab
    while it runs; ``run_playbook.finish(process)`` waits for that run and returns its result.
    """

    def popen(playbook: str | Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
        if isinstance(playbook, str) and "\n" in playbook:
            path = tmp_path / "playbook.yml"
            path.write_text(textwrap.dedent(playbook))
            playbook = path
        full_env = {**os.environ, "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json", **(env or {})}
        argv = [str(REPO / ".venv" / "bin" / "ansible-playbook"), "-i", "inventories/lab", str(playbook), *args]
        process = _Measured(argv, cwd=REPO, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        process.started = time.monotonic()
        return process

    def finish(process: subprocess.Popen, timeout: float = 600) -> PlaybookRun:
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()
        _log_run(process, request.node.nodeid)
        try:
            document = json.loads(stdout)
        except ValueError:
            document = None
        # Every playbook the tests run uses current features and vendor modules only (issue 22).
        deprecated = [line for line in stderr.splitlines() if "[DEPRECATION WARNING]" in line]
        assert not deprecated, f"the playbook used a deprecated feature: {deprecated[0]}"
        return PlaybookRun(process.returncode, stdout, stderr, document)

    def run(playbook: str | Path, *args: str, env: dict[str, str] | None = None) -> PlaybookRun:
        return finish(popen(playbook, *args, env=env))

    run.start = popen
    run.finish = finish
    return run


class _Measured(subprocess.Popen):
    """A process whose resource use is kept when it is reaped (wait4 instead of waitpid): the CPU
    of one playbook run with its workers and modules, also when runs overlap."""

    usage = None

    def _try_wait(self, wait_flags):
        try:
            pid, status, usage = os.wait4(self.pid, wait_flags)
        except ChildProcessError:
            return self.pid, 0
        if pid == self.pid:
            self.usage = usage
        return pid, status


def _log_run(process: _Measured, test: str) -> None:
    """One line per playbook run in .lab/playbooks.jsonl: which, for which test, its wall and CPU
    seconds. tests/shards.py adds them up: where the suite's CPU goes."""
    usage = process.usage
    line = {
        "test": test,
        "argv": process.args[3:],
        "seconds": round(time.monotonic() - process.started, 2),
        "cpu": round(usage.ru_utime + usage.ru_stime, 2) if usage else None,
    }
    with (REPO / ".lab" / "playbooks.jsonl").open("a") as log:
        log.write(json.dumps(line) + "\n")


_ONBOARDED: list = []


@pytest.fixture
def onboarded(run_playbook, lab):
    """The lab with its services onboarded and their templates made: once per session (later tests
    that onboard again leave them in place)."""
    if not _ONBOARDED:
        for playbook in ("playbooks/onboard.yml", "playbooks/create_template.yml"):
            assert run_playbook(playbook).returncode == 0
        _ONBOARDED.append(True)
    return lab


@pytest.fixture
def prepared(onboarded, lab, vsphere):
    """The lab with acme-web onboarded, its template made, no state; its autoscaled VMs removed after.

    Each test starts with no cooldown or breaker: neither in the state document nor in the metrics
    the alert rules read (written back to their initial values).
    """
    state = lab.state / "statehost" / "vm_autoscale" / "services" / "acme-web.json"
    state.unlink(missing_ok=True)
    metrics = lab.state / "statehost" / "textfile" / "vm_autoscale_acme-web_state.prom"
    metrics.write_text(_rules.initial_state_metrics("acme-web", {"static_members": [{}, {}]}))
    yield lab
    emulator("f5", "DELETE", "/faults")  # before the cleanup, which talks to the F5 too
    remove_autoscaled(lab, vsphere)
    state.unlink(missing_ok=True)
    for device in (F5_A, F5_B):
        assert members(device) == ["198.18.1.11:80", "198.18.1.12:80"], f"cleanup left members on {device}"
