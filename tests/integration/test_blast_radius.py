"""The hard cap on the blast radius, on the lab: an autoscaled VM outside the F5 pool still
counts against max_instances, the site-wide cap counts the autoscaled VMs of every service in
vCenter, and the per-run ceiling bounds any step. Each refusal names the limit, changes nothing
(read back from vCenter, both F5 devices, the leases and the targets) and is recorded. Reconcile
never puts a service above its maximum."""

from pathlib import Path

import yaml
from labclient import F5_A, F5_B, f5, vm_names
from scaling import POOL, events, leases, members, snapshot, targets

REPO = Path(__file__).resolve().parents[2]

NO_COOLDOWN = ("-e", "scale_out_respect_cooldown=false")


def autoscaled(vsphere):
    return sorted(name for name in vm_names(vsphere) if name.startswith("acme-web-auto-"))


def test_a_vm_outside_the_pool_counts_and_the_site_cap_holds(run_playbook, prepared, vsphere):
    lab = prepared
    first = run_playbook("playbooks/scale_out.yml", "-l", "acme-web", *NO_COOLDOWN)
    assert first.returncode == 0, first.stdout[-3000:]
    (vm,) = autoscaled(vsphere)
    ip = next(a["ip"] for a in events(lab)[-1]["actions"] if a["type"] == "vm-creation")

    # The site-wide cap counts every service's autoscaled VMs in vCenter: with a cap of 1, the one
    # VM there leaves no room - nothing is done, and the event says which limit.
    before = snapshot(lab, vsphere)
    capped = run_playbook(
        "playbooks/scale_out.yml", "-l", "acme-web", *NO_COOLDOWN, "-e", "scale_out_max_autoscaled_vms=1"
    )
    assert capped.returncode == 0, capped.stdout[-3000:]
    reason = events(lab)[-1]["reason"]
    assert events(lab)[-1]["status"] == "skipped" and events(lab)[-1]["limit"] == "site_cap", events(lab)[-1]
    assert reason.startswith("at the site-wide cap: 1 autoscaled VMs in vCenter across all services"), reason
    assert "vm_autoscale_max_autoscaled_vms 1" in reason
    assert snapshot(lab, vsphere) == before

    # The VM leaves the pool on both devices (a crash, a failed undo, an operator): 2 members but
    # 3 instances - a step of 3 adds one VM, up to the maximum of 4, not 3 up to 5.
    for device in (F5_A, F5_B):
        assert f5("DELETE", f"{POOL}/members/~Common~{ip}:80", device=device).status_code == 200
    try:
        second = run_playbook("playbooks/scale_out.yml", "-l", "acme-web", *NO_COOLDOWN, "-e", "scale_out_step=3")
        assert second.returncode == 0, second.stdout[-3000:]
        assert len(autoscaled(vsphere)) == 2 and len(members(F5_A)) == 3 and len(members(F5_B)) == 3
        assert events(lab)[-1]["status"] == "success"

        before = snapshot(lab, vsphere)
        full = run_playbook("playbooks/scale_out.yml", "-l", "acme-web", *NO_COOLDOWN)
        assert full.returncode == 0
        reason = events(lab)[-1]["reason"]
        assert events(lab)[-1]["status"] == "skipped" and reason.startswith("at max: 4 of 4 instances"), reason
        assert f"outside the F5 pool count too: {vm}" in reason and events(lab)[-1]["limit"] == "max_instances"
        assert snapshot(lab, vsphere) == before
    finally:  # back in the pool for the cleanup
        for device in (F5_A, F5_B):
            f5("POST", f"{POOL}/members", device=device, json={"name": f"{ip}:80", "address": ip})


def test_reconcile_never_takes_the_service_above_its_maximum(run_playbook, prepared, vsphere, tmp_path):
    lab = prepared
    run = run_playbook("playbooks/scale_out.yml", "-l", "acme-web", *NO_COOLDOWN, "-e", "scale_out_step=2")
    assert run.returncode == 0, run.stdout[-3000:]
    made = events(lab)[-1]["actions"]
    ips = {a["vm"]: a["ip"] for a in made if a["type"] == "vm-creation"}
    assert len(ips) == 2, made
    # Both leave the pool on both devices (a crash half-way, an operator); the maximum is then
    # lowered to 3: reconcile puts one back (2 static + 1 = 3) and deletes the newest.
    for ip in ips.values():
        for device in (F5_A, F5_B):
            assert f5("DELETE", f"{POOL}/members/~Common~{ip}:80", device=device).status_code == 200
    service = yaml.safe_load((REPO / "inventories" / "lab" / "host_vars" / "acme-web.yml").read_text())
    service["autoscale"]["scaling"]["max_instances"] = 3
    lowered = tmp_path / "max3.yml"
    lowered.write_text(yaml.safe_dump({"autoscale": service["autoscale"]}))
    fixed = run_playbook("playbooks/reconcile.yml", "-l", "acme-web", "-e", "reconcile_fix=true", "-e", f"@{lowered}")
    assert fixed.returncode == 0, fixed.stdout[-3000:]
    newest, oldest = sorted(ips, reverse=True)
    assert autoscaled(vsphere) == [oldest]
    for device in (F5_A, F5_B):
        assert members(device) == sorted(["198.18.1.11:80", "198.18.1.12:80", f"{ips[oldest]}:80"]), device
    assert set(leases(lab)) == {ips[oldest]}
    assert [t["labels"]["vm"] for t in targets(lab)] == [oldest]
    fixes = events(lab)[-1]
    assert fixes["action"] == "reconcile", fixes
    assert any(line.startswith(f"above_max {newest}:") for line in fixes["drift"]), fixes
