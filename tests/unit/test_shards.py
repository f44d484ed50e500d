"""tests/shards.py: the integration test files split into groups of about equal measured time."""

import importlib.util
from pathlib import Path

import pytest

SPEC = importlib.util.spec_from_file_location("shards", Path(__file__).resolve().parents[1] / "shards.py")
shards = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(shards)


def test_every_file_lands_in_exactly_one_shard_and_the_loads_are_close():
    durations = {f"t{index}.py": seconds for index, seconds in enumerate([400, 300, 200, 200, 100, 100, 50, 50, 10])}
    groups = shards.split(sorted(durations), durations, 3)
    assert sorted(name for group in groups for name in group) == sorted(durations)
    loads = [sum(durations[name] for name in group) for group in groups]
    assert max(loads) - min(loads) <= 100, loads  # the longest-first greedy split: within the smallest big file
    assert groups == shards.split(sorted(durations, reverse=True), durations, 3)  # the order given does not matter


@pytest.mark.parametrize("count", [1, 2, 5])
def test_unmeasured_files_count_as_a_minute_and_no_shard_is_empty(count):
    files = ["a.py", "b.py", "c.py"]
    groups = shards.split(files, {"a.py": 30}, count)
    assert len(groups) == min(count, len(files))
    assert all(groups) and sorted(name for group in groups for name in group) == files
