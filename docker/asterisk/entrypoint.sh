#!/bin/sh
# Asterisk container entrypoint: install the hotline configuration (placeholders filled
# from the environment), then run Asterisk in the foreground.
set -eu
sh /hotline/render-config.sh /hotline /etc/asterisk
mkdir -p /var/spool/asterisk/monitor/hl12319 /var/spool/asterisk/hl12319-messages
if id asterisk >/dev/null 2>&1; then
  chown -R asterisk: /var/spool/asterisk/monitor/hl12319 /var/spool/asterisk/hl12319-messages || true
  chown asterisk: /etc/asterisk/manager.conf /etc/asterisk/pjsip.conf || true
  exec asterisk -f -U asterisk -G asterisk -vvv
fi
exec asterisk -f -vvv
