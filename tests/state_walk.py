"""Shared check of a state machine's table: one (origin, target) pair on a real row."""


def all_pairs(states) -> list[tuple[str, str]]:
    return [(a, b) for a in states for b in states]


def assert_move_follows_the_table(machine, pk, origin: str, target: str) -> None:
    """Put the row in `origin`, ask for `target`: it moves (with its fields) exactly when the table allows it,
    and a refused move writes nothing at all."""
    machine.model.objects.filter(pk=pk).update(**{machine.field: origin})
    moved = machine.move(pk, target, error="moved")
    allowed = machine.allowed(origin, target)
    assert moved is allowed
    row = machine.model.objects.get(pk=pk)
    assert (getattr(row, machine.field), row.error) == ((target, "moved") if allowed else (origin, ""))
