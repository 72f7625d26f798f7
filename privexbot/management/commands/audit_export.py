from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_date, parse_datetime

from privexbot.audit import audit_record
from privexbot.audit.export import FORMATS, audit_events, export_lines


def _moment(text: str | None):
    if not text:
        return None
    from datetime import UTC, datetime, time

    value = parse_datetime(text)
    if value is None and (day := parse_date(text)) is not None:
        value = datetime.combine(day, time.min)
    if value is None:
        raise CommandError(f"not a date or date-time: {text!r}")
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class Command(BaseCommand):
    help = "Export audit events (JSON lines or CSV) by time range and event type, installation-wide or one workspace."

    def add_arguments(self, parser):
        parser.add_argument("--from", dest="start", help="first moment included (ISO date or date-time, UTC)")
        parser.add_argument("--to", dest="end", help="first moment excluded")
        parser.add_argument("--event-type", action="append", default=[], help="repeatable")
        parser.add_argument("--workspace", help="a workspace id: only its events")
        parser.add_argument("--format", choices=FORMATS, default="jsonl")
        parser.add_argument("--output", "-o", help="a file (default: standard output)")

    def handle(self, *args, start, end, event_type, workspace, format, output, **opts):
        events = audit_events(workspace_id=workspace, start=_moment(start), end=_moment(end), event_types=event_type)
        if output:
            with Path(output).open("w", encoding="utf-8", newline="") as out:
                out.writelines(export_lines(events, format))
        else:
            for piece in export_lines(events, format):
                self.stdout.write(piece, ending="")
        audit_record(
            event_type="data_export", action="audit_export", workspace=workspace,
            details={"format": format, "from": start, "to": end, "event_types": event_type, "door": "command"},
        )  # fmt: skip
        if output:
            self.stderr.write(f"wrote {output}")
