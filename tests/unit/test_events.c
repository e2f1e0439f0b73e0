/* test_events.c — the security events (agent/core/events/events.h) seen by a receiver: the
   EventSyslogTarget syntax, one RFC 5424 record per datagram whose hostile path neither
   breaks the framing nor loses its bytes, the ClamAV-form line after a detection (not after
   an allowed one), and a receiver that stops reading costs dropped records, never a blocked
   caller. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "events.h"

static void target_syntax(void **state)
{
    (void)state;
    pal_syslog_target t;
    pal_errbuf err;
    assert_int_equal(pal_syslog_target_parse("", &t, &err), 0);
    assert_true(t.is_default);
    assert_int_equal(pal_syslog_target_parse("off", &t, &err), 0);
    assert_int_equal(t.transport, PAL_SYSLOG_OFF);
    assert_false(t.is_default);
    assert_int_equal(pal_syslog_target_parse("unix:/dev/log", &t, &err), 0);
    assert_int_equal(t.transport, PAL_SYSLOG_UNIX);
    assert_string_equal(t.path, "/dev/log");
    assert_int_equal(pal_syslog_target_parse("udp:127.0.0.1:514", &t, &err), 0);
    assert_int_equal(t.transport, PAL_SYSLOG_UDP);
    assert_string_equal(t.host, "127.0.0.1");
    assert_int_equal(t.port, 514);
    assert_int_equal(pal_syslog_target_parse("tcp:[::1]:6514", &t, &err), 0);
    assert_int_equal(t.transport, PAL_SYSLOG_TCP);
    assert_string_equal(t.host, "::1");
    assert_int_equal(t.port, 6514);
    static const char *const bad[] = {"udp:localhost:514",   "udp:127.0.0.1", "tcp:127.0.0.1:0",
                                      "tcp:127.0.0.1:65536", "tcp:[::1:514",  "unix:dev/log",
                                      "unix:/a\nb",          "syslog",        "udp::514",
                                      "tcp:127.0.0.1:5x"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        assert_int_equal(pal_syslog_target_parse(bad[i], &t, &err), PAL_EINVAL);
        assert_non_null(strstr(err.msg, "EventSyslogTarget"));
    }
    assert_int_equal(pal_syslog_facility_parse("local7"), 23);
    assert_int_equal(pal_syslog_facility_parse("daemon"), 3);
    assert_int_equal(pal_syslog_facility_parse("nope"), -1);
}

/* A datagram socket in a temporary directory; its path in path. */
static int receiver(char *path, size_t size, char *dir)
{
    strcpy(dir, "/tmp/pal-evtest.XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(path, size, "%s/sock", dir);
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    snprintf(un.sun_path, sizeof(un.sun_path), "%s", path);
    assert_int_equal(bind(fd, (struct sockaddr *)&un, sizeof(un)), 0);
    struct timeval tv = {.tv_sec = 30};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return fd;
}

static void cleanup(int fd, const char *path, const char *dir)
{
    close(fd);
    unlink(path);
    rmdir(dir);
}

static char *next_record(int fd, size_t *len)
{
    static char buf[65536];
    ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);
    assert_true(n > 0);
    buf[n] = '\0';
    *len = (size_t)n;
    return buf;
}

static void hostile_path_in_one_record(void **state)
{
    (void)state;
    char path[128], dir[64], target[160];
    int fd = receiver(path, sizeof(path), dir);
    snprintf(target, sizeof(target), "unix:%s", path);
    pal_errbuf err;
    pal_events_config cfg = {.syslog_target = target, .facility = "local1", .clamav_compatible = 1};
    assert_int_equal(pal_events_configure(&cfg, &err), 0);

    static const char evil[] = "/srv/a\n]\"\\ \xff x.com";
    pal_event_emit(&(pal_event){.kind = PAL_EV_DETECTION,
                                .origin = "OnDemand",
                                .threat = "Trojan:Test]\"",
                                .severity = "Severe",
                                .path = evil,
                                .action = "Quarantine",
                                .result = "Success",
                                .scan_id = 7,
                                .detection_id = 9,
                                .has_uid = 1,
                                .uid = 0});
    size_t len;
    char *rec = next_record(fd, &len);
    assert_null(memchr(rec, '\n', len));
    assert_int_equal(strlen(rec), len);
    /* local1 (17) * 8 + warning (4) */
    assert_memory_equal(rec, "<140>1 ", 7);
    char head[128];
    snprintf(head, sizeof(head), " palisaded %ld detection [palisade@32473 message_id=\"%s\"",
             (long)getpid(), pal_event_message_id(PAL_EV_DETECTION));
    assert_non_null(strstr(rec, head));
    /* the display form, then SD-PARAM escaping of '"', '\' and ']' */
    assert_non_null(strstr(rec, " path=\"/srv/a\\\\n\\]\\\"\\\\\\\\ \\\\xff x.com\" "));
    assert_non_null(strstr(rec, " path_hex=\"2f7372762f610a5d225c20ff20782e636f6d\" "));
    assert_non_null(strstr(rec, " threat=\"Trojan:Test\\]\\\"\" "));
    assert_non_null(strstr(rec, " scan_id=\"7\" detection_id=\"9\" uid=\"0\"]"));
    /* the ClamAV-form line follows */
    rec = next_record(fd, &len);
    snprintf(head, sizeof(head),
             " clamd %ld - - /srv/a\\n]\"\\\\ \\xff x.com: Trojan:Test]\" FOUND", (long)getpid());
    assert_non_null(strstr(rec, head));
    assert_string_equal(strstr(rec, head) + strlen(head), "");

    /* an allowed finding: the detection record only */
    pal_event_emit(
        &(pal_event){.kind = PAL_EV_DETECTION, .threat = "T", .path = "/x", .action = "Allow"});
    pal_event_emit(&(pal_event){.kind = PAL_EV_SCAN_FINISHED, .scan_id = 8, .status = "Completed"});
    rec = next_record(fd, &len);
    assert_non_null(strstr(rec, " detection [palisade@32473"));
    rec = next_record(fd, &len);
    assert_non_null(strstr(rec, " scan-finished [palisade@32473"));
    assert_non_null(strstr(rec, " status=\"Completed\""));
    pal_events_shutdown(1000);
    cleanup(fd, path, dir);
}

static void a_stalled_receiver_costs_dropped_records(void **state)
{
    (void)state;
    char path[128], dir[64], target[160];
    int fd = receiver(path, sizeof(path), dir); /* never read */
    snprintf(target, sizeof(target), "unix:%s", path);
    pal_errbuf err;
    pal_events_config cfg = {.syslog_target = target, .facility = "daemon"};
    assert_int_equal(pal_events_configure(&cfg, &err), 0);
    pal_events_stats before, after;
    pal_events_get_stats(&before);
    const unsigned n = PAL_EVENTS_QUEUE_MAX + 2000;
    for (unsigned i = 0; i < n; i++)
        pal_event_emit(&(pal_event){.kind = PAL_EV_SCAN_STARTED, .scan_id = i + 1});
    pal_events_get_stats(&after);
    assert_true(after.dropped > before.dropped);
    assert_true(after.queued <= PAL_EVENTS_QUEUE_MAX);
    pal_events_shutdown(200); /* what cannot go out in time is dropped, and counted */
    pal_events_get_stats(&after);
    assert_int_equal(after.queued, 0);
    /* every record was sent, refused or dropped (queued then dropped at the shutdown, or
       never queued): none is lost uncounted; with the journal on, a record counts twice */
    if (!after.journal)
        assert_int_equal((after.sent_syslog - before.sent_syslog) + (after.failed - before.failed) +
                             (after.dropped - before.dropped),
                         n);
    /* after the shutdown nothing is queued */
    pal_event_emit(&(pal_event){.kind = PAL_EV_SCAN_STARTED, .scan_id = 1});
    pal_events_stats later;
    pal_events_get_stats(&later);
    assert_int_equal(later.emitted, after.emitted);
    cleanup(fd, path, dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(target_syntax),
        cmocka_unit_test(hostile_path_in_one_record),
        cmocka_unit_test(a_stalled_receiver_costs_dropped_records),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
