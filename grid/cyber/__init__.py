"""The cyber-exchange hub's library layer: STIX 2.1 indicators shared once, and their TAXII 2.1 feed."""
