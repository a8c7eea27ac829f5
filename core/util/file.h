/* rollcoach — reading a whole small file (a plugin, a scenario) into memory. */
#pragma once

#include <stddef.h>

/* Read the file at `path`, at most `max` bytes, into a new buffer of max + 1 bytes
 * (*ret, to free; not terminated) and its length. 0; -errno if it cannot be opened;
 * -ENOMEM; -EIO on a read error; -EFBIG if it is larger than `max`. */
int rc_read_file(const char *path, size_t max, char **ret, size_t *ret_len);
