# PostGuard @@{version}: Intune Win32-app detection script. Intune counts the app installed when this writes to
# stdout and exits 0: this version's binary answers, the logon task exists and the CA is in the machine Root store.
$bundle = '@@{bundle}'
$caDir = '@@{ca_dir}'
$exe = Join-Path $bundle 'postguard.exe'
if (-not (Test-Path $exe)) { exit 1 }
$version = & $exe --version 2>$null
if ($version -ne 'postguard @@{version}') { exit 1 }
if (-not (Get-ScheduledTask -TaskName 'PostGuard' -ErrorAction SilentlyContinue)) { exit 1 }
$certFile = Join-Path $caDir 'mitmproxy-ca-cert.cer'
if (-not (Test-Path $certFile)) { exit 1 }
$cert = New-Object System.Security.Cryptography.X509Certificates.X509Certificate2($certFile)
if (-not (Test-Path "Cert:\LocalMachine\Root\$($cert.Thumbprint)")) { exit 1 }
Write-Output "PostGuard @@{version} installed"
exit 0
