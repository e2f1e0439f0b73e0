/*
 * linux_elf.yar — ELF files carrying an implant configuration in a section of its own.
 * Implants that keep their command-and-control settings in a dedicated, named section can
 * be recognised by the section header alone, whatever the (encrypted) contents.
 */
import "elf"

rule Trojan_Linux_ImplantCfg_A
{
    meta:
        threat = "Trojan:Linux/ImplantCfg.A"
        description = "ELF with a .c2cfg implant configuration section"
    condition:
        uint32(0) == 0x464C457F and
        for any i in (0 .. elf.number_of_sections - 1) : (elf.sections[i].name == ".c2cfg")
}
