"""Secure mode: certificates and signing keys, the broker's ACL and TLS configuration, clients' TLS."""
