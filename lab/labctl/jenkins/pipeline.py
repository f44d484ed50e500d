"""What the lab's Jenkins runs of a declarative pipeline: its steps, in order, with the post
conditions and the credential bindings that enclose them.

The lab does not run Groovy. It reads the structure of a declarative Jenkinsfile - blocks,
``sh`` steps, ``withCredentials([...]) { }`` around them, ``archiveArtifacts`` and the ``post``
conditions - with a small scanner that knows Groovy's strings and comments, and runs the ``sh``
steps as Jenkins would: main steps in order until one fails, then the post conditions in
Jenkins's order. Anything else (options, agent, timeout, ...) is accepted and has no effect.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field


class PipelineError(Exception):
    """The pipeline uses something the lab cannot run faithfully."""


@dataclass
class Step:
    kind: str  # "sh" or "archive"
    body: str  # the script, or the artifacts pattern
    bindings: list = field(default_factory=list)  # withCredentials bindings around the step
    condition: str | None = None  # the post condition, None for a main step
    allow_empty: bool = False  # archiveArtifacts allowEmptyArchive


# Jenkins runs post conditions in this order (ModelInterpreter / BuildCondition ordinal).
POST_ORDER = ("always", "changed", "fixed", "regression", "aborted", "failure", "success", "unstable",
              "unsuccessful", "cleanup")  # fmt: skip
BINDINGS = {
    "file": ("variable",),
    "string": ("variable",),
    "usernamePassword": ("usernameVariable", "passwordVariable"),
}


def applies(condition: str, result: str) -> bool:
    return (
        condition in ("always", "cleanup")
        or (condition == "success" and result == "SUCCESS")
        or (condition == "failure" and result == "FAILURE")
        or (condition == "unsuccessful" and result != "SUCCESS")
    )


_TOKEN = re.compile(
    r"(?P<comment>//[^\n]*|/\*.*?\*/)"
    r"|(?P<str>'''(?:\\.|(?!''').)*'''|\"\"\"(?:\\.|(?!\"\"\").)*\"\"\"|'(?:\\.|[^'\\\n])*'|\"(?:\\.|[^\"\\\n])*\")"
    r"|(?P<word>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<sym>[{}()\[\],:])"
    r"|(?P<other>\S)",
    re.DOTALL,
)


def _tokens(script: str) -> list[tuple[str, str, str]]:
    """(kind, text, quote) tokens: comments and white space dropped; strings unquoted."""
    out = []
    for match in _TOKEN.finditer(script):
        kind = match.lastgroup
        text = match.group(kind)
        if kind == "comment":
            continue
        if kind == "str":
            quote = text[:3] if text[:3] in ("'''", '"""') else text[0]
            out.append(("str", text[len(quote) : -len(quote)], quote))
        else:
            out.append((kind, text, ""))
    return out


def _matching(tokens: list, start: int, opening: str, closing: str) -> int:
    """Index of the token that closes the one at ``start``."""
    depth = 0
    for index in range(start, len(tokens)):
        kind, text, _quote = tokens[index]
        if kind == "sym" and text == opening:
            depth += 1
        elif kind == "sym" and text == closing:
            depth -= 1
            if depth == 0:
                return index
    raise PipelineError(f"unbalanced {opening}{closing} in the pipeline")


def _named_args(tokens: list) -> dict[str, tuple[str, str]]:
    """``key: 'value'`` pairs of an argument list: {key: (value, quote)}."""
    found = {}
    for index in range(len(tokens) - 2):
        (k1, key, _q), (k2, colon, _q2), (k3, value, quote) = tokens[index : index + 3]
        if k1 == "word" and k2 == "sym" and colon == ":":
            found[key] = (value, quote) if k3 == "str" else (value, "")
    return found


def _bindings(args: list) -> list[dict]:
    bindings = []
    index = 0
    while index < len(args):
        kind, text, _quote = args[index]
        if kind == "word" and text in BINDINGS and index + 1 < len(args) and args[index + 1][1] == "(":
            end = _matching(args, index + 1, "(", ")")
            named = _named_args(args[index + 2 : end])
            if "credentialsId" not in named or any(v not in named for v in BINDINGS[text]):
                raise PipelineError(f"withCredentials {text}(...) needs credentialsId and {', '.join(BINDINGS[text])}")
            bindings.append({"kind": text, "id": named["credentialsId"][0],
                             **{v: named[v][0] for v in BINDINGS[text]}})  # fmt: skip
            index = end
        elif kind == "word" and index + 1 < len(args) and args[index + 1][1] == "(":
            raise PipelineError(f"withCredentials binding {text}(...) is not emulated")
        index += 1
    return bindings


def _script_of(tokens: list, index: int) -> tuple[str, str, int]:
    """The script of the ``sh`` at ``index``: (body, quote, index after the step)."""
    nxt = tokens[index + 1] if index + 1 < len(tokens) else ("", "", "")
    if nxt[0] == "str":
        return nxt[1], nxt[2], index + 2
    if nxt[1] == "(":
        end = _matching(tokens, index + 1, "(", ")")
        inner = tokens[index + 2 : end]
        named = _named_args(inner)
        if "script" in named:
            return named["script"][0], named["script"][1], end + 1
        if inner and inner[0][0] == "str":
            return inner[0][1], inner[0][2], end + 1
    raise PipelineError("an sh step without a literal script is not emulated")


def parse(script: str) -> list[Step]:
    """The steps of a declarative pipeline, in order, with their post condition and bindings."""
    tokens = _tokens(script)
    steps: list[Step] = []
    stack: list[tuple[str, list]] = []  # (block name, its bindings)
    index = 0
    while index < len(tokens):
        kind, text, _quote = tokens[index]
        following = tokens[index + 1][1] if index + 1 < len(tokens) else ""
        if kind == "word" and text == "sh":
            body, quote, index = _script_of(tokens, index)
            if quote in ('"', '"""') and "${" in body:
                raise PipelineError(f"sh step with Groovy interpolation is not emulated: {body[:60]!r}")
            steps.append(Step("sh", body, _active_bindings(stack), _condition(stack)))
            continue
        if kind == "word" and text == "archiveArtifacts":
            end = _matching(tokens, index + 1, "(", ")") if following == "(" else _statement_end(tokens, index)
            args = tokens[index + 1 : end + 1]
            named = _named_args(args)
            pattern = named.get("artifacts", (next((t[1] for t in args if t[0] == "str"), ""), ""))[0]
            allow = named.get("allowEmptyArchive", ("false", ""))[0] == "true"
            steps.append(Step("archive", pattern, [], _condition(stack), allow_empty=allow))
            index = end + 1
            continue
        if kind == "word" and following in ("(", "{"):
            args: list = []
            after = index + 1
            if following == "(":
                close = _matching(tokens, index + 1, "(", ")")
                args = tokens[index + 2 : close]
                after = close + 1
            if after < len(tokens) and tokens[after][1] == "{":
                stack.append((text, _bindings(args) if text == "withCredentials" else []))
                index = after + 1
                continue
            index = after
            continue
        if kind == "sym" and text == "}":
            if stack:
                stack.pop()
        index += 1
    if stack:
        raise PipelineError(f"unbalanced {{}}: block {stack[-1][0]} is not closed")
    if not any(step.kind == "sh" for step in steps):
        raise PipelineError("the pipeline has no sh step the lab could run")
    return steps


def _statement_end(tokens: list, index: int) -> int:
    """The last token of a call without parentheses: ``name 'x'`` or ``name a: 'x', b: true``."""
    if index + 1 < len(tokens) and tokens[index + 1][0] == "str":
        return index + 1
    last, at = index, index + 1
    while at + 2 < len(tokens) and tokens[at][0] == "word" and tokens[at + 1][1] == ":":
        last = at + 2
        if at + 3 < len(tokens) and tokens[at + 3][1] == ",":
            at += 4
        else:
            break
    return last


def _active_bindings(stack: list) -> list:
    return [binding for _name, bindings in stack for binding in bindings]


def _condition(stack: list) -> str | None:
    names = [name for name, _bindings in stack]
    if "post" not in names:
        return None
    position = names.index("post")
    if position + 1 >= len(names) or names[position + 1] not in POST_ORDER:
        raise PipelineError(f"post condition {names[position + 1 : position + 2]} is not emulated")
    return names[position + 1]
