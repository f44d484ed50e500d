"""The AWX job templates (playbooks/vars/awx_job_templates.yml, made by playbooks/awx_setup.yml)
against the playbooks they run: every survey question is an input the playbook takes - a play
variable, or an option of the argument spec of a role the playbook uses - with a compatible type
and choices; what a playbook refuses to run without is a required question; and the survey specs
are what AWX accepts."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from playbook_tasks import tasks

REPO = Path(__file__).resolve().parents[2]
TEMPLATES = yaml.safe_load((REPO / "playbooks" / "vars" / "awx_job_templates.yml").read_text())["awx_job_templates"]
AWX_TYPES = {"text", "textarea", "password", "integer", "float", "multiplechoice", "multiselect"}
# AWX survey type -> the argument spec types it can feed (AWX passes multiplechoice answers as
# strings: a bool option takes "true"/"false", which Ansible's argument spec converts).
COMPATIBLE = {
    "text": {"str", "path", "raw"},
    "textarea": {"str", "raw"},
    "integer": {"int", "raw"},
    "float": {"float", "raw"},
    "multiplechoice": {"str", "bool", "raw"},
    "multiselect": {"list", "raw"},
}


def _role_inputs(name: str, entry: str) -> dict:
    role = name.rsplit(".", 1)[-1]
    specs = yaml.safe_load((REPO / "roles" / role / "meta" / "argument_specs.yml").read_text())["argument_specs"]
    return specs.get(entry, specs["main"]).get("options", {})


def playbook_inputs(path: Path) -> tuple[dict, dict, set]:
    """(play variables with their defaults, role options with their specs, play variables the playbook
    refuses to run without) of a playbook."""
    plays = yaml.safe_load(path.read_text())
    play_vars, options, mandatory, allowed = {}, {}, set(), {}
    for play in plays:
        play_vars.update(play.get("vars") or {})
        for role in play.get("roles") or []:
            options.update(_role_inputs(role["role"] if isinstance(role, dict) else role, "main"))
        for task in tasks((play.get("pre_tasks") or []) + (play.get("tasks") or [])):
            for action in ("ansible.builtin.include_role", "ansible.builtin.import_role"):
                if action in task:
                    options.update(_role_inputs(task[action]["name"], task[action].get("tasks_from", "main")))
            checks = task.get("ansible.builtin.assert", {}).get("that", [])
            for check in [checks] if isinstance(checks, str) else checks:
                mandatory.update(re.findall(r"^(\w+) \| length > 0$", check.strip()))
                for variable, choices in re.findall(r"^(\w+) in (\[.*\])$", check.strip()):
                    allowed[variable] = {c for c in yaml.safe_load(choices) if c != ""}
    return play_vars, options, {v for v in mandatory if v in play_vars}, allowed


def test_the_planners_screens_are_all_there():
    names = {t["playbook"] for t in TEMPLATES}
    wanted = {"create_template", "onboard", "scale_out", "scale_in", "reconcile", "events"}
    assert {f"playbooks/{n}.yml" for n in wanted} <= names
    assert len({t["name"] for t in TEMPLATES}) == len(TEMPLATES)


@pytest.mark.parametrize("template", TEMPLATES, ids=[t["name"] for t in TEMPLATES])
def test_every_survey_question_is_an_input_of_its_playbook(template):
    path = REPO / template["playbook"]
    assert path.is_file(), f"{template['name']}: no playbook {template['playbook']}"
    play_vars, options, mandatory, allowed = playbook_inputs(path)
    asked = {q["variable"]: q for q in template["survey"]}
    assert len(asked) == len(template["survey"]), f"{template['name']}: a variable is asked twice"
    for variable, question in asked.items():
        where = f"{template['name']}: {variable}"
        if variable in options:
            spec = options[variable]
            kind = spec.get("type", "str")
            assert kind in COMPATIBLE[question["type"]], f"{where}: survey type {question['type']} for a {kind} option"
            if kind == "bool":
                assert set(question["choices"]) == {"true", "false"}, where
            elif spec.get("choices"):
                assert set(question["choices"]) <= set(spec["choices"]), f"{where}: choices beyond {spec['choices']}"
        else:
            assert variable in play_vars, (
                f"{where}: neither a play variable nor a role option of {template['playbook']}"
            )
            default = play_vars[variable]
            expected = {list: {"multiselect"}, int: {"integer"}, str: {"text", "textarea", "multiplechoice"}}
            assert question["type"] in expected[type(default)], (
                f"{where}: survey type {question['type']} for {default!r}"
            )
            if variable in allowed:
                assert set(question["choices"]) <= allowed[variable], (
                    f"{where}: the playbook accepts {allowed[variable]}"
                )
    for variable in mandatory:
        assert variable in asked and asked[variable]["required"], (
            f"{template['name']}: {variable} must be asked, required"
        )


@pytest.mark.parametrize("template", TEMPLATES, ids=[t["name"] for t in TEMPLATES])
def test_the_survey_spec_is_what_awx_accepts(template):
    for question in template["survey"]:
        where = f"{template['name']}: {question.get('variable')}"
        assert {"question_name", "variable", "type", "required"} <= set(question), where
        assert question["type"] in AWX_TYPES, where
        assert re.fullmatch(r"[A-Za-z_]\w*", question["variable"]), where
        assert question["type"] != "password", f"{where}: secrets belong in AWX credentials, not surveys"
        if question["type"] in ("multiplechoice", "multiselect"):
            assert question.get("choices") and all(isinstance(c, str) for c in question["choices"]), where
            if question.get("default"):
                assert set(str(question["default"]).split("\n")) <= set(question["choices"]), where
        if question["type"] == "integer":
            assert question["min"] <= question["default"] <= question["max"], where


@pytest.mark.parametrize(
    "template", [t for t in TEMPLATES if t.get("extra_vars")], ids=[t["name"] for t in TEMPLATES if t.get("extra_vars")]
)
def test_fixed_extra_vars_are_inputs_of_their_playbook(template):
    """The scheduled reconcile's fixed variables: each one a play variable or a role option, of the right type."""
    play_vars, options, _mandatory, _allowed = playbook_inputs(REPO / template["playbook"])
    for variable, value in template["extra_vars"].items():
        where = f"{template['name']}: {variable}"
        if variable in options:
            kind = options[variable].get("type", "str")
            assert kind == "raw" or isinstance(value, {"bool": bool, "str": str, "int": int}[kind]), where
        else:
            assert variable in play_vars and isinstance(value, type(play_vars[variable])), where


def test_the_scheduled_reconcile_fixes_as_the_inventory_says_and_turns_red_on_drift():
    (scheduled,) = [t for t in TEMPLATES if t["name"] == "vm_autoscale - scheduled reconcile"]
    assert scheduled["playbook"] == "playbooks/reconcile.yml" and scheduled["survey"] == []
    assert scheduled["extra_vars"] == {"reconcile_fix_from_inventory": True, "reconcile_fail_on_drift": True,
                                       "vm_autoscale_several_services": True}  # fmt: skip
    setup = yaml.safe_load((REPO / "playbooks" / "awx_setup.yml").read_text())[0]
    (schedule,) = [t for t in setup["tasks"] if "awx.awx.schedule" in t]
    assert schedule["awx.awx.schedule"]["unified_job_template"] == scheduled["name"]
    assert "RRULE:FREQ=MINUTELY;INTERVAL=15" in setup["vars"]["awx_reconcile_rrule"]
