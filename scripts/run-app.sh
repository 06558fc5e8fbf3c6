#!/bin/sh
# Start the desktop app (`make run`). With an empty library it builds the first-run demo at once.
# Without a display (a server, a container) it runs on a virtual screen with Xvfb, saves a screenshot to
# build/needledrop.png as soon as the demo shows results, and quits.
set -eu
cd "$(dirname "$0")/.."
export QT_LOGGING_RULES="${QT_LOGGING_RULES:-qt.multimedia.*=false;qt.qpa.*=false}"
if [ "${QT_QPA_PLATFORM:-}" = "offscreen" ]; then
    unset QT_QPA_PLATFORM  # the Makefile's default for tests; the app wants a real window
fi
if [ -n "${DISPLAY:-}" ] || [ -n "${WAYLAND_DISPLAY:-}" ]; then
    exec .venv/bin/needledrop-gui --demo "$@"
fi
mkdir -p build
echo "No display: running Needledrop on a virtual screen (Xvfb); it quits after saving build/needledrop.png"
exec xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/needledrop-gui --demo --screenshot build/needledrop.png "$@"
