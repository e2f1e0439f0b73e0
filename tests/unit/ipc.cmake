# Control protocol: frames and messages (pal_ipc), the control server (pal_control) driven
# by raw sockets and by libpalisade.
pal_unit_test(frame LIBS pal_ipc)
pal_unit_test(msg LIBS pal_ipc)
pal_unit_test(control LIBS pal_control libpalisade)
# The CLI end to end: its binary runs against a control server with fake ops, and status
# from a real daemon's state (pal_daemon over a temp state directory).
pal_unit_test(cli LIBS pal_daemon pal_control ENV "PAL_CLI=$<TARGET_FILE:palisade_cli>")
add_dependencies(test_cli palisade_cli)
