"""docs/troubleshooting.md lists every error message of the roles and playbooks: each message's
longest fixed part (its text without the Jinja expressions) must appear in the guide."""

import re
from pathlib import Path

import pytest
import yaml
from playbook_tasks import tasks

REPO = Path(__file__).resolve().parents[2]
GUIDE = re.sub(r"\s+", " ", (REPO / "docs" / "troubleshooting.md").read_text().replace("`", ""))


def messages():
    files = [*REPO.glob("roles/*/tasks/*.yml"), *REPO.glob("roles/*/handlers/*.yml"), *REPO.glob("playbooks/*.yml")]
    for path in sorted(files):
        for task in tasks(yaml.safe_load(path.read_text())):
            text = (task.get("ansible.builtin.fail") or {}).get("msg") or (
                task.get("ansible.builtin.assert") or {}
            ).get("fail_msg")
            if text:
                yield f"{path.relative_to(REPO)}: {task.get('name')}", text


def longest_fixed_part(text: str) -> str:
    parts = re.split(r"\{\{.*?\}\}|\{%.*?%\}|'[^']*'\s*~|~\s*'[^']*'", text, flags=re.S)
    parts = [re.sub(r"\s+", " ", p).strip(" .;:(),") for p in parts]
    return max(parts, key=len)


MESSAGES = list(messages())


def test_messages_are_found():
    assert len(MESSAGES) >= 25


@pytest.mark.parametrize(("where", "text"), MESSAGES, ids=[m[0] for m in MESSAGES])
def test_every_message_is_in_the_troubleshooting_guide(where, text):
    fixed = longest_fixed_part(text)
    if len(fixed) < 12:
        pytest.skip(f"{where}: no fixed text to look for")
    assert fixed in GUIDE, f"{where}: add to docs/troubleshooting.md: {fixed!r}"
