#!/bin/sh
# The one step of a service's autoscale pipeline (jenkins/Jenkinsfile): playbooks/autoscale.yml
# for the job's service, with the notification that triggered the build. The lab's Jenkins runs
# exactly this script, with the same variables (docs/jenkins.md).
#
# In: AUTOSCALE_SERVICE (job parameter); AM_PAYLOAD and the other AM_* (Generic Webhook
# Trigger); VM_AUTOSCALE_{VCENTER,F5,PLG}_{USERNAME,PASSWORD} (withCredentials; playbooks/
# autoscale.yml reads them from its environment, so no credential is ever written to a file;
# each optional: without it the inventory's own value is used); VM_AUTOSCALE_VAULT_PASSWORD_FILE
# (withCredentials, optional: the password of the vault id "runtime" only);
# VM_AUTOSCALE_INVENTORY (default inventories/production); AUTOSCALE_TIMEOUT_SECONDS (job
# parameter, default 5400: the longest the run may take; it is stopped after it, and the next run
# repairs what it left); BUILD_TAG, WORKSPACE_TMP (Jenkins).
# Out: the playbook's exit code; autoscale-result/<BUILD_TAG>.json, the run's summary (archived).
set -eu

service="${AUTOSCALE_SERVICE:?the job parameter AUTOSCALE_SERVICE (the service of the job) is not set}"
inventory="${VM_AUTOSCALE_INVENTORY:-inventories/production}"
tag="${BUILD_TAG:-manual-$(date -u +%Y%m%dT%H%M%SZ)}"
limit="${AUTOSCALE_TIMEOUT_SECONDS:-5400}"
case "$limit" in
    ''|*[!0-9]*) echo "autoscale: AUTOSCALE_TIMEOUT_SECONDS is '$limit', expected a whole number of seconds" >&2; exit 2 ;;
esac

umask 077
work=$(mktemp -d "${WORKSPACE_TMP:-${TMPDIR:-/tmp}}/autoscale.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
mkdir -p autoscale-result

# The notification as Alertmanager sent it: a hint, verified in Prometheus by the playbook.
printf '%s' "${AM_PAYLOAD:-}" > "$work/payload.json"

# The credentials Jenkins bound stay in this build's environment, where the playbook reads them:
# never in a file (a killed build would leave it behind), on a command line or in the log.
set -- -i "$inventory" playbooks/autoscale.yml -l "$service" \
    -e "autoscale_payload_file=$work/payload.json" \
    -e "autoscale_run_id=$tag" \
    -e "autoscale_summary_file=$(pwd)/autoscale-result/$tag.json"
if [ -n "${VM_AUTOSCALE_VAULT_PASSWORD_FILE:-}" ]; then
    set -- "$@" --vault-id "runtime@$VM_AUTOSCALE_VAULT_PASSWORD_FILE"
fi

echo "autoscale: service $service, notification ${AM_ALERTNAME:-?} (${AM_STATUS:-?}, fingerprint ${AM_FINGERPRINT:-?}), run $tag, timeout $limit s"
status=0
# SIGTERM to the run's whole process group after the limit, SIGKILL 60 s later when it is still there.
timeout -k 60 "$limit" ansible-playbook "$@" || status=$?
if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
    echo "autoscale: the run of $service took longer than its timeout ($limit s, the job parameter AUTOSCALE_TIMEOUT_SECONDS) and was stopped; its lock expires after the step's limit and the next run repairs what it left (docs/operations.md, A run that dies)" >&2
fi
if [ -s "autoscale-result/$tag.json" ]; then
    echo "autoscale: summary (archived as autoscale-result/$tag.json):"
    cat "autoscale-result/$tag.json"
    echo
fi
exit "$status"
