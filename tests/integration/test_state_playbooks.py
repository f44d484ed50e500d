"""The state host's playbooks on the lab: the breaker opens after failures, Prometheus sees it,
events.yml lists the events, breaker_reset.yml closes it - all read back from the state files
and from the lab's Prometheus (which scrapes the state host's node_exporter textfile)."""

import json

import pytest
from labclient import prometheus_value, wait_for

SUSPENDED = 'vm_autoscale_suspended{service="globex-api"}'
FAILED = 'vm_autoscale_actions_total{service="globex-api",action="scale_out",result="failed"}'

RECORD_FAILURES = """
- name: Three failed scale-outs of globex-api
  hosts: globex-api
  gather_facts: false
  tasks:
    - name: Record a failure
      danacloud.vm_autoscale.autoscale_event:
        service: globex-api
        state_dir: "{{ vm_autoscale_state_dir }}"
        textfile_dir: "{{ vm_autoscale_textfile_dir }}"
        event:
          id: "test-failure-{{ item }}"
          action: scale_out
          status: failed
          step: clone
          reason: "datastore LocalDS_0 is full"
      delegate_to: "{{ groups['state_host'] | first }}"
      loop: [1, 2, 3]
"""


@pytest.fixture
def onboarded(run_playbook, lab):
    assert run_playbook("playbooks/onboard.yml").returncode == 0
    # A clean state for globex-api (the lab is shared by the session).
    for path in [lab.state / "statehost" / "vm_autoscale" / "services" / "globex-api.json",
                 lab.state / "statehost" / "vm_autoscale" / "events" / "globex-api.jsonl"]:  # fmt: skip
        path.unlink(missing_ok=True)
    return lab


def test_breaker_opens_shows_in_prometheus_lists_and_resets(run_playbook, onboarded):
    lab = onboarded
    state_path = lab.state / "statehost" / "vm_autoscale" / "services" / "globex-api.json"
    run = run_playbook(RECORD_FAILURES)
    assert run.returncode == 0, run.stdout[-2000:]
    assert json.loads(state_path.read_text())["suspended"] is True
    wait_for(lambda: prometheus_value(SUSPENDED) == 1, 30, "Prometheus to scrape suspended=1")
    assert prometheus_value(FAILED) == 3

    events = run_playbook("playbooks/events.yml", "-l", "globex-api", "-e", "events_status=failed")
    assert events.returncode == 0, events.stdout[-2000:]
    lines = events.task("Show them", "globex-api")["msg"]
    assert lines[0].startswith("globex-api: SUSPENDED (3 failed scale-outs in a row; last: clone: datastore")
    assert lines[1].split()[:4] == ["time", "run", "action", "result"]
    assert len(lines) == 5 and all("scale_out  failed" in line for line in lines[2:])
    assert [line.split()[1] for line in lines[2:]] == ["test-failure-1", "test-failure-2", "test-failure-3"]
    assert "(breaker opened)" in lines[-1]

    refused = run_playbook("playbooks/breaker_reset.yml", "-l", "globex-api")
    assert refused.returncode != 0 and json.loads(state_path.read_text())["suspended"] is True

    checked = run_playbook("playbooks/breaker_reset.yml", "-l", "globex-api", "-e", "reset_reason=test", "--check")
    assert checked.returncode == 0 and json.loads(state_path.read_text())["suspended"] is True

    reset = run_playbook("playbooks/breaker_reset.yml", "-l", "globex-api", "-e", 'reset_reason="datastore grown"',
                         "-e", "reset_by=tester")  # fmt: skip
    assert reset.returncode == 0, reset.stdout[-2000:]
    assert "breaker closed, the service may scale again" in reset.task("Report", "globex-api")["msg"]
    state = json.loads(state_path.read_text())
    assert state["suspended"] is False and state["consecutive_failures"] == 0
    wait_for(lambda: prometheus_value(SUSPENDED) == 0, 30, "Prometheus to scrape suspended=0")

    again = run_playbook("playbooks/breaker_reset.yml", "-l", "globex-api", "-e", "reset_reason=again")
    assert again.returncode == 0
    assert all(host["changed"] == 0 for host in again.stats.values())
    last = run_playbook("playbooks/events.yml", "-l", "globex-api", "-e", "events_limit=1")
    (row,) = last.task("Show them", "globex-api")["msg"][2:]
    assert "breaker_reset  success" in row and "datastore grown" in row
    logged = (lab.state / "statehost" / "vm_autoscale" / "events" / "globex-api.jsonl").read_text().splitlines()
    assert json.loads(logged[-1])["by"] == "tester" and len(logged) == 4
