"""The .xlsx backend: a safe package reader, the byte-level scanner, the patcher and the safe write."""
