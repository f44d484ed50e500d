"""A cache of the imports ansible finds in module source, for the tests' many playbook runs.

To build a module's payload (AnsiballZ), ansible-core parses the module and every module_utils
file it imports, transitively, to find what else to put in the zip - about 60 files for the
smallest module. Each playbook run builds each module it uses again (its cache lives in the
run's own temporary folder), so a scale-out, with a dozen modules, spends about 2 of its ~10 CPU
seconds parsing the same unchanged files. ``make test`` runs hundreds of playbooks on 2 cores.

This keeps, per file, what ansible's own ``ModuleDepFinder`` found in it - its imports and which
of them are optional - under a SHA-256 of the module name, the package flag and the source, in
``<folder>/module-deps/``. On a hit the source is not parsed; on a miss ansible's finder runs as
always and its answer is stored. The payload is unchanged (tests/unit/test_module_deps_cache.py
builds modules both ways and compares the zips byte for byte): the sources still come from disk.

It patches private parts of ansible-core's ``ansible.executor.module_common`` (``_compile_module_ast``
parses lazily, ``_get_module_metadata`` parses the module itself, ``ModuleDepFinder`` answers from
the cache) - when that module is first imported, and only on the ansible-core line it was written
against (2.19); on any other version it does nothing. ``tests/bytecode_cache.py`` arms it where
``VM_AUTOSCALE_BYTECODE_CACHE`` is set (``make test``): this file is imported only when ansible's
module builder is; never in an operator's run.
"""

from __future__ import annotations

import hashlib
import json
import os

VERSIONS = ("2.19.",)


class _Source:
    """What ``_compile_module_ast`` was given; parsed only when something needs the tree."""

    def __init__(self, name, source, compile_ast):
        self.name, self.source, self._compile_ast, self._tree = name, source, compile_ast, None

    @property
    def tree(self):
        if self._tree is None:
            self._tree = self._compile_ast(self.name, self.source)
        return self._tree


class _Found:
    """A finder's answer read from the cache."""

    def __init__(self, submodules, optional_imports):
        self.submodules, self.optional_imports = submodules, optional_imports


def patch(module, folder: str) -> None:
    from ansible import __version__  # ansible is being imported by now

    names = ("_compile_module_ast", "_get_module_metadata", "ModuleDepFinder")
    if getattr(module, "vm_autoscale_module_deps", None) is not None:
        return  # patched already
    if not __version__.startswith(VERSIONS) or not all(hasattr(module, name) for name in names):
        return
    compile_ast, metadata, finder = (getattr(module, name) for name in names)
    store = os.path.join(folder, "module-deps")

    def lazy_compile(module_name, source_code):
        return _Source(module_name, source_code, compile_ast)

    def lazy_metadata(tree):
        return metadata(tree.tree if isinstance(tree, _Source) else tree)

    def entry(module_fqn, source, is_pkg_init) -> str:
        data = source if isinstance(source, bytes) else str(source).encode("utf-8", "surrogateescape")
        key = hashlib.sha256(f"{module_fqn}\0{bool(is_pkg_init)}\0".encode() + data).hexdigest()
        return os.path.join(store, key[:2], key + ".json")

    # On a hit, ModuleDepFinder(...) returns the stored answer and never runs; on a miss it runs
    # as always on the parsed tree, and its answer is stored.
    def new(cls, module_fqn, tree, is_pkg_init=False, *args, **kwargs):
        if isinstance(tree, _Source) and not args and not kwargs:
            try:
                with open(entry(module_fqn, tree.source, is_pkg_init), encoding="utf-8") as handle:
                    found = json.load(handle)
                return _Found(
                    {tuple(name) for name in found["submodules"]}, {tuple(name) for name in found["optional"]}
                )
            except (OSError, ValueError, KeyError, TypeError):
                pass
        return object.__new__(cls)

    def init(self, module_fqn, tree, is_pkg_init=False, *args, **kwargs):
        if not isinstance(tree, _Source):
            original_init(self, module_fqn, tree, is_pkg_init, *args, **kwargs)
            return
        original_init(self, module_fqn, tree.tree, is_pkg_init, *args, **kwargs)
        path = entry(module_fqn, tree.source, is_pkg_init)
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            partial = f"{path}.{os.getpid()}"
            with open(partial, "w", encoding="utf-8") as handle:
                json.dump({"submodules": sorted(self.submodules), "optional": sorted(self.optional_imports)}, handle)
            os.replace(partial, path)
        except OSError:
            pass  # a cache that cannot be written only costs the time it would have saved

    original_init = finder.__init__
    module._compile_module_ast = lazy_compile
    module._get_module_metadata = lazy_metadata
    finder.__new__ = staticmethod(new)
    finder.__init__ = init
    module.vm_autoscale_module_deps = store


def install(folder: str) -> None:
    """Keep the imports found in module source under ``folder`` (its unit test; ``make test`` arms it
    through ``tests/bytecode_cache.py``, which patches the module builder when ansible imports it)."""
    import ansible.executor.module_common as module

    patch(module, folder)
