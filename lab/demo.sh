#!/usr/bin/env bash
# The main job, run by 'make demo' inside a lab that 'lab/lab run' brought up (and will tear
# down): check every endpoint the autoscaler depends on with the collection's own playbook, then
# onboard the lab's two services (validation, Prometheus, Alertmanager, Grafana) and read back
# what the real Prometheus and Alertmanager loaded. Later issues grow this into the closed-loop
# demo (load rises -> scale-out -> load falls -> scale-in).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

echo
echo "== Running the first playbook against the lab: playbooks/endpoint_check.yml"
echo "   (vCenter login with certificate validation, datacenter and cluster; Prometheus ready"
echo "    and reloadable; Alertmanager ready; the state host's folders)"
echo
ANSIBLE_DISPLAY_SKIPPED_HOSTS=false ansible-playbook -i inventories/lab playbooks/endpoint_check.yml

echo
echo "== Onboarding the lab's services: playbooks/onboard.yml"
echo "   (validate both definitions; per service: Prometheus targets, rules and metrics, an"
echo "    Alertmanager route to its Jenkins webhook; one Grafana dashboard)"
echo
ANSIBLE_DISPLAY_SKIPPED_HOSTS=false ansible-playbook -i inventories/lab playbooks/onboard.yml

echo
echo "== Reading the lab back independently"
python3=.venv/bin/python
"$python3" - <<'PY'
import json, os, ssl, urllib.request
ca = os.environ["SSL_CERT_FILE"]
ctx = ssl.create_default_context(cafile=ca)
def get(url):
    with urllib.request.urlopen(url, context=ctx, timeout=10) as r:
        return json.load(r)
targets = get("https://198.18.0.40:9090/api/v1/targets")["data"]["activeTargets"]
for t in targets:
    print(f"   Prometheus scrapes {t['labels']['job']:<12} {t['scrapeUrl']:<42} health={t['health']}")
for group in get("https://198.18.0.40:9090/api/v1/rules")["data"]["groups"]:
    if group["name"].startswith("vm_autoscale-"):
        alerts = [r["name"] for r in group["rules"] if r["type"] == "alerting"]
        print(f"   Prometheus rule group {group['name']:<24} {len(group['rules'])} rules: {', '.join(alerts)}")
status = get("https://198.18.0.40:9093/api/v2/status")
for route in status["config"]["original"].split("receiver: ")[1:]:
    name = route.split()[0]
    if name.startswith("autoscale-"):
        print(f"   Alertmanager routes to receiver {name}")
print(f"   Alertmanager {status['versionInfo']['version']}, cluster {status['cluster']['status']}, "
      f"uptime since {status['uptime']}")
PY
echo
echo "== Demo finished: the lab works and both services are monitored. It is torn down now."
