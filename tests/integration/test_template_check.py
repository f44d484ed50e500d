"""The template a scale-out clones from is checked before anything changes.

A template that is not in vCenter, is a VM, or was made from another VM than the inventory names
is refused - by a real scale-out and by its dry run - with the fix (create_template.yml -l <s>).
The refusal is recorded as a failed event the circuit breaker does not count (it is the
operator's to fix, not a sick site): three in a row leave the service unsuspended. Nothing
changes: read back from vCenter, both F5 devices, the targets, the leases and the state document.
Onboarding names each service's template state.
"""

import yaml
from conftest import REPO
from scaling import events, service_state, snapshot

REFUSAL = "Fail with what went wrong, before any change"
FIX = "run playbooks/create_template.yml -l acme-web first"


def _refused(run_playbook, lab, vsphere, *args):
    """A scale-out of acme-web that is refused for its template: its message; nothing changed."""
    before, count = snapshot(lab, vsphere), len(events(lab))
    run = run_playbook("playbooks/scale_out.yml", "-l", "acme-web", "-e", "scale_out_respect_cooldown=false", *args)
    assert run.returncode != 0, run.stdout[-3000:]
    message = run.task(REFUSAL, "acme-web")["msg"]
    assert "failed at 'Refuse a missing template before any change (the circuit breaker does not count it)'" in message
    assert FIX in message and "Nothing was changed" in message, message
    assert "circuit breaker is now open" not in message
    assert snapshot(lab, vsphere) == before
    assert len(events(lab)) == count + 1
    return message


def test_a_missing_template_is_refused_before_any_change_and_never_opens_the_breaker(run_playbook, prepared, vsphere):
    lab = prepared
    for _attempt in range(3):
        message = _refused(run_playbook, lab, vsphere, "-e", "scale_out_template=tpl-never-made")
        assert "template 'tpl-never-made' of service acme-web is not in vCenter" in message
        event = events(lab)[-1]
        assert event["status"] == "failed" and event["breaker_counts"] is False and event["actions"] == []
    state = service_state(lab)
    assert state["consecutive_failures"] == 0 and state["suspended"] is False and state["lock"] is None
    assert state["actions_total"]["scale_out"]["failed"] == 3
    table = run_playbook("playbooks/events.yml", "-l", "acme-web", "-e", "events_limit=3").task("Show them", "acme-web")
    rows = table["msg"][2:]
    assert len(rows) == 3 and all("failed, not counted" in row and "tpl-never-made" in row for row in rows), rows

    # The dry run says the same, and records nothing.
    count = len(events(lab))
    dry = run_playbook("playbooks/scale_out.yml", "-l", "acme-web", "-e", "scale_out_dry_run=true",
                       "-e", "scale_out_template=tpl-never-made")  # fmt: skip
    assert dry.returncode != 0
    assert "template 'tpl-never-made' of service acme-web is not in vCenter" in dry.task(REFUSAL, "acme-web")["msg"]
    assert len(events(lab)) == count

    # A VM of that name is no template either (a static member's name given by mistake).
    message = _refused(run_playbook, lab, vsphere, "-e", "scale_out_template=acme-web-02")
    assert "template 'acme-web-02' of service acme-web is a VM, not a template" in message

    # The real template still scales out: the checks refuse only what is wrong.
    assert (
        run_playbook("playbooks/scale_out.yml", "-l", "acme-web", "-e", "scale_out_respect_cooldown=false").returncode
        == 0
    )
    assert events(lab)[-1]["status"] == "success" and service_state(lab)["consecutive_failures"] == 0


def test_a_template_made_from_another_vm_than_the_inventory_names_is_refused(run_playbook, prepared, vsphere, tmp_path):
    """create_template.yml recorded tpl-acme-web as made from acme-web-01; the inventory now says acme-web-02."""
    lab = prepared
    config = yaml.safe_load((REPO / "inventories" / "lab" / "host_vars" / "acme-web.yml").read_text())
    config["autoscale"]["template"]["source_vm"] = "acme-web-02"
    message = _refused(run_playbook, lab, vsphere, "-i", str(_override(tmp_path, config)))
    assert (
        "template 'tpl-acme-web' of service acme-web was made from acme-web-01, but autoscale.template.source_vm is acme-web-02"
        in message
    )
    assert service_state(lab)["consecutive_failures"] == 0


def _override(tmp_path, config):
    """An inventory directory that gives acme-web ``config`` (its host_vars win over the lab's)."""
    override = tmp_path / "override"
    (override / "host_vars").mkdir(parents=True)
    (override / "hosts.yml").write_text(
        yaml.safe_dump({"all": {"children": {"autoscale_services": {"hosts": {"acme-web": None}}}}})
    )
    (override / "host_vars" / "acme-web.yml").write_text(yaml.safe_dump(config))
    return override


def test_onboarding_says_what_each_service_has_and_names_a_missing_template(run_playbook, prepared, tmp_path):
    run = run_playbook("playbooks/onboard.yml")
    assert run.returncode == 0, run.stdout[-3000:]
    summary = run.once("What each service has now")["msg"]
    assert sorted(summary) == ["acme-web", "globex-api"]
    acme = summary["acme-web"]
    assert acme[0] == "service acme-web: autoscaling enabled, 2-4 instances"
    assert acme[1].startswith("Jenkins job autoscale-acme-web (enabled), scheduled reconcile reconcile-acme-web")
    assert "target tracking: holds 60 % CPU +-10 %, up to 4 VM(s) per scale-out, 2 per scale-in" in acme[2]
    assert acme[-1] == "template tpl-acme-web: a template in vCenter"
    assert summary["globex-api"][0].startswith("service globex-api:")

    # A template that was never made is named with the command, and onboarding still passes (the
    # guide makes the template after its first check); in check mode, which changes nothing.
    config = yaml.safe_load((REPO / "inventories" / "lab" / "host_vars" / "acme-web.yml").read_text())
    config["autoscale"]["template"]["name"] = "tpl-acme-web-v2"
    check = run_playbook("playbooks/onboard.yml", "-i", str(_override(tmp_path, config)), "-l", "acme-web", "--check")
    assert check.returncode == 0, check.stdout[-3000:]
    acme = check.once("What each service has now")["msg"]["acme-web"]
    assert acme[0].startswith("service acme-web (check mode: what it would have):")
    assert acme[-1].startswith(
        "template tpl-acme-web-v2: MISSING in vCenter - run playbooks/create_template.yml -l acme-web"
    )
