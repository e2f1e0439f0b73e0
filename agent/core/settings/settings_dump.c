/*
 * settings_dump.c — palisade-settings-dump: prints the settings registry (settings.c) as the
 * PowerShell module's table of known settings, so that the module's tab completion is
 * generated from the one registry instead of kept in step by hand (psmodule/module.cmake
 * runs it when it stages the module; it is a build tool, not installed).
 *
 *   palisade-settings-dump OUT.ps1
 *
 * writes $script:KnownPreferences = [ordered]@{ Name = <values that complete> ... } in
 * registry order: an enum's allowed values, 'true' and 'false' for a switch, $null for the
 * others (numbers, strings, lists: nothing to offer). The output depends on the registry
 * only, so the same build writes the same bytes.
 */
#include <stdio.h>
#include <string.h>

#include "settings.h"

/* A PowerShell single-quoted string: a quote is doubled, nothing else is special. */
static void put_quoted(FILE *f, const char *s)
{
    fputc('\'', f);
    for (; *s; s++) {
        if (*s == '\'')
            fputc('\'', f);
        fputc(*s, f);
    }
    fputc('\'', f);
}

/* Registry names are PascalCase (settings.h); anything else would need quoting as a key,
   and a name that needs it is a registry mistake worth failing the build for. */
static int plain_name(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9')))
            return 0;
    return 1;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: palisade-settings-dump OUT.ps1\n");
        return 2;
    }
    size_t n;
    const pal_setting_def *reg = pal_settings_registry(&n);
    FILE *f = fopen(argv[1], "w");
    if (!f) {
        perror(argv[1]);
        return 1;
    }
    fputs("#\n# KnownPreferences.ps1 — GENERATED at build time by palisade-settings-dump\n"
          "# (agent/core/settings/settings_dump.c) from the settings registry in\n"
          "# agent/core/settings/settings.c: do not edit. The settings palisaded knows, in "
          "registry\n# order, with the values that tab-complete ($null: none to offer).\n#\n"
          "$script:KnownPreferences = [ordered]@{\n",
          f);
    for (size_t i = 0; i < n; i++) {
        const pal_setting_def *def = &reg[i];
        if (!plain_name(def->name)) {
            fprintf(stderr, "palisade-settings-dump: setting name '%s' is not PascalCase\n",
                    def->name);
            fclose(f);
            remove(argv[1]);
            return 1;
        }
        fprintf(f, "    %s = ", def->name);
        if (def->type == PAL_SETTING_ENUM) {
            fputs("@(", f);
            for (size_t k = 0; def->values[k]; k++) {
                if (k)
                    fputs(", ", f);
                put_quoted(f, def->values[k]);
            }
            fputs(")\n", f);
        } else if (def->type == PAL_SETTING_BOOL) {
            fputs("@('true', 'false')\n", f);
        } else {
            fputs("$null\n", f);
        }
    }
    fputs("}\n", f);
    if (ferror(f) | fclose(f)) {
        perror(argv[1]);
        remove(argv[1]);
        return 1;
    }
    return 0;
}
