/*
 * shell_dropper.yar — shell scripts that fetch a program into a world-writable temporary
 * directory, make it executable and run it: the first stage of most Linux botnet and
 * cryptojacking infections. All three steps must appear, in that order, naming a file
 * under /tmp, /var/tmp or /dev/shm; a script that only downloads is not flagged.
 */
rule TrojanDownloader_Linux_ShellDrop_A
{
    meta:
        threat = "TrojanDownloader:Linux/ShellDrop.A"
        description = "curl/wget into /tmp, chmod +x, then execute"
    strings:
        $fetch = /(curl|wget)\s[^\n]{0,256}\/(tmp|var\/tmp|dev\/shm)\/[\w.-]{1,64}/
        $chmod = /chmod\s+(\+x|[0-7]?[0-7][1357][1357])\s+\/(tmp|var\/tmp|dev\/shm)\/[\w.-]{1,64}/
        $run = /[\n;&|(`]\s*(nohup\s+|exec\s+|sh\s+|bash\s+)?\/(tmp|var\/tmp|dev\/shm)\/[\w.-]{1,64}/
    condition:
        filesize < 1MB and
        $fetch and $chmod and $run and
        @fetch[1] < @chmod[1] and
        for any i in (1 .. #run) : (@run[i] > @chmod[1])
}
