"""Migration safety (§7): read a migration plan against the live data and say what is at risk."""
