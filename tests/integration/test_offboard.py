"""playbooks/offboard.yml on the lab: a service with an autoscaled VM is not offboarded until the
operator decides about its VMs; with remove, the VM is drained and gone (its warm VM too), the job disabled, the
route, token, rules, targets and metrics gone - read back from vcsim, both F5 devices, the leases,
Jenkins, Prometheus, Alertmanager and the files - and globex-api keeps all of its own. A second run
changes nothing. The test onboards acme-web again at the end."""

import yaml
from labclient import ALERTMANAGER, F5_A, F5_B, PROMETHEUS, jenkins, plg, vm_names, wait_for
from scaling import events, leases, members, warm_mapping

STATIC = ["198.18.1.11:80", "198.18.1.12:80"]
NO_COOLDOWN = ("-e", "scale_out_respect_cooldown=false")


def rule_groups():
    answer = plg("GET", f"{PROMETHEUS}/api/v1/rules").json()
    return {group["name"] for group in answer["data"]["groups"]}


def receivers():
    """The receivers of the configuration Alertmanager runs."""
    answer = plg("GET", f"{ALERTMANAGER}/api/v2/status").json()
    return {receiver["name"] for receiver in yaml.safe_load(answer["config"]["original"])["receivers"]}


def files(lab, service):
    plg, statehost = lab.state / "plg", lab.state / "statehost"
    return {
        path.name
        for path in [*plg.rglob(f"*{service}*"), *(statehost / "textfile").glob(f"*{service}*")]
        if path.is_file()
    }


def monitoring(lab, service):
    job = jenkins("GET", f"/job/autoscale-{service}/api/json").json()
    return {
        "files": files(lab, service),
        "rule group": f"vm_autoscale-{service}" in rule_groups(),
        "route": f"autoscale-{service}" in receivers(),
        "job enabled": job["color"] != "disabled",
    }


def test_offboarding_waits_for_a_decision_about_the_vms_then_takes_everything_away(run_playbook, prepared, vsphere):
    lab = prepared
    globex = monitoring(lab, "globex-api")
    try:
        out = run_playbook("playbooks/scale_out.yml", "-l", "acme-web", *NO_COOLDOWN)
        assert out.returncode == 0, out.stdout[-3000:]
        (vm,) = [name for name in vm_names(vsphere) if name.startswith("acme-web-auto-")]
        # and a warm pool of one VM (powered off, leased, in no pool): offboarding removes it in any case
        filled = run_playbook("playbooks/warm_pool.yml", "-l", "acme-web", "-e", warm_mapping(1))
        assert filled.returncode == 0, filled.failed
        (warm,) = [name for name in vm_names(vsphere) if name.startswith("acme-web-auto-") and name != vm]
        before = monitoring(lab, "acme-web")
        assert before["files"] and before["rule group"] and before["route"]

        # No decision about the autoscaled VM: stopped, nothing changed.
        refused = run_playbook("playbooks/offboard.yml", "-e", "offboard_services=acme-web")
        assert refused.returncode != 0
        message = refused.task("Stop unless the operator decided about them", "acme-web")["msg"]
        assert f"service acme-web still has 1 autoscaled VMs in its pool ({vm}); nothing was changed" in message
        assert "-e offboard_autoscaled_vms=remove" in message
        assert monitoring(lab, "acme-web") == before and {vm, warm} <= set(vm_names(vsphere))
        unknown = run_playbook("playbooks/offboard.yml", "-e", "offboard_services=acme-wbe")
        assert unknown.returncode != 0 and "not autoscaled services of this inventory: acme-wbe" in unknown.stdout

        # Check mode: says what it would do, changes nothing.
        check = run_playbook("playbooks/offboard.yml", "-e", "offboard_services=acme-web",
                             "-e", "offboard_autoscaled_vms=remove", "--check")  # fmt: skip
        assert check.returncode == 0, check.stdout[-3000:]
        assert monitoring(lab, "acme-web") == before and vm in vm_names(vsphere)

        gone = run_playbook("playbooks/offboard.yml", "-e", "offboard_services=acme-web",
                            "-e", "offboard_autoscaled_vms=remove")  # fmt: skip
        assert gone.returncode == 0, gone.stdout[-3000:]
        assert vm not in vm_names(vsphere) and warm not in vm_names(vsphere)
        for device in (F5_A, F5_B):
            assert members(device) == STATIC
        assert not [lease for lease in leases(lab).values() if lease["state"] != "released"]
        scaled_in, emptied = events(lab)[-2:]
        assert scaled_in["action"] == "scale_in" and scaled_in["trigger"] == "offboard"
        assert (emptied["action"], emptied["status"]) == ("warm_pool", "success")
        assert [entry["vm"] for entry in emptied["deleted"]] == [warm]
        wait_for(lambda: "vm_autoscale-acme-web" not in rule_groups(), 10, "Prometheus to drop the rules")
        after = monitoring(lab, "acme-web")
        assert after == {"files": set(), "rule group": False, "route": False, "job enabled": False}, after
        assert monitoring(lab, "globex-api") == globex

        again = run_playbook("playbooks/offboard.yml", "-e", "offboard_services=acme-web")
        assert again.returncode == 0, again.stdout[-3000:]
        assert sum(host["changed"] for host in again.stats.values()) == 0, again.stats
    finally:
        assert run_playbook("playbooks/onboard.yml").returncode == 0
    assert monitoring(lab, "acme-web")["route"]
