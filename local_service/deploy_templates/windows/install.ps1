# PostGuard @@{version}: Intune Win32-app install script (runs as SYSTEM). Package this folder with the Microsoft
# Win32 Content Prep Tool together with the bundle built on Windows by `make dist` (copied here as .\postguard\).
# Install command: powershell.exe -ExecutionPolicy Bypass -File .\install.ps1
$ErrorActionPreference = 'Stop'
# Intune runs 32-bit PowerShell: run again as 64-bit so HKLM\SOFTWARE and Program Files are the real ones.
if ($env:PROCESSOR_ARCHITEW6432 -eq 'AMD64') {
    & "$env:WINDIR\sysnative\WindowsPowerShell\v1.0\powershell.exe" -ExecutionPolicy Bypass -File $PSCommandPath
    exit $LASTEXITCODE
}
$here = Split-Path -Parent $PSCommandPath
$bundle = '@@{bundle}'
$config = '@@{config}'
$caDir = '@@{ca_dir}'
$data = Split-Path -Parent $config

# 1. PostGuard for all users: the bundle, the native host and the machine config.
New-Item -ItemType Directory -Force -Path $bundle, $data | Out-Null
Copy-Item -Recurse -Force -Path (Join-Path $here 'postguard\*') -Destination $bundle
Copy-Item -Recurse -Force -Path (Join-Path $here 'native-messaging') -Destination $bundle
Copy-Item -Force -Path (Join-Path $here 'native-host.cmd') -Destination $bundle
Copy-Item -Force -Path (Join-Path $here 'config.toml') -Destination $config
Get-ChildItem -Path $here -Filter '*.png' | Copy-Item -Destination $data -Force
[Environment]::SetEnvironmentVariable('POSTGUARD_CONFIG', $config, 'Machine')

# 2. This laptop's CA, made once, readable by the laptop's accounts, trusted in the machine's Root store.
& (Join-Path $bundle 'postguard.exe') ca --config $config | Out-Null
if ($LASTEXITCODE -ne 0) { throw "postguard ca failed ($LASTEXITCODE)" }
icacls $caDir /inheritance:r /grant:r '*S-1-5-18:(OI)(CI)F' '*S-1-5-32-544:(OI)(CI)F' '*S-1-5-32-545:(OI)(CI)RX' | Out-Null
Import-Certificate -FilePath (Join-Path $caDir 'mitmproxy-ca-cert.cer') -CertStoreLocation Cert:\LocalMachine\Root | Out-Null
if (Test-Path (Join-Path $here 'postguard-root.pem')) {
    Import-Certificate -FilePath (Join-Path $here 'postguard-root.pem') -CertStoreLocation Cert:\LocalMachine\Root | Out-Null
}

# 3. Chrome and Edge policies and the native messaging host (HKLM), Firefox's policies.json.
reg.exe import (Join-Path $here 'policies.reg')
if ($LASTEXITCODE -ne 0) { throw "reg import failed ($LASTEXITCODE)" }
$firefox = Join-Path $env:ProgramFiles 'Mozilla Firefox'
if (Test-Path $firefox) {
    $dist = Join-Path $firefox 'distribution'
    $existing = Join-Path $dist 'policies.json'
    if ((Test-Path $existing) -and -not (Select-String -Quiet -Path $existing -Pattern '@@{firefox_id}')) {
        Write-Warning "$existing exists and is not PostGuard's: add PostGuard's policies (firefox\policies.json) to it"
    } else {
        New-Item -ItemType Directory -Force -Path $dist | Out-Null
        Copy-Item -Force -Path (Join-Path $here 'firefox\policies.json') -Destination $existing
    }
}

# 4. Started at every logon, for every account (the Users group), restarted if it stops.
$action = New-ScheduledTaskAction -Execute (Join-Path $bundle 'postguard.exe') -Argument '@@{run_args}'
$trigger = New-ScheduledTaskTrigger -AtLogOn
$principal = New-ScheduledTaskPrincipal -GroupId 'S-1-5-32-545' -RunLevel Limited
$settings = New-ScheduledTaskSettingsSet -ExecutionTimeLimit ([TimeSpan]::Zero) -AllowStartIfOnBatteries `
    -DontStopIfGoingOnBatteries -RestartCount 10 -RestartInterval (New-TimeSpan -Minutes 1) -Hidden
Register-ScheduledTask -TaskName 'PostGuard' -Action $action -Trigger $trigger -Principal $principal `
    -Settings $settings -Force | Out-Null
Set-Content -Path (Join-Path $data 'installed-version') -Value '@@{version}'
Write-Output 'PostGuard @@{version} installed'
exit 0
