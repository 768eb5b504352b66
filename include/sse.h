/* sse.h - Server-Sent Events encoder (WHATWG HTML "server-sent events" wire format).
 * Takes strings, appends bytes to a buf; does no I/O. Data with line breaks (LF, CRLF or CR)
 * becomes several `data:` lines so the client's parser rebuilds it exactly. */
#ifndef SSE_H
#define SSE_H

#include <stddef.h>

#include "buf.h"

/* Appends "id: ID\n" (when id is not NULL), "event: EVENT\n" (when event is not NULL), one
 * "data: ..." line per line of data, and the blank line that dispatches the event.
 * id and event must not contain CR, LF or NUL (DG_EINVAL, nothing appended).
 * Returns 0, DG_EINVAL or DG_ENOMEM. */
int sse_append_event(buf_t *b, const char *id, const char *event, const char *data, size_t len);

/* Appends "id: ID\n" alone (the rest of an event comes pre-encoded from a shared msg). */
int sse_append_id(buf_t *b, const char *id);

/* Appends ": TEXT\n\n" (a comment: heartbeats; ignored by clients). TEXT without CR/LF. */
int sse_append_comment(buf_t *b, const char *text);

/* Appends "retry: MS\n\n" (the client's reconnection delay). */
int sse_append_retry(buf_t *b, int ms);

#endif
