"""tests/bytecode_cache.py: code compiled from a zip archive is kept, keyed by its source, and found again."""

import marshal
import os
import subprocess
import sys
import zipfile
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
SOURCE = "VALUE = {value}\n\ndef fail():\n    raise ValueError('from the module')\n"
# Imports pkg.mod from the archive with the cache installed; prints the value and the file the
# traceback of fail() names.
PROBE = """
import sys, traceback
sys.path.insert(0, {tests!r})
import bytecode_cache
bytecode_cache.install({cache!r})
sys.path.insert(0, {archive!r})
from pkg import mod
try:
    mod.fail()
except ValueError as error:
    print(mod.VALUE, traceback.extract_tb(error.__traceback__)[-1].filename)
"""
# make test runs with the caches on (VM_AUTOSCALE_BYTECODE_CACHE): the probes install their own.
WITHOUT_CACHES = {key: value for key, value in os.environ.items() if key != "VM_AUTOSCALE_BYTECODE_CACHE"}


def payload(path: Path, value: int) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("pkg/__init__.py", "")
        archive.writestr("pkg/mod.py", SOURCE.format(value=value))
    return path


def probe(archive: Path, cache: Path) -> tuple[str, str]:
    code = PROBE.format(tests=str(TESTS), cache=str(cache), archive=str(archive))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=WITHOUT_CACHES)
    value, filename = done.stdout.split()
    return value, filename


def entries(cache: Path) -> list[Path]:
    return sorted(path for path in cache.rglob("*") if path.is_file())


def test_a_second_payload_with_the_same_source_takes_the_code_from_the_cache(tmp_path):
    cache = tmp_path / "cache"
    first = payload(tmp_path / "first.zip", 1)
    assert probe(first, cache) == ("1", str(first / "pkg" / "mod.py"))
    kept = entries(cache)
    assert len(kept) == 2  # pkg/__init__.py and pkg/mod.py
    # Prove the next import reads the cache: make the kept code of mod.py say 2.
    (entry,) = [path for path in kept if marshal.loads(path.read_bytes()).co_names[:1] == ("VALUE",)]  # noqa: S302
    entry.write_bytes(marshal.dumps(compile(SOURCE.format(value=2), "elsewhere.py", "exec")))
    second = payload(tmp_path / "second.zip", 1)
    # Found by its source, and named after the archive it came from this time (tracebacks).
    assert probe(second, cache) == ("2", str(second / "pkg" / "mod.py"))


def test_changed_source_is_compiled_afresh_and_a_broken_entry_is_replaced(tmp_path):
    cache = tmp_path / "cache"
    assert probe(payload(tmp_path / "one.zip", 1), cache)[0] == "1"
    assert probe(payload(tmp_path / "two.zip", 7), cache)[0] == "7"  # another source, another entry
    assert len(entries(cache)) == 3
    for entry in entries(cache):
        entry.write_bytes(b"not marshal data")
    assert probe(payload(tmp_path / "three.zip", 7), cache)[0] == "7"
    assert len([entry for entry in entries(cache) if readable(entry)]) == 2  # the two this run imported


def readable(entry: Path) -> bool:
    try:
        marshal.loads(entry.read_bytes())  # noqa: S302 - the test's own cache
    except (ValueError, EOFError):
        return False
    return True


def test_a_cache_that_cannot_be_written_costs_only_time(tmp_path):
    blocked = tmp_path / "file-not-folder"
    blocked.write_text("")
    assert probe(payload(tmp_path / "one.zip", 3), blocked / "cache")[0] == "3"
