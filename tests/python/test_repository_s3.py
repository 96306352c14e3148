"""The bundle repository over S3: a repository made with `outpost repo init` and `publish`
and uploaded by them (`--upload s3://...`) to moto's S3 server (started here on a free
loopback port), is read by
`outpost repo check --repo s3://...` as a device reads it, through object_store; a tampered
object is refused, and an unreachable endpoint fails within the storage timeouts instead of
retrying for minutes.
"""

import os
import pathlib
import subprocess
import time

import pytest

from conftest import ROOT
from moto_s3 import MotoS3

BUCKET = "models"


def outpost(*args, env=None):
    binary = os.environ.get("OUTPOST_BIN", str(ROOT / "target" / "debug" / "outpost"))
    return subprocess.run(
        [binary, *args], capture_output=True, text=True, timeout=180,
        env=None if env is None else {**os.environ, **env},
    )


@pytest.fixture
def s3():
    """moto's S3 server on a free port with the bucket made: its endpoint, and a client for it."""
    server = MotoS3()
    server.client.create_bucket(Bucket=BUCKET)
    yield server.endpoint, server.client
    server.stop()


def s3_env(endpoint):
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ALLOW_HTTP": "true",
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_REGION": "us-east-1",
    }


def published_repository(tmp_path: pathlib.Path, upload=None, env=None) -> pathlib.Path:
    keys, repo, bundle = tmp_path / "keys", tmp_path / "repo", tmp_path / "m.bundle"
    flags = ["--keys", str(keys), "--repo", str(repo)]
    if upload:
        flags += ["--upload", upload]
    for args in (
        ["repo", "init", *flags],
        ["bundle", "create", str(ROOT / "models" / "mobilenet_v2_int8"),
         "--name", "mobilenet_v2_int8", "--version", "1", "-o", str(bundle)],
        ["repo", "publish", *flags, str(bundle)],
    ):
        done = outpost(*args, env=env)
        assert done.returncode == 0, done.stderr
    return repo


def check(repo: pathlib.Path, url: str, env):
    return outpost(
        "repo", "check", "--trusted-root", str(repo / "metadata" / "1.root.json"),
        "--repo", url, env=env,
    )


def test_a_repository_uploaded_to_s3_is_verified_and_lists_its_bundles(s3, tmp_path):
    endpoint, client = s3
    repo = published_repository(tmp_path, f"s3://{BUCKET}/fleet", s3_env(endpoint))
    keys = sorted(o["Key"] for o in client.list_objects_v2(Bucket=BUCKET)["Contents"])
    assert "fleet/metadata/timestamp.json" in keys
    assert any(k.startswith("fleet/targets/") and k.endswith(".mobilenet_v2_int8-1.bundle") for k in keys)
    checked = check(repo, f"s3://{BUCKET}/fleet", s3_env(endpoint))
    assert checked.returncode == 0, checked.stderr
    assert "mobilenet_v2_int8 1 mobilenet_v2_int8-1.bundle" in checked.stdout, checked.stdout

    # One byte of the signed targets metadata changed in the bucket.
    key = f"fleet/metadata/2.targets.json"
    body = client.get_object(Bucket=BUCKET, Key=key)["Body"].read().decode()
    client.put_object(Bucket=BUCKET, Key=key, Body=body.replace('"version": 1\n', '"version": 7\n', 1))
    refused = check(repo, f"s3://{BUCKET}/fleet", s3_env(endpoint))
    assert refused.returncode != 0
    assert "not trusted" in refused.stderr, refused.stderr


def test_an_unreachable_endpoint_fails_within_the_timeouts(tmp_path):
    repo = published_repository(tmp_path)
    # Nothing listens on port 9 of loopback (discard): every connection is refused at once.
    env = s3_env("http://127.0.0.1:9")
    started = time.monotonic()
    refused = check(repo, f"s3://{BUCKET}/fleet", env)
    elapsed = time.monotonic() - started
    assert refused.returncode != 0
    assert elapsed < 60, f"took {elapsed:.1f} s"
