"""What a run produced: the controller's observations, the event effects and the summary.

Imports participants (their ids) and everything below them; never the app."""
