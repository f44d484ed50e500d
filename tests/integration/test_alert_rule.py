"""alert_rule against the lab's real Prometheus: what it writes is what Prometheus loads."""

from labclient import PROMETHEUS, plg

PLAYBOOK = """
- name: Manage a rule group on the PLG host and reload Prometheus when it changes
  hosts: plg
  gather_facts: false
  vars:
    rule_file: "{{ plg_prometheus_config_dir }}/rules/test-alert-rule.yml"
  tasks:
    - name: Rule group
      danacloud.vm_autoscale.alert_rule:
        path: "{{ rule_file }}"
        name: test-alert-rule
        state: "{{ group_state }}"
        interval: 5s
        rules:
          - alert: TestAlertRuleAlwaysFiring
            expr: vector(1) > bool 0
            for: "{{ for_duration }}"
            labels: {service: test-alert-rule, autoscale_action: scale_out}
            annotations: {summary: written by the integration test}
        mode: "0644"
      notify: Reload Prometheus
  handlers:
    - name: Reload Prometheus
      ansible.builtin.uri:
        url: "{{ plg_prometheus_url }}/-/reload"
        method: POST
        url_username: "{{ plg_username }}"
        url_password: "{{ plg_password }}"
        force_basic_auth: true
        ca_path: "{{ vm_autoscale_ca_path }}"
        status_code: 200
"""


def loaded_groups(lab):
    return {group["name"]: group for group in plg("GET", f"{PROMETHEUS}/api/v1/rules").json()["data"]["groups"]}


def test_written_group_is_loaded_updated_and_removed(run_playbook, lab):
    try:
        created = run_playbook(PLAYBOOK, "-e", "group_state=present for_duration=1m")
        assert created.returncode == 0, created.stdout[-3000:]
        assert created.task("Rule group", "plg-lab")["changed"] is True
        group = loaded_groups(lab)["test-alert-rule"]
        assert group["interval"] == 5
        assert group["rules"][0]["name"] == "TestAlertRuleAlwaysFiring"
        assert group["rules"][0]["duration"] == 60
        assert group["rules"][0]["labels"]["autoscale_action"] == "scale_out"

        again = run_playbook(PLAYBOOK, "-e", "group_state=present for_duration=60s")
        assert again.returncode == 0, again.stdout[-3000:]
        assert again.stats["plg-lab"]["changed"] == 0  # same meaning: no write, no reload

        updated = run_playbook(PLAYBOOK, "-e", "group_state=present for_duration=2m")
        assert updated.returncode == 0, updated.stdout[-3000:]
        assert loaded_groups(lab)["test-alert-rule"]["rules"][0]["duration"] == 120
    finally:
        removed = run_playbook(PLAYBOOK, "-e", "group_state=absent for_duration=1m")
    assert removed.returncode == 0, removed.stdout[-3000:]
    assert "test-alert-rule" not in loaded_groups(lab)
