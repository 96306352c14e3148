"""The HTTP API against its own contract: schemathesis (its CLI, PyPI) reads the real server's
/openapi.json and, for every operation, generates paths, parameters, headers and bodies, valid
and invalid ones (its coverage, fuzzing and stateful phases), with the bundled models' names in
most paths (tests/python/schemathesis.toml) and model control on with the token the requests
carry. Every answer is checked: never a 5xx (but a 504 to a request's own generated deadline,
tests/python/contract_checks.py), a status code the document lists for the operation,
the documented content type, headers and body schema. The server must stay healthy and both
models must still answer afterwards."""

import json
import os
import pathlib
import subprocess
import sys
import urllib.request

import pytest

from conftest import ROOT, start_outpost, stop_outpost

pytestmark = pytest.mark.long_running

TOKEN = "contract-test-control-token"
HERE = pathlib.Path(__file__).resolve().parent
# no_server_error_but_a_missed_deadline (tests/python/contract_checks.py) in place of
# schemathesis's not_a_server_error: a 504 to a request's own, generated, deadline is right.
CHECKS = ("no_server_error_but_a_missed_deadline,status_code_conformance,content_type_conformance,"
          "response_headers_conformance,response_schema_conformance")
# Generated cases per operation and phase.
EXAMPLES = 40


def test_every_operation_keeps_to_the_documented_contract(tmp_path):
    process, addresses = start_outpost(
        ROOT / "models", "--model-control-mode", "explicit", env={"OUTPOST_CONTROL_TOKEN": TOKEN})
    try:
        base_url = addresses["base_url"]
        report = tmp_path / "schemathesis.json"
        run = subprocess.run(
            [str(pathlib.Path(sys.executable).with_name("schemathesis")),
             "--config-file", str(HERE / "schemathesis.toml"),
             "run", f"{base_url}/openapi.json", "--checks", CHECKS,
             "--max-examples", str(EXAMPLES), "--seed", "20261207", "--workers", "2",
             "--report", "json", "--report-json-path", str(report)],
            capture_output=True, text=True, timeout=600, cwd=tmp_path,
            env={**os.environ, "OUTPOST_CONTRACT_TOKEN": TOKEN, "SCHEMATHESIS_HOOKS": "contract_checks",
                 "PYTHONPATH": str(HERE)},
        )
        summary = json.loads(report.read_text())
        print(run.stdout[-3000:])
        cases = summary["test_cases"]
        operations = summary["operations"]
        print(f"schemathesis: {cases} over {operations}; failures {summary['failures']}; "
              f"errors {summary['errors']}")
        assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
        assert not summary["failures"] and not summary["errors"], run.stdout[-6000:]
        with urllib.request.urlopen(f"{base_url}/openapi.json", timeout=10) as response:
            served = json.loads(response.read())
        # Every operation but GET /openapi.json, which schemathesis reads as the schema itself.
        assert operations["tested"] == sum(len(p) for p in served["paths"].values()) - 1, operations

        # Healthy afterwards; a model the generated requests unloaded loads again, and both answer.
        with urllib.request.urlopen(f"{base_url}/v2/health/ready", timeout=10) as response:
            assert response.status == 200
        photo = (ROOT / "tests" / "fixtures" / "images" / "chelsea.png").read_bytes()
        for model in ("mobilenet_v2_int8", "ssd_mobilenet_v1_coco"):
            request = urllib.request.Request(
                f"{base_url}/v2/repository/models/{model}/load", data=b"", method="POST",
                headers={"Authorization": f"Bearer {TOKEN}"})
            with urllib.request.urlopen(request, timeout=120) as response:
                assert response.status == 200
            request = urllib.request.Request(
                f"{base_url}/v2/models/{model}/image", data=photo, method="POST",
                headers={"Content-Type": "image/png"})
            with urllib.request.urlopen(request, timeout=60) as response:
                assert response.status == 200
    finally:
        stop_outpost(process)
