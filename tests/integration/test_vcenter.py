"""community.vmware against the lab's vCenter (vcsim), certificates validated; read back with pyVmomi."""

import ssl

import pytest
from pyVim.connect import Disconnect, SmartConnect
from pyVmomi import vim, vmodl


@pytest.fixture(scope="module")
def vsphere(lab):
    si = SmartConnect(
        host="198.18.0.10",
        port=443,
        user="administrator@vsphere.local",
        pwd=lab.vcenter_password,
        sslContext=ssl.create_default_context(cafile=str(lab.ca)),
    )
    yield si.RetrieveContent()
    Disconnect(si)


def find(content, vimtype, name):
    view = content.viewManager.CreateContainerView(content.rootFolder, [vimtype], True)
    try:
        for obj in view.view:
            try:
                if obj.name == name:
                    return obj
            except vmodl.fault.ManagedObjectNotFound:
                continue  # deleted while we looked (vcsim's views may still list it)
        return None
    finally:
        view.Destroy()


def extra_config(vm) -> dict:
    return {opt.key: opt.value for opt in vm.config.extraConfig}


def test_seeded_inventory_has_the_operators_shape(vsphere):
    datacenter = find(vsphere, vim.Datacenter, "DC-Dana")
    cluster = find(vsphere, vim.ClusterComputeResource, "Cluster-Prod")
    assert datacenter is not None and cluster is not None
    assert len(cluster.host) == 3
    for service, vlan, ips in (
        ("acme-web", 101, ["198.18.1.11", "198.18.1.12"]),
        ("globex-api", 102, ["198.18.2.11", "198.18.2.12"]),
    ):
        portgroup = find(vsphere, vim.dvs.DistributedVirtualPortgroup, f"pg-{service}")
        assert portgroup.config.defaultPortConfig.vlan.vlanId == vlan
        for index, ip in enumerate(ips, start=1):
            vm = find(vsphere, vim.VirtualMachine, f"{service}-{index:02d}")
            assert vm.runtime.powerState == "poweredOn"
            assert vm.parent.name == service
            settings = extra_config(vm)
            assert settings["guestinfo.vm_autoscale.ip"] == ip
            assert settings["guestinfo.vm_autoscale.service"] == service
            nic = next(d for d in vm.config.hardware.device if isinstance(d, vim.vm.device.VirtualEthernetCard))
            assert nic.backing.port.portgroupKey == portgroup.key


VM_INFO = """
- name: Read a VM
  hosts: plg-lab
  gather_facts: false
  tasks:
    - name: Read acme-web-01
      community.vmware.vmware_guest_info:
        hostname: "{{ vcenter_hostname }}"
        username: "{{ vcenter_username }}"
        password: "{{ vcenter_password }}"
        validate_certs: true
        datacenter: "{{ vcenter_datacenter }}"
        name: acme-web-01
"""


def test_vmware_guest_info_reads_a_static_member(run_playbook, vsphere):
    run = run_playbook(VM_INFO)
    assert run.returncode == 0, run.stdout[-3000:]
    instance = run.task("Read acme-web-01")["instance"]
    vm = find(vsphere, vim.VirtualMachine, "acme-web-01")
    assert instance["hw_product_uuid"] == vm.config.uuid
    assert instance["hw_processor_count"] == vm.config.hardware.numCPU == 2
    assert instance["hw_memtotal_mb"] == vm.config.hardware.memoryMB == 2048


def test_a_client_that_does_not_trust_the_lab_ca_is_refused(run_playbook):
    system_store = "/etc/ssl/certs/ca-certificates.crt"
    run = run_playbook(VM_INFO, env={"SSL_CERT_FILE": system_store, "REQUESTS_CA_BUNDLE": system_store})
    assert run.returncode != 0
    assert "CERTIFICATE_VERIFY_FAILED" in run.stdout


def test_wrong_credentials_are_refused(run_playbook):
    run = run_playbook(VM_INFO, "-e", "vcenter_password=not-the-password")
    assert run.returncode != 0
    assert "incorrect user name or password" in run.stdout.lower() or "login failure" in run.stdout.lower()


CLONE = """
- name: Make a template, clone from it with customization, and delete both
  hosts: plg-lab
  gather_facts: false
  module_defaults:
    group/community.vmware.vmware:
      hostname: "{{ vcenter_hostname }}"
      username: "{{ vcenter_username }}"
      password: "{{ vcenter_password }}"
      validate_certs: true
      datacenter: "{{ vcenter_datacenter }}"
  tasks:
    - name: Make a template from a static member
      community.vmware.vmware_guest:
        name: it-template
        template: acme-web-01
        folder: /DC-Dana/vm/acme-web
        cluster: "{{ vcenter_cluster }}"
        datastore: "{{ vcenter_datastore }}"
        is_template: true
        state: present
      when: step == 'clone'

    - name: Clone a VM from the template
      community.vmware.vmware_guest:
        name: it-clone-1
        template: it-template
        folder: /DC-Dana/vm/acme-web
        cluster: "{{ vcenter_cluster }}"
        datastore: "{{ vcenter_datastore }}"
        networks:
          - name: pg-acme-web
            ip: 198.18.1.150
            netmask: 255.255.255.0
            gateway: 198.18.1.1
        customization:
          hostname: it-clone-1
          domain: lab.invalid
        annotation: "service=acme-web created_by=integration-test"
        advanced_settings:
          - key: guestinfo.vm_autoscale.ip
            value: 198.18.1.150
          - key: guestinfo.vm_autoscale.service
            value: acme-web
        state: poweredon
      when: step == 'clone'

    - name: Delete the clone and the template
      community.vmware.vmware_guest:
        name: "{{ item }}"
        state: absent
        force: true
      loop:
        - it-clone-1
        - it-template
      when: step == 'delete'
"""


def test_clone_from_template_with_customization_then_delete(run_playbook, vsphere):
    try:
        run = run_playbook(CLONE, "-e", "step=clone")
        assert run.returncode == 0, run.stdout[-3000:]

        template = find(vsphere, vim.VirtualMachine, "it-template")
        assert template.config.template is True
        clone = find(vsphere, vim.VirtualMachine, "it-clone-1")
        assert clone is not None
        assert clone.runtime.powerState == "poweredOn"
        assert clone.parent.name == "acme-web"
        assert clone.config.annotation == "service=acme-web created_by=integration-test"
        settings = extra_config(clone)
        assert settings["guestinfo.vm_autoscale.ip"] == "198.18.1.150"
        assert settings["guestinfo.vm_autoscale.service"] == "acme-web"
        nic = next(d for d in clone.config.hardware.device if isinstance(d, vim.vm.device.VirtualEthernetCard))
        portgroup = find(vsphere, vim.dvs.DistributedVirtualPortgroup, "pg-acme-web")
        assert nic.backing.port.portgroupKey == portgroup.key

        run = run_playbook(CLONE, "-e", "step=delete")
        assert run.returncode == 0, run.stdout[-3000:]
        assert find(vsphere, vim.VirtualMachine, "it-clone-1") is None
        assert find(vsphere, vim.VirtualMachine, "it-template") is None
        assert find(vsphere, vim.VirtualMachine, "acme-web-01") is not None  # the source is untouched
    finally:
        for name in ("it-clone-1", "it-template"):
            leftover = find(vsphere, vim.VirtualMachine, name)
            if leftover is not None:
                if leftover.runtime.powerState == "poweredOn":
                    leftover.PowerOffVM_Task()
                leftover.Destroy_Task()
