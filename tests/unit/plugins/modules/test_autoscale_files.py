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
    (diff,) = result["diff"]
    assert diff["before_header"] == str(tmp_path / "vm_autoscale-gone.yml")
    assert diff["before"] == GOOD_RULES and diff["after"] == ""
    assert diff["after_header"].endswith("(removed)")
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


def test_a_missing_folder_of_directories_is_made_and_check_mode_predicts_it(run, tmp_path):
    secrets = tmp_path / "secrets"
    args = {
        "directories": [{"path": str(secrets), "mode": "0700"}],
        "files": [{"path": str(secrets / "t.token"), "content": "s3cret", "mode": "0600", "diff": False}],
    }
    checked = run(args, check_mode=True, diff=True)
    assert checked["changed"] is True and "failed" not in checked
    assert checked["created_directories"] == [str(secrets)]
    assert checked["written"] == [str(secrets / "t.token")]
    assert not secrets.exists()
    assert "s3cret" not in str(checked["diff"])
    made = run(args)
    assert made["created_directories"] == [str(secrets)]
    assert oct(os.stat(secrets).st_mode & 0o777) == "0o700"
    assert (secrets / "t.token").read_text() == "s3cret"
    again = run(args, check_mode=True)
    assert again["changed"] is False and again["created_directories"] == []
    # a folder whose parent is missing is refused, naming it, before anything is written
    deep = run({"directories": [{"path": str(tmp_path / "a" / "b")}]})
    assert deep["failed"] is True and f"its parent {tmp_path / 'a'} does not exist" in deep["msg"]
    (tmp_path / "plain").write_text("")
    blocked = run({"directories": [{"path": str(tmp_path / "plain")}]})
    assert blocked["failed"] is True and "is not a folder" in blocked["msg"]


def test_the_diff_shows_each_changed_content_and_hides_secrets(run, tmp_path):
    (tmp_path / "r.yml").write_text(GOOD_RULES)
    (tmp_path / "t.token").write_text("old-secret")
    (tmp_path / "webhook-gone.token").write_text("gone-secret")
    changed_rules = GOOD_RULES.replace("vector(1) > 0", "vector(1) > 60")
    args = {
        "files": [
            {"path": str(tmp_path / "r.yml"), "content": changed_rules},
            {"path": str(tmp_path / "t.token"), "content": "new-secret", "diff": False},
            {"path": str(tmp_path / "same.json"), "content": "[]\n"},
        ],
        "prune": [{"directory": str(tmp_path), "pattern": "webhook-*.token", "keep": [], "diff": False}],
    }
    (tmp_path / "same.json").write_text("[]\n")
    os.chmod(tmp_path / "same.json", 0o644)
    result = run(args, check_mode=True, diff=True)
    by_file = {diff["before_header"]: diff for diff in result["diff"]}
    assert by_file[str(tmp_path / "r.yml")]["before"] == GOOD_RULES
    assert by_file[str(tmp_path / "r.yml")]["after"] == changed_rules
    assert str(tmp_path / "same.json") not in by_file
    for secret in ("old-secret", "new-secret", "gone-secret"):
        assert secret not in str(result["diff"])
    assert by_file[str(tmp_path / "t.token")]["after"] == "(other content, not shown: a secret)\n"
    # the diff of a real run is read before writing: 'before' is the old content
    written = run(args, diff=True)
    assert {diff["before_header"]: diff for diff in written["diff"]}[str(tmp_path / "r.yml")]["before"] == GOOD_RULES
    assert (tmp_path / "r.yml").read_text() == changed_rules


def test_a_diff_of_many_files_names_the_rest(run, tmp_path):
    files = [{"path": str(tmp_path / f"f{index:03}.json"), "content": f"[{index}]\n"} for index in range(30)]
    result = run({"files": files}, check_mode=True, diff=True)
    assert len(result["diff"]) == autoscale_files.MAX_CONTENT_DIFFS + 1
    assert result["diff"][0]["before_header"].endswith("f000.json (new)")
    assert result["diff"][-1]["before_header"] == "5 more files (content not shown)"
    assert result["diff"][-1]["after"].splitlines() == [f["path"] for f in files[25:]]


@pytest.mark.parametrize(
    ("files", "words"),
    [
        ([{"path": "relative.json", "content": ""}], "must be absolute"),
        ([{"path": "/nonexistent-dir/x.json", "content": ""}], "directory /nonexistent-dir does not exist"),
        ([{"path": "/tmp/x.json", "content": "", "mode": "rw"}], "mode 'rw' is not an octal string"),
        ([{"path": "/tmp/x.json", "content": ""}, {"path": "/tmp/x.json", "content": ""}], "is given twice"),
    ],
)
def test_bad_input_fails_clearly(run, files, words):
    result = run({"files": files})
    assert result["failed"] is True
    assert words in result["msg"]
