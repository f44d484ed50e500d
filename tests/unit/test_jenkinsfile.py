"""jenkins/Jenkinsfile compiles as Groovy (Debian's groovy), and the scripts it runs pass
shellcheck; a broken copy proves the compile check can fail."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
JENKINS = REPO / "jenkins"


def java_home() -> str | None:
    """A JDK for groovyc: JAVA_HOME if it works, else Debian's default-java, else any under /usr/lib/jvm."""
    candidates = [
        os.environ.get("JAVA_HOME", ""),
        "/usr/lib/jvm/default-java",
        *sorted(map(str, Path("/usr/lib/jvm").glob("*"))),
    ]
    return next((c for c in candidates if c and (Path(c) / "bin" / "java").exists()), None)


def groovyc(source: Path, tmp_path: Path) -> subprocess.CompletedProcess:
    assert shutil.which("groovyc"), "groovyc is missing: lab/setup.sh installs Debian's groovy"
    home = java_home()
    assert home, "no Java runtime for groovyc under /usr/lib/jvm"
    copy = tmp_path / "Jenkinsfile.groovy"  # groovyc wants a .groovy name
    copy.write_text(source.read_text() if source.exists() else "")
    return subprocess.run(["groovyc", "-d", str(tmp_path / "classes"), str(copy)], capture_output=True, text=True,
                          env={**os.environ, "JAVA_HOME": home}, timeout=120, check=False)  # fmt: skip


def test_the_jenkinsfile_compiles(tmp_path):
    result = groovyc(JENKINS / "Jenkinsfile", tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert list((tmp_path / "classes").glob("*.class"))


def test_a_broken_jenkinsfile_does_not(tmp_path):
    broken = tmp_path / "broken"
    broken.write_text((JENKINS / "Jenkinsfile").read_text().rstrip().removesuffix("}"))
    result = groovyc(broken, tmp_path)
    assert result.returncode != 0 and "expecting '}'" in result.stdout + result.stderr


@pytest.mark.parametrize("script", sorted(JENKINS.glob("*.sh")), ids=lambda p: p.name)
def test_the_scripts_pass_shellcheck_and_are_executable(script):
    assert os.access(script, os.X_OK), f"{script.name} is not executable"
    result = subprocess.run(["shellcheck", "-s", "sh", str(script)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout


def test_every_sh_step_is_single_quoted_and_runs_a_script_of_the_collection():
    from labctl.jenkins.pipeline import parse

    steps = [s for s in parse((JENKINS / "Jenkinsfile").read_text()) if s.kind == "sh"]
    for step in steps:
        assert (REPO / step.body).is_file(), step.body
    text = (JENKINS / "Jenkinsfile").read_text()
    assert 'sh "' not in text and "sh '''" not in text  # no Groovy interpolation of secrets into shells
