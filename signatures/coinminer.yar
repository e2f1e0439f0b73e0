/*
 * coinminer.yar — cryptominer configurations (XMRig and its clones, as dropped by
 * cryptojacking campaigns): a stratum mining-pool URL together with a Monero wallet
 * address as the pool user. Either alone is not enough.
 */
rule Trojan_Linux_CoinMiner_A
{
    meta:
        threat = "Trojan:Linux/CoinMiner.A"
        description = "Miner configuration: stratum pool URL and Monero wallet"
    strings:
        $pool = /stratum\+(tcp|ssl|tls):\/\/[a-z0-9.-]{3,128}:[0-9]{2,5}/ nocase
        $wallet_json = /"user"\s*:\s*"[48][1-9A-HJ-NP-Za-km-z]{94}/
        $wallet_cli = /--user[= ][48][1-9A-HJ-NP-Za-km-z]{94}/
    condition:
        filesize < 2MB and $pool and ($wallet_json or $wallet_cli)
}
