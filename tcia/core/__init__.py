"""What every app shares: the audit log, roles and the one permission path."""
