"""The lab's vCenter: vcsim built from Debian's govmomi (lab/vcsim/build.sh), seeded to the
operator's shape through the vSphere API itself (pyVmomi), with certificate validation on."""

from __future__ import annotations

import ssl
import subprocess
import time
from pathlib import Path

from pyVim.connect import Disconnect, SmartConnect
from pyVmomi import vim, vmodl

from . import https
from .pki import ServerCert
from .plan import Plan, Service
from .procs import Daemon
from .state import Paths


class SeedError(RuntimeError):
    """Seeding the simulated vCenter failed."""


def build(paths: Paths) -> Path:
    out = paths.build / "vcsim"
    result = subprocess.run(
        [str(paths.repo / "lab" / "vcsim" / "build.sh"), str(out)], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise SeedError(f"building vcsim failed:\n{result.stdout}{result.stderr}")
    return out / "vcsim"


def daemon(plan: Plan, paths: Paths, binary: Path, cert: ServerCert, password_file: Path) -> Daemon:
    vc = plan.vcenter
    listen = f"{vc['address']}:{vc['port']}"
    return Daemon(
        name="vcsim",
        argv=[str(binary)],
        env={
            "VCSIM_LISTEN": listen,
            "VCSIM_CERT": str(cert.cert),
            "VCSIM_KEY": str(cert.key),
            "VCSIM_USERNAME": plan.vsphere["username"],
            "VCSIM_PASSWORD_FILE": str(password_file),
            "VCSIM_CLUSTER_HOSTS": str(plan.vsphere["cluster_hosts"]),
            "VCSIM_METHOD_DELAY": plan.vcsim_method_delay(),
        },
        ready=lambda: https.is_ok(f"https://{listen}/about", paths.pki / "ca.pem"),
        describe=(
            f"https://{listen}/sdk (datacenter {plan.vsphere['datacenter']}, cluster {plan.vsphere['cluster']},"
            f" timing {plan.timing['name']}: clone {plan.timing['clone_seconds']} s,"
            f" power-on {plan.timing['power_on_seconds']} s)"
        ),
    )


def connect(plan: Plan, paths: Paths, password_file: Path):
    context = ssl.create_default_context(cafile=str(paths.pki / "ca.pem"))
    return SmartConnect(
        host=plan.vcenter["address"],
        port=plan.vcenter["port"],
        user=plan.vsphere["username"],
        pwd=password_file.read_text().strip(),
        sslContext=context,
    )


def vm_names(content) -> dict:
    """{name: VM} of every VM and template in vCenter (``content``: a session's RetrieveContent()).

    vcsim 0.24 may still list an object it has just deleted (vcsim-notes.md): those are skipped.
    """
    view = content.viewManager.CreateContainerView(content.rootFolder, [vim.VirtualMachine], True)
    try:
        found = {}
        for vm in view.view:
            try:
                found[vm.name] = vm
            except vmodl.fault.ManagedObjectNotFound:
                continue
        return found
    finally:
        view.Destroy()


def wait_for_task(task, what: str, timeout: float = 60.0) -> object:
    deadline = time.monotonic() + timeout
    while task.info.state in (vim.TaskInfo.State.queued, vim.TaskInfo.State.running):
        if time.monotonic() > deadline:
            raise SeedError(f"{what}: task did not finish in {timeout:.0f}s")
        time.sleep(0.05)
    if task.info.state != vim.TaskInfo.State.success:
        raise SeedError(f"{what}: {task.info.error.msg if task.info.error else task.info.state}")
    return task.info.result


def _only(content, vimtype, what: str):
    view = content.viewManager.CreateContainerView(content.rootFolder, [vimtype], True)
    try:
        found = list(view.view)
    finally:
        view.Destroy()
    if len(found) != 1:
        raise SeedError(f"expected exactly one {what} in the fresh vcsim, found {len(found)}")
    return found[0]


def _add_port_group(dvs, service: Service) -> vim.dvs.DistributedVirtualPortgroup:
    vlan = vim.dvs.VmwareDistributedVirtualSwitch.VlanIdSpec(vlanId=service.vlan, inherited=False)
    spec = vim.dvs.DistributedVirtualPortgroup.ConfigSpec(
        name=service.port_group,
        type="earlyBinding",
        numPorts=32,
        description=f"service network of {service.name} ({service.subnet}, VLAN {service.vlan})",
        defaultPortConfig=vim.dvs.VmwareDistributedVirtualSwitch.VmwarePortConfigPolicy(vlan=vlan),
    )
    wait_for_task(dvs.AddDVPortgroup_Task([spec]), f"create port group {service.port_group}")
    for portgroup in dvs.portgroup:
        if portgroup.name == service.port_group:
            return portgroup
    raise SeedError(f"port group {service.port_group} missing after creation")


def _static_vm_spec(plan: Plan, service: Service, member, portgroup) -> vim.vm.ConfigSpec:
    hw = plan.vsphere["static_vm"]
    datastore = plan.vsphere["datastore"]
    controller = vim.vm.device.VirtualDeviceSpec(
        operation=vim.vm.device.VirtualDeviceSpec.Operation.add,
        device=vim.vm.device.ParaVirtualSCSIController(key=1000, busNumber=0, sharedBus="noSharing"),
    )
    disk = vim.vm.device.VirtualDeviceSpec(
        operation=vim.vm.device.VirtualDeviceSpec.Operation.add,
        fileOperation=vim.vm.device.VirtualDeviceSpec.FileOperation.create,
        device=vim.vm.device.VirtualDisk(
            key=2000,
            controllerKey=1000,
            unitNumber=0,
            capacityInKB=hw["disk_gb"] * 1024 * 1024,
            backing=vim.vm.device.VirtualDisk.FlatVer2BackingInfo(
                diskMode="persistent", thinProvisioned=True, fileName=f"[{datastore}]"
            ),
        ),
    )
    nic = vim.vm.device.VirtualDeviceSpec(
        operation=vim.vm.device.VirtualDeviceSpec.Operation.add,
        device=vim.vm.device.VirtualVmxnet3(
            key=4000,
            addressType="generated",
            backing=vim.vm.device.VirtualEthernetCard.DistributedVirtualPortBackingInfo(
                port=vim.dvs.PortConnection(
                    switchUuid=portgroup.config.distributedVirtualSwitch.uuid, portgroupKey=portgroup.key
                )
            ),
            connectable=vim.vm.device.VirtualDevice.ConnectInfo(startConnected=True, connected=True),
        ),
    )
    return vim.vm.ConfigSpec(
        name=member.name,
        guestId=hw["guest_id"],
        numCPUs=hw["num_cpus"],
        memoryMB=hw["memory_mb"],
        files=vim.vm.FileInfo(vmPathName=f"[{datastore}]"),
        annotation=f"Static member of {service.name} (customer {service.customer}), deployed by the operator.",
        # The guest simulator serves the IP it finds here: vcsim does not run guest customization.
        extraConfig=[
            vim.option.OptionValue(key="guestinfo.vm_autoscale.service", value=service.name),
            vim.option.OptionValue(key="guestinfo.vm_autoscale.ip", value=member.ip),
            vim.option.OptionValue(key="guestinfo.vm_autoscale.role", value="static"),
        ],
        deviceChange=[controller, disk, nic],
    )


def seed(plan: Plan, paths: Paths, password_file: Path) -> dict:
    """Give the bare vcsim the operator's shape. Returns a summary of what was made."""
    si = connect(plan, paths, password_file)
    try:
        content = si.RetrieveContent()
        sphere = plan.vsphere
        datacenter = _only(content, vim.Datacenter, "datacenter")
        wait_for_task(datacenter.Rename_Task(sphere["datacenter"]), "rename the datacenter")
        cluster = _only(content, vim.ClusterComputeResource, "cluster")
        wait_for_task(cluster.Rename_Task(sphere["cluster"]), "rename the cluster")
        dvs = _only(content, vim.DistributedVirtualSwitch, "distributed switch")
        summary: dict = {"datacenter": sphere["datacenter"], "cluster": sphere["cluster"], "services": {}}
        for service in plan.services:
            portgroup = _add_port_group(dvs, service)
            folder = datacenter.vmFolder.CreateFolder(service.name)
            vms = []
            for member in service.static_members:
                spec = _static_vm_spec(plan, service, member, portgroup)
                vm = wait_for_task(
                    folder.CreateVM_Task(config=spec, pool=cluster.resourcePool), f"create VM {member.name}"
                )
                wait_for_task(vm.PowerOnVM_Task(), f"power on VM {member.name}")
                vms.append({"name": member.name, "ip": member.ip})
            summary["services"][service.name] = {
                "port_group": service.port_group,
                "folder": f"/{sphere['datacenter']}/vm/{service.name}",
                "vms": vms,
            }
        return summary
    finally:
        Disconnect(si)
