"""Interoperability of Outpost's TUF with python-tuf, the reference implementation: a bundle
repository that python-tuf builds and signs (ed25519, consistent snapshots, flat target names,
the bundle's model and version in the target's custom field) is accepted by `outpost repo
check`, which reads it as a device does; the same repository with one byte of a signed file
changed is refused, and so is one whose timestamp has expired. The other way: python-tuf's
client reads a repository Outpost signed, following the fleet role's delegation to a rollout's
control, and both refuse a fleet role signed with a key the delegation does not name.
"""

import hashlib
import json
import os
import pathlib
import subprocess
from datetime import datetime, timedelta, timezone

from securesystemslib.signer import CryptoSigner
from tuf.api.metadata import (
    Metadata,
    MetaFile,
    Root,
    Snapshot,
    TargetFile,
    Targets,
    Timestamp,
)
from tuf.api.serialization.json import JSONSerializer

from conftest import ROOT

ROLES = ("root", "targets", "snapshot", "timestamp")


def outpost(*args):
    binary = os.environ.get("OUTPOST_BIN", str(ROOT / "target" / "debug" / "outpost"))
    return subprocess.run([binary, *args], capture_output=True, text=True, timeout=120)


def make_bundle(tmp_path: pathlib.Path) -> pathlib.Path:
    bundle = tmp_path / "mobilenet_v2_int8-1.bundle"
    made = outpost(
        "bundle", "create", str(ROOT / "models" / "mobilenet_v2_int8"),
        "--name", "mobilenet_v2_int8", "--version", "1", "-o", str(bundle),
    )
    assert made.returncode == 0, made.stderr
    return bundle


def python_tuf_repository(repo: pathlib.Path, bundle: pathlib.Path, timestamp_expires: datetime) -> None:
    """A repository in TUF's layout, made and signed by python-tuf alone."""
    now = datetime.now(timezone.utc).replace(microsecond=0)
    signers = {role: CryptoSigner.generate_ed25519() for role in ROLES}

    root = Root(expires=now + timedelta(days=365), consistent_snapshot=True)
    for role, signer in signers.items():
        root.add_key(signer.public_key, role)

    targets = Targets(expires=now + timedelta(days=90))
    name = bundle.name
    target = TargetFile.from_file(name, str(bundle))
    target.unrecognized_fields["custom"] = {"outpost": {"model": "mobilenet_v2_int8", "version": 1}}
    targets.targets[name] = target

    snapshot = Snapshot(expires=now + timedelta(days=7))
    snapshot.meta["targets.json"] = MetaFile(version=targets.version)
    timestamp = Timestamp(expires=timestamp_expires)
    timestamp.snapshot_meta = MetaFile(version=snapshot.version)

    metadata_dir = repo / "metadata"
    targets_dir = repo / "targets"
    metadata_dir.mkdir(parents=True)
    targets_dir.mkdir()
    files = {
        "root": ("1.root.json", root),
        "targets": ("1.targets.json", targets),
        "snapshot": ("1.snapshot.json", snapshot),
        "timestamp": ("timestamp.json", timestamp),
    }
    for role, (filename, signed) in files.items():
        metadata = Metadata(signed)
        metadata.sign(signers[role])
        metadata.to_file(str(metadata_dir / filename), JSONSerializer(compact=False))
    digest = hashlib.sha256(bundle.read_bytes()).hexdigest()
    (targets_dir / f"{digest}.{name}").write_bytes(bundle.read_bytes())


def check(repo: pathlib.Path):
    return outpost(
        "repo", "check",
        "--trusted-root", str(repo / "metadata" / "1.root.json"),
        "--repo", str(repo),
    )


def test_a_python_tuf_repository_is_accepted(tmp_path):
    bundle = make_bundle(tmp_path)
    repo = tmp_path / "repo"
    python_tuf_repository(repo, bundle, datetime.now(timezone.utc) + timedelta(days=1))
    checked = check(repo)
    assert checked.returncode == 0, checked.stderr
    assert "mobilenet_v2_int8 1 mobilenet_v2_int8-1.bundle" in checked.stdout, checked.stdout


def test_one_changed_byte_in_a_signed_file_is_refused(tmp_path):
    bundle = make_bundle(tmp_path)
    repo = tmp_path / "repo"
    python_tuf_repository(repo, bundle, datetime.now(timezone.utc) + timedelta(days=1))
    targets = repo / "metadata" / "1.targets.json"
    text = targets.read_text()
    # One byte of the signed part: the bundle's declared version.
    changed = text.replace('"version": 1\n', '"version": 2\n', 1)
    assert changed != text
    targets.write_text(changed)
    checked = check(repo)
    assert checked.returncode != 0
    assert "not trusted" in checked.stderr, checked.stderr


def test_an_expired_timestamp_is_refused(tmp_path):
    bundle = make_bundle(tmp_path)
    repo = tmp_path / "repo"
    python_tuf_repository(repo, bundle, datetime.now(timezone.utc) - timedelta(hours=1))
    checked = check(repo)
    assert checked.returncode != 0
    assert "expire" in checked.stderr.lower(), checked.stderr


def fleet_repository(tmp_path: pathlib.Path) -> tuple[pathlib.Path, pathlib.Path]:
    """A repository made by `outpost repo init`, with a bundle published with the default
    waves and its control signed by `outpost fleet open --percent 5`: its keys and its folder."""
    keys, repo = tmp_path / "keys", tmp_path / "repo"
    flags = ["--keys", str(keys), "--repo", str(repo)]
    for args in (["repo", "init", *flags],
                 ["repo", "publish", *flags, "--waves", "default", str(make_bundle(tmp_path))],
                 ["fleet", "open", *flags, "mobilenet_v2_int8", "1", "--percent", "5"]):
        done = outpost(*args)
        assert done.returncode == 0, done.stderr
    return keys, repo


def serve(folder: pathlib.Path):
    """`folder` over HTTP on a free loopback port, until shut down."""
    import functools
    import http.server
    import threading

    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def test_python_tuf_reads_the_fleet_role_and_its_controls(tmp_path):
    """python-tuf's client, from the trusted root alone, follows the fleet delegation Outpost
    signs: the control is found through it, its file matches its custom field, and the bundle
    and its rollout come from the top-level targets."""
    from tuf.ngclient import Updater

    _, repo = fleet_repository(tmp_path)
    server, url = serve(repo)
    try:
        client_dir, downloads = tmp_path / "client", tmp_path / "downloads"
        client_dir.mkdir()
        downloads.mkdir()
        root = (repo / "metadata" / "1.root.json").read_bytes()
        updater = Updater(str(client_dir), f"{url}/metadata/", str(downloads), f"{url}/targets/",
                          bootstrap=root)
        updater.refresh()
        control = updater.get_targetinfo("fleet-control.mobilenet_v2_int8.1.json")
        assert control is not None
        signed = control.unrecognized_fields["custom"]["outpost_control"]
        assert signed["control"]["open_percent"] == 5 and not signed["control"]["paused"]
        path = updater.download_target(control)
        assert json.loads(pathlib.Path(path).read_text()) == signed
        bundle = updater.get_targetinfo("mobilenet_v2_int8-1.bundle")
        rollout = bundle.unrecognized_fields["custom"]["outpost"]["rollout"]
        assert [w["fleet_percent"] for w in rollout["waves"]] == [1, 5, 10, 25, 100]
    finally:
        server.shutdown()


def test_a_control_signed_with_another_key_is_refused(tmp_path):
    """A fleet role re-signed with a key the delegation does not name, opening the rollout to
    all, with snapshot and timestamp signed by the real keys (an attacker who holds those): the
    device's reading refuses the repository, and so does python-tuf."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from tuf.api.exceptions import UnsignedMetadataError
    from tuf.ngclient import Updater

    keys, repo = fleet_repository(tmp_path)
    metadata = repo / "metadata"

    def real(role):
        # The key files are PKCS#8 v2 (with the public key); the seed is the 32 bytes after the
        # private key's OCTET STRING headers.
        der = (keys / f"{role}.pk8").read_bytes()
        at = der.index(b"\x04\x22\x04\x20") + 4
        return CryptoSigner(Ed25519PrivateKey.from_private_bytes(der[at:at + 32]))

    def newest(role):
        return max(metadata.glob(f"*.{role}.json"), key=lambda p: int(p.name.split(".")[0]))

    fleet = Metadata.from_file(str(newest("fleet")))
    for target in fleet.signed.targets.values():
        target.unrecognized_fields["custom"]["outpost_control"]["control"]["open_percent"] = 100
    fleet.signed.version += 1
    fleet.signatures.clear()
    fleet.sign(CryptoSigner.generate_ed25519())
    fleet.to_file(str(metadata / f"{fleet.signed.version}.fleet.json"), JSONSerializer(compact=False))
    snapshot = Metadata.from_file(str(newest("snapshot")))
    snapshot.signed.meta["fleet.json"] = MetaFile(version=fleet.signed.version)
    snapshot.signed.version += 1
    snapshot.signatures.clear()
    snapshot.sign(real("snapshot"))
    snapshot.to_file(str(metadata / f"{snapshot.signed.version}.snapshot.json"), JSONSerializer(compact=False))
    timestamp = Metadata.from_file(str(metadata / "timestamp.json"))
    timestamp.signed.snapshot_meta = MetaFile(version=snapshot.signed.version)
    timestamp.signed.version += 1
    timestamp.signatures.clear()
    timestamp.sign(real("timestamp"))
    timestamp.to_file(str(metadata / "timestamp.json"), JSONSerializer(compact=False))

    checked = check(repo)
    assert checked.returncode != 0
    assert "not trusted" in checked.stderr and "Signature threshold" in checked.stderr, checked.stderr

    server, url = serve(repo)
    try:
        client_dir = tmp_path / "client"
        client_dir.mkdir()
        updater = Updater(str(client_dir), f"{url}/metadata/", str(tmp_path), f"{url}/targets/",
                          bootstrap=(metadata / "1.root.json").read_bytes())
        updater.refresh()
        try:
            updater.get_targetinfo("fleet-control.mobilenet_v2_int8.1.json")
            raise AssertionError("python-tuf took a fleet role signed with another key")
        except UnsignedMetadataError:
            pass
    finally:
        server.shutdown()
