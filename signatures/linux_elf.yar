/*
 * linux_elf.yar — ELF files carrying an implant configuration in a section of its own.
 * Implants that keep their command-and-control settings in a dedicated, named section can
 * be recognised by the section header alone, whatever the (encrypted) contents.
 *
 * Why no `import "elf"`: an imported module parses every scanned file before any condition
 * is looked at, and the elf module builds an object for every section, segment, symbol and
 * dynamic entry of every ELF file it meets. That cost every ELF in a tree (and every file
 * that merely looks like one) ten times the cost of the other starter rules together
 * (bench/RESULTS.md, "Starter rule cost"). Instead the rule reads the section header table
 * itself, and only after the cheap string search found the name ".c2cfg\0" somewhere in an
 * ELF: for the files that do not contain the name (all but a handful) the condition stops at
 * `$name`. The check is the one the elf module made: a section whose sh_name points into
 * the section-name string table (e_shstrndx) at ".c2cfg" followed by its NUL. ELF32 and
 * ELF64, little and big endian; offsets beyond 4 GiB are not followed (yara reads 32 bits).
 */
rule Trojan_Linux_ImplantCfg_A
{
    meta:
        threat = "Trojan:Linux/ImplantCfg.A"
        description = "ELF with a .c2cfg implant configuration section"
    strings:
        $name = { 2E 63 32 63 66 67 00 } // ".c2cfg\0" as it sits in the string table
    condition:
        uint32(0) == 0x464C457F and $name and
        (
            // ELF64, little endian: e_shoff 0x28, e_shentsize 0x3A, e_shnum 0x3C,
            // e_shstrndx 0x3E; in a section header sh_name +0, sh_offset +0x18.
            (uint8(4) == 2 and uint8(5) == 1 and uint32(0x2C) == 0 and
             uint16(0x3E) < uint16(0x3C) and
             uint32(uint32(0x28) + uint16(0x3E) * uint16(0x3A) + 0x1C) == 0 and
             for any i in (0 .. uint16(0x3C) - 1) : (
                 $name at (uint32(uint32(0x28) + uint16(0x3E) * uint16(0x3A) + 0x18) +
                           uint32(uint32(0x28) + i * uint16(0x3A)))))
            or
            // ELF64, big endian.
            (uint8(4) == 2 and uint8(5) == 2 and uint32be(0x28) == 0 and
             uint16be(0x3E) < uint16be(0x3C) and
             uint32be(uint32be(0x2C) + uint16be(0x3E) * uint16be(0x3A) + 0x18) == 0 and
             for any i in (0 .. uint16be(0x3C) - 1) : (
                 $name at (uint32be(uint32be(0x2C) + uint16be(0x3E) * uint16be(0x3A) + 0x1C) +
                           uint32be(uint32be(0x2C) + i * uint16be(0x3A)))))
            or
            // ELF32, little endian: e_shoff 0x20, e_shentsize 0x2E, e_shnum 0x30,
            // e_shstrndx 0x32; in a section header sh_name +0, sh_offset +0x10.
            (uint8(4) == 1 and uint8(5) == 1 and uint16(0x32) < uint16(0x30) and
             for any i in (0 .. uint16(0x30) - 1) : (
                 $name at (uint32(uint32(0x20) + uint16(0x32) * uint16(0x2E) + 0x10) +
                           uint32(uint32(0x20) + i * uint16(0x2E)))))
            or
            // ELF32, big endian.
            (uint8(4) == 1 and uint8(5) == 2 and uint16be(0x32) < uint16be(0x30) and
             for any i in (0 .. uint16be(0x30) - 1) : (
                 $name at (uint32be(uint32be(0x20) + uint16be(0x32) * uint16be(0x2E) + 0x10) +
                           uint32be(uint32be(0x20) + i * uint16be(0x2E)))))
        )
}
