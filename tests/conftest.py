from __future__ import annotations

import os

# Set before anything imports huggingface_hub: tests never reach a hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import pytest

from tests.factories import make_project, make_user


def pytest_configure(config):
    """Under pytest-xdist the test processes share the machine's cores: torch in each of them (and in the
    processes a test starts) takes its share. Two processes training at once with a thread per core each
    would spin their thread pools against each other. Set before any test module imports torch."""
    processes = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if processes > 1:
        os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // processes)))


def pytest_sessionfinish(session, exitstatus):
    session.config._portal_exit_status = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    """End the test process as soon as pytest is done, with pytest's exit status.

    Daemon threads that tests leave behind (model-server generations, worker threads) may still hold
    torch's native thread pool when the interpreter tears down its C++ objects; that teardown then aborts
    the process ("terminate called without an active exception") after every test has passed, and the
    run reads as failed. Nothing is left to do at this point: results are printed, the test databases
    dropped, and each plugin unconfigured.
    """
    status = getattr(config, "_portal_exit_status", None)
    if status is None:
        return
    import sys

    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


@pytest.fixture(autouse=True)
def _test_settings(request, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    # Real hashing is deliberately slow; tests log in hundreds of times.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # Login throttling counts every failed login in a test as a real attack would; it is on in the tests
    # about it (marked "axes"). client.login() also passes no request, which the axes backend requires.
    settings.AXES_ENABLED = request.node.get_closest_marker("axes") is not None
    # The catalog /v1 keeps in memory belongs to the database it was read from, rolled back after a test.
    from finetune_portal.inference.catalog_cache import forget_served_models

    forget_served_models()


@pytest.fixture
def cast(db):
    """One project with a user of each role, an outsider, a site admin and a second project."""
    from finetune_portal.projects.models import Membership, Role

    project = make_project("Bank reviews", "bank-reviews")
    other_project = make_project("Other team", "other-team")
    users = {
        "member": make_user("mia"),
        "ml_lead": make_user("lee"),
        "admin": make_user("ada"),
        "outsider": make_user("otto"),
        "site_admin": make_user("root", is_superuser=True),
    }
    Membership.objects.create(project=project, user=users["member"], role=Role.MEMBER)
    Membership.objects.create(project=project, user=users["ml_lead"], role=Role.ML_LEAD)
    Membership.objects.create(project=project, user=users["admin"], role=Role.ADMIN)
    Membership.objects.create(project=other_project, user=users["outsider"], role=Role.ADMIN)
    return type("Cast", (), {"project": project, "other_project": other_project, **users})


@pytest.fixture(scope="session")
def s3_server():
    """A local S3 server (moto) for the session: object storage is an outside service tests cannot reach."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_storage(s3_server, settings, monkeypatch):
    """The default storage on a fresh bucket of the local S3 server, configured as S3_BUCKET would."""
    import uuid

    import boto3

    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    bucket = f"portal-{uuid.uuid4().hex[:12]}"
    client = boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1")
    client.create_bucket(Bucket=bucket)
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": bucket,
                "endpoint_url": s3_server,
                "region_name": "us-east-1",
                "default_acl": None,
                "querystring_auth": True,
            },
        },
    }
    settings.MEDIA_ROOT = "/nonexistent-media-root"  # nothing may fall back to the local folder

    def object_keys() -> list[str]:
        listing = client.list_objects_v2(Bucket=bucket)
        return sorted(item["Key"] for item in listing.get("Contents", []))

    return type("Bucket", (), {"name": bucket, "client": client, "object_keys": staticmethod(object_keys)})
