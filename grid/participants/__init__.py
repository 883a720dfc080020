"""Grid participants: the service base, member nodes with their links, and the fusion centre.

Imports evaluation (a node scores its own picture), fusion, mqtt, world, wire and the root."""
