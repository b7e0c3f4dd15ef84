"""`dashboards install` against a local stand-in of the saved-objects import API.

Neither Kibana nor OpenSearch Dashboards can run here. The stand-in answers like both do
(as their API documentation describes): it insists on the cross-site header of its product,
on a multipart upload with a `file` part, reads the NDJSON and answers 200 with `success`,
`successCount` and `errors` (also when some objects are refused), or 400/401.
"""

from __future__ import annotations

import base64
import email.parser
import email.policy
import json
import ssl
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
from click.testing import CliRunner

from pipeline import dashboards
from pipeline.cli import main


class ImportApi(BaseHTTPRequestHandler):
    """POST /api/saved_objects/_import (optionally under /s/<space>)."""

    xsrf_header = "kbn-xsrf"
    refuse: dict = {}          # id -> error object to answer for it
    received: list = []        # (path, query, headers, objects) of every import

    def do_POST(self):
        url = urlsplit(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if not url.path.endswith("/api/saved_objects/_import"):
            return self._answer(404, {"statusCode": 404, "error": "Not Found"})
        if self.headers.get("Authorization") not in (None, *self.server.logins):
            return self._answer(401, {"statusCode": 401, "error": "Unauthorized",
                                      "message": "[security_exception] unable to authenticate"})
        if self.xsrf_header not in self.headers:
            return self._answer(400, {"statusCode": 400, "error": "Bad Request",
                                      "message": f"Request must contain a {self.xsrf_header} "
                                                 "header."})
        objects = self._file(body)
        if objects is None:
            return self._answer(400, {"statusCode": 400, "error": "Bad Request",
                                      "message": "[request body.file]: expected value of type "
                                                 "[Stream] but got [undefined]"})
        self.received.append((url.path, parse_qs(url.query), dict(self.headers), objects))
        errors = [{"id": o["id"], "type": o["type"], "meta": {"title": o["attributes"]["title"]},
                   "error": self.refuse[o["id"]]} for o in objects if o["id"] in self.refuse]
        self._answer(200, {"success": not errors, "successCount": len(objects) - len(errors),
                           "errors": errors,
                           "successResults": [{"id": o["id"], "type": o["type"]}
                                              for o in objects if o["id"] not in self.refuse]})

    def _file(self, body: bytes) -> list[dict] | None:
        kind = self.headers.get("Content-Type", "")
        if not kind.startswith("multipart/form-data"):
            return None
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            f"Content-Type: {kind}\r\n\r\n".encode() + body)
        for part in message.iter_parts():
            if part.get_param("name", header="content-disposition") == "file":
                assert part.get_filename().endswith(".ndjson")
                lines = part.get_payload(decode=True).decode("utf-8").splitlines()
                return [json.loads(line) for line in lines if line.strip()]
        return None

    def _answer(self, status: int, body: dict):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


class KibanaApi(ImportApi):
    xsrf_header = "kbn-xsrf"


class OsdApi(ImportApi):
    xsrf_header = "osd-xsrf"


@pytest.fixture(params=[("kibana", KibanaApi), ("opensearch-dashboards", OsdApi)],
                ids=["kibana", "osd"])
def stand_in(request):
    target, handler = request.param
    handler = type(handler.__name__, (handler,), {"refuse": {}, "received": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    basic = base64.b64encode(b"dash_admin:s3cret").decode()
    server.logins = (f"Basic {basic}", "ApiKey aWQ6a2V5")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield target, f"http://127.0.0.1:{server.server_address[1]}", handler
    server.shutdown()
    server.server_close()


def install(target, url, *extra, env=None):
    return CliRunner().invoke(main, ["dashboards", "install", f"--{target}", url, *extra],
                              env=env or {})


def test_install_uploads_every_object_with_overwrite(stand_in):
    target, url, api = stand_in
    result = install(target, url, "--username", "dash_admin", "--password", "s3cret")
    assert result.exit_code == 0, result.output
    assert "15 saved objects imported" in result.stderr
    assert "s3cret" not in result.output

    path, query, headers, objects = api.received[0]
    assert path == "/api/saved_objects/_import"
    assert query == {"overwrite": ["true"]}
    assert headers[api.xsrf_header] == "true"
    expected = [json.loads(line) for line in dashboards.render(target).splitlines()]
    assert objects == expected


def test_target_and_login_come_from_the_configuration_file(stand_in, tmp_path):
    target, url, api = stand_in
    config = tmp_path / "config.yaml"
    config.write_text(f"cluster:\n  username: cluster_user\n"
                      f"dashboards:\n  {target}: {url}\n  username: dash_admin\n"
                      f"  password: s3cret\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["--config", str(config), "dashboards", "install"])
    assert result.exit_code == 0, result.output
    assert "15 saved objects imported" in result.stderr
    # The dashboards section's login, not the cluster's.
    basic = base64.b64encode(b"dash_admin:s3cret").decode()
    assert api.received[0][2]["Authorization"] == f"Basic {basic}"


def test_installing_again_overwrites_the_same_ids(stand_in):
    target, url, api = stand_in
    for _ in range(2):
        assert install(target, url).exit_code == 0
    first, second = ([o["id"] for o in received[3]] for received in api.received)
    assert first == second and len(set(first)) == 15


def test_refused_objects_are_reported_one_by_one_with_exit_status_1(stand_in):
    target, url, api = stand_in
    objects = [json.loads(line) for line in dashboards.render(target).splitlines()]
    board, lens = objects[-1], objects[2]
    api.refuse.update({
        board["id"]: {"type": "missing_references",
                      "references": [{"type": "index-pattern", "id": "gone"}]},
        lens["id"]: {"type": "unknown", "message": "Unsupported saved object type",
                     "statusCode": 400},
    })
    result = install(target, url, env={"SENDERLOG_API_KEY": "aWQ6a2V5"})
    assert result.exit_code == 1
    assert "13 saved objects imported" in result.stderr
    refused = [line for line in result.stderr.splitlines() if line.startswith("refused")]
    assert refused == [
        f"refused {lens['type']} {lens['id']} (Delivery attempts over time by outcome): "
        "unknown: Unsupported saved object type",
        f"refused dashboard {board['id']} (E-Post delivery overview): missing references: "
        "index-pattern gone",
    ]
    assert api.received[0][2]["Authorization"] == "ApiKey aWQ6a2V5"


def test_wrong_login_wrong_product_and_no_server_fail_clearly(stand_in):
    target, url, _ = stand_in
    result = install(target, url, "--username", "dash_admin", "--password", "wrong")
    assert result.exit_code == 1
    assert "install failed: 401" in result.stderr
    assert "unable to authenticate" in result.stderr

    # The other product's header is not enough.
    other = "opensearch-dashboards" if target == "kibana" else "kibana"
    result = install(other, url)
    assert result.exit_code == 1
    assert "install failed: 400" in result.stderr and "xsrf header" in result.stderr

    result = install(target, "http://127.0.0.1:1")
    assert result.exit_code == 1
    assert "install failed: cannot reach http://127.0.0.1:1: ConnectionError" in result.stderr


def test_kibana_space_and_exactly_one_target(stand_in):
    target, url, api = stand_in
    if target == "kibana":
        assert install(target, url, "--space", "mail-ops").exit_code == 0
        assert api.received[0][0] == "/s/mail-ops/api/saved_objects/_import"
    result = CliRunner().invoke(main, ["dashboards", "install"])
    assert result.exit_code == 2
    assert "give exactly one of --kibana URL, --opensearch-dashboards URL" in result.output


@pytest.fixture
def tls_stand_in(tmp_path):
    """The Kibana stand-in behind TLS, with a certificate for 127.0.0.1 of its own."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    handler = type("TlsKibanaApi", (KibanaApi,), {"refuse": {}, "received": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.logins = ()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_address[1]}", cert, handler
    server.shutdown()
    server.server_close()


def test_tls_is_verified_against_the_given_ca(tls_stand_in):
    url, cert, api = tls_stand_in
    result = install("kibana", url)
    assert result.exit_code == 1
    assert f"install failed: cannot reach {url}: SSLError" in result.stderr

    assert install("kibana", url, "--ca-certs", str(cert)).exit_code == 0
    result = install("kibana", url, "--no-verify-certs")
    assert result.exit_code == 0
    assert "Warning" not in result.stderr
    assert len(api.received) == 2
