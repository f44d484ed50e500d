"""Offline stand-in for pip's get-pip.py, for ansible-test.

ansible-test bootstraps pip in its sanity virtualenvs by downloading get-pip.py from a host
that is not reachable here; it first looks in ~/.ansible/test/cache/get_pip_<version>.py,
where 'make deps' puts this file. ansible-test runs it as a script with pip-install arguments.
"""

import subprocess
import sys

# get-pip.py understands these two; pip install does not (and we do not need them).
ARGS = [arg for arg in sys.argv[1:] if arg not in ("--no-setuptools", "--no-wheel")]
subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"])
subprocess.check_call([sys.executable, "-m", "pip", "install", *ARGS])
