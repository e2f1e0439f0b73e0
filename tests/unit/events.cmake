# The security events (agent/core/events): target syntax, one RFC 5424 datagram per record with
# hostile names escaped, the bounded queue that drops (and counts) instead of blocking.
pal_unit_test(events LIBS pal_events)
