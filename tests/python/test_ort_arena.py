"""ONNX Runtime's shared CPU arena against the real binary: the sessions of models with
`cpu_arena` (the default) take their memory from it, so their weights show as in use once the
model is loaded; a run's freed buffers are kept for the next run, and once the arena has been
idle for `ort.cpu_arena_idle_release_ms` they go back to the system (kept bytes fall to zero,
nothing in use leaks). What it keeps never passes `ort.cpu_arena_max_kept_bytes`, and a model
with `cpu_arena = false` stays out of it. When a model's parallel sessions (made while requests
overlap) are dropped, their memory goes back at once, however busy the arena."""

import json
import shutil
import threading
import urllib.request

from conftest import ROOT, start_outpost, stop_outpost
from test_admission import binary_request, top_class
from test_clients import MODEL, reference_input
from test_metrics import scrape, value, wait_until

EGYPTIAN_CAT = 286
MIB = 1 << 20


def arena(base_url):
    samples, text = scrape(base_url)
    assert "outpost_ort_cpu_arena_in_use_bytes" in text, "ONNX Runtime's shared arena is not in place"
    return {
        part: value(samples, f"outpost_ort_cpu_arena_{part}_bytes")
        for part in ("in_use", "kept", "max_kept")
    }


def wait_for_arena(base_url, predicate, what):
    return wait_until(lambda: arena(base_url), predicate, f"the arena never {what}")


def infer(base_url, model):
    header, body = binary_request(reference_input())
    request = urllib.request.Request(
        f"{base_url}/v2/models/{model}/infer", data=body, method="POST",
        headers={"Inference-Header-Content-Length": str(len(header)),
                 "Content-Type": "application/octet-stream"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        assert response.status == 200
        return json.loads(response.read())


def serve(tmp_path, ort_settings, models):
    """Starts the server on copies of the bundled model, one per (name, extra model.toml)."""
    repository = tmp_path / "models"
    for name, extra in models:
        shutil.copytree(ROOT / "models" / MODEL, repository / name)
        config = repository / name / "model.toml"
        config.write_text(config.read_text().replace('backend = "auto"', 'backend = "ort"') + extra)
    settings = tmp_path / "outpost.toml"
    settings.write_text("[ort]\n" + ort_settings)
    return start_outpost(repository, "--config", str(settings))


def test_freed_buffers_are_kept_for_the_next_run_and_handed_back_when_idle(tmp_path):
    process, addresses = serve(tmp_path, "cpu_arena_idle_release_ms = 5000\n", [(MODEL, "")])
    base_url = addresses["base_url"]
    try:
        idle = wait_for_arena(base_url, lambda a: a["kept"] == 0, "handed back the warm-up's buffers")
        assert idle["in_use"] > 1 * MIB, f"the weights are not in the arena: {idle}"
        assert top_class(infer(base_url, MODEL)) == EGYPTIAN_CAT
        after_run = arena(base_url)
        assert after_run["kept"] > 0, f"the run's buffers were not kept: {after_run}"
        assert after_run["in_use"] == idle["in_use"], "a run left memory in use"
        assert top_class(infer(base_url, MODEL)) == EGYPTIAN_CAT
        again = arena(base_url)
        assert again["kept"] == after_run["kept"], "the second run did not reuse the kept buffers"
        released = wait_for_arena(base_url, lambda a: a["kept"] == 0, "handed back what it kept")
        assert released["in_use"] == idle["in_use"]
    finally:
        stop_outpost(process)


def test_what_is_kept_stays_within_its_bound_and_models_without_the_arena_stay_out(tmp_path):
    bound = 64 * 1024
    process, addresses = serve(
        tmp_path / "both",
        f"cpu_arena_max_kept_bytes = {bound}\ncpu_arena_idle_release_ms = 600000\n",
        [("with_arena", ""), ("without_arena", "\n[memory]\ncpu_arena = false\n")],
    )
    base_url = addresses["base_url"]
    try:
        for _ in range(3):
            assert top_class(infer(base_url, "with_arena")) == EGYPTIAN_CAT
            assert top_class(infer(base_url, "without_arena")) == EGYPTIAN_CAT
        state = arena(base_url)
        assert state["max_kept"] == bound
        assert 0 < state["kept"] <= bound, state
        assert state["in_use"] > 1 * MIB, state
    finally:
        stop_outpost(process)

    process, addresses = serve(
        tmp_path / "without", "", [("without_arena", "\n[memory]\ncpu_arena = false\n")]
    )
    try:
        assert top_class(infer(addresses["base_url"], "without_arena")) == EGYPTIAN_CAT
        assert arena(addresses["base_url"])["in_use"] == 0
    finally:
        stop_outpost(process)


def test_dropped_parallel_sessions_hand_back_their_memory_at_once(tmp_path):
    # The arena would keep freed blocks for ten minutes: only the drop can hand them back.
    process, addresses = serve(
        tmp_path,
        "cpu_arena_idle_release_ms = 600000\n"
        "[inference]\nparallel_sessions_idle_release_ms = 1500\n",
        [(MODEL, "")],
    )
    base_url = addresses["base_url"]

    def sessions():
        return value(scrape(base_url)[0], "outpost_model_sessions", model=MODEL, version="1")

    try:
        assert sessions() == 1
        with urllib.request.urlopen(f"{base_url}/v2/models/{MODEL}/config", timeout=30) as answer:
            most_sessions = json.loads(answer.read())["instance_group"][0]["count"]
        assert most_sessions > 1, "the model makes no parallel sessions on this machine"
        one_session = arena(base_url)
        overlapping = threading.Event()
        answers = []

        def client():
            while not overlapping.is_set():
                answers.append(top_class(infer(base_url, MODEL)))

        clients = [threading.Thread(target=client) for _ in range(3)]
        for thread in clients:
            thread.start()
        try:
            # Every parallel session made (each hands back what making it took), then one more
            # run whose freed buffers the arena keeps.
            wait_until(sessions, lambda n: n == most_sessions,
                       "overlapping requests did not make every parallel session")
            assert top_class(infer(base_url, MODEL)) == EGYPTIAN_CAT
        finally:
            overlapping.set()
            for thread in clients:
                thread.join()
        assert answers and set(answers) == {EGYPTIAN_CAT}
        busy = arena(base_url)
        assert busy["kept"] > 0, f"the runs' buffers were not kept: {busy}"
        wait_until(sessions, lambda n: n == 1, "the parallel sessions were never dropped")
        dropped = arena(base_url)
        assert dropped["kept"] == 0, f"the dropped sessions' memory stayed in the arena: {dropped}"
        assert dropped["in_use"] == one_session["in_use"], (
            f"the dropped sessions left memory in use: {one_session} then {dropped}"
        )
    finally:
        stop_outpost(process)
