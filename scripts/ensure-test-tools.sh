#!/usr/bin/env bash
# Tools the test suite drives besides Docker: headless Chromium and its WebDriver, chromium-driver
# (the HTML report is opened, hovered and zoomed in it), tmux (the game-day live view), faketime and
# iproute2 (remote load workers as separate hosts, one on a shifted clock). On
# Debian as root they are installed with apt; elsewhere, install them yourself (tests that need them fail in CI, skip elsewhere).
set -euo pipefail
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
command -v tmux >/dev/null 2>&1 || missing+=(tmux)
command -v faketime >/dev/null 2>&1 || missing+=(faketime)  # a load worker on a shifted clock
command -v ip >/dev/null 2>&1 || missing+=(iproute2)  # load workers in their own network namespaces
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "[ensure-test-tools] installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "[ensure-test-tools] missing ${missing[*]}: install them to run every test" >&2
fi
