from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from kb.models import KnowledgeBase
from privexbot.storage import get_storage, reset_storage


@pytest.mark.slow
def test_backup_and_restore_round_trip(transactional_db, workspace, owner, tmp_path, settings):
    settings.STORAGE_DIR = tmp_path / "storage"
    reset_storage()
    kb = KnowledgeBase.objects.create(workspace=workspace, name="Keep me", created_by=owner)
    stored = get_storage().save(b"confidential upload")
    out = StringIO()
    call_command("backup", str(tmp_path / "backups"), stdout=out)
    folder = next((tmp_path / "backups").iterdir())
    assert b"confidential" not in (folder / "storage.tar").read_bytes()  # files stay encrypted in the backup

    kb.delete()
    get_storage().delete(stored)
    call_command("restore", str(folder), "--yes", stdout=StringIO())
    assert KnowledgeBase.objects.filter(name="Keep me").exists()
    assert get_storage().open_bytes(stored) == b"confidential upload"

    (folder / "storage.tar").write_bytes(b"tampered")
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="checksum"):
        call_command("restore", str(folder), "--yes")
    reset_storage()
    assert Path(folder / "manifest.json").exists()
