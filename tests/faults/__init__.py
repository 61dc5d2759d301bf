"""Standing fault suite: killed processes, lost connections, full disks (docs/spec.md §9)."""
