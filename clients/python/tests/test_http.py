"""The client on recd's HTTP API, every call, when RECD_HTTP_URL names
it (RECD_HTTP_TOKEN: its bearer token; RECD_HTTP_CAFILE: the CA of a
self-signed https certificate); then what only HTTP has: tokens and TLS."""

import os
import sys
import time
import unittest
import urllib.parse

from calls import Calls

import recd_client
from recd_client import Client, TransportError

URL = os.environ.get("RECD_HTTP_URL")
TOKEN = os.environ.get("RECD_HTTP_TOKEN") or None
CAFILE = os.environ.get("RECD_HTTP_CAFILE") or None
# A token with the read scope alone.
READ_TOKEN = os.environ.get("RECD_HTTP_READ_TOKEN") or None


def setUpModule():
    if not URL:
        print(
            "SKIPPED HTTP tests: RECD_HTTP_URL is not set (the base URL of a running recd's HTTP API,"
            " with RECD_HTTP_TOKEN and RECD_HTTP_CAFILE if it needs them)",
            file=sys.stderr,
        )
        raise unittest.SkipTest("RECD_HTTP_URL is not set")


class HttpCalls(Calls, unittest.TestCase):
    transport = "http"

    def connect(self):
        return Client.http(URL, token=TOKEN, cafile=CAFILE, timeout=30)


class HttpOnly(unittest.TestCase):
    def test_a_wrong_token_is_unauthorized(self):
        if TOKEN is None:
            self.skipTest("RECD_HTTP_TOKEN is not set: the API takes no token")
        with Client.http(URL, token="not-" + TOKEN, cafile=CAFILE) as c:
            with self.assertRaises(recd_client.Unauthorized) as caught:
                c.health()
        self.assertEqual((caught.exception.code, caught.exception.status), ("unauthorized", 401))

    def test_no_token_is_unauthorized(self):
        if TOKEN is None:
            self.skipTest("RECD_HTTP_TOKEN is not set: the API takes no token")
        with Client.http(URL, cafile=CAFILE) as c:
            with self.assertRaises(recd_client.Unauthorized):
                c.recommend("ml:1")

    def test_a_token_without_the_scope_is_permission_denied(self):
        if READ_TOKEN is None:
            self.skipTest("RECD_HTTP_READ_TOKEN is not set")
        with Client.http(URL, token=READ_TOKEN, cafile=CAFILE) as c:
            self.assertTrue(c.recommend("ml:1").items)
            with self.assertRaises(recd_client.PermissionDenied) as caught:
                c.reload()
        self.assertEqual(caught.exception.status, 403)

    def test_a_new_connection_after_an_idle_close(self):
        idle = os.environ.get("RECD_IDLE_TIMEOUT")
        if idle is None:
            self.skipTest("RECD_IDLE_TIMEOUT is not set")
        with Client.http(URL, token=TOKEN, cafile=CAFILE) as c:
            c.health()
            # The daemon closes the kept-alive connection meanwhile.
            time.sleep(float(idle) + 1)
            self.assertTrue(c.recommend("ml:1").items)

    def test_errors_carry_the_http_status(self):
        with Client.http(URL, token=TOKEN, cafile=CAFILE) as c:
            with self.assertRaises(recd_client.UnknownUser) as caught:
                c.recommend("ml:999999")
        self.assertGreaterEqual(caught.exception.status, 400)

    def test_a_self_signed_certificate_needs_its_ca(self):
        if urllib.parse.urlsplit(URL).scheme != "https" or CAFILE is None:
            self.skipTest("RECD_HTTP_URL is not https with RECD_HTTP_CAFILE")
        with Client.http(URL, token=TOKEN) as c:
            with self.assertRaises(TransportError) as caught:
                c.health()
        self.assertIn("TLS", str(caught.exception))

    def test_a_closed_port_is_a_transport_error(self):
        with self.assertRaises(TransportError):
            Client.http("http://127.0.0.1:9", timeout=5).health()


if __name__ == "__main__":
    unittest.main()
