# Copyright: (c) 2026, Dana Cloud platform team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the per-service pipelines take from the data model: the longest a run may take (the
pipeline's timeout) and each service's Jenkins job (jenkins_autoscale_job's ``jobs``). Private."""

from __future__ import annotations

from typing import Any

from ansible_collections.danacloud.vm_autoscale.plugins.module_utils._model import with_defaults

# The step limits of a run (seconds), as the scale_out and scale_in roles' defaults set them
# (roles/jenkins_autoscale/defaults/main.yml passes the site's values; a unit test keeps the three
# in step).
RUN_LIMITS: dict = {
    "lock_wait": 60,
    "lock_ttl": 300,
    "lock_margin": 60,
    "call": 60,
    "lease": 60,
    "vm": 900,
    "boot": 600,
    "health": 300,
    "f5_sync": 120,
    "f5_member": 120,
    "drain": 300,
}


def _whole(value: Any, what: str, low: int, unit: str) -> int:
    """``value`` as a whole number of at least ``low`` (digits in a string too); ValueError if not."""
    number = int(value) if isinstance(value, str) and value.strip().isdigit() else value
    if isinstance(number, bool) or not isinstance(number, int) or number < low:
        raise ValueError(f"{what} is {value!r}: write a whole number of {unit}, at least {low}")
    return number


def run_bound(limits: dict | None, scale_out_step: int, scale_in_step: int) -> dict:
    """The longest a service's run may take when every step uses its whole limit (seconds).

    Mirrors the lock renewals of the roles (docs/operations.md, "A run that dies"): each renewal
    holds the lock for the coming steps' limits plus the margin. A run waits for the lock, holds
    it for ``lock_ttl`` to read and plan, repairs a dead run of at most the larger step, then does
    its own step's VMs. Its own undo is not in the bound: a run stopped while it undoes is
    repaired by the next one. Returns ``scale_out``, ``scale_in`` and ``run`` (the larger: what
    a pipeline of the service may need).
    """
    given = {key: value for key, value in (limits or {}).items() if value not in (None, "")}
    unknown = sorted(set(given) - set(RUN_LIMITS))
    if unknown:
        raise ValueError(f"unknown run limits {unknown}; expected {sorted(RUN_LIMITS)}")
    lim = {key: _whole(value, f"run limit {key}", 0, "seconds") for key, value in {**RUN_LIMITS, **given}.items()}
    steps = [_whole(value, "a step", 1, "VMs") for value in (scale_out_step, scale_in_step)]

    def hold(seconds: int) -> int:
        return seconds + lim["lock_margin"]

    start = lim["lock_wait"] + lim["lock_ttl"]
    undo_vm = 2 * lim["vm"] + lim["f5_sync"] + lim["call"]
    repair = hold(lim["call"] + max(steps) * undo_vm)
    out_vm = (
        hold(max(lim["call"], lim["lease"]))
        + hold(lim["vm"] + lim["boot"] + lim["health"] + lim["call"])
        + hold(2 * lim["call"] + lim["f5_sync"] + lim["f5_member"])
    )
    in_vm = (
        hold(lim["f5_sync"] + 2 * lim["call"] + lim["drain"])
        + hold(lim["f5_sync"] + lim["call"])
        + hold(2 * lim["vm"] + 2 * lim["call"])
        + hold(lim["call"])
    )
    out = start + repair + steps[0] * out_vm
    scale_in = start + repair + steps[1] * in_vm
    return {"scale_out": out, "scale_in": scale_in, "run": max(out, scale_in)}


def jenkins_jobs(names: list, configs: list, tokens: list, enabled: bool = True, limits: dict | None = None) -> list:
    """The Jenkins jobs of many services (jenkins_autoscale_job's ``jobs`` option): each service's
    job name, whether the job is enabled (its autoscale.enabled, and ``enabled``), its token, the
    timeout of its pipeline (``run_bound`` of its steps under ``limits``) and its scheduled
    reconcile job (``reconcile``: schedule and fix)."""
    if not len(names) == len(configs) == len(tokens):
        raise ValueError(
            f"{len(names)} services, {len(configs)} autoscale mappings and {len(tokens)} tokens; "
            "give one of each per service"
        )
    jobs = []
    for name, config, token in zip(names, configs, tokens):
        merged = with_defaults(name, config)
        scaling = merged["scaling"]
        out_step = scaling["scale_out_step"]
        if scaling.get("policy") == "target_tracking":  # a tracked scale-out adds up to max_step
            out_step = max(int(out_step), int(scaling["target_tracking"]["max_step"]))
        bound = run_bound(limits, out_step, scaling["scale_in_step"])
        reconcile = merged["reconcile"] if isinstance(merged["reconcile"], dict) else {}
        jobs.append({
            "service": name,
            "name": merged["jenkins"]["job_name"],
            "enabled": bool(merged["enabled"]) and bool(enabled),
            "token": token,
            "timeout_seconds": bound["run"],
            "reconcile": {"schedule": reconcile.get("schedule") or "", "fix": reconcile.get("fix") is True},
        })  # fmt: skip
    return jobs
