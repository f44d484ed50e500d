"""autoscale_target: one autoscaled VM's entry in a service's file_sd file."""

import json

from ansible_collections.danacloud.vm_autoscale.plugins.modules import autoscale_target

STATIC = {"targets": ["198.18.1.11:9100"], "labels": {"service": "acme-web"}}


def run(run_module, path, **args):
    return run_module(autoscale_target.main, {"path": str(path), **args})


def test_add_change_and_remove_one_vm_keeping_the_rest(run_module, tmp_path):
    path = tmp_path / "vm_autoscale-acme-web-auto.json"
    path.write_text(json.dumps([STATIC]))
    added = run(run_module, path, vm="acme-web-auto-0001", target="198.18.1.100:9100", labels={"service": "acme-web"})
    entry = {"targets": ["198.18.1.100:9100"], "labels": {"service": "acme-web", "vm": "acme-web-auto-0001"}}
    assert added["changed"] and json.loads(path.read_text()) == [STATIC, entry]
    again = run(run_module, path, vm="acme-web-auto-0001", target="198.18.1.100:9100", labels={"service": "acme-web"})
    assert not again["changed"]
    moved = run(run_module, path, vm="acme-web-auto-0001", target="198.18.1.101:9100", labels={"service": "acme-web"})
    assert moved["changed"] and json.loads(path.read_text())[1]["targets"] == ["198.18.1.101:9100"]
    removed = run(run_module, path, vm="acme-web-auto-0001", state="absent")
    assert removed["changed"] and json.loads(path.read_text()) == [STATIC]
    assert not run(run_module, path, vm="acme-web-auto-0001", state="absent")["changed"]
    assert oct(path.stat().st_mode & 0o777) == "0o644"
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_a_missing_file_is_made_and_check_mode_writes_nothing(run_module, tmp_path):
    path = tmp_path / "t.json"
    check = run_module(autoscale_target.main, {"path": str(path), "vm": "v1", "target": "198.18.1.100:9100"},
                       check_mode=True, diff=True)  # fmt: skip
    assert check["changed"] and not path.exists() and '"vm": "v1"' in check["diff"]["after"]
    assert run(run_module, path, vm="v1", target="198.18.1.100:9100")["changed"] and path.exists()


def test_bad_input_is_refused_and_changes_nothing(run_module, tmp_path):
    missing = run(run_module, tmp_path / "nowhere" / "t.json", vm="v1", target="198.18.1.100:9100")
    assert missing["failed"] and "the targets directory" in missing["msg"] and "does not exist" in missing["msg"]
    gone = run(run_module, tmp_path / "nowhere" / "t.json", vm="v1", state="absent")  # nothing there to remove
    assert not gone.get("failed") and not gone["changed"] and not (tmp_path / "nowhere").exists()
    path = tmp_path / "t.json"
    path.write_text("{not json")
    broken = run(run_module, path, vm="v1", target="198.18.1.100:9100")
    assert broken["failed"] and "it is not a file_sd file" in broken["msg"]
    assert path.read_text() == "{not json"
    path.write_text("[]")
    bad = run(run_module, path, vm="v1", target="198.18.1.100")
    assert bad["failed"] and "expected <address>:<port>" in bad["msg"] and path.read_text() == "[]"


def test_the_whole_file_at_once_under_the_same_lock(run_module, tmp_path):
    path = tmp_path / "vm_autoscale-acme-web-auto.json"
    old = {"targets": ["198.18.1.100:9100"], "labels": {"service": "acme-web", "vm": "acme-web-auto-0001"}}
    path.write_text(json.dumps([old]))
    wanted = [{"targets": ["198.18.1.101:9100"], "labels": {"service": "acme-web", "vm": "acme-web-auto-0002"}}]
    check = run_module(autoscale_target.main, {"path": str(path), "entries": wanted}, check_mode=True)
    assert check["changed"] and json.loads(path.read_text()) == [old]
    made = run(run_module, path, entries=wanted)
    assert made["changed"] and json.loads(path.read_text()) == wanted and made["targets"] == wanted
    assert not run(run_module, path, entries=wanted)["changed"]
    assert run(run_module, path, entries=[])["changed"] and json.loads(path.read_text()) == []
    assert {p.name for p in tmp_path.iterdir()} == {".vm_autoscale-acme-web-auto.json.lock", path.name}


def test_entries_are_checked_and_exclude_one_vm_options(run_module, tmp_path):
    path = tmp_path / "t.json"
    bad = run(run_module, path, entries=[{"targets": "198.18.1.100:9100"}])
    assert bad["failed"] and "entries[0]" in bad["msg"] and not path.exists()
    both = run(run_module, path, entries=[], vm="v1")
    assert both["failed"] and "mutually exclusive" in both["msg"]
    no_target = run(run_module, path, vm="v1")
    assert (
        no_target["failed"]
        and "Failed to add the target of v1 in " in no_target["msg"]
        and ": give its target" in no_target["msg"]
        and not path.exists()
    )
