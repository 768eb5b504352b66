/* sse.c - Server-Sent Events encoder. No I/O: the transport writes the bytes. */
#include "sse.h"

#include <string.h>

#include "dg.h"

static int has_break(const char *s)
{
    return s && strpbrk(s, "\r\n") != NULL;
}

int sse_append_id(buf_t *b, const char *id)
{
    if (has_break(id))
        return DG_EINVAL;
    buf_append(b, "id: ", 4);
    buf_append_str(b, id);
    return buf_append(b, "\n", 1);
}

int sse_append_event(buf_t *b, const char *id, const char *event, const char *data, size_t len)
{
    if (has_break(id) || has_break(event) || (data && memchr(data, '\0', len)))
        return DG_EINVAL;
    if (id)
        sse_append_id(b, id);
    if (event) {
        buf_append(b, "event: ", 7);
        buf_append_str(b, event);
        buf_append(b, "\n", 1);
    }
    if (!data)
        data = "";
    /* k line breaks make k + 1 data lines; a trailing break yields a final empty line. */
    size_t i = 0;
    for (;;) {
        size_t j = i;
        while (j < len && data[j] != '\n' && data[j] != '\r')
            j++;
        buf_append(b, "data: ", 6);
        buf_append(b, data + i, j - i);
        buf_append(b, "\n", 1);
        if (j == len)
            break;
        if (data[j] == '\r' && j + 1 < len && data[j + 1] == '\n')
            j++;
        i = j + 1;
    }
    return buf_append(b, "\n", 1);
}

int sse_append_comment(buf_t *b, const char *text)
{
    if (has_break(text))
        return DG_EINVAL;
    buf_append(b, ": ", 2);
    buf_append_str(b, text);
    return buf_append(b, "\n\n", 2);
}

int sse_append_retry(buf_t *b, int ms)
{
    return buf_appendf(b, "retry: %d\n\n", ms);
}
