"""The live map: a small HTTP server on 127.0.0.1 that follows the grid over MQTT and pushes to a page.

:mod:`~grid.app.dashboard.feed` turns the grid's messages into the page's events,
:mod:`~grid.app.dashboard.fanout` holds each browser's bounded queue, and
:mod:`~grid.app.dashboard.server` serves the page (``static/``, built by ``scripts/build-web``)
and its server-sent events.
"""
