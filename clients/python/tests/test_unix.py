"""The client on recd's Unix socket (RECD_SOCKET), every call; then what
only the socket has: one connection for many calls, and a new one when the
daemon has closed the old."""

import os
import sys
import time
import unittest

from calls import Calls

import recd_client
from recd_client import Client, TransportError

SOCKET = os.environ.get("RECD_SOCKET")


def setUpModule():
    if not SOCKET:
        print("SKIPPED socket tests: RECD_SOCKET is not set (the path of a running recd's socket)", file=sys.stderr)
        raise unittest.SkipTest("RECD_SOCKET is not set")


class UnixCalls(Calls, unittest.TestCase):
    transport = "unix"

    def connect(self):
        return Client.unix(SOCKET, timeout=30)


class UnixConnection(unittest.TestCase):
    def test_calls_share_one_connection(self):
        with Client.unix(SOCKET) as c:
            before = c.stats().connections.total
            for _ in range(5):
                c.health()
            self.assertEqual(c.stats().connections.total, before)

    def test_a_new_connection_after_the_daemon_closed_the_old(self):
        with Client.unix(SOCKET) as c:
            c.health()
            # A line past daemon.max_line_bytes: refused, then closed.
            with self.assertRaises(recd_client.LineTooLong):
                c.call("health", padding="x" * 100_000)
            self.assertEqual(c.health().status, "ok")

    def test_a_new_connection_after_an_idle_close(self):
        idle = os.environ.get("RECD_IDLE_TIMEOUT")
        if not idle:
            self.skipTest("RECD_IDLE_TIMEOUT is not set (the daemon's daemon.idle_timeout_secs)")
        with Client.unix(SOCKET) as c:
            before = c.stats().connections.total
            time.sleep(float(idle) + 0.5)
            # Closed by the daemon meanwhile: sent again on a new connection.
            self.assertEqual(c.health().status, "ok")
            self.assertEqual(c.stats().connections.total, before + 1)

    def test_an_error_in_the_progress_callback_leaves_the_client_usable(self):
        def fail(progress):
            raise RuntimeError("stop here")

        with Client.unix(SOCKET) as c:
            with self.assertRaises(RuntimeError):
                c.retrain(on_progress=fail, epochs=2, force=True)
            # The job goes on without its caller; wait for it to end.
            deadline = time.monotonic() + 60
            while c.job_status().state == "running":
                self.assertLess(time.monotonic(), deadline)
                time.sleep(0.05)
            self.assertEqual(c.health().status, "ok")

    def test_no_daemon_is_a_transport_error(self):
        with self.assertRaises(TransportError) as caught:
            Client.unix("/nonexistent/recd.sock").health()
        self.assertIn("not running", str(caught.exception))


if __name__ == "__main__":
    unittest.main()
