#!/usr/bin/env python3
"""The control protocol against a real palisaded (agent/ipc/PROTOCOL.md): the handshake,
malformed and oversized frames, broken envelopes, stalled and idle connections, many
clients at once, and cancelling a scan in flight (held at a known file by a Gate).

Every broken client must lose only its own connection: each test ends by checking that a
well-behaved client is still served."""
import os
import struct
import threading

import harness
from harness import Client, DaemonTest, Gate, ProtocolClosed


def frame(payload):
    return struct.pack(">I", len(payload)) + payload


class Handshake(DaemonTest):

    def assert_serving(self):
        with self.d.client() as c:
            st = c.result("status")
            self.assertEqual(st["agent_version"], "0.1.0")
        self.assertIsNone(self.d.proc.poll(), "palisaded died")

    def test_hello_answers_protocol_version_and_peer(self):
        with self.d.client(hello=False) as c:
            resp = c.hello()
            self.assertEqual(resp["id"], 0)
            r = resp["result"]
            self.assertEqual(r["protocol"], 1)
            self.assertEqual(r["agent_version"], "0.1.0")
            self.assertEqual(r["uid"], os.getuid())
            self.assertIs(r["admin"], True)

    def test_unsupported_protocol_is_version_mismatch_and_closed(self):
        with Client(self.d.socket) as c:
            resp = c.hello(protocol=2)
            self.assertEqual(resp["error"]["code"], "VersionMismatch")
            self.assertTrue(c.at_eof())
        self.assert_serving()

    def test_request_before_hello_is_protocol_error_and_closed(self):
        with Client(self.d.socket) as c:
            c.send({"id": 1, "op": "status"})
            resp = c.recv()
            self.assertEqual(resp["error"]["code"], "ProtocolError")
            self.assertTrue(c.at_eof())
        self.assert_serving()

    def test_unknown_op_and_bad_arguments_keep_the_connection(self):
        with self.d.client() as c:
            self.assertEqual(c.call("no.such.op")["error"]["code"], "UnknownOp")
            self.assertEqual(c.call("scans.list", {"limit": "ten"})["error"]["code"],
                             "BadRequest")
            self.assertEqual(c.call("scans.list", {"limt": 1})["error"]["code"], "BadRequest")
            self.assertEqual(c.call("config.get")["error"]["code"], "BadRequest")
            resp = c.call("scan.start", {"type": "Custom", "paths": ["relative/path"]})
            self.assertEqual(resp["error"]["code"], "BadRequest")
            resp = c.call("scan.start", {"type": "Quick", "paths": ["/tmp"]})
            self.assertEqual(resp["error"]["code"], "BadRequest")
            resp = c.call("scan.start", {"type": "Sideways"})
            self.assertEqual(resp["error"]["code"], "BadRequest")
            # optional arguments left out are not errors
            self.assertIn("items", c.result("scans.list"))
            self.assertIn("items", c.result("threats.list"))
            self.assertIn("items", c.result("threats.list", {"limit": 5, "severity": "Severe"}))
            self.assertEqual(c.result("status")["agent_version"], "0.1.0")

    def test_malformed_frames_are_protocol_errors_on_that_connection_only(self):
        bystander = self.d.client()
        self.addCleanup(bystander.close)
        cases = {
            "zero length": struct.pack(">I", 0),
            "over the 1 MiB cap": struct.pack(">I", harness.PROTOCOL_CLIENT_MAX + 1),
            "4 GiB length": b"\xff\xff\xff\xff",
            "not JSON": frame(b"hello"),
            "a JSON array": frame(b"[1,2]"),
            "a JSON string": frame(b'"status"'),
            "two objects": frame(b"{}{}"),
            "embedded NUL": frame(b'{"id": 1, "op": "sta\x00tus"}'),
            "invalid UTF-8": frame(b'{"id": 1, "op": "\xff\xfe"}'),
            "no id": frame(b'{"op": "status"}'),
            "string id": frame(b'{"id": "1", "op": "status"}'),
            "negative id": frame(b'{"id": -1, "op": "status"}'),
            "id above 2^53": frame(b'{"id": 9007199254740993, "op": "status"}'),
            "op not a string": frame(b'{"id": 1, "op": 5}'),
            "args not an object": frame(b'{"id": 1, "op": "status", "args": []}'),
        }
        for name, data in cases.items():
            with self.subTest(name):
                with self.d.client() as c:
                    c.send_raw(data)
                    resp = c.recv()
                    # id null, or the frame's own id when the envelope got that far
                    self.assertIn(resp["id"], (None, 1), resp)
                    self.assertEqual(resp["error"]["code"], "ProtocolError", resp)
                    self.assertTrue(c.at_eof(), "connection left open after " + name)
                # the connection that did nothing wrong is untouched
                self.assertIn("agent_version", bystander.result("status"))
        self.assert_serving()

    def test_frame_of_exactly_the_cap_is_accepted(self):
        body = '{"id": 7, "op": "status", "args": {"pad": "%s"}}'
        pad = harness.PROTOCOL_CLIENT_MAX - len(body % "")
        payload = (body % ("x" * pad)).encode()
        self.assertEqual(len(payload), harness.PROTOCOL_CLIENT_MAX)
        with self.d.client() as c:
            c.send_frame(payload)
            resp = c.recv()
            self.assertEqual(resp["id"], 7)
            self.assertIn("result", resp)

    def test_stalled_partial_frame_and_idle_connection_are_closed(self):
        # A frame that starts and never ends, and a connection that never says hello, are
        # each dropped (after 10 s) while a normal client goes on being served.
        stalled = Client(self.d.socket)
        self.addCleanup(stalled.close)
        stalled.hello()
        stalled.send_raw(struct.pack(">I", 100) + b'{"id": 1, "op"')
        idle = Client(self.d.socket)
        self.addCleanup(idle.close)
        with self.d.client() as c:
            for _ in range(3):
                self.assertIn("agent_version", c.result("status"))
        resp = stalled.recv()
        self.assertEqual(resp["error"]["code"], "ProtocolError")
        self.assertTrue(stalled.at_eof())
        try:
            msg = idle.recv()
            self.assertEqual(msg["error"]["code"], "ProtocolError")
        except ProtocolClosed:
            pass
        self.assertTrue(idle.at_eof())
        self.assert_serving()


class ManyClients(DaemonTest):

    N = 20

    def test_twenty_concurrent_clients_scan_at_once(self):
        self.d.keep_threats()           # twenty scans of one threat
        root = self.make_tree("tree", {
            "eicar.com": harness.eicar(),
            "clean/readme.txt": b"nothing to see\n" * 100,
            "clean/data.bin": bytes(range(256)) * 64,
        })
        barrier = threading.Barrier(self.N, timeout=harness.IO_TIMEOUT)
        results = [None] * self.N
        errors = []

        def one(i):
            try:
                with self.d.client() as c:
                    barrier.wait()          # all twenty connected and past hello at once
                    self.assertIn("agent_version", c.result("status"))
                    rid = c.start("scan.start", {"type": "Custom", "paths": [root]})
                    resp, _ = c.wait(rid)
                    results[i] = resp
            except Exception as e:          # collected: a thread's failure must fail the test
                errors.append("client %d: %r" % (i, e))
                barrier.abort()

        # a hostile neighbour stalls mid-frame through all of it
        hostile = Client(self.d.socket)
        self.addCleanup(hostile.close)
        hostile.send_raw(b"\x00\x00")
        threads = [threading.Thread(target=one, args=(i,)) for i in range(self.N)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(harness.IO_TIMEOUT * 2)
        self.assertEqual(errors, [])
        ids = set()
        for r in results:
            self.assertIsNotNone(r)
            res = r["result"]
            self.assertEqual(res["status"], "Completed")
            self.assertEqual(res["files_scanned"], 3)
            self.assertEqual([t["threat"] for t in res["threats"]], [harness.EICAR_THREAT])
            ids.add(res["scan_id"])
        self.assertEqual(len(ids), self.N, "scan ids must be distinct")
        with self.d.client() as c:
            items = c.result("scans.list", {"limit": 100})["items"]
            self.assertEqual(sorted(i["scan_id"] for i in items), sorted(ids))
            dets = c.result("threats.list", {"limit": 1000})["items"]
            self.assertEqual(len(dets), self.N)


class CancelInFlight(DaemonTest):
    """A Gate holds the walker at the tree's first file, so the scan is certainly in
    flight when the cancel arrives, and certainly has work left."""

    def gated_tree(self):
        files = {"a_gate": b"gate\n", "z_eicar.com": harness.eicar()}
        for i in range(2000):
            files["m_%04d.txt" % i] = b"clean %d\n" % i
        root = self.make_tree("tree", files)
        gate = Gate(os.path.join(root, "a_gate"))
        self.addCleanup(gate.close)
        return root, gate

    def test_cancel_op_ends_the_scan_cancelled(self):
        root, gate = self.gated_tree()
        with self.d.client() as c:
            rid = c.start("scan.start", {"type": "Custom", "paths": [root]})
            self.assertTrue(gate.wait(self.d.proc.pid), "the walker never reached the gate")
            st = c.result("status")
            self.assertEqual(st["active_scans"], 1)
            cid = c.start("cancel", {"target": rid})
            resp, _ = c.wait(cid)
            self.assertEqual(resp["result"], {"cancelled": True})
            gate.release()
            resp, _ = c.wait(rid)
            res = resp["result"]
            self.assertEqual(res["status"], "Cancelled")
            self.assertLess(res["files_scanned"], 2002)
            self.assertEqual(res["threats"], [], "the walk went on after the cancel")
            # the request is over: cancelling it again finds nothing
            self.assertEqual(c.result("cancel", {"target": rid}), {"cancelled": False})
            items = c.result("scans.list", {"limit": 1})["items"]
            self.assertEqual(items[0]["scan_id"], res["scan_id"])
            self.assertEqual(items[0]["status"], "Cancelled")
            self.assertEqual(c.result("status")["active_scans"], 0)

    def test_client_that_disconnects_cancels_its_scan(self):
        root, gate = self.gated_tree()
        c = self.d.client()
        c.start("scan.start", {"type": "Custom", "paths": [root]})
        self.assertTrue(gate.wait(self.d.proc.pid), "the walker never reached the gate")
        c.close()
        gate.release()
        with self.d.client() as c2:
            def ended():
                items = c2.result("scans.list", {"limit": 1})["items"]
                return items and items[0]["status"] != "Running" and items[0]
            last = harness.wait_for(ended, what="the abandoned scan to end")
            self.assertEqual(last["status"], "Cancelled")
            self.assertEqual(last["threats"], 0)


if __name__ == "__main__":
    harness.main()
