"""The smallest valid ``autoscale:`` mapping, which the model and pipeline tests build on."""


def minimal():
    return {
        "template": {"name": "tpl-shop"},
        "f5": {"pool_name": "shop-pool", "vip": "198.18.5.10", "vip_port": 443, "member_port": 8080},
        "network": {
            "subnet": "198.18.5.0/24",
            "gateway": "198.18.5.1",
            "port_group": "pg-shop",
            "ip_pool_start": "198.18.5.100",
            "ip_pool_end": "198.18.5.150",
        },
    }
