"""Moving every stored file to the active master key after a key rotation."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.core.exceptions import ImproperlyConfigured

from privexbot.storage.encrypted import EncryptedStorage
from privexbot.storage.sealed import StorageError


@dataclass
class RotationReport:
    rewrapped: int = 0  # moved to the active master key
    current: int = 0  # already under it
    plain: int = 0  # not encrypted (stored while ENCRYPT_FILES_AT_REST was off): left as they are
    failed: dict[str, str] = field(default_factory=dict)  # name -> why (a master key not configured, damage)

    @property
    def total(self) -> int:
        return self.rewrapped + self.current + self.plain + len(self.failed)


def storage_rotate_keys(*, storage: EncryptedStorage | None = None) -> RotationReport:
    """Move every stored file to the active (first) master key of ENCRYPTION_KEY. Idempotent: files already
    under it are only counted, so a run that was interrupted is finished by running it again. Once a run
    reports every encrypted file as current, the old keys can be removed from ENCRYPTION_KEY."""
    from privexbot.storage import get_storage

    storage = storage or get_storage()
    if storage.active_key is None:
        raise ImproperlyConfigured("no ENCRYPTION_KEY is configured: there is no key to rotate to")
    report = RotationReport()
    for name in list(storage.stored_files()):
        try:
            state = storage.key_state(name)
            if state == "unknown":
                report.failed[name] = "encrypted with a master key that is not configured"
            elif state == "plain":
                report.plain += 1
            elif storage.rewrap(name):
                report.rewrapped += 1
            else:
                report.current += 1
        except FileNotFoundError:
            continue  # deleted since it was listed
        except (StorageError, OSError) as exc:
            report.failed[name] = str(exc)
    return report
