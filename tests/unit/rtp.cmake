# Real-time protection's process identity (agent/core/rtp/rtpproc.h): the pidfd's answer and
# /proc's agree. The fanotify behaviour itself is tests/integration/test_rtp.py.
pal_unit_test(rtpproc LIBS pal_rtp)
