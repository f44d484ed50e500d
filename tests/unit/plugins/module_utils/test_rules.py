"""The generated Prometheus rules, proven with ``promtool test rules`` (series in, alerts out).

The service below uses the defaults (scale out above 80 % CPU for 5 min, scale in below 20 % CPU
and 40 % memory for 15 min, rate window 2m) with min 2 / max 4 instances and a 300 s cooldown;
series are scraped every 15 s, so the CPU reads from the second sample (15 s) on.
"""

import shutil
import subprocess

import pytest
import yaml
from ansible_collections.danacloud.vm_autoscale.plugins.module_utils import _model, _rules

SERVICE = "shop"
SETTINGS = {
    "job": "vm_autoscale",
    "at_max_for": "30m",
    "metrics_missing_for": "10m",
    "failed_window": "1h",
}
STEPS = 160  # 40 minutes of 15 s samples


def config(**monitoring):
    base = {
        "template": {"name": "tpl"},
        "f5": {"pool_name": "p", "vip": "198.18.5.10", "vip_port": 80, "member_port": 80},
        "network": {
            "subnet": "198.18.5.0/24",
            "gateway": "198.18.5.1",
            "port_group": "pg",
            "ip_pool_start": "198.18.5.100",
            "ip_pool_end": "198.18.5.150",
        },
        "static_members": [{"name": "shop-01", "ip": "198.18.5.11"}, {"name": "shop-02", "ip": "198.18.5.12"}],
        # the floor with a 15 s scrape interval is 5 min + 30 s; these tests were written for 300 s
        "scaling": {"cooldown_seconds": 300},
    }
    if monitoring:
        base["monitoring"] = monitoring
    return _model.with_defaults(SERVICE, base)


def cpu_series(instance, busy_percent, start="", base=0):
    """Idle and user counters of one CPU, so that it reads ``busy_percent`` busy."""
    idle = 15 * (100 - busy_percent) / 100
    selector = f'job="vm_autoscale",service="{SERVICE}",instance="{instance}",cpu="0"'
    steps = STEPS - (len(start.split()) if start else 0)
    return [
        {"series": f'node_cpu_seconds_total{{{selector},mode="idle"}}', "values": f"{start}{base}+{idle:g}x{steps}"},
        {
            "series": f'node_cpu_seconds_total{{{selector},mode="user"}}',
            "values": f"{start}{base}+{15 - idle:g}x{steps}",
        },
    ]


def memory_series(instance, used_percent):
    selector = f'job="vm_autoscale",service="{SERVICE}",instance="{instance}"'
    return [
        {"series": f"node_memory_MemTotal_bytes{{{selector}}}", "values": f"100x{STEPS}"},
        {"series": f"node_memory_MemAvailable_bytes{{{selector}}}", "values": f"{100 - used_percent}x{STEPS}"},
    ]


def state(instances=2, enabled=1, suspended=0):
    labels = f'service="{SERVICE}",job="node",instance="statehost:9100"'
    return [
        {"series": f"vm_autoscale_enabled{{{labels}}}", "values": f"{enabled}x{STEPS}"},
        {"series": f"vm_autoscale_instances{{{labels}}}", "values": f"{instances}x{STEPS}"},
        {"series": f"vm_autoscale_suspended{{{labels}}}", "values": f"{suspended}x{STEPS}"},
    ]


def load(busy, used):
    return [*cpu_series("a:9100", busy), *memory_series("a:9100", used)]


def expect(alert, at, firing):
    labels = {"service": SERVICE, "vm_autoscale": "action", "severity": "info"}
    labels["autoscale_action"] = "scale_out" if alert == "VmAutoscaleScaleOut" else "scale_in"
    return {"eval_time": at, "alertname": alert, "exp_alerts": [{"exp_labels": labels}] if firing else []}


def promtool_test(tmp_path, service_config, series, checks, extra_rules=()):
    rules = _rules.service_rules(SERVICE, service_config, SETTINGS) + list(extra_rules)
    annotations = {rule["alert"]: rule.get("annotations", {}) for rule in rules if "alert" in rule}
    for check in checks:  # promtool compares annotations too: expect the rule's own
        for alert in check["exp_alerts"]:
            alert["exp_annotations"] = annotations[check["alertname"]]
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / "rules.yml").write_text(yaml.safe_dump({"groups": [{"name": "g", "rules": rules}]}))
    test = {
        "rule_files": ["rules.yml"],
        "evaluation_interval": "15s",
        "tests": [{"interval": "15s", "input_series": series, "alert_rule_test": checks}],
    }
    (tmp_path / "test.yml").write_text(yaml.safe_dump(test, sort_keys=False))
    return subprocess.run(
        [shutil.which("promtool"), "test", "rules", "test.yml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )


def assert_passes(result):
    assert result.returncode == 0, result.stdout + result.stderr


def test_scale_out_fires_exactly_after_the_duration_above_the_threshold(tmp_path):
    # Busy from the start: pending from the second sample (15 s), firing 5 min later.
    checks = [
        expect("VmAutoscaleScaleOut", "1m", False),
        expect("VmAutoscaleScaleOut", "5m", False),
        expect("VmAutoscaleScaleOut", "5m15s", True),
        expect("VmAutoscaleScaleIn", "20m", False),
    ]
    assert_passes(promtool_test(tmp_path, config(), [*load(90, 50), *state()], checks))


def test_memory_alone_triggers_scale_out(tmp_path):
    # memory needs no rate: pending from the first sample, firing 5 min later
    checks = [expect("VmAutoscaleScaleOut", "4m45s", False), expect("VmAutoscaleScaleOut", "5m", True)]
    assert_passes(promtool_test(tmp_path, config(), [*load(30, 90), *state()], checks))


def test_no_scale_out_in_cooldown_then_after_it(tmp_path):
    # The last scale action was at t=300 s: in cooldown until 600 s, then 5 min pending again.
    cooldown = {
        "series": f'vm_autoscale_last_scale_timestamp_seconds{{service="{SERVICE}",action="scale_out",instance="s"}}',
        "values": f"300x{STEPS}",
    }
    checks = [
        expect("VmAutoscaleScaleOut", "5m15s", False),
        expect("VmAutoscaleScaleOut", "14m45s", False),
        expect("VmAutoscaleScaleOut", "15m", True),
    ]
    assert_passes(promtool_test(tmp_path, config(), [*load(90, 50), *state(), cooldown], checks))


def test_no_scale_out_at_max_but_the_operator_hears_of_it(tmp_path):
    checks = [
        expect("VmAutoscaleScaleOut", "20m", False),
        {
            "eval_time": "32m",
            "alertname": "VmAutoscaleAtMaxCapacity",
            "exp_alerts": [{"exp_labels": {"service": SERVICE, "vm_autoscale": "operator", "severity": "warning"}}],
        },
    ]
    assert_passes(promtool_test(tmp_path, config(), [*load(90, 50), *state(instances=4)], checks))


@pytest.mark.parametrize(("enabled", "suspended"), [(0, 0), (1, 1)])
def test_no_scale_alert_when_disabled_or_suspended(tmp_path, enabled, suspended):
    checks = [expect("VmAutoscaleScaleOut", "20m", False)]
    assert_passes(
        promtool_test(tmp_path, config(), [*load(90, 50), *state(enabled=enabled, suspended=suspended)], checks)
    )


def test_scale_in_fires_only_below_both_thresholds_for_its_duration(tmp_path):
    checks = [
        expect("VmAutoscaleScaleIn", "15m", False),
        expect("VmAutoscaleScaleIn", "15m15s", True),
        expect("VmAutoscaleScaleOut", "20m", False),
    ]
    assert_passes(promtool_test(tmp_path, config(), [*load(10, 20), *state(instances=3)], checks))


def test_no_scale_in_at_min_or_with_memory_above_its_threshold(tmp_path):
    at_min = [expect("VmAutoscaleScaleIn", "20m", False)]
    assert_passes(promtool_test(tmp_path / "min", config(), [*load(10, 20), *state(instances=2)], at_min))
    memory_busy = [expect("VmAutoscaleScaleIn", "20m", False)]
    assert_passes(promtool_test(tmp_path / "mem", config(), [*load(10, 50), *state(instances=3)], memory_busy))


LONG_WINDOW = "20m"  # a long rate window makes a young target's artefact last minutes
DRAFTS_SCALE_OUT = {  # the drafts' expression, as the control
    "alert": "DraftsScaleOut",
    "expr": f'100 - avg by (service) (rate(node_cpu_seconds_total{{service="{SERVICE}",mode="idle"}}[{LONG_WINDOW}])) * 100 > 80',
    "for": "1m",
}


def new_target_story():
    """a runs at 70 % busy for 25 min; then b joins, idle, its counters large since its boot."""
    b = cpu_series("b:9100", 0, start="_x100 ", base=50000)
    return [*cpu_series("a:9100", 70), *b, *memory_series("a:9100", 50), *state(instances=3)]


QUIET = [f"{minute}m{second}s" for minute in (25, 26, 27, 28) for second in (0, 15, 30, 45)]


@pytest.mark.parametrize("result", ["failed", "abandoned"])
def test_the_operator_hears_of_a_failed_or_abandoned_run_and_not_of_a_skipped_one(tmp_path, result):
    labels = f'service="{SERVICE}",job="node",instance="statehost:9100",action="scale_out"'
    counters = [
        {"series": f'vm_autoscale_actions_total{{{labels},result="{result}"}}', "values": "0x20 1x40"},
        {"series": f'vm_autoscale_actions_total{{{labels},result="skipped"}}', "values": "0x5 1x10 2x45"},
    ]
    alert = {"service": SERVICE, "vm_autoscale": "operator", "severity": "warning", "job": "node",
             "instance": "statehost:9100", "action": "scale_out", "result": result}  # fmt: skip
    checks = [
        {"eval_time": "4m", "alertname": "VmAutoscaleActionFailed", "exp_alerts": []},  # skipped ones only
        {"eval_time": "8m", "alertname": "VmAutoscaleActionFailed", "exp_alerts": [{"exp_labels": alert}]},
    ]
    assert_passes(promtool_test(tmp_path, config(), [*state(), *counters], checks))


def test_the_operator_hears_of_drift_that_stays_and_not_of_drift_fixed_in_time(tmp_path):
    labels = f'service="{SERVICE}",job="node",instance="statehost:9100"'
    # (15 s samples) none for 5 min; 2 found, fixed by a reconcile 15 min later; none; then 1 that stays
    drift = [{"series": f"vm_autoscale_drift{{{labels}}}", "values": "0x20 2x60 0x20 1x200"}]
    alert = {"service": SERVICE, "vm_autoscale": "operator", "severity": "warning"}
    checks = [
        {"eval_time": "20m", "alertname": "VmAutoscaleDrift", "exp_alerts": []},  # fixed within 30 min
        {"eval_time": "50m", "alertname": "VmAutoscaleDrift", "exp_alerts": []},  # the new one: 24 min
        {"eval_time": "60m", "alertname": "VmAutoscaleDrift", "exp_alerts": [{"exp_labels": alert}]},
    ]
    assert_passes(promtool_test(tmp_path, config(), [*state(), *drift], checks))


def test_a_new_target_does_not_cause_a_false_scale_out(tmp_path):
    ours = config(duration_minutes=1, rate_window=LONG_WINDOW)
    checks = [expect("VmAutoscaleScaleOut", at, False) for at in QUIET]
    assert_passes(promtool_test(tmp_path / "ours", ours, new_target_story(), checks))

    # The control: over the same story the drafts' expression fires.
    drafts = [{"eval_time": at, "alertname": "DraftsScaleOut", "exp_alerts": []} for at in QUIET]
    control = promtool_test(tmp_path / "drafts", ours, new_target_story(), drafts, [DRAFTS_SCALE_OUT])
    assert control.returncode != 0
    assert "DraftsScaleOut" in control.stdout + control.stderr


def test_missing_metrics_alert_the_operator(tmp_path):
    checks = [
        {
            "eval_time": "11m",
            "alertname": "VmAutoscaleMetricsMissing",
            "exp_alerts": [{"exp_labels": {"service": SERVICE, "vm_autoscale": "operator", "severity": "warning"}}],
        }
    ]
    assert_passes(promtool_test(tmp_path, config(), load(90, 50), checks))


@pytest.mark.parametrize(("limit", "fires"), [("site_cap", True), ("max_instances", False)])
def test_a_refusal_at_the_site_cap_alerts_the_operator(tmp_path, limit, fires):
    # the counter, written from 0 by the state module, moves once at 10 min
    refusals = {"series": f'vm_autoscale_refusals_total{{service="{SERVICE}",limit="{limit}"}}', "values": "0x40 1x119"}
    alert = {"exp_labels": {"service": SERVICE, "vm_autoscale": "operator", "severity": "critical"}}
    checks = [
        {"eval_time": "9m", "alertname": "VmAutoscaleSiteCapReached", "exp_alerts": []},
        {"eval_time": "12m", "alertname": "VmAutoscaleSiteCapReached", "exp_alerts": [alert] if fires else []},
    ]
    assert_passes(promtool_test(tmp_path, config(), [*load(50, 50), *state(), refusals], checks))


def test_config_and_initial_state_metrics_files():
    text = _rules.config_metrics(SERVICE, config())
    assert 'vm_autoscale_enabled{service="shop"} 1' in text
    assert 'vm_autoscale_max_instances{service="shop"} 4' in text
    assert 'vm_autoscale_cooldown_seconds{service="shop"} 300' in text
    assert "vm_autoscale_target_" not in text  # a step service has no target
    tracked = _rules.config_metrics(SERVICE, tracking_config(memory_percent=70))
    assert 'vm_autoscale_target_cpu_percent{service="shop"} 60' in tracked
    assert 'vm_autoscale_target_memory_percent{service="shop"} 70' in tracked
    state_text = _rules.initial_state_metrics(SERVICE, config())
    assert 'vm_autoscale_instances{service="shop"} 2' in state_text
    assert 'vm_autoscale_suspended{service="shop"} 0' in state_text


def test_a_missing_instance_count_does_not_block_the_action_alerts(tmp_path):
    """A state document with no count yet writes the metric without it: the min/max gates must not
    then hold the alerts back for good (the run's own guard checks the real count)."""
    labels = f'service="{SERVICE}",job="node",instance="statehost:9100"'
    uncounted = [series for series in state() if not series["series"].startswith("vm_autoscale_instances")]
    assert [series["series"].split("{")[0] for series in uncounted] == [
        "vm_autoscale_enabled",
        "vm_autoscale_suspended",
    ]
    assert labels in uncounted[0]["series"]
    out = [expect("VmAutoscaleScaleOut", "5m15s", True)]
    assert_passes(promtool_test(tmp_path / "out", config(), [*load(90, 50), *uncounted], out))
    within = [expect("VmAutoscaleScaleIn", "16m", True)]
    assert_passes(promtool_test(tmp_path / "in", config(), [*load(10, 20), *uncounted], within))


# target tracking ---------------------------------------------------------------------------------


def tracking_config(**tracking):
    service = config()
    service["scaling"]["policy"] = "target_tracking"
    service["scaling"]["target_tracking"].update({"cpu_percent": 60, **tracking})
    return service


@pytest.mark.parametrize(
    ("busy", "used", "instances", "fires"),
    [
        (67, 50, 2, (True, False)),  # above 60 % + 10 %
        (65, 50, 2, (False, False)),  # inside the band: nothing
        (50, 95, 2, (False, False)),  # memory is not tracked unless a target is set for it
        (25, 20, 2, (False, False)),  # ceil(2 x 25/60) = 1, but at min 2
        (25, 20, 3, (False, True)),  # 25 x 3/2 = 37.5 <= 60: one VM fewer still at or below the target
        (45, 20, 3, (False, False)),  # 45 x 3/2 = 67.5 > 60: one VM fewer would overshoot
        (40, 20, 4, (False, True)),  # 40 x 4/3 = 53.3: down from 4
    ],
)
def test_tracked_alerts_fire_outside_the_band_and_scale_in_only_when_one_vm_fewer_stays_at_target(
    tmp_path, busy, used, instances, fires
):
    out, scale_in = fires
    checks = [expect("VmAutoscaleScaleOut", "20m", out), expect("VmAutoscaleScaleIn", "20m", scale_in)]
    series = [*load(busy, used), *state(instances=instances)]
    assert_passes(promtool_test(tmp_path, tracking_config(), series, checks))


def test_a_tracked_memory_target_fires_alone_and_holds_a_scale_in_back(tmp_path):
    service = tracking_config(memory_percent=50)
    out = [expect("VmAutoscaleScaleOut", "20m", True)]
    assert_passes(promtool_test(tmp_path / "out", service, [*load(30, 80), *state(instances=3)], out))
    held = [expect("VmAutoscaleScaleIn", "20m", False)]  # CPU is low, memory at 50 % x 3/2 > 50
    assert_passes(promtool_test(tmp_path / "in", service, [*load(10, 50), *state(instances=3)], held))


def test_a_tracked_scale_in_needs_the_instance_count():
    rules = _rules.service_rules(SERVICE, tracking_config(), SETTINGS)
    (scale_in,) = [rule for rule in rules if rule.get("alert") == "VmAutoscaleScaleIn"]
    assert 'max by (service) (vm_autoscale_instances{service="shop"}) - 1' in scale_in["expr"]


def test_the_load_query_labels_cpu_and_memory_and_takes_the_peak_over_a_window():
    assert _rules.load_query("shop", "scale_out") == (
        'label_replace(vm_autoscale:cpu_percent{service="shop"}, "metric", "cpu", "", "") or '
        'label_replace(vm_autoscale:memory_percent{service="shop"}, "metric", "memory", "", "")'
    )
    assert 'max_over_time(vm_autoscale:cpu_percent{service="shop"}[15m])' in _rules.load_query(
        "shop", "scale_in", "15m"
    )
    for bad in (("Shop", "scale_out", ""), ('shop"}', "scale_out", ""), ("shop", "up", ""), ("shop", "scale_in", "15")):
        with pytest.raises(ValueError):
            _rules.load_query(*bad)
