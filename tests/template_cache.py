"""A cache of the Python code Jinja compiles templates to, for the tests' many playbook runs.

ansible-core 2.19 compiles every template and conditional it renders afresh: Jinja turns the
template into Python source, then ``compile()`` turns that source into a code object. ansible
renders a task's templates in the task's own worker process, forked for that task and gone after
it, so nothing compiled lives on to the next task, let alone to the next playbook run: a
scale-out compiles about 900 pieces of generated Python, about 0.9 of its ~11 CPU seconds, and
``make test`` runs hundreds of playbooks on 2 cores.

Two layers. ``<folder>/jinja-front/`` keeps the code of a whole template or expression under its
source text and every setting of the environment that Jinja's parser and code generator read
(delimiters, whitespace options, extensions, the sandbox's intercepted operators, ansible's
embedded-template and backslash-escaping state), with what the generator looked up outside the
source: for each filter and test it names, whether it exists and what Jinja passes it. A hit is
used only when those answer the same now, so it returns the code object a fresh compile would
make, and skips parsing and code generation (about 4 % of a dry-run scale-out's CPU). A miss,
and every error, goes through Jinja as without the cache. ``<folder>/jinja-code/`` keeps the
last step, ``compile()``, under a SHA-256 of the Python bytecode version, the file name and the
generated source - a pure function of those - for the first layer's misses and what it does not take
(raw compiles, ansible's debugger mode).

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


def _known_jinja(known: list) -> bool:
    """Whether this Jinja is the line this was written for, looked up once (``known`` keeps it):
    its version is set only after ``jinja2.environment`` is imported and patched."""
    if not known:
        known.append(str(getattr(sys.modules.get("jinja2"), "__version__", "")).startswith(VERSIONS))
    return known[0]


def patch(module, folder: str) -> None:
    environment = getattr(module, "Environment", None)
    if environment is None or getattr(environment._compile, "cache_folder", None) is not None:
        return  # not the Jinja this was written for, or patched already
    original = environment._compile
    store = os.path.join(folder, "jinja-code")
    magic = importlib.util.MAGIC_NUMBER
    known = []  # whether this Jinja is the line this was written for (its version is set after this module)

    def cached(self, source, filename):
        if not _known_jinja(known) or not isinstance(source, str) or not isinstance(filename, str):
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
    _patch_front_end(module, environment, os.path.join(folder, "jinja-front"), known)


def _patch_front_end(module, environment, store: str, known: list) -> None:
    """Keep the code of a whole template (or expression) under its source text and the settings of
    the environment that compile it, so that a hit also skips Jinja's parsing and code generation.

    Beside the code each entry keeps what code generation read from outside the source: for each
    filter and test the template names, whether it exists and which argument Jinja passes it
    (``pass_context`` and the like). A hit is used only when the environment answers the same for
    all of them now; otherwise the template is compiled afresh (a missing filter fails to compile
    exactly as without the cache) and the entry replaced. Compile errors are never cached.
    """
    nodes, parser_class = module.nodes, module.Parser
    pass_arg_of = sys.modules["jinja2.utils"]._PassArg.from_obj

    original_compile = environment.compile
    magic = importlib.util.MAGIC_NUMBER

    def ansible_state(env) -> tuple | None:
        """What of ansible's compile-time state the generated code depends on; None: do not cache."""
        bits = sys.modules.get("ansible._internal._templating._jinja_bits")
        common = sys.modules.get("ansible._internal._templating._jinja_common")
        if bits is None or common is None:
            return ("no-ansible",)
        if getattr(env, "_debuggable_template_source", False):
            return None  # ansible writes the generated source to a file of its own for a debugger
        context = bits._TemplateCompileContext.current(optional=True)
        return (
            bool(common._TemplateConfig.allow_embedded_templates),
            None if context is None else bool(context.escape_backslashes),
        )

    def settings(env) -> bytes | None:
        state = ansible_state(env)
        if state is None or not _known_jinja(known):
            return None
        parts = (
            type(env).__module__,
            type(env).__qualname__,
            env.block_start_string,
            env.block_end_string,
            env.variable_start_string,
            env.variable_end_string,
            env.comment_start_string,
            env.comment_end_string,
            env.line_statement_prefix,
            env.line_comment_prefix,
            env.trim_blocks,
            env.lstrip_blocks,
            env.newline_sequence,
            env.keep_trailing_newline,
            env.optimized,
            env.is_async,
            repr(env.autoescape) if not callable(env.autoescape) else getattr(env.autoescape, "__qualname__", "?"),
            str(pass_arg_of(env.finalize)) if env.finalize is not None else None,
            tuple(sorted(env.extensions)),
            tuple(sorted(getattr(env, "intercepted_binops", ()))),
            tuple(sorted(getattr(env, "intercepted_unops", ()))),
            state,
        )
        return repr(parts).encode()

    def dependencies(env, tree) -> tuple:
        """(kind, name, what code generation sees) of each filter and test the template uses."""
        found = []
        for kind, node_type, mapping in (("filter", nodes.Filter, env.filters), ("test", nodes.Test, env.tests)):
            for name in sorted({node.name for node in tree.find_all(node_type)}):
                function = mapping.get(name)
                found.append((kind, name, "missing" if function is None else str(pass_arg_of(function))))
        return tuple(found)

    def still_true(env, found: tuple) -> bool:
        for kind, name, seen in found:
            function = (env.filters if kind == "filter" else env.tests).get(name)
            if ("missing" if function is None else str(pass_arg_of(function))) != seen:
                return False
        return True

    def path_of(kind: str, env, text: str, *extra) -> str | None:
        config = settings(env)
        if config is None or not isinstance(text, str):
            return None
        digest = hashlib.sha256(magic + kind.encode() + b"\0" + config + b"\0" + repr(extra).encode() + b"\0")
        digest.update(text.encode("utf-8", "surrogatepass"))
        key = digest.hexdigest()
        return os.path.join(store, key[:2], key)

    def load(path: str, env):
        try:
            with open(path, "rb") as handle:
                found, code = marshal.load(handle)  # noqa: S302 - our own cache, as __pycache__
        except (OSError, EOFError, ValueError, TypeError):
            return None
        return code if still_true(env, found) else None

    def save(path: str, found: tuple, code) -> None:
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            partial = f"{path}.{os.getpid()}"
            with open(partial, "wb") as handle:
                marshal.dump((found, code), handle)
            os.replace(partial, path)
        except (OSError, ValueError):
            pass

    def compile_template(self, source, name=None, filename=None, raw=False, defer_init=False):  # noqa: PLR0917 - Jinja's signature
        path = (
            None
            if raw or not isinstance(source, str)
            else path_of("template", self, source, name, filename, defer_init)
        )
        if path is None:
            return original_compile(self, source, name, filename, raw, defer_init)
        code = load(path, self)
        if code is None:
            code = original_compile(self, source, name, filename, raw, defer_init)  # raises as without the cache
            save(path, dependencies(self, self._parse(source, name, filename)), code)
        return code

    original_expression = environment.compile_expression

    def compile_expression(self, source, undefined_to_none=True):
        path = path_of("expression", self, source)
        if path is None:
            return original_expression(self, source, undefined_to_none)
        code = load(path, self)
        if code is None:
            # As Jinja's compile_expression, keeping the code it compiles (errors raised as there).
            parser = parser_class(self, source, state="variable")
            try:
                expression = parser.parse_expression()
                if not parser.stream.eos:
                    raise module.TemplateSyntaxError("chunk after expression", parser.stream.current.lineno, None, None)
                expression.set_environment(self)
            except module.TemplateSyntaxError:
                self.handle_exception(source=source)
            tree = nodes.Template([nodes.Assign(nodes.Name("result", "store"), expression, lineno=1)], lineno=1)
            code = original_compile(self, tree)
            save(path, dependencies(self, tree), code)
        template = self.template_class.from_code(self, code, self.make_globals(None), None)
        return module.TemplateExpression(template, undefined_to_none)

    environment.compile = compile_template
    environment.compile_expression = compile_expression


def install(folder: str) -> None:
    """Keep the code Jinja compiles under ``folder`` (its unit test; ``make test`` arms it through
    ``tests/bytecode_cache.py``, which patches Jinja's environment when it is imported)."""
    import jinja2.environment

    patch(jinja2.environment, folder)
