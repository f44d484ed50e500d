"""The lab's Jenkins reads a declarative pipeline's structure: steps in order, post conditions,
withCredentials bindings, archiveArtifacts; what it cannot run faithfully it refuses."""

import re

import pytest
from labctl.jenkins.pipeline import PipelineError, applies, parse

SCRIPT = """
// a comment with sh 'not a step'
pipeline {
    agent any
    options { disableConcurrentBuilds() }
    stages {
        stage('One') {
            steps {
                sh 'echo "one {"'  /* a brace in a string and in a comment } */
                withCredentials([file(credentialsId: 'vault', variable: 'VAULT'),
                                 usernamePassword(credentialsId: 'vc', usernameVariable: 'U', passwordVariable: 'P')]) {
                    sh(script: '''echo two''')
                }
            }
        }
    }
    post {
        always { archiveArtifacts artifacts: 'out/*', allowEmptyArchive: true }
        failure { sh 'echo failed' }
        success { sh "echo fine" }
    }
}
"""


def test_steps_conditions_and_bindings():
    steps = parse(SCRIPT)
    assert [(s.kind, s.body, s.condition) for s in steps] == [
        ("sh", 'echo "one {"', None),
        ("sh", "echo two", None),
        ("archive", "out/*", "always"),
        ("sh", "echo failed", "failure"),
        ("sh", "echo fine", "success"),
    ]
    assert steps[0].bindings == []
    assert steps[1].bindings == [
        {"kind": "file", "id": "vault", "variable": "VAULT"},
        {"kind": "usernamePassword", "id": "vc", "usernameVariable": "U", "passwordVariable": "P"},
    ]
    assert steps[2].allow_empty is True


def test_post_conditions_apply_as_in_jenkins():
    assert applies("always", "FAILURE") and applies("cleanup", "SUCCESS")
    assert applies("failure", "FAILURE") and not applies("failure", "SUCCESS")
    assert applies("success", "SUCCESS") and not applies("success", "FAILURE")
    assert applies("unsuccessful", "FAILURE") and not applies("unsuccessful", "SUCCESS")


@pytest.mark.parametrize(
    ("script", "message"),
    [
        ('pipeline { stages { stage("a") { steps { sh "echo ${env.X}" } } } }', "Groovy interpolation"),
        ("pipeline { stages { stage('a') { steps { echo 'hi' } } } }", "no sh step"),
        (
            "pipeline { stages { stage('a') { steps { withCredentials([sshUserPrivateKey(credentialsId: 'k', "
            "keyFileVariable: 'K')]) { sh 'x' } } } } }",
            "sshUserPrivateKey(...) is not emulated",
        ),
        ("pipeline { post { changedx { sh 'x' } } }", "post condition"),
        ("pipeline { stages { stage('a') { steps { sh 'x' } }", "unbalanced"),
    ],
)
def test_what_cannot_be_run_faithfully_is_refused(script, message):
    with pytest.raises(PipelineError, match=re.escape(message)):
        parse(script)


def test_the_collections_jenkinsfile():
    from pathlib import Path

    steps = parse((Path(__file__).resolve().parents[3] / "jenkins" / "Jenkinsfile").read_text())
    assert [(s.kind, s.body, s.condition) for s in steps] == [
        ("sh", "jenkins/autoscale.sh", None),
        ("archive", "autoscale-result/*", "always"),
        ("sh", "jenkins/notify-failure.sh", "failure"),
    ]
    assert {b["id"] for b in steps[0].bindings} == {
        "vm-autoscale-vault-password",
        "vm-autoscale-vcenter",
        "vm-autoscale-f5",
        "vm-autoscale-plg",
    }
    assert {b["id"] for b in steps[2].bindings} == {"vm-autoscale-plg"}  # the failure alert's API user
