/*
 * elf_implant.c — the ELF test sample for Trojan:Linux/ImplantCfg.A: a program that does
 * nothing but carries a section named .c2cfg, which is what the rule looks for. Built at
 * build time (signatures/CMakeLists.txt), never committed as a binary.
 */
__attribute__((section(".c2cfg"), used)) static const char implant_cfg[] =
    "c2=198.51.100.7:443;sleep=60;id=palisade-test-sample";

int main(void)
{
    return 0;
}
