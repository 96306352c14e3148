"""Hot swap under load against the real binary (poll mode): clients keep sending requests while a
new version is copied in and the old one removed, and while a broken version is copied in. No
request fails; once a client has been answered by the new version it is never answered by the old
one again; the broken version leaves the serving one in place."""

import shutil
import threading
import time

from conftest import stop_outpost
from test_admission import post_infer, top_class
from test_model_control import MODEL, start_polling, wait_for

EGYPTIAN_CAT = 286


def test_versions_swap_under_load_without_a_failed_request(tmp_path):
    process, addresses, model_dir = start_polling(tmp_path)
    base_url = addresses["base_url"]
    answers = [[] for _ in range(4)]
    running = threading.Event()
    running.set()

    def client(seen):
        while running.is_set():
            status, _, answer = post_infer(base_url)
            seen.append((status, answer.get("model_version"), answer))

    clients = [threading.Thread(target=client, args=(seen,)) for seen in answers]
    try:
        for thread in clients:
            thread.start()
        wait_for(lambda: all(len(seen) > 5 for seen in answers))

        # Version 2 comes in whole (copied beside the repository, then renamed into place).
        staging = tmp_path / "staging"
        staging.mkdir()
        shutil.copy(model_dir / "1" / "model.onnx", staging / "model.onnx")
        staging.rename(model_dir / "2")
        wait_for(lambda: all(seen and seen[-1][1] == "2" for seen in answers))
        shutil.rmtree(model_dir / "1")
        # A broken version 3: its load fails, version 2 keeps serving.
        broken = tmp_path / "broken"
        broken.mkdir()
        (broken / "model.onnx").write_bytes(b"not an onnx model")
        broken.rename(model_dir / "3")
        counts_before = [len(seen) for seen in answers]
        # Keep the load on for three more scans.
        time.sleep(3.5)
        wait_for(lambda: all(len(seen) > n + 5 for seen, n in zip(answers, counts_before)))
    finally:
        running.clear()
        for thread in clients:
            thread.join()
        stop_outpost(process)

    total = sum(len(seen) for seen in answers)
    failures = [(status, answer) for seen in answers for status, _, answer in seen if status != 200]
    assert not failures, f"{len(failures)} of {total} requests failed: {failures[:3]}"
    for seen in answers:
        assert all(top_class(answer) == EGYPTIAN_CAT for _, _, answer in seen)
        versions = [version for _, version, _ in seen]
        first_new = versions.index("2")
        assert set(versions[first_new:]) == {"2"}, "answered by version 1 after version 2"
        assert versions[-1] == "2", "the broken version 3 did not replace version 2"
