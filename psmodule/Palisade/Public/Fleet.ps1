#
# Fleet.ps1 — Get-PalisadeFleetStatus: many hosts from one console, over PowerShell remoting
# on SSH (the way PowerShell 7 manages Linux hosts). No management server: each host runs
# its own agent and the Palisade module; this asks each one, in parallel, and summarises.
#
# Part of the Palisade module: psmodule/assemble.cmake joins Module.ps1, Private/*.ps1, the
# settings list generated from the C registry and Public/*.ps1 into the staged Palisade.psm1.
#

# ---- fleet ------------------------------------------------------------------------------------

function Get-PalisadeFleetStatus {
    <#
    .SYNOPSIS
    Summarises the Palisade agents of many hosts, queried in parallel over SSH remoting.

    .DESCRIPTION
    Get-PalisadeFleetStatus opens a PowerShell remoting session over SSH to every host named
    (Invoke-Command -HostName: key authentication, the pwsh "powershell" subsystem configured
    in each host's sshd_config), runs Get-AgentStatus and Get-ThreatHistory there with the
    Palisade module of that host, and returns one Palisade.FleetHostStatus per host, in the
    order given:

      ComputerName        the host as named
      Reachable           $false when the session could not be opened
      AgentRunning        the remote agent answered ($false too when the host has no Palisade
                          module: Error says so)
      SignatureVersion    the signature package in force, and SignatureAgeDays its age
      RealTimeProtection  real-time protection's state
      ThreatsLastDay      threats detected in the last 24 hours
      HealthIssues        the ids of the health issues (Get-AgentStatus's HealthIssues)
      Protected           reachable, running and no health issue
      Error               why the host could not be asked (or what failed there), else empty

    A host that cannot be reached is a row with its error, never left out. At most
    ThrottleLimit hosts are asked at the same time.

    The remote user must be allowed to read the threat history (root, or a member of the
    agent's admin group); otherwise ThreatsLastDay is empty and Error says why.

    .PARAMETER HostName
    The hosts: names or addresses, as ssh takes them (aliases of ~/.ssh/config work, with
    their User, Port and IdentityFile).

    .PARAMETER UserName
    The remote user (default: ssh's, from ~/.ssh/config or the local user name).

    .PARAMETER KeyFilePath
    The private key ssh authenticates with (default: ssh's own choice).

    .PARAMETER Port
    The SSH port of every host (default: ssh's, 22 or ~/.ssh/config's).

    .PARAMETER Options
    More ssh options for every host, as New-PSSession -Options takes them, e.g.
    @{ UserKnownHostsFile = '/etc/palisade/fleet_known_hosts'; ConnectTimeout = 10 }.

    .PARAMETER ThrottleLimit
    How many hosts are asked at the same time (1 to 256, default 32).

    .PARAMETER Socket
    The control socket of the agent on each remote host (as palisaded --socket). Default: the
    remote session's $env:PALISADE_SOCKET, else /run/palisade/palisaded.sock. Not a local
    socket: nothing local is asked.

    .EXAMPLE
    PS> Get-PalisadeFleetStatus -HostName web1, web2, db1

    One row per host: signature version and age, real-time protection, threats of the last
    day, health issues, and the error of a host that could not be reached.

    .EXAMPLE
    PS> Get-Content hosts.txt | Get-PalisadeFleetStatus -KeyFilePath ~/.ssh/fleet_ed25519 -ThrottleLimit 64 |
    >>     Where-Object { -not $_.Protected } | Format-Table ComputerName, HealthIssues, Error

    The hosts that need attention, out of a list of hundreds.

    .EXAMPLE
    PS> Invoke-Command -HostName web1, web2 { Get-AgentStatus }

    What this cmdlet builds on: any Palisade cmdlet runs on remote hosts, its objects come
    back with their views and its errors as ErrorRecords with the module's error ids.

    .INPUTS
    System.String (host names)

    .OUTPUTS
    Palisade.FleetHostStatus

    .LINK
    Get-AgentStatus

    .LINK
    about_Palisade
    #>
    [CmdletBinding()]
    [OutputType('Palisade.FleetHostStatus')]
    param(
        [Parameter(Mandatory, Position = 0, ValueFromPipeline)]
        [ValidateNotNullOrEmpty()]
        [string[]]$HostName,

        [ValidateNotNullOrEmpty()]
        [string]$UserName,

        [ValidateNotNullOrEmpty()]
        [string]$KeyFilePath,

        [ValidateRange(1, 65535)]
        [int]$Port,

        [hashtable]$Options,

        [ValidateRange(1, 256)]
        [int]$ThrottleLimit = 32,

        [ValidateNotNullOrEmpty()]
        [string]$Socket
    )
    begin {
        $hosts = [System.Collections.Generic.List[string]]::new()
    }
    process {
        foreach ($h in $HostName) {
            $hosts.Add($h)
        }
    }
    end {
        $connect = @{ ErrorAction = 'Stop' }
        if ($UserName) { $connect.UserName = $UserName }
        if ($KeyFilePath) { $connect.KeyFilePath = (Resolve-Path -LiteralPath $KeyFilePath -ErrorAction Stop).ProviderPath }
        if ($Port) { $connect.Port = $Port }
        if ($Options) { $connect.Options = $Options }
        $remoteSocket = $Socket
        # runs on each host, with that host's Palisade module
        $query = {
            param([string]$Socket)
            $p = @{}
            if ($Socket) { $p.Socket = $Socket }
            $errors = [System.Collections.Generic.List[string]]::new()
            $status = Get-AgentStatus @p -ErrorAction SilentlyContinue -ErrorVariable e1
            foreach ($e in $e1) { $errors.Add([string]$e) }
            $threats = $null
            if ($status -and $status.Running) {
                $since = [datetime]::UtcNow.AddDays(-1)
                $list = @(Get-ThreatHistory @p -Since $since -ErrorAction SilentlyContinue -ErrorVariable e2)
                if ($e2) {
                    foreach ($e in $e2) { $errors.Add([string]$e) }
                } else {
                    $threats = $list.Count
                }
            }
            [pscustomobject]@{
                Running            = [bool]($status -and $status.Running)
                SignatureVersion   = if ($status) { $status.SignatureVersion } else { $null }
                SignatureAgeDays   = if ($status) { $status.SignatureAgeDays } else { $null }
                RealTimeProtection = if ($status) { $status.RealTimeProtection } else { $null }
                HealthIssues       = [string[]]@(if ($status) { $status.HealthIssues | ForEach-Object { $_.Id } })
                ThreatsLastDay     = $threats
                Errors             = [string[]]$errors
            }
        }
        # a script block cannot cross into the parallel runspaces: its text can
        $queryText = $query.ToString()
        $rows = $hosts | ForEach-Object -ThrottleLimit $ThrottleLimit -Parallel {
            $h = $_
            $r = $null
            $err = $null
            $c = $using:connect
            # First a plain TCP connection to where ssh would go (ssh -G: aliases, User and
            # Port of ~/.ssh/config applied). pwsh 7 can die of an unhandled broken pipe when
            # its ssh exits at once (connection refused): a host that does not answer never
            # gets an ssh, it gets a row with the reason. Through a proxy, ssh decides alone.
            $g = [System.Collections.Generic.List[string]]::new()
            if ($c.Port) { $g.Add('-p'); $g.Add([string]$c.Port) }
            if ($c.UserName) { $g.Add('-l'); $g.Add($c.UserName) }
            if ($c.Options) { foreach ($k in $c.Options.Keys) { $g.Add('-o'); $g.Add("$k=$($c.Options[$k])") } }
            $cfg = @{}
            foreach ($line in @(& ssh -G @g -- $h 2>$null)) {
                $kv = $line -split ' ', 2
                if ($kv.Count -eq 2) { $cfg[$kv[0]] = $kv[1] }
            }
            $proxied = ($cfg['proxycommand'] -and $cfg['proxycommand'] -ne 'none') -or
                ($cfg['proxyjump'] -and $cfg['proxyjump'] -ne 'none')
            if ($cfg['hostname'] -and $cfg['port'] -and -not $proxied) {
                $wait = 10
                if ($cfg['connecttimeout'] -match '^\d+$' -and [int]$cfg['connecttimeout'] -gt 0) { $wait = [int]$cfg['connecttimeout'] }
                $tcp = [System.Net.Sockets.TcpClient]::new()
                try {
                    $t = $tcp.ConnectAsync($cfg['hostname'], [int]$cfg['port'])
                    if (-not $t.Wait([TimeSpan]::FromSeconds($wait))) {
                        $err = "cannot connect to $($cfg['hostname']) port $($cfg['port']): no answer in $wait s"
                    }
                } catch {
                    $inner = $_.Exception
                    while ($inner.InnerException) { $inner = $inner.InnerException }
                    $err = "cannot connect to $($cfg['hostname']) port $($cfg['port']): $($inner.Message)"
                } finally {
                    $tcp.Dispose()
                }
            }
            if (-not $err) {
                try {
                    $r = Invoke-Command -HostName $h @c -ScriptBlock ([scriptblock]::Create($using:queryText)) -ArgumentList $using:remoteSocket
                } catch {
                    $err = $_.Exception.Message
                }
            }
            [pscustomobject]@{ Host = $h; Result = $r; Error = $err }
        }
        # the order given, whatever order the answers came in
        $byHost = @{}
        foreach ($row in $rows) { $byHost[$row.Host] = $row }
        foreach ($h in $hosts) {
            $row = $byHost[$h]
            $r = $row.Result
            $reachable = $null -ne $r
            $err = if ($row.Error) {
                [string]$row.Error
            } elseif (-not $reachable) {
                'no answer from the remote session'
            } else {
                @($r.Errors) -join '; '
            }
            $issues = [string[]]@(if ($reachable) { @($r.HealthIssues) | Where-Object { $_ } })
            $PSCmdlet.WriteObject([pscustomobject]@{
                    PSTypeName         = 'Palisade.FleetHostStatus'
                    ComputerName       = $h
                    Reachable          = $reachable
                    AgentRunning       = if ($reachable) { [bool]$r.Running } else { $null }
                    SignatureVersion   = if ($reachable) { $r.SignatureVersion } else { $null }
                    SignatureAgeDays   = if ($reachable) { $r.SignatureAgeDays } else { $null }
                    RealTimeProtection = if ($reachable) { [string]$r.RealTimeProtection } else { $null }
                    ThreatsLastDay     = if ($reachable) { $r.ThreatsLastDay } else { $null }
                    HealthIssues       = $issues
                    Protected          = $reachable -and [bool]$r.Running -and $issues.Count -eq 0
                    Error              = [string]$err
                })
        }
    }
}
