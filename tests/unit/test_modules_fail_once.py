"""Every module reads the same way (issue 22): its argument spec is a module constant, its helpers
raise ModuleFailure, and main() hands its work to _failure.run, which exits with the result or
fails once - with "Failed to <verb> <object>: <reason>"."""

import ast
from pathlib import Path

import pytest
from ansible_collections.danacloud.vm_autoscale.plugins.module_utils._failure import ModuleFailure

REPO = Path(__file__).resolve().parents[2]
MODULES = sorted((REPO / "plugins" / "modules").glob("*.py"))


def calls(node, name):
    return [
        call
        for call in ast.walk(node)
        if isinstance(call, ast.Call)
        and (getattr(call.func, "attr", None) == name or getattr(call.func, "id", None) == name)
    ]


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.stem)
def test_the_module_has_its_spec_as_a_constant_and_fails_in_main_only(path):
    tree = ast.parse(path.read_text())
    constants = {target.id for node in tree.body if isinstance(node, ast.Assign) for target in node.targets
                 if isinstance(target, ast.Name)}  # fmt: skip
    assert "ARGUMENT_SPEC" in constants
    functions = {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)}
    (module_call,) = calls(functions["main"], "AnsibleModule")
    spec = next(keyword.value for keyword in module_call.keywords if keyword.arg == "argument_spec")
    assert isinstance(spec, ast.Name) and spec.id == "ARGUMENT_SPEC"
    # no helper fails by itself: fail_json and exit_json appear nowhere; main() hands the work to run() once
    assert not calls(tree, "fail_json") and not calls(tree, "exit_json"), path.name
    assert len(calls(functions["main"], "run")) == 1
    assert sum(len(calls(node, "run")) for name, node in functions.items() if name != "main") == 0


def test_a_failure_reads_failed_to_verb_object_reason_and_carries_its_result():
    exc = ModuleFailure("read pool web", "bigip-b cannot be reached", stats={"bigip-a": None})
    assert str(exc) == "Failed to read pool web: bigip-b cannot be reached"
    assert exc.result == {"stats": {"bigip-a": None}}
