"""tests/template_cache.py: templates render the same with the cache, a warm cache compiles nothing,
and the test virtualenv's start-up hook arms it (and the module-deps cache) only when Jinja and
ansible's module builder are imported."""

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TEMPLATES = [
    "{{ service ~ '-auto-' ~ '%04d' | format(index) }}",
    "{% for vm in vms | sort %}{{ vm }}{% if not loop.last %},{% endif %}{% endfor %}",
    "{{ (vms | length > 1) and enabled }}",
    "{{ {'a': index * 2, 'b': vms | map('upper') | list} | to_json }}",
    "{{ missing_variable | default('default') }}",
    "{{ vms | no_such_filter }}",  # a compile error: the same message with and without the cache
]
# Expressions, as a task's when: or an assert's that: (compiled by Jinja's compile_expression).
EXPRESSIONS = [
    "vms | length > 1 and enabled",
    "'a' in vms and index is divisibleby 7",
    "vms | no_such_filter",
    "index is no_such_test",
    "index >",  # a syntax error
]
# Renders TEMPLATES with ansible's templar, with the cache installed when a folder is given; prints
# the results (or errors) and how many pieces of generated Python were compiled.
RENDER = """
import json, sys
sys.path.insert(0, {tests!r})
import template_cache
if {cache!r}:
    template_cache.install({cache!r})
import jinja2.environment
compiled = []
def counting_compile(source, filename, mode, *args, **kwargs):
    compiled.append(filename)
    return compile(source, filename, mode, *args, **kwargs)
jinja2.environment.compile = counting_compile
from ansible.template import Templar, trust_as_template
templar = Templar(variables={{"service": "acme-web", "index": 7, "vms": ["b", "a"], "enabled": True}})
results = []
for template in {templates!r}:
    try:
        results.append(repr(templar.template(trust_as_template(template))))
    except Exception as error:
        results.append(type(error).__name__ + ": " + str(error).splitlines()[0])
for expression in {expressions!r}:
    try:
        results.append(repr(templar.evaluate_expression(trust_as_template(expression))))
    except Exception as error:
        results.append(type(error).__name__ + ": " + str(error).splitlines()[0])
print(json.dumps({{"results": results, "compiled": len(compiled)}}))
"""
# make test runs with the caches on (VM_AUTOSCALE_BYTECODE_CACHE): the probes install their own.
WITHOUT_CACHES = {key: value for key, value in os.environ.items() if key != "VM_AUTOSCALE_BYTECODE_CACHE"}


def render(cache: str) -> dict:
    code = RENDER.format(tests=str(REPO / "tests"), cache=cache, templates=TEMPLATES, expressions=EXPRESSIONS)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False, env=WITHOUT_CACHES)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.splitlines()[-1])


def test_templates_render_the_same_and_a_warm_cache_compiles_nothing(tmp_path):
    plain = render("")
    cold = render(str(tmp_path / "cache"))
    warm = render(str(tmp_path / "cache"))
    assert cold["results"] == plain["results"] and warm["results"] == plain["results"]
    assert plain["results"][0] == "'acme-web-auto-0007'" and "no_such_filter" in plain["results"][len(TEMPLATES) - 1]
    assert plain["results"][len(TEMPLATES) :][:2] == ["True", "True"]
    assert all("Error" in result for result in plain["results"][-3:])
    assert plain["compiled"] >= len(TEMPLATES) - 1 and cold["compiled"] == plain["compiled"]
    assert warm["compiled"] == 0
    assert list((tmp_path / "cache" / "jinja-code").rglob("*"))


def test_a_broken_entry_is_compiled_again_and_replaced(tmp_path):
    render(str(tmp_path / "cache"))
    entries = [path for path in (tmp_path / "cache").rglob("*") if path.is_file()]
    for entry in entries:
        entry.write_bytes(b"not marshal data")
    again = render(str(tmp_path / "cache"))
    assert again["results"] == render("")["results"] and again["compiled"] > 0
    assert render(str(tmp_path / "cache"))["compiled"] == 0


def test_the_virtualenv_hook_patches_jinja_and_the_module_builder_only_when_they_are_imported(tmp_path):
    probe = (
        "import sys; before = sorted(m for m in sys.modules if m.startswith('vm_autoscale_'))\n"
        "import jinja2.environment, ansible.executor.module_common as builder\n"
        "print(before, jinja2.environment.Environment._compile.cache_folder, builder.vm_autoscale_module_deps)"
    )
    env = {**WITHOUT_CACHES, "VM_AUTOSCALE_BYTECODE_CACHE": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=False, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    # at start-up only the hook itself; each cache is imported with its target
    assert done.stdout.split() == [
        "['vm_autoscale_bytecode_cache']",
        str(tmp_path / "jinja-code"),
        str(tmp_path / "module-deps"),
    ]


# A whole template cached under its source: a filter that is gone, or now takes the context, must
# not be served from the cache (plain Jinja, with and without the cache, in fresh processes).
FILTERS = """
import json, sys
sys.path.insert(0, {tests!r})
import template_cache
if {cache!r}:
    template_cache.install({cache!r})
import jinja2
results = []
def double(value):
    return value * 2
@jinja2.pass_context
def double_in_context(context, value):
    return value * 2 + context["offset"]
for filters in ({{"double": double}}, {{}}, {{"double": double_in_context}}):
    environment = jinja2.Environment()
    environment.filters.update(filters)
    try:
        results.append(environment.from_string("{{{{ 20 | double }}}}").render(offset=1))
    except Exception as error:
        results.append(type(error).__name__ + ": " + str(error))
print(json.dumps(results))
"""


def test_a_cached_template_is_compiled_again_when_a_filter_it_uses_is_gone_or_changed(tmp_path):
    def run(cache: str) -> list:
        code = FILTERS.format(tests=str(REPO / "tests"), cache=cache)
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=False, env=WITHOUT_CACHES
        )
        assert done.returncode == 0, done.stderr[-3000:]
        return json.loads(done.stdout.splitlines()[-1])

    plain = run("")
    assert plain == ["40", "TemplateAssertionError: No filter named 'double'.", "41"]
    assert run(str(tmp_path / "cache")) == plain
    assert run(str(tmp_path / "cache")) == plain  # warm
