"""A throwaway app whose migrations the guard tests write and apply for real (§7)."""
