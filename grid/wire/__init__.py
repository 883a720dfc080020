"""The wire: message types (msgpack envelopes), their validators and the topic tree.

Imports only the root modules (errors, clock, geo)."""
