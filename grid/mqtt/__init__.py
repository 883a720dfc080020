"""The MQTT edge: the only aiomqtt user (transport), reconnecting sessions, and brokers gridsim runs.

Imports the world (for broker outages), the wire and the root modules; never fusion."""
