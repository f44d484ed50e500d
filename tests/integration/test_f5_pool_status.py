"""f5_pool_status against the F5 emulator: both devices read in one call, the active device,
disagreeing pools, waiting on a member, and errors that name the device and say why."""

import textwrap

from labclient import F5_B, emulator, f5, wait_for

POOL = "/mgmt/tm/ltm/pool/~Common~globex-api-pool"


def status(run_playbook, **args):
    lines = "\n".join(f"        {key}: {value}" for key, value in args.items())
    play = textwrap.dedent("""
    - hosts: plg-lab
      gather_facts: false
      tasks:
        - name: status
          danacloud.vm_autoscale.f5_pool_status:
            devices: "{{ f5_devices }}"
            username: "{{ f5_username }}"
            password: "{{ f5_password }}"
            ca_path: "{{ vm_autoscale_ca_path }}"
            pool: globex-api-pool
    """) + lines + "\n      ignore_errors: true\n"  # fmt: skip
    run = run_playbook(play)
    assert run.result is not None, run.stderr
    return run.task("status")


def test_both_devices_in_one_call_with_the_active_one_and_whether_they_agree(run_playbook):
    read = status(run_playbook, failover="true")
    assert not read.get("failed") and read["changed"] is False, read
    assert [d["name"] for d in read["devices"]] == ["bigip-a", "bigip-b"]
    assert read["active"] == "bigip-a" and [d["failover"] for d in read["devices"]] == ["ACTIVE", "STANDBY"]
    assert read["agree"] is True and read["member_names"] == ["198.18.2.11:8080", "198.18.2.12:8080"]

    added = f5("POST", f"{POOL}/members", device=F5_B, json={"name": "198.18.2.250:8080", "address": "198.18.2.250"})
    assert added.status_code == 200, added.text
    try:
        differ = status(run_playbook)
        assert differ["agree"] is False and differ["active"] is None  # failover not asked
        assert len(differ["devices"][1]["members"]) == 3
    finally:
        f5("DELETE", f"{POOL}/members/~Common~198.18.2.250:8080", device=F5_B)


def test_waiting_on_a_member(run_playbook):
    up = status(run_playbook, wait="{member: '198.18.2.11:8080', until: available, timeout: 10, interval: 0.5}")
    assert up["met"] is True and set(up["stats"]) == {"bigip-a", "bigip-b"}, up
    assert up["stats"]["bigip-a"]["availability"] == "available"
    gone = status(run_playbook, wait="{member: '198.18.2.99:8080', until: available, timeout: 1, interval: 0.5}")
    assert gone["failed"] and (
        "Failed to wait for member 198.18.2.99:8080 of pool globex-api-pool: it is not available" in gone["msg"]
    )
    assert "bigip-a: not in the pool" in gone["msg"]
    drained = status(run_playbook, wait="{member: '198.18.2.99:8080', until: drained, timeout: 1}")
    assert drained["met"] is True  # a member that is not there holds no connection


def test_errors_name_the_device_and_the_cause(run_playbook):
    wrong = status(run_playbook, password="not-the-password")
    assert (
        wrong["failed"]
        and "bigip-a: GET /mgmt/tm/ltm/pool/~Common~globex-api-pool/members answered 401" in wrong["msg"]
    )
    assert "the user name or password is wrong" in wrong["msg"] and "not-the-password" not in str(wrong)
    missing = status(run_playbook, pool="no-such-pool")
    assert missing["failed"] and "answered 404 (not found)" in missing["msg"]
    emulator("f5", "POST", "/devices/bigip-b/reachable", {"reachable": False})
    try:
        down = status(run_playbook)
        assert down["failed"] and "bigip-b (https://198.18.0.22:443) cannot be reached" in down["msg"], down["msg"]
    finally:
        emulator("f5", "POST", "/devices/bigip-b/reachable", {"reachable": True})
        wait_for(lambda: f5("GET", "/mgmt/tm/sys/version", device=F5_B).status_code == 200, 10, "bigip-b back")


def test_the_f5_action_group_gives_both_f5_modules_their_login_once(run_playbook):
    """module_defaults for group/danacloud.vm_autoscale.f5 (meta/runtime.yml): no login in the tasks."""
    run = run_playbook(textwrap.dedent("""
    - hosts: plg-lab
      gather_facts: false
      module_defaults:
        group/danacloud.vm_autoscale.f5:
          username: "{{ f5_username }}"
          password: "{{ f5_password }}"
          ca_path: "{{ vm_autoscale_ca_path }}"
      tasks:
        - name: status
          danacloud.vm_autoscale.f5_pool_status:
            devices: "{{ f5_devices }}"
            pool: globex-api-pool
            failover: true
        - name: sync
          danacloud.vm_autoscale.f5_config_sync:
            server: "{{ f5_devices[0].server }}"
            server_port: "{{ f5_devices[0].server_port }}"
            device_group: "{{ f5_device_group }}"
          check_mode: true
    """))  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:]
    read = run.task("status")
    assert read["active"] == "bigip-a" and read["member_names"] == ["198.18.2.11:8080", "198.18.2.12:8080"]
    assert run.task("sync").get("failed") is not True
