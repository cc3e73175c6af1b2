"""Rendered parts of a page that travel inside its live events, so an open page needs no request when
they change.

A page that shows server-rendered parts (the job page's status, events and outputs) used to answer each
change of them with a request for the new rendering: a thousand open pages, a thousand requests per
change. Instead each web process renders the parts once per change for each permission variant of the
viewers watching (``LiveParts.key``), off the event loop, and every stream writes its own viewer's
variant into the event. A stream sends a part only when it differs from what it last sent (or what the
page was built with); a part too big for an event is named in ``parts_to_ask`` instead, and the page
asks for it as before.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import weakref
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from finetune_portal.core.live.channel import State
from finetune_portal.core.live.db import in_stream_thread

logger = logging.getLogger(__name__)

# A part bigger than this goes out as a name to ask for, not inline: an event reaches every open page.
INLINE_PART_MAX_BYTES = 64 * 1024
# Renderings a process keeps (the newest of each variant of each watched topic).
KEPT_RENDERINGS = 256


@dataclass(frozen=True)
class LiveParts:
    """The parts one stream's viewer is shown, and when they change.

    ``key`` names the viewer's variant (the topic and what the parts show differently to different
    viewers, such as whether they may cancel): streams with the same key share one rendering.
    ``version(state)`` is the value of a state the parts follow (they are rendered again when it moves);
    ``render()`` returns the parts as ``{name: html}`` (synchronous, it queries), or None when the topic
    is gone. ``held`` is the version the page was built with: the stream sends nothing until it moves.
    """

    key: str
    version: Callable[[State], str]
    render: Callable[[], dict[str, str] | None]
    held: str = ""


@dataclass(frozen=True)
class RenderedPart:
    digest: str
    # The part as a JSON string, ready to splice into an event; None when too big to send inline.
    json_text: str | None


def rendered_parts(html: dict[str, str]) -> dict[str, RenderedPart]:
    parts = {}
    for name, text in html.items():
        encoded = text.encode()
        parts[name] = RenderedPart(
            digest=hashlib.blake2b(encoded, digest_size=12).hexdigest(),
            json_text=json.dumps(text) if len(encoded) <= INLINE_PART_MAX_BYTES else None,
        )
    return parts


class Renderings:
    """One event loop's renderings, by variant: each variant's newest version, rendered once however
    many streams ask for it (they await the same task)."""

    def __init__(self) -> None:
        self._tasks: OrderedDict[str, tuple[str, asyncio.Task]] = OrderedDict()

    async def get(self, parts: LiveParts, version: str) -> dict[str, RenderedPart] | None:
        kept = self._tasks.get(parts.key)
        if kept is None or kept[0] != version:
            task = asyncio.ensure_future(self._render(parts))
            self._tasks[parts.key] = (version, task)
            self._tasks.move_to_end(parts.key)
            while len(self._tasks) > KEPT_RENDERINGS:
                self._tasks.popitem(last=False)
            kept = (version, task)
        # Shielded: a stream that closes while waiting does not cancel the others' rendering.
        return await asyncio.shield(kept[1])

    @staticmethod
    async def _render(parts: LiveParts) -> dict[str, RenderedPart] | None:
        try:
            html = await in_stream_thread(parts.render)
        except Exception:
            logger.exception("live parts: rendering %s failed", parts.key)
            return None
        return rendered_parts(html) if html is not None else None


_renderings: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Renderings] = weakref.WeakKeyDictionary()


def live_renderings() -> Renderings:
    loop = asyncio.get_running_loop()
    renderings = _renderings.get(loop)
    if renderings is None:
        renderings = _renderings[loop] = Renderings()
    return renderings


@dataclass
class StreamParts:
    """What one stream has sent of its viewer's parts."""

    parts: LiveParts
    seen: str = ""
    sent: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.seen = self.parts.held

    async def fields(self, state: State) -> str:
        """The JSON members (``"part_html":{...}``, ``"parts_to_ask":[...]``, each after a comma) to add
        to the event of ``state``: empty while the parts' version has not moved for this stream."""
        version = self.parts.version(state)
        if version == self.seen:
            return ""
        self.seen = version
        rendered = await live_renderings().get(self.parts, version)
        if rendered is None:
            # Not rendered (the topic is gone, or the rendering failed): the page asks for them all.
            return ',"part_html":{},"parts_to_ask":["*"]'
        inline, ask = [], []
        for name, part in rendered.items():
            if self.sent.get(name) == part.digest:
                continue
            self.sent[name] = part.digest
            if part.json_text is None:
                ask.append(name)
            else:
                inline.append(f"{json.dumps(name)}:{part.json_text}")
        text = ',"part_html":{' + ",".join(inline) + "}"
        if ask:
            text += ',"parts_to_ask":' + json.dumps(ask)
        return text
