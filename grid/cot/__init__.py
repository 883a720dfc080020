"""Cursor-on-Target: fused tracks as CoT events for TAK (ATAK, WinTAK, WebTAK)."""
