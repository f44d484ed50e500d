"""Start, probe and stop the lab's daemons - by the PIDs the lab itself recorded.

Every daemon started gets a record (``<state>/run/<name>.json``: PID, the kernel's start time of
that PID, the program) before the lab waits for it. Stopping reads the records back and signals
a PID only if it is still the very process we started (same start time), so a recycled PID of
somebody else's process is never touched.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


class StartError(RuntimeError):
    """A daemon exited or did not become ready; the message carries the tail of its log."""


def proc_start_time(pid: int) -> int | None:
    """The start time (clock ticks since boot, field 22 of /proc/PID/stat) of a live process.

    None when there is no such process or it is a zombie (dead, waiting to be reaped by a
    parent that may never do it, such as a container's PID 1).
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


def cpu_seconds(pid: int) -> float | None:
    """CPU time (user and system) a live process and the children it has waited for have used."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return sum(int(tick) for tick in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@dataclass
class Daemon:
    name: str
    argv: list[str]
    ready: Callable[[], bool]
    env: dict[str, str] = field(default_factory=dict)
    ready_timeout: float = 30.0
    describe: str = ""


class Supervisor:
    def __init__(self, state_dir: Path) -> None:
        self.run_dir = state_dir / "run"
        self.log_dir = state_dir / "logs"

    def log_path(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    def _record_path(self, name: str) -> Path:
        return self.run_dir / f"{name}.json"

    def start(self, daemon: Daemon, wrap: list[str] | None = None) -> int:
        """Start ``daemon``, record its PID, wait until it is ready; raise StartError otherwise."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_path(daemon.name)
        env = dict(os.environ)
        env.update(daemon.env)
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                (wrap or []) + daemon.argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,  # Ctrl-C in the terminal must not kill it behind our back
            )
        self.record(daemon.name, proc.pid, daemon.argv[0])
        self._wait_ready(daemon, proc, log)
        return proc.pid

    def record(self, name: str, pid: int, program: str) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        record = {"pid": pid, "start_time": proc_start_time(pid), "program": program, "name": name}
        path = self._record_path(name)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(record))
        tmp.replace(path)

    def _wait_ready(self, daemon: Daemon, proc: subprocess.Popen, log: Path) -> None:
        deadline = time.monotonic() + daemon.ready_timeout
        delay = 0.05
        last_probe = "no probe yet"
        while True:
            code = proc.poll()
            if code is not None:
                raise StartError(
                    f"{daemon.name} exited with status {code} while starting. Its log ({log}):\n{tail(log)}"
                )
            try:
                if daemon.ready():
                    return
                last_probe = "answered, but not ready"
            except Exception as exc:  # noqa: BLE001 - a failing probe only means "not ready yet"
                last_probe = str(exc)
            if time.monotonic() >= deadline:
                raise StartError(
                    f"{daemon.name} was not ready after {daemon.ready_timeout:.0f}s (last probe: {last_probe}). "
                    f"Its log ({log}):\n{tail(log)}"
                )
            time.sleep(delay)
            delay = min(delay * 2, 0.5)

    def records(self) -> list[dict]:
        if not self.run_dir.is_dir():
            return []
        found = []
        for path in self.run_dir.glob("*.json"):
            try:
                found.append(json.loads(path.read_text()))
            except (OSError, ValueError):
                continue
        return sorted(found, key=lambda r: r.get("start_time") or 0)

    @staticmethod
    def is_ours_and_alive(record: dict) -> bool:
        start = proc_start_time(record["pid"])
        return start is not None and start == record.get("start_time")

    def running(self) -> list[dict]:
        return [r for r in self.records() if self.is_ours_and_alive(r)]

    def stop(self, record: dict, timeout: float = 10.0) -> str:
        """Stop one recorded daemon: SIGTERM, then SIGKILL after ``timeout``. Returns what happened."""
        pid = record["pid"]
        outcome = "not running"
        if self.is_ours_and_alive(record):
            os.kill(pid, signal.SIGTERM)
            outcome = "stopped"
            deadline = time.monotonic() + timeout
            while self.is_ours_and_alive(record) and time.monotonic() < deadline:
                _reap(pid)
                time.sleep(0.05)
            if self.is_ours_and_alive(record):
                os.kill(pid, signal.SIGKILL)
                outcome = "killed"
                while self.is_ours_and_alive(record):
                    _reap(pid)
                    time.sleep(0.05)
            _reap(pid)  # it is a zombie now if it is our child: collect it
        self._record_path(record["name"]).unlink(missing_ok=True)
        return outcome

    def stop_all(self) -> list[tuple[str, int, str]]:
        """Stop every recorded daemon, newest first (dependants before what they depend on)."""
        stopped = []
        for record in reversed(self.records()):
            stopped.append((record["name"], record["pid"], self.stop(record)))
        return stopped


def _reap(pid: int) -> None:
    """Collect ``pid`` if it is our child, so that it does not linger as a zombie."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
