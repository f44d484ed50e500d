"""Every molecule scenario converges, is idempotent and verifies against the lab."""

import os
import subprocess

import pytest
from conftest import REPO

SCENARIOS = sorted(p.parent.name for p in (REPO / "extensions" / "molecule").glob("*/molecule.yml"))


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_scenario(onboarded, scenario, tmp_path):
    # The lab fixture has exported the lab's client environment (venv on PATH, CA, vault password).
    # The session has onboarded the services and made their templates (as other tests need them
    # too): the scenarios that need them skip doing it again in their prepare step.
    # Molecule's state (and its inventory) in a folder of this test's own: a run killed half-way
    # cannot leave a state saying "prepared" behind, so no 'molecule reset' is needed first.
    env = {
        **os.environ,
        "NO_COLOR": "1",
        "VM_AUTOSCALE_LAB_ONBOARDED": "1",
        "MOLECULE_EPHEMERAL_DIRECTORY": str(tmp_path),
    }
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
    # the internal role scale_common refuses to run on its own: the scenarios of the roles that
    # call its steps run them (scale_out's cleanup calls start, f5_targets and undo directly)
    internal = {"scale_common"}
    assert {"scale_out", "scale_in", "reconcile"} <= set(SCENARIOS)
    assert roles and set(roles) - internal <= set(SCENARIOS), (
        f"roles without a molecule scenario: {set(roles) - set(SCENARIOS)}"
    )
