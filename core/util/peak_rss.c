/* rollcoach — this process's peak resident memory (peak_rss.h). */
#include "util/peak_rss.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int rc_peak_rss_kb(long *ret_kb) {
        FILE *f = fopen("/proc/self/status", "re");
        char line[256];
        int r = -ENOENT;

        if (!f)
                return -errno;
        while (fgets(line, sizeof(line), f)) {
                long kb;
                int end = 0;

                if (strncmp(line, "VmHWM:", 6) != 0)
                        continue;
                if (sscanf(line + 6, " %ld kB%n", &kb, &end) == 1 && end > 0 && kb >= 0) {
                        *ret_kb = kb;
                        r = 0;
                } else {
                        r = -EBADMSG;
                }
                break;
        }
        fclose(f);
        return r;
}
