"""lab/lab: bring the simulated datacenter up, use it, tear it down.

lab/lab up                 start the lab in its own network namespace and wait until ready
lab/lab status             what runs where
lab/lab exec -- CMD ...    run CMD inside the lab's namespace, with the lab's client environment
lab/lab shell              an interactive shell inside the lab
lab/lab down               stop exactly the processes the lab started
lab/lab run -- CMD ...     up, run CMD, down (also on failure or Ctrl-C); exit with CMD's status
lab/lab netns -- CMD ...   run CMD in a fresh isolated namespace (the test command uses this)
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time

from . import emulators, f5seed, netns, plg, vcsim
from .pki import LabCA
from .plan import load_plan
from .procs import StartError, Supervisor, cpu_seconds
from .state import (
    Paths,
    SecretsError,
    client_environment,
    default_paths,
    fresh_state,
    generate_secrets,
    remove_secrets,
)


class LabError(RuntimeError):
    """A failure the user can act on; printed without a traceback."""


def _say(message: str) -> None:
    print(f"lab: {message}", flush=True)


def _raise_interrupt(signum, _frame):
    raise KeyboardInterrupt(f"signal {signum}")


# --- the namespace holder (only when the lab is started from outside a namespace) ---------
#
# 'lab/lab up' outside a namespace starts a holder in a new network namespace. The holder is a
# child subreaper: it runs the real 'up' as its child, so the daemons that 'up' starts become
# the holder's when 'up' exits, and the holder reaps them when 'lab/lab down' stops them.


HOLDER = "netns-holder"


def _holders(paths: Paths) -> Supervisor:
    # Under .lab/run, not the state folder: every 'up' starts from an empty state folder.
    return Supervisor(paths.root)


def _holder(paths: Paths) -> dict | None:
    return next((r for r in _holders(paths).running() if r["name"] == HOLDER), None)


def _stop_holder(paths: Paths) -> None:
    holders = _holders(paths)
    for record in holders.records():
        holders.stop(record, timeout=5)


def cmd_hold(paths: Paths) -> int:
    """The holder: run 'up' as a child, report its status, then reap until told to stop."""
    netns.require_isolation()
    netns.become_subreaper()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for 'up', which cleans up after itself
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    up = subprocess.Popen(
        [sys.executable, "-m", "labctl", "up"],
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # noqa: PLW1509
    )
    code = netns.wait_reaping(up.pid)
    paths.holder_status.write_text(str(code))
    if code != 0:
        return code
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):  # let go of the terminal of the 'lab/lab up' that started us
        os.dup2(devnull, fd)
    while True:
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            time.sleep(1)


def _run_uninterrupted(argv: list[str], env: dict[str, str] | None = None) -> int:
    """Run argv in the foreground and let *it* handle Ctrl-C (it cleans up; we must not kill it).

    We are a subreaper while we wait, so daemons the command leaves behind are reaped by us.
    """
    netns.become_subreaper()
    proc = subprocess.Popen(argv, env=env)
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        return netns.wait_reaping(proc.pid)
    finally:
        signal.signal(signal.SIGINT, previous)


# --- up ---------------------------------------------------------------------------------


def _up_inside(paths: Paths) -> int:
    netns.require_isolation()
    supervisor = Supervisor(paths.state)
    running = supervisor.running()
    if running:
        pids = ", ".join(f"{r['name']}={r['pid']}" for r in running)
        raise LabError(f"a lab is already running from this checkout ({pids}); run 'lab/lab down' first")
    fresh_state(paths)
    previous_term = signal.signal(signal.SIGTERM, _raise_interrupt)
    started = time.monotonic()
    timings: dict[str, float] = {}
    try:
        plan = load_plan(paths.repo)
        netns.configure_loopback(plan.infrastructure_addresses())

        mark = time.monotonic()
        binary = vcsim.build(paths)
        timings["vcsim_build_check_s"] = round(time.monotonic() - mark, 2)

        ca = LabCA(paths.pki)
        ca.create()
        vc_cert = ca.issue("vcenter", ["vcenter.lab.invalid"], [plan.vcenter["address"]])
        plg_cert = ca.issue("plg", ["plg.lab.invalid"], [plan.plg["address"]])
        f5_names, f5_addresses = emulators.f5_certificate_names(plan)
        f5_cert = ca.issue("f5", f5_names, f5_addresses)
        jenkins_cert = ca.issue("jenkins", ["jenkins.lab.invalid"], [plan.jenkins["address"]])
        secrets = generate_secrets(
            paths,
            {
                "vault_vcenter_username": plan.vsphere["username"],
                "vault_f5_username": plan.f5["username"],
                "vault_jenkins_username": plan.jenkins["username"],
                "vault_plg_username": plan.plg["username"],
            },
        )
        files = plg.write_configs(plan, paths, plg_cert, secrets["plg_password"])

        components = []

        def start(daemon) -> None:
            mark = time.monotonic()
            pid = supervisor.start(daemon)
            timings[f"{daemon.name}_ready_s"] = round(time.monotonic() - mark, 2)
            components.append({"name": daemon.name, "pid": pid, "where": daemon.describe})

        start(vcsim.daemon(plan, paths, binary, vc_cert, secrets["vcenter_password"]))
        mark = time.monotonic()
        seeded = vcsim.seed(plan, paths, secrets["vcenter_password"])
        timings["vcsim_seed_s"] = round(time.monotonic() - mark, 2)
        for daemon in plg.daemons(plan, paths, files, secrets["plg_password"]):
            start(daemon)
        start(emulators.f5_daemon(plan, paths, f5_cert, secrets["f5_password"]))
        mark = time.monotonic()
        f5_pools = f5seed.seed(plan, paths.pki / "ca.pem", secrets["f5_password"])
        timings["f5_seed_s"] = round(time.monotonic() - mark, 2)
        start(
            emulators.jenkins_daemon(
                plan, paths, jenkins_cert, secrets["jenkins_password"], secrets["jenkins_api_token"]
            )
        )
        start(emulators.guests_daemon(plan, paths, secrets["vcenter_password"]))

        timings["total_s"] = round(time.monotonic() - started, 2)
        info = {
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "netns_inode": os.stat("/proc/self/ns/net").st_ino,
            "components": components,
            "vsphere": seeded,
            "f5_pools": f5_pools,
            "timings": timings,
            "timing_profile": plan.timing,
            "ca": str(paths.pki / "ca.pem"),
        }
        paths.info.write_text(json.dumps(info, indent=2))
    except BaseException as exc:
        stopped = supervisor.stop_all()
        for name, pid, outcome in stopped:
            _say(f"{name} (pid {pid}) {outcome}")
        if isinstance(exc, KeyboardInterrupt):
            _say("interrupted; everything the lab started is stopped")
            return 130
        if isinstance(
            exc,
            (
                StartError,
                plg.ConfigError,
                vcsim.SeedError,
                f5seed.F5SeedError,
                netns.IsolationError,
                LabError,
                SecretsError,
            ),
        ):
            _say(f"start failed: {exc}")
            return 1
        if isinstance(exc, Exception):
            _say(f"start failed unexpectedly: {exc!r}; everything the lab started is stopped")
        raise
    finally:
        signal.signal(signal.SIGTERM, previous_term)
    _print_status(paths)
    _say(f"up in {timings['total_s']}s")
    return 0


def cmd_up(paths: Paths) -> int:
    if netns.isolation_problem() is None:
        return _up_inside(paths)
    # Outside a namespace: start a holder in a new one; it runs 'up' inside and keeps the lab.
    if _holder(paths):
        raise LabError("a lab is already running from this checkout; run 'lab/lab down' first")
    paths.root.mkdir(parents=True, exist_ok=True)
    paths.holder_status.unlink(missing_ok=True)
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # 'up' handles Ctrl-C and cleans up
    try:
        holder = subprocess.Popen(
            netns.unshare_argv() + [sys.executable, "-m", "labctl", "_hold"], stdin=subprocess.DEVNULL
        )
        _holders(paths).record(HOLDER, holder.pid, "labctl _hold")
        while not paths.holder_status.exists():
            if holder.poll() is not None:
                _stop_holder(paths)  # only forgets the record: it has exited
                return holder.returncode or 1
            time.sleep(0.1)
        code = int(paths.holder_status.read_text() or 1)
    finally:
        signal.signal(signal.SIGINT, previous)
    if code != 0:
        holder.wait()
        _stop_holder(paths)
    return code


# --- down, status -----------------------------------------------------------------------


def cmd_down(paths: Paths) -> int:
    supervisor = Supervisor(paths.state)
    # What each daemon cost (the lab's share of a machine's CPU; make test adds it up, README).
    used = {record["pid"]: cpu_seconds(record["pid"]) for record in supervisor.running()}
    stopped = supervisor.stop_all()
    for name, pid, outcome in stopped:
        cpu = f" after {used[pid]:.1f} CPU-s" if used.get(pid) is not None else ""
        _say(f"{name} (pid {pid}) {outcome}{cpu}")
    _stop_holder(paths)
    remove_secrets(paths)
    _say("down" if stopped else "down (nothing was running)")
    return 0


def _print_status(paths: Paths) -> None:
    try:
        info = json.loads(paths.info.read_text())
    except (OSError, ValueError):
        _say("no lab has been started from this checkout")
        return
    running = {r["name"]: r for r in Supervisor(paths.state).running()}
    print(f"\nThe lab (started {info['started_at']}; state in {paths.state}):")
    print(f"  {'part':<14} {'pid':>7}  {'state':<8} where")
    for part in info["components"]:
        state = "running" if part["name"] in running else "STOPPED"
        print(f"  {part['name']:<14} {part['pid']:>7}  {state:<8} {part['where']}")
    vs = info["vsphere"]
    print(f"\n  vCenter inventory: datacenter {vs['datacenter']}, cluster {vs['cluster']}")
    for name, service in vs["services"].items():
        vms = ", ".join(f"{vm['name']} ({vm['ip']})" for vm in service["vms"])
        print(f"    {name:<12} port group {service['port_group']}, folder {service['folder']}: {vms}")
    if profile := info.get("timing_profile"):
        print(
            f"\n  timing profile {profile['name']}: clone {profile['clone_seconds']} s, power-on"
            f" {profile['power_on_seconds']} s, guest boot {profile['boot_seconds']} s (lab/plan.yml)"
        )
    print(f"\n  lab CA: {info['ca']}")
    print("  use it: lab/lab exec -- ansible-playbook -i inventories/lab playbooks/endpoint_check.yml\n")


def cmd_status(paths: Paths) -> int:
    _print_status(paths)
    return 0 if Supervisor(paths.state).running() else 3


# --- exec, shell, netns, run -------------------------------------------------------------


def _client_env(paths: Paths) -> dict[str, str]:
    env = dict(os.environ)
    env.update(client_environment(paths))
    return env


def cmd_exec(paths: Paths, argv: list[str]) -> int:
    env = _client_env(paths)
    if netns.isolation_problem() is None:
        return _run_uninterrupted(argv, env)
    holder = _holder(paths)
    if holder is None:
        raise LabError("no lab is running from this checkout; start it with 'lab/lab up'")
    return _run_uninterrupted(netns.nsenter_argv(holder["pid"]) + argv, env)


def _isolated(command: str, argv: list[str]) -> int | None:
    """Outside an isolated namespace: re-run 'command -- argv' in a fresh one and return its
    status. Inside one: bring lo up and return None, for the caller to go on here."""
    if netns.isolation_problem() is not None:
        return _run_uninterrupted(netns.unshare_argv() + [sys.executable, "-m", "labctl", command, "--"] + argv)
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    return None


def cmd_netns(paths: Paths, argv: list[str]) -> int:
    code = _isolated("netns", argv)
    if code is not None:
        return code
    try:
        return _run_uninterrupted(argv, _client_env(paths))
    finally:
        _stop_leftovers(paths)


def _stop_leftovers(paths: Paths) -> None:
    """A lab started in this namespace dies with it: stop whatever a crashed command left."""
    try:
        info = json.loads(paths.info.read_text())
    except (OSError, ValueError):
        return
    if info.get("netns_inode") == os.stat("/proc/self/ns/net").st_ino and Supervisor(paths.state).running():
        _say("stopping the lab the command left running")
        cmd_down(paths)


def cmd_run(paths: Paths, argv: list[str]) -> int:
    code = _isolated("run", argv)
    if code is not None:
        return code
    try:
        code = _up_inside(paths)
        if code != 0:
            return code
        return _run_uninterrupted(argv, _client_env(paths))
    finally:
        cmd_down(paths)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="lab/lab", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("up", "down", "status", "shell", "env", "_hold"):
        sub.add_parser(name)
    for name in ("exec", "netns", "run"):
        sub.add_parser(name).add_argument("argv", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    rest = list(getattr(args, "argv", []))
    if rest and rest[0] == "--":
        rest = rest[1:]
    paths = default_paths()
    try:
        if args.command in ("exec", "netns", "run") and not rest:
            raise LabError(f"nothing to run: lab/lab {args.command} -- COMMAND [ARGS...]")
        if args.command == "up":
            return cmd_up(paths)
        if args.command == "_hold":
            return cmd_hold(paths)
        if args.command == "down":
            return cmd_down(paths)
        if args.command == "status":
            return cmd_status(paths)
        if args.command == "env":
            for key, value in client_environment(paths).items():
                print(f"export {key}={value}")
            return 0
        if args.command == "shell":
            return cmd_exec(paths, [os.environ.get("SHELL", "/bin/bash")])
        if args.command == "exec":
            return cmd_exec(paths, rest)
        if args.command == "netns":
            return cmd_netns(paths, rest)
        return cmd_run(paths, rest)
    except (LabError, netns.IsolationError) as exc:
        _say(str(exc))
        return 2


if __name__ == "__main__":
    sys.exit(main())
