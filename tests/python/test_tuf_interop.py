"""Interoperability of Outpost's TUF reading with python-tuf, the reference implementation: a
bundle repository that python-tuf builds and signs (ed25519, consistent snapshots, flat target
names, the bundle's model and version in the target's custom field) is accepted by
`outpost repo check`, which reads it as a device does; the same repository with one byte of a
signed file changed is refused, and so is one whose timestamp has expired.
"""

import hashlib
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
