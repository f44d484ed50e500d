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


@pytest.mark.parametrize("name", ["Jenkinsfile", "Jenkinsfile.reconcile"])
def test_the_jenkinsfiles_compile(name, tmp_path):
    result = groovyc(JENKINS / name, tmp_path)
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


@pytest.mark.parametrize("name", ["Jenkinsfile", "Jenkinsfile.reconcile"])
def test_every_sh_step_is_single_quoted_and_runs_a_script_of_the_collection(name):
    from labctl.jenkins.pipeline import parse

    steps = [s for s in parse((JENKINS / name).read_text()) if s.kind == "sh"]
    for step in steps:
        assert (REPO / step.body).is_file(), step.body
    text = (JENKINS / name).read_text()
    assert 'sh "' not in text and "sh '''" not in text  # no Groovy interpolation of secrets into shells


def fake_playbook(tmp_path: Path, body: str) -> dict:
    """An environment whose ansible-playbook is a shell script: what the step does around it."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "ansible-playbook"
    fake.write_text("#!/bin/sh\n" + body)
    fake.chmod(0o755)
    return {"PATH": f"{bin_dir}:{os.environ['PATH']}", "AUTOSCALE_SERVICE": "acme-web", "BUILD_TAG": "t-1",
            "WORKSPACE_TMP": str(tmp_path), "HOME": str(tmp_path)}  # fmt: skip


@pytest.mark.parametrize("script", ["autoscale.sh", "reconcile.sh"])
def test_the_step_stops_a_run_that_outlives_the_jobs_timeout(script, tmp_path):
    """The run (and what it started, in its process group) is stopped after AUTOSCALE_TIMEOUT_SECONDS."""
    marker = tmp_path / "child.pid"
    env = fake_playbook(tmp_path, f"sleep 300 & echo $! > {marker}\nwait\n")
    result = subprocess.run([str(JENKINS / script)], cwd=tmp_path, capture_output=True, text=True, timeout=60,
                            env={**env, "AUTOSCALE_TIMEOUT_SECONDS": "1"}, check=False)  # fmt: skip
    assert result.returncode == 124, result.stdout + result.stderr
    assert "took longer than its timeout (1 s, the job parameter AUTOSCALE_TIMEOUT_SECONDS)" in result.stderr
    child = int(marker.read_text())
    for _attempt in range(50):  # the run's own child got the signal too
        if not Path(f"/proc/{child}").exists() or "Z" in Path(f"/proc/{child}/stat").read_text().split()[2]:
            break
        subprocess.run(["sleep", "0.1"], check=True)
    else:
        os.kill(child, 9)
        raise AssertionError("the run's child process outlived the timeout")


@pytest.mark.parametrize("script", ["autoscale.sh", "reconcile.sh"])
def test_a_run_within_its_timeout_keeps_its_exit_code(script, tmp_path):
    env = fake_playbook(tmp_path, 'echo "args: $*"\nexit 2\n')
    result = subprocess.run([str(JENKINS / script)], cwd=tmp_path, capture_output=True, text=True, timeout=60,
                            env={**env, "AUTOSCALE_TIMEOUT_SECONDS": "30"}, check=False)  # fmt: skip
    assert result.returncode == 2 and "took longer" not in result.stderr
    assert "-l acme-web" in result.stdout


@pytest.mark.parametrize("script", ["autoscale.sh", "reconcile.sh"])
@pytest.mark.parametrize("value", ["ten", "-5", "1 2", "60s"])
def test_a_bad_timeout_is_refused_before_the_run(script, value, tmp_path):
    env = fake_playbook(tmp_path, "echo ran\n")
    result = subprocess.run([str(JENKINS / script)], cwd=tmp_path, capture_output=True, text=True, timeout=60,
                            env={**env, "AUTOSCALE_TIMEOUT_SECONDS": value}, check=False)  # fmt: skip
    assert result.returncode == 2 and "ran" not in result.stdout
    assert "AUTOSCALE_TIMEOUT_SECONDS is" in result.stderr and "expected a whole number of seconds" in result.stderr
