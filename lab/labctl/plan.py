"""The lab's plan (lab/plan.yml) and the example services it reads from the lab inventory."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
TIMING_VARIABLE = "VM_AUTOSCALE_LAB_TIMING"


class PlanError(ValueError):
    """The plan or a service definition the lab needs is missing or malformed."""


@dataclass(frozen=True)
class StaticMember:
    name: str
    ip: str


@dataclass(frozen=True)
class Service:
    name: str
    customer: str
    port_group: str
    vlan: int
    subnet: str
    static_members: tuple[StaticMember, ...]
    member_port: int = 80
    health_path: str = "/health"
    pool_name: str = ""


@dataclass(frozen=True)
class Plan:
    raw: dict[str, Any]
    services: tuple[Service, ...]

    @property
    def vcenter(self) -> dict[str, Any]:
        return self.raw["infrastructure"]["vcenter"]

    @property
    def plg(self) -> dict[str, Any]:
        return self.raw["infrastructure"]["plg"]

    @property
    def vsphere(self) -> dict[str, Any]:
        return self.raw["vsphere"]

    @property
    def monitoring(self) -> dict[str, Any]:
        return self.raw["monitoring"]

    @property
    def f5(self) -> dict[str, Any]:
        return self.raw["infrastructure"]["f5"]

    @property
    def jenkins(self) -> dict[str, Any]:
        return self.raw["infrastructure"]["jenkins"]

    @property
    def guests(self) -> dict[str, Any]:
        """The guest simulator's settings, with the timing profile's boot delay (``boot_delay``)."""
        return {**self.raw["guests"], "boot_delay": self.timing["boot_seconds"]}

    @property
    def timing(self) -> dict[str, Any]:
        """The timing profile the lab runs with (``name``, ``clone_seconds``, ``power_on_seconds``,
        ``boot_seconds``): VM_AUTOSCALE_LAB_TIMING, or ``fast``."""
        name = os.environ.get(TIMING_VARIABLE, "") or "fast"
        profiles = self.raw["timing"]
        if name not in profiles:
            known = ", ".join(profiles)
            raise PlanError(f"{TIMING_VARIABLE}={name!r}: no such timing profile (lab/plan.yml has {known})")
        return {"name": name, **profiles[name]}

    def vcsim_method_delay(self) -> str:
        """The profile's vSphere method delays as vcsim reads them (VCSIM_METHOD_DELAY)."""
        timing = self.timing
        delays = {"CloneVM_Task": timing["clone_seconds"], "PowerOnVM_Task": timing["power_on_seconds"]}
        return ",".join(f"{method}:{int(seconds * 1000)}" for method, seconds in delays.items() if seconds)

    def infrastructure_addresses(self) -> list[str]:
        found: set[str] = set()

        def walk(node: Any) -> None:
            if isinstance(node, dict):
                if "address" in node:
                    found.add(node["address"])
                for value in node.values():
                    walk(value)
            elif isinstance(node, list):
                for value in node:
                    walk(value)

        walk(self.raw["infrastructure"])
        return sorted(found)


def _service_from_host_vars(path: Path) -> Service:
    data = yaml.safe_load(path.read_text()) or {}
    config = data.get("autoscale")
    if not isinstance(config, dict):
        raise PlanError(f"{path}: no 'autoscale' mapping")
    try:
        network = config["network"]
        members = tuple(StaticMember(m["name"], m["ip"]) for m in config.get("static_members", []))
        return Service(
            name=config["service_id"],
            customer=config["customer"],
            port_group=network["port_group"],
            vlan=int(network["vlan"]),
            subnet=network["subnet"],
            static_members=members,
            member_port=int(config.get("f5", {}).get("member_port", 80)),
            health_path=config.get("f5", {}).get("health_check_path", "/health"),
            pool_name=config.get("f5", {}).get("pool_name", f"{config['service_id']}-pool"),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise PlanError(f"{path}: service definition lacks or mangles {exc}") from exc


def load_plan(repo: Path = REPO) -> Plan:
    raw = yaml.safe_load((repo / "lab" / "plan.yml").read_text())
    host_vars = repo / raw["service_inventory"] / "host_vars"
    services = tuple(_service_from_host_vars(p) for p in sorted(host_vars.glob("*.yml")))
    return Plan(raw=raw, services=services)
