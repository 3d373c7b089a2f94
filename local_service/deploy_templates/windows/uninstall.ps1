# PostGuard @@{version}: Intune Win32-app uninstall script (runs as SYSTEM). Leaves no CA trusted, no proxy set and
# no policies behind; each account's own record (%LOCALAPPDATA%\postguard) stays.
# Uninstall command: powershell.exe -ExecutionPolicy Bypass -File .\uninstall.ps1
$ErrorActionPreference = 'Continue'
if ($env:PROCESSOR_ARCHITEW6432 -eq 'AMD64') {
    & "$env:WINDIR\sysnative\WindowsPowerShell\v1.0\powershell.exe" -ExecutionPolicy Bypass -File $PSCommandPath
    exit $LASTEXITCODE
}
$here = Split-Path -Parent $PSCommandPath
$bundle = '@@{bundle}'
$config = '@@{config}'
$caDir = '@@{ca_dir}'
$data = Split-Path -Parent $config

Unregister-ScheduledTask -TaskName 'PostGuard' -Confirm:$false -ErrorAction SilentlyContinue
Get-Process -Name 'postguard' -ErrorAction SilentlyContinue | Where-Object { $_.Path -like "$bundle\*" } | Stop-Process -Force

# The CA out of the machine's Root store (by thumbprint: only this laptop's), then its files.
foreach ($file in @((Join-Path $caDir 'mitmproxy-ca-cert.cer'), (Join-Path $here 'postguard-root.pem'))) {
    if (Test-Path $file) {
        $cert = New-Object System.Security.Cryptography.X509Certificates.X509Certificate2($file)
        Remove-Item -Path "Cert:\LocalMachine\Root\$($cert.Thumbprint)" -ErrorAction SilentlyContinue
    }
}
Remove-Item -Recurse -Force -Path $caDir -ErrorAction SilentlyContinue

# Policies and the native host registration.
reg.exe import (Join-Path $here 'policies-remove.reg')
$ffPolicies = Join-Path $env:ProgramFiles 'Mozilla Firefox\distribution\policies.json'
if ((Test-Path $ffPolicies) -and (Select-String -Quiet -Path $ffPolicies -Pattern '@@{firefox_id}')) {
    Remove-Item -Force -Path $ffPolicies
}

[Environment]::SetEnvironmentVariable('POSTGUARD_CONFIG', $null, 'Machine')
Remove-Item -Force -Path $config, (Join-Path $data 'installed-version') -ErrorAction SilentlyContinue
Remove-Item -Recurse -Force -Path $bundle -ErrorAction SilentlyContinue
Write-Output 'PostGuard removed'
exit 0
