"""TLS against the real binary: clients trusting a test CA infer over HTTPS (tritonclient HTTP)
and gRPC over TLS (tritonclient gRPC); plaintext clients and clients that do not trust the CA
fail on both ports and leave the server serving; with a client CA configured, only clients with a
certificate from it get through (mutual TLS). The CA and certificates are made per test run."""

import datetime
import http.client
import ipaddress
import os
import subprocess
import ssl
import urllib.error
import urllib.request

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from tritonclient.utils import InferenceServerException

from conftest import ROOT, start_outpost, stop_outpost
from test_clients import MODEL, reference_input

EGYPTIAN_CAT = 286


def _name(common_name):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _certificate(subject, subject_key, issuer, issuer_key, extensions):
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(subject_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
    )
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical=critical)
    return builder.sign(issuer_key, hashes.SHA256())


def _write(path, certificate=None, key=None):
    if certificate is not None:
        path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    else:
        path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    return str(path)


def make_pki(directory, label):
    """A CA, a server certificate for 127.0.0.1/localhost and a client certificate, as PEM files."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _certificate(
        f"Outpost test CA {label}", ca_key, f"Outpost test CA {label}", ca_key,
        [
            (x509.BasicConstraints(ca=True, path_length=None), True),
            (x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True,
                crl_sign=True, encipher_only=False, decipher_only=False), True),
        ],
    )
    files = {"ca": _write(directory / f"{label}-ca.pem", certificate=ca)}
    for role, usage, names in [
        ("server", ExtendedKeyUsageOID.SERVER_AUTH,
         [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
        ("client", ExtendedKeyUsageOID.CLIENT_AUTH, [x509.DNSName("camera-7")]),
    ]:
        key = ec.generate_private_key(ec.SECP256R1())
        certificate = _certificate(
            f"{label} {role}", key, f"Outpost test CA {label}", ca_key,
            [
                (x509.BasicConstraints(ca=False, path_length=None), True),
                (x509.ExtendedKeyUsage([usage]), False),
                (x509.SubjectAlternativeName(names), False),
            ],
        )
        files[f"{role}_cert"] = _write(directory / f"{label}-{role}.pem", certificate=certificate)
        files[f"{role}_key"] = _write(directory / f"{label}-{role}.key", key=key)
    return files


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    directory = tmp_path_factory.mktemp("pki")
    return {"trusted": make_pki(directory, "trusted"), "stranger": make_pki(directory, "stranger")}


def tls_context(files, with_client_certificate=False):
    context = ssl.create_default_context(cafile=files["ca"])
    if with_client_certificate:
        context.load_cert_chain(files["client_cert"], files["client_key"])
    return context


def _input(module):
    data = reference_input()
    tensor = module.InferInput("input", list(data.shape), "FP32")
    tensor.set_data_from_numpy(data)
    return tensor


def https_infer(url, ssl_options):
    client = httpclient.InferenceServerClient(url=url, ssl=True, ssl_options=ssl_options)
    try:
        result = client.infer(MODEL, [_input(httpclient)])
        return int(np.argmax(result.as_numpy("probabilities")))
    finally:
        client.close()


def grpc_tls_infer(url, **credentials):
    client = grpcclient.InferenceServerClient(url=url, ssl=True, **credentials)
    try:
        result = client.infer(MODEL, [_input(grpcclient)], client_timeout=60)
        return int(np.argmax(result.as_numpy("probabilities")))
    finally:
        client.close()


@pytest.fixture(scope="module")
def tls_server(pki):
    files = pki["trusted"]
    process, addresses = start_outpost(
        ROOT / "models",
        "--tls-cert", files["server_cert"], "--tls-key", files["server_key"],
        tls_context=tls_context(files),
    )
    yield addresses
    stop_outpost(process)


def test_client_trusting_the_ca_infers_over_https_and_grpc_tls(tls_server, pki):
    files = pki["trusted"]
    assert https_infer(tls_server["url"], {"ca_certs": files["ca"]}) == EGYPTIAN_CAT
    assert grpc_tls_infer(
        tls_server["grpc_url"], root_certificates=files["ca"]
    ) == EGYPTIAN_CAT
    client = grpcclient.InferenceServerClient(
        url=tls_server["grpc_url"], ssl=True, root_certificates=files["ca"]
    )
    assert client.is_server_live() and client.is_model_ready(MODEL)
    client.close()


def test_plaintext_to_the_tls_ports_fails(tls_server, pki):
    # The server answers a plaintext request with a TLS alert, which is no HTTP status line.
    with pytest.raises((urllib.error.URLError, ConnectionError, http.client.HTTPException)):
        urllib.request.urlopen(f"http://{tls_server['url']}/v2/health/ready", timeout=10)
    plain_http = httpclient.InferenceServerClient(url=tls_server["url"], network_timeout=10)
    with pytest.raises(Exception):
        plain_http.is_server_live()
    plain_http.close()

    plain_grpc = grpcclient.InferenceServerClient(url=tls_server["grpc_url"])
    with pytest.raises(InferenceServerException) as refused:
        plain_grpc.is_server_live(client_timeout=10)
    assert refused.value.status() in ("StatusCode.UNAVAILABLE", "StatusCode.DEADLINE_EXCEEDED")
    plain_grpc.close()

    # Still serving TLS clients afterwards.
    assert https_infer(tls_server["url"], {"ca_certs": pki["trusted"]["ca"]}) == EGYPTIAN_CAT


def test_clients_not_trusting_the_ca_refuse_the_server(tls_server, pki):
    stranger = pki["stranger"]
    with pytest.raises(ssl.SSLCertVerificationError):
        https_infer(tls_server["url"], {"ca_certs": stranger["ca"]})
    with pytest.raises(InferenceServerException) as refused:
        grpc_tls_infer(tls_server["grpc_url"], root_certificates=stranger["ca"])
    assert refused.value.status() == "StatusCode.UNAVAILABLE"


def test_mutual_tls_needs_a_client_certificate_from_the_client_ca(pki, tmp_path):
    files = pki["trusted"]
    process, addresses = start_outpost(
        ROOT / "models",
        "--tls-cert", files["server_cert"], "--tls-key", files["server_key"],
        "--tls-client-ca", files["ca"],
        tls_context=tls_context(files, with_client_certificate=True),
    )
    try:
        with_certificate = {
            "ca_certs": files["ca"], "certfile": files["client_cert"], "keyfile": files["client_key"],
        }
        assert https_infer(addresses["url"], with_certificate) == EGYPTIAN_CAT
        assert grpc_tls_infer(
            addresses["grpc_url"],
            root_certificates=files["ca"],
            private_key=files["client_key"],
            certificate_chain=files["client_cert"],
        ) == EGYPTIAN_CAT

        with pytest.raises(Exception):
            https_infer(addresses["url"], {"ca_certs": files["ca"]})
        with pytest.raises(InferenceServerException):
            grpc_tls_infer(addresses["grpc_url"], root_certificates=files["ca"])

        stranger = pki["stranger"]
        with pytest.raises(Exception):
            https_infer(addresses["url"], {
                "ca_certs": files["ca"],
                "certfile": stranger["client_cert"], "keyfile": stranger["client_key"],
            })
    finally:
        stop_outpost(process)


def test_a_key_that_does_not_match_the_certificate_stops_the_start(pki):
    binary = os.environ.get("OUTPOST_BIN", str(ROOT / "target" / "debug" / "outpost"))
    files = pki["trusted"]
    finished = subprocess.run(
        [
            binary, "serve", "--http-port", "0", "--grpc-port", "0",
            "--model-repository", str(ROOT / "models"),
            "--tls-cert", files["server_cert"], "--tls-key", files["client_key"],
        ],
        capture_output=True, text=True, timeout=60,
    )
    assert finished.returncode != 0
    assert "cannot serve together" in finished.stderr and "trusted-client.key" in finished.stderr
    assert "listening" not in finished.stdout
