"""lab/plan.yml and inventories/lab/ describe the same lab."""

from pathlib import Path

import pytest
import yaml
from labctl.plan import REPO, PlanError, load_plan

GROUP_VARS = REPO / "inventories" / "lab" / "group_vars" / "all"


def group_vars(name: str) -> dict:
    return yaml.safe_load((GROUP_VARS / f"{name}.yml").read_text())


def test_inventory_points_at_the_planned_endpoints():
    plan = load_plan()
    vcenter, plg = group_vars("vcenter"), group_vars("plg")
    assert vcenter["vcenter_hostname"] == plan.vcenter["address"]
    assert vcenter["vcenter_port"] == plan.vcenter["port"]
    assert vcenter["vcenter_datacenter"] == plan.vsphere["datacenter"]
    assert vcenter["vcenter_cluster"] == plan.vsphere["cluster"]
    assert vcenter["vcenter_datastore"] == plan.vsphere["datastore"]
    assert vcenter["vcenter_validate_certs"] is True
    address = plan.plg["address"]
    assert plg["plg_prometheus_url"] == f"https://{address}:{plan.plg['prometheus_port']}"
    assert plg["plg_alertmanager_url"] == f"https://{address}:{plan.plg['alertmanager_port']}"
    assert plg["plg_node_exporter_url"] == f"https://{address}:{plan.plg['node_exporter_port']}"


def test_secrets_come_from_the_vault_not_from_plain_files():
    vcenter = group_vars("vcenter")
    assert vcenter["vcenter_password"] == "{{ vault_vcenter_password }}"
    assert vcenter["vcenter_username"] == "{{ vault_vcenter_username }}"


def test_every_lab_address_is_in_the_benchmarking_range():
    import ipaddress

    plan = load_plan()
    lab_range = ipaddress.ip_network("198.18.0.0/15")
    addresses = plan.infrastructure_addresses() + [m.ip for s in plan.services for m in s.static_members]
    assert addresses
    for address in addresses:
        assert ipaddress.ip_address(address) in lab_range, address


def test_example_services_are_read_from_the_inventory():
    services = {s.name: s for s in load_plan().services}
    assert set(services) == {"acme-web", "globex-api"}
    web = services["acme-web"]
    assert web.port_group == "pg-acme-web"
    assert web.vlan == 101
    assert [m.name for m in web.static_members] == ["acme-web-01", "acme-web-02"]


def test_a_broken_service_definition_names_its_file(tmp_path: Path):
    (tmp_path / "lab").mkdir()
    raw = yaml.safe_load((REPO / "lab" / "plan.yml").read_text())
    raw["service_inventory"] = "inv"
    (tmp_path / "lab" / "plan.yml").write_text(yaml.safe_dump(raw))
    (tmp_path / "inv" / "host_vars").mkdir(parents=True)
    (tmp_path / "inv" / "host_vars" / "bad.yml").write_text("autoscale: {service_id: bad, customer: x}\n")
    with pytest.raises(PlanError, match=r"bad\.yml.*'network'"):
        load_plan(tmp_path)


def test_the_timing_profile_is_fast_unless_the_environment_names_another(monkeypatch):
    plan = load_plan()
    monkeypatch.delenv("VM_AUTOSCALE_LAB_TIMING", raising=False)
    assert plan.timing["name"] == "fast" and plan.vcsim_method_delay() == ""
    assert plan.guests["boot_delay"] == plan.timing["boot_seconds"] == 5
    monkeypatch.setenv("VM_AUTOSCALE_LAB_TIMING", "production")
    production = plan.timing
    assert production["clone_seconds"] > 0 and production["boot_seconds"] > 5
    assert plan.vcsim_method_delay() == (
        f"CloneVM_Task:{production['clone_seconds'] * 1000},PowerOnVM_Task:{production['power_on_seconds'] * 1000}"
    )
    assert plan.guests["boot_delay"] == production["boot_seconds"]
    monkeypatch.setenv("VM_AUTOSCALE_LAB_TIMING", "slow")
    with pytest.raises(PlanError, match="VM_AUTOSCALE_LAB_TIMING='slow': no such timing profile"):
        plan.vcsim_method_delay()
