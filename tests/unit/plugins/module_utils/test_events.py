"""The planners' event list: each VM once, one per line, with run id, trigger, result and duration."""

import pytest
from ansible_collections.danacloud.vm_autoscale.plugins.module_utils import _events

SCALE_OUT = {
    "id": "jenkins-autoscale-acme-web-7-k2v9x0aa",
    "timestamp": "2026-12-04T14:20:01Z",
    "action": "scale_out",
    "status": "success",
    "trigger": "prometheus-alert",
    "alert": "VmAutoscaleScaleOut",
    "duration_seconds": 41.25,
    "actions": [
        {"type": "ip-allocation", "vm": "acme-web-auto-0001", "ip": "198.18.1.100"},
        {"type": "ip-allocation", "vm": "acme-web-auto-0002", "ip": "198.18.1.101"},
        {"type": "vm-creation", "vm": "acme-web-auto-0001", "ip": "198.18.1.100"},
        {"type": "vm-creation", "vm": "acme-web-auto-0002", "ip": "198.18.1.101"},
        {"type": "f5-pool-add", "vm": "acme-web-auto-0001", "pool": "p", "member": "198.18.1.100:80"},
        {"type": "f5-pool-add", "vm": "acme-web-auto-0002", "pool": "p", "member": "198.18.1.101:80"},
        {"type": "f5-pool-add", "vm": "acme-web-auto-0001", "pool": "p", "member": "198.18.1.100:80"},
    ],
}
FAILED = {
    "id": "r-2",
    "timestamp": "2026-12-04T15:00:00Z",
    "action": "scale_out",
    "status": "failed",
    "trigger": "manual",
    "step": "clone",
    "reason": "x" * 300 + "\nsecond line",
    "breaker_counts": "false",
    "actions": [],
}


def test_each_vm_is_named_once_on_its_own_line_with_its_address():
    lines = _events.event_table([SCALE_OUT])
    body = "\n".join(lines)
    assert body.count("acme-web-auto-0001") == 1
    assert body.count("acme-web-auto-0002") == 1
    assert len(lines) == 3  # header, the event's line, the second VM's line
    assert lines[1].split()[-3:] == ["acme-web-auto-0001", "198.18.1.100", "-"]
    assert lines[2].split() == ["acme-web-auto-0002", "198.18.1.101"]
    # the second VM sits under the first, in the VMs column
    assert lines[2].index("acme-web-auto-0002") == lines[1].index("acme-web-auto-0001")


def test_the_first_line_has_run_trigger_result_and_duration():
    header, first = _events.event_table([SCALE_OUT])[:2]
    for column in ("time", "run", "action", "result", "trigger", "took", "VMs", "step / reason"):
        assert column in header
    assert SCALE_OUT["id"] in first
    assert "prometheus-alert (VmAutoscaleScaleOut)" in first
    assert "41.2 s" in first or "41.3 s" in first
    assert first.startswith("2026-12-04T14:20:01Z")


def test_a_long_reason_is_cut_and_kept_on_one_line():
    lines = _events.event_table([FAILED])
    assert len(lines) == 2
    assert "\n" not in lines[1]
    detail = lines[1].split("  ")[-1]
    assert detail.startswith("clone: xxx")
    assert detail.endswith("...")
    assert len(detail) == _events.REASON_WIDTH
    assert "failed, not counted" in lines[1]


def test_the_columns_line_up_across_events():
    lines = _events.event_table([SCALE_OUT, FAILED])
    assert lines[3].index("r-2") == lines[1].index(SCALE_OUT["id"]) == lines[0].index("run")
    assert lines[3].index("manual") == lines[1].index("prometheus-alert")


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        ({"action": "scale_out", "status": "skipped", "limit": "max_instances"}, "skipped (max_instances)"),
        ({"action": "scale_in", "status": "abandoned", "duration_seconds": "n/a"}, "abandoned"),
        ({"action": "notification", "status": "skipped", "actions": [{"type": "x"}, "junk"]}, "skipped"),
    ],
)
def test_odd_events_still_make_one_line(event, expected):
    lines = _events.event_table([event, "not an event"])
    assert len(lines) == 2
    assert expected in lines[1]
    assert lines[1].split()[-1] == "-"


def test_no_events_and_wrong_input():
    assert _events.event_table([])[1] == "(no events)"
    with pytest.raises(ValueError, match="events list"):
        _events.event_table({"events": []})
