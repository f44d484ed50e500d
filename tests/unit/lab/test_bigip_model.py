"""BIG-IP semantics of the F5 emulator's model (emulator-spec.md 1.7), without the network."""

import json

import pytest
from labctl.bigip.model import Device, F5Error, normalise_monitor_rule, split_member_name


@pytest.fixture
def device(tmp_path):
    box = Device("bigip-a", "17.1.2", tmp_path / "bigip-a.json")
    box.create_pool({"name": "web", "partition": "Common"})
    return box


def test_member_names_and_monitor_rules():
    assert split_member_name("app1:80") == ("app1", 80)
    assert split_member_name("2001:db8::1.80") == ("2001:db8::1", 80)
    assert normalise_monitor_rule("min 1 of /Common/http  /Common/tcp") == "min 1 of { /Common/http /Common/tcp }"


def test_member_create_makes_the_node_and_reads_back_realistic_states(device):
    view = device.create_member("/Common/web", {"name": "app1:80", "address": "198.18.1.5", "session": "user-enabled"})
    assert (view["state"], view["session"]) == ("unchecked", "user-enabled")
    assert device.node_view("/Common/app1")["address"] == "198.18.1.5"
    forced = device.update_member("/Common/web", "/Common/app1:80", {"session": "user-disabled", "state": "user-down"})
    assert (forced["state"], forced["session"]) == ("user-down", "user-disabled")
    with pytest.raises(F5Error, match='invalid property value "state":"up"') as error:
        device.update_member("/Common/web", "/Common/app1:80", {"state": "up"})
    assert error.value.status == 400


def test_uniqueness_and_references(device):
    device.create_member("/Common/web", {"name": "app1:80", "address": "198.18.1.5"})
    with pytest.raises(F5Error, match="01020066") as duplicate:
        device.create_member("/Common/web", {"name": "app1:80", "address": "198.18.1.5"})
    assert duplicate.value.status == 409
    with pytest.raises(F5Error, match="0107003a"):
        device.create_member("/Common/web", {"name": "other:81", "address": "198.18.1.5"})
    with pytest.raises(F5Error, match="01070110"):
        device.delete_node("/Common/app1")
    device.delete_pool("/Common/web")
    assert device.node_view("/Common/app1")  # deleting a pool keeps its nodes
    device.delete_node("/Common/app1")


def test_not_found_bodies_name_the_object(device):
    with pytest.raises(F5Error) as missing:
        device.get_member("/Common/web", "/Common/10.0.0.1:80")
    assert missing.value.body["message"] == (
        "01020036:3: The requested Pool Member (/Common/web /Common/10.0.0.1 80) was not found."
    )


def test_configuration_is_persisted(device, tmp_path):
    device.create_member("/Common/web", {"name": "app1:80", "address": "198.18.1.5"})
    again = Device("bigip-a", "17.1.2", tmp_path / "bigip-a.json")
    assert "/Common/app1:80" in again.config["members"]["/Common/web"]


@pytest.mark.parametrize(
    ("kind", "body"),
    [
        ("pool", {"loadBalancingMode": "fastest"}),
        ("pool", {"slowRampTime": "soon"}),
        ("pool", {"minActiveMembers": -1}),
        ("pool", {"allowSnat": True}),
        ("member", {"ratio": -1}),
        ("member", {"ratio": 0}),
        ("member", {"priorityGroup": 65536}),
        ("member", {"connectionLimit": "five"}),
        ("member", {"rateLimit": "fast"}),
        ("node", {"dynamicRatio": 0}),
        ("node", {"logging": "on"}),
    ],
)
def test_bad_values_are_refused_and_nothing_is_stored(device, kind, body):
    device.create_member("/Common/web", {"name": "app1:80", "address": "198.18.1.5"})
    before = json.dumps(device.config, sort_keys=True)
    write = {
        "pool": lambda: device.update_pool("/Common/web", body),
        "member": lambda: device.update_member("/Common/web", "/Common/app1:80", body),
        "node": lambda: device.update_node("/Common/app1", body),
    }[kind]
    with pytest.raises(F5Error, match="invalid property value") as refused:
        write()
    assert refused.value.status == 400
    assert json.dumps(device.config, sort_keys=True) == before
    with pytest.raises(F5Error, match="invalid property value"):
        if kind == "pool":
            device.create_pool({"name": "other", **body})
        elif kind == "member":
            device.create_member("/Common/web", {"name": "app2:80", "address": "198.18.1.6", **body})
        else:
            device.create_node({"name": "n3", "address": "198.18.1.7", **body})
    assert json.dumps(device.config, sort_keys=True) == before


def test_numbers_sent_as_strings_are_read_back_as_numbers(device):
    view = device.create_member("/Common/web", {"name": "app1:80", "address": "198.18.1.5", "connectionLimit": "5"})
    assert view["connectionLimit"] == 5
    assert device.update_pool("/Common/web", {"slowRampTime": "30"})["slowRampTime"] == 30
    assert device.update_member("/Common/web", "/Common/app1:80", {"rateLimit": "disabled"})["rateLimit"] == "disabled"
