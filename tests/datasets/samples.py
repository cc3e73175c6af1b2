"""Small example lines of each dataset kind, and the upload that stores them, for the tests."""

from __future__ import annotations

import json

from django.core.files.uploadedfile import SimpleUploadedFile

from finetune_portal.datasets.uploads import dataset_upload


def chat(user: str = "How do I reset my PIN?", answer: str = "Open Settings, then Security.", system=True):
    messages = [{"role": "system", "content": "You are a helpful bank assistant."}] if system else []
    messages += [{"role": "user", "content": user}, {"role": "assistant", "content": answer}]
    return {"messages": messages}


def chats(n: int, **kwargs) -> list[dict]:
    return [chat(user=f"Question number {i}?", **kwargs) for i in range(n)]


def lines_of(examples) -> bytes:
    return b"".join((json.dumps(e) if not isinstance(e, str) else e).encode() + b"\n" for e in examples)


def write(tmp_path, content: bytes, name: str = "data.jsonl"):
    path = tmp_path / name
    path.write_bytes(content)
    return path


def upload(dataset, user, content: bytes, name="train.jsonl", **kwargs):
    uploaded = SimpleUploadedFile(name, content)
    return dataset_upload(dataset=dataset, uploaded_file=uploaded, user=user, **kwargs)


def stored_files(root) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) if root.exists() else []
