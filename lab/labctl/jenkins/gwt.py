"""The Generic Webhook Trigger plugin's contract (emulator-spec.md part 2b), without I/O.

Reads the trigger from a job's config.xml, extracts the token from a request, resolves the
variables (header, request, then JSONPath post-content variables, later sources winning),
renders ``regexpFilterText`` (longest variable names first, unresolved names left literal) and
matches it with ``find()`` semantics.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

GWT = "org.jenkinsci.plugins.gwt"
TRIGGER_PATHS = (
    f"triggers/{GWT}.GenericTrigger",  # freestyle
    f"properties/org.jenkinsci.plugins.workflow.job.properties.PipelineTriggersJobProperty/triggers/{GWT}.GenericTrigger",
)


class Unsupported(ValueError):
    """A trigger feature the lab's emulator does not model (recorded, so tests fail on it)."""


@dataclass
class Variable:
    key: str
    value: str = ""
    expression_type: str = "JSONPath"
    regexp_filter: str = ""
    default_value: str | None = None


@dataclass
class Trigger:
    token: str = ""
    token_credential_id: str = ""
    variables: list[Variable] = field(default_factory=list)
    request_variables: list[Variable] = field(default_factory=list)
    header_variables: list[Variable] = field(default_factory=list)
    filter_text: str = ""
    filter_expression: str = ""
    silent_response: bool = False
    override_quiet_period: bool = False
    should_not_flatten: bool = False
    allow_several_triggers_per_build: bool = False


def _text(element: ET.Element, tag: str, default: str = "") -> str:
    child = element.find(tag)
    return default if child is None or child.text is None else child.text


def parse_trigger(root: ET.Element) -> Trigger | None:
    """The GenericTrigger of a job's config.xml, or None when the job has none."""
    element = next((e for e in (root.find(p) for p in TRIGGER_PATHS) if e is not None), None)
    if element is None:
        return None
    trigger = Trigger(
        token=_text(element, "token"),
        token_credential_id=_text(element, "tokenCredentialId"),
        filter_text=_text(element, "regexpFilterText"),
        filter_expression=_text(element, "regexpFilterExpression"),
        silent_response=_text(element, "silentResponse") == "true",
        override_quiet_period=_text(element, "overrideQuietPeriod") == "true",
        should_not_flatten=_text(element, "shouldNotFlattern") == "true",
        allow_several_triggers_per_build=_text(element, "allowSeveralTriggersPerBuild") == "true",
    )
    for item in element.findall(f"genericVariables/{GWT}.GenericVariable"):
        default = item.find("defaultValue")
        trigger.variables.append(
            Variable(
                key=_text(item, "key"),
                value=_text(item, "value"),
                expression_type=_text(item, "expressionType", "JSONPath") or "JSONPath",
                regexp_filter=_text(item, "regexpFilter"),
                default_value=None if default is None else (default.text or ""),
            )
        )
    for item in element.findall(f"genericRequestVariables/{GWT}.GenericRequestVariable"):
        trigger.request_variables.append(Variable(key=_text(item, "key"), regexp_filter=_text(item, "regexpFilter")))
    for item in element.findall(f"genericHeaderVariables/{GWT}.GenericHeaderVariable"):
        trigger.header_variables.append(Variable(key=_text(item, "key"), regexp_filter=_text(item, "regexpFilter")))
    return trigger


def token_from(query: list[tuple[str, str]], headers) -> str | None:
    """Token sources in the plugin's order: ?token=, header token, Authorization: Bearer, X-Gitlab-Token."""
    for key, value in query:
        if key == "token":
            return value
    if headers.get("token") is not None:
        return headers.get("token")
    for value in headers.get_all("Authorization") or []:
        if value.startswith("Bearer "):
            return value[len("Bearer ") :]
    return headers.get("X-Gitlab-Token")


# --- JSONPath (the Jayway subset webhook configurations use) -------------------------------


class PathNotFound(LookupError):
    pass


_TOKEN = re.compile(
    r"""\.\.(?P<deep>[A-Za-z_$][\w$-]*|\*)      # ..name or ..*
      | \.(?P<name>[A-Za-z_$][\w$-]*|\*)        # .name or .*
      | \[\s*(?P<quoted>'[^']*'|"[^"]*")\s*\]   # ['name']
      | \[\s*(?P<index>-?\d+)\s*\]              # [0]
      | \[\s*(?P<star>\*)\s*\]                  # [*]
      | \[\s*(?P<union>-?\d+(?:\s*,\s*-?\d+)+)\s*\]  # [0,1]
      | \[\s*(?P<slice>-?\d*\s*:\s*-?\d*)\s*\]  # [1:3]
    """,
    re.VERBOSE,
)


def _tokens(expression: str) -> list[tuple[str, str]]:
    expression = expression.strip()
    if not expression.startswith("$"):
        raise Unsupported(f"JSONPath must start with $: {expression!r}")
    position, tokens = 1, []
    while position < len(expression):
        match = _TOKEN.match(expression, position)
        if not match:
            raise Unsupported(f"JSONPath syntax not emulated at {expression[position:]!r} in {expression!r}")
        kind = match.lastgroup
        value = match.group(kind)
        if kind == "quoted":
            kind, value = "name", value[1:-1]
        if kind == "name" and value == "*":
            kind = "star"
        tokens.append((kind, value))
        position = match.end()
    return tokens


def _children(node) -> list:
    if isinstance(node, dict):
        return list(node.values())
    if isinstance(node, list):
        return list(node)
    return []


def _descendants(node) -> list:
    found = [node]
    for child in _children(node):
        found.extend(_descendants(child))
    return found


def json_path(document, expression: str):
    """Evaluate ``expression``: a definite path gives its value (PathNotFound if missing), an
    indefinite one (``..``, ``*``, unions, slices) a list of matches, as Jayway does."""
    tokens = _tokens(expression)
    definite = all(kind in ("name", "index") for kind, _value in tokens)
    nodes = [document]
    for kind, value in tokens:
        following = []
        for node in nodes:
            if kind == "name":
                if isinstance(node, dict) and value in node:
                    following.append(node[value])
                elif definite:
                    raise PathNotFound(expression)
            elif kind == "index":
                index = int(value)
                if isinstance(node, list) and -len(node) <= index < len(node):
                    following.append(node[index])
                elif definite:
                    raise PathNotFound(expression)
            elif kind == "star":
                following.extend(_children(node))
            elif kind == "union":
                if isinstance(node, list):
                    following.extend(node[int(i)] for i in value.split(",") if -len(node) <= int(i) < len(node))
            elif kind == "slice":
                if isinstance(node, list):
                    start, _sep, stop = value.partition(":")
                    following.extend(
                        node[slice(int(start) if start.strip() else None, int(stop) if stop.strip() else None)]
                    )
            elif kind == "deep":
                for descendant in _descendants(node):
                    if value == "*":
                        following.extend(_children(descendant))
                    elif isinstance(descendant, dict) and value in descendant:
                        following.append(descendant[value])
        nodes = following
    return nodes[0] if definite else nodes


def _gson(value) -> str:
    """Gson's compact JSON, nulls kept, HTML-escaped as Gson does by default."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    for char, escape in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("=", "\\u003d"), ("'", "\\u0027")):
        text = text.replace(char, escape)
    return text


def _scalar(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _name(key: str) -> str:
    return re.sub(r"[\s-]", "_", key)


def _flatten(key: str, value, regexp_filter: str, out: dict) -> None:
    if isinstance(value, dict):
        for child_key, child in value.items():
            _flatten(f"{key}_{child_key}", child, regexp_filter, out)
    elif isinstance(value, list):
        for index, child in enumerate(value):
            _flatten(f"{key}_{index}", child, regexp_filter, out)
    elif value is not None:
        out[_name(key)] = _filtered(_scalar(value), regexp_filter)


def _filtered(value: str, regexp_filter: str) -> str:
    return re.sub(regexp_filter, "", value) if regexp_filter else value


def resolve(trigger: Trigger, headers: dict[str, list[str]], query: list[tuple[str, str]], body: str) -> dict:
    """The resolved variables, sorted by name (the plugin returns a TreeMap)."""
    resolved: dict[str, str] = {}
    for variable in trigger.header_variables:
        values = headers.get(variable.key.lower(), [])
        name = _name(variable.key.lower())
        for index, value in enumerate(values):
            resolved[f"{name}_{index}"] = _filtered(value, variable.regexp_filter)
        if values:
            resolved[name] = _filtered(values[0], variable.regexp_filter)
    for variable in trigger.request_variables:
        values = [v for k, v in query if k == variable.key]
        for index, value in enumerate(values):
            resolved[_name(f"{variable.key}_{index}")] = _filtered(value, variable.regexp_filter)
        if len(values) == 1:
            resolved[_name(variable.key)] = _filtered(values[0], variable.regexp_filter)
    for variable in trigger.variables:
        resolved.update(_resolve_post_variable(trigger, variable, body))
    return dict(sorted(resolved.items()))


def _resolve_post_variable(trigger: Trigger, variable: Variable, body: str) -> dict:
    if variable.expression_type != "JSONPath":
        raise Unsupported(f"{variable.expression_type} variables are not emulated (variable {variable.key})")
    out: dict[str, str] = {}
    key = _name(variable.key)
    value = None
    if body and variable.value:
        try:
            document = json.loads(body)
            result = json_path(document, variable.value)
        except (ValueError, PathNotFound):
            result = None
        if variable.value.strip() == "$" and result is not None:
            value = body
            if not trigger.should_not_flatten:
                _flatten(variable.key, result, variable.regexp_filter, out)
        elif isinstance(result, (dict, list)):
            value = _gson(result)
            if not trigger.should_not_flatten:
                _flatten(variable.key, result, variable.regexp_filter, out)
        elif result is not None:
            value = _filtered(_scalar(result), variable.regexp_filter)
    if (value is None or value == "") and variable.default_value is not None:
        value = variable.default_value
    if value is not None:
        out[key] = value
    return out


def render(text: str, variables: dict[str, str]) -> str:
    """Replace $name and ${name}, longest names first; unresolved names stay literal."""
    for name in sorted(variables, key=len, reverse=True):
        text = text.replace(f"${{{name}}}", variables[name]).replace(f"${name}", variables[name])
    return text


def matches(trigger: Trigger, variables: dict[str, str]) -> tuple[bool, str]:
    """(whether the job triggers, the rendered filter text)."""
    rendered = render(trigger.filter_text, variables)
    if not rendered and not trigger.filter_expression:
        return True, rendered
    try:
        return re.search(trigger.filter_expression, rendered) is not None, rendered
    except re.error as exc:
        raise Unsupported(
            f"regexpFilterExpression {trigger.filter_expression!r} is not Python-compatible: {exc}"
        ) from exc
