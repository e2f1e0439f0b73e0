/*
 * php_webshell.yar — PHP web shells: request input handed straight to code execution,
 * or base64-encoded code handed to eval. Ordinary PHP that reads $_POST does not match:
 * only input flowing into an execution function in the same expression does.
 */
rule Backdoor_PHP_WebShell_A
{
    meta:
        threat = "Backdoor:PHP/WebShell.A"
        description = "PHP passing request input or decoded payloads to eval/system"
    strings:
        $php = "<?php" nocase
        $input_exec = /(eval|assert|system|passthru|shell_exec|popen|proc_open|pcntl_exec)\s*\(\s*(base64_decode|gzinflate|gzuncompress|str_rot13|stripslashes|urldecode|rawurldecode)?\s*\(?\s*\$_(GET|POST|REQUEST|COOKIE)\s*\[/ nocase
        $eval_decode = /eval\s*\(\s*((gzinflate|gzuncompress|str_rot13)\s*\(\s*)?base64_decode\s*\(/ nocase
    condition:
        filesize < 2MB and $php and ($input_exec or $eval_decode)
}
