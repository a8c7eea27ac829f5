/* rollcoach — this process's peak resident memory, for the benchmark reports. */
#pragma once

/* The peak resident set size of this process in KiB: VmHWM in /proc/self/status
 * (Linux). Not getrusage's ru_maxrss: across exec that keeps the peak of the
 * process before the exec, so a program started by a big one (a hub started from
 * Python) reports the parent's peak. 0; -errno if the file cannot be read;
 * -ENOENT if it has no VmHWM line; -EBADMSG if that line is not "VmHWM: N kB". */
int rc_peak_rss_kb(long *ret_kb);
