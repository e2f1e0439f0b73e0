/*
 * out.h — the palisade CLI's output: JSON documents for scripts, aligned tables and
 * summaries for people, and terminal-safe text.
 *
 * Everything the agent reports may contain attacker-chosen bytes (file names): text bound
 * for a terminal goes through out_safe, which writes it in the display form of display.h
 * (control characters, C1, bidi controls and bytes that are not UTF-8 escaped as \e, \u009b,
 * \u202e, \xff...) so a crafted name can neither move the cursor nor hide itself, and two
 * different names never look the same. JSON output keeps the exact bytes (path, path_b64).
 */
#ifndef PAL_CLI_OUT_H
#define PAL_CLI_OUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "palisade.h"

/*
 * Connect *h (created on first use) to socket, run op with args (stolen, may be NULL) and
 * parse the result into *res (a new reference). Returns EXIT_OK, or EXIT_ERROR after
 * printing the agent's error code and message.
 */
int out_call(palisade **h, const char *socket, const char *op, json_t *args, json_t **res);

/* Print result.items as a table of the given keys under the given headers, or "(none)". */
void out_items(const json_t *res, const char *const *keys, const char *const *headers, size_t n);

/* Exit codes of the CLI (DESIGN.md). */
#define EXIT_OK 0
#define EXIT_THREATS 1
#define EXIT_ERROR 2
#define EXIT_INCOMPLETE 3 /* scan: nothing found, but not everything could be examined */

/* Pretty-printed JSON document and a newline on stdout. */
void out_json(const json_t *v);

/* A malloc'd terminal-safe copy of s (see above); NULL only when out of memory. */
char *out_safe(const char *s);

/* Number of terminal columns s takes, counting one per UTF-8 code point. */
size_t out_width(const char *s);

/* A JSON value as table text: strings as they are, null as "-", others compact JSON.
   malloc'd and terminal-safe. */
char *out_value(const json_t *v);

/* obj[key] as exact text, NOT terminal-safe (table cells and out_safe take it): the raw
   bytes of obj[key "_b64"] when the agent sent one (a path that is not UTF-8), else as
   out_value without the escaping. malloc'd; NULL only when out of memory. */
char *out_text(const json_t *obj, const char *key);

/* out_text made terminal-safe: a path the agent sent, for people. malloc'd. */
char *out_path(const json_t *obj, const char *key);

/* Bytes as "56.7 MB" (decimal units, as in file managers). */
void out_bytes(uint64_t bytes, char *buf, size_t size);

/*
 * Errors. With --json (out_json_errors set), every error is one document on stdout:
 *   {"error": {"code": "<Code>", "message": "<text>"}}
 * where Code is the agent's error code (AccessDenied, NotFound, Unavailable...), "Usage"
 * for a command-line mistake, or the CLI's own (OutOfMemory, ProtocolError). Without it,
 * "palisade: ..." on stderr. All return EXIT_ERROR.
 */
extern bool out_json_errors;

/* h's last error: "palisade: <Code>: <message>" on stderr, or the JSON document. */
int out_error(palisade *h);

/* A usage or argument error (code "Usage"). */
int out_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Any other error of the CLI itself, with its code. */
int out_fail(const char *code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A table printed with aligned columns (two spaces apart), header first. */
typedef struct out_table out_table;

out_table *out_table_new(size_t ncols, const char *const *headers);
/* Adds one row of ncols cells; each cell is copied through out_safe (NULL shows "-"). */
void out_table_add(out_table *t, const char *const *cells);
void out_table_print(const out_table *t, FILE *f);
void out_table_free(out_table *t);

/* Fields of an object as "key: value" lines, keys padded to one width. */
void out_fields(const json_t *obj, FILE *f);

#endif
