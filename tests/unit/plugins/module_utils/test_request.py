"""_request: what a notification asks, and the verify query, for well-formed and forged payloads.

The forged payloads come in classes (PromQL injection, label mismatch, encodings, sizes, shapes);
each class is generated over several values, and every case must ask for nothing with a reason
that quotes the outside value safely (one escaped line, bounded length).
"""

import json

import pytest
from ansible_collections.danacloud.vm_autoscale.plugins.module_utils import _request, _rules

SERVICE = "acme-web"


def alert(**overrides):
    labels = {"alertname": "VmAutoscaleScaleOut", "service": SERVICE, "vm_autoscale": "action",
              "autoscale_action": "scale_out", "severity": "info"}  # fmt: skip
    labels.update(overrides.pop("labels", {}))
    body = {"status": "firing", "labels": labels, "annotations": {}, "startsAt": "2026-11-22T10:00:00.123456789Z",
            "fingerprint": "0123456789abcdef"}  # fmt: skip
    body.update(overrides)
    return body


def notification(*alerts, status="firing"):
    return {"version": "4", "status": status, "receiver": "autoscale-acme-web", "alerts": list(alerts)}


def test_a_genuine_notification_asks_its_action():
    asked = _request.request(notification(alert()), SERVICE)
    assert asked == {"action": "scale_out", "alertname": "VmAutoscaleScaleOut", "fingerprint": "0123456789abcdef",
                     "starts_at": "2026-11-22T10:00:00.123456789Z", "reason": ""}  # fmt: skip
    scale_in = alert(labels={"alertname": "VmAutoscaleScaleIn", "autoscale_action": "scale_in"})
    assert _request.request(json.dumps(notification(scale_in)), SERVICE)["action"] == "scale_in"
    # both in one notification: scale-out first
    assert _request.request(notification(scale_in, alert()), SERVICE)["action"] == "scale_out"
    # extra labels (external labels, severity) are not read, whatever they hold
    noisy = alert(labels={"prometheus": 'x"} or vector(1)', "note": "\n\u202e"})
    assert _request.request(notification(noisy), SERVICE)["action"] == "scale_out"


INJECTIONS = [
    'VmAutoscaleScaleOut"} or vector(1) #',
    'VmAutoscaleScaleOut",alertstate=~".*',
    "VmAutoscaleScaleOut} or on() vector(1)",
    "VmAutoscaleScaleOut\n",
    "VmAutoscaleScaleOut # comment",
    "VmAutoscale\u0053caleOut\u200b",
    "VmAutoscaleScaleOut\u0000",
    "Vm\\AutoscaleScaleOut",
    "A" * 101,
    "",
    "1VmAutoscaleScaleOut",
]
SERVICES = ['acme-web"} or vector(1)', "acme-web\n", "ACME-WEB", "acme-web ", "acme\u2010web", "a" * 200, "-acme", ""]
ACTIONS = ["scale_out\n", "scale_out'", "SCALE_OUT", "scale_out;rm -rf /", "x" * 40]
FINGERPRINTS = ['0123"}', "../../etc/passwd", "g" * 16, "0" * 33]
STARTS = ["2026-11-22T10:00:00Z; drop", "yesterday", "2026-11-22T10:00:00Z\n"]
NON_STRINGS = [None, 1, 1.5, True, [], {}, ["VmAutoscaleScaleOut"]]


def forged_cases():
    for value in INJECTIONS:
        yield "alertname", notification(alert(labels={"alertname": value})), "alertname"
    for value in SERVICES:
        yield "service", notification(alert(labels={"service": value})), "service"
        # the service's own alert beside a forged one: the whole notification is refused
        yield "service+genuine", notification(alert(), alert(labels={"service": value})), "service"
    for value in ACTIONS:
        yield "autoscale_action", notification(alert(labels={"autoscale_action": value})), "autoscale_action"
    for value in FINGERPRINTS:
        yield "fingerprint", notification(alert(fingerprint=value)), "fingerprint"
    for value in STARTS:
        yield "startsAt", notification(alert(startsAt=value)), "startsAt"
    for value in NON_STRINGS:
        yield "non-string alertname", notification(alert(labels={"alertname": value})), "alertname"
        yield "non-string service", notification(alert(labels={"service": value})), "service"
        yield "non-string status", notification(alert(status=value)), "status"
    yield "status", notification(alert(status="FIRING")), "status"
    yield "status", notification(alert(status="firing\n")), "status"


@pytest.mark.parametrize(("kind", "payload", "field"), list(forged_cases()))
def test_malformed_label_values_refuse_the_whole_notification(kind, payload, field):
    asked = _request.request(payload, SERVICE)
    assert asked["action"] == "" and asked["alertname"] == "", kind
    assert field in asked["reason"] and "refused" in asked["reason"], asked["reason"]
    assert "\n" not in asked["reason"] and len(asked["reason"]) < 250 and asked["reason"].isascii()


MISLABELLED = [
    # an operator alert carrying action labels
    alert(labels={"alertname": "VmAutoscaleSuspended"}),
    alert(labels={"alertname": "VmAutoscaleActionFailed", "autoscale_action": "scale_in"}),
    alert(labels={"alertname": "NodeDown"}),
    # the scale-out alert asked as a scale-in, and the reverse
    alert(labels={"autoscale_action": "scale_in"}),
    alert(labels={"alertname": "VmAutoscaleScaleIn", "autoscale_action": "scale_out"}),
]


@pytest.mark.parametrize("forged", MISLABELLED)
def test_an_alert_not_named_as_the_services_rules_name_the_action_is_refused(forged):
    asked = _request.request(notification(forged), SERVICE)
    assert asked["action"] == ""
    assert "mislabelled or forged" in asked["reason"]
    # also when the genuine alert travels with it
    assert _request.request(notification(alert(), forged), SERVICE)["action"] == ""


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ("not json {", "not JSON"),
        ("[]", "no alerts list"),
        ({"alerts": "all"}, "no alerts list"),
        ({"alerts": [1]}, "has no labels"),
        ({"alerts": [{"labels": "x"}]}, "has no labels"),
        (" " * (_request.MAX_PAYLOAD_BYTES + 1), "larger than"),
        ({"alerts": [alert()] * (_request.MAX_ALERTS + 1)}, "more than"),
        (notification(alert(labels={"service": "globex-api"})), "no alert of service acme-web"),
        (notification(alert(labels={"vm_autoscale": "operator"})), "not scale actions"),
        (notification(alert(status="resolved")), "resolved notification"),
        (notification(alert(labels={"autoscale_action": "scale_up"})), "unknown autoscale_action"),
        (notification(), "it is about nothing"),
    ],
)
def test_notifications_that_ask_nothing_say_why(payload, reason):
    asked = _request.request(payload, SERVICE)
    assert asked["action"] == "" and reason in asked["reason"]


def test_the_verify_query_holds_only_our_names():
    query = _request.verify_query(SERVICE, "scale_in")
    assert query == (
        'ALERTS{alertname="VmAutoscaleScaleIn",service="acme-web",vm_autoscale="action",'
        'autoscale_action="scale_in",alertstate="firing"}'
    )
    assert _rules.ACTION_ALERTS["scale_out"] in _request.verify_query(SERVICE, "scale_out")
    for service, action in [('a"}', "scale_out"), (SERVICE, "scale_out\n"), (SERVICE, "delete")]:
        with pytest.raises(ValueError):
            _request.verify_query(service, action)


def series(**overrides):
    metric = {"__name__": "ALERTS", "alertname": "VmAutoscaleScaleOut", "service": SERVICE, "vm_autoscale": "action",
              "autoscale_action": "scale_out", "alertstate": "firing", "severity": "info"}  # fmt: skip
    metric.update(overrides)
    return {"metric": metric, "value": [1700000000, "1"]}


@pytest.mark.parametrize(
    ("answer", "firing"),
    [
        ({"status": "success", "data": {"resultType": "vector", "result": [series()]}}, True),
        ({"status": "success", "data": {"resultType": "vector", "result": []}}, False),
        ({"status": "success", "data": {"result": [series(alertstate="pending")]}}, False),
        ({"status": "success", "data": {"result": [series(service="globex-api")]}}, False),
        ({"status": "success", "data": {"result": [series(autoscale_action="scale_in")]}}, False),
        ({"status": "success", "data": {"result": [{"metric": {}, "value": [0, "1"]}]}}, False),
        ({"status": "error", "data": {"result": [series()]}}, False),
        ({"status": "success", "data": {"result": "x"}}, False),
        ("<html>", False),
        (None, False),
    ],
)
def test_only_a_series_with_exactly_the_asked_labels_confirms(answer, firing):
    verdict = _request.verify(answer, SERVICE, "scale_out")
    assert verdict["firing"] is firing
    assert bool(verdict["reason"]) is not firing


def test_shown_is_one_bounded_ascii_line():
    text = _request.shown("a\nb\u202e" + "x" * 500)
    assert "\n" not in text and text.isascii() and len(text) <= 60
