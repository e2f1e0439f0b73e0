#!/usr/bin/env python3
"""bench/gen_rules.py — a deterministic set of synthetic YARA rules for the scan benchmarks
(issue 13): rules of the kinds real rule sets hold, none of which matches the benchmark trees.

    bench/gen_rules.py OUT_DIR [--rules N] [--seed S]
                       [--package --sigtool PATH]   (also build and sign a package)

Writes OUT_DIR/bench.yar (N rules, default 1,000), and the sources palisade-sigtool build
wants beside it: OUT_DIR/catalog.tsv (the 10 threat names the rules' `threat` metas use). With
--package it also makes a throwaway signing key (OUT_DIR/key/bench.key, .pub), builds
OUT_DIR/bench.sig and puts the public key into OUT_DIR/trusted-keys/ (what palisaded
--trusted-keys and palisade-bench-engine --trusted-keys take). The same rules are valid for
libyara 4.2.3 (`yara OUT_DIR/bench.yar FILE`) and for palisade-sigtool build (which treats
libyara's warnings, e.g. slow strings, as errors).

Kinds, by share of the rules (seeded):
  30% plain strings: 1 to 4 ASCII strings of 8 to 20 characters, `any of them`, `all of them`
      or `2 of them`
  15% hex strings with wildcards (`??`, `?A`) and jumps (`[2-16]`), alternatives `( AA | BB )`
  15% regexes: anchored literals, classes, bounded repeats (`[a-z]{2,6}`), `\\b`, alternation
  12% nocase and wide (`wide ascii`, `nocase`, `xor` on a few)
  12% conditions on the header: `uint16(0) == 0x5A4D`, `uint32(0) == 0x464C457F`,
      `uint32be(0) == 0x25504446`, `filesize < 2MB` / `filesize > 100KB` and a string
   8% counts and positions: `#a > 2`, `$a at 0`, `$a in (0..1024)`, `@a[1] < 4096`,
      `for any i in (1..#a) : (uint8(@a[i] + 8) == 0x90)`, `for all of ($s*) : (@ < 64)`
   5% math (`math.entropy(0, filesize) > 7.2` behind a string) and 3% hash (`filesize ==
      N and hash.md5(0, filesize) == "..."`), sparingly as real rule sets do: the string or
      size test comes first, so libyara short-circuits the module call.
Strings are random identifiers and bytes that the generated trees cannot contain (at least
8 fixed characters or 4+4 fixed bytes per atom), so no rule matches: a scan measures the
cost of looking, not of reporting.
"""
import argparse
import os
import random
import shutil
import subprocess
import sys

THREATS = ["Trojan:Linux/BenchSynth.%s" % c for c in "ABCDEFGHIJ"]
ALNUM = "abcdefghijklmnopqrstuvwxyz0123456789"
UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


class Gen:
    def __init__(self, seed):
        self.r = random.Random(seed)

    def ident(self, lo=8, hi=20):
        r = self.r
        n = r.randint(lo, hi)
        # a letter pair no English word or generated identifier starts with, then noise
        s = r.choice(("qz", "xq", "zx", "vq", "jx", "qj")) + "".join(
            r.choice(ALNUM + UPPER + "_") for _ in range(n - 2))
        return s

    def hexbytes(self, n):
        return " ".join("%02X" % self.r.randrange(256) for _ in range(n))

    def hexstring(self):
        r = self.r
        parts = [self.hexbytes(4)]
        for _ in range(r.randint(1, 3)):
            k = r.random()
            if k < 0.35:
                parts.append("[%d-%d]" % (r.randint(0, 4), r.randint(5, 16)))
            elif k < 0.6:
                parts.append("??")
            elif k < 0.75:
                parts.append("?%X" % r.randrange(16))
            else:
                parts.append("( %s | %s )" % (self.hexbytes(2), self.hexbytes(2)))
            parts.append(self.hexbytes(4))
        return "{ %s }" % " ".join(parts)

    def regex(self):
        r = self.r
        lit = self.ident(6, 10)
        forms = (
            r"/%s[0-9]{2,4}\.[a-z]{2,6}/" % lit,
            r"/\b%s_[A-Fa-f0-9]{8}\b/" % lit,
            r"/%s(exe|dll|bin|sh)[^\n]{0,16}=/" % lit,
            r"/https?:\/\/%s\.[a-z]{2,3}\//" % lit,
            r"/%s\s+-[a-z]{1,3}\s+[0-9]+/" % lit,
            r"/(%s|%s)[0-9]{3}/" % (lit, self.ident(6, 10)),
        )
        return r.choice(forms) + r.choice(("", "", " nocase", " ascii wide"))

    def string_line(self, name):
        r = self.r
        k = r.random()
        if k < 0.5:
            return '$%s = "%s"' % (name, self.ident())
        if k < 0.7:
            return "$%s = %s" % (name, self.hexstring())
        if k < 0.9:
            return "$%s = %s" % (name, self.regex())
        return '$%s = "%s" %s' % (name, self.ident(), r.choice(("nocase", "wide", "wide ascii",
                                                                  "nocase wide ascii")))

    def rule(self, i):
        r = self.r
        kind = r.random()
        threat = THREATS[i % len(THREATS)]
        tags = r.choice(("", " : linux", " : webshell", " : dropper miner", ""))
        strings, cond = [], None
        if kind < 0.30:  # plain strings
            n = r.randint(1, 4)
            strings = ['$s%d = "%s"' % (j, self.ident()) for j in range(n)]
            cond = r.choice(("any of them", "all of them", "2 of them" if n >= 2 else "any of them"))
        elif kind < 0.45:  # hex
            n = r.randint(1, 3)
            strings = ["$h%d = %s" % (j, self.hexstring()) for j in range(n)]
            cond = r.choice(("any of them", "all of them"))
        elif kind < 0.60:  # regex
            n = r.randint(1, 2)
            strings = ["$r%d = %s" % (j, self.regex()) for j in range(n)]
            cond = "any of them"
        elif kind < 0.72:  # nocase / wide / xor
            n = r.randint(1, 3)
            mods = ("nocase", "wide", "wide ascii", "nocase wide ascii", "xor(1-31)")
            strings = ['$w%d = "%s" %s' % (j, self.ident(10, 20), r.choice(mods))
                       for j in range(n)]
            cond = r.choice(("any of them", "all of them"))
        elif kind < 0.84:  # header checks
            strings = [self.string_line("a"), self.string_line("b")]
            head = r.choice(("uint16(0) == 0x5A4D", "uint32(0) == 0x464C457F",
                             "uint32be(0) == 0x25504446", "uint16be(0) == 0x1F8B",
                             "uint32(0) == 0x04034B50"))
            size = r.choice(("filesize < 2MB", "filesize > 100KB", "filesize < 500KB",
                             "filesize > 1024"))
            cond = "%s and %s and ($a or $b)" % (head, size)
        elif kind < 0.92:  # counts, offsets, loops
            strings = [self.string_line("a"), '$s1 = "%s"' % self.ident(), '$s2 = "%s"' % self.ident()]
            cond = r.choice((
                "#a > 2 and any of ($s*)",
                "($a at 0 or $s1 at 0) and $s2",
                "$a in (0..1024) and any of ($s*)",
                "$a and @a[1] < 4096 and all of ($s*)",
                "$a and (for any i in (1..#a) : (uint8(@a[i] + 8) == 0x90)) and any of ($s*)",
                "$a and for all of ($s*) : (@ < 64)",
                "(for any of ($s*) : ($ in (0..filesize - 1))) and $a",
            ))
        elif kind < 0.97:  # math, guarded by a string
            strings = [self.string_line("a")]
            cond = r.choice(("$a and math.entropy(0, filesize) > 7.2",
                             "$a and math.mean(0, filesize) > 120.5",
                             "$a and math.entropy(@a[1], 256) < 2.0"))
        else:  # hash, guarded by the size
            strings = []
            cond = 'filesize == %d and hash.md5(0, filesize) == "%032x"' % (
                r.randint(1000, 900000), r.getrandbits(128))
        lines = ["rule bench_%04d%s" % (i, tags), "{", "    meta:",
                 '        threat = "%s"' % threat,
                 '        author = "bench/gen_rules.py"']
        if strings:
            lines.append("    strings:")
            lines += ["        " + s for s in strings]
        lines += ["    condition:", "        " + cond, "}", ""]
        return "\n".join(lines)


def build_package(out, sigtool):
    keydir = os.path.join(out, "key")
    trusted = os.path.join(out, "trusted-keys")
    for d in (keydir, trusted):
        if os.path.isdir(d):
            shutil.rmtree(d)
        os.makedirs(d)
    os.chmod(keydir, 0o700)
    prefix = os.path.join(keydir, "bench")
    subprocess.run([sigtool, "keygen", prefix], check=True, stdout=subprocess.DEVNULL)
    src = os.path.join(out, "src")
    if os.path.isdir(src):
        shutil.rmtree(src)
    os.makedirs(src)
    for name in ("bench.yar", "catalog.tsv"):
        shutil.copy(os.path.join(out, name), src)
    subprocess.run([sigtool, "build", src, "--key", prefix + ".key", "--version", "1",
                    "--created", "1767225600", "--out", os.path.join(out, "bench.sig")],
                   check=True)
    shutil.copy(prefix + ".pub", trusted)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out")
    ap.add_argument("--rules", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--package", action="store_true")
    ap.add_argument("--sigtool")
    a = ap.parse_args()
    if a.rules < 1:
        ap.error("--rules must be positive")
    if a.package and not a.sigtool:
        ap.error("--package needs --sigtool")
    os.makedirs(a.out, exist_ok=True)
    g = Gen(a.seed)
    text = ['import "math"', 'import "hash"', "",
            "// %d synthetic rules, bench/gen_rules.py --seed %d: none matches the bench trees"
            % (a.rules, a.seed), ""]
    text += [g.rule(i) for i in range(a.rules)]
    with open(os.path.join(a.out, "bench.yar"), "w") as f:
        f.write("\n".join(text))
    with open(os.path.join(a.out, "catalog.tsv"), "w") as f:
        f.write("# bench/gen_rules.py: the synthetic rules' threats\n")
        for t in THREATS:
            f.write("%s\tSevere\tTrojan\tQuarantine\n" % t)
    if a.package:
        build_package(a.out, a.sigtool)
    print(os.path.join(a.out, "bench.yar"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
