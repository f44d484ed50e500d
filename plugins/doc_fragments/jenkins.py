# Copyright: (c) 2026, Dana Cloud platform team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # How the collection's Jenkins modules reach Jenkins's REST API (module_utils/_jenkins.py
    # CONNECTION_SPEC). The environment variables are those of the Jenkins CLI client.
    DOCUMENTATION = r"""
options:
  url:
    description:
      - Jenkins's URL, for example C(https://jenkins.example.com).
      - If not given, the environment variable E(JENKINS_URL) is used.
    type: str
    required: true
  username:
    description:
      - The Jenkins user the automation runs as.
      - If not given, the environment variable E(JENKINS_USER_ID) is used.
    type: str
    required: true
  api_token:
    description:
      - That user's API token (not its password). No CSRF crumb is needed with it; one is sent anyway.
      - If not given, the environment variable E(JENKINS_API_TOKEN) is used.
    type: str
    required: true
  validate_certs:
    description:
      - Verify Jenkins's certificate.
      - If not given, the environment variable E(JENKINS_VALIDATE_CERTS) is used.
    type: bool
    default: true
  ca_path:
    description: CA bundle to verify it with.
    type: path
  timeout:
    description: Seconds per request.
    type: int
    default: 30
"""
