"""Run the integration tests on several labs at once, each in a network namespace of its own.

Most of an integration test's time is spent waiting - for an alert's ``for`` window, a guest's
boot, a drain, a config sync - not computing, so several labs side by side finish the suite in a
fraction of the time one lab takes. The test files are split into ``--shards`` groups of about
equal measured time (``tests/integration/durations.json``, longest first onto the least loaded
shard). Shard 0 runs in this checkout; every other shard runs in a copy of it under
``.lab/shards/<n>/`` (its tracked and untracked files, with ``.venv`` and the lab's build linked),
so that each lab has its own state folder, vault file and namespace - nothing is shared but the
read-only build. Each shard is ``unshare --net -- lab/lab netns -- pytest <files>`` with its
output in ``.lab/shards/<n>.log``.

The run ends with one line per shard (its files, time and result), the 10 slowest tests of the
whole run, and, on failure, the end of each failed shard's log. The measured times are written
to ``.lab/durations.json``; copy it over ``tests/integration/durations.json`` to rebalance.

    python tests/shards.py [--shards N] [pytest arguments...]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "lab"))
from labctl import netns  # noqa: E402 - after the path is set

DURATIONS = REPO / "tests" / "integration" / "durations.json"
SHARDS = REPO / ".lab" / "shards"
UNKNOWN_SECONDS = 60.0  # a test file not measured yet


def split(files: list[str], durations: dict, count: int) -> list[list[str]]:
    """``files`` in ``count`` groups of about equal time: the longest first onto the least loaded."""
    groups: list[list[str]] = [[] for _shard in range(count)]
    loads = [0.0] * count
    for name in sorted(files, key=lambda f: (-float(durations.get(f, UNKNOWN_SECONDS)), f)):
        index = loads.index(min(loads))
        groups[index].append(name)
        loads[index] += float(durations.get(name, UNKNOWN_SECONDS))
    return [sorted(group) for group in groups if group]


def _files_of_the_checkout() -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.decode()
    return [name for name in listed.split("\0") if name]


def copy_checkout(target: Path) -> None:
    """A copy of this checkout's files at ``target`` (changes included), sharing .venv and the lab's build.

    The lab's Jenkins reads a pipeline from the working tree its job names (vm_autoscale_scm_url,
    the copy itself), so no history is needed.
    """
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    for name in _files_of_the_checkout():
        source = REPO / name
        if not source.exists() and not source.is_symlink():
            continue  # deleted but not yet committed
        destination = target / name
        destination.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            destination.symlink_to(os.readlink(source))
        else:
            shutil.copy2(source, destination)
    (target / ".venv").symlink_to(REPO / ".venv")
    (target / ".lab").mkdir()
    (target / ".lab" / "build").symlink_to(REPO / ".lab" / "build")


def _junit(path: Path) -> list[tuple[float, str, float]]:
    """(seconds, test, CPU seconds) of each test case of a junit report."""
    try:
        root = ET.parse(path).getroot()  # noqa: S314 - written by our own pytest run
    except (OSError, ET.ParseError):
        return []
    cases = []
    for case in root.iter("testcase"):
        cpu = next((p.get("value") for p in case.iter("property") if p.get("name") == "cpu_seconds"), 0)
        cases.append((float(case.get("time", 0)), f"{case.get('classname', '')}::{case.get('name', '')}", float(cpu)))
    return cases


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shards", type=int, default=int(os.environ.get("VM_AUTOSCALE_TEST_SHARDS", "4")))
    parser.add_argument("--files", nargs="+", help="only these test files (default: every tests/integration/test_*.py)")
    args, pytest_args = parser.parse_known_args(argv)
    if netns.isolation_problem() is not None:
        print("tests/shards.py runs inside the lab namespace: use 'make integration' or 'make test'", file=sys.stderr)
        return 2
    durations = json.loads(DURATIONS.read_text()) if DURATIONS.exists() else {}
    files = args.files or sorted(
        str(path.relative_to(REPO)) for path in (REPO / "tests" / "integration").glob("test_*.py")
    )
    groups = split(files, durations, max(1, args.shards))
    SHARDS.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    running = []
    for index, group in enumerate(groups):
        root = REPO if index == 0 else SHARDS / str(index)
        if index:
            copy_checkout(root)
        for stale in ("lab-down.log", "playbooks.jsonl"):
            (root / ".lab" / stale).unlink(missing_ok=True)
        log = SHARDS / f"{index}.log"
        junit = SHARDS / f"{index}.xml"
        command = [
            *netns.unshare_argv(),
            str(root / "lab" / "lab"),
            "netns",
            "--",
            str(root / ".venv" / "bin" / "pytest"),
            "-p",
            "no:cacheprovider",
            f"--junitxml={junit}",
            *pytest_args,
            *group,
        ]
        handle = log.open("w")
        process = subprocess.Popen(command, cwd=root, stdout=handle, stderr=subprocess.STDOUT)
        running.append(
            {
                "index": index,
                "root": root,
                "files": group,
                "process": process,
                "log": log,
                "junit": junit,
                "out": handle,
            }
        )
        print(
            f"shard {index}: {len(group)} files, ~{sum(durations.get(f, UNKNOWN_SECONDS) for f in group):.0f} s, log {log}"
        )
        sys.stdout.flush()
    waiting = list(running)
    try:
        _wait(waiting, started)
    finally:
        for shard in waiting:  # interrupted: each lab/lab netns stops its lab when signalled
            shard["process"].terminate()
            shard["process"].wait()
            shard["out"].close()
    return _report(running, durations, started)


def _wait(waiting: list, started: float) -> None:
    while waiting:
        for shard in list(waiting):
            code = shard["process"].poll()
            if code is not None:
                shard["code"], shard["seconds"] = code, time.monotonic() - started
                shard["out"].close()
                waiting.remove(shard)
                print(f"shard {shard['index']}: {'passed' if code == 0 else 'FAILED'} after {shard['seconds']:.0f} s")
                sys.stdout.flush()
        time.sleep(1)


def _daemon_cpu(root: Path) -> float:
    """CPU seconds the daemons of a shard's lab used (the lab fixture keeps what 'lab down' said)."""
    try:
        said = (root / ".lab" / "lab-down.log").read_text()
    except OSError:
        return 0.0
    return sum(float(used) for used in re.findall(r"after ([0-9.]+) CPU-s", said))


def _playbook_figures(running: list) -> None:
    """How many playbook runs the tests made and what they cost, by playbook (the lines the
    run_playbook fixture logs); all of them in .lab/playbooks.jsonl."""
    runs = []
    for shard in running:
        try:
            runs += [json.loads(line) for line in (shard["root"] / ".lab" / "playbooks.jsonl").read_text().splitlines()]
        except OSError:
            continue
    (REPO / ".lab" / "playbooks.jsonl").write_text("".join(json.dumps(run) + "\n" for run in runs))
    by_playbook: dict[str, list] = {}
    for run in runs:
        name = Path(run["argv"][0]).name if run["argv"] else "?"
        by_playbook.setdefault(name, []).append(run["cpu"] or 0.0)  # None: its use could not be read
    print(f"  {len(runs)} playbook runs, {sum(run['cpu'] or 0.0 for run in runs):.0f} CPU s; the costliest playbooks:")
    for name, used in sorted(by_playbook.items(), key=lambda item: -sum(item[1]))[:8]:
        print(f"    {sum(used):7.1f} CPU s  {len(used):4d} runs  {name}")


def _report(running: list, durations: dict, started: float) -> int:
    cases = []
    measured, cpu = dict(durations), {}
    for shard in running:
        found = _junit(shard["junit"])
        cases += found
        for name in shard["files"]:
            module = name.removesuffix(".py").replace("/", ".").removeprefix("tests.integration.")
            mine = [(seconds, used) for seconds, case, used in found if case.split("::")[0].endswith(module)]
            if mine:
                measured[name] = round(sum(seconds for seconds, _used in mine), 1)
                cpu[name] = round(sum(used for _seconds, used in mine), 1)
    (REPO / ".lab" / "durations.json").write_text(json.dumps(measured, indent=2, sort_keys=True) + "\n")
    (REPO / ".lab" / "cpu.json").write_text(json.dumps(cpu, indent=2, sort_keys=True) + "\n")
    daemons = sum(_daemon_cpu(shard["root"]) for shard in running)
    print(
        f"\nintegration on {len(running)} labs: {time.monotonic() - started:.0f} s, {sum(cpu.values()):.0f} CPU seconds"
        f" in the tests, {daemons:.0f} in the labs' daemons"
    )
    _playbook_figures(running)
    for shard in running:
        result = "passed" if shard["code"] == 0 else f"FAILED (exit {shard['code']})"
        print(f"  shard {shard['index']}: {len(shard['files'])} files, done after {shard['seconds']:.0f} s, {result}")
    slowest = "".join(
        f"  {seconds:7.1f} s {used:7.1f} CPU s  {case}\n" for seconds, case, used in sorted(cases, reverse=True)[:10]
    )
    (SHARDS / "slowest.txt").write_text(slowest)  # tests/stages.sh prints it again at the very end
    print("the 10 slowest tests:")
    print(slowest, end="")
    failed = [shard for shard in running if shard["code"] != 0]
    for shard in failed:
        print(f"\n--- shard {shard['index']} failed; the end of {shard['log']}:")
        print("".join(shard["log"].read_text(errors="replace").splitlines(keepends=True)[-60:]))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
