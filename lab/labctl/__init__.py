"""The danacloud.vm_autoscale lab: a simulated datacenter in its own network namespace.

Run it through ``lab/lab`` (see ``lab/lab --help`` and ``lab/README.md``).
"""
