# Real-time protection's process identity (agent/core/rtp/rtpproc.h): the pidfd's answer and
# /proc's agree. The fanotify behaviour itself is tests/integration/test_rtp.py.
pal_unit_test(rtpproc LIBS pal_rtp)
# The attribute watch behind the ignore marks (agent/core/rtp/rtpattr.h), on a tmpfs and an
# ext4 image the test mounts (root).
pal_unit_test(rtpattr LIBS pal_rtp)
