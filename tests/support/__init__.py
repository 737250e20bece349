"""Helpers shared by the integration tests (invariant checks after faults)."""
