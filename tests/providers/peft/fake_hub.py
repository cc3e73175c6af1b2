"""A small in-process stand-in for the Hugging Face Hub, reached through huggingface_hub's own client.

huggingface_hub sends every request through the client that ``set_client_factory`` makes, so routing it
to an httpx2 MockTransport exercises the real upload and download code with no network.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field

import httpx2

ENDPOINT = "https://huggingface.co"


@dataclass
class FakeRepo:
    private: bool
    files: dict[str, bytes] = field(default_factory=dict)
    commits: list[str] = field(default_factory=list)


@dataclass
class FakeHub:
    repos: dict[str, FakeRepo] = field(default_factory=dict)
    gated: set[str] = field(default_factory=set)
    tokens_seen: list[str] = field(default_factory=list)
    # token -> (user name, token role "read" / "write" / "fineGrained") that whoami knows.
    accounts: dict[str, tuple[str, str]] = field(default_factory=dict)

    def client(self) -> httpx2.Client:
        return httpx2.Client(transport=httpx2.MockTransport(self.handle), follow_redirects=True)

    def handle(self, request: httpx2.Request) -> httpx2.Response:
        auth = request.headers.get("authorization", "")
        if auth:
            self.tokens_seen.append(auth.removeprefix("Bearer "))
        path = request.url.path
        parts = path.strip("/").split("/")
        if request.method == "POST" and path == "/api/repos/create":
            body = json.loads(request.content)
            repo_id = (
                f"{body.get('organization') or 'me'}/{body['name']}"
                if "/" not in body["name"]
                else body["name"]
            )
            self.repos.setdefault(
                repo_id, FakeRepo(private=body.get("visibility") == "private" or bool(body.get("private")))
            )
            return httpx2.Response(200, json={"url": f"{ENDPOINT}/{repo_id}", "name": repo_id})
        if request.method == "GET" and path == "/api/whoami-v2":
            return self._whoami(auth.removeprefix("Bearer "))
        if request.method == "POST" and path == "/api/validate-yaml":
            return httpx2.Response(200, json={})
        if parts[:2] == ["api", "models"]:
            return self._api(request, parts[2:])
        if len(parts) >= 5 and parts[2] == "resolve":
            return self._resolve(request, "/".join(parts[:2]), "/".join(parts[4:]))
        return httpx2.Response(404, json={"error": f"fake hub: no route {request.method} {path}"})

    def _whoami(self, token: str) -> httpx2.Response:
        if token not in self.accounts:
            return httpx2.Response(401, json={"error": "Invalid credentials in Authorization header"})
        name, role = self.accounts[token]
        return httpx2.Response(
            200,
            json={
                "type": "user",
                "name": name,
                "auth": {"type": "access_token", "accessToken": {"role": role}},
            },
        )

    def _missing(self, repo_id: str) -> httpx2.Response | None:
        if repo_id in self.gated:
            return httpx2.Response(
                401,
                headers={"X-Error-Code": "GatedRepo"},
                json={"error": "Access to this model is restricted."},
            )
        if repo_id not in self.repos:
            return httpx2.Response(
                404, headers={"X-Error-Code": "RepoNotFound"}, json={"error": "Repository not found"}
            )
        return None

    def _api(self, request, rest: list[str]) -> httpx2.Response:
        repo_id = "/".join(rest[:2])
        action = rest[2:]
        missing = self._missing(repo_id)
        if missing is not None:
            return missing
        repo = self.repos[repo_id]
        if action[:1] == ["preupload"]:
            files = json.loads(request.content)["files"]
            return httpx2.Response(
                200,
                json={
                    "files": [
                        {"path": f["path"], "uploadMode": "regular", "shouldIgnore": False} for f in files
                    ]
                },
            )
        if action[:1] == ["commit"]:
            for line in request.content.decode().splitlines():
                item = json.loads(line)
                if item.get("key") == "file":
                    value = item["value"]
                    repo.files[value["path"]] = base64.b64decode(value["content"])
                elif item.get("key") == "header":
                    repo.commits.append(item["value"].get("summary", ""))
            oid = hashlib.sha1(str(len(repo.commits)).encode()).hexdigest()  # noqa: S324
            return httpx2.Response(
                200,
                json={
                    "commitUrl": f"{ENDPOINT}/{repo_id}/commit/{oid}",
                    "commitOid": oid,
                    "pullRequestUrl": None,
                },
            )
        if not action or action[:1] == ["revision"]:
            siblings = [{"rfilename": name} for name in sorted(repo.files)]
            return httpx2.Response(
                200,
                json={
                    "id": repo_id,
                    "modelId": repo_id,
                    "sha": "0" * 40,
                    "private": repo.private,
                    "siblings": siblings,
                },
            )
        return httpx2.Response(404, json={"error": f"fake hub: no api route {action}"})

    def _resolve(self, request, repo_id: str, filename: str) -> httpx2.Response:
        missing = self._missing(repo_id)
        if missing is not None:
            return missing
        content = self.repos[repo_id].files.get(filename)
        if content is None:
            return httpx2.Response(
                404, headers={"X-Error-Code": "EntryNotFound"}, json={"error": "not found"}
            )
        etag = hashlib.sha256(content).hexdigest()
        headers = {"ETag": f'"{etag}"', "X-Repo-Commit": "0" * 40, "Content-Length": str(len(content))}
        return httpx2.Response(200, headers=headers, content=b"" if request.method == "HEAD" else content)
