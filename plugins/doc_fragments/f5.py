# Copyright: (c) 2026, Dana Cloud platform team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # How the collection's own F5 modules log in to iControl REST (basic auth, as the vendor
    # modules' provider falls back to; the same environment variables as that provider).
    DOCUMENTATION = r"""
options:
  username:
    description:
      - The iControl REST user (C(f5_username)).
      - If not given, the environment variable E(F5_USER) (or E(ANSIBLE_NET_USERNAME)) is used,
        as by the C(provider) of C(f5networks.f5_modules).
    type: str
    required: true
  password:
    description:
      - Its password (C(f5_password), from the vault).
      - If not given, the environment variable E(F5_PASSWORD) (or E(ANSIBLE_NET_PASSWORD)) is used.
    type: str
    required: true
  validate_certs:
    description:
      - Verify the devices' certificates.
      - If not given, the environment variable E(F5_VALIDATE_CERTS) is used.
    type: bool
    default: true
  ca_path:
    description: CA bundle to verify them with.
    type: path
"""
