"""The Generic Webhook Trigger rules the Jenkins emulator implements (emulator-spec.md 2b)."""

import json
from email.message import Message

import pytest
from labctl.jenkins import gwt

PAYLOAD = {
    "status": "firing",
    "commonLabels": {"service": "acme-web"},
    "n": 5,
    "f": 1.5,
    "ok": True,
    "alerts": [{"labels": {"alertname": "A"}}, {"labels": {"alertname": "B"}}],
}


def trigger(**kwargs) -> gwt.Trigger:
    return gwt.Trigger(token="t", **kwargs)


def resolve(variables, **kwargs) -> dict:
    return gwt.resolve(trigger(variables=variables, **kwargs), {}, [], json.dumps(PAYLOAD))


def test_scalars_are_stringified_as_gson_does():
    variables = [
        gwt.Variable("status", "$.status"),
        gwt.Variable("n", "$.n"),
        gwt.Variable("f", "$.f"),
        gwt.Variable("ok", "$.ok"),
        gwt.Variable("svc", "$.commonLabels.service"),
    ]
    assert resolve(variables) == {"f": "1.5", "n": "5", "ok": "true", "status": "firing", "svc": "acme-web"}


def test_objects_are_flattened_and_kept_as_compact_json():
    resolved = resolve([gwt.Variable("labels", "$.commonLabels")])
    assert resolved == {"labels": '{"service":"acme-web"}', "labels_service": "acme-web"}


def test_indefinite_paths_give_arrays_and_dollar_gives_the_raw_body():
    assert resolve([gwt.Variable("names", "$.alerts[*].labels.alertname")])["names"] == '["A","B"]'
    assert resolve([gwt.Variable("missing", "$..nothing")])["missing"] == "[]"
    raw = json.dumps(PAYLOAD)
    assert resolve([gwt.Variable("body", "$")], should_not_flatten=True) == {"body": raw}


def test_missing_paths_fall_back_to_a_default_only_when_one_is_configured():
    assert resolve([gwt.Variable("x", "$.absent")]) == {}
    assert resolve([gwt.Variable("x", "$.absent", default_value="")]) == {"x": ""}
    assert resolve([gwt.Variable("x", "$.absent", default_value="d")]) == {"x": "d"}


def test_the_regexp_filter_removes_matches():
    assert resolve([gwt.Variable("svc", "$.commonLabels.service", regexp_filter="-web$")]) == {"svc": "acme"}


def test_render_replaces_longest_names_first_and_leaves_unknown_literal():
    assert gwt.render("$ref $ref_0 ${ref} $other", {"ref": "main", "ref_0": "zero"}) == "main zero main $other"


@pytest.mark.parametrize(
    ("text", "expression", "expected"),
    [
        ("firing", "^firing$", True),
        ("resolved", "^firing$", False),
        ("", "", True),
        ("xfiringx", "firing", True),
        ("anything", "", True),
        ("", "^$", True),
        ("", "a", False),
    ],
)
def test_filter_uses_find_semantics(text, expression, expected):
    t = trigger(filter_text=text, filter_expression=expression)
    assert gwt.matches(t, {})[0] is expected


def test_token_sources_in_the_plugins_order():
    headers = Message()
    headers["Authorization"] = "Bearer from-bearer"
    headers["token"] = "from-header"
    assert gwt.token_from([("token", "from-query")], headers) == "from-query"
    assert gwt.token_from([], headers) == "from-header"
    del headers["token"]
    assert gwt.token_from([], headers) == "from-bearer"


def test_unsupported_jsonpath_is_refused_not_guessed():
    with pytest.raises(gwt.Unsupported):
        gwt.json_path(PAYLOAD, "$.alerts[?(@.x)]")
