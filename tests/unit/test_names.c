/* test_names.c — the one vocabulary of names (agent/util/names.h): every value has its name,
   names parse back to their values, case folding is ASCII only, and invalid values have none. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "names.h"
#include "pal_error.h"

static void names_are_the_protocol_names(void **state)
{
    (void)state;
    assert_string_equal(pal_severity_name(PAL_SEV_SEVERE), "Severe");
    assert_string_equal(pal_action_name(PAL_ACTION_NOACTION), "NoAction");
    assert_string_equal(pal_unscannable_name(PAL_UNSCANNABLE_RATIO), "expansion-ratio-limit");
    assert_string_equal(pal_unscannable_name(PAL_UNSCANNABLE_CP_UNAVAILABLE),
                        "content-process-unavailable");
    assert_string_equal(pal_scan_type_name(PAL_SCAN_CUSTOM), "Custom");
    assert_string_equal(pal_scan_outcome_name(PAL_SCAN_RUNNING), "Running");
    assert_string_equal(pal_det_source_name(PAL_DET_BUFFER), "Buffer");
    assert_string_equal(pal_det_action_name(PAL_DET_ACTION_NONE), "None");
    assert_string_equal(pal_det_action_name(PAL_DET_ACTION_ALLOW), "Allow");
    assert_string_equal(pal_det_result_name(PAL_DET_FAILED), "Failed");
    assert_string_equal(pal_excl_kind_name(PAL_EXCL_EXTENSION), "Extension");
    assert_string_equal(pal_allow_kind_name(PAL_ALLOW_THREAT_NAME), "ThreatName");
    assert_string_equal(pal_cp_event_kind_name(PAL_CP_CRASH), "Crash");
    assert_string_equal(pal_fileop_kind_name(PAL_FILEOP_PURGE), "Purge");
    assert_string_equal(pal_fileop_state_name(PAL_FILEOP_DONE), "Done");
    /* a detection's action and a signature's action have the same names */
    for (int a = PAL_ACTION_QUARANTINE; a <= PAL_ACTION_NOACTION; a++)
        assert_string_equal(pal_action_name((pal_action)a), pal_det_action_name((pal_det_action)a));
}

static void invalid_values_have_no_name(void **state)
{
    (void)state;
    assert_null(pal_severity_name((pal_severity)0));
    assert_null(pal_severity_name((pal_severity)5));
    assert_null(pal_severity_name((pal_severity)-1));
    assert_null(pal_action_name((pal_action)0));
    assert_null(pal_scan_type_name((pal_scan_type)0));
    assert_null(pal_fileop_state_name((pal_fileop_state)4));
    assert_string_equal(pal_unscannable_name((pal_unscannable)99), "unknown");
}

static void names_parse_back(void **state)
{
    (void)state;
    /* every name of every table parses back to its own value */
    static const struct {
        const char *const *names;
        size_t n;
    } tables[] = {
        {PAL_NAMES(pal_severity_names)},    {PAL_NAMES(pal_action_names)},
        {PAL_NAMES(pal_scan_type_names)},   {PAL_NAMES(pal_scan_outcome_names)},
        {PAL_NAMES(pal_det_source_names)},  {PAL_NAMES(pal_det_action_names)},
        {PAL_NAMES(pal_det_result_names)},  {PAL_NAMES(pal_excl_kind_names)},
        {PAL_NAMES(pal_allow_kind_names)},  {PAL_NAMES(pal_cp_kind_names)},
        {PAL_NAMES(pal_fileop_kind_names)}, {PAL_NAMES(pal_fileop_state_names)},
    };
    int named = 0;
    for (size_t t = 0; t < sizeof(tables) / sizeof(tables[0]); t++) {
        for (size_t i = 0; i < tables[t].n; i++) {
            const char *nm = tables[t].names[i];
            if (!nm)
                continue;
            int v = -1;
            assert_int_equal(pal_name_find(tables[t].names, tables[t].n, nm, &v), 0);
            assert_int_equal(v, (int)i);
            v = -1;
            assert_int_equal(pal_name_parse(tables[t].names, tables[t].n, nm, &v), 0);
            assert_int_equal(v, (int)i);
            named++;
        }
    }
    assert_int_equal(named, 4 + 3 + 3 + 4 + 3 + 5 + 3 + 2 + 2 + 5 + 4 + 3);

    pal_severity s;
    assert_int_equal(pal_severity_parse("sEVERE", &s), 0);
    assert_int_equal(s, PAL_SEV_SEVERE);
    pal_action a;
    assert_int_equal(pal_action_parse("noaction", &a), 0);
    assert_int_equal(a, PAL_ACTION_NOACTION);
    pal_scan_type ty;
    assert_int_equal(pal_scan_type_parse("QUICK", &ty), 0);
    assert_int_equal(ty, PAL_SCAN_QUICK);
    /* the store reads its own columns case-sensitively */
    int v;
    assert_int_equal(pal_name_find(PAL_NAMES(pal_severity_names), "severe", &v), PAL_EINVAL);
    /* ASCII folding only: a dotless i (U+0131) is not an i, whatever the locale */
    pal_allow_kind k;
    assert_int_equal(pal_allow_kind_parse("Threatname", &k), 0);
    assert_int_equal(pal_allow_kind_parse("Threatnam\xc4\xb1", &k), PAL_EINVAL);
    assert_int_equal(pal_allow_kind_parse("ThreatNam", &k), PAL_EINVAL);
    assert_int_equal(pal_severity_parse("", &s), PAL_EINVAL);
    assert_int_equal(pal_severity_parse(NULL, &s), PAL_EINVAL);
    assert_int_equal(pal_severity_parse("Low", NULL), PAL_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(names_are_the_protocol_names),
        cmocka_unit_test(invalid_values_have_no_name),
        cmocka_unit_test(names_parse_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
