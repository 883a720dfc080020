"""Secure mode: certificates and signing keys, the broker's ACL and TLS, clients' TLS, signed reports."""
