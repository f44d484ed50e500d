"""The services' webhook tokens: each service its own, header-safe and long; never shown in a message."""

import pytest
from ansible_collections.danacloud.vm_autoscale.plugins.module_utils import _monitoring

GOOD = {"acme-web": "a" * 16 + "1", "globex-api": "B2-._~+/=" + "x" * 20, "blog": "", "wiki": None}


def test_distinct_header_safe_tokens_and_services_without_one_pass():
    assert _monitoring.token_problems(GOOD) == []


@pytest.mark.parametrize(
    "bad",
    ["short", "x" * 257, "has space" * 3, 'quote"' * 4, "line\nbreak" * 3, "ünïcode" * 4, 12345678901234567, ["t"]],
    ids=["short", "long", "space", "quote", "newline", "unicode", "number", "list"],
)
def test_a_token_that_is_not_a_long_header_safe_string_is_named_not_shown(bad):
    (problem,) = _monitoring.token_problems({**GOOD, "acme-web": bad})
    assert problem["service"] == "acme-web" and problem["field"] == "jenkins_webhook_token"
    assert "must be 16 to 256 letters, digits or ._~+/=-" in problem["message"]
    assert str(bad) not in problem["message"]


def test_a_shared_token_names_every_service_that_shares_it_in_scope_of_any():
    shared = "s" * 32
    tokens = {**GOOD, "acme-web": shared, "globex-api": shared, "initech-app": shared}
    (problem,) = _monitoring.token_problems(tokens, scope=["initech-app"])
    assert problem["message"].startswith("services acme-web, globex-api, initech-app share one jenkins_webhook_token")
    assert shared not in problem["message"] and problem["in_scope"] is True
    assert _monitoring.token_problems(tokens, scope=["blog"])[0]["in_scope"] is False
    with pytest.raises(ValueError, match="share one jenkins_webhook_token"):
        _monitoring.token_files(list(tokens), list(tokens.values()), "/tmp/secrets")
