/* sdnotify.h - the systemd notification protocol (sd_notify(3)) without
 * libsystemd: state lines such as "READY=1", "STATUS=..." or "WATCHDOG=1"
 * sent as one datagram to the socket named by $NOTIFY_SOCKET, and the
 * watchdog interval systemd asks for in $WATCHDOG_USEC. Outside systemd
 * (no NOTIFY_SOCKET) every call does nothing. */
#ifndef EVSTORE_SDNOTIFY_H
#define EVSTORE_SDNOTIFY_H

#include <stdbool.h>
#include <stdint.h>

/* Sends state (one or more "KEY=VALUE" lines separated by '\n') to
 * $NOTIFY_SOCKET: a path, or an abstract name written "@name". Returns
 * 1 when sent, 0 when there is no socket to send to, -1 when sending failed
 * (errno says why). Borrows state. */
int sdnotify_send(const char *state);

/* sdnotify_send of a formatted state; a state longer than 4 KiB is cut. */
int sdnotify_sendf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The watchdog interval systemd expects pings (WATCHDOG=1) within, in
 * microseconds: $WATCHDOG_USEC when it is a positive number and
 * $WATCHDOG_PID, if set, is this process. 0: no watchdog for us. */
uint64_t sdnotify_watchdog_usec(void);

/* Forgets $NOTIFY_SOCKET, $WATCHDOG_USEC and $WATCHDOG_PID in this
 * process, so that it and the processes it starts stay silent: a forked
 * worker calls it, because systemd listens to the main process only
 * (NotifyAccess=main). */
void sdnotify_unset_environment(void);

#endif
