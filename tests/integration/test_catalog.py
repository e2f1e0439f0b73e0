"""test_catalog.py — the threat catalog of the package in force (issue 14), through the CLI.

An administrator asks which threats the agent can report, with their severity, category and
default action (before there was no way to list them): `palisade catalog --json` against a
real palisaded with the starter package (signatures/catalog.tsv), filtered by a name pattern
and by severity. Any user may read the catalog: `nobody` gets it on the status socket, where
the threat history stays AccessDenied. A daemon with no package in force says so.
"""
import json
import os

import harness
from harness import DaemonTest

EICAR = "Virus:DOS/EICAR_Test_File"


def starter_catalog():
    """{name: (severity, category, default_action)} of signatures/catalog.tsv."""
    out = {}
    with open(os.path.join(harness.source_dir(), "signatures", "catalog.tsv")) as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            name, sev, cat, act = line.rstrip("\n").split("\t")
            out[name] = (sev, cat, act)
    return out


class CatalogTest(DaemonTest):
    def test_lists_the_package_in_force(self):
        doc = self.d.cli_json("catalog")
        want = starter_catalog()
        got = {i["name"]: (i["severity"], i["category"], i["default_action"])
               for i in doc["items"]}
        self.assertEqual(got, want)
        self.assertEqual([i["name"] for i in doc["items"]], sorted(want),
                         "sorted by name, as the package's catalog")
        for item in doc["items"]:
            self.assertEqual(set(item), {"name", "category", "severity", "default_action"})
        self.assertEqual(got[EICAR], ("Severe", "Virus", "Quarantine"))
        status = self.d.cli_json("status")
        self.assertEqual(doc["signature_version"], status["signature_version"])

    def test_text_table(self):
        p = self.d.cli("catalog")
        self.assertEqual(p.returncode, 0, p.stderr)
        lines = p.stdout.decode().splitlines()
        self.assertEqual(lines[0].split(), ["NAME", "CATEGORY", "SEVERITY", "DEFAULT", "ACTION"])
        row = [ln for ln in lines if ln.startswith(EICAR)]
        self.assertEqual(len(row), 1, lines)
        self.assertEqual(row[0].split(), [EICAR, "Virus", "Severe", "Quarantine"])

    def test_filters(self):
        # the pattern: * and ?, case-insensitive, over the whole name
        doc = self.d.cli_json("catalog", "*eicar*")
        self.assertEqual([i["name"] for i in doc["items"]], [EICAR])
        doc = self.d.cli_json("catalog", "virus:dos/eicar_test_fil?")
        self.assertEqual([i["name"] for i in doc["items"]], [EICAR])
        doc = self.d.cli_json("catalog", "EICAR")
        self.assertEqual(doc["items"], [], "a pattern without * matches whole names only")
        doc = self.d.cli_json("catalog", "Trojan:*")
        self.assertEqual(sorted(i["name"] for i in doc["items"]),
                         ["Trojan:Linux/CoinMiner.A", "Trojan:Linux/ImplantCfg.A"])
        high = sorted(n for n, v in starter_catalog().items() if v[0] == "High")
        doc = self.d.cli_json("catalog", "--severity", "High")
        self.assertEqual(sorted(i["name"] for i in doc["items"]), high)
        self.assertEqual(len(high), 2)
        doc = self.d.cli_json("catalog", "--severity", "High", "*Miner*")
        self.assertEqual([i["name"] for i in doc["items"]], ["Trojan:Linux/CoinMiner.A"])
        doc = self.d.cli_json("catalog", "--severity", "Low")
        self.assertEqual(doc["items"], [])

    def test_bad_arguments(self):
        p = self.d.cli("catalog", "--severity", "Critical")
        self.assertEqual(p.returncode, 2)
        self.assertIn(b"BadRequest", p.stderr)
        self.assertIn(b"Low, Moderate, High or Severe", p.stderr)
        for args in (["--severity"], ["a", "b"], ["--bogus"], [""]):
            p = self.d.cli("catalog", *args)
            self.assertEqual(p.returncode, 2, args)
            self.assertIn(b"usage: catalog", p.stderr, args)
        p = self.d.cli("catalog", "*" * 300)
        self.assertEqual(p.returncode, 2)
        self.assertIn(b"InvalidValue", p.stderr)
        # a pathological pattern is answered at once (one backtrack point)
        doc = self.d.cli_json("catalog", "*a" * 120 + "*z")
        self.assertEqual(doc["items"], [])
        # raw protocol: unknown fields and wrong types are refused
        with self.d.client() as c:
            r = c.call("catalog.list", {"names": "*"})
            self.assertEqual(r["error"]["code"], "BadRequest")
            r = c.call("catalog.list", {"severity": 3})
            self.assertEqual(r["error"]["code"], "BadRequest")
            r = c.call("catalog.list", {"name": ""})
            self.assertEqual(r["error"]["code"], "BadRequest")

    def test_any_user_reads_it_on_the_status_socket(self):
        if not harness.user_exists("nobody"):
            self.skipTest("no user nobody")
        status_sock = self.d.socket + ".status"
        p = self.d.cli("--socket", status_sock, "catalog", "--json", user="nobody")
        self.assertEqual(p.returncode, 0, p.stderr)
        names = [i["name"] for i in json.loads(p.stdout)["items"]]
        self.assertIn(EICAR, names)
        # on the control socket (0660, admin group) libpalisade falls back to the status one
        p = self.d.cli("catalog", "*EICAR*", "--json", user="nobody")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual([i["name"] for i in json.loads(p.stdout)["items"]], [EICAR])
        # the history is still an administrator's
        p = self.d.cli("--socket", status_sock, "threats", user="nobody")
        self.assertEqual(p.returncode, 2)
        self.assertIn(b"AccessDenied", p.stderr)


class NoPackageTest(DaemonTest):
    daemon_kwargs = {"defs": False}

    def test_no_package_in_force(self):
        p = self.d.cli("catalog", "--json")
        self.assertEqual(p.returncode, 2)
        # with --json the error is a JSON document on stdout (palisade(1), JSON ERRORS)
        doc = json.loads(p.stdout)
        self.assertEqual(doc["error"]["code"], "NotFound")
        self.assertIn("no signature package is in force", doc["error"]["message"])


if __name__ == "__main__":
    harness.main()
