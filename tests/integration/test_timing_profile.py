"""The timing profile reaches vCenter: the lab's vcsim build holds the delayed vSphere methods.

The lab under test runs the fast profile. This test starts a second vcsim of the same build, on
127.0.0.1 inside the lab's namespace with a certificate of the lab CA, with the method delays
the lab derives from a profile (``Plan.vcsim_method_delay``), and times a real clone and a real
power-on through pyVmomi. It asserts lower bounds only: a call can be slower on a busy machine,
never faster than its delay. The process is stopped by its PID, also on failure.
"""

import socket
import ssl
import subprocess
import time

from labclient import PATHS, wait_for
from labctl.pki import LabCA
from labctl.plan import load_plan
from pyVim.connect import Disconnect, SmartConnect
from pyVim.task import WaitForTask
from pyVmomi import vim

CLONE_MS, POWER_ON_MS = 1500, 1000


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def timed(call):
    started = time.monotonic()
    WaitForTask(call())
    return time.monotonic() - started


def test_a_profiles_clone_and_power_on_take_their_time_in_vcsim(tmp_path, monkeypatch):
    monkeypatch.setenv("VM_AUTOSCALE_LAB_TIMING", "production")
    assert load_plan().vcsim_method_delay().startswith("CloneVM_Task:")  # what the lab hands to vcsim
    cert = LabCA(PATHS.pki).issue("vcsim-timing-test", ["localhost"], ["127.0.0.1"])
    password = tmp_path / "password"
    password.write_text("timing-test-password")
    port = free_port()
    env = {
        "VCSIM_LISTEN": f"127.0.0.1:{port}", "VCSIM_CERT": str(cert.cert), "VCSIM_KEY": str(cert.key),
        "VCSIM_USERNAME": "timing@vsphere.local", "VCSIM_PASSWORD_FILE": str(password),
        "VCSIM_CLUSTER_HOSTS": "1", "VCSIM_METHOD_DELAY": f"CloneVM_Task:{CLONE_MS},PowerOnVM_Task:{POWER_ON_MS}",
    }  # fmt: skip
    log = (tmp_path / "vcsim.log").open("w")
    process = subprocess.Popen([str(PATHS.build / "vcsim" / "vcsim")], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        context = ssl.create_default_context(cafile=str(PATHS.pki / "ca.pem"))

        def connected():
            try:
                return SmartConnect(host="127.0.0.1", port=port, user="timing@vsphere.local",
                                    pwd="timing-test-password", sslContext=context)  # fmt: skip
            except OSError:
                return None

        si = wait_for(connected, 30, "the second vcsim to answer")
        content = si.RetrieveContent()
        datacenter = content.rootFolder.childEntity[0]
        pool = datacenter.hostFolder.childEntity[0].resourcePool
        spec = vim.vm.ConfigSpec(name="timing-source", numCPUs=1, memoryMB=512,
                                 files=vim.vm.FileInfo(vmPathName="[LocalDS_0]"))  # fmt: skip
        WaitForTask(datacenter.vmFolder.CreateVM_Task(config=spec, pool=pool))
        source = content.searchIndex.FindChild(datacenter.vmFolder, "timing-source")
        clone = timed(lambda: source.CloneVM_Task(folder=datacenter.vmFolder, name="timing-clone",
                                                  spec=vim.vm.CloneSpec(location=vim.vm.RelocateSpec(pool=pool))))  # fmt: skip
        copy = content.searchIndex.FindChild(datacenter.vmFolder, "timing-clone")
        power_on = timed(copy.PowerOnVM_Task)
        assert copy.runtime.powerState == "poweredOn"
        said = (tmp_path / "vcsim.log").read_text()
        assert clone >= CLONE_MS / 1000 and power_on >= POWER_ON_MS / 1000, (clone, power_on, said)
        Disconnect(si)
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()
    assert "method delays (ms): map[CloneVM_Task:1500 PowerOnVM_Task:1000]" in (tmp_path / "vcsim.log").read_text()
