"""Loopback protocol servers and the provider adapter tests that use them."""
