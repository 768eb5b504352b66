/* jpath.h - names a value inside a JSON object ("user_id", "user.id", "realm_access.roles") and
 * writes a scalar as the text JavaScript's String() gives it. Shared by the room templates
 * (route.h), token claims (auth.h) and access rules (acl.h) so all three read paths alike.
 * Pure: no I/O, no logging, no globals. Not a JSONPath implementation: no arrays, no wildcards.
 * Thread: any; values are only read. */
#ifndef JPATH_H
#define JPATH_H

#include <stddef.h>

struct json_t; /* jansson's */

#define JPATH_MAX 128 /* longest path, bytes */

/* 1 if path[0..len) is a usable path: 1..JPATH_MAX-1 printable ASCII bytes without spaces.
 * Callers forbid further characters their own syntax needs ('}' in templates, ...). */
int jpath_valid(const char *path, size_t len);

/* Finds path in obj: first as one member name (so namespaced claims such as
 * "https://example.com/roles" work), then, when that is absent, as '.'-separated member names
 * walked through nested objects ("user.id" -> obj.user.id). Returns the value, borrowed (valid
 * while obj lives), or NULL when absent, when obj is not an object, or when path is invalid. */
const struct json_t *jpath_get(const struct json_t *obj, const char *path, size_t len);

/* Writes scalar v as text into out[0..cap) and NUL-terminates: a string as it is (it may hold
 * any UTF-8, even NUL: check before using it as a name), a number as String(n) ("42", "1.5",
 * "1e+21"), true/false. Returns the length, DG_EINVAL when v is NULL, null, an object or an
 * array, DG_ELIMIT when it does not fit (out is then ""), DG_ENOMEM. */
int jpath_text(const struct json_t *v, char *out, size_t cap);

#endif
