"""docs/reference/ is generated from the modules' documentation and the roles' argument specs:
a module or role whose documentation changed without its page fails here (fix: run
docs/generate_reference.py)."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_the_reference_pages_are_up_to_date():
    check = subprocess.run([sys.executable, REPO / "docs" / "generate_reference.py", "--check"],
                           capture_output=True, text=True, check=False)  # fmt: skip
    assert check.returncode == 0, check.stderr


def test_every_module_and_role_has_a_page():
    pages = {p.stem for p in (REPO / "docs" / "reference" / "modules").glob("*.md")}
    assert pages == {p.stem for p in (REPO / "plugins" / "modules").glob("*.py")}
    roles = {p.stem for p in (REPO / "docs" / "reference" / "roles").glob("*.md")}
    assert roles == {p.name for p in (REPO / "roles").iterdir() if (p / "meta" / "argument_specs.yml").exists()}
