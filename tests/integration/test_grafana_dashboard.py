"""Every PromQL expression of the Grafana dashboard evaluates without error against the lab's Prometheus."""

import json

import pytest
from conftest import REPO
from labclient import PROMETHEUS, plg, wait_for

DASHBOARD = REPO / "roles" / "grafana_autoscale" / "files" / "vm_autoscale-dashboard.json"
# Grafana's variables and macros, as Grafana would expand them for one service
EXPANSIONS = {"$service": "acme-web", "$__rate_interval": "1m", "${datasource}": ""}


def expressions():
    dashboard = json.loads(DASHBOARD.read_text())
    found = [(panel["title"], target["expr"]) for panel in dashboard["panels"] for target in panel["targets"]]
    found += [(f"annotation {a['name']}", a["expr"]) for a in dashboard["annotations"]["list"]]
    # label_values(metric, label) is Grafana's: it asks Prometheus for the metric's series
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            metric = variable["definition"].split("(", 1)[1].split(",", 1)[0]
            found.append((f"variable {variable['name']}", metric))
    return found


def query(lab, expr):
    return plg("GET", f"{PROMETHEUS}/api/v1/query", params={"query": expr}).json()


@pytest.mark.parametrize(("title", "expr"), expressions(), ids=[item[0] for item in expressions()])
def test_expression_evaluates_without_error(lab, title, expr):
    for name, value in EXPANSIONS.items():
        expr = expr.replace(name, value)
    assert "$" not in expr, f"{title}: unexpanded variable in {expr}"
    answer = query(lab, expr)
    assert answer["status"] == "success", f"{title}: {expr}: {answer.get('error')}"


def test_the_service_variable_lists_the_onboarded_services(onboarded):
    lab = onboarded

    def services():
        result = query(lab, "vm_autoscale_enabled")["data"]["result"]
        return sorted({series["metric"]["service"] for series in result})

    wait_for(lambda: services() == ["acme-web", "globex-api"], 30, "the services' metrics")
