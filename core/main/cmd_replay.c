/* Placeholder during parallel development; replaced before landing. */
#include <stdio.h>

#include "main/commands.h"

int rc_cmd_replay(int argc, char **argv) {
        fprintf(stderr, "rollcoach: replay is not built yet\n");
        return RC_EXIT_FAILURE;
}
