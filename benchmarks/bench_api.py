"""/v1/chat/completions overhead over the engine it fronts, measured side by side.

An echo chat provider (no model: it answers at once, so only the portal's own cost is left) is called
three ways, one after the other on the same prompts:

- the provider's chat_stream directly (the bare engine);
- inference.services.chat_complete, which /v1 calls (measures, records a ChatAnswer);
- POST /v1/chat/completions with the openai SDK on a loopback server, whole and streamed, under WSGI
  (Django's threaded server, as runserver) and ASGI (uvicorn, as production).

It prints p50/p95 per path and the HTTP paths' p50 over chat_complete's. Client and server share this
process (and its GIL), so those figures include the SDK's own work and the socket: the same SDK calls
are also made to a bare server of the same kind that sends the same answer back canned (the transport
floor, what an engine behind HTTP costs a client anyway), and the portal's own overhead is an HTTP
path's time less that round's engine call and that round's floor. The goal is under 10 ms. The same
difference in this process's CPU time (client and servers both run in it) is printed beside it: a
busy machine stretches wall time far more than CPU time.

Uses a throwaway SQLite file under var/ unless DATABASE_URL is set. BENCH_REQUESTS (default 100) per
path, after 20 warm-up requests.
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "finetune_portal.settings")
if "DATABASE_URL" not in os.environ:
    (ROOT / "var").mkdir(exist_ok=True)
    os.environ["DATABASE_URL"] = f"sqlite:///{ROOT / 'var' / 'bench_api.sqlite3'}"
os.environ.setdefault("INFERENCE_RATE_LIMIT", "1000000/m")

REQUESTS = int(os.environ.get("BENCH_REQUESTS", "100"))
WARMUP = 20
GOAL_MS = 10.0
SLUG = "bench-api"
PROMPT = [{"role": "user", "content": "Where is my card? It was sent two weeks ago and has not arrived."}]

from finetune_portal.providers.base import Capabilities, FineTuningProvider  # noqa: E402
from finetune_portal.providers.chat import ChatDelta, ChatDone, ChatSettings, ServedModel  # noqa: E402

ECHO = ServedModel(name="echo-base", label="echo", provider="bench_echo", kind="base", provider_model="echo")


class EchoProvider(FineTuningProvider):
    """Answers with the last message back, word by word, at once."""

    key = "bench_echo"
    label = "Echo (benchmark)"
    capabilities = Capabilities(methods=frozenset({"sft"}), inference=True)
    launch_form = ""

    def enqueue_start(self, job_id: int) -> None:
        pass

    def enqueue_cancel(self, job_id: int) -> None:
        pass

    def chat_base_models(self, project) -> list[ServedModel]:
        return [ECHO]

    def chat_stream(self, *, project, model, messages, settings):
        words = messages[-1]["content"].split(" ")
        for index, word in enumerate(words):
            yield ChatDelta(word if index == 0 else f" {word}")
        yield ChatDone("stop", prompt_tokens=len(words) + 5, completion_tokens=len(words))


def setup():
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from finetune_portal.api.services import api_token_create
    from finetune_portal.projects.models import Membership, Project, Role

    settings.FINETUNE_PROVIDERS = [*settings.FINETUNE_PROVIDERS, f"{__name__}.EchoProvider"]
    settings.DEBUG = False  # as in production: DEBUG keeps every query in memory
    settings.ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
    call_command("migrate", verbosity=0)
    Project.objects.filter(slug=SLUG).delete()
    get_user_model().objects.filter(username="bench-api").delete()
    project = Project.objects.create(name="Bench API", slug=SLUG)
    user = get_user_model().objects.create_user(username="bench-api")  # signs in by token only
    Membership.objects.create(project=project, user=user, role=Role.MEMBER)
    _, raw = api_token_create(user=user, project=project, name="bench", actor=None)
    return project, user, raw


def canned_answer(stream: bool) -> list[bytes]:
    """The bytes /v1 sends for the benchmark's prompt (as chat_wire builds them), for the floor servers."""
    from finetune_portal.api.v1 import chat_wire as wire

    words = PROMPT[-1]["content"].split(" ")
    done = ChatDone("stop", prompt_tokens=len(words) + 5, completion_tokens=len(words))
    completion = wire.Completion(model=ECHO.name)
    if not stream:
        return [json.dumps(wire.completion_body(completion, " ".join(words), done)).encode()]
    pieces = [wire.sse(wire.delta_chunk(completion, {"role": "assistant", "content": ""}, False))]
    pieces += [
        wire.sse(wire.delta_chunk(completion, {"content": w if i == 0 else f" {w}"}, False))
        for i, w in enumerate(words)
    ]
    return [*pieces, wire.sse(wire.finish_chunk(completion, done, False)), wire.DONE]


def _canned_for(body: bytes) -> tuple[str, list[bytes]]:
    stream = json.loads(body).get("stream", False)
    kind = "text/event-stream; charset=utf-8" if stream else "application/json"
    return kind, canned_answer(stream)


def floor_wsgi_app(environ, start_response):
    body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    kind, pieces = _canned_for(body)
    headers = [("Content-Type", kind)]
    if not kind.startswith("text/event-stream"):
        headers.append(("Content-Length", str(sum(map(len, pieces)))))
    start_response("200 OK", headers)
    return pieces


async def floor_asgi_app(scope, receive, send):
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    kind, pieces = _canned_for(body)
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", kind.encode())]})
    for piece in pieces:
        await send({"type": "http.response.body", "body": piece, "more_body": True})
    await send({"type": "http.response.body", "body": b""})


@contextlib.contextmanager
def wsgi_server(app=None) -> Iterator[str]:
    from django.core.handlers.wsgi import WSGIHandler
    from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler

    class QuietHandler(WSGIRequestHandler):
        # Headers and body go out in separate writes; with Nagle's algorithm on, the second waits for
        # the client's delayed ACK (~40 ms on Linux), which is the transport's cost, not the portal's.
        disable_nagle_algorithm = True

        def log_message(self, *args):
            pass

    server = ThreadedWSGIServer(("127.0.0.1", 0), QuietHandler, allow_reuse_address=False)
    server.set_app(app or WSGIHandler())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def asgi_server(app=None) -> Iterator[str]:
    import uvicorn
    from django.core.asgi import get_asgi_application

    config = uvicorn.Config(
        app or get_asgi_application(), host="127.0.0.1", port=0, log_level="warning", lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def p(times: list[float], q: int) -> float:
    return statistics.quantiles(times, n=100)[q - 1]


def side_by_side(
    paths: dict[str, Callable[[], object]],
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Each round calls every path once, in turn, so a busy machine slows them all alike. Returns each
    call's wall time and this process's CPU time (client and servers share it; the database's is not
    in it), both in ms."""
    times: dict[str, list[float]] = {name: [] for name in paths}
    cpu: dict[str, list[float]] = {name: [] for name in paths}
    for round_ in range(WARMUP + REQUESTS):
        for name, call in paths.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            call()
            if round_ >= WARMUP:
                times[name].append((time.perf_counter() - start) * 1000)
                cpu[name].append((time.process_time() - start_cpu) * 1000)
    return times, cpu


def _own(path: list[float], engine: list[float], floor: list[float]) -> float:
    """The median over rounds of a path's figure less that round's engine call and floor."""
    return statistics.median(v - e - f for v, e, f in zip(path, engine, floor, strict=True))


def main() -> None:
    project, user, raw = setup()
    import openai
    from django.test import Client

    from finetune_portal.inference.services import chat_complete
    from finetune_portal.providers.registry import get_provider

    settings = ChatSettings(temperature=0.2, max_tokens=64)
    provider = get_provider("bench_echo")
    request = {"model": ECHO.name, "messages": PROMPT, "temperature": 0.2, "max_completion_tokens": 64}
    in_process = Client(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=f"Bearer {raw}")

    def engine():
        chat_complete(
            project=project, user=user, model=ECHO, messages=PROMPT, settings=settings, source="bench"
        )

    def django_stack():
        response = in_process.post(
            "/v1/chat/completions", json.dumps(request), content_type="application/json"
        )
        if response.status_code != 200:
            raise RuntimeError(response.content)

    paths: dict[str, Callable[[], object]] = {
        "provider.chat_stream (bare engine)": lambda: list(
            provider.chat_stream(project=project, model=ECHO, messages=PROMPT, settings=settings)
        ),
        "inference chat_complete (the engine /v1 fronts)": engine,
        "/v1 in process (Django's stack, no socket)": django_stack,
    }
    with (
        wsgi_server() as wsgi_url,
        asgi_server() as asgi_url,
        wsgi_server(floor_wsgi_app) as wsgi_floor_url,
        asgi_server(floor_asgi_app) as asgi_floor_url,
    ):
        for label, url, floor_url in (
            ("WSGI", wsgi_url, wsgi_floor_url),
            ("ASGI uvicorn", asgi_url, asgi_floor_url),
        ):
            for target, base in (("/v1 via SDK", url), ("floor via SDK", floor_url)):
                client = openai.OpenAI(base_url=f"{base}/v1", api_key=raw, max_retries=0)

                def whole(client=client):
                    client.chat.completions.create(**request)

                def streamed(client=client):
                    for _ in client.chat.completions.create(**request, stream=True):
                        pass

                paths[f"{target}, {label}, whole"] = whole
                paths[f"{target}, {label}, streamed"] = streamed
        times, cpu = side_by_side(paths)

    engine = "inference chat_complete (the engine /v1 fronts)"
    database = os.environ["DATABASE_URL"].split(":")[0]
    print(f"{REQUESTS} rounds after {WARMUP} warm-up, every path once per round; database {database}")
    print(f"{'path':50} {'p50 ms':>8} {'p95 ms':>8} {'over engine':>12} {'portal own':>11} {'own CPU':>8}")
    worst = worst_cpu = 0.0
    for name, values in times.items():
        over = own = own_cpu = ""
        if name.startswith("/v1"):
            # The same round's engine call (and floor) is the baseline: load on the machine cancels out.
            over = f"{statistics.median(v - e for v, e in zip(values, times[engine], strict=True)):+.2f}"
            floor_name = name.replace("/v1 via SDK", "floor via SDK")
            if "SDK" in name and floor_name in times:
                portal = _own(times[name], times[engine], times[floor_name])
                portal_cpu = _own(cpu[name], cpu[engine], cpu[floor_name])
                worst, worst_cpu = max(worst, portal), max(worst_cpu, portal_cpu)
                own, own_cpu = f"{portal:+.2f}", f"{portal_cpu:+.2f}"
        print(
            f"{name:50} {statistics.median(values):8.2f} {p(values, 95):8.2f} {over:>12} {own:>11} "
            f"{own_cpu:>8}"
        )
    verdict = "met" if worst < GOAL_MS else "MISSED"
    print(
        f"/v1 overhead p50, the portal's own (worst SDK path, over engine and floor): {worst:.2f} ms; "
        f"goal < {GOAL_MS:.0f} ms: {verdict}"
    )
    print(
        f"the same in this process's CPU time (the load stretches it less; the database's own is not in "
        f"it): {worst_cpu:.2f} ms"
    )
    print(
        f"machine load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (figures stretch with it)"
    )


if __name__ == "__main__":
    main()
