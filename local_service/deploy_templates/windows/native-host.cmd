@echo off
rem PostGuard's native messaging host: Chrome, Edge and Firefox start this for PostGuard's extension only.
set "POSTGUARD_CONFIG=@@{config}"
"%~dp0postguard.exe" native-host %*
