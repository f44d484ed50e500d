"""The supervisor starts daemons, waits for readiness, and stops only what it started."""

import os
import subprocess
import sys
import time

import pytest
from labctl.procs import Daemon, StartError, Supervisor, cpu_seconds, proc_start_time


def sleeper(name: str, ready=lambda: True, seconds: int = 60) -> Daemon:
    return Daemon(name=name, argv=[sys.executable, "-c", f"import time; time.sleep({seconds})"], ready=ready)


def test_start_records_pid_and_stop_ends_the_process(tmp_path):
    supervisor = Supervisor(tmp_path)
    pid = supervisor.start(sleeper("one"))
    assert proc_start_time(pid) is not None
    assert [r["pid"] for r in supervisor.running()] == [pid]

    stopped = supervisor.stop_all()

    assert stopped == [("one", pid, "stopped")]
    assert proc_start_time(pid) is None  # gone, and reaped (not a zombie)
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    assert supervisor.records() == []


def test_a_daemon_that_exits_while_starting_fails_with_its_log(tmp_path):
    supervisor = Supervisor(tmp_path)
    daemon = Daemon(
        name="broken",
        argv=[sys.executable, "-c", "import sys; print('bad flag --foo'); sys.exit(3)"],
        ready=lambda: False,
    )
    with pytest.raises(StartError, match=r"(?s)broken exited with status 3.*bad flag --foo"):
        supervisor.start(daemon)


def test_a_daemon_never_ready_times_out_naming_the_last_probe(tmp_path):
    def probe():
        raise ConnectionRefusedError("connection refused")

    supervisor = Supervisor(tmp_path)
    daemon = sleeper("slow", ready=probe)
    daemon.ready_timeout = 0.5
    with pytest.raises(StartError, match=r"slow was not ready after 0s .*connection refused"):
        supervisor.start(daemon)
    supervisor.stop_all()


def test_a_recycled_pid_is_never_signalled(tmp_path):
    """A record whose PID now belongs to another process (other start time) is left alone."""
    supervisor = Supervisor(tmp_path)
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        supervisor.record("ghost", stranger.pid, "ghost")
        record = supervisor.records()[0]
        record["start_time"] -= 1  # what the record would hold had the PID been reused
        assert supervisor.stop(record) == "not running"
        time.sleep(0.1)
        assert stranger.poll() is None
    finally:
        stranger.kill()
        stranger.wait()


def test_a_daemon_ignoring_sigterm_is_killed(tmp_path):
    supervisor = Supervisor(tmp_path)
    code = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('up', flush=True); time.sleep(60)"
    log = tmp_path / "logs" / "stubborn.log"
    daemon = Daemon(
        name="stubborn",
        argv=[sys.executable, "-c", code],
        ready=lambda: log.exists() and "up" in log.read_text(),
    )
    pid = supervisor.start(daemon)
    record = supervisor.records()[0]
    assert supervisor.stop(record, timeout=0.3) == "killed"
    assert proc_start_time(pid) is None


def test_stop_all_goes_newest_first(tmp_path):
    supervisor = Supervisor(tmp_path)
    first = supervisor.start(sleeper("first"))
    time.sleep(0.02)
    second = supervisor.start(sleeper("second"))
    order = [pid for _name, pid, _outcome in supervisor.stop_all()]
    assert order == [second, first]


def test_cpu_seconds_counts_what_a_process_used_and_is_none_when_it_is_gone(tmp_path):
    before = cpu_seconds(os.getpid())
    deadline = time.process_time() + 0.3
    while time.process_time() < deadline:
        pass
    assert cpu_seconds(os.getpid()) >= before + 0.25
    supervisor = Supervisor(tmp_path)
    pid = supervisor.start(sleeper("gone"))
    supervisor.stop_all()
    assert cpu_seconds(pid) is None
