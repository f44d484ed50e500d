"""A bytecode cache for Python source imported from zip archives: the tests' ansible modules.

Every module task ansible runs is a fresh Python process that imports the module and its
module_utils from a zip payload (AnsiballZ). Python caches bytecode for source files on disk,
but never for source inside a zip archive: each module run compiles ``ansible.module_utils.basic``
and the rest again, about 0.08 of the 0.23 CPU seconds a small module takes. The integration
tests run thousands of module tasks on 2 cores, so ``make test`` installs this hook into the
test virtualenv (``lab/setup.sh test``: this file, and a ``.pth`` line that calls ``install``
when ``VM_AUTOSCALE_BYTECODE_CACHE`` names a folder; ``tests/stages.sh`` sets it).

What runs is unchanged: the cache is keyed by the Python bytecode version, the file's path inside
the archive and a SHA-256 of its source, so a changed file is compiled afresh; a cached code
object gets the file name this run gave it, for tracebacks. Entries are written atomically
(several labs share the folder); an unreadable entry is compiled again. Without the variable
(``make demo``, an operator's run, an AWX job) nothing is installed.

``install`` also arms the tests' two other caches, each patched into its target right after the
target's first import and only then imported itself: ``tests/module_deps_cache.py`` (the imports
ansible finds in module source) and ``tests/template_cache.py`` (the code Jinja compiles templates
to). Every Python process of the test virtualenv reads the ``.pth`` line, a module task's too, so
this file imports only what it needs at once: about 13 ms, against 40 ms when each cache imported
``importlib.abc`` and ``json`` at start-up.
"""

from __future__ import annotations

import hashlib
import importlib.util
import marshal
import os
import sys
import types
import zipimport

VARIABLE = "VM_AUTOSCALE_BYTECODE_CACHE"
# The module a cache patches -> the module (as installed in the virtualenv) with its ``patch``.
PATCHES = {
    "ansible.executor.module_common": "vm_autoscale_module_deps_cache",
    "jinja2.environment": "vm_autoscale_template_cache",
}


def _renamed(code: types.CodeType, filename: str) -> types.CodeType:
    """``code`` and the code objects nested in it with ``co_filename`` set to ``filename``."""
    consts = tuple(
        _renamed(const, filename) if isinstance(const, types.CodeType) else const for const in code.co_consts
    )
    return code.replace(co_filename=filename, co_consts=consts)


def install(folder: str) -> None:
    """Make zipimport keep the code it compiles in ``folder`` and take it from there next time."""
    compile_source = zipimport._compile_source  # the one function that compiles zip sources
    if getattr(compile_source, "cache_folder", None) is not None:
        return  # installed already (site reads a venv's .pth files twice where lib64 links to lib)

    def cached(pathname: str, source: bytes) -> types.CodeType:
        inside = pathname.rsplit(".zip" + os.sep, 1)[-1]  # the same for every copy of the payload
        digest = hashlib.sha256(importlib.util.MAGIC_NUMBER + inside.encode() + b"\0" + source).hexdigest()
        path = os.path.join(folder, digest[:2], digest)
        try:
            with open(path, "rb") as handle:
                return _renamed(marshal.load(handle), pathname)  # noqa: S302 - our own cache, as __pycache__
        except (OSError, EOFError, ValueError, TypeError):
            pass
        code = compile_source(pathname, source)
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            partial = f"{path}.{os.getpid()}"
            with open(partial, "wb") as handle:
                marshal.dump(code, handle)
            os.replace(partial, path)
        except OSError:
            pass  # a cache that cannot be written only costs the time it would have saved
        return code

    cached.cache_folder = folder
    zipimport._compile_source = cached
    if not any(isinstance(finder, _PatchOnImport) for finder in sys.meta_path):
        sys.meta_path.insert(0, _PatchOnImport(folder, PATCHES))


class _PatchOnImport:
    """A meta path finder that patches each target module right after its first import, wherever that happens."""

    def __init__(self, folder: str, patches: dict[str, str]):
        self.folder, self.patches = folder, dict(patches)

    def find_spec(self, fullname, path, target=None):
        patcher = self.patches.pop(fullname, None)  # once: the find_spec below does not come back here
        if patcher is None:
            return None
        if not self.patches and self in sys.meta_path:
            sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None:
            return spec
        execute, folder = spec.loader.exec_module, self.folder

        def exec_module(module):
            execute(module)
            try:
                patch = __import__(patcher).patch
            except (ImportError, AttributeError):
                return  # a cache that is not installed only costs the time it would have saved
            patch(module, folder)

        spec.loader.exec_module = exec_module
        return spec

    def invalidate_caches(self):
        pass
