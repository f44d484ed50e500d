"""Walk the tasks of a playbook or task file, as the unit tests that read them need."""

NESTED = ("block", "rescue", "always", "tasks", "pre_tasks", "post_tasks", "handlers")


def tasks(items):
    """Every play, block and task of ``items`` (a loaded playbook or task file), nested ones too."""
    for item in items or []:
        if isinstance(item, dict):
            yield item
            for key in NESTED:
                yield from tasks(item.get(key))
