"""_files.read_json / write_json: the one reader and writer of the collection's JSON documents
(leases, service state, Prometheus targets), each store wording the errors for its own file."""

import json
import os

import pytest
from ansible_collections.danacloud.vm_autoscale.plugins.module_utils import _files, _ipam_errors, _ipam_leases, _state


def test_a_missing_or_blank_document_is_the_callers_empty_one(tmp_path):
    path = str(tmp_path / "doc.json")
    assert _files.read_json(path, dict) == {}
    (tmp_path / "doc.json").write_text("  \n")
    assert _files.read_json(path, list, blank_is_missing=True) == []
    with pytest.raises(_files.DocumentError) as blank:
        _files.read_json(path, list)  # a blank state or lease file is damage, not absence
    assert blank.value.kind == "not_json"


def test_text_that_is_not_json_and_a_file_that_cannot_be_read_are_told_apart(tmp_path):
    (tmp_path / "doc.json").write_text('{"a": ')
    with pytest.raises(_files.DocumentError) as broken:
        _files.read_json(str(tmp_path / "doc.json"), dict)
    assert broken.value.kind == "not_json" and (tmp_path / "doc.json").read_text() == '{"a": '
    (tmp_path / "folder.json").mkdir()
    with pytest.raises(_files.DocumentError) as unreadable:
        _files.read_json(str(tmp_path / "folder.json"), dict)
    assert unreadable.value.kind == "unreadable" and "directory" in unreadable.value.detail


def test_write_json_replaces_the_file_keeping_its_mode(tmp_path):
    path = str(tmp_path / "doc.json")
    _files.write_json(path, {"b": 1, "a": [2]}, 0o640)
    assert os.stat(path).st_mode & 0o777 == 0o640
    assert (tmp_path / "doc.json").read_text() == '{\n  "a": [\n    2\n  ],\n  "b": 1\n}\n'
    os.chmod(path, 0o600)
    _files.write_json(path, {"b": 2, "a": 1}, 0o644, sort_keys=False)
    assert os.stat(path).st_mode & 0o777 == 0o600 and json.loads((tmp_path / "doc.json").read_text()) == {
        "b": 2,
        "a": 1,
    }
    assert list(json.loads((tmp_path / "doc.json").read_text())) == ["b", "a"]
    assert [name for name in os.listdir(tmp_path) if name.endswith(".tmp")] == []


def test_each_store_words_a_broken_document_for_its_own_file(tmp_path):
    (tmp_path / "services").mkdir()
    (tmp_path / "services" / "acme-web.json").write_text("{")
    with pytest.raises(_state.StateError, match=r"the state file .*acme-web.json is not valid JSON .* left untouched"):
        _state.ServiceState(str(tmp_path), "acme-web").read()
    (tmp_path / "acme-web.json").write_text("[")
    with pytest.raises(
        _ipam_errors.LeaseFileError, match=r"lease file .*acme-web.json is not valid JSON .*acme-web.json.bak"
    ):
        _ipam_leases.LeaseStore(str(tmp_path), "acme-web").read()
