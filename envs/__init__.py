"""Gymnasium environments and wrappers used by neuroq (numpy + gymnasium only)."""
