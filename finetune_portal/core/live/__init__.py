"""The live channel: open pages learn that something changed through one Server-Sent Events stream each.

Writers (web requests, Celery workers) call ``live_publish_on_commit`` with a topic (``job:42``) and
a function that describes the new state; once their transaction commits, the description goes out on
Redis pub/sub (``channel``). Each web process keeps one subscription for all its open streams
(``hub.LiveHub``) and hands every message to the streams that watch its topic, so a page with nothing
new costs an open connection and nothing else. ``sse.sse_stream`` writes one page's stream; ``db`` runs
a stream's rare database work off the event loop.

Without Redis (the embedded defaults of ``make run``) nothing is published; the hub instead reads the
state of each watched topic once a second, once per process however many pages watch it.

Every event carries an id (``<topic>:<version>``). A browser that reconnects sends the last one back
(``Last-Event-ID``), and a topic whose version has not moved since is not sent again.
"""
