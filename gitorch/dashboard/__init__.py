"""`gitorch dashboard`: a read-only web page over the store, updated live.

``data`` gathers the figures (from ``gitorch.stats``), ``render`` and ``charts`` turn them into
HTML and SVG, ``sources`` follows the local SQLite store or the team's Convex deployment, and
``app`` serves it all with Starlette and server-sent events.
"""
