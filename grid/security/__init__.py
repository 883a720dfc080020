"""Security of the grid: signed reports (and, beside them, certificates, ACLs and TLS)."""
