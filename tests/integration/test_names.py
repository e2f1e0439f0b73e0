"""test_names.py — hostile and non-ASCII names through a real palisaded (issue 10, items 5, 6).

An attacker names a file `esc-<ESC>]0;PWNED<BEL><ESC>[2J.com` (sets the terminal title and
clears the screen of the administrator who lists threats), or with the C1 control CSI
(U+009B), a raw 0x9b byte, or a right-to-left override (U+202E); a mail attachment is a zip
whose members are named in Cyrillic and Chinese (flagged UTF-8) or in a legacy code page
(CP866, no flag). Each name is scanned with the content process (SandboxMode Enabled) and
in-process (Disabled):

- the CLI's text (scan report, `threats`, `quarantine list`) shows every name in the display
  form of agent/util/display.h — no byte a terminal acts on gets through, and each name
  stays distinguishable;
- its JSON keeps the exact bytes (path, plus path_b64 when not UTF-8);
- each zip member is its own finding with its exact name (before: one `nonascii.zip->?`);
- the daemon's log line for the quarantine escapes the name (C1 and bidi too).
"""
import base64
import io
import json
import os
import struct
import unittest
import zipfile
import zlib

import harness
from harness import DaemonTest

EICAR = harness.eicar()
ESC_NAME = b"esc-\x1b]0;PWNED\x07\x1b[2J.com"
CSI_NAME = "csi-\u009b2J.com".encode()          # C1 CSI as a character (c2 9b)
RAW_NAME = b"raw-\x9b2J.com"                      # CSI as a lone byte (not UTF-8)
RLO_NAME = "rlo-\u202emoc.exe".encode()         # shows as "rlo-exe.com"
NONASCII_MEMBERS = ["счёт-1.com", "счёт-2.com", "发票.com"]
LEGACY_MEMBERS = ["счёт-1.com".encode("cp866"), "счёт-2.com".encode("cp866")]

# name bytes -> what every human-facing view must show
SHOWN = {
    ESC_NAME: b"esc-\\e]0;PWNED\\a\\e[2J.com",
    CSI_NAME: b"csi-\\u009b2J.com",
    RAW_NAME: b"raw-\\x9b2J.com",
    RLO_NAME: b"rlo-\\u202emoc.exe",
}
LEGACY_SHOWN = [b"\\xe1\\xe7\\xf1\\xe2-1.com", b"\\xe1\\xe7\\xf1\\xe2-2.com"]

# Bytes a terminal acts on: C0 (but the line feeds of the text), DEL, C1 as UTF-8, a lone
# 0x9b, bidi controls.
DANGEROUS = [bytes([c]) for c in range(0x20) if c != 0x0A] + [b"\x7f", b"\x9b"] + \
    [chr(c).encode() for c in list(range(0x80, 0xA0)) + list(range(0x202A, 0x202F)) +
     list(range(0x2066, 0x206A)) + [0x200E, 0x200F, 0x061C]]


def nonascii_zip():
    """Members flagged UTF-8 (zip bit 11), as Python and Windows write them."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for n in NONASCII_MEMBERS:
            z.writestr(n, EICAR)
    return buf.getvalue()


def legacy_zip(names):
    """Stored members whose names are raw code-page bytes without the UTF-8 flag, as an old
    Windows archiver writes them (zipfile would set the flag)."""
    body, cd = b"", b""
    crc = zlib.crc32(EICAR)
    for n in names:
        off = len(body)
        body += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 0, 0, 0, crc, len(EICAR),
                            len(EICAR), len(n), 0) + n + EICAR
        cd += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 0, 0, 0, crc,
                          len(EICAR), len(EICAR), len(n), 0, 0, 0, 0, 0, off) + n
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(names), len(names), len(cd),
                      len(body), 0)
    return body + cd + end


def raw_path(item, key="path"):
    """The exact bytes a JSON item names: key_b64 when present, else the UTF-8 string."""
    if key + "_b64" in item:
        return base64.b64decode(item[key + "_b64"])
    return item[key].encode()


class Names(DaemonTest):

    def build(self):
        root = self.make_tree("names", {
            ESC_NAME: EICAR, CSI_NAME: EICAR, RAW_NAME: EICAR, RLO_NAME: EICAR,
            b"nonascii.zip": nonascii_zip(), b"legacy.zip": legacy_zip(LEGACY_MEMBERS),
        })
        self.root = root.encode()
        self.expected = {os.path.join(self.root, n) for n in SHOWN}
        self.expected |= {os.path.join(self.root, b"nonascii.zip") + b"->" + n.encode()
                          for n in NONASCII_MEMBERS}
        self.expected |= {os.path.join(self.root, b"legacy.zip") + b"->" + n
                          for n in LEGACY_MEMBERS}
        return root

    def assert_inert(self, text, what):
        for b in DANGEROUS:
            self.assertNotIn(b, text, "%s lets %r through:\n%r" % (what, b, text))

    def assert_all_shown(self, text, what):
        for shown in SHOWN.values():
            self.assertIn(shown, text, "%s does not show %r:\n%r" % (what, shown, text))
        for n in NONASCII_MEMBERS:
            self.assertIn(b"nonascii.zip->" + n.encode(), text, what)
        for shown in LEGACY_SHOWN:
            self.assertIn(b"legacy.zip->" + shown, text, what)

    def scan_both_ways(self, mode):
        with self.d.client() as c:
            c.result("config.set", {"name": "SandboxMode", "value": mode})
            c.result("config.set", {"name": "ScanCacheEnabled", "value": False})
            st = c.result("status")
        self.assertEqual(st["scan_engine"], "ContentProcess" if mode == "Enabled"
                         else "InProcess")
        root = self.build()

        # JSON: exact bytes, one finding per member
        doc = self.d.cli_json("scan", root, expect_rc=1)
        got = [raw_path(t) for t in doc["threats"]]
        self.assertEqual(sorted(got), sorted(self.expected), json.dumps(doc, indent=1))
        for t in doc["threats"]:
            # path_b64 exactly when the bytes are not UTF-8, and then path is their display
            try:
                raw_path(t).decode("utf-8")
                self.assertNotIn("path_b64", t)
            except UnicodeDecodeError:
                self.assertIn("path_b64", t)

        # text: escaped, distinguishable
        p = self.d.cli("scan", root)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assert_inert(p.stdout + p.stderr, "scan text (%s)" % mode)
        self.assert_all_shown(p.stdout, "scan text (%s)" % mode)

        p = self.d.cli("threats")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assert_inert(p.stdout, "threats text")
        self.assert_all_shown(p.stdout, "threats text")
        hist = self.d.cli_json("threats")
        self.assertTrue(self.expected <= {raw_path(t) for t in hist["items"]})

    def test_sandboxed(self):
        self.d.keep_threats()
        self.scan_both_ways("Enabled")

    def test_in_process(self):
        self.d.keep_threats()
        self.scan_both_ways("Disabled")

    def test_quarantine_list_and_log(self):
        """Default actions: each named file is quarantined; the list shows the names escaped
        and gives the exact bytes in JSON; the daemon's log lines escape them."""
        root = self.build()
        doc = self.d.cli_json("scan", root, expect_rc=1)
        self.assertEqual(len(doc["threats"]), len(self.expected))
        q = self.d.cli_json("quarantine", "list")
        originals = {raw_path(i, "original_path") for i in q["items"]}
        for n in SHOWN:
            self.assertIn(os.path.join(self.root, n), originals)
            self.assertFalse(os.path.lexists(os.path.join(self.root, n)))
        p = self.d.cli("quarantine", "list")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assert_inert(p.stdout, "quarantine list")
        for shown in SHOWN.values():
            self.assertIn(shown, p.stdout)

        # restoring one: the confirmation shows where, escaped; the file is back exactly
        for n in (ESC_NAME, RAW_NAME):
            item = [i for i in q["items"]
                    if raw_path(i, "original_path") == os.path.join(self.root, n)][0]
            p = self.d.cli("quarantine", "restore", str(item["id"]), "--allow")
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assert_inert(p.stdout, "restore")
            self.assertIn(b"restored to " + self.root + b"/" + SHOWN[n], p.stdout)
            with open(os.path.join(self.root, n), "rb") as f:
                self.assertEqual(f.read(), EICAR)

        with open(self.d.logs[-1], "rb") as f:
            log = f.read()
        self.assert_inert(log, "daemon log")
        for shown in SHOWN.values():
            self.assertIn(shown, log, "daemon log does not show %r:\n%r" % (shown, log))


if __name__ == "__main__":
    unittest.main(verbosity=2)
