"""One guarded transition function per job kind (documents, draft sources, later rebuilds and syncs).

A job's status changes only through `StateMachine.move`: a single `UPDATE ... WHERE pk = ... AND status IN
(<states allowed to reach the target>)`, so two writers racing on one row can never both win and a write
that arrives late (a worker that lost its job to the sweeper, a stage write after the row was deleted) does
nothing and says so. The table of allowed transitions is data, printed in ARCHITECTURE.md and walked by
the tests; nothing else in the code writes a status column.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from django.db import models
from django.utils import timezone


class IllegalTransition(ValueError):
    """A caller asked for a move the table does not allow: a programming error, never user input."""


@dataclass(frozen=True)
class SilentWorkers:
    """What the sweeper does with jobs whose worker stopped sending heartbeats.
    silent(): the rows concerned; fields(row, given_up): what to write besides the status."""

    silent: Callable[[], models.Q]
    retry_to: str
    give_up_to: str
    fields: Callable[[models.Model, bool], dict]


@dataclass(frozen=True)
class StateMachine:
    model: type[models.Model]
    # from-state -> the states it may move to
    table: Mapping[str, frozenset[str]]
    field: str = "status"
    touch: str | None = "updated_at"  # set to now by every move (queryset.update() skips auto_now)

    def allowed(self, source: str, target: str) -> bool:
        return target in self.table.get(source, ())

    def sources(self, target: str) -> tuple[str, ...]:
        """Every state from which `target` may be reached."""
        return tuple(s for s, targets in self.table.items() if target in targets)

    def move(
        self,
        pk,
        target: str,
        *,
        only_from: Iterable[str] | None = None,
        when: models.Q | None = None,
        **fields,
    ) -> bool:
        """Move one row to `target` if it is in an allowed state (narrowed to `only_from`, and matching `when`),
        writing `fields` in the same UPDATE. Returns whether the row moved."""
        return bool(self.move_all(self.model.objects.filter(pk=pk), target, only_from=only_from, when=when, **fields))

    def move_all(
        self,
        queryset: models.QuerySet,
        target: str,
        *,
        only_from: Iterable[str] | None = None,
        when: models.Q | None = None,
        **fields,
    ) -> int:
        """`move` for every row of `queryset`; returns how many moved."""
        froms = self.sources(target)
        if only_from is not None:
            only_from = tuple(only_from)
            illegal = [s for s in only_from if s not in froms]
            if illegal:
                raise IllegalTransition(f"{self.model.__name__}: {illegal[0]} -> {target} is not a transition")
            froms = only_from
        if not froms:
            raise IllegalTransition(f"{self.model.__name__}: nothing may move to {target}")
        queryset = queryset.filter(**{f"{self.field}__in": froms})
        if when is not None:
            queryset = queryset.filter(when)
        if self.touch:
            fields.setdefault(self.touch, timezone.now())
        return queryset.update(**{self.field: target}, **fields)

    def sweep(self, rule: SilentWorkers, *, max_attempts: int) -> tuple[list[models.Model], int]:
        """Rows whose worker went silent go back to `rule.retry_to`, or to `rule.give_up_to` once they used
        their last attempt. Each move is guarded by the attempt seen, so a worker that woke up in between keeps
        its row. Returns the rows retried (they need a message) and how many were given up."""
        retried, given_up = [], 0
        silent = rule.silent()
        for row in self.model.objects.filter(silent):
            still = silent & models.Q(attempts=row.attempts)
            if row.attempts >= max_attempts:
                given_up += self.move(row.pk, rule.give_up_to, when=still, **rule.fields(row, True))
            elif self.move(row.pk, rule.retry_to, when=still, **rule.fields(row, False)):
                retried.append(row)
        return retried, given_up

    def diagram(self) -> list[str]:
        """The table as `a -> b, c` lines (for docs and error messages)."""
        return [f"{s} -> {', '.join(sorted(t))}" for s, t in self.table.items() if t]
