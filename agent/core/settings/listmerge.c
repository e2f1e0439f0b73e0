/* listmerge.c — combining the policy and local layers of a list setting (listmerge.h). */
#include "listmerge.h"

int pal_listmerge_contains(const json_t *arr, const json_t *item)
{
    for (size_t k = 0; arr && k < json_array_size(arr); k++)
        if (json_equal(json_array_get(arr, k), item))
            return 1;
    return 0;
}

json_t *pal_listmerge_union(const json_t *policy, const json_t *local)
{
    json_t *out = json_array();
    if (!out)
        return NULL;
    const json_t *layers[2] = {policy, local};
    for (size_t l = 0; l < 2; l++) {
        for (size_t k = 0; layers[l] && k < json_array_size(layers[l]); k++) {
            json_t *v = json_array_get(layers[l], k);
            if (l == 1 && pal_listmerge_contains(policy, v))
                continue;
            if (json_array_append(out, v) != 0) {
                json_decref(out);
                return NULL;
            }
        }
    }
    return out;
}

static int append_entry(json_t *out, json_t *value, const char *source, const char *file)
{
    json_t *e = json_pack("{sOssss?}", "value", value, "source", source, "file", file);
    return e ? json_array_append_new(out, e) : -1;
}

json_t *pal_listmerge_entries(const json_t *policy, const char *policy_source,
                              const char *policy_file, const json_t *local,
                              const char *local_source, int admin_only)
{
    json_t *out = json_array();
    int bad = !out;
    for (size_t k = 0; !bad && policy && k < json_array_size(policy); k++)
        bad = append_entry(out, json_array_get(policy, k), policy_source, policy_file) != 0;
    for (size_t k = 0; !bad && !admin_only && local && k < json_array_size(local); k++) {
        json_t *v = json_array_get(local, k);
        if (!pal_listmerge_contains(policy, v))
            bad = append_entry(out, v, local_source, NULL) != 0;
    }
    if (bad) {
        json_decref(out);
        return NULL;
    }
    return out;
}
