"""autoscale_files driven through main(): many files in one call, checked by promtool, pruned."""

import functools
import os

import pytest
from ansible_collections.danacloud.vm_autoscale.plugins.modules import autoscale_files

GOOD_RULES = "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: vector(1) > 0\n"
BAD_RULES = "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: rate(x[1m]\n"


@pytest.fixture
def run(run_module):
    """The module's result for ``args`` (see conftest.run_module)."""
    return functools.partial(run_module, autoscale_files.main)


def test_writes_then_reports_unchanged(run, tmp_path):
    files = [
        {"path": str(tmp_path / "a.json"), "content": "[]\n"},
        {"path": str(tmp_path / "r.yml"), "content": GOOD_RULES, "check": "rules"},
        {"path": str(tmp_path / "t.token"), "content": "secret", "mode": "0600"},
    ]
    first = run({"files": files})
    assert first["changed"] is True
    assert sorted(first["written"]) == sorted(f["path"] for f in files)
    assert (tmp_path / "r.yml").read_text() == GOOD_RULES
    assert oct(os.stat(tmp_path / "t.token").st_mode & 0o777) == "0o600"
    again = run({"files": files})
    assert again["changed"] is False
    assert again["unchanged"] == 3


def test_force_false_only_creates(run, tmp_path):
    (tmp_path / "state.prom").write_text("owned by the scale actions\n")
    result = run({"files": [{"path": str(tmp_path / "state.prom"), "content": "initial\n", "force": False}]})
    assert result["changed"] is False
    assert (tmp_path / "state.prom").read_text() == "owned by the scale actions\n"


def test_a_rule_file_promtool_refuses_writes_nothing_at_all(run, tmp_path):
    files = [
        {"path": str(tmp_path / "a.json"), "content": "[]\n"},
        {"path": str(tmp_path / "bad.yml"), "content": BAD_RULES, "check": "rules"},
    ]
    result = run({"files": files})
    assert result["failed"] is True
    assert "promtool check rules refused them" in result["msg"]
    assert str(tmp_path / "bad.yml") in result["msg"]
    assert "unclosed left parenthesis" in result["msg"]
    assert sorted(os.listdir(tmp_path)) == []


def test_prune_removes_only_owned_files_not_kept(run, tmp_path):
    for name in ("vm_autoscale-a.yml", "vm_autoscale-gone.yml", "operators.yml"):
        (tmp_path / name).write_text(GOOD_RULES)
    prune = [{"directory": str(tmp_path), "pattern": "vm_autoscale-*.yml", "keep": ["vm_autoscale-a.yml"]}]
    result = run({"prune": prune}, diff=True)
    assert result["removed"] == [str(tmp_path / "vm_autoscale-gone.yml")]
    assert sorted(os.listdir(tmp_path)) == ["operators.yml", "vm_autoscale-a.yml"]
    assert "vm_autoscale-gone.yml" in result["diff"]["before"]
    missing = [{"directory": str(tmp_path / "nope"), "pattern": "*", "keep": []}]
    assert run({"prune": missing})["changed"] is False


def test_check_mode_predicts_and_writes_nothing(run, tmp_path):
    (tmp_path / "old.yml").write_text(GOOD_RULES)
    args = {
        "files": [{"path": str(tmp_path / "new.json"), "content": "[]\n"}],
        "prune": [{"directory": str(tmp_path), "pattern": "*.yml", "keep": []}],
    }
    result = run(args, check_mode=True)
    assert result["changed"] is True
    assert result["written"] == [str(tmp_path / "new.json")]
    assert result["removed"] == [str(tmp_path / "old.yml")]
    assert sorted(os.listdir(tmp_path)) == ["old.yml"]


@pytest.mark.parametrize(
    ("files", "words"),
    [
        ([{"path": "relative.json", "content": ""}], "must be absolute"),
        ([{"path": "/nonexistent-dir/x.json", "content": ""}], "directory /nonexistent-dir does not exist"),
        ([{"path": "/tmp/x.json", "content": "", "mode": "rw"}], "Invalid mode 'rw'"),
        ([{"path": "/tmp/x.json", "content": ""}, {"path": "/tmp/x.json", "content": ""}], "is given twice"),
    ],
)
def test_bad_input_fails_clearly(run, files, words):
    result = run({"files": files})
    assert result["failed"] is True
    assert words in result["msg"]
