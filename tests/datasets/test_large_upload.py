"""A large upload through the real upload view, streamed over HTTP: the server's memory stays bounded."""

from __future__ import annotations

import hashlib
import http.client
import tracemalloc
import urllib.parse

import pytest
from django.conf import settings as django_settings
from django.urls import reverse

from finetune_portal.datasets.models import DatasetVersion
from finetune_portal.datasets.tokenizers import TokenCounter, TokenizerSpec
from tests.datasets.samples import lines_of
from tests.factories import make_dataset

FILE_BYTES = 60 * 1024 * 1024
CSRF_TOKEN = "k" * 32
BOUNDARY = "----datasetuploadboundary"


def long_chat(i: int) -> dict:
    turns = [{"role": "system", "content": "You answer questions about bank accounts. " * 4}]
    for turn in range(8):
        turns.append({"role": "user", "content": f"Question {turn}: how do fees work here? " * 5})
        turns.append({"role": "assistant", "content": f"Answer {turn}: fees are listed in the tariff. " * 5})
    turns.append({"role": "user", "content": f"Thanks, ticket {i}."})
    turns.append({"role": "assistant", "content": "You are welcome."})
    return {"messages": turns}


BLOCK = lines_of([long_chat(i) for i in range(100)])


def generated_file_chunks(total: int):
    """About `total` bytes of valid chat JSONL, produced piece by piece and never held whole."""
    block = BLOCK
    sent = 0
    while sent + len(block) <= total:
        yield block
        sent += len(block)


def multipart_parts(filename: str, total: int):
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="csrfmiddlewaretoken"\r\n\r\n{CSRF_TOKEN}\r\n'
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="target"\r\n\r\nopenai\r\n'
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    tail = f"\r\n--{BOUNDARY}--\r\n".encode()
    return head, generated_file_chunks(total), tail


@pytest.mark.django_db(transaction=True)
def test_a_large_upload_streams_to_storage_in_bounded_memory(live_server, client, cast, eager_celery):
    # The tokenizer's tables (tens of MB, the same for any file) load once per process; load them before
    # measuring so the peak shows what the upload and its validation cost.
    TokenCounter(TokenizerSpec("tiktoken", "o200k_base"))
    dataset = make_dataset(cast.project)
    client.force_login(cast.member)
    session_cookie = client.cookies[django_settings.SESSION_COOKIE_NAME].value
    block_size = len(BLOCK)
    file_size = (FILE_BYTES // block_size) * block_size
    head, body, tail = multipart_parts("big.jsonl", FILE_BYTES)
    digest = hashlib.sha256()

    def stream():
        yield head
        for chunk in body:
            digest.update(chunk)
            yield chunk
        yield tail

    url = urllib.parse.urlsplit(live_server.url)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=120)
    tracemalloc.start()
    try:
        connection.putrequest("POST", reverse("datasets:upload", args=[cast.project.slug, dataset.pk]))
        connection.putheader("Content-Type", f"multipart/form-data; boundary={BOUNDARY}")
        connection.putheader("Content-Length", str(len(head) + file_size + len(tail)))
        connection.putheader("Cookie", f"sessionid={session_cookie}; csrftoken={CSRF_TOKEN}")
        connection.putheader("X-Requested-With", "XMLHttpRequest")
        connection.putheader("Referer", live_server.url)
        connection.endheaders()
        for piece in stream():
            connection.send(piece)
        response = connection.getresponse()
        payload = response.read()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        connection.close()

    assert response.status == 200, payload[:500]
    version = DatasetVersion.objects.get(dataset=dataset)
    assert version.byte_size == file_size
    assert version.sha256 == digest.hexdigest()
    # Validation ran after the commit (in-process here) and read the whole file too.
    assert version.status == "valid"
    assert version.example_count == (file_size // block_size) * 100
    # Client, server and validation together stay under fixed buffers (read blocks, the tokenizer's
    # bounded cache of short texts), about half the file here; holding the file would need more than it.
    assert peak < 25 * 1024 * 1024 < file_size / 2, (
        f"peak {peak / 1e6:.1f} MB for a {file_size / 1e6:.0f} MB upload"
    )
