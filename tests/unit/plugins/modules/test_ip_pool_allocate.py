"""ip_pool_allocate driven through main(), as Ansible runs it (probes faked, files real)."""

import functools
import json
from typing import ClassVar

import pytest
from ansible_collections.danacloud.vm_autoscale.plugins.module_utils import _ipam_probe
from ansible_collections.danacloud.vm_autoscale.plugins.modules import ip_pool_allocate


class SilentProber(_ipam_probe.Prober):
    """Every address is clean except those in ANSWERING."""

    ANSWERING: ClassVar[set] = set()

    def first_clean(self, candidates):
        results = []
        clean = None
        for ip in candidates:
            if ip in self.ANSWERING:
                results.append({"ip": ip, "result": "conflict", "seen_by": "icmp"})
            elif clean is None:
                clean = ip
                results.append({"ip": ip, "result": "clean"})
        return _ipam_probe.ProbeOutcome(clean=clean, results=results)


@pytest.fixture(autouse=True)
def fake_probes(monkeypatch):
    SilentProber.ANSWERING = set()
    monkeypatch.setattr(ip_pool_allocate._ipam_probe, "Prober", SilentProber)


@pytest.fixture
def base(tmp_path):
    return {
        "service": "acme-web",
        "owner": "acme-web-auto-1",
        "subnet": "198.18.1.0/24",
        "gateway": "198.18.1.1",
        "start": "198.18.1.100",
        "end": "198.18.1.119",
        "exclude": ["198.18.1.10", "198.18.1.100"],
        "lease_dir": str(tmp_path / "ipam"),
        "requested_by": "unit test",
    }


@pytest.fixture
def run(run_module):
    """The module's result for ``args`` (see conftest.run_module)."""
    return functools.partial(run_module, ip_pool_allocate.main)


def lease_file(base):
    return f"{base['lease_dir']}/acme-web.json"


def test_present_returns_the_address_and_the_network(run, base):
    result = run(base)
    assert result["changed"] is True
    assert result["ip"] == "198.18.1.101"  # .100 is excluded
    assert result["prefix"] == 24
    assert result["netmask"] == "255.255.255.0"
    assert result["gateway"] == "198.18.1.1"
    assert result["lease"]["state"] == "reserved"
    assert result["lease_file"] == lease_file(base)
    with open(lease_file(base)) as handle:
        on_disk = json.load(handle)["leases"]
    assert on_disk["198.18.1.101"]["owner"] == "acme-web-auto-1"
    assert on_disk["198.18.1.101"]["requested_by"] == "unit test"

    again = run(base)
    assert again["changed"] is False
    assert again["ip"] == "198.18.1.101"


def test_check_mode_predicts_and_writes_nothing(run, base, tmp_path):
    result = run(base, check_mode=True)
    assert result["changed"] is True
    assert result["ip"] == "198.18.1.101"
    assert not (tmp_path / "ipam").exists()

    run(base)
    with open(lease_file(base)) as handle:
        before = handle.read()
    confirm = run(dict(base, confirm=True), check_mode=True)
    assert confirm["changed"] is True
    assert confirm["lease"]["state"] == "in_use"
    released = run(dict(base, state="absent"), check_mode=True)
    assert released["changed"] is True
    with open(lease_file(base)) as handle:
        assert handle.read() == before


def test_diff_shows_the_lease_record_before_and_after(run, base):
    created = run(base, diff=True)
    assert created["diff"]["before"] == {}
    assert created["diff"]["after"]["ip"] == "198.18.1.101"
    assert created["diff"]["after_header"] == f"{lease_file(base)} (acme-web-auto-1)"
    confirmed = run(dict(base, confirm=True), diff=True)
    assert confirmed["diff"]["before"]["state"] == "reserved"
    assert confirmed["diff"]["after"]["state"] == "in_use"
    released = run(dict(base, state="absent"), diff=True)
    assert released["diff"]["before"]["ip"] == "198.18.1.101"
    assert released["diff"]["after"] == {}


def test_conflicts_are_reported_in_probes(run, base):
    SilentProber.ANSWERING = {"198.18.1.101", "198.18.1.102"}
    result = run(base)
    assert result["ip"] == "198.18.1.103"
    assert [probe["result"] for probe in result["probes"]][:2] == ["conflict", "conflict"]
    query = run(dict(base, state="query"))
    assert [entry["ip"] for entry in query["conflicts"]] == ["198.18.1.101", "198.18.1.102"]
    assert query["counts"] == {
        "total": 20,
        "excluded": 1,
        "leased": 1,
        "in_use": 0,
        "reserved": 1,
        "conflict": 2,
        "probing": 0,
        "free": 16,
        "outside_pool": 0,
    }
    assert query["ip"] == "198.18.1.103"


def test_ranges_name_their_fields_in_errors(run, base):
    args = dict(
        base,
        ranges=[{"start": "198.18.1.100", "end": "198.18.1.119"}, {"start": "198.18.1.110", "end": "198.18.1.130"}],
    )
    del args["start"], args["end"]
    result = run(args)
    assert result["failed"] is True
    assert result["field"] == "ranges[1].start"
    assert "invalid pool definition, ranges[1].start: range 198.18.1.110-198.18.1.130 overlaps" in result["msg"]
    assert "nothing was changed" in result["msg"]


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"subnet": "198.18.1.0/33"}, "subnet: '198.18.1.0/33' is not a CIDR block"),
        ({"gateway": "198.18.1.105"}, "gateway: 198.18.1.105 is inside the pool range"),
        ({"start": "198.18.1.120"}, "start: 198.18.1.120 is after end 198.18.1.119"),
        ({"exclude": ["198.18.9.9"]}, "exclude[0]: 198.18.9.9 is not inside the subnet"),
        ({"reservation_ttl": -1}, "invalid reservation_ttl: -1 is below the minimum 0"),
        ({"probe": {"concurrency": 0}}, "invalid probe.concurrency"),
        ({"probe": {"tcp_ports": [70000]}}, "70000 is not a TCP port"),
        ({"pool_name": "../x"}, "invalid pool_name: '../x' is not a valid pool name"),
        ({"ip": "a.b.c.d"}, "invalid ip: 'a.b.c.d' is not an IPv4 address"),
        ({"start": None, "end": None}, "give start and end, or ranges"),
        ({"subnet": None}, "subnet is required with state=present"),
    ],
)
def test_bad_input_fails_clearly_and_writes_nothing(run, base, tmp_path, change, words):
    result = run({**base, **change})
    assert result["failed"] is True
    assert words in result["msg"]
    assert not (tmp_path / "ipam").exists()


def test_a_corrupted_lease_file_fails_with_its_path_and_stays(run, base, tmp_path):
    (tmp_path / "ipam").mkdir()
    (tmp_path / "ipam" / "acme-web.json").write_text('{"schema": "danacloud.vm_autoscale.ipam", "version": 1,')
    result = run(base)
    assert result["failed"] is True
    assert result["msg"].startswith("Failed to allocate an address for acme-web-auto-1 in pool acme-web: lease file ")
    assert f"{tmp_path}/ipam/acme-web.json is not valid JSON" in result["msg"]
    assert (tmp_path / "ipam" / "acme-web.json").read_text().endswith('"version": 1,')


def test_exhaustion_fails_with_counts(run, base):
    SilentProber.ANSWERING = {f"198.18.1.{n}" for n in range(100, 120)}
    result = run(dict(base, probe={"concurrency": 20}))
    assert result["failed"] is True
    assert "of 20 addresses, 0 are leased (0 in use, 0 reserved), 1 excluded, 19 in conflict" in result["msg"]


def test_expired_reservations_are_freed_with_a_warning(run, base):
    run(dict(base, owner="crashed"))
    with open(lease_file(base)) as handle:
        document = json.load(handle)
    document["leases"]["198.18.1.101"]["expires_at"] = "2020-01-01T00:00:00Z"
    with open(lease_file(base), "w") as handle:
        json.dump(document, handle)
    result = run(base)
    assert result["ip"] == "198.18.1.101"
    assert [lease["owner"] for lease in result["expired"]] == ["crashed"]
    warnings = [json.dumps(warning) for warning in result["warnings"]]  # 2.19 wraps them in event records
    assert any("crashed (service acme-web) was never confirmed" in warning for warning in warnings)


def test_a_reservation_without_a_ttl_never_expires_and_is_released_by_name(run, base):
    run(dict(base, owner="slow-clone", reservation_ttl=0))
    with open(lease_file(base)) as handle:
        assert json.load(handle)["leases"]["198.18.1.101"]["expires_at"] is None
    later = run(dict(base, owner="next-vm"))  # reads and expires: the reservation stays
    assert later["ip"] != "198.18.1.101" and later["expired"] == []
    released = run({"state": "absent", "service": "acme-web", "owner": "slow-clone", "lease_dir": base["lease_dir"]})
    assert released["changed"]
    with open(lease_file(base)) as handle:
        assert "198.18.1.101" not in json.load(handle)["leases"]


def test_absent_without_a_lease_is_ok(run, base):
    result = run({"state": "absent", "service": "acme-web", "owner": "nobody", "lease_dir": base["lease_dir"]})
    assert result["changed"] is False
    assert not result.get("failed")


def test_ping_missing_on_the_state_host_is_named(run, base, monkeypatch):
    monkeypatch.setattr(ip_pool_allocate.AnsibleModule, "get_bin_path", lambda self, name, *a, **k: None)
    result = run(base)
    assert result["failed"] is True
    assert "ping is not installed on the state host" in result["msg"]
