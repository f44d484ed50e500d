"""One service per run, on the lab: scale_out.yml, scale_in.yml, autoscale.yml and reconcile.yml
with a fix refuse a run that would act on several services unless it says so
(-e vm_autoscale_several_services=true), and a service named by vm_autoscale_service (what the AWX
templates ask) must be one of the inventory's. Each refusal changes nothing: read back from vCenter,
both F5 devices, the leases, the targets and the event logs of both services."""

import pytest
from labclient import F5_A, F5_B, f5, vm_names
from scaling import events, snapshot

SEVERAL = "would act on 2 services at once (acme-web, globex-api)"
GLOBEX_POOL = "/mgmt/tm/ltm/pool/~Common~globex-api-pool/members"


def everything(lab, vsphere):
    globex = {device: sorted(m["name"] for m in f5("GET", GLOBEX_POOL, device=device).json()["items"])
              for device in (F5_A, F5_B)}  # fmt: skip
    return {**snapshot(lab, vsphere), "globex": globex, "vms": sorted(vm_names(vsphere)), "events": len(events(lab))}


@pytest.mark.parametrize(
    "case",
    [
        ("scale_out.yml", (), SEVERAL),
        ("scale_in.yml", ("-e", "scale_in_respect_cooldown=false"), SEVERAL),
        ("autoscale.yml", ("-e", "autoscale_action=scale_out"), SEVERAL),
        ("reconcile.yml", ("-e", "reconcile_fix=true"), SEVERAL),
        ("scale_out.yml", ("-l", "acme-web,globex-api"), SEVERAL),
        ("scale_out.yml", ("-e", "vm_autoscale_service=acme-webb"), "is not in the group autoscale_services"),
        ("scale_out.yml", ("-e", "vm_autoscale_service=all"), "is not in the group autoscale_services"),
        ("scale_out.yml", ("-e", "vm_autoscale_service=acme-web,globex-api"), "is not in the group"),
        ("scale_out.yml", ("-l", "globex-api", "-e", "vm_autoscale_service=acme-web"), "among the hosts of this run"),
    ],
    ids=["scale_out", "scale_in", "autoscale", "reconcile-fix", "limit-of-two", "typo", "all", "two-named", "limited"],
)
def test_a_run_for_several_services_is_refused_and_changes_nothing(run_playbook, prepared, vsphere, case):
    playbook, args, message = case
    before = everything(prepared, vsphere)
    run = run_playbook(f"playbooks/{playbook}", *args)
    assert run.returncode != 0, run.stdout[-3000:]
    assert message in run.stdout, run.stdout[-3000:]
    assert "nothing was changed" in run.stdout
    assert everything(prepared, vsphere) == before


def test_the_named_service_alone_acts_and_a_report_may_cover_all(run_playbook, prepared, vsphere):
    named = run_playbook(
        "playbooks/scale_out.yml", "-e", "vm_autoscale_service=acme-web", "-e", "scale_out_dry_run=true"
    )
    assert named.returncode == 0, named.stdout[-3000:]
    plan = named.task("The plan (dry run, nothing changed)", "acme-web")
    assert "acme-web-auto-0001" in str(plan), plan
    with pytest.raises(KeyError):  # globex-api left the play before any of its tasks
        named.task("The plan (dry run, nothing changed)", "globex-api")
    report = run_playbook("playbooks/reconcile.yml")  # reads only: every service in one run
    assert report.returncode == 0, report.stdout[-3000:]
    assert set(report.stats) >= {"acme-web", "globex-api"}
