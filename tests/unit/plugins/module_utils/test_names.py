"""The one rule for a service's name (_names), and every place that asks it gives the same answer
(the filter autoscale_invalid_services: tests/unit/test_filter_imports.py, in a process of its own)."""

import pytest
from ansible_collections.danacloud.vm_autoscale.plugins.module_utils import _names, _request, _state

VALID = ["a", "a1", "acme-web", "0-9", "x" * 40, "a" + "-" * 38 + "b"]
INVALID = [
    "",
    "-a",
    "a-",
    "Acme",
    "acme_web",
    "acme.web",
    "x" * 41,
    "acme\n",
    "acme web",
    "ä",
    "../etc",
    None,
    7,
    ["a"],
]


@pytest.mark.parametrize("name", VALID)
def test_a_valid_name_passes_everywhere(name, tmp_path):
    assert _names.is_service(name)
    _state.ServiceState(str(tmp_path), name)  # does not raise
    assert "not a valid service name" not in _request.request({}, name)["reason"]


@pytest.mark.parametrize("name", INVALID, ids=repr)
def test_an_invalid_name_fails_everywhere(name, tmp_path):
    assert not _names.is_service(name)
    with pytest.raises(_state.StateError, match="not a valid service name"):
        _state.ServiceState(str(tmp_path), name)
    assert "is not a valid service name" in _request.request({}, name)["reason"]
