"""Encrypted backups and their restore: `archive` (backup_create, backup_restore), `inventory` (what a backup
must bring back, compared after a restore), `postgres` (pg_dump / pg_restore of the configured database)."""
