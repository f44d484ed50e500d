"""autoscale_lock, autoscale_event and autoscale_state: the service state on the state host.

Everything is read back from the files the modules write (state document, event log, metrics),
not only from the modules' answers.
"""

import json
import multiprocessing
import os
import time

import pytest
from ansible_collections.danacloud.vm_autoscale.plugins.module_utils import _state
from ansible_collections.danacloud.vm_autoscale.plugins.modules import autoscale_event, autoscale_lock, autoscale_state


@pytest.fixture
def dirs(tmp_path):
    textfile = tmp_path / "textfile"
    textfile.mkdir()
    return {"state_dir": str(tmp_path / "state"), "textfile_dir": str(textfile)}


def state_file(dirs, service="acme-web"):
    with open(os.path.join(dirs["state_dir"], "services", f"{service}.json")) as handle:
        return json.load(handle)


def event_lines(dirs, service="acme-web"):
    with open(os.path.join(dirs["state_dir"], "events", f"{service}.jsonl")) as handle:
        return [json.loads(line) for line in handle]


def metrics(dirs, service="acme-web"):
    """{(name, labels...): value} from the textfile node_exporter reads."""
    values = {}
    with open(os.path.join(dirs["textfile_dir"], f"vm_autoscale_{service}_state.prom")) as handle:
        for line in handle:
            if line.startswith("#") or not line.strip():
                continue
            series, value = line.rsplit(" ", 1)
            values[series] = float(value)
    return values


def lock(run_module, dirs, **args):
    return run_module(autoscale_lock.main, {"service": "acme-web", **dirs, **args})


def record(run_module, dirs, event, **args):
    return run_module(autoscale_event.main, {"service": "acme-web", **dirs, "event": event, **args})


# --- the run lock ------------------------------------------------------------------------


def test_lock_is_taken_renewed_refused_to_others_and_released(run_module, dirs):
    first = lock(run_module, dirs, owner="run-1", action="scale_out", ttl=600)
    assert first["changed"] and not first["renewed"]
    on_disk = state_file(dirs)["lock"]
    assert on_disk["owner"] == "run-1" and on_disk["action"] == "scale_out"
    assert _state.parse_time(on_disk["expires_at"]) - _state.parse_time(on_disk["acquired_at"]) in (599, 600, 601)

    again = lock(run_module, dirs, owner="run-1", ttl=600)
    assert again["renewed"] and state_file(dirs)["lock"]["acquired_at"] == on_disk["acquired_at"]

    other = lock(run_module, dirs, owner="run-2", action="scale_in")
    assert other["failed"]
    assert "service acme-web is locked by run run-1 (scale_out)" in other["msg"]
    assert other["holder"]["owner"] == "run-1"
    assert state_file(dirs)["lock"]["owner"] == "run-1"

    refused = lock(run_module, dirs, owner="run-2", state="absent")
    assert refused["failed"] and "nothing was released" in refused["msg"]
    assert state_file(dirs)["lock"]["owner"] == "run-1"

    released = lock(run_module, dirs, owner="run-1", state="absent")
    assert released["changed"] and released["released"]["owner"] == "run-1"
    assert state_file(dirs)["lock"] is None
    assert not lock(run_module, dirs, owner="run-1", state="absent")["changed"]


def test_an_expired_lock_is_taken_over_and_force_clears_a_live_one(run_module, dirs):
    lock(run_module, dirs, owner="dead-run", ttl=1)
    time.sleep(2.1)
    taken = lock(run_module, dirs, owner="run-2")
    assert taken["changed"] and taken["expired_lock"]["owner"] == "dead-run"
    assert state_file(dirs)["lock"]["owner"] == "run-2"

    cleared = lock(run_module, dirs, state="absent", force=True)
    assert cleared["changed"] and cleared["released"]["owner"] == "run-2"
    assert state_file(dirs)["lock"] is None


def test_lock_waits_for_the_holder_then_gives_up(run_module, dirs):
    lock(run_module, dirs, owner="run-1", ttl=2)
    started = time.monotonic()
    taken = lock(run_module, dirs, owner="run-2", wait=10)
    assert taken["changed"] and taken["waited"] >= 1  # the lock expired while run-2 waited
    assert state_file(dirs)["lock"]["owner"] == "run-2"
    assert time.monotonic() - started < 10

    refused = lock(run_module, dirs, owner="run-3", wait=1)
    assert refused["failed"] and "(waited 1 s)" in refused["msg"]


def test_busy_skip_ends_a_duplicate_at_once_and_a_different_action_after_waiting(run_module, dirs):
    lock(run_module, dirs, owner="run-1", action="scale_out", ttl=600)
    before = state_file(dirs)
    started = time.monotonic()
    duplicate = lock(run_module, dirs, owner="run-2", action="scale_out", wait=30, busy="skip", cooldown_seconds=60)
    assert not duplicate.get("failed") and not duplicate["changed"] and duplicate["acquired"] is False
    assert time.monotonic() - started < 5  # the same action does not wait for the holder
    assert duplicate["busy_reason"].startswith("another run of acme-web (run-1, scale_out) is acting since")
    assert duplicate["holder"]["owner"] == "run-1" and duplicate["lock"]["owner"] == "run-1"
    assert "suspended" in duplicate and "cooldown_remaining" in duplicate
    assert state_file(dirs) == before  # nothing written

    other = lock(run_module, dirs, owner="run-3", action="scale_in", wait=1, busy="skip")
    assert not other.get("failed") and other["acquired"] is False and other["waited"] >= 1
    assert "waited 1 s: this run ends here" in other["busy_reason"]
    assert state_file(dirs) == before

    free = lock(run_module, dirs, owner="run-1", state="absent")
    assert free["changed"]
    taken = lock(run_module, dirs, owner="run-2", action="scale_out", busy="skip")
    assert taken["acquired"] is True and taken["busy_reason"] == "" and state_file(dirs)["lock"]["owner"] == "run-2"


def test_lock_in_check_mode_writes_nothing(run_module, dirs):
    result = lock(run_module, dirs, owner="run-1", _ansible_check_mode=True)
    assert result["changed"] and result["lock"]["owner"] == "run-1"
    assert not os.path.exists(os.path.join(dirs["state_dir"], "services", "acme-web.json"))
    # a new site: check mode makes neither the state folder nor the lock file
    assert not os.path.exists(dirs["state_dir"])
    event = record(run_module, dirs, {"action": "scale_out", "status": "failed"}, _ansible_check_mode=True)
    assert event["changed"] and not os.path.exists(dirs["state_dir"])
    read = run_module(autoscale_state.main, {"service": "acme-web", **dirs, "_ansible_check_mode": True})
    assert "failed" not in read and not os.path.exists(dirs["state_dir"])


def _take(args):
    dirs, owner = args
    store = _state.ServiceState(dirs["state_dir"], "acme-web", None)
    try:
        store.change(_state.acquire(owner, "scale_out", 600, time.time()))
        return owner
    except _state.Locked:
        return None


def test_twenty_runs_at_once_one_gets_the_lock(dirs):
    with multiprocessing.get_context("fork").Pool(20) as pool:
        winners = [owner for owner in pool.map(_take, [(dirs, f"run-{n}") for n in range(20)]) if owner]
    assert len(winners) == 1
    assert state_file(dirs)["lock"]["owner"] == winners[0]


# --- events, counters, cooldown, breaker --------------------------------------------------


def test_a_success_is_logged_counted_and_starts_the_cooldown(run_module, dirs):
    event = {"id": "run-1", "action": "scale_out", "status": "success", "alert": "VmAutoscaleScaleOut",
             "actions": [{"type": "vm-creation", "vm": "acme-web-auto-0001", "ip": "198.18.1.100"}]}  # fmt: skip
    result = record(run_module, dirs, event, instances=3)
    assert result["changed"] and not result["duplicate"]
    (logged,) = event_lines(dirs)
    assert logged["id"] == "run-1" and logged["service"] == "acme-web" and logged["status"] == "success"
    assert logged["actions"][0]["vm"] == "acme-web-auto-0001" and "timestamp" in logged
    on_disk = state_file(dirs)
    assert on_disk["actions_total"]["scale_out"]["success"] == 1 and "scale_out" in on_disk["last_scale"]
    values = metrics(dirs)
    assert values['vm_autoscale_instances{service="acme-web"}'] == 3
    assert values['vm_autoscale_actions_total{service="acme-web",action="scale_out",result="success"}'] == 1
    assert values['vm_autoscale_actions_total{service="acme-web",action="scale_in",result="failed"}'] == 0
    stamp = values['vm_autoscale_last_scale_timestamp_seconds{service="acme-web",action="scale_out"}']
    assert abs(stamp - time.time()) < 5

    queried = run_module(autoscale_state.main, {"service": "acme-web", **dirs, "cooldown_seconds": 300})
    assert 295 <= queried["cooldown_remaining"] <= 300
    assert [e["id"] for e in queried["events"]] == ["run-1"]


def test_the_same_event_id_is_counted_once(run_module, dirs):
    event = {"id": "run-7", "action": "scale_in", "status": "success"}
    record(run_module, dirs, event)
    again = record(run_module, dirs, event)
    assert not again["changed"] and again["duplicate"]
    assert len(event_lines(dirs)) == 1
    assert state_file(dirs)["actions_total"]["scale_in"]["success"] == 1


def test_skipped_actions_move_neither_cooldown_nor_breaker(run_module, dirs):
    record(run_module, dirs, {"id": "s1", "action": "scale_out", "status": "skipped", "reason": "in cooldown"})
    on_disk = state_file(dirs)
    assert on_disk["last_scale"] == {} and on_disk["consecutive_failures"] == 0
    assert on_disk["actions_total"]["scale_out"]["skipped"] == 1


def test_a_refusal_by_a_limit_is_counted_per_limit_from_zero(run_module, dirs):
    record(run_module, dirs, {"id": "c0", "action": "scale_out", "status": "skipped", "reason": "in cooldown"})
    series = 'vm_autoscale_refusals_total{service="acme-web",limit="%s"}'
    assert metrics(dirs)[series % "site_cap"] == 0 and metrics(dirs)[series % "max_instances"] == 0
    for number, limit in enumerate(["site_cap", "site_cap", "max_instances", ""]):
        event = {"id": f"c{number + 1}", "action": "scale_out", "status": "skipped", "reason": "x", "limit": limit}
        record(run_module, dirs, event)
    assert state_file(dirs)["refusals_total"] == {"max_instances": 1, "site_cap": 2}
    assert metrics(dirs)[series % "site_cap"] == 2 and metrics(dirs)[series % "max_instances"] == 1
    assert "limit" not in event_lines(dirs)[-1]  # an empty limit is not kept
    # a state document of an earlier release (no refusals_total) is read and counted on
    document = state_file(dirs)
    del document["refusals_total"]
    with open(os.path.join(dirs["state_dir"], "services", "acme-web.json"), "w") as handle:
        json.dump(document, handle)
    record(run_module, dirs, {"id": "c9", "action": "scale_out", "status": "skipped", "limit": "site_cap"})
    assert state_file(dirs)["refusals_total"] == {"max_instances": 0, "site_cap": 1}


def test_three_failed_scale_outs_open_the_breaker_and_a_reset_closes_it(run_module, dirs):
    for number in range(1, 4):
        result = record(run_module, dirs, {"id": f"f{number}", "action": "scale_out", "status": "failed",
                                           "step": "clone", "reason": "datastore full"})  # fmt: skip
        assert result["breaker_opened"] is (number == 3)
    on_disk = state_file(dirs)
    assert on_disk["suspended"] and on_disk["consecutive_failures"] == 3
    assert "3 failed scale-outs in a row; last: clone: datastore full" == on_disk["suspended_reason"]
    assert metrics(dirs)['vm_autoscale_suspended{service="acme-web"}'] == 1
    assert event_lines(dirs)[-1]["breaker"] == "opened"

    check = run_module(autoscale_state.main, {"service": "acme-web", **dirs, "breaker": "reset"}, check_mode=True)
    assert check["changed"] and state_file(dirs)["suspended"]

    reset = run_module(autoscale_state.main, {"service": "acme-web", **dirs, "breaker": "reset",
                                              "reset_by": "jdoe", "reset_reason": "datastore grown"})  # fmt: skip
    assert reset["changed"] and not reset["suspended"]
    on_disk = state_file(dirs)
    assert not on_disk["suspended"] and on_disk["consecutive_failures"] == 0
    assert metrics(dirs)['vm_autoscale_suspended{service="acme-web"}'] == 0
    logged = event_lines(dirs)[-1]
    assert logged["action"] == "breaker_reset" and logged["by"] == "jdoe"
    assert logged["previous"]["consecutive_failures"] == 3
    assert not run_module(autoscale_state.main, {"service": "acme-web", **dirs, "breaker": "reset"})["changed"]


def test_a_success_between_failures_resets_the_count(run_module, dirs):
    record(run_module, dirs, {"id": "a", "action": "scale_out", "status": "failed"})
    record(run_module, dirs, {"id": "b", "action": "scale_out", "status": "failed"})
    record(run_module, dirs, {"id": "c", "action": "scale_out", "status": "success"})
    record(run_module, dirs, {"id": "d", "action": "scale_out", "status": "failed"})
    on_disk = state_file(dirs)
    assert on_disk["consecutive_failures"] == 1 and not on_disk["suspended"]


@pytest.mark.parametrize("flag", [False, "false"])
def test_a_failure_the_operator_must_fix_is_logged_and_counted_but_not_by_the_breaker(run_module, dirs, flag):
    for number in range(4):
        result = record(run_module, dirs, {"id": f"t{number}", "action": "scale_out", "status": "failed",
                                           "step": "template", "breaker_counts": flag})  # fmt: skip
        assert not result["breaker_opened"]
    on_disk = state_file(dirs)
    assert on_disk["consecutive_failures"] == 0 and not on_disk["suspended"]
    assert on_disk["actions_total"]["scale_out"]["failed"] == 4
    assert [line["id"] for line in event_lines(dirs)] == ["t0", "t1", "t2", "t3"]
    # an ordinary failure after them still counts from one
    record(run_module, dirs, {"id": "x", "action": "scale_out", "status": "failed", "breaker_counts": True})
    assert state_file(dirs)["consecutive_failures"] == 1


def test_events_are_filtered_by_status_time_and_limit(run_module, dirs):
    for number, status in enumerate(["success", "failed", "skipped", "failed", "success"]):
        record(run_module, dirs, {"id": f"e{number}", "action": "scale_in", "status": status})
    query = {"service": "acme-web", **dirs}
    failed = run_module(autoscale_state.main, {**query, "events": {"status": ["failed"]}})["events"]
    assert [e["id"] for e in failed] == ["e1", "e3"]
    assert [e["id"] for e in run_module(autoscale_state.main, {**query, "events": {"limit": 2}})["events"]] == [
        "e3",
        "e4",
    ]
    future = run_module(autoscale_state.main, {**query, "events": {"since": "2999-01-01T00:00:00Z"}})
    assert future["events"] == []
    bad = run_module(autoscale_state.main, {**query, "events": {"since": "yesterday"}})
    assert bad["failed"] and "events.since is 'yesterday'" in bad["msg"]


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ({"action": "scale_up", "status": "success"}, "event.action is 'scale_up'"),
        ({"action": "scale_out", "status": "ok"}, "event.status is 'ok'"),
        ({"id": "a b", "action": "scale_out", "status": "success"}, "event.id 'a b' is not a valid id"),
        ({"action": "scale_out", "status": "skipped", "limit": "cpu"}, "event.limit is 'cpu', expected one of"),
    ],
)
def test_bad_events_are_refused_and_write_nothing(run_module, dirs, event, message):
    result = record(run_module, dirs, event)
    assert result["failed"] and message in result["msg"]
    assert not os.path.exists(dirs["state_dir"])


def test_a_damaged_state_file_is_left_untouched(run_module, dirs):
    path = os.path.join(dirs["state_dir"], "services", "acme-web.json")
    os.makedirs(os.path.dirname(path))
    for text, message in [
        ("{not json", "is not valid JSON"),
        (json.dumps({**_state.empty_state("acme-web"), "version": 2}), "version is 2"),
        (json.dumps({**_state.empty_state("acme-web"), "consecutive_failures": -1}), "consecutive_failures is -1"),
        (json.dumps({**_state.empty_state("other")}), "service is 'other'"),
    ]:
        with open(path, "w") as handle:
            handle.write(text)
        before = os.stat(path).st_mtime_ns
        result = record(run_module, dirs, {"action": "scale_out", "status": "success"})
        assert result["failed"] and message in result["msg"] and path in result["msg"], result["msg"]
        assert open(path).read() == text and os.stat(path).st_mtime_ns == before
    assert not os.path.exists(os.path.join(dirs["state_dir"], "events"))


def test_a_bad_service_name_is_refused(run_module, dirs):
    result = run_module(autoscale_state.main, {"service": "../etc", **dirs})
    assert result["failed"] and "is not a valid service name" in result["msg"]


def test_onboarding_metrics_are_the_state_metrics_of_a_new_service():
    from ansible_collections.danacloud.vm_autoscale.plugins.module_utils import _rules

    text = _rules.initial_state_metrics("acme-web", {"static_members": [{"name": "a"}, {"name": "b"}]})
    assert 'vm_autoscale_instances{service="acme-web"} 2' in text
    assert 'vm_autoscale_actions_total{service="acme-web",action="scale_out",result="failed"} 0' in text
    assert "vm_autoscale_last_scale_timestamp_seconds" not in text


def test_the_lock_returns_the_guards_and_the_last_event_releases_it(run_module, dirs):
    record(run_module, dirs, {"id": "done", "action": "scale_in", "status": "success"})
    taken = lock(run_module, dirs, owner="run-2", action="scale_out", cooldown_seconds=300)
    assert 295 <= taken["cooldown_remaining"] <= 300 and taken["suspended"] is False
    assert taken["state"]["lock"]["owner"] == "run-2"
    finished = record(
        run_module, dirs, {"id": "run-2", "action": "scale_out", "status": "success"}, release_lock="run-2"
    )
    assert finished["lock_released"]["owner"] == "run-2" and state_file(dirs)["lock"] is None
    assert event_lines(dirs)[-1]["id"] == "run-2"
    # Another run's lock is never released by an event, and the event is still recorded.
    lock(run_module, dirs, owner="run-3", action="scale_out")
    other = record(run_module, dirs, {"id": "run-2b", "action": "scale_out", "status": "failed"}, release_lock="run-2")
    assert other["lock_released"] is None and state_file(dirs)["lock"]["owner"] == "run-3"
    assert event_lines(dirs)[-1]["id"] == "run-2b"


# --- the intent record and the renewed lock (a run that dies) ----------------------------


def renew(run_module, dirs, owner, **args):
    return run_module(autoscale_lock.main, {"service": "acme-web", **dirs, "owner": owner, "renew": True, **args})


def test_a_run_records_its_intent_and_its_progress_and_its_last_event_ends_it(run_module, dirs):
    lock(run_module, dirs, owner="run-1", action="scale_out", ttl=60)
    plan = {"action": "scale_out", "vms": [{"vm": "acme-web-auto-0003"}, {"vm": "acme-web-auto-0004"}]}
    started = renew(run_module, dirs, "run-1", ttl=900, step="lease acme-web-auto-0003", plan=plan)
    assert started["intent"]["vms"] == [
        {"vm": "acme-web-auto-0003", "ip": "", "step": "planned"},
        {"vm": "acme-web-auto-0004", "ip": "", "step": "planned"},
    ]
    progress = {"vm": "acme-web-auto-0003", "step": "leased", "ip": "10.20.0.57"}
    renew(run_module, dirs, "run-1", ttl=120, step="clone acme-web-auto-0003", progress=progress)
    on_disk = state_file(dirs)
    assert on_disk["intent"]["vms"][0] == {"vm": "acme-web-auto-0003", "ip": "10.20.0.57", "step": "leased"}
    assert on_disk["lock"]["step"] == "clone acme-web-auto-0003"
    expiry = _state.parse_time(on_disk["lock"]["expires_at"]) - time.time()
    assert 115 <= expiry <= 121, expiry  # the renewal's own ttl, not the first one
    read = run_module(autoscale_state.main, {"service": "acme-web", **dirs})
    assert read["intent"]["run"] == "run-1"
    record(run_module, dirs, {"id": "run-1", "action": "scale_out", "status": "success"}, release_lock="run-1")
    assert state_file(dirs)["intent"] is None and state_file(dirs)["lock"] is None


def test_the_next_run_finds_what_a_dead_run_left_and_the_abandoned_event_ends_it(run_module, dirs):
    lock(run_module, dirs, owner="dead-run", action="scale_out", ttl=1)
    renew(run_module, dirs, "dead-run", ttl=1, plan={"action": "scale_out", "vms": [{"vm": "acme-web-auto-0003"}]})
    time.sleep(1.1)
    taken = lock(run_module, dirs, owner="run-2", action="scale_in")
    assert taken["abandoned"]["run"] == "dead-run" and taken["abandoned"]["lock"]["owner"] == "dead-run"
    assert taken["abandoned"]["vms"][0]["step"] == "planned"
    # The record stays until the dead run is recorded: a repair that dies too is repaired again.
    assert state_file(dirs)["intent"]["run"] == "dead-run"
    with pytest.raises(_state.StateError, match="unfinished intent of run dead-run"):
        _state.hold("run-2", 60, time.time(), plan={"action": "scale_in", "vms": []})(state_file(dirs))
    record(run_module, dirs, {"id": "dead-run", "action": "scale_out", "status": "abandoned", "by": "run-2"})
    assert state_file(dirs)["intent"] is None and state_file(dirs)["lock"]["owner"] == "run-2"
    totals = state_file(dirs)["actions_total"]["scale_out"]
    assert totals["abandoned"] == 1 and state_file(dirs)["consecutive_failures"] == 0  # not the breaker's
    assert metrics(dirs)['vm_autoscale_actions_total{service="acme-web",action="scale_out",result="abandoned"}'] == 1
    # An operator clearing a lock by force leaves the intent for the next run as well.
    renew(
        run_module, dirs, "run-2", plan={"action": "scale_in", "vms": [{"vm": "acme-web-auto-0002", "ip": "10.20.0.3"}]}
    )
    lock(run_module, dirs, state="absent", force=True)
    assert lock(run_module, dirs, owner="run-3")["abandoned"]["run"] == "run-2"


def test_a_run_whose_lock_was_taken_over_cannot_renew_it_and_changes_nothing(run_module, dirs):
    lock(run_module, dirs, owner="slow-run", action="scale_out", ttl=1)
    renew(run_module, dirs, "slow-run", ttl=1, plan={"action": "scale_out", "vms": [{"vm": "acme-web-auto-0003"}]})
    time.sleep(1.1)
    # Expired, but nobody took it: still the slow run's to renew.
    assert renew(run_module, dirs, "slow-run", ttl=1)["renewed"]
    time.sleep(1.1)
    lock(run_module, dirs, owner="run-2", action="scale_out")
    before = state_file(dirs)
    lost = renew(run_module, dirs, "slow-run", ttl=60, progress={"vm": "acme-web-auto-0003", "step": "leased"})
    assert lost["failed"] and lost["lost"] and "run-2" in lost["msg"] and "stops here" in lost["msg"]
    assert state_file(dirs) == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"plan": {"action": "scale_sideways", "vms": []}}, "plan.action is 'scale_sideways'"),
        ({"progress": {"vm": "acme-web-auto-0099", "step": "leased"}}, "names no planned VM"),
        ({"progress": {"vm": "acme-web-auto-0003", "step": "flying"}}, "no step of scale_out"),
    ],
)
def test_a_bad_plan_or_progress_is_refused_and_writes_nothing(run_module, dirs, args, message):
    lock(run_module, dirs, owner="run-1", action="scale_out")
    renew(run_module, dirs, "run-1", plan={"action": "scale_out", "vms": [{"vm": "acme-web-auto-0003"}]})
    before = state_file(dirs)
    refused = renew(run_module, dirs, "run-1", **args)
    assert refused["failed"] and message in refused["msg"], refused["msg"]
    assert state_file(dirs) == before


def test_a_state_document_of_an_earlier_release_is_read_and_counts_abandoned_from_zero(run_module, dirs):
    record(run_module, dirs, {"id": "old", "action": "scale_out", "status": "success"})
    document = state_file(dirs)
    del document["intent"]
    for action in _state.ACTIONS:
        del document["actions_total"][action]["abandoned"]
    with open(os.path.join(dirs["state_dir"], "services", "acme-web.json"), "w") as handle:
        json.dump(document, handle)
    record(run_module, dirs, {"id": "gone", "action": "scale_in", "status": "abandoned"})
    assert state_file(dirs)["actions_total"]["scale_in"]["abandoned"] == 1


# --- the drift a reconcile left ----------------------------------------------------------


def test_the_drift_a_reconcile_left_is_recorded_and_exported(run_module, dirs):
    base = {"service": "acme-web", **dirs}
    found = run_module(autoscale_state.main, {**base, "drift": {"count": 3, "run": "acme-web-reconcile-1"}})
    assert found["changed"] and state_file(dirs)["drift"]["count"] == 3
    assert metrics(dirs)['vm_autoscale_drift{service="acme-web"}'] == 3
    checked = metrics(dirs)['vm_autoscale_drift_checked_timestamp_seconds{service="acme-web"}']
    assert abs(checked - time.time()) < 5
    run_module(autoscale_state.main, {**base, "drift": {"count": "0", "run": "acme-web-reconcile-2"}})
    assert metrics(dirs)['vm_autoscale_drift{service="acme-web"}'] == 0
    assert state_file(dirs)["drift"]["run"] == "acme-web-reconcile-2"
    before = state_file(dirs)
    refused = run_module(autoscale_state.main, {**base, "drift": {"count": -1, "run": "x"}})
    assert refused["failed"] and "drift.count is -1" in refused["msg"] and state_file(dirs) == before
