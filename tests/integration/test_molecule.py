"""Every molecule scenario converges, is idempotent and verifies against the lab."""

import os
import subprocess

import pytest
from conftest import REPO

SCENARIOS = sorted(p.parent.name for p in (REPO / "extensions" / "molecule").glob("*/molecule.yml"))


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_scenario(onboarded, scenario):
    # The lab fixture has exported the lab's client environment (venv on PATH, CA, vault password).
    # The session has onboarded the services and made their templates (as other tests need them
    # too): the scenarios that need them skip doing it again in their prepare step.
    env = {**os.environ, "NO_COLOR": "1", "VM_AUTOSCALE_LAB_ONBOARDED": "1"}
    # A run killed half-way leaves molecule's state saying "prepared": reset, so prepare runs.
    reset = subprocess.run([str(REPO / ".venv" / "bin" / "molecule"), "reset", "-s", scenario], cwd=REPO,
                           capture_output=True, text=True, env=env, check=False, timeout=120)  # fmt: skip
    assert reset.returncode == 0, reset.stdout + reset.stderr
    run = subprocess.run(
        [str(REPO / ".venv" / "bin" / "molecule"), "test", "-s", scenario],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=900,
    )
    assert run.returncode == 0, (run.stdout + run.stderr)[-5000:]


def test_there_is_a_scenario_for_every_role():
    roles = sorted(p.name for p in (REPO / "roles").iterdir() if (p / "tasks" / "main.yml").exists())
    assert roles and set(roles) <= set(SCENARIOS), f"roles without a molecule scenario: {set(roles) - set(SCENARIOS)}"
