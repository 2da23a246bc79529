#!/usr/bin/env bash
# Refresh the browser libraries the residents' web app serves from dealsvc/web/static/vendor/.
# They are copied from their npm packages (npm pack: the registry's tarball, no install, no build),
# with the licence and a VERSION file that records the package, version and licence.
# Nothing here runs at run time: the service only serves the copied files.
#   deploy/vendor/refresh.sh                 # the versions below
#   LEAFLET=1.9.4 FIREBASE=13.2.0 CHARTJS=4.6.1 deploy/vendor/refresh.sh
set -euo pipefail

LEAFLET="${LEAFLET:-1.9.4}"
FIREBASE="${FIREBASE:-13.2.0}"
CHARTJS="${CHARTJS:-4.6.1}"
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
VENDOR="$ROOT/dealsvc/web/static/vendor"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

unpack() {  # unpack NAME VERSION -> $WORK/NAME/package
    mkdir -p "$WORK/$1"
    (cd "$WORK/$1" && npm pack --silent "$1@$2" >/dev/null && tar xzf ./*.tgz)
}

record() {  # record DIR NAME VERSION LICENCE
    printf '%s %s\nlicence: %s\nfrom: the npm package %s@%s (deploy/vendor/refresh.sh)\n' "$2" "$3" "$4" "$2" "$3" >"$1/VERSION"
}

# Leaflet: the maps.
unpack leaflet "$LEAFLET"
src="$WORK/leaflet/package"
rm -rf "$VENDOR/leaflet" && mkdir -p "$VENDOR/leaflet/images"
cp "$src/dist/leaflet.js" "$src/dist/leaflet.css" "$VENDOR/leaflet/"
cp "$src/dist/images/"*.png "$VENDOR/leaflet/images/"
sed -i "/^\/\/# sourceMappingURL=/d" "$VENDOR/leaflet/leaflet.js"
cp "$src/LICENSE" "$VENDOR/leaflet/LICENSE"
record "$VENDOR/leaflet" leaflet "$LEAFLET" "BSD-2-Clause"

# Firebase JS SDK: only the app and messaging modules (compat builds: plain scripts, no bundler),
# loaded by the web app only when DEALSVC_FIREBASE_WEB_CONFIG is set.
unpack firebase "$FIREBASE"
src="$WORK/firebase/package"
rm -rf "$VENDOR/firebase" && mkdir -p "$VENDOR/firebase"
cp "$src/firebase-app-compat.js" "$src/firebase-messaging-compat.js" "$VENDOR/firebase/"
sed -i '/^\/\/# sourceMappingURL=/d' "$VENDOR/firebase/"*.js
# The package ships no licence file; its package.json says Apache-2.0, whose full text (which
# the licence asks to be given with the files) comes from Debian's common-licenses.
licence="$(node -p "require('$src/package.json').license")"
[ "$licence" = "Apache-2.0" ] || { echo "firebase@$FIREBASE is under $licence, not Apache-2.0: update this script" >&2; exit 1; }
{
    printf 'The Firebase JavaScript SDK (npm package firebase@%s) is licensed under %s:\n\n' "$FIREBASE" "$licence"
    cat "${APACHE_LICENSE:-/usr/share/common-licenses/Apache-2.0}"
} >"$VENDOR/firebase/LICENSE"
record "$VENDOR/firebase" firebase "$FIREBASE" "Apache-2.0"

# Chart.js: the charts of the shop's page and the operator's console (the UMD build: a plain script).
unpack chart.js "$CHARTJS"
src="$WORK/chart.js/package"
rm -rf "$VENDOR/chartjs" && mkdir -p "$VENDOR/chartjs"
cp "$src/dist/chart.umd.min.js" "$VENDOR/chartjs/"
sed -i "/^\/\/# sourceMappingURL=/d" "$VENDOR/chartjs/chart.umd.min.js"
cp "$src/LICENSE.md" "$VENDOR/chartjs/LICENSE"
record "$VENDOR/chartjs" chart.js "$CHARTJS" "MIT"

echo "vendored leaflet $LEAFLET, firebase $FIREBASE and chart.js $CHARTJS into $VENDOR"
