/* metrics.c — `palisade metrics` (see metrics.h). */
#include "metrics.h"

#include <stdio.h>
#include <stdlib.h>

#include <jansson.h>

#include "out.h"
#include "promtext.h"

int cli_metrics(palisade **h, const char *socket, bool json, int argc, char **argv)
{
    (void)argv;
    if (argc != 0)
        return out_usage_error("metrics takes no arguments");
    json_t *res = NULL;
    int rc = out_call(h, socket, "metrics", NULL, &res);
    if (rc != EXIT_OK)
        return rc;
    if (json) {
        out_json(res);
        json_decref(res);
        return EXIT_OK;
    }
    pal_errbuf err;
    char *text = pal_promtext_render(res, &err);
    json_decref(res);
    if (!text) {
        fprintf(stderr, "palisade: Internal: %s\n", err.msg);
        return EXIT_ERROR;
    }
    fputs(text, stdout);
    free(text);
    return fflush(stdout) == 0 ? EXIT_OK : EXIT_ERROR;
}
