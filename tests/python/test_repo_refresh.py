"""Keeping a repository's signatures fresh with `outpost repo refresh --loop`, against moto's S3
server: a machine that holds only the timestamp key and a folder with only the root keeps a
4-second timestamp valid in the bucket for three of its lifetimes, while a publish from another
folder lands in between; what a device reads never goes back and never lapses. Also: two
publishers that signed from the same state cannot overwrite each other, and `repo init` refuses
a place that already holds a repository."""

import os
import re
import shutil
import subprocess
import threading
import time

from agent_support import model_folder
from conftest import ROOT
from test_repository_s3 import BUCKET, check, outpost, s3, s3_env  # noqa: F401 (fixture)

VERIFIED = re.compile(r"verified: targets v(\d+), snapshot v(\d+), timestamp v(\d+)")


def make_bundle(tmp_path, version):
    bundle = tmp_path / f"m-{version}.bundle"
    folder = model_folder(tmp_path / "sources", "int8", version)
    done = outpost("bundle", "create", str(folder), "--name", "mobilenet_v2_int8",
                   "--version", str(version), "-o", str(bundle))
    assert done.returncode == 0, done.stderr
    return bundle


def run_ok(*args, env):
    done = outpost(*args, env=env)
    assert done.returncode == 0, done.stderr
    return done


def test_the_loop_keeps_a_short_timestamp_valid_and_takes_what_is_published_meanwhile(s3, tmp_path):
    endpoint, _ = s3
    env, url = s3_env(endpoint), f"s3://{BUCKET}/fleet"
    lifetime = ["--timestamp-expiry", "4s"]
    publisher = ["--keys", str(tmp_path / "keys"), "--repo", str(tmp_path / "repo"), "--upload", url]
    run_ok("repo", "init", *publisher, *lifetime, env=env)
    run_ok("repo", "publish", *publisher, *lifetime, str(make_bundle(tmp_path, 1)), env=env)

    # The online machine: the timestamp key, and a folder with nothing but the root.
    online = tmp_path / "online"
    (online / "keys").mkdir(parents=True, mode=0o700)
    shutil.copy(tmp_path / "keys" / "timestamp.pk8", online / "keys" / "timestamp.pk8")
    (online / "repo" / "metadata").mkdir(parents=True)
    shutil.copy(tmp_path / "repo" / "metadata" / "1.root.json", online / "repo" / "metadata")
    binary = os.environ.get("OUTPOST_BIN", str(ROOT / "target" / "debug" / "outpost"))
    loop = subprocess.Popen(
        [binary, "repo", "refresh", "--keys", str(online / "keys"), "--repo", str(online / "repo"),
         "--upload", url, *lifetime, "--loop"],
        env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    output = []
    reader = threading.Thread(target=lambda: output.extend(loop.stdout), daemon=True)
    reader.start()
    try:
        seen, published_second = [], False
        started = time.monotonic()
        while time.monotonic() - started < 12:
            checked = check(tmp_path / "repo", url, env)
            assert checked.returncode == 0, f"{checked.stderr}\nloop said: {''.join(output)}"
            versions = tuple(int(v) for v in VERIFIED.search(checked.stdout).groups())
            bundles = checked.stdout.count(".bundle (")
            if seen:
                assert versions >= seen[-1][0], f"went back: {seen[-1][0]} then {versions}"
                assert all(a <= b for a, b in zip(seen[-1][0], versions)), (seen[-1], versions)
                assert bundles >= seen[-1][1], "a published bundle disappeared"
            seen.append((versions, bundles))
            if not published_second and time.monotonic() - started > 5:
                # A publish from the publisher's folder, which the loop's renewals left behind.
                run_ok("repo", "publish", *publisher, *lifetime, str(make_bundle(tmp_path, 2)), env=env)
                published_second = True
            time.sleep(0.2)
        assert loop.poll() is None, loop.stderr.read()
    finally:
        loop.terminate()
        assert loop.wait(timeout=10) == 0
        reader.join(timeout=5)
    said = "".join(output)
    # Valid for three lifetimes: about one renewal every two seconds, timestamp only.
    assert said.count("timestamp.json re-signed") >= 4, said
    assert "targets, snapshot and timestamp re-signed" not in said, said
    assert "took timestamp" in said, said
    first, last = seen[0], seen[-1]
    assert last[1] == 2 and first[1] == 1, seen
    assert last[0][2] >= first[0][2] + 4, seen
    assert not any(f.name.startswith(("targets", "snapshot", "root")) for f in (online / "keys").iterdir())


def test_two_publishers_from_the_same_state_cannot_overwrite_each_other(s3, tmp_path):
    endpoint, client = s3
    env, url = s3_env(endpoint), f"s3://{BUCKET}/fleet"
    first = ["--keys", str(tmp_path / "keys"), "--repo", str(tmp_path / "repo"), "--upload", url]
    run_ok("repo", "init", *first, env=env)
    # A second publisher's folder: a copy of the first one's, keys included, taken now.
    shutil.copytree(tmp_path / "keys", tmp_path / "keys2")
    shutil.copytree(tmp_path / "repo", tmp_path / "repo2")
    second = ["--keys", str(tmp_path / "keys2"), "--repo", str(tmp_path / "repo2"), "--upload", url]
    run_ok("repo", "publish", *first, str(make_bundle(tmp_path, 1)), env=env)
    # The second signs from what the bucket holds now, not from its stale copy: both land.
    done = run_ok("repo", "publish", *second, str(make_bundle(tmp_path, 2)), env=env)
    assert "took timestamp" in done.stdout, done.stdout
    checked = check(tmp_path / "repo", url, env)
    assert checked.returncode == 0, checked.stderr
    assert "mobilenet_v2_int8 1 " in checked.stdout and "mobilenet_v2_int8 2 " in checked.stdout

    # A place that already holds a repository is not initialised over.
    again = outpost("repo", "init", "--keys", str(tmp_path / "keys3"), "--repo", str(tmp_path / "repo3"),
                    "--upload", url, env=env)
    assert again.returncode != 0
    assert "changed in the store" in again.stderr and "no repository may be yet" in again.stderr, again.stderr
    assert check(tmp_path / "repo", url, env).returncode == 0
