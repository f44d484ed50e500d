"""tests/module_deps_cache.py: module payloads built with the cache are the ones ansible builds without it."""

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
COLLECTIONS = [str(REPO / ".collections"), *[p for p in sys.path if p.endswith("site-packages")]]
MODULES = {
    "danacloud.vm_autoscale.autoscale_state": REPO / "plugins" / "modules" / "autoscale_state.py",
    "danacloud.vm_autoscale.autoscale_vm_info": REPO / "plugins" / "modules" / "autoscale_vm_info.py",
}
# Builds the module_utils part of each module's payload as ansible does (recursive_finder, a fixed
# date), with the cache installed when a folder is given; prints each zip's bytes as hex and
# whether ansible's own finder ran.
BUILD = """
import builtins, datetime, io, json, sys, zipfile
sys.path.insert(0, {tests!r})
import module_deps_cache
if {cache!r}:
    module_deps_cache.install({cache!r})
from ansible.executor import module_common
from ansible.plugins.loader import init_plugin_loader
init_plugin_loader({collections!r})
from ansible._internal._ansiballz import _builder
from ansible._internal._datatag._tags import Origin
parsed = []
def counting_compile(source, filename, mode, flags=0, *args, **kwargs):
    if flags & 0x400:  # ast.PyCF_ONLY_AST: ansible parsing a file for its imports
        parsed.append(filename)
    return builtins.compile(source, filename, mode, flags, *args, **kwargs)
module_common.compile = counting_compile
zips = {{}}
for fqn, path in {modules!r}.items():
    namespace, collection, name = fqn.split(".")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        module_common.recursive_finder(
            name, f"ansible_collections.{{namespace}}.{{collection}}.plugins.modules.{{name}}",
            Origin(path=path).tag(open(path, "rb").read()), archive, datetime.datetime(2026, 1, 1),
            _builder.ExtensionManager())
    zips[fqn] = buffer.getvalue().hex()
print(json.dumps({{"zips": zips, "parsed": len(parsed)}}))
"""
# make test runs with the caches on (VM_AUTOSCALE_BYTECODE_CACHE): the probes install their own.
WITHOUT_CACHES = {key: value for key, value in os.environ.items() if key != "VM_AUTOSCALE_BYTECODE_CACHE"}


def build(cache: str) -> dict:
    code = BUILD.format(
        tests=str(REPO / "tests"),
        cache=cache,
        collections=COLLECTIONS,
        modules={name: str(path) for name, path in MODULES.items()},
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, cwd=REPO, env=WITHOUT_CACHES
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.splitlines()[-1])


def test_the_payload_is_byte_for_byte_the_same_and_a_warm_cache_parses_only_the_modules(tmp_path):
    plain = build("")
    cold = build(str(tmp_path / "cache"))
    warm = build(str(tmp_path / "cache"))
    assert cold["zips"] == plain["zips"] and warm["zips"] == plain["zips"]
    assert plain["parsed"] > 50  # ansible parses every module_utils file of every module
    assert cold["parsed"] < plain["parsed"]  # shared files once, within a process
    assert warm["parsed"] == len(MODULES)  # only each module itself, for its metadata
    assert list((tmp_path / "cache" / "module-deps").rglob("*.json"))


def test_a_broken_entry_is_found_again_by_ansible_and_replaced(tmp_path):
    build(str(tmp_path / "cache"))
    entries = list((tmp_path / "cache" / "module-deps").rglob("*.json"))
    for entry in entries:
        entry.write_text("{not json")
    again = build(str(tmp_path / "cache"))
    assert again["zips"] == build("")["zips"]
    assert all(json.loads(entry.read_text())["submodules"] is not None for entry in entries)
