"""Standing fault suite: killed processes, lost connections, full disks (PRODUCT.md section 9)."""
