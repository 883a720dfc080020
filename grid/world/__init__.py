"""The simulated world: the roster, scenarios and their events, flight paths, ground truth, sensors.

Imports the wire and the root modules."""
