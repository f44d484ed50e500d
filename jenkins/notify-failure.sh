#!/bin/sh
# The pipeline's failure post step (jenkins/Jenkinsfile): raise the operator alert
# VmAutoscalePipelineFailed in Alertmanager, which routes it (vm_autoscale="operator") to the
# operator's receiver - the same channel as the collection's other operator alerts.
#
# In: VM_AUTOSCALE_ALERTMANAGER_URL (unset: only the build log says it), AUTOSCALE_SERVICE,
# BUILD_URL, BUILD_TAG; VM_AUTOSCALE_PLG_{USERNAME,PASSWORD} (withCredentials: Alertmanager's API
# user, sent as basic auth; unset: no auth); the CA bundle from SSL_CERT_FILE when Alertmanager's
# certificate needs one.
set -eu
if [ -z "${VM_AUTOSCALE_ALERTMANAGER_URL:-}" ]; then
    echo "notify-failure: VM_AUTOSCALE_ALERTMANAGER_URL is not set on this agent; no operator alert sent"
    exit 0
fi
"${VM_AUTOSCALE_PYTHON:-python3}" - <<'PY'
import base64, datetime, json, os, ssl, urllib.request
service = os.environ.get("AUTOSCALE_SERVICE", "unknown")
now = datetime.datetime.now(datetime.timezone.utc)
alert = [{
    "labels": {"alertname": "VmAutoscalePipelineFailed", "service": service, "vm_autoscale": "operator",
               "severity": "warning"},
    "annotations": {"summary": f"The autoscale pipeline of {service} failed ({os.environ.get('BUILD_TAG', '?')})",
                    "description": "See the build log and the service's event log (playbooks/events.yml).",
                    "build_url": os.environ.get("BUILD_URL", "")},
    "startsAt": now.isoformat(), "endsAt": (now + datetime.timedelta(hours=1)).isoformat(),
}]
headers = {"Content-Type": "application/json"}
if os.environ.get("VM_AUTOSCALE_PLG_USERNAME"):
    user = f"{os.environ['VM_AUTOSCALE_PLG_USERNAME']}:{os.environ.get('VM_AUTOSCALE_PLG_PASSWORD', '')}"
    headers["Authorization"] = "Basic " + base64.b64encode(user.encode()).decode()
request = urllib.request.Request(os.environ["VM_AUTOSCALE_ALERTMANAGER_URL"].rstrip("/") + "/api/v2/alerts",
                                 data=json.dumps(alert).encode(), headers=headers)
with urllib.request.urlopen(request, timeout=10, context=ssl.create_default_context()) as response:
    print(f"notify-failure: operator alert VmAutoscalePipelineFailed sent for {service} ({response.status})")
PY
