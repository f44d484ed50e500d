"""alert_rule driven through main(), with the real promtool (Debian's prometheus package)."""

import functools
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from ansible_collections.danacloud.vm_autoscale.plugins.module_utils import _prometheus
from ansible_collections.danacloud.vm_autoscale.plugins.modules import alert_rule

SCALE_OUT = {
    "alert": "VmAutoscaleScaleOut",
    "expr": 'avg by (service) (rate(node_cpu_seconds_total{service="acme-web",mode!="idle"}[1m])) * 100 > 75',
    "for": "1m",
    "labels": {"service": "acme-web", "autoscale_action": "scale_out", "severity": "info"},
    "annotations": {"summary": "acme-web above 75% CPU"},
}
OPERATOR_GROUP = {"name": "operators-own", "rules": [{"alert": "Watchdog", "expr": "vector(1)"}]}


@pytest.fixture
def run(run_module):
    """The module's result for ``args`` (see conftest.run_module)."""
    return functools.partial(run_module, alert_rule.main)


@pytest.fixture
def rule_file(tmp_path):
    path = tmp_path / "rules" / "acme-web.yml"
    path.parent.mkdir()
    return path


def groups_on_disk(path):
    return yaml.safe_load(path.read_text())["groups"]


def promtool_accepts(path):
    argv = [shutil.which("promtool"), "check", "rules", str(path)]
    return subprocess.run(argv, capture_output=True, check=False).returncode == 0


def test_create_then_identical_rerun_is_unchanged(run, rule_file):
    args = {"path": str(rule_file), "name": "vm_autoscale-acme-web", "rules": [SCALE_OUT]}
    created = run(args)
    assert created["changed"] is True
    assert created["rule_group"]["rules"][0]["alert"] == "VmAutoscaleScaleOut"
    assert groups_on_disk(rule_file) == [{"name": "vm_autoscale-acme-web", "rules": [SCALE_OUT]}]
    assert promtool_accepts(rule_file)
    stamp = rule_file.stat().st_mtime_ns
    assert run(args)["changed"] is False
    assert rule_file.stat().st_mtime_ns == stamp


def test_the_same_meaning_written_differently_is_not_a_change(run, rule_file):
    run({"path": str(rule_file), "name": "g", "interval": "1m", "rules": [SCALE_OUT]})
    same = dict(SCALE_OUT, expr=f"  {SCALE_OUT['expr']}\n", **{"for": "60s"})
    assert run({"path": str(rule_file), "name": "g", "interval": "60s", "rules": [same]})["changed"] is False


def test_update_keeps_other_groups_in_place(run, rule_file):
    rule_file.write_text(yaml.safe_dump({"groups": [OPERATOR_GROUP, {"name": "g", "rules": [SCALE_OUT]}]}))
    higher = dict(SCALE_OUT, expr=SCALE_OUT["expr"].replace("> 75", "> 85"))
    result = run({"path": str(rule_file), "name": "g", "rules": [higher]}, diff=True)
    assert result["changed"] is True
    assert "> 75" in result["diff"]["before"]
    assert "> 85" in result["diff"]["after"]
    on_disk = groups_on_disk(rule_file)
    assert on_disk[0] == OPERATOR_GROUP
    assert on_disk[1]["rules"][0]["expr"].endswith("> 85")


def test_absent_removes_only_its_group_and_is_idempotent(run, rule_file):
    rule_file.write_text(yaml.safe_dump({"groups": [OPERATOR_GROUP, {"name": "g", "rules": [SCALE_OUT]}]}))
    removed = run({"path": str(rule_file), "name": "g", "state": "absent"}, diff=True)
    assert removed["changed"] is True
    assert removed["diff"]["after"] == ""
    assert groups_on_disk(rule_file) == [OPERATOR_GROUP]
    assert run({"path": str(rule_file), "name": "g", "state": "absent"})["changed"] is False
    missing = rule_file.parent / "never-written.yml"
    assert run({"path": str(missing), "name": "g", "state": "absent"})["changed"] is False
    assert not missing.exists()


def test_promtool_refusal_fails_with_its_message_and_leaves_the_file(run, rule_file):
    run({"path": str(rule_file), "name": "g", "rules": [SCALE_OUT]})
    before = rule_file.read_bytes()
    broken = dict(SCALE_OUT, expr="rate(node_cpu_seconds_total[1m]")
    result = run({"path": str(rule_file), "name": "g", "rules": [broken]})
    assert result["failed"] is True
    assert "promtool check rules refused the file" in result["msg"]
    assert "unclosed left parenthesis" in result["msg"]
    assert str(rule_file) in result["msg"]  # promtool's temporary name is replaced by the real one
    assert rule_file.read_bytes() == before
    assert [p.name for p in rule_file.parent.iterdir()] == ["acme-web.yml"]


def test_check_mode_predicts_validates_and_writes_nothing(run, rule_file):
    result = run({"path": str(rule_file), "name": "g", "rules": [SCALE_OUT]}, check_mode=True)
    assert result["changed"] is True
    assert not rule_file.exists()
    broken = dict(SCALE_OUT, expr="rate(x[1m]")
    refused = run({"path": str(rule_file), "name": "g", "rules": [broken]}, check_mode=True)
    assert refused["failed"] is True
    assert not rule_file.exists()


@pytest.mark.parametrize(
    ("rules", "words"),
    [
        ([dict(SCALE_OUT, **{"for": "5 minutes"})], "not a Prometheus duration"),
        ([dict(SCALE_OUT, labels={"bad-name": "x"})], "invalid name 'bad-name'"),
        ([dict(SCALE_OUT, alert="Has Space")], "not a valid metric or alert name"),
        ([{"record": "job:up:sum", "expr": "sum(up)", "for": "1m"}], "for and annotations belong to alerts"),
        ([{"alert": "A", "record": "b", "expr": "vector(1)"}], "exactly one of alert or record"),
        ([], "needs at least one rule"),
    ],
)
def test_bad_rules_fail_before_anything_is_written(run, rule_file, rules, words):
    result = run({"path": str(rule_file), "name": "g", "rules": rules})
    assert result["failed"] is True
    assert words in result["msg"]
    assert not rule_file.exists()


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ("groups: [", "is not valid YAML"),
        ("- just a list\n", "is not a Prometheus rule file"),
        ("groups:\n- name: a\n  rules: []\n- name: a\n  rules: []\n", "appears twice"),
        ("groups:\n- name: a\n  rules:\n  - alert: A\n    expr: up\n    for: often\n", "not a Prometheus duration"),
    ],
)
def test_a_broken_existing_file_fails_and_stays(run, rule_file, content, words):
    rule_file.write_text(content)
    result = run({"path": str(rule_file), "name": "g", "rules": [SCALE_OUT]})
    assert result["failed"] is True
    assert words in result["msg"]
    assert "left untouched" in result["msg"]
    assert rule_file.read_text() == content


def test_a_missing_directory_is_named(run, tmp_path):
    result = run({"path": str(tmp_path / "nope" / "r.yml"), "name": "g", "rules": [SCALE_OUT]})
    assert result["failed"] is True
    assert f"directory {tmp_path / 'nope'} does not exist" in result["msg"]


def test_mode_is_applied_and_backup_kept(run, rule_file):
    run({"path": str(rule_file), "name": "g", "rules": [SCALE_OUT], "mode": "0640"})
    assert oct(rule_file.stat().st_mode & 0o777) == "0o640"
    changed = run({"path": str(rule_file), "name": "g", "rules": [OPERATOR_GROUP["rules"][0]], "backup": True})
    assert changed["backup_file"].startswith(str(rule_file))
    assert "VmAutoscaleScaleOut" in Path(changed["backup_file"]).read_text()


def test_durations_compare_by_value():
    assert _prometheus.duration_ms("x", "1h30m") == _prometheus.duration_ms("x", "90m") == 5_400_000
    assert _prometheus.duration_ms("x", "500ms") == 500
    with pytest.raises(_prometheus.RuleFileError):
        _prometheus.duration_ms("x", "")
    with pytest.raises(_prometheus.RuleFileError):
        _prometheus.duration_ms("x", "1.5m")
