"""What ansible-builder puts into an AWX execution environment for this collection: it builds and
installs the collection as AWX would get it, then asks ansible-builder's own introspection (the
step that runs inside the image build) which Python and system packages the collection declares
through meta/execution-environment.yml, requirements.txt and bindep.txt."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
# The execution environment's base image brings ansible-core (and with it PyYAML); the vendor
# collections come through galaxy.yml's dependencies. ansible-builder's --sanitize drops these.
FROM_THE_BASE_IMAGE = {"ansible", "ansible-core", "pyyaml"}


def _names(lines: list[str]) -> set[str]:
    names = (line.split("#")[0].split("==")[0].split("[")[0].strip().lower() for line in lines)
    return {name for name in names if name}


def test_ansible_builder_finds_every_runtime_dependency(tmp_path):
    subprocess.run([BIN / "ansible-galaxy", "collection", "build", REPO, "--output-path", tmp_path],
                   check=True, capture_output=True)  # fmt: skip
    (tarball,) = tmp_path.glob("danacloud-vm_autoscale-*.tar.gz")
    # --force, and away from the checkout: its ansible.cfg makes the collection "already installed".
    subprocess.run([BIN / "ansible-galaxy", "collection", "install", "--no-deps", "--force", "-p", tmp_path / "collections",
                    tarball], check=True, capture_output=True, cwd=tmp_path)  # fmt: skip
    answer = subprocess.run([BIN / "ansible-builder", "introspect", "--sanitize", tmp_path / "collections"],
                            check=True, capture_output=True, text=True).stdout  # fmt: skip
    found = yaml.safe_load(answer.split("\n", 1)[1])
    wanted = _names((REPO / "requirements.txt").read_text().splitlines()) - FROM_THE_BASE_IMAGE
    assert _names(found["python"]) == wanted
    assert all("from collection danacloud.vm_autoscale" in line for line in found["python"] + found["system"])
    system = [line.split("#")[0].strip() for line in found["system"]]
    assert "iputils-ping [platform:dpkg]" in system and "iputils [platform:rpm]" in system
    manifest = tmp_path / "collections" / "ansible_collections" / "danacloud" / "vm_autoscale" / "MANIFEST.json"
    dependencies = yaml.safe_load(manifest.read_text())["collection_info"]["dependencies"]
    assert {"community.vmware", "f5networks.f5_modules", "ansible.utils", "vmware.vmware"} <= set(dependencies)
