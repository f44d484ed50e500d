"""A cache of the Python code Jinja compiles templates to, for the tests' many playbook runs.

ansible-core 2.19 compiles every template and conditional it renders afresh: Jinja turns the
template into Python source, then ``compile()`` turns that source into a code object. ansible
renders a task's templates in the task's own worker process, forked for that task and gone after
it, so nothing compiled lives on to the next task, let alone to the next playbook run: a
scale-out compiles about 900 pieces of generated Python, about 0.9 of its ~11 CPU seconds, and
``make test`` runs hundreds of playbooks on 2 cores.

This keeps the code objects under a SHA-256 of the Python bytecode version, the file name and
the generated source, in ``<folder>/jinja-code/``: the last step, ``compile()``, is a pure function
of those, so a hit returns the same code object it would have made. Jinja's own work (parsing the
template, checking its filters and tests exist, generating the source) runs as always, so a
template's errors are unchanged.

It patches ``jinja2.environment.Environment._compile`` when that module is first imported, and
only on the Jinja line it was written against (3.1); on any other version it does nothing.
``tests/bytecode_cache.py`` arms it where ``VM_AUTOSCALE_BYTECODE_CACHE`` is set (``make test``):
this file is imported only when Jinja is; never in an operator's run.
"""

from __future__ import annotations

import hashlib
import importlib.util
import marshal
import os
import sys

VERSIONS = ("3.1.",)


def patch(module, folder: str) -> None:
    environment = getattr(module, "Environment", None)
    if environment is None or getattr(environment._compile, "cache_folder", None) is not None:
        return  # not the Jinja this was written for, or patched already
    original = environment._compile
    store = os.path.join(folder, "jinja-code")
    magic = importlib.util.MAGIC_NUMBER
    known = []  # whether this Jinja is the line this was written for (its version is set after this module)

    def cached(self, source, filename):
        if not known:
            known.append(str(getattr(sys.modules.get("jinja2"), "__version__", "")).startswith(VERSIONS))
        if not known[0] or not isinstance(source, str) or not isinstance(filename, str):
            return original(self, source, filename)
        digest = hashlib.sha256(magic + filename.encode() + b"\0" + source.encode("utf-8", "surrogatepass"))
        key = digest.hexdigest()
        path = os.path.join(store, key[:2], key)
        try:
            with open(path, "rb") as handle:
                return marshal.load(handle)  # noqa: S302 - our own cache, as __pycache__
        except (OSError, EOFError, ValueError, TypeError):
            pass
        code = original(self, source, filename)
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            partial = f"{path}.{os.getpid()}"
            with open(partial, "wb") as handle:
                marshal.dump(code, handle)
            os.replace(partial, path)
        except (OSError, ValueError):
            pass  # a cache that cannot be written only costs the time it would have saved
        return code

    cached.cache_folder = store
    environment._compile = cached


def install(folder: str) -> None:
    """Keep the code Jinja compiles under ``folder`` (its unit test; ``make test`` arms it through
    ``tests/bytecode_cache.py``, which patches Jinja's environment when it is imported)."""
    import jinja2.environment

    patch(jinja2.environment, folder)
