"""Config sync of the emulated pair: device groups, an asynchronous sync, and its faults.

What a real sync-failover pair shows, and where each behaviour comes from (docs/lab.md lists them):

- ``cm/sync-status`` aggregates every device group of the trust domain: a real pair has
  ``device_trust_group`` and ``datasync-global-dg`` beside its failover group, and the overall
  status is the worst of them (a verified capture shows a pair in "Changes Pending" because of
  ``datasync-global-dg`` alone; f5-ansible PR #1788 says the REST API aggregates the groups).
- Its details name the *peer* devices ("bigip2.example.com: connected"), then one line per group
  "<group> (<status>): <text>", then " - Recommended action: Synchronize <device> to group <group>"
  (f5-ansible PR #1788; the smock test data of simonkowallik/smock).
- Colours: green "In Sync", blue "Awaiting Initial Sync", yellow "Changes Pending" on one device,
  red "Changes Pending" as a change conflict and "Disconnected" (F5's sync status table quoted in
  netmiko PR #2148; f5-common-python issue #4 logs "red, Disconnected" and "yellow, Changes
  Pending"). Yellow for "Not All Devices Synced" and blue for "Syncing" are inferred.
- A sync is asynchronous: ``run cm config-sync`` answers at once; the group keeps reading
  "Changes Pending" until the sync starts (``start_seconds``), then "Not All Devices Synced" on the
  device that sends and "Syncing" on the one that receives (``seconds``), then "In Sync"
  (f5-ansible PR #226: "the device group will typically go into this state immediately after
  starting the sync"; the vendor module's unit test runs Changes Pending x3, Not All Devices
  Synced, In Sync; issues #2065 and #2378 are the module meeting "Changes Pending" 3 s after its
  sync). The configuration sent is the one the device had when the sync started: a change made
  during the sync leaves the group "Changes Pending" again.
- A sync asked while one of the same group is under way is refused (400); the wording is
  plausible, not verified.

Faults (control socket ``/sync-fault``): ``stuck`` (asked syncs never start: "Changes Pending"
stays), ``peer-fails`` (the sync ends but the peer did not take it: "Not All Devices Synced"
stays until a later sync succeeds), ``pending`` of another group (``datasync-global-dg`` reads
"Changes Pending" with its own recommended action, as after a device rejoins).
"""

from __future__ import annotations

import copy
import threading
import time

from ..httpd import log
from .model import F5Error, full_path, url_segment

# Device groups a real pair has beside the failover group: (name, type, autoSync).
BUILTIN_GROUPS = (("device_trust_group", "sync-only", "enabled"), ("datasync-global-dg", "sync-only", "enabled"))
IN_SYNC_TEXT = "All devices in the device group are in sync"
# Worst first: the overall status is the worst of the groups'.
SEVERITY = ("Disconnected", "Changes Pending", "Not All Devices Synced", "Syncing", "Awaiting Initial Sync", "In Sync")
FAULTS = ("stuck", "peer-fails", "pending")


class ConfigSync:
    """The pair's device groups and the sync state of its failover group, per viewing device."""

    def __init__(self, cluster, timing: dict | None) -> None:
        self.cluster = cluster
        timing = timing or {}
        self.start_seconds = float(timing.get("start_seconds", 0.5))
        self.seconds = float(timing.get("seconds", 1.5))
        self.job: dict | None = None  # the sync under way: source, targets, phase, times
        self.failed_peer: str | None = None  # a peer that did not take the last sync
        self.fault: dict | None = None
        self._wake = threading.Condition(cluster.lock)
        self._thread: threading.Thread | None = None

    # --- groups --------------------------------------------------------------------------

    @property
    def failover_group(self) -> str:
        return full_path(self.cluster.device_group)

    def groups(self) -> list[tuple[str, str, str]]:
        return [(self.failover_group, "sync-failover", "disabled")] + [
            (full_path(name), kind, auto) for name, kind, auto in BUILTIN_GROUPS
        ]

    def group_view(self, path: str, version: str) -> dict:
        for group, kind, auto in self.groups():
            if group == path:
                return {
                    "kind": "tm:cm:device-group:device-groupstate",
                    "name": group.rsplit("/", 1)[1],
                    "partition": "Common",
                    "fullPath": group,
                    "generation": 1,
                    "selfLink": f"https://localhost/mgmt/tm/cm/device-group/{url_segment(group)}?ver={version}",
                    "autoSync": auto,
                    "asmSync": "disabled",
                    "fullLoadOnSync": "false",
                    "incrementalConfigSyncSizeMax": 1024,
                    "networkFailover": "enabled" if kind == "sync-failover" else "disabled",
                    "saveOnAutoSync": "false",
                    "type": kind,
                    "devicesReference": {
                        "link": f"https://localhost/mgmt/tm/cm/device-group/{url_segment(group)}/devices?ver={version}",
                        "isSubcollection": True,
                    },
                }
        raise F5Error(404, f"01020036:3: The requested device group ({path}) was not found.")

    # --- status --------------------------------------------------------------------------

    def _failover_group_state(self, viewer: str) -> tuple[str, str, str, str | None]:
        """(status, color, text, recommended source) of the failover group as ``viewer`` sees it."""
        hosts = self.cluster.hostnames
        job = self.job
        if job is not None and job["phase"] == "running":
            if viewer == job["source"]:
                peers = " and ".join(hosts[t] for t in job["targets"])
                return "Not All Devices Synced", "yellow", f"{peers} did not receive last sync successfully.", None
            return "Syncing", "blue", f"Receiving a configuration from {hosts[job['source']]}.", None
        if self.failed_peer is not None:
            source = next(n for n in self.cluster.devices if n != self.failed_peer)
            text = f"{hosts[self.failed_peer]} did not receive last sync successfully."
            return "Not All Devices Synced", "yellow", text, source
        devices = self.cluster.devices
        changed = [n for n, d in devices.items() if d.last_change > self.cluster.sync_point]
        if not changed:
            return "In Sync", "green", IN_SYNC_TEXT, None
        names = " and ".join(hosts[n] for n in devices)
        if len(changed) == 1:
            return "Changes Pending", "yellow", f"There is a possible change conflict between {names}.", changed[0]
        return "Changes Pending", "red", f"There is a possible change conflict between {names}.", changed[-1]

    def state(self, viewer: str) -> dict:
        """``cm/sync-status`` as ``viewer`` reports it: status, color, summary and details."""
        cluster = self.cluster
        hosts = cluster.hostnames
        peers = [n for n in cluster.devices if n != viewer]
        details = [f"{hosts[n]}: {'connected' if cluster.reachable[n] else 'disconnected'}" for n in peers]
        if not all(cluster.reachable.values()):
            group = self.failover_group.rsplit("/", 1)[1]
            details.append(f"{group} (Disconnected): One or more devices are disconnected")
            return {
                "status": "Disconnected",
                "color": "red",
                "summary": "One or more devices in the device group are disconnected",
                "details": details,
            }
        rows = []  # (group, status, color, text, recommended source)
        for group, _kind, _auto in self.groups():
            name = group.rsplit("/", 1)[1]
            if group == self.failover_group:
                rows.append((name, *self._failover_group_state(viewer)))
            elif self.fault and self.fault["fault"] == "pending" and full_path(self.fault["group"]) == group:
                source = self.fault.get("device") or next(iter(cluster.devices))
                names = " and ".join(hosts[n] for n in cluster.devices)
                text = f"There is a possible change conflict between {names}."
                rows.append((name, "Changes Pending", "red", text, source))
            else:
                rows.append((name, "In Sync", "green", IN_SYNC_TEXT, None))
        for name, status, _color, text, source in rows:
            details.append(f"{name} ({status}): {text}")
            if source is not None:
                details.append(f" - Recommended action: Synchronize {hosts[source]} to group {name}")
        worst = min(rows, key=lambda row: SEVERITY.index(row[1]))
        summary = IN_SYNC_TEXT if worst[1] == "In Sync" else worst[3]
        return {"status": worst[1], "color": worst[2], "summary": summary, "details": details}

    # --- running a sync ------------------------------------------------------------------

    def ask(self, device_name: str, group: str, direction: str) -> None:
        """``run cm config-sync to-group|from-group GROUP`` on ``device_name``: starts a sync in the background."""
        path = full_path(group)
        if path not in [g for g, _k, _a in self.groups()]:
            raise F5Error(
                400,
                f"01070710:3: Cannot update_indexes/checkpoint DB object, class:devicegroup status:13 "
                f"- The requested device group ({path}) was not found.",
            )
        if path != self.failover_group:  # the sync-only groups: a sync clears an injected "pending"
            if self.fault and self.fault["fault"] == "pending" and full_path(self.fault["group"]) == path:
                self.fault = None
            return
        if self.job is not None:
            raise F5Error(
                400,
                f"01070712:3: Caught configuration exception (0), A config sync of device group {path} "
                f"is already in progress.",
            )
        source, targets = self._ends(device_name, direction)
        now = time.monotonic()
        self.job = {"source": source, "targets": targets, "phase": "asked", "asked": now, "direction": direction}
        log(f"config-sync {direction} {path} asked on {device_name} (source {source}, targets {targets})")
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name="config-sync", daemon=True)
            self._thread.start()
        self._wake.notify_all()

    def _ends(self, device_name: str, direction: str) -> tuple[str, list[str]]:
        """(source, targets) of a sync asked on ``device_name``: to-group pushes, from-group pulls the newest."""
        peers = [n for n in self.cluster.devices if n != device_name]
        if direction == "from-group":
            return max(peers, key=lambda n: self.cluster.devices[n].last_change), [device_name]
        return device_name, peers

    def _run(self) -> None:
        """Carry the asked sync through its phases (with the cluster lock held between sleeps)."""
        with self._wake:
            while self.job is not None:
                job = self.job
                now = time.monotonic()
                if job["phase"] == "asked":
                    if self.fault and self.fault["fault"] == "stuck":
                        self._wake.wait(0.2)
                        continue
                    if now < job["asked"] + self.start_seconds:
                        self._wake.wait(job["asked"] + self.start_seconds - now)
                        continue
                    source = self.cluster.devices[job["source"]]
                    config = copy.deepcopy(source.config)
                    job.update(phase="running", started=now, config=config, change=source.last_change)
                    continue
                if now < job["started"] + self.seconds:
                    self._wake.wait(job["started"] + self.seconds - now)
                    continue
                self._finish(job)
                self.job = None

    def _finish(self, job: dict, faults: bool = True) -> None:
        cluster = self.cluster
        peer_fails = faults and self.fault and self.fault["fault"] == "peer-fails"
        failing = self.fault.get("device") if peer_fails else None
        taken = []
        for name in job["targets"]:
            if not cluster.reachable[name] or name == failing:
                continue
            cluster.devices[name].replace_config(job["config"], job["change"])
            taken.append(name)
        if len(taken) == len(job["targets"]):
            self.failed_peer = None
            cluster.sync_point = max(cluster.sync_point, job["change"])
            cluster.save_cluster()
        else:
            self.failed_peer = next(n for n in job["targets"] if n not in taken)
        log(f"config-sync from {job['source']} done: taken by {taken}, failed on {self.failed_peer}")

    def now(self, device_name: str, direction: str = "to-group") -> None:
        """A sync done at once (the control socket's, for tests): no timing, no faults. It
        supersedes a sync under way, which ends without writing anything."""
        self.job = None
        self._wake.notify_all()
        source, targets = self._ends(device_name, direction)
        device = self.cluster.devices[source]
        config = copy.deepcopy(device.config)
        job = {"source": source, "targets": targets, "config": config, "change": device.last_change}
        self._finish(job, faults=False)

    # --- control ---------------------------------------------------------------------------

    def set_fault(self, body: dict | None) -> dict | None:
        if not body or body.get("fault") is None:
            self.fault = None
        else:
            if body["fault"] not in FAULTS:
                raise F5Error(400, f"unknown sync fault {body['fault']!r}; one of {', '.join(FAULTS)}")
            if body["fault"] == "peer-fails" and body.get("device") not in self.cluster.devices:
                raise F5Error(400, "peer-fails needs the device that fails to take the sync")
            if body["fault"] == "pending":
                body = {"group": "datasync-global-dg", **body}
            self.fault = dict(body)
        self._wake.notify_all()
        return self.fault

    def set_timing(self, body: dict) -> dict:
        for key in ("start_seconds", "seconds"):
            if key in body:
                value = float(body[key])
                if value < 0:
                    raise F5Error(400, f"{key} must be 0 or more")
                setattr(self, key, value)
        self._wake.notify_all()
        return self.timing()

    def timing(self) -> dict:
        return {"start_seconds": self.start_seconds, "seconds": self.seconds}
