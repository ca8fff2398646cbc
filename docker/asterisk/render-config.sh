#!/bin/sh
# render-config.sh SRC DST — fill the ${VAR} placeholders of the hotline Asterisk config
# templates in SRC from the environment and install the result into DST (/etc/asterisk).
# Secrets never live in the repository; they arrive as environment variables.
set -eu
src=${1:?usage: render-config.sh SRC DST}
dst=${2:?usage: render-config.sh SRC DST}

for var in HOTLINE_AMI_SECRET HOTLINE_NET SIP_TRUNK_NAME SIP_TRUNK_HOST SIP_TRUNK_PORT SIP_TRUNK_MATCH \
           SIP_PUBLIC_ADDRESS SIP_LOCAL_NET; do
  eval "value=\${$var:-}"
  if [ -z "$value" ]; then echo "render-config: $var is not set" >&2; exit 1; fi
done
SIP_TRUNK_USER=${SIP_TRUNK_USER:-}
SIP_TRUNK_PASSWORD=${SIP_TRUNK_PASSWORD:-}
for var in HOTLINE_AMI_SECRET SIP_TRUNK_PASSWORD; do
  eval "value=\${$var:-}"
  case $value in *"
"*) echo "render-config: $var must be one line" >&2; exit 1 ;; esac
done

escape() { printf '%s' "$1" | sed -e 's/[\\|&]/\\&/g'; }

render() {  # render TEMPLATE TARGET
  script=""
  for var in HOTLINE_AMI_SECRET HOTLINE_NET SIP_TRUNK_NAME SIP_TRUNK_HOST SIP_TRUNK_PORT SIP_TRUNK_USER \
             SIP_TRUNK_PASSWORD SIP_TRUNK_MATCH SIP_PUBLIC_ADDRESS SIP_LOCAL_NET; do
    eval "value=\${$var}"
    script="${script}s|\${${var}}|$(escape "$value")|g
"
  done
  umask 027
  sed -e "$script" "$1" > "$2.tmp"
  mv "$2.tmp" "$2"
}

mkdir -p "$dst"
render "$src/manager.conf.in" "$dst/manager.conf"
render "$src/pjsip.conf.in" "$dst/pjsip.conf.tmpl"
if [ -n "$SIP_TRUNK_USER" ]; then
  mv "$dst/pjsip.conf.tmpl" "$dst/pjsip.conf"
else
  # IP-authenticated trunk: no registration, no outbound authentication
  sed -e '/^; BEGIN-AUTH/,/^; END-AUTH/d' -e '/^outbound_auth/d' "$dst/pjsip.conf.tmpl" > "$dst/pjsip.conf"
  rm -f "$dst/pjsip.conf.tmpl"
fi
cp "$src/extensions.conf" "$src/queues.conf" "$src/rtp.conf" "$dst/"
