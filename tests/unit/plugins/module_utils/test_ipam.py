"""The IP allocator's core: pool arithmetic, lease transitions, expiry, the lease file, probes.

Probes are faked here (FakeProber answers for a chosen set of addresses); the real ping and
TCP probes run in tests/integration/test_ip_pool_allocate.py inside the lab namespace. The
real Prober is exercised against a stand-in ``ping`` program and local TCP ports.
"""

import json
import os
import re
import socket
import stat
import sys
import textwrap

import pytest
from ansible_collections.danacloud.vm_autoscale.plugins.module_utils import (
    _ipam,
    _ipam_errors,
    _ipam_leases,
    _ipam_pool,
    _ipam_probe,
)

NOW = 1_800_000_000.0  # 2027-01-15T08:00:00Z


def pool(**overrides):
    args = {
        "subnet": "198.18.1.0/24",
        "ranges": [_ipam_pool.RangeSpec("198.18.1.100", "198.18.1.119")],
        "gateway": "198.18.1.1",
        "exclude": [],
    }
    args.update(overrides)
    return _ipam_pool.Pool.parse(args["subnet"], args["ranges"], args["gateway"], args["exclude"])


class Clock:
    def __init__(self, now=NOW):
        self.now = now

    def __call__(self):
        return self.now


class FakeProber:
    """Answers for ``answering`` addresses, silent for the others; records what it probed."""

    def __init__(self, answering=(), concurrency=8, conflict_hold=3600, error=None):
        self.answering = set(answering)
        self.settings = _ipam_probe.ProbeSettings(concurrency=concurrency, conflict_hold=conflict_hold)
        self.waves = []
        self.error = error

    @property
    def probed(self):
        return [ip for wave in self.waves for ip in wave]

    def first_clean(self, candidates):
        if self.error:
            raise _ipam_errors.ProbeError(self.error)
        self.waves.append(list(candidates))
        results = []
        clean = None
        for ip in candidates:
            if ip in self.answering:
                results.append({"ip": ip, "result": "conflict", "seen_by": "icmp"})
            elif clean is None:
                clean = ip
                results.append({"ip": ip, "result": "clean"})
            else:
                results.append({"ip": ip, "result": "cancelled"})
        return _ipam_probe.ProbeOutcome(clean=clean, results=results)


def allocator(tmp_path, the_pool=None, prober=None, clock=None, store=None):
    store = store or _ipam_leases.LeaseStore(str(tmp_path / "ipam"), "acme-web", lock_timeout=2)
    return _ipam.Allocator(
        store, the_pool or pool(), prober or FakeProber(), clock=clock or Clock(), sleep=lambda s: None, wait_timeout=0
    )


def request(owner="acme-web-auto-1", **kwargs):
    return _ipam.Request(owner=owner, service=kwargs.pop("service", "acme-web"), requested_by="test", **kwargs)


def lease_file(tmp_path):
    return tmp_path / "ipam" / "acme-web.json"


def read_leases(tmp_path):
    return json.loads(lease_file(tmp_path).read_text())["leases"]


# --- pool arithmetic --------------------------------------------------------------------


def test_candidates_follow_range_order_and_skip_exclusions_and_taken():
    the_pool = pool(
        ranges=[
            _ipam_pool.RangeSpec("198.18.1.200", "198.18.1.202"),
            _ipam_pool.RangeSpec("198.18.1.100", "198.18.1.103"),
        ],
        exclude=["198.18.1.101", "198.18.1.201-198.18.1.202"],
    )
    taken = {int(_ipam_pool.netaddr.IPAddress("198.18.1.102"))}
    assert list(the_pool.candidates(taken)) == ["198.18.1.100", "198.18.1.103", "198.18.1.200"]
    assert the_pool.size == 7
    assert len(the_pool.excluded) == 3
    assert the_pool.network_facts() == {"prefix": 24, "netmask": "255.255.255.0", "gateway": "198.18.1.1"}


def test_exclusions_outside_the_ranges_do_not_count_as_excluded():
    the_pool = pool(exclude=["198.18.1.10", "198.18.1.0/28"])  # VIP and a block, both outside the range
    assert the_pool.excluded == frozenset()


@pytest.mark.parametrize(
    ("overrides", "field", "words"),
    [
        ({"subnet": "not-a-cidr"}, "subnet", "not a CIDR block"),
        ({"subnet": "198.18.1.7/24"}, "subnet", "did you mean 198.18.1.0/24"),
        ({"subnet": "198.18.1.0"}, "subnet", "no prefix length"),
        ({"subnet": "2001:db8::/64"}, "subnet", "only IPv4"),
        ({"subnet": "198.18.1.0/31"}, "subnet", "too small"),
        ({"ranges": []}, "ranges", "no range"),
        ({"ranges": [_ipam_pool.RangeSpec("198.18.2.100", "198.18.1.119")]}, "start", "outside the subnet"),
        ({"ranges": [_ipam_pool.RangeSpec("198.18.1.100", "198.18.1.300")]}, "end", "not an IPv4 address"),
        ({"ranges": [_ipam_pool.RangeSpec("198.18.1.0", "198.18.1.10")]}, "start", "network address"),
        ({"ranges": [_ipam_pool.RangeSpec("198.18.1.200", "198.18.1.255")]}, "end", "broadcast address"),
        ({"ranges": [_ipam_pool.RangeSpec("198.18.1.119", "198.18.1.100")]}, "start", "after end"),
        (
            {
                "ranges": [
                    _ipam_pool.RangeSpec("198.18.1.100", "198.18.1.119", "ranges[0].start", "ranges[0].end"),
                    _ipam_pool.RangeSpec("198.18.1.110", "198.18.1.130", "ranges[1].start", "ranges[1].end"),
                ]
            },
            "ranges[1].start",
            "overlaps",
        ),
        ({"gateway": "198.18.1.105"}, "gateway", "inside the pool range"),
        ({"gateway": "198.18.9.1"}, "gateway", "outside the subnet"),
        ({"gateway": "gw"}, "gateway", "not an IPv4 address"),
        ({"exclude": ["198.18.1.10", "bogus"]}, "exclude[1]", "neither an address"),
        ({"exclude": ["198.18.7.10"]}, "exclude[0]", "not inside the subnet"),
        (
            {"subnet": "10.0.0.0/8", "ranges": [_ipam_pool.RangeSpec("10.0.0.1", "10.2.0.0")], "gateway": None},
            "ranges",
            "at most 65536",
        ),
    ],
)
def test_bad_pool_definitions_name_the_field(overrides, field, words):
    with pytest.raises(_ipam_errors.PoolDefinitionError) as raised:
        pool(**overrides)
    assert raised.value.field == field
    assert words in str(raised.value)


def test_bad_pool_name_is_refused_before_any_path_is_built(tmp_path):
    for name in ("../etc/passwd", "", ".hidden", "a/b", "x" * 64):
        with pytest.raises(_ipam_errors.PoolDefinitionError):
            _ipam_leases.LeaseStore(str(tmp_path), name)
    assert list(tmp_path.iterdir()) == []


# --- lease transitions ------------------------------------------------------------------


def test_present_reserves_the_first_clean_address_and_is_idempotent(tmp_path):
    clock = Clock()
    first = allocator(tmp_path, clock=clock).present(request())
    assert first.changed
    assert first.before is None
    assert first.after["ip"] == "198.18.1.100"
    on_disk = read_leases(tmp_path)["198.18.1.100"]
    assert on_disk["state"] == "reserved"
    assert on_disk["owner"] == "acme-web-auto-1"
    assert on_disk["service"] == "acme-web"
    assert on_disk["requested_by"] == "test"
    assert _ipam_leases.parse_time(on_disk["expires_at"]) == NOW + 1800
    before = lease_file(tmp_path).read_bytes()

    prober = FakeProber()
    again = allocator(tmp_path, prober=prober, clock=clock).present(request())
    assert not again.changed
    assert again.after == on_disk
    assert prober.waves == []  # an owner with a lease is never probed for
    assert lease_file(tmp_path).read_bytes() == before


def test_confirm_turns_a_reservation_into_a_lease_in_use_once(tmp_path):
    clock = Clock()
    allocator(tmp_path, clock=clock).present(request())
    clock.now += 60
    confirmed = allocator(tmp_path, clock=clock).present(request(confirm=True))
    assert confirmed.changed
    assert confirmed.before["state"] == "reserved"
    assert confirmed.after["state"] == "in_use"
    on_disk = read_leases(tmp_path)["198.18.1.100"]
    assert on_disk["state"] == "in_use"
    assert "expires_at" not in on_disk
    assert on_disk["updated_at"] != on_disk["created_at"]
    assert not allocator(tmp_path, clock=clock).present(request(confirm=True)).changed


def test_confirm_with_the_address_after_expiry_releases_it_or_fails(tmp_path):
    clock = Clock()
    allocator(tmp_path, clock=clock).present(request("slow", reservation_ttl=60))
    clock.now += 61  # the reservation expired while the VM was still booting; nobody took .100
    late = allocator(tmp_path, clock=clock).present(request("slow", ip="198.18.1.100", confirm=True))
    assert late.changed
    assert late.after["ip"] == "198.18.1.100"
    assert read_leases(tmp_path)["198.18.1.100"]["state"] == "in_use"

    allocator(tmp_path, clock=clock).present(request("slower", reservation_ttl=60))  # .101
    clock.now += 61
    allocator(tmp_path, clock=clock).present(request("quick"))  # takes the freed .101
    with pytest.raises(_ipam_errors.LeaseConflict, match=re.escape("198.18.1.101 is already leased to quick")):
        allocator(tmp_path, clock=clock).present(request("slower", ip="198.18.1.101", confirm=True))
    assert "slower" not in {lease["owner"] for lease in read_leases(tmp_path).values()}


def test_confirm_without_a_lease_leases_in_use_at_once(tmp_path):
    outcome = allocator(tmp_path).present(request(confirm=True))
    assert outcome.changed
    assert read_leases(tmp_path)["198.18.1.100"]["state"] == "in_use"


def test_each_owner_gets_its_own_address(tmp_path):
    ips = [allocator(tmp_path).present(request(f"vm-{n}")).after["ip"] for n in range(3)]
    assert ips == ["198.18.1.100", "198.18.1.101", "198.18.1.102"]
    assert len(read_leases(tmp_path)) == 3


def test_an_owner_of_another_service_is_refused_and_nothing_changes(tmp_path):
    allocator(tmp_path).present(request())
    before = lease_file(tmp_path).read_bytes()
    with pytest.raises(_ipam_errors.LeaseConflict, match="for service acme-web, not globex-api"):
        allocator(tmp_path).present(request(service="globex-api"))
    assert lease_file(tmp_path).read_bytes() == before


def test_absent_releases_and_a_second_release_is_ok(tmp_path):
    allocator(tmp_path).present(request())
    released = allocator(tmp_path).absent(request())
    assert released.changed
    assert released.before["ip"] == "198.18.1.100"
    assert read_leases(tmp_path) == {}
    again = allocator(tmp_path).absent(request())
    assert not again.changed
    assert again.before is None


def test_absent_by_ip_of_another_owner_releases_nothing(tmp_path):
    allocator(tmp_path).present(request("vm-a"))
    allocator(tmp_path).present(request("vm-b"))
    with pytest.raises(_ipam_errors.LeaseConflict, match="leased to vm-a, not vm-c"):
        allocator(tmp_path).absent(request("vm-c", ip="198.18.1.100"))
    with pytest.raises(_ipam_errors.LeaseConflict, match=re.escape("vm-b holds 198.18.1.101, not 198.18.1.100")):
        allocator(tmp_path).absent(request("vm-b", ip="198.18.1.100"))
    assert set(read_leases(tmp_path)) == {"198.18.1.100", "198.18.1.101"}


def test_absent_by_ip_clears_a_conflict_record(tmp_path):
    allocator(tmp_path, prober=FakeProber(answering={"198.18.1.100"})).present(request())
    assert "198.18.1.100" in json.loads(lease_file(tmp_path).read_text())["conflicts"]
    cleared = allocator(tmp_path).absent(_ipam.Request(ip="198.18.1.100"))
    assert cleared.changed
    assert json.loads(lease_file(tmp_path).read_text())["conflicts"] == {}


def test_explicit_ip_is_adopted_without_probes_and_must_be_free(tmp_path):
    prober = FakeProber(answering={"198.18.1.110"})
    adopted = allocator(tmp_path, prober=prober).present(request("vm-a", ip="198.18.1.110", confirm=True))
    assert adopted.after["ip"] == "198.18.1.110"
    assert prober.waves == []
    with pytest.raises(_ipam_errors.LeaseConflict, match="already leased to vm-a"):
        allocator(tmp_path).present(request("vm-b", ip="198.18.1.110"))
    with pytest.raises(_ipam_errors.PoolDefinitionError, match="not inside the pool"):
        allocator(tmp_path).present(request("vm-b", ip="198.18.1.10"))
    with pytest.raises(_ipam_errors.LeaseConflict, match=re.escape("already holds 198.18.1.110")):
        allocator(tmp_path).present(request("vm-a", ip="198.18.1.111"))


# --- expiry -----------------------------------------------------------------------------


def test_unconfirmed_reservations_expire_and_leases_in_use_never_do(tmp_path):
    clock = Clock()
    allocator(tmp_path, clock=clock).present(request("crashed", reservation_ttl=600))
    allocator(tmp_path, clock=clock).present(request("serving", confirm=True))
    clock.now += 599
    assert set(read_leases(tmp_path)) == {"198.18.1.100", "198.18.1.101"}
    assert allocator(tmp_path, clock=clock).present(request("next")).after["ip"] == "198.18.1.102"

    clock.now += 10 * 365 * 86400  # the in-use lease outlives anything
    outcome = allocator(tmp_path, clock=clock).present(request("later"))
    assert [lease["owner"] for lease in outcome.expired] == ["crashed", "next"]
    assert outcome.after["ip"] == "198.18.1.100"  # the crashed run's address is free again
    assert {lease["owner"] for lease in read_leases(tmp_path).values()} == {"serving", "later"}


def test_query_shows_expiry_without_writing(tmp_path):
    clock = Clock()
    allocator(tmp_path, clock=clock).present(request("crashed", reservation_ttl=60))
    before = lease_file(tmp_path).read_bytes()
    clock.now += 61
    found = allocator(tmp_path, clock=clock).query("crashed")
    assert [lease["owner"] for lease in found["expired"]] == ["crashed"]
    assert found["leases"] == []
    assert found["lease"] is None
    assert found["counts"]["free"] == 20
    assert lease_file(tmp_path).read_bytes() == before


# --- probes and conflicts ---------------------------------------------------------------


def test_answering_addresses_become_conflicts_and_leased_ones_are_never_probed(tmp_path):
    allocator(tmp_path).present(request("vm-a"))  # .100
    prober = FakeProber(answering={"198.18.1.101", "198.18.1.102"}, concurrency=4)
    outcome = allocator(tmp_path, prober=prober).present(request("vm-b"))
    assert outcome.after["ip"] == "198.18.1.103"
    assert prober.waves == [["198.18.1.101"], ["198.18.1.102", "198.18.1.103", "198.18.1.104", "198.18.1.105"]]
    assert "198.18.1.100" not in prober.probed
    conflicts = json.loads(lease_file(tmp_path).read_text())["conflicts"]
    assert set(conflicts) == {"198.18.1.101", "198.18.1.102"}
    assert conflicts["198.18.1.101"]["seen_by"] == "icmp"
    assert conflicts["198.18.1.101"]["first_seen"] == _ipam_leases.format_time(NOW)
    # the holds of the run are gone
    assert json.loads(lease_file(tmp_path).read_text())["probing"] == {}


def test_conflicts_are_skipped_while_held_and_probed_again_after(tmp_path):
    clock = Clock()
    first = allocator(tmp_path, prober=FakeProber(answering={"198.18.1.100"}), clock=clock)
    assert first.present(request("vm-a", confirm=True)).after["ip"] == "198.18.1.101"
    prober = FakeProber()
    clock.now += 3599
    assert allocator(tmp_path, prober=prober, clock=clock).present(request("vm-b")).after["ip"] == "198.18.1.102"
    assert "198.18.1.100" not in prober.probed

    clock.now += 2
    prober = FakeProber()  # the stray host is gone
    assert allocator(tmp_path, prober=prober, clock=clock).present(request("vm-c")).after["ip"] == "198.18.1.100"
    assert json.loads(lease_file(tmp_path).read_text())["conflicts"] == {}


def test_a_conflict_seen_again_keeps_its_first_time_and_counts(tmp_path):
    clock = Clock()
    answering = FakeProber(answering={"198.18.1.100"}, conflict_hold=0)
    allocator(tmp_path, prober=answering, clock=clock).present(request("vm-a"))
    clock.now += 100
    allocator(tmp_path, prober=FakeProber(answering={"198.18.1.100"}, conflict_hold=0), clock=clock).present(
        request("vm-b")
    )
    entry = json.loads(lease_file(tmp_path).read_text())["conflicts"]["198.18.1.100"]
    assert entry["times"] == 2
    assert entry["first_seen"] == _ipam_leases.format_time(NOW)
    assert entry["last_seen"] == _ipam_leases.format_time(NOW + 100)


def test_exhaustion_says_how_many_are_leased_excluded_and_in_conflict(tmp_path):
    small = pool(ranges=[_ipam_pool.RangeSpec("198.18.1.100", "198.18.1.105")], exclude=["198.18.1.105"])
    allocator(tmp_path, the_pool=small).present(request("vm-a"))
    allocator(tmp_path, the_pool=small).present(request("vm-b", confirm=True))
    prober = FakeProber(answering={"198.18.1.102", "198.18.1.103", "198.18.1.104"})
    with pytest.raises(_ipam_errors.PoolExhausted) as raised:
        allocator(tmp_path, the_pool=small, prober=prober).present(request("vm-c"))
    message = str(raised.value)
    assert "of 6 addresses, 2 are leased (1 in use, 1 reserved), 1 excluded, 3 in conflict" in message
    assert "vm-c" in message
    document = json.loads(lease_file(tmp_path).read_text())
    assert set(document["conflicts"]) == {"198.18.1.102", "198.18.1.103", "198.18.1.104"}  # kept for the operator
    assert document["probing"] == {}
    assert "vm-c" not in {lease["owner"] for lease in document["leases"].values()}


def test_addresses_held_by_another_run_are_skipped(tmp_path):
    store = _ipam_leases.LeaseStore(str(tmp_path / "ipam"), "acme-web")
    with store.locked() as document:
        document["probing"]["198.18.1.100"] = {
            "ip": "198.18.1.100",
            "owner": "other-run",
            "expires_at": _ipam_leases.format_time(NOW + 30),
        }
        store.write(document, NOW)
    prober = FakeProber()
    assert allocator(tmp_path, prober=prober).present(request()).after["ip"] == "198.18.1.101"
    assert "198.18.1.100" not in prober.probed
    assert "198.18.1.100" in json.loads(lease_file(tmp_path).read_text())["probing"]  # not ours to drop


def test_a_dead_runs_hold_expires(tmp_path):
    store = _ipam_leases.LeaseStore(str(tmp_path / "ipam"), "acme-web")
    with store.locked() as document:
        document["probing"]["198.18.1.100"] = {
            "ip": "198.18.1.100",
            "owner": "dead-run",
            "expires_at": _ipam_leases.format_time(NOW - 1),
        }
        store.write(document, NOW)
    assert allocator(tmp_path).present(request()).after["ip"] == "198.18.1.100"


def test_a_conflicting_late_lease_leaves_no_hold(tmp_path):
    """Another run leases the address this one probed clean, for the same owner but another service."""

    class RacingProber(FakeProber):
        def first_clean(self, candidates):
            outcome = super().first_clean(candidates)
            allocator(tmp_path).present(request(service="globex-api"))  # same owner, meanwhile
            return outcome

    with pytest.raises(_ipam_errors.LeaseConflict, match="not acme-web"):
        allocator(tmp_path, prober=RacingProber()).present(request())
    assert json.loads(lease_file(tmp_path).read_text())["probing"] == {}


def test_a_probe_that_cannot_run_fails_and_leaves_no_hold(tmp_path):
    prober = FakeProber(error="ping 198.18.1.100 failed (exit 2): connect: Network is unreachable")
    with pytest.raises(_ipam_errors.ProbeError, match="Network is unreachable"):
        allocator(tmp_path, prober=prober).present(request())
    document = json.loads(lease_file(tmp_path).read_text())
    assert document["probing"] == {}
    assert document["leases"] == {}


# --- check mode -------------------------------------------------------------------------


def test_dry_run_store_predicts_without_writing(tmp_path):
    allocator(tmp_path).present(request("vm-a"))
    before = lease_file(tmp_path).read_bytes()
    real = _ipam_leases.LeaseStore(str(tmp_path / "ipam"), "acme-web")
    outcome = allocator(tmp_path, store=_ipam_leases.DryRunStore(real)).present(request("vm-b"))
    assert outcome.changed
    assert outcome.after["ip"] == "198.18.1.101"
    assert lease_file(tmp_path).read_bytes() == before
    released = allocator(tmp_path, store=_ipam_leases.DryRunStore(real)).absent(request("vm-a"))
    assert released.changed
    assert lease_file(tmp_path).read_bytes() == before


def test_dry_run_on_a_missing_file_creates_nothing(tmp_path):
    real = _ipam_leases.LeaseStore(str(tmp_path / "ipam"), "acme-web")
    outcome = allocator(tmp_path, store=_ipam_leases.DryRunStore(real)).present(request())
    assert outcome.after["ip"] == "198.18.1.100"
    assert not (tmp_path / "ipam").exists()


# --- the lease file ---------------------------------------------------------------------


def valid_document():
    return {
        "schema": _ipam_leases.SCHEMA,
        "version": 1,
        "pool": "acme-web",
        "updated_at": "2026-11-22T10:00:00Z",
        "definition": None,
        "leases": {
            "198.18.1.100": {
                "ip": "198.18.1.100",
                "owner": "vm-a",
                "service": "acme-web",
                "state": "in_use",
                "created_at": "2026-11-22T10:00:00Z",
                "updated_at": "2026-11-22T10:00:00Z",
                "requested_by": "test",
            }
        },
        "conflicts": {},
        "probing": {},
    }


def corrupt(document, path, value):
    *parents, last = path
    node = document
    for key in parents:
        node = node[key]
    if value is KeyError:
        del node[last]
    else:
        node[last] = value
    return document


LEASE = ("leases", "198.18.1.100")


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("{not json", "is not valid JSON"),
        ("", "is not valid JSON"),
        ("[]", "top level must be an object"),
        (json.dumps(corrupt(valid_document(), ("schema",), "other")), "not a lease file"),
        (json.dumps(corrupt(valid_document(), ("version",), 2)), "newer release"),
        (json.dumps(corrupt(valid_document(), ("version",), "1")), "expected an integer"),
        (json.dumps(corrupt(valid_document(), ("leases",), [])), "'leases' must be an object"),
        (json.dumps(corrupt(valid_document(), ("probing",), KeyError)), "'probing' is missing"),
        (json.dumps(corrupt(valid_document(), (*LEASE, "state"), "taken")), "expected one of reserved, in_use"),
        (json.dumps(corrupt(valid_document(), (*LEASE, "owner"), KeyError)), ".owner is missing"),
        (json.dumps(corrupt(valid_document(), (*LEASE, "ip"), "198.18.1.101")), "must equal its key"),
        (json.dumps(corrupt(valid_document(), (*LEASE, "created_at"), "yesterday")), "not a UTC time"),
        (
            json.dumps(corrupt(corrupt(valid_document(), (*LEASE, "state"), "reserved"), (*LEASE, "expires_at"), 5)),
            "expires_at must be a time or null",
        ),
    ],
)
def test_a_broken_lease_file_fails_with_its_path_and_is_left_untouched(tmp_path, text, words):
    (tmp_path / "ipam").mkdir()
    lease_file(tmp_path).write_text(text)
    stamp = os.stat(lease_file(tmp_path)).st_mtime_ns
    with pytest.raises(_ipam_errors.LeaseFileError) as raised:
        allocator(tmp_path).present(request())
    assert str(lease_file(tmp_path)) in str(raised.value)
    assert words in str(raised.value)
    assert lease_file(tmp_path).read_text() == text
    assert os.stat(lease_file(tmp_path)).st_mtime_ns == stamp


def test_two_leases_for_one_owner_is_a_broken_file(tmp_path):
    document = valid_document()
    second = dict(document["leases"]["198.18.1.100"], ip="198.18.1.101")
    document["leases"]["198.18.1.101"] = second
    with pytest.raises(_ipam_errors.LeaseFileError, match="holds two leases"):
        _ipam_leases.validate_document(document)


def test_the_written_file_follows_the_schema_and_keeps_a_backup(tmp_path):
    allocator(tmp_path).present(request("vm-a"))
    first = lease_file(tmp_path).read_text()
    allocator(tmp_path).present(request("vm-b"))
    document = json.loads(lease_file(tmp_path).read_text())
    _ipam_leases.validate_document(document)
    assert document["definition"]["ranges"] == ["198.18.1.100-198.18.1.119"]
    backup = json.loads((tmp_path / "ipam" / "acme-web.json.bak").read_text())  # the version before the last write
    _ipam_leases.validate_document(backup)
    assert backup["leases"] == json.loads(first)["leases"]
    assert stat.S_IMODE(os.stat(lease_file(tmp_path)).st_mode) == 0o640
    assert [p.name for p in (tmp_path / "ipam").iterdir() if p.name.endswith(".tmp")] == []


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    allocator(tmp_path).present(request("vm-a"))
    before = lease_file(tmp_path).read_bytes()

    def no_rename(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", no_rename)
    with pytest.raises(_ipam_errors.LeaseFileError, match="No space left on device"):
        allocator(tmp_path).present(request("vm-b"))
    assert lease_file(tmp_path).read_bytes() == before
    assert [p.name for p in (tmp_path / "ipam").iterdir() if p.name.endswith(".tmp")] == []


def test_the_lock_times_out_with_a_clear_message(tmp_path):
    store = _ipam_leases.LeaseStore(str(tmp_path / "ipam"), "acme-web", lock_timeout=0.2)
    with store.locked():
        other = _ipam_leases.LeaseStore(str(tmp_path / "ipam"), "acme-web", lock_timeout=0.2)
        with pytest.raises(_ipam_errors.LockTimeout, match=re.escape("stayed locked for 0.2 s")), other.locked():
            pass


# --- the real prober, with a stand-in ping and local TCP ports --------------------------


@pytest.fixture
def fake_ping(tmp_path):
    """A ``ping`` that answers for .1, is silent (after a while) for .2 and fails for .9."""
    script = tmp_path / "ping"
    script.write_text(
        textwrap.dedent(
            f"""\
            #!{sys.executable}
            import sys, time
            target = sys.argv[-1]
            with open({str(tmp_path / "argv.log")!r}, "a") as log:
                log.write(" ".join(sys.argv[1:]) + "\\n")
            if target.endswith(".1"):
                sys.exit(0)
            if target.endswith(".9"):
                sys.stderr.write("ping: connect: Network is unreachable\\n")
                sys.exit(2)
            time.sleep(0.3)
            sys.exit(1)
            """
        )
    )
    script.chmod(0o755)
    return script


def test_prober_takes_the_first_clean_address_in_order(fake_ping, tmp_path):
    prober = _ipam_probe.Prober(_ipam_probe.ProbeSettings(ping_count=3, ping_timeout=0.5), str(fake_ping))
    outcome = prober.first_clean(["10.0.0.1", "10.0.0.2", "10.0.0.3"])
    assert outcome.clean == "10.0.0.2"
    assert outcome.results[0] == {"ip": "10.0.0.1", "result": "conflict", "seen_by": "icmp"}
    assert outcome.results[1] == {"ip": "10.0.0.2", "result": "clean"}
    argv = (tmp_path / "argv.log").read_text().splitlines()
    assert "-n -q -c 3 -i 0.2 -W 0.5 10.0.0.1" in argv
    assert len(argv) == 3  # all three probed at once


def test_prober_stops_at_the_first_clean_address(fake_ping, tmp_path):
    prober = _ipam_probe.Prober(_ipam_probe.ProbeSettings(), str(fake_ping))
    outcome = prober.first_clean(["10.0.0.2"])
    assert outcome.clean == "10.0.0.2"
    assert len((tmp_path / "argv.log").read_text().splitlines()) == 1


def test_prober_fails_when_ping_cannot_run(fake_ping):
    prober = _ipam_probe.Prober(_ipam_probe.ProbeSettings(), str(fake_ping))
    with pytest.raises(_ipam_errors.ProbeError, match=r"exit 2\): ping: connect: Network is unreachable"):
        prober.first_clean(["10.0.0.9"])


def test_prober_reports_every_answering_candidate_when_none_is_clean(fake_ping):
    prober = _ipam_probe.Prober(_ipam_probe.ProbeSettings(), str(fake_ping))
    outcome = prober.first_clean(["10.0.0.1", "10.0.1.1"])
    assert outcome.clean is None
    assert [result["result"] for result in outcome.results] == ["conflict", "conflict"]


def test_tcp_probe_counts_an_accepted_or_refused_connection_as_an_answer():
    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))
    listening.listen()
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()
    try:
        for port in (listening.getsockname()[1], closed_port):
            prober = _ipam_probe.Prober(_ipam_probe.ProbeSettings(ping=False, tcp_ports=(port,)))
            outcome = prober.first_clean(["127.0.0.1"])
            assert outcome.clean is None
            assert outcome.results == [{"ip": "127.0.0.1", "result": "conflict", "seen_by": f"tcp/{port}"}]
    finally:
        listening.close()


def test_without_probes_the_first_candidate_is_taken_unchecked():
    prober = _ipam_probe.Prober(_ipam_probe.ProbeSettings(ping=False))
    assert prober.first_clean(["10.0.0.1", "10.0.0.2"]).clean == "10.0.0.1"
