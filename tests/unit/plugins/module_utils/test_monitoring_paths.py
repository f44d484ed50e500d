"""Offboarding removes exactly the files onboarding writes: both take the names from _monitoring.paths."""

from ansible_collections.danacloud.vm_autoscale.plugins.module_utils import _monitoring
from services import minimal

SETTINGS = {
    "file_sd_dir": "/p/file_sd",
    "rules_dir": "/p/rules",
    "textfile_dir": "/s/textfile",
    "node_exporter_port": 9100,
    "job": "vm_autoscale",
    "failed_window": "30m",
    "at_max_for": "15m",
    "metrics_missing_for": "10m",
}


def test_offboarding_names_every_file_onboarding_writes_and_the_targets_lock():
    services = {
        "shop": {**minimal(), "static_members": [{"name": "shop-01", "ip": "198.18.5.11"}]},
        "web-2": {**minimal(), "static_members": [{"name": "web-01", "ip": "198.18.5.12"}]},
    }
    written = _monitoring.monitoring_files(services, ["shop", "web-2", "other"], SETTINGS)
    removed = _monitoring.removed_files(["shop", "web-2"], SETTINGS)
    for host in ("plg", "state_host"):
        made = {entry["path"] for entry in written[host]["files"]}
        extra = set(removed[host]) - made
        assert made <= set(removed[host]), made - set(removed[host])
        # only the lock file autoscale_target takes beside the autoscaled targets is not written by onboarding
        assert extra == ({"/p/file_sd/.vm_autoscale-shop-auto.json.lock", "/p/file_sd/.vm_autoscale-web-2-auto.json.lock"}
                         if host == "plg" else set())  # fmt: skip
    assert removed["state_host"] == [
        "/s/textfile/vm_autoscale_shop_config.prom",
        "/s/textfile/vm_autoscale_web-2_config.prom",
        "/s/textfile/vm_autoscale_shop_state.prom",
        "/s/textfile/vm_autoscale_web-2_state.prom",
    ]
    assert not any("other" in path for paths in removed.values() for path in paths)
