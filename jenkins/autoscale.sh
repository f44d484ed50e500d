#!/bin/sh
# The one step of a service's autoscale pipeline (jenkins/Jenkinsfile): playbooks/autoscale.yml
# for the job's service, with the notification that triggered the build. The lab's Jenkins runs
# exactly this script, with the same variables (docs/jenkins.md).
#
# In: AUTOSCALE_SERVICE (job parameter); AM_PAYLOAD and the other AM_* (Generic Webhook
# Trigger); VM_AUTOSCALE_VAULT_PASSWORD_FILE, VM_AUTOSCALE_{VCENTER,F5}_{USERNAME,PASSWORD}
# (withCredentials; each optional: without it the inventory's own value is used);
# VM_AUTOSCALE_INVENTORY (default inventories/production); BUILD_TAG, WORKSPACE_TMP (Jenkins).
# Out: the playbook's exit code; autoscale-result/<BUILD_TAG>.json, the run's summary (archived).
set -eu

service="${AUTOSCALE_SERVICE:?the job parameter AUTOSCALE_SERVICE (the service of the job) is not set}"
inventory="${VM_AUTOSCALE_INVENTORY:-inventories/production}"
tag="${BUILD_TAG:-manual-$(date -u +%Y%m%dT%H%M%SZ)}"
python="${VM_AUTOSCALE_PYTHON:-python3}"

umask 077
work=$(mktemp -d "${WORKSPACE_TMP:-${TMPDIR:-/tmp}}/autoscale.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
mkdir -p autoscale-result

# The notification as Alertmanager sent it: a hint, verified in Prometheus by the playbook.
printf '%s' "${AM_PAYLOAD:-}" > "$work/payload.json"

# Credentials from Jenkins go to the playbook as extra variables in a file only this build can
# read - never on a command line, never in the log.
"$python" - "$work/credentials.json" <<'PY'
import json, os, sys
names = {"vcenter_username": "VM_AUTOSCALE_VCENTER_USERNAME", "vcenter_password": "VM_AUTOSCALE_VCENTER_PASSWORD",
         "f5_username": "VM_AUTOSCALE_F5_USERNAME", "f5_password": "VM_AUTOSCALE_F5_PASSWORD"}
values = {var: os.environ[env] for var, env in names.items() if os.environ.get(env)}
with open(sys.argv[1], "w") as handle:
    json.dump(values, handle)
PY

set -- -i "$inventory" playbooks/autoscale.yml -l "$service" \
    -e "autoscale_payload_file=$work/payload.json" \
    -e "autoscale_run_id=$tag" \
    -e "autoscale_summary_file=$(pwd)/autoscale-result/$tag.json" \
    -e "@$work/credentials.json"
if [ -n "${VM_AUTOSCALE_VAULT_PASSWORD_FILE:-}" ]; then
    set -- "$@" --vault-password-file "$VM_AUTOSCALE_VAULT_PASSWORD_FILE"
fi

echo "autoscale: service $service, notification ${AM_ALERTNAME:-?} (${AM_STATUS:-?}, fingerprint ${AM_FINGERPRINT:-?}), run $tag"
status=0
ansible-playbook "$@" || status=$?
if [ -s "autoscale-result/$tag.json" ]; then
    echo "autoscale: summary (archived as autoscale-result/$tag.json):"
    cat "autoscale-result/$tag.json"
    echo
fi
exit "$status"
