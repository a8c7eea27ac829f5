/* rollcoach — reading a whole small file into memory (file.h). */
#include "util/file.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

int rc_read_file(const char *path, size_t max, char **ret, size_t *ret_len) {
        FILE *f = fopen(path, "re");
        char *buf;
        size_t n;
        int r = 0;

        if (!f)
                return -errno;
        buf = malloc(max + 1);
        if (!buf) {
                fclose(f);
                return -ENOMEM;
        }
        n = fread(buf, 1, max + 1, f); /* one more than max: a larger file shows */
        if (ferror(f))
                r = -EIO;
        else if (n > max)
                r = -EFBIG;
        fclose(f);
        if (r < 0) {
                free(buf);
                return r;
        }
        *ret = buf;
        *ret_len = n;
        return 0;
}
